// Wakeups over EventBridge Scheduler: a one-time `at(...)` schedule per held rollout that invokes the reconciler for
// that rollout and deletes itself after running (ActionAfterCompletion DELETE), so a bake or coalescing window ends on
// time instead of at the next scheduled reconcile.
import { ConflictException, CreateScheduleCommand, type SchedulerClient } from "@aws-sdk/client-scheduler";
import type { Wakeups } from "../ports/index.ts";

export interface WakeupTarget {
  /** The reconciler function's ARN. */
  functionArn: string;
  /** The role EventBridge Scheduler assumes to invoke it. */
  roleArn: string;
  /** The schedule group the control plane's wake-ups live in. */
  group: string;
}

/** `at()` takes yyyy-mm-ddThh:mm:ss, no fraction, no zone (the zone is ScheduleExpressionTimezone). */
export function atExpression(iso: string): string {
  return `at(${new Date(Math.ceil(Date.parse(iso) / 1000) * 1000).toISOString().slice(0, 19)})`;
}

export class SchedulerWakeups implements Wakeups {
  constructor(
    private readonly scheduler: SchedulerClient,
    private readonly target: WakeupTarget,
  ) {}

  /** One schedule per (rollout, moment): a second caller for the same wake-up gets ConflictException, which is fine. */
  async wakeAt(rolloutId: string, at: string): Promise<void> {
    const seconds = Math.ceil(Date.parse(at) / 1000);
    try {
      await this.scheduler.send(
        new CreateScheduleCommand({
          Name: `${rolloutId}-${seconds}`,
          GroupName: this.target.group,
          ScheduleExpression: atExpression(at),
          ScheduleExpressionTimezone: "UTC",
          FlexibleTimeWindow: { Mode: "OFF" },
          ActionAfterCompletion: "DELETE",
          Target: {
            Arn: this.target.functionArn,
            RoleArn: this.target.roleArn,
            Input: JSON.stringify({ source: "dcp.schedule", action: "reconcile", rolloutId }),
            RetryPolicy: { MaximumRetryAttempts: 10, MaximumEventAgeInSeconds: 3600 },
          },
        }),
      );
    } catch (err) {
      if (!(err instanceof ConflictException)) throw err;
    }
  }
}
