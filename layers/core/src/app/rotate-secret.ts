import { mayBeReferenced } from "../domain/ecs.ts";
import { canReadSecret } from "../domain/iam/scope.ts";
import type { Manifest } from "../domain/manifest.ts";
import type { Host } from "../domain/model.ts";
import { placeHost } from "../domain/placement.ts";
import {
  newRollout,
  planRollout,
  type RolloutPlan,
  type RolloutTarget,
  type SkippedHost,
  waveNumbers,
} from "../domain/rollout.ts";
import type { RotationIntent } from "../domain/rotation.ts";
import { consumersOf, mayBeFleetSecret, rolloutIdFor } from "../domain/secrets.ts";
import type { Deps } from "./deps.ts";
import { ecsConsumersOf } from "./ecs-consumers.ts";
import { claimWave, dispatchWave } from "./rollout-runner.ts";

export type RotationAction = "restart" | "ignored" | "duplicate" | "planned";

export interface RotationResult {
  action: RotationAction;
  reason: string;
  trigger: string;
  secretArn?: string;
  secretName?: string;
  versionId?: string;
  rolloutId?: string;
  plan: { waves: RolloutPlan["waves"]; skipped: SkippedHost[] } & Pick<RolloutPlan, "ecsTargets" | "ecsSkipped">;
  commands: { commandId: string; service: string; instanceIds: string[] }[];
  /** New ECS deployments started by this delivery (UpdateService forceNewDeployment), one per service. */
  deployments?: { serviceArn: string; deploymentId: string }[];
  /** Set when a large plan's ids were left out of this result (they are in the rollout store). */
  plannedHosts?: number;
}

const emptyPlan = { waves: [], skipped: [] };

/** The confirmed fact a rollout is about: which secret, and which version now holds AWSCURRENT. */
export interface RotationFact {
  secretArn: string;
  secretName: string;
  versionId: string;
  services: string[];
  trigger: string;
  note?: string;
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
    services: consumers?.services ?? [],
    trigger: intent.trigger,
    ...(note ? { note } : {}),
  };
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
 * Who restarts: running hosts of the consuming services whose role can read the secret. A consumer that
 * cannot read it is skipped (its restart would fail to fetch); a non-consumer that CAN read it is
 * reported as excess scope and not restarted. IAM is evaluated once per distinct role.
 */
export async function selectTargets(
  fact: RotationFact,
  m: Manifest,
  hosts: Host[],
  deps: Pick<Deps, "policies" | "config">,
): Promise<{ targets: RolloutTarget[]; skipped: SkippedHost[] }> {
  const consumers = new Set(fact.services);
  const targets: RolloutTarget[] = [];
  const skipped: SkippedHost[] = [];
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
  for (const host of hosts) {
    if (host.state !== "running") continue;
    const place = placeHost(host, m);
    if (place.kind !== "fleet") continue;
    const isConsumer = consumers.has(place.service);
    if (!host.instanceProfileArn) {
      if (isConsumer)
        skipped.push({
          instanceId: host.instanceId,
          service: place.service,
          reason: "no instance profile: cannot fetch the secret",
        });
      continue;
    }
    const decision = await decide(host.instanceProfileArn);
    if (isConsumer && decision === "allow") targets.push({ instanceId: host.instanceId, service: place.service });
    else if (isConsumer)
      skipped.push({
        instanceId: host.instanceId,
        service: place.service,
        reason: `role cannot read the secret (${decision}): restart would fail to fetch`,
      });
    else if (decision === "allow")
      skipped.push({
        instanceId: host.instanceId,
        service: place.service,
        reason: "excess scope: role can read a secret its service does not declare",
      });
  }
  return { targets, skipped };
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
  );
  const ecs = await ecsConsumersOf({ arn: fact.secretArn, name: fact.secretName }, m, deps);
  return planRollout({
    rolloutId: rolloutIdOf(fact, opts),
    secret: { arn: fact.secretArn, name: fact.secretName },
    versionId: fact.versionId,
    manifest: m,
    targets,
    skipped,
    ecsTargets: only ? ecs.targets.filter((t) => only.has(t.serviceArn)) : ecs.targets,
    ecsSkipped: only ? [] : ecs.skipped,
  });
}

/**
 * Starts (or continues) the one rollout for (secret, version). A second delivery finds the rollout and
 * sends nothing new unless hosts of the current wave were never claimed.
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
  const existing = opts.dryRun ? undefined : await deps.rollouts.get(rolloutId);
  if (existing) {
    const { rollout, sent, deployments } = await dispatchWave(deps, existing);
    const any = sent.length + deployments.size > 0;
    return {
      ...base,
      action: any ? "restart" : "duplicate",
      reason: any ? "continued an interrupted rollout" : `rollout already ${rollout.status} for this version`,
      plan: planSummary(rollout.plan),
      commands: sent.map(({ commandId, service, instanceIds }) => ({ commandId, service, instanceIds })),
      ...deploymentList(deployments),
    };
  }
  const { dryRun: _d, ...planOpts } = opts;
  const plan = await planForFact(fact, m, deps, planOpts);
  const planOut = planSummary(plan);
  const why = fact.note ? `; ${fact.note}` : "";
  if (opts.dryRun)
    return { ...base, action: "planned", reason: `dry run: nothing sent${why}`, plan: planOut, commands: [] };
  if (plan.waves.length === 0 && !plan.ecsTargets)
    return {
      ...base,
      action: "ignored",
      reason: `no running host or ECS service can take the restart${why}`,
      plan: planOut,
      commands: [],
    };
  const fresh = newRollout(plan, deps.now().toISOString());
  const claimed = claimWave(fresh) ?? fresh;
  if (!(await deps.rollouts.create(claimed))) {
    return {
      ...base,
      action: "duplicate",
      reason: "another delivery created this rollout first",
      plan: planOut,
      commands: [],
    };
  }
  const { sent, deployments } = await dispatchWave(deps, claimed, true);
  const ecsCount = plan.ecsTargets?.length ?? 0;
  const hostCount = Object.keys(fresh.hosts).length - ecsCount;
  return {
    ...base,
    action: "restart",
    reason: `${fact.trigger}: restarting ${hostCount} host(s)${ecsCount > 0 ? ` and ${ecsCount} ECS service(s)` : ""} in ${waveNumbers(plan).length} wave(s)${why}`,
    plan: planOut,
    commands: sent.map(({ commandId, service, instanceIds }) => ({ commandId, service, instanceIds })),
    ...deploymentList(deployments),
  };
}

/** A plan as results report it: waves and skipped hosts, and the ECS fields when there are any. */
function planSummary(plan: RolloutPlan): RotationResult["plan"] {
  return {
    waves: plan.waves,
    skipped: plan.skipped,
    ...(plan.ecsTargets ? { ecsTargets: plan.ecsTargets } : {}),
    ...(plan.ecsSkipped ? { ecsSkipped: plan.ecsSkipped } : {}),
  };
}

function deploymentList(d: Map<string, string>): Pick<RotationResult, "deployments"> {
  return d.size > 0 ? { deployments: [...d].map(([serviceArn, deploymentId]) => ({ serviceArn, deploymentId })) } : {};
}
