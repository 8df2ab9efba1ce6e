// The rollout state machine, whole and pure: the plan, the per-step (per-command) and per-wave state, and every
// transition the engine (app/rollout-engine.ts) applies through conditional DynamoDB writes. No I/O, no clock.
import { applyBudget, type Hold, type RolloutPolicy } from "./gates.ts";
import { SERVICE_NAME_PATTERN } from "./manifest.ts";
import { MAX_IDS_PER_COMMAND, parseMaxConcurrency, verdictOf } from "./ssm.ts";

export { MAX_IDS_PER_COMMAND };

/**
 * What a rollout restarts (a SecretConsumer), shared with the ECS engineer (CONTRACT-consumers.md): a host by its
 * instance id, an ECS service by its ARN.
 */
export type RolloutTarget =
  | { kind: "host"; instanceId: string; service: string }
  | { kind: "ecs-service"; serviceArn: string; clusterArn: string; service: string };

export type TargetKind = RolloutTarget["kind"];

/** The string a target is known by in the rollout state: the instance id or the service ARN. */
export function targetIdOf(t: RolloutTarget): string {
  return t.kind === "host" ? t.instanceId : t.serviceArn;
}

export interface SkippedTarget {
  targetId: string;
  service: string;
  reason: string;
}

/** One unit of dispatch: ≤ 50 hosts of one service (one SendCommand), or one ECS service (one deployment). */
export interface WaveStep {
  wave: number;
  service: string;
  kind: TargetKind;
  targetIds: string[];
  /** ECS steps only: the cluster of the (single) service. */
  clusterArn?: string;
  /** This command's MaxConcurrency when the Parameter Store budget set it (else the rollout's). */
  maxConcurrency?: string;
  /** Sub-wave of a wave split to fit the Parameter Store budget (0 when not split). */
  part?: number;
}

/**
 * What a plan reads of the manifest: each service's wave and Parameter Store reads, and the restart knobs. A coalesced
 * rollout is planned from what its members stored (domain/coalesce.ts), without the manifest.
 */
export interface PlanManifest {
  services: readonly { name: string; wave: number; readsPerRestart?: number }[];
  restart: { maxConcurrency: string; maxErrors: string };
}

/** One secret version a (coalesced) rollout restarts for, and the services whose hosts record it. */
export interface CoveredSecret {
  arn: string;
  name: string;
  versionId: string;
  services: string[];
}

export interface RolloutPlan {
  rolloutId: string;
  secretArn: string;
  secretName: string;
  versionId: string;
  /** Ordered by wave, then service; each step is one SendCommand (≤ 50 ids) or one ECS deployment. */
  waves: WaveStep[];
  skipped: SkippedTarget[];
  maxConcurrency: string;
  maxErrors: string;
  /** Gates, profile and budget (domain/gates.ts); absent in plans made without one. */
  policy?: RolloutPolicy;
  /** A coalesced rollout: every secret version it covers (secretArn/versionId name the first). */
  secrets?: CoveredSecret[];
}

/** Builds the rolling-restart plan: waves from the manifest (lower first), each target exactly once. */
export function planRollout(input: {
  rolloutId: string;
  secret: { arn: string; name: string };
  versionId: string;
  manifest: PlanManifest;
  targets: RolloutTarget[];
  skipped?: SkippedTarget[];
  policy?: RolloutPolicy;
  /** MaxConcurrency of the rollout's commands (the profile's); default the manifest's. */
  maxConcurrency?: string;
  /** A coalesced rollout's secret versions (domain/coalesce.ts). */
  secrets?: CoveredSecret[];
}): RolloutPlan {
  const { manifest: m } = input;
  const waveOf = new Map(m.services.map((s) => [s.name, s.wave]));
  const skipped = [...(input.skipped ?? [])];
  const hosts = new Map<string, Set<string>>();
  const ecs: WaveStep[] = [];
  const planned = new Map<string, string>();
  for (const t of input.targets) {
    const targetId = targetIdOf(t);
    // Defence in depth: the manifest already restricts names, but a service name reaches SSM as a parameter.
    if (!SERVICE_NAME_PATTERN.test(t.service) || !waveOf.has(t.service)) {
      skipped.push({
        targetId,
        service: t.service,
        reason: "service name refused (not in manifest or not matching the allowed pattern)",
      });
      continue;
    }
    // Each target exactly once: a host listed again under another service would be restarted twice.
    const first = planned.get(targetId);
    if (first !== undefined) {
      if (first !== t.service)
        skipped.push({
          targetId,
          service: t.service,
          reason: `already planned under service '${first}': restarted once, not twice`,
        });
      continue;
    }
    planned.set(targetId, t.service);
    if (t.kind === "ecs-service") {
      ecs.push({
        wave: waveOf.get(t.service)!,
        service: t.service,
        kind: t.kind,
        targetIds: [targetId],
        clusterArn: t.clusterArn,
      });
      continue;
    }
    const set = hosts.get(t.service) ?? new Set<string>();
    set.add(targetId);
    hosts.set(t.service, set);
  }
  const steps: WaveStep[] = [...ecs];
  for (const [service, set] of hosts) {
    const ids = [...set].sort();
    for (let i = 0; i < ids.length; i += MAX_IDS_PER_COMMAND)
      steps.push({
        wave: waveOf.get(service)!,
        service,
        kind: "host",
        targetIds: ids.slice(i, i + MAX_IDS_PER_COMMAND),
      });
  }
  steps.sort(
    (a, b) =>
      a.wave - b.wave ||
      a.service.localeCompare(b.service) ||
      a.kind.localeCompare(b.kind) ||
      (a.targetIds[0] ?? "").localeCompare(b.targetIds[0] ?? ""),
  );
  const maxConcurrency = input.maxConcurrency ?? m.restart.maxConcurrency;
  return {
    rolloutId: input.rolloutId,
    secretArn: input.secret.arn,
    secretName: input.secret.name,
    versionId: input.versionId,
    waves: input.policy ? applyBudget(steps, m, maxConcurrency, input.policy.parameterStoreTps) : steps,
    skipped,
    maxConcurrency,
    maxErrors: m.restart.maxErrors,
    ...(input.policy ? { policy: input.policy } : {}),
    ...(input.secrets ? { secrets: input.secrets } : {}),
  };
}

// ---------------------------------------------------------------- stored state

export type RolloutStatus = "running" | "halted" | "succeeded";

/** One wave of the plan as the head item keeps it: steps [first, first + steps), `targets` targets in all. */
export interface WaveInfo {
  wave: number;
  /** Sub-wave of a wave split to fit the Parameter Store budget. */
  part?: number;
  first: number;
  steps: number;
  targets: number;
}

/** How many rollout-level facts the head item keeps verbatim (the rest are counted). */
export const MAX_SKIPPED_KEPT = 100;

/**
 * The rollout's head item: small and independent of the rollout's size. Progress of the current wave is ONE atomic
 * counter (`done[i]` = targets of wave index i whose step has closed); per-target outcomes live in the steps.
 */
export interface RolloutHead {
  rolloutId: string;
  status: RolloutStatus;
  secretArn: string;
  secretName: string;
  versionId: string;
  maxConcurrency: string;
  maxErrors: string;
  waves: WaveInfo[];
  /** Index into `waves` of the wave being executed. */
  current: number;
  /** Closed targets per wave index. */
  done: number[];
  skipped: SkippedTarget[];
  skippedCount: number;
  haltReason?: string;
  /** Gates and profile fixed at plan time (domain/gates.ts). */
  policy?: RolloutPolicy;
  /** The current wave waits for its gates (bake, alarms, calendar, coalescing): durable, released by the reconciler. */
  hold?: Hold;
  /** The last hold released, with when (operators see what a wave waited for). */
  lastHold?: Hold & { releasedAt: string };
  /** The coalescing batch this rollout joined (its leader's rollout id; domain/coalesce.ts). */
  batch?: string;
  /** This rollout's hosts restart in the coalesced rollout named here (nothing is sent under this id). */
  coalescedInto?: string;
  /** A coalesced rollout: every secret version it covers; each host records those its service consumes. */
  secrets?: CoveredSecret[];
  createdAt: string;
  updatedAt: string;
}

/** Every step index of a rollout, in plan order: 0 … (Σ wave steps − 1). */
export function allStepIndices(head: Pick<RolloutHead, "waves">): number[] {
  return Array.from({ length: head.waves.reduce((n, w) => n + w.steps, 0) }, (_, i) => i);
}

export type StepState = "planned" | "claimed" | "sent";

/** Per-command state. Each target's outcome is recorded once per attempt (ok / bad / skip are disjoint sets). */
export interface StepRecord extends WaveStep {
  rolloutId: string;
  index: number;
  /** Index of the step's wave in the head's `waves`. */
  waveIndex: number;
  state: StepState;
  /** Incremented by every resume of the step; outcomes of an older attempt's commands are not recorded. */
  attempt: number;
  commandIds: string[];
  claimedAt?: string;
  sentAt?: string;
  ok: string[];
  bad: string[];
  skip: string[];
  /**
   * Targets whose invocation SSM stopped on the command's alarm (no outcome: they did not restart). Sent again, as
   * a new attempt of the step, once the hold the stop put on the rollout is released.
   */
  stopped: string[];
  /** Why each bad or skipped target ended so (SSM status, or the reason it was never sent). */
  why: Record<string, string>;
  /** Targets with an outcome this attempt (ok + bad + skip), an atomic counter. */
  done: number;
  /** The one delivery that added this step to its wave's counter has set this (at `closedAt`). */
  closed: boolean;
  closedAt?: string;
  /** The step's successful hosts carry the version tag. */
  tagged: boolean;
}

/** Where an outcome belongs: the step, and the attempt its command was sent for (from the command's comment). */
export interface StepRef {
  rolloutId: string;
  step: number;
  attempt: number;
}

/** The whole rollout for operators (CLI status/watch): the head and its steps. */
export interface Rollout extends RolloutHead {
  steps: StepRecord[];
}

/** The head and the step records a new rollout starts from. */
export function newRollout(plan: RolloutPlan, now: string): { head: RolloutHead; steps: StepRecord[] } {
  const waves: WaveInfo[] = [];
  /** Wave index of each step: a wave split into parts (Parameter Store budget) is several entries of one number. */
  const waveIndexOf: number[] = [];
  plan.waves.forEach((s, i) => {
    const last = waves[waves.length - 1];
    if (last && last.wave === s.wave && (last.part ?? 0) === (s.part ?? 0)) {
      last.steps++;
      last.targets += s.targetIds.length;
    } else
      waves.push({
        wave: s.wave,
        ...(s.part ? { part: s.part } : {}),
        first: i,
        steps: 1,
        targets: s.targetIds.length,
      });
    waveIndexOf.push(waves.length - 1);
  });
  const head: RolloutHead = {
    rolloutId: plan.rolloutId,
    status: waves.length === 0 ? "succeeded" : "running",
    secretArn: plan.secretArn,
    secretName: plan.secretName,
    versionId: plan.versionId,
    maxConcurrency: plan.maxConcurrency,
    maxErrors: plan.maxErrors,
    waves,
    current: 0,
    done: waves.map(() => 0),
    skipped: plan.skipped.slice(0, MAX_SKIPPED_KEPT),
    skippedCount: plan.skipped.length,
    ...(plan.policy ? { policy: plan.policy } : {}),
    ...(plan.secrets ? { secrets: plan.secrets } : {}),
    createdAt: now,
    updatedAt: now,
  };
  const steps = plan.waves.map(
    (s, index): StepRecord => ({
      ...s,
      rolloutId: plan.rolloutId,
      index,
      waveIndex: waveIndexOf[index]!,
      state: "planned",
      attempt: 1,
      commandIds: [],
      ok: [],
      bad: [],
      skip: [],
      stopped: [],
      why: {},
      done: 0,
      closed: false,
      tagged: false,
    }),
  );
  return { head, steps };
}

/**
 * The secret versions a step's restarted targets record: for a coalesced rollout, every covered version whose
 * consumers include the step's service (a host reads every secret at restart, but records only those it consumes);
 * otherwise the rollout's one version.
 */
export function recordedVersions(
  head: Pick<RolloutHead, "secretName" | "versionId" | "secrets">,
  service: string,
): { name: string; versionId: string }[] {
  if (!head.secrets) return [{ name: head.secretName, versionId: head.versionId }];
  return head.secrets.filter((s) => s.services.includes(service)).map(({ name, versionId }) => ({ name, versionId }));
}

/** Step indices of wave index `i`. */
export function stepIndices(head: Pick<RolloutHead, "waves">, i: number): number[] {
  const w = head.waves[i];
  return w ? Array.from({ length: w.steps }, (_, k) => w.first + k) : [];
}

/** The targets a (re)dispatch of the step sends: those without a success or a skip in any attempt. */
export function toSend(step: Pick<StepRecord, "targetIds" | "ok" | "skip">): string[] {
  const done = new Set([...step.ok, ...step.skip]);
  return step.targetIds.filter((id) => !done.has(id));
}

/**
 * The targets of a step SSM stopped on an alarm, once none of the step's targets is still in flight (every one has an
 * outcome or was stopped): what a new attempt sends again after the hold is released. Empty otherwise — a host still
 * running is never sent twice.
 */
export function stoppedToResend(step: Pick<StepRecord, "targetIds" | "ok" | "bad" | "skip" | "stopped">): string[] {
  if (step.stopped.length === 0) return [];
  const settled = new Set([...step.ok, ...step.bad, ...step.skip, ...step.stopped]);
  return step.targetIds.every((id) => settled.has(id)) ? [...step.stopped] : [];
}

export function isComplete(step: Pick<StepRecord, "done" | "targetIds">): boolean {
  return step.done >= step.targetIds.length;
}

// ---------------------------------------------------------------- transitions

export type Verdict = "ok" | "bad" | "skip";

/** A host's outcome from its own invocation status (ssm.ts verdictOf); undefined while in flight. */
export function judgeInvocation(status: string | undefined): { verdict: Verdict; why: string } | undefined {
  const verdict = status === undefined ? undefined : verdictOf(status);
  return verdict && status ? { verdict, why: status } : undefined;
}

/** A silent target of a step past its deadline is a failure: it never reported. */
export function deadlineOutcome(
  step: Pick<StepRecord, "sentAt" | "targetIds">,
  maxConcurrency: string,
  t: RolloutTimings,
  now: number,
): { verdict: Verdict; why: string } | undefined {
  const deadline = stepDeadline(step, maxConcurrency, t);
  return deadline !== undefined && now >= deadline
    ? { verdict: "bad", why: `no report by the deadline ${new Date(deadline).toISOString()} (DeadlineExceeded)` }
    : undefined;
}

/**
 * What a wave counter's new value means (the one delivery whose ADD reached the wave's size observes it):
 * the next wave to dispatch, the rollout's success, or nothing (halted rollouts do not advance).
 */
export function afterWaveCount(
  head: Pick<RolloutHead, "status" | "waves" | "current">,
  waveIndex: number,
  doneNow: number,
): { kind: "wait" } | { kind: "advance"; next: number } | { kind: "succeeded" } {
  const w = head.waves[waveIndex];
  if (!w || doneNow < w.targets || head.status !== "running" || head.current !== waveIndex) return { kind: "wait" };
  return waveIndex + 1 < head.waves.length ? { kind: "advance", next: waveIndex + 1 } : { kind: "succeeded" };
}

export function haltReasonFor(step: Pick<StepRecord, "service">, targetId: string, status: string): string {
  return `${targetId} (${step.service}) ended ${status}`;
}

/** Knobs of the reconciler's clocks (config.ts reads them; defaults documented in the README). */
export interface RolloutTimings {
  /** The restart document's per-invocation execution timeout (its `timeoutSeconds`). */
  executionTimeoutSeconds: number;
  /** SendCommand's TimeoutSeconds: how long SSM tries to deliver to a host. */
  deliveryTimeoutSeconds: number;
  /** Added to every deadline. */
  deadlineMarginSeconds: number;
  /** A claim older than this, with no command found in SSM, is re-sent (exceeds the Lambda timeout). */
  claimLeaseSeconds: number;
}

export const DEFAULT_TIMINGS: RolloutTimings = {
  executionTimeoutSeconds: 900,
  deliveryTimeoutSeconds: 600,
  deadlineMarginSeconds: 300,
  claimLeaseSeconds: 180,
};

/**
 * When a sent step's silent hosts become failures: ⌈hosts / MaxConcurrency⌉ × the execution timeout (a host queued
 * behind others is not late) + SendCommand's delivery timeout + a margin. Milliseconds since the epoch.
 */
export function stepDeadline(
  step: Pick<StepRecord, "sentAt" | "targetIds">,
  maxConcurrency: string,
  t: RolloutTimings,
): number | undefined {
  if (!step.sentAt) return undefined;
  const n = Math.max(1, step.targetIds.length);
  const rounds = Math.ceil(n / parseMaxConcurrency(maxConcurrency, n));
  return (
    Date.parse(step.sentAt) +
    1000 * (rounds * t.executionTimeoutSeconds + t.deliveryTimeoutSeconds + t.deadlineMarginSeconds)
  );
}

export function claimExpired(step: Pick<StepRecord, "state" | "claimedAt">, now: number, t: RolloutTimings): boolean {
  return (
    step.state === "claimed" && (!step.claimedAt || Date.parse(step.claimedAt) + t.claimLeaseSeconds * 1000 <= now)
  );
}

/** The SendCommand comment: names rollout, wave, step and attempt, so events and ListCommands lead back to the step. */
export function commentFor(
  r: Pick<RolloutHead, "rolloutId" | "secretName">,
  step: Pick<StepRecord, "wave" | "index" | "attempt">,
): string {
  return `dcp ${r.rolloutId} wave ${step.wave} step ${step.index} try ${step.attempt} ${r.secretName}`.slice(0, 100);
}

export interface CommandRef {
  rolloutId: string;
  wave: number;
  /** Absent in comments written before steps existed. */
  step?: number;
  attempt?: number;
}

export function refFromComment(comment: string | undefined): CommandRef | undefined {
  const m = /^dcp (ro-[0-9a-f]{16}) wave (\d+)(?: step (\d+) try (\d+))? /.exec(comment ?? "");
  if (!m) return undefined;
  return {
    rolloutId: m[1]!,
    wave: Number(m[2]),
    ...(m[3] !== undefined ? { step: Number(m[3]), attempt: Number(m[4]) } : {}),
  };
}

export function rolloutIdFromComment(comment: string | undefined): string | undefined {
  return refFromComment(comment)?.rolloutId;
}

/** Progress of a rollout for people and scripts (watch, status): counts per state of the current wave. */
export interface RolloutProgress {
  rolloutId: string;
  status: RolloutStatus;
  wave: number | undefined;
  waveIndex: number;
  waves: number;
  targets: number;
  succeeded: number;
  failed: number;
  skipped: number;
  inFlight: number;
  pending: number;
  haltReason?: string;
}

export function progressOf(r: Rollout): RolloutProgress {
  let succeeded = 0;
  let failed = 0;
  let skipped = 0;
  let inFlight = 0;
  let pending = 0;
  for (const s of r.steps) {
    succeeded += s.ok.length;
    failed += s.bad.length;
    skipped += s.skip.length;
    // Hosts SSM stopped on an alarm wait for the hold's release, as planned ones do.
    const open = s.targetIds.length - s.ok.length - s.bad.length - s.skip.length - s.stopped.length;
    pending += s.stopped.length;
    if (s.state === "planned") pending += open;
    else inFlight += open;
  }
  return {
    rolloutId: r.rolloutId,
    status: r.status,
    wave: r.waves[r.current]?.wave,
    waveIndex: r.current,
    waves: r.waves.length,
    targets: r.waves.reduce((n, w) => n + w.targets, 0),
    succeeded,
    failed,
    skipped,
    inFlight,
    pending,
    ...(r.haltReason ? { haltReason: r.haltReason } : {}),
  };
}

/**
 * An operator's resume of a halted rollout: every step of the current wave with failed targets (or targets SSM
 * stopped on an alarm) gets a new attempt (successes and skips stay; the others are sent again), and the wave's done counter drops by the steps
 * already closed (each is counted again when its new attempt closes).
 */
export function resetForResume(
  head: Pick<RolloutHead, "current" | "waves">,
  steps: StepRecord[],
): { steps: { index: number; attempt: number; bad: number; why: Record<string, string> }[]; lowerDone: number } {
  const inWave = new Set(stepIndices(head, head.current));
  const out: { index: number; attempt: number; bad: number; why: Record<string, string> }[] = [];
  let lowerDone = 0;
  for (const s of steps) {
    if (!inWave.has(s.index) || (s.bad.length === 0 && s.stopped.length === 0)) continue;
    const skip = new Set(s.skip);
    out.push({
      index: s.index,
      attempt: s.attempt,
      bad: s.bad.length,
      why: Object.fromEntries(Object.entries(s.why).filter(([id]) => skip.has(id))),
    });
    // A closed step had added all its targets; it is added again, whole, when the new attempt closes it.
    if (s.closed) lowerDone += s.targetIds.length;
  }
  return { steps: out, lowerDone };
}
