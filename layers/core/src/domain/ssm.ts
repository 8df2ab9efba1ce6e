// SSM's limits and status vocabularies, in one place: the planner, the adapters, the tracker, the rollout state
// machine and the bench all read them from here. Sources: SendCommand, GetCommandInvocation, ListCommands and
// DescribeInstanceInformation in the AWS Systems Manager API Reference.

/** SendCommand: at most 50 InstanceIds per call. */
export const MAX_IDS_PER_COMMAND = 50;
/** SendCommand: Comment is at most 100 characters. */
export const MAX_COMMENT_CHARS = 100;
/** DescribeInstanceInformation: at most 50 values in an InstanceIds filter; MaxResults 5–50 when filtering. */
export const MAX_IDS_PER_INSTANCE_INFORMATION_FILTER = 50;
export const INSTANCE_INFORMATION_PAGE = 50;

/** Every status of a command invocation (GetCommandInvocation `Status`, EventBridge `detail.status`). */
export const INVOCATION_STATUSES = [
  "Pending",
  "InProgress",
  "Delayed",
  "Success",
  "Cancelled",
  "TimedOut",
  "Failed",
  "Cancelling",
  "Undeliverable",
  "Terminated",
  "InvalidPlatform",
  "AccessDenied",
] as const;
export type InvocationStatus = (typeof INVOCATION_STATUSES)[number];

/** Not final yet: the invocation (or command) may still change. */
export const IN_FLIGHT_STATUSES: ReadonlySet<string> = new Set(["Pending", "InProgress", "Delayed", "Cancelling"]);

/**
 * Final statuses of a command or an invocation (ListCommands `Status`, EventBridge command-level events; the
 * `…TimedOut` forms are the detailed statuses SSM reports for delivery and execution timeouts).
 */
export const FINAL_STATUSES: ReadonlySet<string> = new Set([
  "Success",
  "Failed",
  "TimedOut",
  "Cancelled",
  "DeliveryTimedOut",
  "ExecutionTimedOut",
  "Undeliverable",
  "Terminated",
  "AccessDenied",
  "InvalidPlatform",
]);

/**
 * Final statuses of an invocation SSM stopped before it finished. When the CloudWatch alarm of a command's
 * `AlarmConfiguration` goes to ALARM, SSM stops the command: its invocations that had not finished end `Cancelled`
 * (`Terminated` when the stop reached a running plugin), and the command's `TriggeredAlarms` (ListCommands) names the
 * alarm in state ALARM. The same statuses without a triggered alarm (an operator's CancelCommand) are failures.
 */
export const STOPPED_STATUSES: ReadonlySet<string> = new Set(["Cancelled", "Terminated"]);

/** DescribeInstanceInformation PingStatus of a registered node whose agent cannot be reached. */
export const UNREACHABLE_PING_STATUSES = ["ConnectionLost", "Inactive"] as const;
/** The PingStatus of a node whose agent answers. */
export const ONLINE_PING_STATUS = "Online";

/**
 * Final statuses in which the host never ran the document. They do not count toward MaxErrors, so the command itself
 * may end `Success` (4 × Undeliverable + 1 × Success = Success): only each host's own invocation tells.
 */
export const NOT_RUN_STATUSES: ReadonlySet<string> = new Set([
  "Undeliverable",
  "DeliveryTimedOut",
  "AccessDenied",
  "InvalidPlatform",
]);

/**
 * A host's outcome from its own invocation status: `ok` only for Success (exit code 0 of our document), `bad` for
 * every other final status (not-run ones included: no restart happened), undefined while in flight or unknown.
 */
export function verdictOf(status: string): "ok" | "bad" | undefined {
  if (status === "Success") return "ok";
  if (FINAL_STATUSES.has(status)) return "bad";
  return undefined;
}

/** MaxConcurrency ("50" or "10%") as a number of hosts for a command of `n` hosts (at least 1). */
export function parseMaxConcurrency(value: string, n: number): number {
  const pct = /^(\d{1,3})%$/.exec(value);
  if (pct) return Math.max(1, Math.floor((n * Number(pct[1])) / 100));
  const abs = Number(value);
  return Number.isFinite(abs) && abs >= 1 ? Math.floor(abs) : 50;
}
