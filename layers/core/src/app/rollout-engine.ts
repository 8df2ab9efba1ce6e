// The rollout engine: orchestrates the pure transitions of domain/rollout.ts over the RolloutStore's conditional
// writes. Every event source (SSM events, the reconciler, ECS deployment events) records outcomes through ONE entry
// point, recordTargetOutcome; the delivery that closes a wave's last step is the one that dispatches the next wave.

import { ecsOutcome } from "../domain/ecs.ts";
import { alarmStop, commandAlarm, type Hold, stopHold } from "../domain/gates.ts";
import {
  afterWaveCount,
  claimExpired,
  commentFor,
  deadlineOutcome,
  haltReasonFor,
  isComplete,
  judgeInvocation,
  type RolloutHead,
  recordedVersions,
  type StepRecord,
  type StepRef,
  stepIndices,
  stoppedToResend,
  toSend,
  type Verdict,
} from "../domain/rollout.ts";
import { versionTags } from "../domain/secrets.ts";
import { STOPPED_STATUSES } from "../domain/ssm.ts";
import { InvalidInstanceIdError } from "../ports/index.ts";
import { settleBatch } from "./coalesce.ts";
import { mapLimit } from "./concurrency.ts";
import type { Deps } from "./deps.ts";
import { evaluateGate, wakeFor } from "./rollout-gates.ts";

/** The one CloudWatch alarm SSM watches while this step's command runs (the service wave's first). */
const alarmOf = (head: RolloutHead, step: StepRecord) => commandAlarm(head, step.wave);

export type EngineDeps = Pick<
  Deps,
  "config" | "commands" | "rollouts" | "inventory" | "now" | "ecs" | "links" | "signals" | "wakeups"
>;

/** Commands of one wave sent at once by one delivery. */
const SEND_CONCURRENCY = 4;

export interface SentStep {
  step: number;
  commandIds: string[];
  service: string;
  targetIds: string[];
  /** Targets SSM refused as not registered (InvalidInstanceId): reported, not restarted. */
  unmanaged: string[];
}

export type { StepRef };

export interface OutcomeResult {
  /** False for a duplicate (the target already had an outcome in this attempt). */
  applied: boolean;
  halted?: string;
  nextWave?: { wave: number; sent: SentStep[] };
  /** The next wave waits for its gates (bake, alarms, calendar): held, not sent. */
  held?: Hold;
  /** Why the held wave's one-time wake-up was not set (the reconciler's next run releases it instead). */
  wakeup?: string;
  rolloutStatus?: RolloutHead["status"];
}

const iso = (deps: Pick<EngineDeps, "now">) => deps.now().toISOString();

/** The engine's answer as both trackers report it: status, halt, hold (with a wake-up that was not set), next wave. */
export function outcomeFields(r: Omit<OutcomeResult, "applied">): {
  rolloutStatus: RolloutHead["status"] | null;
  halted: string | null;
  held: string | null;
  nextWave: { wave: number; commands: SentStep[] } | null;
} {
  return {
    rolloutStatus: r.rolloutStatus ?? null,
    halted: r.halted ?? null,
    held: r.held ? [r.held.reason, r.wakeup].filter(Boolean).join("; ") : null,
    nextWave: r.nextWave ? { wave: r.nextWave.wave, commands: r.nextWave.sent } : null,
  };
}

/**
 * Records one target's outcome (the contract's entry point for every event source): a conditional write on its step,
 * a halt on a failure, and — for the one delivery that completes the step — the wave counter, the next wave's
 * dispatch and the version tags. Duplicates change nothing, but finish what a crashed delivery left (close, tags).
 */
export async function recordTargetOutcome(
  deps: EngineDeps,
  ref: StepRef,
  targetId: string,
  verdict: Verdict,
  why: string,
): Promise<OutcomeResult> {
  const { applied, step } = await deps.rollouts.recordOutcome(ref, targetId, verdict, why);
  const out: OutcomeResult = { applied };
  if (!step) return out;
  if (
    applied &&
    verdict === "bad" &&
    (await deps.rollouts.halt(ref.rolloutId, haltReasonFor(step, targetId, why), iso(deps)))
  )
    out.halted = haltReasonFor(step, targetId, why);
  return { ...out, ...(await settleStep(deps, step)) };
}

/**
 * A target whose invocation SSM stopped on the command's alarm (AlarmConfiguration): not an outcome — the host did
 * not restart — but a stop recorded on its step (conditional: duplicates change nothing), and the rollout held on
 * that alarm as the alarm gate holds it (durable on the head, released by the reconciler when the alarm is OK, which
 * then sends the stopped hosts again). A plain failure never comes here: it halts through recordTargetOutcome.
 */
export async function recordTargetStop(
  deps: EngineDeps,
  ref: StepRef,
  targetId: string,
  alarm: string,
  status: string,
): Promise<OutcomeResult> {
  const { applied, step } = await deps.rollouts.recordStop(
    ref,
    targetId,
    `${status}: SSM stopped it on alarm ${alarm}`,
  );
  const head = await deps.rollouts.head(ref.rolloutId);
  const out: OutcomeResult = { applied, ...(head ? { rolloutStatus: head.status } : {}) };
  // Also on a duplicate: a delivery that died between the stop and the hold left the rollout unheld.
  if (!head || !step || step.attempt !== ref.attempt || !step.stopped.includes(targetId)) return out;
  if (head.status !== "running" || head.current !== step.waveIndex) return out;
  if (head.hold) return { ...out, held: head.hold };
  const hold = stopHold(head, step.waveIndex, alarm, deps.now().getTime());
  if (await deps.rollouts.setHold(head.rolloutId, hold, iso(deps))) return { ...out, held: hold };
  const now = await deps.rollouts.head(ref.rolloutId);
  return { ...out, ...(now?.hold ? { held: now.hold } : {}) };
}

/**
 * A complete step is closed once (the wave counter grows by its size), then its successful hosts are tagged. The
 * closing delivery that sees the wave complete advances it and sends the next wave before tagging, so a wave
 * transition costs: close, counter, advance, claim → SendCommand.
 */
export async function settleStep(deps: EngineDeps, step: StepRecord): Promise<Omit<OutcomeResult, "applied">> {
  if (!isComplete(step) || step.attempt < 1) return {};
  const out: Omit<OutcomeResult, "applied"> = {};
  let head: RolloutHead | undefined;
  if (!step.closed) {
    if (!(await deps.rollouts.closeStep(step.rolloutId, step.index, step.attempt, iso(deps)))) return {};
    head = await deps.rollouts.addDone(step.rolloutId, step.waveIndex, step.targetIds.length);
    Object.assign(out, await afterCount(deps, head, step.waveIndex));
  }
  if (!step.tagged) {
    head ??= await deps.rollouts.head(step.rolloutId);
    if (head) await tagStep(deps, head, step);
  }
  return out;
}

/** The wave counter's new value decides: advance and dispatch, succeed, or wait. */
async function afterCount(
  deps: EngineDeps,
  head: RolloutHead,
  waveIndex: number,
): Promise<Omit<OutcomeResult, "applied">> {
  const next = afterWaveCount(head, waveIndex, head.done[waveIndex] ?? 0);
  if (next.kind === "succeeded") {
    await deps.rollouts.succeed(head.rolloutId, waveIndex, iso(deps));
    return { rolloutStatus: "succeeded" };
  }
  if (next.kind !== "advance") return { rolloutStatus: head.status };
  // The gates sit here, where the next wave would go out: a held wave is advanced to with its hold in the same write.
  const gate = await evaluateGate(deps, head, next.next);
  const hold = gate.open ? undefined : gate.hold;
  if (!(await deps.rollouts.advance(head.rolloutId, waveIndex, next.next, iso(deps), hold)))
    return { rolloutStatus: head.status };
  if (hold) {
    const wakeup = await wakeFor(deps, head.rolloutId, hold.until);
    return { rolloutStatus: "running", held: hold, ...(wakeup ? { wakeup } : {}) };
  }
  const sent = await dispatchWave(deps, { ...head, current: next.next });
  return { rolloutStatus: "running", nextWave: { wave: head.waves[next.next]?.wave ?? -1, sent } };
}

async function tagStep(deps: EngineDeps, head: RolloutHead, step: StepRecord): Promise<void> {
  const at = iso(deps);
  const tags = Object.assign(
    {},
    ...recordedVersions(head, step.service).map((v) => versionTags(v.name, v.versionId, at)),
  ) as Record<string, string>;
  // One CreateTags per step (≤ 50 ids), not per host: EC2 refills CreateTags at 10/s. An ECS step is one service.
  if (step.ok.length > 0 && step.kind === "host") await deps.inventory.tagHosts(step.ok, tags);
  if (step.kind === "ecs-service") for (const arn of step.ok) await deps.ecs?.tagService(arn, tags);
  await deps.rollouts.markTagged(step.rolloutId, step.index);
}

/** Sends every still-planned step of the head's current wave; each step is claimed first, so none is sent twice. */
export async function dispatchWave(deps: EngineDeps, head: RolloutHead): Promise<SentStep[]> {
  if (head.status !== "running" || head.hold) return [];
  const sent = await mapLimit(stepIndices(head, head.current), SEND_CONCURRENCY, async (index) => {
    const claimed = await deps.rollouts.claimStep(head.rolloutId, index, iso(deps));
    return claimed ? sendStep(deps, head, claimed) : undefined;
  });
  return sent.filter((s): s is SentStep => s !== undefined);
}

/**
 * Sends one claimed step and records it sent. A batch SSM refuses with InvalidInstanceId is split and sent per host;
 * the hosts SSM refuses alone are recorded as skipped (unmanaged), not failed. Any other error releases the claim.
 */
export async function sendStep(deps: EngineDeps, head: RolloutHead, step: StepRecord): Promise<SentStep> {
  const ids = toSend(step);
  const commandIds: string[] = [];
  const unmanaged: string[] = [];
  try {
    if (step.kind === "ecs-service") {
      if (!deps.ecs || !deps.links || !step.clusterArn)
        throw new Error(`no ECS dispatcher wired for ${ids.join(", ")}`);
      for (const id of ids) {
        const { deploymentId } = await deps.ecs.forceNewDeployment(step.clusterArn, id);
        commandIds.push(deploymentId);
        // ECS events name the deployment: the link leads them back to this step and attempt.
        await deps.links.link(deploymentId, { rolloutId: head.rolloutId, step: step.index, attempt: step.attempt });
      }
    } else {
      const send = (instanceIds: string[]) =>
        deps.commands.sendRestart({
          documentName: deps.config.restartDocument,
          service: step.service,
          instanceIds,
          maxConcurrency: step.maxConcurrency ?? head.maxConcurrency,
          ...(alarmOf(head, step) ? { alarm: alarmOf(head, step) } : {}),
          maxErrors: head.maxErrors,
          comment: commentFor(head, step),
        });
      try {
        if (ids.length > 0) commandIds.push((await send(ids)).commandId);
      } catch (err) {
        if (!(err instanceof InvalidInstanceIdError) || ids.length < 2) throw err;
        for (const id of ids) {
          try {
            commandIds.push((await send([id])).commandId);
          } catch (one) {
            if (!(one instanceof InvalidInstanceIdError)) throw one;
            unmanaged.push(id);
          }
        }
      }
    }
  } catch (err) {
    if (commandIds.length === 0) {
      await deps.rollouts.releaseStep(head.rolloutId, step.index, step.attempt);
      throw err;
    }
    // Some hosts were sent: record those; the rest stay without outcome until the deadline makes them failures.
  }
  await deps.rollouts.markSent(head.rolloutId, step.index, step.attempt, commandIds, iso(deps));
  for (const id of unmanaged)
    await recordTargetOutcome(
      deps,
      { rolloutId: head.rolloutId, step: step.index, attempt: step.attempt },
      id,
      "skip",
      "not registered with SSM (InvalidInstanceId): reported, not restarted",
    );
  return { step: step.index, commandIds, service: step.service, targetIds: ids, unmanaged };
}

export interface ReconcileReport {
  rolloutId: string;
  status: RolloutHead["status"] | "missing";
  wave?: number;
  /** One line per thing done (or, in a dry run, that would be done). */
  actions: string[];
  recorded: number;
  sent: SentStep[];
  /** The current wave is still held (what it waits for). */
  held?: Hold;
  /** This rollout's hosts restart in the coalesced rollout named here. */
  coalescedInto?: string;
}

/**
 * Brings one rollout to where its events would have: records outcomes SSM knows but no event delivered, turns hosts
 * silent past the step's deadline into failures, finishes steps a crashed delivery left (close, counter, tags),
 * re-sends a claim that never reached SSM or ECS (after asking them: never twice), and advances a complete wave.
 */
export async function reconcileRollout(
  deps: EngineDeps,
  rolloutId: string,
  opts: { dryRun: boolean },
): Promise<ReconcileReport> {
  const head = await deps.rollouts.head(rolloutId);
  const report: ReconcileReport = { rolloutId, status: head?.status ?? "missing", actions: [], recorded: 0, sent: [] };
  if (!head || head.status === "succeeded") {
    if (!opts.dryRun) await deps.rollouts.forget(rolloutId);
    return report;
  }
  report.wave = head.waves[head.current]?.wave;
  if (head.coalescedInto) {
    report.coalescedInto = head.coalescedInto;
    if (!opts.dryRun) await deps.rollouts.forget(rolloutId);
    return report;
  }
  if (head.status === "running" && head.hold && head.batch) {
    // A member of a coalescing batch: the batch decides whether it restarts alone or in the coalesced rollout.
    const settled = await settleBatch(deps, head, opts.dryRun);
    if (settled.fate === "wait") {
      report.held = head.hold;
      return report;
    }
    if (settled.fate === "coalesced") {
      report.actions.push(`${opts.dryRun ? "would coalesce" : "coalesced"} into ${settled.into}`);
      if (settled.into) report.coalescedInto = settled.into;
      const created = settled.created;
      if (created?.hold) {
        const unset = await wakeFor(deps, created.rolloutId, created.hold.until);
        if (unset) report.actions.push(unset);
      } else if (created) report.sent.push(...(await dispatchWave(deps, created)));
      return report;
    }
  }
  if (head.status === "running" && head.hold) {
    const released = await releaseIfOpen(deps, head, opts, (line) => report.actions.push(line));
    if (released) delete head.hold;
    else report.held = head.hold;
  }
  const now = deps.now().getTime();
  const steps = await deps.rollouts.steps(rolloutId, stepIndices(head, head.current));
  const act = (line: string) => report.actions.push(opts.dryRun ? `would ${line}` : line);
  let open = 0;
  for (const step of steps) {
    const again = step.state === "sent" ? stoppedToResend(step) : [];
    if (again.length > 0) {
      // SSM stopped these hosts on an alarm: once the hold is released, a new attempt of the step sends them again.
      if (head.status !== "running" || head.hold) continue;
      act(`re-send step ${step.index}: ${again.length} host(s) SSM stopped on an alarm (${again.join(", ")})`);
      if (opts.dryRun) continue;
      const why = Object.fromEntries(Object.entries(step.why).filter(([id]) => !again.includes(id)));
      const planned = await deps.rollouts.resendStopped(rolloutId, step.index, step.attempt, why);
      const claimed = planned && (await deps.rollouts.claimStep(rolloutId, step.index, new Date(now).toISOString()));
      if (claimed) report.sent.push(await sendStep(deps, head, claimed));
      continue;
    }
    if (step.state === "planned") {
      if (head.status !== "running" || head.hold) continue;
      act(`send step ${step.index} (${toSend(step).length} target(s))`);
      if (opts.dryRun) continue;
      const claimed = await deps.rollouts.claimStep(rolloutId, step.index, new Date(now).toISOString());
      if (claimed) report.sent.push(await sendStep(deps, head, claimed));
      continue;
    }
    if (step.state === "claimed") {
      if (!claimExpired(step, now, deps.config.timings)) continue;
      open++;
      await recoverClaim(deps, head, step, opts, act, report);
      continue;
    }
    if (!isComplete(step)) {
      open++;
      const r = await collectOutcomes(deps, head, step, now, opts, act);
      report.recorded += r.recorded.length;
      if (r.held) head.hold = report.held = r.held;
      continue;
    }
    if (!step.closed || !step.tagged) {
      act(`finish step ${step.index} (close and tag)`);
      if (!opts.dryRun) await settleStep(deps, step);
    }
  }
  await recount(deps, head, steps, now, opts, act);
  const after = opts.dryRun ? head : ((await deps.rollouts.head(rolloutId)) ?? head);
  report.status = after.status;
  if (after.status === "halted" && open === 0 && !opts.dryRun) await deps.rollouts.forget(rolloutId);
  return report;
}

/**
 * A held wave's gates asked again: if they opened (an overdue bake or coalescing window, alarms back to OK, the
 * calendar OPEN), the hold is released (conditional on being this hold: one releaser) and the caller sends the wave;
 * if a gate still holds, the hold's reason is brought up to date. True when the wave may go.
 */
async function releaseIfOpen(
  deps: EngineDeps,
  head: RolloutHead,
  opts: { dryRun: boolean },
  say: (line: string) => void,
): Promise<boolean> {
  const hold = head.hold;
  if (!hold) return true;
  const gate = await evaluateGate(deps, head, head.current);
  if (!gate.open) {
    say(gate.hold.reason);
    if (!opts.dryRun && gate.hold.reason !== hold.reason)
      await deps.rollouts.setHold(head.rolloutId, gate.hold, iso(deps));
    const unset = !opts.dryRun && (await wakeFor(deps, head.rolloutId, gate.hold.until));
    if (unset) say(unset);
    return false;
  }
  const [wave, was] = hold.reason.split(" held: ");
  say(`${opts.dryRun ? "would release" : "release"} ${wave}: gates open (was held: ${was})`);
  if (opts.dryRun) return false;
  return deps.rollouts.release(head.rolloutId, hold, iso(deps));
}

/** A claim older than the lease: if SSM has a command with the step's comment, it was sent; otherwise send it. */
async function recoverClaim(
  deps: EngineDeps,
  head: RolloutHead,
  step: StepRecord,
  opts: { dryRun: boolean },
  act: (line: string) => void,
  report: ReconcileReport,
): Promise<void> {
  const ids = toSend(step);
  const probe = ids[0];
  if (!probe) return;
  // Did the send happen before the crash? SSM: a command with this step's comment. ECS (one service per step): a
  // deployment created since the claim — re-linked, since the crash may have come between UpdateService and the link.
  const ecs = step.kind === "ecs-service" ? deps.ecs : undefined;
  if (step.kind === "ecs-service" && (!ecs || !deps.links || !step.clusterArn)) return;
  const found = ecs
    ? (await ecs.deploymentsSince(step.clusterArn ?? "", probe, step.claimedAt ?? iso(deps))).slice(-1)
    : await deps.commands.commandsWithComment(probe, deps.config.restartDocument, commentFor(head, step));
  const where = ecs ? "ECS" : "SSM";
  if (found.length > 0) {
    act(`record step ${step.index} as sent (${where} has ${found.join(", ")})`);
    if (opts.dryRun) return;
    if (ecs)
      await deps.links?.link(found[0] as string, {
        rolloutId: head.rolloutId,
        step: step.index,
        attempt: step.attempt,
      });
    await deps.rollouts.markSent(head.rolloutId, step.index, step.attempt, found, iso(deps));
    return;
  }
  act(`re-send step ${step.index}: claimed at ${step.claimedAt}, never reached ${where}`);
  if (opts.dryRun) return;
  const reclaimed = await deps.rollouts.claimStep(head.rolloutId, step.index, iso(deps), step.claimedAt);
  if (reclaimed) report.sent.push(await sendStep(deps, head, reclaimed));
}

/** Asks SSM about a sent step's silent targets; records what is final, and failures past the deadline. */
async function collectOutcomes(
  deps: EngineDeps,
  head: RolloutHead,
  step: StepRecord,
  now: number,
  opts: { dryRun: boolean },
  act: (line: string) => void,
): Promise<Omit<OutcomeResult, "applied"> & { recorded: { instanceId: string; status: string }[] }> {
  const recorded = new Set([...step.ok, ...step.bad, ...step.skip, ...step.stopped]);
  const silent = step.targetIds.filter((id) => !recorded.has(id));
  const statuses = new Map<string, string>();
  /** Hosts SSM stopped on their command's alarm, with the alarm (one ListCommands per command that has any). */
  const stoppedOn = new Map<string, string>();
  if (step.kind === "host")
    for (const cmd of step.commandIds) {
      const found = await deps.commands.invocations(cmd, silent);
      for (const [id, st] of found) statuses.set(id, st);
      if (![...found.values()].some((st) => STOPPED_STATUSES.has(st))) continue;
      const alarms = await deps.commands.commandAlarms(cmd);
      for (const [id, st] of found) {
        const alarm = alarmStop(st, alarms.triggered, alarms.alarm);
        if (alarm) stoppedOn.set(id, alarm);
      }
    }
  // ECS: the deployment this attempt started (the step's last command id), as DescribeServices sees it.
  const deployment = step.commandIds[step.commandIds.length - 1];
  const ecsJudged = new Map<string, { verdict: Verdict; why: string }>();
  if (step.kind === "ecs-service" && deps.ecs && step.clusterArn && deployment)
    for (const id of silent) {
      const judged = ecsOutcome(await deps.ecs.deploymentState(step.clusterArn, id, deployment));
      if (judged) ecsJudged.set(id, judged);
    }
  const ref = { rolloutId: head.rolloutId, step: step.index, attempt: step.attempt };
  const out: Omit<OutcomeResult, "applied"> & { recorded: { instanceId: string; status: string }[] } = {
    recorded: [],
  };
  for (const id of silent) {
    const alarm = stoppedOn.get(id);
    if (alarm) {
      act(`hold on ${id}: ${statuses.get(id)}, SSM stopped it on alarm ${alarm}`);
      if (opts.dryRun) continue;
      const r = await recordTargetStop(deps, ref, id, alarm, statuses.get(id) ?? "Cancelled");
      if (r.held) out.held = r.held;
      continue;
    }
    const judged =
      ecsJudged.get(id) ??
      judgeInvocation(statuses.get(id)) ??
      deadlineOutcome(step, step.maxConcurrency ?? head.maxConcurrency, deps.config.timings, now);
    if (!judged) continue;
    act(`record ${id}: ${judged.why}`);
    if (opts.dryRun) continue;
    const { applied, ...r } = await recordTargetOutcome(deps, ref, id, judged.verdict, judged.why);
    if (applied) out.recorded.push({ instanceId: id, status: judged.why });
    Object.assign(out, r);
  }
  return out;
}

/** One step brought up to date (a command-level status event): its silent hosts asked, the step settled. */
export async function reconcileStep(
  deps: EngineDeps,
  ref: StepRef,
): Promise<Omit<OutcomeResult, "applied"> & { recorded: { instanceId: string; status: string }[] }> {
  const head = await deps.rollouts.head(ref.rolloutId);
  const [step] = await deps.rollouts.steps(ref.rolloutId, [ref.step]);
  if (!head || !step || step.attempt !== ref.attempt || step.state !== "sent") return { recorded: [] };
  const r = await collectOutcomes(deps, head, step, deps.now().getTime(), { dryRun: false }, () => {});
  return { ...r, ...(r.recorded.length === 0 ? await settleStep(deps, step) : {}) };
}

/**
 * The wave counter against the closed steps: a delivery that died between closing a step and counting it (older
 * than the claim lease, so it is not merely slow) left the counter short; the recount sets it and advances.
 */
async function recount(
  deps: EngineDeps,
  head: RolloutHead,
  steps: StepRecord[],
  now: number,
  opts: { dryRun: boolean },
  act: (line: string) => void,
): Promise<void> {
  const closed = steps.filter((s) => s.closed);
  const counted = closed.reduce((n, s) => n + s.targetIds.length, 0);
  const current = head.done[head.current] ?? 0;
  const settled = closed.every(
    (s) => !s.closedAt || Date.parse(s.closedAt) + deps.config.timings.claimLeaseSeconds * 1000 <= now,
  );
  if (counted > current && settled) {
    act(`recount wave ${head.waves[head.current]?.wave}: ${current} → ${counted}`);
    if (opts.dryRun || !(await deps.rollouts.setDone(head.rolloutId, head.current, current, counted))) return;
    head = { ...head, done: head.done.map((d, i) => (i === head.current ? counted : d)) };
  } else if (afterWaveCount(head, head.current, current).kind === "wait") return;
  else act(`advance past wave ${head.waves[head.current]?.wave}`);
  if (!opts.dryRun) await afterCount(deps, head, head.current);
}

/**
 * The reconciler's use case (scheduled function and `dcp rollout reconcile`): one rollout, or every open one from
 * the running-set item (no table scan). A rollout that fails to reconcile is reported and the others still run.
 */
export async function reconcileRollouts(
  deps: EngineDeps,
  opts: { rolloutId?: string; dryRun: boolean },
): Promise<{ rollouts: (ReconcileReport & { error: string | null })[] }> {
  const ids = opts.rolloutId ? [opts.rolloutId] : await deps.rollouts.openRollouts();
  const rollouts = await mapLimit(ids, 2, async (id) => {
    try {
      return { ...(await reconcileRollout(deps, id, opts)), error: null };
    } catch (err) {
      return { rolloutId: id, status: "running" as const, actions: [], recorded: 0, sent: [], error: String(err) };
    }
  });
  return { rollouts };
}
