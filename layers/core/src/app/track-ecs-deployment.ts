// ECS deployments of a rollout: one `ECS Deployment State Change` event, recorded through the engine's one entry
// point (recordTargetOutcome). Lost events and deployments that never end (no circuit breaker) are the reconciler's:
// it asks ECS the same way (rollout-engine.ts collectOutcomes) and fails a step silent past its deadline.
import { ecsOutcome } from "../domain/ecs.ts";
import type { RolloutHead, Verdict } from "../domain/rollout.ts";
import { type EngineDeps, outcomeFields, recordTargetOutcome, type SentStep } from "./rollout-engine.ts";

export type EcsDeploymentEventName =
  | "SERVICE_DEPLOYMENT_IN_PROGRESS"
  | "SERVICE_DEPLOYMENT_COMPLETED"
  | "SERVICE_DEPLOYMENT_FAILED";

export interface EcsDeploymentInput {
  serviceArn: string;
  deploymentId: string;
  eventName: EcsDeploymentEventName;
}

/** Same shape as the SSM tracker's result (TrackResult), so operators and scripts read both alike. */
export interface EcsTrackResult {
  serviceArn: string;
  deploymentId: string;
  eventName: EcsDeploymentEventName;
  rolloutId: string | null;
  /** The outcome recorded by this delivery (empty for a duplicate). */
  recorded: { serviceArn: string; status: "Success" | "Failed"; reason: string }[];
  /** True when the outcome was already recorded (a re-delivered or duplicated event): nothing changed. */
  duplicate: boolean;
  nextWave: { wave: number; commands: SentStep[] } | null;
  rolloutStatus: RolloutHead["status"] | null;
  halted: string | null;
  /** Why the rollout is held after this delivery (a gate before the next wave). */
  held: string | null;
  ignored: string | null;
}

/**
 * One deployment state change. Only final events count (IN_PROGRESS is answered without an AWS call). The deployment
 * must be one a rollout step started (its link) in the step's current attempt; its state is then confirmed with
 * DescribeServices: a COMPLETED/FAILED rolloutState there wins, otherwise (ECS's describe lagging its own event, or the
 * deployment already replaced by a circuit-breaker rollback) the event's own word. The engine records it once per
 * attempt: a failure halts the rollout like a failed host; the step's closing tags the service with the version and,
 * for the last target of a wave, dispatches the next wave. Duplicates and reordered events change nothing twice.
 */
export async function trackEcsDeployment(input: EcsDeploymentInput, deps: EngineDeps): Promise<EcsTrackResult> {
  const out: EcsTrackResult = {
    ...input,
    rolloutId: null,
    recorded: [],
    duplicate: false,
    nextWave: null,
    rolloutStatus: null,
    halted: null,
    held: null,
    ignored: null,
  };
  if (input.eventName === "SERVICE_DEPLOYMENT_IN_PROGRESS") return { ...out, ignored: "deployment not final yet" };
  if (!deps.ecs || !deps.links) throw new Error("configuration error: ECS deployments tracked without an ECS port");
  const ref = await deps.links.stepOf(input.deploymentId);
  if (!ref) return { ...out, ignored: `no rollout started deployment ${input.deploymentId}` };
  out.rolloutId = ref.rolloutId;
  const [step] = await deps.rollouts.steps(ref.rolloutId, [ref.step]);
  if (step?.kind !== "ecs-service" || step.attempt !== ref.attempt || !step.targetIds.includes(input.serviceArn))
    return { ...out, ignored: `deployment ${input.deploymentId} is not the current attempt of its rollout step` };
  const state = await deps.ecs.deploymentState(step.clusterArn ?? "", input.serviceArn, input.deploymentId);
  const described = state.state === "COMPLETED" || state.state === "FAILED" ? ecsOutcome(state) : undefined;
  const judged: { verdict: Verdict; why: string } = described ?? {
    verdict: input.eventName === "SERVICE_DEPLOYMENT_COMPLETED" ? "ok" : "bad",
    why: input.eventName,
  };
  const r = await recordTargetOutcome(deps, ref, input.serviceArn, judged.verdict, judged.why);
  return {
    ...out,
    duplicate: !r.applied,
    ...outcomeFields(r),
    recorded: r.applied
      ? [{ serviceArn: input.serviceArn, status: judged.verdict === "ok" ? "Success" : "Failed", reason: judged.why }]
      : [],
  };
}
