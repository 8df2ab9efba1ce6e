// ECS deployments of a rollout: one `ECS Deployment State Change` event, and the reconciliation of deployments
// whose events were lost (or never come: a service without a circuit breaker never reports FAILED).
import { ecsOutcome, isEcsRecord } from "../domain/ecs-rollout.ts";
import { type ResultEffect, type Rollout, recordResult } from "../domain/rollout.ts";
import { versionTags } from "../domain/secrets.ts";
import type { Deps } from "./deps.ts";
import { dispatchNextWave, mutateRollout, type NextWave } from "./rollout-runner.ts";

export type EcsDeploymentEventName =
  | "SERVICE_DEPLOYMENT_IN_PROGRESS"
  | "SERVICE_DEPLOYMENT_COMPLETED"
  | "SERVICE_DEPLOYMENT_FAILED";

export interface EcsDeploymentInput {
  serviceArn: string;
  deploymentId: string;
  eventName: EcsDeploymentEventName;
}

export interface EcsTrackResult {
  serviceArn: string;
  deploymentId: string;
  eventName?: EcsDeploymentEventName;
  rolloutId?: string;
  recorded: { serviceArn: string; status: string; reason?: string }[];
  nextWave?: NextWave;
  rolloutStatus?: Rollout["status"];
  halted?: string;
  ignored?: string;
}

type Outcome = { deploymentId: string; status: string; reason?: string };

/**
 * One deployment state change. Only final events count (IN_PROGRESS is ignored without an AWS call). The deployment
 * must be one a rollout started (its link) and still that rollout's deployment of the service; its state is then
 * confirmed with DescribeServices: a COMPLETED/FAILED rolloutState there wins, otherwise (eventual consistency, or
 * the deployment already gone from the service) the event's own word. Success tags the service with the version it
 * now runs; Failed halts the rollout like a failed host; the last success of a wave dispatches the next wave once.
 * Duplicate and reordered events change nothing twice: a final status is never overwritten.
 */
export async function trackEcsDeployment(input: EcsDeploymentInput, deps: Deps): Promise<EcsTrackResult> {
  const out: EcsTrackResult = {
    serviceArn: input.serviceArn,
    deploymentId: input.deploymentId,
    eventName: input.eventName,
    recorded: [],
  };
  if (input.eventName === "SERVICE_DEPLOYMENT_IN_PROGRESS") return { ...out, ignored: "deployment not final yet" };
  if (!deps.ecs || !deps.links) throw new Error("configuration error: ECS deployments tracked without an ECS port");
  const rolloutId = await deps.links.rolloutOf(input.deploymentId);
  if (!rolloutId) return { ...out, ignored: `no rollout started deployment ${input.deploymentId}` };
  out.rolloutId = rolloutId;
  const rollout = await deps.rollouts.get(rolloutId);
  const rec = rollout?.hosts[input.serviceArn];
  if (!rollout || !rec || !isEcsRecord(rec) || rec.deploymentId !== input.deploymentId)
    return {
      ...out,
      ignored: `deployment ${input.deploymentId} is not rollout ${rolloutId}'s deployment of the service`,
    };
  const state = await deps.ecs.deploymentState(rec.clusterArn ?? "", input.serviceArn, input.deploymentId);
  const byEvent = input.eventName === "SERVICE_DEPLOYMENT_COMPLETED" ? "Success" : "Failed";
  // ECS's describe may lag its own event (still IN_PROGRESS) or no longer list the deployment: the event decides then.
  const described = state.state === "COMPLETED" || state.state === "FAILED" ? state.state : undefined;
  const outcome: Outcome = described
    ? {
        deploymentId: input.deploymentId,
        status: ecsOutcome(described, rec, deps.now()) ?? byEvent,
        ...(state.reason ? { reason: state.reason } : {}),
      }
    : { deploymentId: input.deploymentId, status: byEvent };
  return { ...out, ...(await recordEcsOutcomes(deps, rollout, new Map([[input.serviceArn, outcome]]))) };
}

/**
 * Asks ECS about every in-flight deployment of a rollout (DescribeServices each) and records those that ended or
 * passed their deadline: what the reconciler does for deployments, as it asks SSM for commands.
 */
export async function reconcileEcsDeployments(
  deps: Deps,
  rolloutId: string,
  opts: { dryRun?: boolean } = {},
): Promise<EcsTrackResult["recorded"]> {
  const rollout = await deps.rollouts.get(rolloutId);
  if (!rollout || !deps.ecs) return [];
  const outcomes = new Map<string, Outcome>();
  for (const [arn, rec] of Object.entries(rollout.hosts)) {
    if (!isEcsRecord(rec) || rec.status !== "sent" || !rec.deploymentId) continue;
    const state = await deps.ecs.deploymentState(rec.clusterArn ?? "", arn, rec.deploymentId);
    const status = ecsOutcome(state.state, rec, deps.now());
    if (!status) continue;
    const reason =
      status === "DeadlineExceeded" ? `still IN_PROGRESS after its deadline ${rec.deadline}` : state.reason;
    outcomes.set(arn, { deploymentId: rec.deploymentId, status, ...(reason ? { reason } : {}) });
  }
  if (outcomes.size === 0) return [];
  // Dry run: what would be recorded, nothing written.
  if (opts.dryRun)
    return [...outcomes].map(([serviceArn, o]) => ({
      serviceArn,
      status: o.status,
      ...(o.reason ? { reason: o.reason } : {}),
    }));
  return (await recordEcsOutcomes(deps, rollout, outcomes)).recorded;
}

/**
 * The write half shared by the event and the reconciler: records each outcome under the rollout's lock (only for
 * the deployment the target still names), tags successes with the version, halts, or dispatches the next wave.
 * When issue 12's `recordTargetOutcome` lands, this is the one function to re-point.
 */
async function recordEcsOutcomes(
  deps: Deps,
  rollout: Rollout,
  outcomes: Map<string, Outcome>,
): Promise<Pick<EcsTrackResult, "recorded" | "nextWave" | "rolloutStatus" | "halted">> {
  const now = deps.now();
  const effects: { arn: string; status: string; effect: ResultEffect; reason?: string }[] = [];
  const saved = await mutateRollout(deps, rollout.rolloutId, (cur) => {
    effects.length = 0;
    let next = cur;
    for (const [arn, o] of outcomes) {
      if (next.hosts[arn]?.deploymentId !== o.deploymentId) continue;
      const r = recordResult(next, arn, o.status, now.toISOString());
      next = r.rollout;
      if (r.effect !== "unchanged")
        effects.push({ arn, status: o.status, effect: r.effect, ...(o.reason ? { reason: o.reason } : {}) });
    }
    return effects.length > 0 ? next : undefined;
  });
  const final = saved ?? rollout;
  const result: Pick<EcsTrackResult, "recorded" | "nextWave" | "rolloutStatus" | "halted"> = {
    recorded: effects.map(({ arn, status, reason }) => ({ serviceArn: arn, status, ...(reason ? { reason } : {}) })),
    rolloutStatus: final.status,
  };
  for (const e of effects)
    if (e.status === "Success")
      await deps.ecs?.tagService(e.arn, versionTags(final.plan.secretName, final.plan.versionId, now.toISOString()));
  if (effects.some((e) => e.effect === "halted")) result.halted = final.haltReason ?? "rollout halted";
  if (effects.some((e) => e.effect === "wave-complete")) {
    result.nextWave = await dispatchNextWave(deps, final);
  }
  return result;
}
