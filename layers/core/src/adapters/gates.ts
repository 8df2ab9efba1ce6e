// GateSignals over CloudWatch (DescribeAlarms) and SSM (GetCalendarState): the facts the rollout gates are judged on.
import { type CloudWatchClient, DescribeAlarmsCommand } from "@aws-sdk/client-cloudwatch";
import { GetCalendarStateCommand, type SSMClient } from "@aws-sdk/client-ssm";
import type { GateSignals } from "../ports/index.ts";

/** DescribeAlarms takes at most 100 alarm names per call. */
const NAMES_PER_CALL = 100;

export class AwsGateSignals implements GateSignals {
  constructor(
    private readonly cloudwatch: CloudWatchClient,
    private readonly ssm: SSMClient,
  ) {}

  async alarmStates(names: string[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for (let i = 0; i < names.length; i += NAMES_PER_CALL) {
      let token: string | undefined;
      do {
        const page = await this.cloudwatch.send(
          new DescribeAlarmsCommand({
            AlarmNames: names.slice(i, i + NAMES_PER_CALL),
            AlarmTypes: ["MetricAlarm", "CompositeAlarm"],
            NextToken: token,
          }),
        );
        for (const a of [...(page.MetricAlarms ?? []), ...(page.CompositeAlarms ?? [])])
          if (a.AlarmName && a.StateValue) out.set(a.AlarmName, a.StateValue);
        token = page.NextToken;
      } while (token);
    }
    return out;
  }

  async calendarState(calendar: string): Promise<{ state: string; nextTransition?: string }> {
    const out = await this.ssm.send(new GetCalendarStateCommand({ CalendarNames: [calendar] }));
    return {
      state: out.State ?? "UNKNOWN",
      ...(out.NextTransitionTime ? { nextTransition: out.NextTransitionTime } : {}),
    };
  }
}
