// SSM Run Command facts in one home: the per-command id limit, the invocation status sets and how the control plane
// judges each host by its own invocation ("Understanding command statuses", SSM user guide; field notes).

/** SSM accepts at most 50 instance ids per SendCommand (51 answers a misleading ThrottlingException). */
export const MAX_IDS_PER_COMMAND = 50;

/** Invocation statuses that are not final yet. */
export const IN_FLIGHT_STATUSES: ReadonlySet<string> = new Set(["Pending", "InProgress", "Delayed", "Cancelling"]);

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

/** Final statuses of a command or an invocation. */
export const FINAL_STATUSES: ReadonlySet<string> = new Set([
  "Success",
  "Failed",
  "TimedOut",
  "Cancelled",
  "ExecutionTimedOut",
  "Terminated",
  ...NOT_RUN_STATUSES,
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
