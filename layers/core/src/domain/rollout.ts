import { type EcsPlanTarget, ecsTargetRecords, planEcsTargets, type SkippedEcsService } from "./ecs-rollout.ts";
import type { Manifest } from "./manifest.ts";
import { SERVICE_NAME_PATTERN } from "./manifest.ts";
import { IN_FLIGHT_STATUSES, MAX_IDS_PER_COMMAND } from "./ssm.ts";

export { MAX_IDS_PER_COMMAND };

export interface RolloutTarget {
  instanceId: string;
  service: string;
}

export interface SkippedHost {
  instanceId: string;
  service: string;
  reason: string;
}

export interface WaveStep {
  wave: number;
  service: string;
  instanceIds: string[];
}

export interface RolloutPlan {
  rolloutId: string;
  secretArn: string;
  secretName: string;
  versionId: string;
  /** One entry per (wave, service, ≤50 hosts) — one SendCommand each; ordered by wave, then service. */
  waves: WaveStep[];
  skipped: SkippedHost[];
  maxConcurrency: string;
  maxErrors: string;
  /** ECS services restarted by a new deployment, in the same waves as the hosts (domain/ecs-rollout.ts). */
  ecsTargets?: EcsPlanTarget[];
  /** ECS services that reference the secret but are reported, not restarted. */
  ecsSkipped?: SkippedEcsService[];
}

/** Builds the rolling-restart plan: waves from the manifest (lower first), each host exactly once. */
export function planRollout(input: {
  rolloutId: string;
  secret: { arn: string; name: string };
  versionId: string;
  manifest: Manifest;
  targets: RolloutTarget[];
  skipped?: SkippedHost[];
  ecsTargets?: EcsPlanTarget[];
  ecsSkipped?: SkippedEcsService[];
}): RolloutPlan {
  const { manifest: m } = input;
  const waveOf = new Map(m.services.map((s) => [s.name, s.wave]));
  const skipped = [...(input.skipped ?? [])];
  const byService = new Map<string, Set<string>>();
  const planned = new Map<string, string>();
  for (const t of input.targets) {
    // Defence in depth: the manifest already restricts names, but a service name reaches SSM as a parameter.
    if (!SERVICE_NAME_PATTERN.test(t.service) || !waveOf.has(t.service)) {
      skipped.push({ ...t, reason: "service name refused (not in manifest or not matching the allowed pattern)" });
      continue;
    }
    // Each host exactly once: a host listed again under another service would be restarted twice
    // (and its record in the rollout would name only one of the two waves).
    const first = planned.get(t.instanceId);
    if (first !== undefined) {
      if (first !== t.service)
        skipped.push({ ...t, reason: `host already planned under service '${first}': restarted once, not twice` });
      continue;
    }
    planned.set(t.instanceId, t.service);
    const set = byService.get(t.service) ?? new Set<string>();
    set.add(t.instanceId);
    byService.set(t.service, set);
  }
  const waves: WaveStep[] = [];
  const services = [...byService.keys()].sort((a, b) => waveOf.get(a)! - waveOf.get(b)! || a.localeCompare(b));
  for (const service of services) {
    const ids = [...byService.get(service)!].sort();
    for (let i = 0; i < ids.length; i += MAX_IDS_PER_COMMAND) {
      waves.push({ wave: waveOf.get(service)!, service, instanceIds: ids.slice(i, i + MAX_IDS_PER_COMMAND) });
    }
  }
  return {
    rolloutId: input.rolloutId,
    secretArn: input.secret.arn,
    secretName: input.secret.name,
    versionId: input.versionId,
    waves,
    skipped,
    maxConcurrency: m.restart.maxConcurrency,
    maxErrors: m.restart.maxErrors,
    ...planEcsTargets(m, input.ecsTargets ?? [], input.ecsSkipped ?? []),
  };
}

export type HostStatus = "pending" | "sent" | "Success" | "Failed" | "TimedOut" | "Cancelled" | string;

export interface HostRecord {
  service: string;
  wave: number;
  status: HostStatus;
  commandId?: string;
  at?: string;
  /** An ECS service target (keyed by its service ARN): dispatched by domain/ecs-rollout.ts, not SendCommand. */
  kind?: "ecs-service";
  clusterArn?: string;
  deploymentId?: string;
  /** ISO-8601: an ECS deployment without a circuit breaker still IN_PROGRESS after this counts as failed. */
  deadline?: string;
}

export interface CommandRecord {
  commandId: string;
  wave: number;
  service: string;
  instanceIds: string[];
}

export interface Rollout {
  rolloutId: string;
  status: "running" | "succeeded" | "halted";
  plan: RolloutPlan;
  /** Wave number being executed (a value of plan.waves[].wave). */
  currentWave: number;
  commands: CommandRecord[];
  hosts: Record<string, HostRecord>;
  haltReason?: string;
  createdAt: string;
  updatedAt: string;
  /** Optimistic-lock revision: every save must expect the revision it read. */
  rev: number;
}

/** Not final: SSM's in-flight statuses and the rollout's own (`pending`, `dispatching` = claimed, `sent`). */
const IN_FLIGHT = new Set([...IN_FLIGHT_STATUSES, "sent", "pending", "dispatching"]);

export function isTerminalFailure(status: string): boolean {
  return status !== "Success" && !IN_FLIGHT.has(status);
}

export function waveNumbers(plan: RolloutPlan): number[] {
  return [...new Set([...plan.waves, ...(plan.ecsTargets ?? [])].map((w) => w.wave))].sort((a, b) => a - b);
}

export function newRollout(plan: RolloutPlan, now: string): Rollout {
  const hosts: Record<string, HostRecord> = {};
  for (const step of plan.waves)
    for (const id of step.instanceIds) hosts[id] = { service: step.service, wave: step.wave, status: "pending" };
  Object.assign(hosts, ecsTargetRecords(plan.ecsTargets ?? []));
  const first = waveNumbers(plan)[0];
  return {
    rolloutId: plan.rolloutId,
    status: first === undefined ? "succeeded" : "running",
    plan,
    currentWave: first ?? 0,
    commands: [],
    hosts,
    createdAt: now,
    updatedAt: now,
    rev: 0,
  };
}

/** The commands still to send for the current wave: hosts of that wave not yet sent. */
export function pendingDispatch(r: Rollout): WaveStep[] {
  if (r.status !== "running") return [];
  return r.plan.waves
    .filter((s) => s.wave === r.currentWave)
    .map((s) => ({ ...s, instanceIds: s.instanceIds.filter((id) => r.hosts[id]?.status === "pending") }))
    .filter((s) => s.instanceIds.length > 0);
}

export function recordDispatch(r: Rollout, sent: CommandRecord[], now: string): Rollout {
  const hosts = { ...r.hosts };
  for (const c of sent)
    for (const id of c.instanceIds) hosts[id] = { ...hosts[id]!, status: "sent", commandId: c.commandId, at: now };
  return { ...r, hosts, commands: [...r.commands, ...sent], updatedAt: now };
}

export type ResultEffect = "unchanged" | "recorded" | "halted" | "wave-complete" | "succeeded";

/**
 * Records one host's invocation status. A terminal failure halts the rollout; the last success of
 * a wave moves to the next wave (whose commands the caller sends); the last wave completes it.
 */
export function recordResult(
  r: Rollout,
  instanceId: string,
  status: string,
  now: string,
): { rollout: Rollout; effect: ResultEffect } {
  const host = r.hosts[instanceId];
  if (!host || host.status === status || host.status === "Success") return { rollout: r, effect: "unchanged" };
  // A final status is never overwritten (two deliveries may save out of order, a stale InProgress last);
  // only resumeRollout takes a failed host back to pending.
  if (isTerminalFailure(host.status)) return { rollout: r, effect: "unchanged" };
  const hosts = { ...r.hosts, [instanceId]: { ...host, status, at: now } };
  let next: Rollout = { ...r, hosts, updatedAt: now };
  if (isTerminalFailure(status)) {
    if (r.status === "halted") return { rollout: next, effect: "recorded" };
    next = { ...next, status: "halted", haltReason: `${instanceId} (${host.service}) ended ${status}` };
    return { rollout: next, effect: "halted" };
  }
  if (status !== "Success" || r.status !== "running" || host.wave !== r.currentWave)
    return { rollout: next, effect: "recorded" };
  const waveDone = Object.values(hosts).every((h) => h.wave !== r.currentWave || h.status === "Success");
  if (!waveDone) return { rollout: next, effect: "recorded" };
  const later = waveNumbers(r.plan).find((w) => w > r.currentWave);
  if (later === undefined) return { rollout: { ...next, status: "succeeded" }, effect: "succeeded" };
  return { rollout: { ...next, currentWave: later }, effect: "wave-complete" };
}

/**
 * Explicit operator resume: failed hosts of the current wave go back to pending; successes are never re-sent.
 * A running rollout whose hosts were left `dispatching` (crash between the claim and SendCommand) gets those
 * hosts back to pending; any other running or finished rollout is returned unchanged.
 */
export function resumeRollout(r: Rollout, now: string): Rollout {
  if (r.status === "running") {
    const stuck = Object.entries(r.hosts).filter(([, h]) => h.wave === r.currentWave && h.status === "dispatching");
    if (stuck.length === 0) return r;
    const hosts = { ...r.hosts };
    for (const [id, h] of stuck) hosts[id] = pendingAgain(h);
    return { ...r, hosts, updatedAt: now };
  }
  if (r.status !== "halted") return r;
  const hosts = { ...r.hosts };
  for (const [id, h] of Object.entries(hosts))
    if (h.wave === r.currentWave && h.status !== "Success") hosts[id] = pendingAgain(h);
  const { haltReason: _dropped, ...rest } = r;
  return { ...rest, status: "running", hosts, updatedAt: now };
}

/** A record back to pending: the dispatch facts (command, deployment, deadline) go; what the target is stays. */
function pendingAgain(h: HostRecord): HostRecord {
  const { commandId: _c, at: _a, deploymentId: _d, deadline: _dl, ...target } = h;
  return { ...target, status: "pending" };
}
