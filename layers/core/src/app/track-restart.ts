import { alarmStop } from "../domain/gates.ts";
import { judgeInvocation, type RolloutHead, refFromComment } from "../domain/rollout.ts";
import { STOPPED_STATUSES, verdictOf } from "../domain/ssm.ts";
import type { Deps } from "./deps.ts";
import {
  type EngineDeps,
  outcomeFields,
  reconcileStep,
  recordTargetOutcome,
  recordTargetStop,
  type SentStep,
} from "./rollout-engine.ts";

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
  /** Why the rollout is held after this delivery (a gate before the next wave, or SSM stopping a command on its alarm). */
  held: string | null;
  ignored: string | null;
}

/**
 * One SSM status change of our restart document. A host's final status is confirmed with GetCommandInvocation and
 * recorded through the engine's one entry point (a conditional write on the host's step: duplicates and retries
 * change nothing, so no separate idempotency record is needed); in-flight statuses cost no call. A host SSM stopped
 * on its command's alarm (Cancelled/Terminated, the alarm in the command's TriggeredAlarms: one ListCommands) holds
 * the rollout on that alarm instead of failing it. A command-level final status reconciles that command's step
 * (covers per-host events that were lost, stops included).
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
    held: null,
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
    return { ...out, ...outcomeFields(r), rolloutId: ref.rolloutId, recorded: r.recorded };
  }

  const inv = await deps.commands.invocation(input.commandId, input.instanceId);
  if (!inv) return ignored("SSM knows no such invocation");
  const ref = refFromComment(inv.comment);
  if (!ref) return ignored("command is not part of a control-plane rollout");
  if (ref.step === undefined || ref.attempt === undefined)
    return { ...ignored("command predates per-step rollout state"), rolloutId: ref.rolloutId };
  const stepRef = { rolloutId: ref.rolloutId, step: ref.step, attempt: ref.attempt };
  // SSM stopped the command on its alarm (AlarmConfiguration): the rollout is held on it, not failed. One ListCommands,
  // asked only for a stopped status.
  if (STOPPED_STATUSES.has(inv.status)) {
    const alarms = await deps.commands.commandAlarms(input.commandId);
    const alarm = alarmStop(inv.status, alarms.triggered, alarms.alarm);
    if (alarm) {
      const r = await recordTargetStop(deps, stepRef, input.instanceId, alarm, inv.status);
      return { ...out, ...outcomeFields(r), rolloutId: ref.rolloutId, duplicate: !r.applied };
    }
  }
  // The host is judged by its own invocation, never by the command's status (Undeliverable under a Success command).
  const judged = judgeInvocation(inv.status);
  if (!judged)
    return { ...ignored(`SSM still reports ${inv.status}: the reconciler records it`), rolloutId: ref.rolloutId };
  const r = await recordTargetOutcome(deps, stepRef, input.instanceId, judged.verdict, judged.why);
  return {
    ...out,
    ...outcomeFields(r),
    rolloutId: ref.rolloutId,
    recorded: r.applied ? [{ instanceId: input.instanceId, status: inv.status }] : [],
    duplicate: !r.applied,
  };
}
