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

/**
 * The moment (epoch ms) a wake-up for a wait ending at ISO time `iso` is set for: the first whole minute at or after
 * it. Scheduler invokes with 60-second precision (a schedule for 1:00 runs between 1:00:00 and 1:00:59; "Schedule
 * types", EventBridge Scheduler User Guide), so a wake-up on the minute never comes before the wait ends and comes at
 * most two minutes after it. Waits ending within one minute share it, and so their schedule.
 */
export function wakeMinute(iso: string): number {
  return Math.ceil(Date.parse(iso) / 60_000) * 60_000;
}

/** `at()` takes yyyy-mm-ddThh:mm:ss, no fraction, no zone (the zone is ScheduleExpressionTimezone). */
export function atExpression(iso: string): string {
  return `at(${new Date(wakeMinute(iso)).toISOString().slice(0, 19)})`;
}

export class SchedulerWakeups implements Wakeups {
  constructor(
    private readonly scheduler: SchedulerClient,
    private readonly target: WakeupTarget,
  ) {}

  /** One schedule per (rollout, minute): a second caller for the same wake-up gets ConflictException, which is fine. */
  async wakeAt(rolloutId: string, at: string): Promise<void> {
    try {
      await this.scheduler.send(
        new CreateScheduleCommand({
          Name: `${rolloutId}-${wakeMinute(at) / 1000}`,
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
