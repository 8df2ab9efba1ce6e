import { judgeInvocation, type RolloutHead, refFromComment } from "../domain/rollout.ts";
import { verdictOf } from "../domain/ssm.ts";
import type { Deps } from "./deps.ts";
import { type EngineDeps, reconcileStep, recordTargetOutcome, type SentStep } from "./rollout-engine.ts";

export interface TrackInput {
  commandId: string;
  documentName: string;
  instanceId?: string;
  status: string;
}

export interface TrackResult {
  rolloutId: string | null;
  commandId: string;
  instanceId: string | null;
  status: string;
  /** Outcomes this delivery recorded (none for a duplicate). */
  recorded: { instanceId: string; status: string }[];
  /** True when the outcome was already recorded (a re-delivered or duplicated event): nothing changed. */
  duplicate: boolean;
  nextWave: { wave: number; commands: SentStep[] } | null;
  rolloutStatus: RolloutHead["status"] | null;
  halted: string | null;
  ignored: string | null;
}

/**
 * One SSM status change of our restart document. A host's final status is confirmed with GetCommandInvocation and
 * recorded through the engine's one entry point (a conditional write on the host's step: duplicates and retries
 * change nothing, so no separate idempotency record is needed); in-flight statuses cost no call. A command-level
 * final status reconciles that command's step (covers per-host events that were lost).
 */
export async function trackRestart(input: TrackInput, deps: EngineDeps & Pick<Deps, "now">): Promise<TrackResult> {
  const out: TrackResult = {
    rolloutId: null,
    commandId: input.commandId,
    instanceId: input.instanceId ?? null,
    status: input.status,
    recorded: [],
    duplicate: false,
    nextWave: null,
    rolloutStatus: null,
    halted: null,
    ignored: null,
  };
  const ignored = (reason: string): TrackResult => ({ ...out, ignored: reason });
  if (input.documentName !== deps.config.restartDocument)
    return ignored(`document ${input.documentName} is not the control plane's restart document`);
  if (verdictOf(input.status) === undefined)
    return ignored(`${input.instanceId ? "invocation" : "command"} status ${input.status} is not final`);

  if (!input.instanceId) {
    const ref = refFromComment(await deps.commands.commandComment(input.commandId));
    if (ref?.step === undefined || ref.attempt === undefined)
      return ignored("command is not part of a control-plane rollout (or predates per-step state)");
    const r = await reconcileStep(deps, { rolloutId: ref.rolloutId, step: ref.step, attempt: ref.attempt });
    return {
      ...out,
      rolloutId: ref.rolloutId,
      recorded: r.recorded,
      rolloutStatus: r.rolloutStatus ?? null,
      halted: r.halted ?? null,
      nextWave: r.nextWave ? { wave: r.nextWave.wave, commands: r.nextWave.sent } : null,
    };
  }

  const inv = await deps.commands.invocation(input.commandId, input.instanceId);
  if (!inv) return ignored("SSM knows no such invocation");
  const ref = refFromComment(inv.comment);
  if (!ref) return ignored("command is not part of a control-plane rollout");
  if (ref.step === undefined || ref.attempt === undefined)
    return { ...ignored("command predates per-step rollout state"), rolloutId: ref.rolloutId };
  // The host is judged by its own invocation, never by the command's status (Undeliverable under a Success command).
  const judged = judgeInvocation(inv.status);
  if (!judged)
    return { ...ignored(`SSM still reports ${inv.status}: the reconciler records it`), rolloutId: ref.rolloutId };
  const r = await recordTargetOutcome(
    deps,
    { rolloutId: ref.rolloutId, step: ref.step, attempt: ref.attempt },
    input.instanceId,
    judged.verdict,
    judged.why,
  );
  return {
    ...out,
    rolloutId: ref.rolloutId,
    recorded: r.applied ? [{ instanceId: input.instanceId, status: inv.status }] : [],
    duplicate: !r.applied,
    rolloutStatus: r.rolloutStatus ?? null,
    halted: r.halted ?? null,
    nextWave: r.nextWave ? { wave: r.nextWave.wave, commands: r.nextWave.sent } : null,
  };
}
