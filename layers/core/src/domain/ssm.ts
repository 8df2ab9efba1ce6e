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

/** DescribeInstanceInformation PingStatus of a registered node whose agent cannot be reached. */
export const UNREACHABLE_PING_STATUSES = ["ConnectionLost", "Inactive"] as const;
/** The PingStatus of a node whose agent answers. */
export const ONLINE_PING_STATUS = "Online";
