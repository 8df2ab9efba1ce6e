// The gates between waves, as the engine applies them: ask the facts the pure decision needs (domain/gates.ts), hold
// the wave durably on the rollout head, set a one-time wake-up for a timed hold, and release a hold whose gates opened.
import { factsNeeded, type GateDecision, nextWaveGate } from "../domain/gates.ts";
import type { RolloutHead } from "../domain/rollout.ts";
import type { Deps } from "./deps.ts";

export type GateDeps = Pick<Deps, "signals" | "wakeups" | "now">;

/**
 * Whether wave index `i` of the rollout may be dispatched now: the facts it needs asked fresh (no call while a timed
 * gate still holds, one DescribeAlarms for up to 100 alarms, one GetCalendarState), then nextWaveGate decides.
 * Without the signals port, alarms count as missing and the calendar as unknown: the wave stays held, never opens blind.
 */
export async function evaluateGate(deps: GateDeps, head: RolloutHead, i: number): Promise<GateDecision> {
  if (!head.policy) return { open: true };
  const now = deps.now().getTime();
  const need = factsNeeded(head, i, now);
  const [alarms, calendar] = await Promise.all([
    need.alarms.length > 0 && deps.signals ? deps.signals.alarmStates(need.alarms) : new Map<string, string>(),
    need.calendar && deps.signals ? deps.signals.calendarState(need.calendar) : undefined,
  ]);
  return nextWaveGate(head, i, { alarms, ...(calendar ? { calendar } : {}) }, now);
}

/**
 * Sets a one-time wake-up of rollout `rolloutId` at ISO time `until` (none for an untimed hold). Best effort: returns
 * why it was not set, and the reconciler ends the overdue wait on its next run.
 */
export async function wakeFor(
  deps: GateDeps,
  rolloutId: string,
  until: string | undefined,
): Promise<string | undefined> {
  if (!until || !deps.wakeups) return undefined;
  try {
    await deps.wakeups.wakeAt(rolloutId, until);
    return undefined;
  } catch (err) {
    return `wake-up at ${until} not set (${(err as Error).message}); the reconciler releases it`;
  }
}
