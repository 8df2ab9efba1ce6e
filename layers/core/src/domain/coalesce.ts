// Coalescing, pure: secrets that change within `restart.coalesceSeconds` of each other restart each host once.
// Every rotation still plans (and stores, held for the window) its own rollout; the first of a window opens a batch,
// the next ones join it (conditional writes, app/coalesce.ts). When the window is over, the batch is closed once and
// its members' stored plans are merged into ONE rollout covering every version; the members restart nothing
// themselves. Vault Secrets Operator #644 asks for this batching; the window is the safe profile's (fast: none).
import { createHash } from "node:crypto";
import type { RolloutPolicy } from "./gates.ts";
import {
  type CoveredSecret,
  planRollout,
  type RolloutHead,
  type RolloutPlan,
  type RolloutTarget,
  type SkippedTarget,
  type StepRecord,
} from "./rollout.ts";

/** A coalescing batch as stored: its leader (the first member's rollout id), its window, its members. */
export interface Batch {
  leader: string;
  namespace: string;
  openedAt: string;
  /** Joins are refused from this moment on (conditional writes compare it). */
  deadline: string;
  members: string[];
  /** The members when the batch was closed (fixed once, conditionally). */
  closed?: string[];
  /** The members whose held rollouts were merged (fixed once); fewer than two: nothing is merged. */
  merged?: string[];
}

/**
 * The coalesced rollout's id: `ro-` + the first 16 hex of sha256("coalesce|" + leader) — the rollout id format, so
 * the SendCommand comment, the CLI and the tracker read it like any other; derived from the batch, so every closer
 * names the same rollout.
 */
export function coalescedRolloutId(leader: string): string {
  return `ro-${createHash("sha256").update(`coalesce|${leader}`).digest("hex").slice(0, 16)}`;
}

/** The window a new batch opened at `now` (ms) stays joinable: ISO time `coalesceSeconds` later. */
export function batchDeadline(now: number, coalesceSeconds: number): string {
  return new Date(now + coalesceSeconds * 1000).toISOString();
}

/** A one-time wake-up: the reconciler visits rollout `rolloutId` at ISO time `at`. */
export interface Wakeup {
  rolloutId: string;
  at: string;
}

/**
 * The one-time wake-ups a new rollout held before its first wave asks for. Inputs: its id, its hold's end (ISO;
 * none for an untimed hold: alarm or calendar), the batch it joined (if any). Output: wake-ups, at most two.
 * - No batch: its own hold's end.
 * - In a batch: the batch deadline on the LEADER, whose visit closes the batch and creates the coalesced rollout for
 *   every member — each member asks for the same one, and the schedule's name (rollout, minute) makes it one.
 * - The leader's own wake-up is that one: its hold was decided a moment before the batch opened, and a visit before
 *   the deadline would only wait. A joiner also keeps its own (later) one, for when the merge leaves it alone.
 */
export function heldWakeups(
  rolloutId: string,
  until: string | undefined,
  batch?: Pick<Batch, "leader" | "deadline">,
): Wakeup[] {
  const own = until ? [{ rolloutId, at: until }] : [];
  if (!batch) return own;
  const leader = { rolloutId: batch.leader, at: batch.deadline };
  if (batch.leader !== rolloutId) return [leader, ...own];
  return until && Date.parse(until) > Date.parse(batch.deadline) ? own : [leader];
}

/**
 * What a held member does when the reconciler visits it: `wait` while its batch is joinable; `close` when the window
 * is over (or a closer stopped half-way) and the merge is not fixed yet; `coalesced` when it was merged with at least
 * one other member; `alone` otherwise (no batch, or the batch merged without it): its own rollout goes on.
 */
export function memberFate(
  batch: Batch | undefined,
  rolloutId: string,
  now: number,
): "wait" | "close" | "coalesced" | "alone" {
  if (!batch) return "alone";
  if (batch.merged) return batch.merged.length >= 2 && batch.merged.includes(rolloutId) ? "coalesced" : "alone";
  if (!batch.closed && now < Date.parse(batch.deadline)) return "wait";
  return "close";
}

/** A member the merge may take: held before its first wave, nothing sent, not taken by another merge. */
export function mergeable(head: RolloutHead | undefined): boolean {
  return !!head && head.status === "running" && head.current === 0 && !!head.hold && !head.coalescedInto;
}

/**
 * ONE plan for the batch's merged members, from what they stored (heads and steps; no manifest, no AWS call): every
 * target of every member once, in its service's wave, re-chunked and re-sized to the Parameter Store budget; the
 * alarms of every member; every secret version with the services whose hosts consume it (their tags). The first
 * member (the leader) names the secret in comments. Deterministic in the members' order, so concurrent closers agree.
 * Throws on an empty list.
 */
export function mergePlans(rolloutId: string, members: { head: RolloutHead; steps: StepRecord[] }[]): RolloutPlan {
  const lead = members[0];
  if (!lead) throw new Error("nothing to merge");
  const waveOf = new Map<string, number>();
  const targets: RolloutTarget[] = [];
  const secrets: CoveredSecret[] = [];
  const alarms: Record<string, string[]> = {};
  const reads: Record<string, number> = {};
  for (const { head, steps } of members) {
    const services = new Set<string>();
    for (const s of steps) {
      waveOf.set(s.service, s.wave);
      services.add(s.service);
      for (const id of s.targetIds)
        targets.push(
          s.kind === "ecs-service"
            ? { kind: "ecs-service", serviceArn: id, clusterArn: s.clusterArn ?? "", service: s.service }
            : { kind: "host", instanceId: id, service: s.service },
        );
    }
    for (const c of head.secrets ?? [
      { arn: head.secretArn, name: head.secretName, versionId: head.versionId, services: [...services].sort() },
    ])
      secrets.push(c);
    for (const [wave, names] of Object.entries(head.policy?.alarms ?? {}))
      alarms[wave] = [...new Set([...(alarms[wave] ?? []), ...names])];
    Object.assign(reads, head.policy?.readsPerRestart ?? {});
  }
  const planned = new Set(targets.map((t) => (t.kind === "host" ? t.instanceId : t.serviceArn)));
  const skipped = new Map<string, SkippedTarget>();
  for (const { head } of members)
    for (const s of head.skipped) if (!planned.has(s.targetId)) skipped.set(`${s.targetId}|${s.reason}`, s);
  const policy: RolloutPolicy | undefined = lead.head.policy && {
    ...lead.head.policy,
    profileWhy: `${lead.head.policy.profileWhy}; coalesced: ${secrets.length} secret versions changed within ${lead.head.policy.coalesceSeconds} s`,
    alarms,
    readsPerRestart: reads,
  };
  return planRollout({
    rolloutId,
    secret: { arn: lead.head.secretArn, name: lead.head.secretName },
    versionId: lead.head.versionId,
    manifest: {
      services: [...waveOf].map(([name, wave]) => ({ name, wave, readsPerRestart: reads[name] ?? 10 })),
      restart: { maxConcurrency: lead.head.maxConcurrency, maxErrors: lead.head.maxErrors },
    },
    targets,
    skipped: [...skipped.values()],
    ...(policy ? { policy } : {}),
    maxConcurrency: lead.head.maxConcurrency,
    secrets,
  });
}
