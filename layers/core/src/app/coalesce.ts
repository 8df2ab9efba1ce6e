// Coalescing as the engine applies it (domain/coalesce.ts decides): a rotation joins or opens its namespace's batch
// with conditional writes; when the window is over, whichever visitor comes first closes the batch once, fixes the
// merged members once, and creates the one coalesced rollout from their stored plans. Durable state only: the window
// is the held first wave of each member, ended by the leader's one-time wake-up at the deadline (or, if that is
// missed, the reconciler's next run), never a sleep.
import {
  type Batch,
  batchDeadline,
  coalescedRolloutId,
  memberFate,
  mergeable,
  mergePlans,
} from "../domain/coalesce.ts";
import { allStepIndices, newRollout, type RolloutHead } from "../domain/rollout.ts";
import { canCoalesce } from "../ports/index.ts";
import type { Deps } from "./deps.ts";
import { evaluateGate } from "./rollout-gates.ts";

export type CoalesceDeps = Pick<Deps, "rollouts" | "signals" | "now">;

/** How many times a join races a concurrent opener before the rotation goes on alone (its own rollout). */
const JOIN_TRIES = 3;

/**
 * Puts rollout `member` in its namespace's coalescing batch: joins the open one (conditional ADD: idempotent under
 * duplicates, refused once the window is over or the batch closed), or opens a new one it leads, window
 * `coalesceSeconds` from now. Returns the batch's leader and deadline; undefined when every try lost a race (the
 * rollout then goes on alone — never lost, at worst not coalesced), and when the store keeps no batches (the drift
 * audit's catch-up rollouts). Cost: 1 GetItem + 1 UpdateItem to join.
 */
export async function joinCoalescing(
  deps: CoalesceDeps,
  namespace: string,
  member: string,
  coalesceSeconds: number,
): Promise<Pick<Batch, "leader" | "deadline"> | undefined> {
  const store = deps.rollouts;
  if (!canCoalesce(store)) return undefined;
  const now = deps.now().getTime();
  const at = new Date(now).toISOString();
  for (let i = 0; i < JOIN_TRIES; i++) {
    const open = await store.currentBatch(namespace);
    if (open && open.deadline > at) {
      if (open.leader === member || (await store.joinBatch(open.leader, member, at))) return open;
    }
    const mine = { leader: member, namespace, openedAt: at, deadline: batchDeadline(now, coalesceSeconds) };
    if (await store.openBatch(mine, at)) return mine;
  }
  return undefined;
}

export interface Settled {
  /** `wait`: the window is still open; `alone`: this rollout goes on by itself; `coalesced`: its hosts restart in `into`. */
  fate: "wait" | "alone" | "coalesced";
  into?: string;
  /** The coalesced rollout, when this call created it (the caller dispatches its first wave unless held). */
  created?: RolloutHead;
}

/**
 * A held member of a batch visited by the reconciler: while the window is open, wait; after it, close the batch
 * (once: the members are fixed by a conditional write), fix which members merge (those still held with nothing sent;
 * once), and — with two or more — create the coalesced rollout from their stored plans (idempotent: its id derives
 * from the batch) and mark each member as coalesced into it (taken off the running set). A dry run changes nothing.
 */
export async function settleBatch(deps: CoalesceDeps, head: RolloutHead, dryRun: boolean): Promise<Settled> {
  const store = deps.rollouts;
  if (!head.batch || !canCoalesce(store)) return { fate: "alone" };
  const now = deps.now().getTime();
  const at = new Date(now).toISOString();
  let batch = await store.batch(head.batch);
  let fate = memberFate(batch, head.rolloutId, now);
  if (fate === "close") {
    if (dryRun || !batch) return { fate: "wait" };
    batch = await store.closeBatch(batch.leader, at);
    if (batch?.closed && !batch.merged) {
      // The leader first, then the others in id order: every closer builds the same plan.
      const ids = [batch.leader, ...batch.closed.filter((id) => id !== batch?.leader).sort()];
      const heads = await Promise.all(ids.map((id) => deps.rollouts.head(id)));
      batch = await store.setMerged(
        batch.leader,
        ids.filter((_, i) => mergeable(heads[i])),
      );
    }
    fate = memberFate(batch, head.rolloutId, now);
    if (fate === "close") return { fate: "wait" }; // another closer is half-way: next visit
  }
  if (fate !== "coalesced" || !batch?.merged) return { fate };
  const into = coalescedRolloutId(batch.leader);
  if (dryRun) return { fate, into };
  const created = await createCoalesced(deps, batch.merged, batch.openedAt, into);
  const reason = `coalesced into ${into}: its hosts restart there, once for every version changed in the window`;
  for (const id of batch.merged) await deps.rollouts.markCoalesced(id, into, reason, at);
  return { fate, into, ...(created ? { created } : {}) };
}

/** The coalesced rollout, written once (its steps and head only if absent); the head when this call created it. */
async function createCoalesced(
  deps: CoalesceDeps,
  merged: string[],
  openedAt: string,
  into: string,
): Promise<RolloutHead | undefined> {
  if (await deps.rollouts.head(into)) return undefined;
  const members = [];
  for (const id of merged) {
    const head = await deps.rollouts.head(id);
    if (head) members.push({ head, steps: await deps.rollouts.steps(id, allStepIndices(head)) });
  }
  // Created as of the window's opening: its first wave has waited the window out already.
  const { head, steps } = newRollout(mergePlans(into, members), openedAt);
  const gate = await evaluateGate(deps, head, 0);
  if (!gate.open) head.hold = gate.hold;
  return (await deps.rollouts.create(head, steps)) ? head : undefined;
}
