import { heldWakeups } from "../domain/coalesce.ts";
import { mayBeReferenced } from "../domain/ecs.ts";
import type { SecretEvent } from "../domain/events.ts";
import { baseConcurrency, type Hold, type Profile, policyFor } from "../domain/gates.ts";
import { canReadSecret } from "../domain/iam/scope.ts";
import type { Manifest } from "../domain/manifest.ts";
import type { Host } from "../domain/model.ts";
import { placeHost } from "../domain/placement.ts";
import { registryStateFromSummary } from "../domain/registry.ts";
import {
  newRollout,
  planRollout,
  type RolloutPlan,
  type RolloutTarget,
  type SkippedTarget,
} from "../domain/rollout.ts";
import type { RotationIntent } from "../domain/rotation.ts";
import { classifyRotationEvent } from "../domain/rotation.ts";
import { consumersOf, mayBeFleetSecret, rolloutIdFor, runsCurrentVersion, secretIdMatches } from "../domain/secrets.ts";
import type { Idempotency } from "../ports/index.ts";
import { joinCoalescing } from "./coalesce.ts";
import type { Deps } from "./deps.ts";
import { ecsConsumersOf } from "./ecs-consumers.ts";
import { loadManifest } from "./manifest-source.ts";
import { dispatchWave, type SentStep } from "./rollout-engine.ts";
import { evaluateGate, wakeFor } from "./rollout-gates.ts";

export type RotationAction = "restart" | "ignored" | "duplicate" | "planned" | "rejected";

export interface RotationResult {
  action: RotationAction;
  reason: string;
  trigger: string;
  secretArn?: string;
  secretName?: string;
  versionId?: string;
  rolloutId?: string;
  plan: { waves: RolloutPlan["waves"]; skipped: SkippedTarget[] };
  commands: SentStep[];
  /** The first wave waits for its gates (coalescing window, calendar, alarms): held, nothing sent yet. */
  held?: Hold;
  /** Set when a large plan's ids were left out of this result (they are in the rollout store). */
  plannedHosts?: number;
}

const emptyPlan = { waves: [], skipped: [] };

/** The confirmed fact a rollout is about: which secret, and which version now holds AWSCURRENT. */
export interface RotationFact {
  secretArn: string;
  secretName: string;
  versionId: string;
  /** The secret's LastChangedDate: consumers launched after it already read this version. */
  changedAt?: string;
  services: string[];
  trigger: string;
  note?: string;
  /** DescribeSecret OwningService: AWS manages the secret (the fast profile's default). */
  owningService?: string;
  /** The shared-secret entry's profile, when the manifest names one. */
  profile?: Profile;
}

/**
 * Turns an intent into a confirmed fact with ONE DescribeSecret (metadata only, never the value), or a reason to
 * ignore. A secret the manifest does not list is still in scope when a fleet ECS service's task definition
 * references it (issue 16): with an ECS port, such a secret costs the ECS scan too.
 */
export async function confirmRotation(
  intent: RotationIntent,
  m: Manifest,
  deps: Pick<Deps, "secrets"> & Partial<Pick<Deps, "ecs" | "policies">>,
): Promise<RotationFact | RotationResult> {
  const ignored = (reason: string, extra: Partial<RotationResult> = {}): RotationResult => ({
    action: "ignored",
    reason,
    trigger: intent.trigger,
    plan: emptyPlan,
    commands: [],
    ...extra,
  });
  if (intent.kind === "reject") return { ...ignored(intent.reason), action: "rejected" };
  if (intent.kind === "ignore") return ignored(intent.reason);
  // Foreign ids cost no Secrets Manager call: neither the manifest nor a fleet ECS service's task definition names them.
  const ecsServices = deps.ecs ? await deps.ecs.scanNamespace(m.tags.namespace, m.namespace) : [];
  if (!mayBeFleetSecret(m, intent.secretId) && !mayBeReferenced(ecsServices, intent.secretId))
    return ignored(`secret is outside fleet ${m.namespace}`);
  const secret = await deps.secrets.describe(intent.secretId);
  if (!secret) return ignored("secret does not exist (deleted, or another account/region)");
  const consumers = consumersOf(m, secret);
  if (!consumers && !(await referencedByEcs(secret, m, deps)))
    return ignored(`secret ${secret.name} is outside fleet ${m.namespace}`, { secretArn: secret.arn });
  if (!secret.currentVersionId) return ignored("secret has no AWSCURRENT version", { secretArn: secret.arn });
  const note =
    intent.versionHint && intent.versionHint !== secret.currentVersionId
      ? `event named version ${intent.versionHint}, AWSCURRENT is now ${secret.currentVersionId}: acting on the current one`
      : undefined;
  return {
    secretArn: secret.arn,
    secretName: secret.name,
    versionId: secret.currentVersionId,
    ...(secret.lastChangedDate ? { changedAt: secret.lastChangedDate } : {}),
    services: consumers?.services ?? [],
    trigger: intent.trigger,
    ...(secret.owningService ? { owningService: secret.owningService } : {}),
    ...(sharedProfile(m, secret) ? { profile: sharedProfile(m, secret) } : {}),
    ...(note ? { note } : {}),
  };
}

/** The profile the manifest gives a shared secret, if any. */
function sharedProfile(m: Manifest, secret: { arn: string; name: string }): Profile | undefined {
  return m.sharedSecrets.find((s) => secretIdMatches(s.arn, secret))?.profile;
}

/** Does a fleet ECS service reference the secret (any reference, even a pinned one or one not restarted)? */
async function referencedByEcs(
  secret: { arn: string; name: string },
  m: Manifest,
  deps: Pick<Deps, "secrets"> & Partial<Pick<Deps, "ecs" | "policies">>,
): Promise<boolean> {
  if (!deps.ecs || !deps.policies) return false;
  const { targets, skipped } = await ecsConsumersOf(secret, m, { ...deps, policies: deps.policies });
  return targets.length + skipped.length > 0;
}

export function isFact(x: RotationFact | RotationResult): x is RotationFact {
  return "services" in x;
}

/**
 * Who restarts: running hosts of the consuming services that need it and can take it. Skipped with a reason: a
 * consumer already on the version or launched after it became current (the audit's freshness rule), one the audit's
 * registry state knows to be unmanaged by SSM (reported, not sent), one whose role cannot read the secret (its
 * restart would fail to fetch); a non-consumer that CAN read it is reported as excess scope. IAM is evaluated once
 * per distinct role.
 */
export async function selectTargets(
  fact: RotationFact,
  m: Manifest,
  hosts: Host[],
  deps: Pick<Deps, "policies" | "config">,
  unmanaged: ReadonlySet<string> = new Set(),
): Promise<{ targets: RolloutTarget[]; skipped: SkippedTarget[] }> {
  const consumers = new Set(fact.services);
  const targets: RolloutTarget[] = [];
  const skipped: SkippedTarget[] = [];
  const decisionByProfile = new Map<string, Promise<string>>();
  const decide = (profileArn: string): Promise<string> => {
    let p = decisionByProfile.get(profileArn);
    if (!p) {
      p = (async () => {
        const role = await deps.policies.roleOfInstanceProfile(profileArn);
        if (!role) return "no-role";
        return canReadSecret(await deps.policies.rolePolicies(role.roleName), fact.secretArn);
      })();
      decisionByProfile.set(profileArn, p);
    }
    return p;
  };
  const version = { name: fact.secretName, versionId: fact.versionId, changedAt: fact.changedAt };
  for (const host of hosts) {
    if (host.state !== "running") continue;
    const place = placeHost(host, m);
    if (place.kind !== "fleet") continue;
    const isConsumer = consumers.has(place.service);
    const skip = (reason: string) => skipped.push({ targetId: host.instanceId, service: place.service, reason });
    if (isConsumer) {
      const current = runsCurrentVersion(host, version);
      if (current === "recorded") {
        skip("already runs this version (recorded on the host)");
        continue;
      }
      if (current === "launched-after") {
        skip("launched after this version became current: read it at boot");
        continue;
      }
      if (unmanaged.has(host.instanceId)) {
        skip("unmanaged: not registered with SSM at the last audit (reported, not sent)");
        continue;
      }
    }
    if (!host.instanceProfileArn) {
      if (isConsumer) skip("no instance profile: cannot fetch the secret");
      continue;
    }
    const decision = await decide(host.instanceProfileArn);
    if (isConsumer && decision === "allow")
      targets.push({ kind: "host", instanceId: host.instanceId, service: place.service });
    else if (isConsumer) skip(`role cannot read the secret (${decision}): restart would fail to fetch`);
    else if (decision === "allow") skip("excess scope: role can read a secret its service does not declare");
  }
  return { targets, skipped };
}

/** Hosts the last audit found unmanaged by SSM (its stored registry state); empty when there is none. */
export async function knownUnmanaged(deps: Pick<Deps, "params" | "config">): Promise<Set<string>> {
  try {
    return new Set(registryStateFromSummary(await deps.params.get(deps.config.auditSummaryParam)).state?.unmanaged);
  } catch {
    return new Set(); // no readable audit state: SendCommand's InvalidInstanceId still catches them, per host
  }
}

export interface RolloutOptions {
  dryRun: boolean;
  /** A scan already made (the drift audit shares its one scan). */
  hosts?: Host[];
  /** Restrict targets to these hosts and ECS service ARNs (audit catch-up of stale consumers only). */
  only?: ReadonlySet<string>;
  /** Distinguishes a catch-up rollout from the rotation's own rollout of the same version. */
  rolloutKey?: string;
}

export function rolloutIdOf(fact: RotationFact, opts: Pick<RolloutOptions, "rolloutKey">): string {
  return rolloutIdFor(fact.secretArn, opts.rolloutKey ? `${fact.versionId}|${opts.rolloutKey}` : fact.versionId);
}

/** Plans the rollout for a confirmed fact (the dry-run and CLI `restart plan` stop here). */
export async function planForFact(
  fact: RotationFact,
  m: Manifest,
  deps: Deps,
  opts: Omit<RolloutOptions, "dryRun"> = {},
): Promise<RolloutPlan> {
  const hosts = opts.hosts ?? (await deps.inventory.scanNamespace(m.tags.namespace, m.namespace));
  const only = opts.only;
  const { targets, skipped } = await selectTargets(
    fact,
    m,
    only ? hosts.filter((h) => only.has(h.instanceId)) : hosts,
    deps,
    await knownUnmanaged(deps),
  );
  const policy = policyFor(m, fact, fact.services);
  // ECS services whose task definition references the secret: targets in their service's wave, beside the hosts.
  const ecs = await ecsConsumersOf({ arn: fact.secretArn, name: fact.secretName }, m, deps, fact);
  return planRollout({
    rolloutId: rolloutIdOf(fact, opts),
    secret: { arn: fact.secretArn, name: fact.secretName },
    versionId: fact.versionId,
    manifest: m,
    targets: [...targets, ...(only ? ecs.targets.filter((t) => only.has(t.serviceArn)) : ecs.targets)],
    skipped: [...skipped, ...(only ? [] : ecs.skipped)],
    policy,
    maxConcurrency: baseConcurrency(m, policy.profile),
  });
}

/**
 * Starts (or continues) the one rollout for (secret, version): the head, its steps and the running-set entry are
 * written, then wave 1 is sent step by step (each claimed first). A second delivery finds the rollout and sends
 * only steps of the current wave nobody claimed (an interrupted start); the reconciler covers the rest.
 */
export async function startRollout(
  fact: RotationFact,
  m: Manifest,
  deps: Deps,
  opts: RolloutOptions,
): Promise<RotationResult> {
  const rolloutId = rolloutIdOf(fact, opts);
  const base = {
    trigger: fact.trigger,
    secretArn: fact.secretArn,
    secretName: fact.secretName,
    versionId: fact.versionId,
    rolloutId,
  };
  const existing = opts.dryRun ? undefined : await deps.rollouts.head(rolloutId);
  if (existing) {
    const sent = await dispatchWave(deps, existing);
    return {
      ...base,
      action: sent.length > 0 ? "restart" : "duplicate",
      reason:
        sent.length > 0 ? "continued an interrupted rollout" : `rollout already ${existing.status} for this version`,
      plan: { waves: [], skipped: existing.skipped },
      commands: sent,
    };
  }
  const { dryRun: _d, ...planOpts } = opts;
  const plan = await planForFact(fact, m, deps, planOpts);
  const planOut = { waves: plan.waves, skipped: plan.skipped };
  const why = fact.note ? `; ${fact.note}` : "";
  const result = (action: RotationAction, reason: string, commands: SentStep[] = []): RotationResult => ({
    ...base,
    action,
    reason,
    plan: planOut,
    commands,
  });
  if (opts.dryRun) return result("planned", `dry run: nothing sent${why}`);
  if (plan.policy?.mode === "notify")
    return result("planned", `notify mode (restart.mode): planned and reported, nothing restarted${why}`);
  if (plan.waves.length === 0) return result("ignored", `no running consumer needs or can take the restart${why}`);
  if (!deps.ecs && plan.waves.some((s) => s.kind === "ecs-service"))
    return result("ignored", "plan has ECS services but no ECS dispatcher is wired: refused, nothing sent");
  const { head, steps } = newRollout(plan, deps.now().toISOString());
  const gate = await evaluateGate(deps, head, 0);
  if (!gate.open) head.hold = gate.hold;
  // A coalescing window (safe profile): the rollout waits it out held, as a member of its namespace's batch.
  const batch =
    head.hold && plan.policy && plan.policy.coalesceSeconds > 0
      ? await joinCoalescing(deps, m.namespace, rolloutId, plan.policy.coalesceSeconds)
      : undefined;
  if (batch) head.batch = batch.leader;
  const joined = batch && batch.leader !== rolloutId ? `; coalescing with ${batch.leader} until ${batch.deadline}` : "";
  if (!(await deps.rollouts.create(head, steps)))
    return result("duplicate", "another delivery created this rollout first");
  const sent = await dispatchWave(deps, head);
  const unset: string[] = [];
  for (const w of head.hold ? heldWakeups(rolloutId, head.hold.until, batch) : []) {
    const why = await wakeFor(deps, w.rolloutId, w.at);
    if (why) unset.push(why);
  }
  const targets = plan.waves.reduce((n, s) => n + s.targetIds.length, 0);
  const held = head.hold ? [`; ${head.hold.reason}${joined}`, ...unset].join("; ") : "";
  return {
    ...result(
      "restart",
      `${fact.trigger}: restarting ${targets} target(s) in ${head.waves.length} wave(s)${held}${why}`,
      sent,
    ),
    ...(head.hold ? { held: head.hold } : {}),
  };
}

/** Above this many planned targets the result names waves and commands without their ids (see asRecord). */
export const RECORD_MAX_IDS = 2000;

/**
 * The result as the idempotency record keeps it (and a duplicate delivery gets it back). A DynamoDB item stops at
 * 400 KB and a 10,000-host plan's ids alone are ≈ 250 KB, so a large rollout's result keeps its shape but drops the
 * ids; the rollout store holds them all (`dcp rollout status <id>`).
 */
export function asRecord(r: RotationResult): RotationResult {
  const ids = r.plan.waves.reduce((n, w) => n + w.targetIds.length, 0);
  if (ids <= RECORD_MAX_IDS) return r;
  return {
    ...r,
    reason: `${r.reason} (${ids} targets: ids in rollout ${r.rolloutId}, see dcp rollout status)`,
    plannedHosts: ids,
    plan: {
      waves: r.plan.waves.map((w) => ({ ...w, targetIds: [] })),
      skipped: r.plan.skipped.slice(0, 100),
    },
    commands: r.commands.map((c) => ({ ...c, targetIds: [], unmanaged: c.unmanaged.slice(0, 100) })),
  };
}

/**
 * The rotation function's use case: classify the event, confirm the version (one DescribeSecret), and start the one
 * rollout for (secret, version) — once per fact behind the idempotency port (every trigger for one rotation agrees),
 * or only plan it in a dry run. A repeat is answered as a duplicate, never as a second restart.
 */
export async function rotateSecret(
  event: SecretEvent,
  deps: Deps & { idempotency: Idempotency },
): Promise<RotationResult> {
  const manifest = await loadManifest(deps.params, deps.config);
  const fact = await confirmRotation(classifyRotationEvent(event), manifest, deps);
  if (!isFact(fact)) return fact;
  if (deps.config.dryRun) return startRollout(fact, manifest, deps, { dryRun: true });
  const { result, duplicate } = await deps.idempotency.once(
    { secretArn: fact.secretArn, versionId: fact.versionId },
    async () => asRecord(await startRollout(fact, manifest, deps, { dryRun: false })),
  );
  return duplicate
    ? { ...result, action: "duplicate", reason: "already handled for this version", commands: [] }
    : result;
}
