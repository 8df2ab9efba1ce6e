// ECS service targets inside a rollout: pure decisions. A target is keyed by its service ARN in the rollout's
// per-target records beside the hosts (CONTRACT-consumers.md: targetId of an ECS service = its service ARN), counts
// toward its wave like a host, and goes planned → dispatching (claimed) → sent (UpdateService answered with a
// deploymentId) → Success | Failed | DeadlineExceeded.

import type { EcsDeploymentState } from "../ports/index.ts";
import type { EcsPlanTarget, SkippedEcsService } from "./ecs.ts";
import type { Manifest } from "./manifest.ts";
import { SERVICE_NAME_PATTERN } from "./manifest.ts";
import type { HostRecord, Rollout } from "./rollout.ts";

export type { EcsPlanTarget, SkippedEcsService };

/** Plan fields for ECS targets: each service ARN once, only services of the manifest; empty lists are left out. */
export function planEcsTargets(
  m: Manifest,
  targets: EcsPlanTarget[],
  skipped: SkippedEcsService[],
): { ecsTargets?: EcsPlanTarget[]; ecsSkipped?: SkippedEcsService[] } {
  const known = new Set(m.services.map((s) => s.name));
  const planned = new Map<string, EcsPlanTarget>();
  const refused = [...skipped];
  for (const t of targets) {
    if (!SERVICE_NAME_PATTERN.test(t.service) || !known.has(t.service))
      refused.push({ serviceArn: t.serviceArn, service: t.service, reason: "service name refused (not in manifest)" });
    else if (!planned.has(t.serviceArn)) planned.set(t.serviceArn, t);
  }
  const ecsTargets = [...planned.values()].sort((a, b) => a.wave - b.wave || a.serviceArn.localeCompare(b.serviceArn));
  return {
    ...(ecsTargets.length > 0 ? { ecsTargets } : {}),
    ...(refused.length > 0 ? { ecsSkipped: refused } : {}),
  };
}

/** The per-target records a new rollout starts with for its ECS targets. */
export function ecsTargetRecords(targets: EcsPlanTarget[]): Record<string, HostRecord> {
  return Object.fromEntries(
    targets.map((t) => [
      t.serviceArn,
      { kind: "ecs-service", service: t.service, wave: t.wave, clusterArn: t.clusterArn, status: "pending" },
    ]),
  );
}

export function isEcsRecord(h: HostRecord | undefined): boolean {
  return h?.kind === "ecs-service";
}

/** ECS targets of the current wave in `status`, as (serviceArn, clusterArn) pairs sorted by ARN. */
export function ecsTargetsIn(r: Rollout, status: string): { serviceArn: string; clusterArn: string }[] {
  if (r.status !== "running") return [];
  return Object.entries(r.hosts)
    .filter(([, h]) => isEcsRecord(h) && h.wave === r.currentWave && h.status === status)
    .map(([serviceArn, h]) => ({ serviceArn, clusterArn: h.clusterArn ?? "" }))
    .sort((a, b) => a.serviceArn.localeCompare(b.serviceArn));
}

/** Claims the current wave's pending ECS targets (`dispatching`) — under the same lock as the hosts' claim. */
export function claimEcs(r: Rollout): Rollout | undefined {
  const pending = ecsTargetsIn(r, "pending");
  if (pending.length === 0) return undefined;
  const hosts = { ...r.hosts };
  for (const { serviceArn } of pending) hosts[serviceArn] = { ...hosts[serviceArn]!, status: "dispatching" };
  return { ...r, hosts };
}

/**
 * Records UpdateService answers (`sent`, with the deployment each started and its deadline when the plan gave one)
 * and releases the claims of targets that were not sent (a call that failed past its retries) back to pending.
 */
export function recordEcsDispatch(r: Rollout, claimed: string[], sent: Map<string, string>, now: Date): Rollout {
  const deadlineOf = new Map((r.plan.ecsTargets ?? []).map((t) => [t.serviceArn, t.deadlineSeconds]));
  const hosts = { ...r.hosts };
  for (const arn of claimed) {
    const h = hosts[arn];
    if (h?.status !== "dispatching") continue;
    const deploymentId = sent.get(arn);
    if (!deploymentId) {
      hosts[arn] = { ...h, status: "pending" };
      continue;
    }
    const seconds = deadlineOf.get(arn);
    hosts[arn] = {
      ...h,
      status: "sent",
      deploymentId,
      at: now.toISOString(),
      ...(seconds ? { deadline: new Date(now.getTime() + seconds * 1000).toISOString() } : {}),
    };
  }
  return { ...r, hosts, updatedAt: now.toISOString() };
}

/**
 * The status a deployment's state means for its target, or undefined while it is still in flight. COMPLETED (or
 * superseded by a later completed deployment, whose tasks read the secret afresh too) → Success; FAILED (ECS's
 * circuit breaker), gone (rolled back) or the service deleted → Failed; IN_PROGRESS past the deadline of a service
 * without a circuit breaker → DeadlineExceeded.
 */
export function ecsOutcome(state: EcsDeploymentState["state"], record: HostRecord, now: Date): string | undefined {
  switch (state) {
    case "COMPLETED":
    case "superseded":
      return "Success";
    case "FAILED":
    case "gone":
    case "service-missing":
      return "Failed";
    case "IN_PROGRESS":
      return record.deadline && now.getTime() > Date.parse(record.deadline) ? "DeadlineExceeded" : undefined;
  }
}
