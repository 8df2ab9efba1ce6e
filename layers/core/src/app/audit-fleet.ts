import { createHash } from "node:crypto";
import {
  type CatchUp,
  type FleetFacts,
  type FleetJudgement,
  judgeFleet,
  placeLiveHosts,
  roleGroups,
} from "../domain/audit.ts";
import { scopeFindingsForHost } from "../domain/iam/scope.ts";
import { type DesiredImds, desiredImds } from "../domain/imds.ts";
import type { Manifest } from "../domain/manifest.ts";
import type { Finding, FindingKind, Host } from "../domain/model.ts";
import {
  planRegistryCheck,
  type RegistryReport,
  type RegistryState,
  registryStateFromSummary,
} from "../domain/registry.ts";
import { consumedSecretIds } from "../domain/secrets.ts";
import type { ManagedInstances, ParameterStore } from "../ports/index.ts";
import { mapLimit } from "./concurrency.ts";
import type { Deps } from "./deps.ts";
import { assessRole } from "./guard-host.ts";
import { type RotationFact, type RotationResult, startRollout } from "./rotate-secret.ts";

export type Remediation = "none" | "imds" | "imds+restart";

export interface DriftReport {
  namespace: string;
  generatedAt: string;
  scannedHosts: number;
  roles: number;
  secrets: number;
  findings: Finding[];
  summary: Partial<Record<FindingKind, number>>;
  apiCalls: Record<string, number>;
  /** The unmanaged-host check: full or incremental, what it asked, and the state the next audit starts from. */
  registry: RegistryReport;
  remediation: {
    mode: Remediation;
    dryRun: boolean;
    /** One entry per drifted host: applied, planned (dry run), deferred to the next run (cap), or failed (error). */
    imds: { instanceId: string; applied: boolean; deferred?: true; error?: string }[];
    restarts: Pick<
      RotationResult,
      "action" | "reason" | "rolloutId" | "secretName" | "versionId" | "plan" | "commands"
    >[];
  };
}

export interface AuditOptions {
  remediation: Remediation;
  dryRun: boolean;
  onProgress?: (stage: string, done: number) => void;
  /** Snapshot of API calls made so far (the caller owns the counter). */
  apiCalls?: () => Record<string, number>;
  /** The previous audit's registry state (absent: `problem` says why) and a request to ask about every host. */
  registry?: { previous?: RegistryState; problem?: string; forceFull?: boolean };
  /** At most this many IMDS fixes per run (the rest stay findings, fixed by the next run); default: no cap. */
  maxImdsFixes?: number;
}

/**
 * IMDS fixes in flight at once. EC2 throttles mutating calls (a small bucket refilled a few per second): a handful
 * in parallel hides the per-call latency, and the adaptive retry mode paces the rest when the bucket runs dry.
 */
export const IMDS_FIX_CONCURRENCY = 4;

type AuditDeps = Deps & { managed: ManagedInstances };

/**
 * The whole-fleet audit, in three steps: load the facts (ONE namespace scan shared by every check), judge them
 * (pure, domain/audit.ts), then remediate when asked (IMDS through the launch guard's fix, stale credentials
 * through the rotation's rollout machinery; IAM never).
 */
export async function auditFleet(m: Manifest, deps: AuditDeps, opts: AuditOptions): Promise<DriftReport> {
  const now = deps.now();
  const facts = await loadFleetFacts(m, deps, opts, now);
  const judged = judgeFleet(m, facts, now);
  const remediation = await remediate(m, deps, facts, judged, opts);
  return {
    namespace: m.namespace,
    generatedAt: now.toISOString(),
    scannedHosts: facts.hosts.length,
    roles: facts.iam.roles,
    secrets: facts.secrets.length,
    findings: judged.findings,
    summary: judged.summary,
    apiCalls: opts.apiCalls?.() ?? {},
    registry: judged.registry,
    remediation,
  };
}

/** Loads every fact the judgements need: namespace scan, account defaults, IAM per role, secrets, SSM registry. */
export async function loadFleetFacts(m: Manifest, deps: AuditDeps, opts: AuditOptions, now: Date): Promise<FleetFacts> {
  const progress = opts.onProgress ?? (() => {});
  const hosts = await deps.inventory.scanNamespace(m.tags.namespace, m.namespace, (n) => progress("scan", n));
  const placed = placeLiveHosts(hosts, m);
  const imdsDefaults = await deps.inventory.imdsDefaults();
  progress("imds", placed.length);
  const iam = await assessRoles(roleGroups(placed), m, deps);
  progress("iam", iam.roles);
  const consumed = consumedSecretIds(m);
  const described = await deps.secrets.describeMany(consumed.map((c) => c.id));
  const secrets = consumed.map((c) => {
    const secret = described.get(c.id);
    return secret ? { ...c, secret } : c;
  });
  progress("secrets", consumed.length);
  const registry = await loadRegistryAnswers(
    placed.map((p) => p.host),
    deps.managed,
    opts.registry ?? {},
    now,
  );
  progress("registry", registry.plan?.candidates.length ?? 0);
  return { hosts, placed, ...(imdsDefaults ? { imdsDefaults } : {}), iam, secrets, registry };
}

/**
 * The IAM judgement, behind one call: each (instance profile, service) group's role is read and evaluated once,
 * and its findings fanned out to the group's hosts.
 */
export async function assessRoles(
  groups: { service: string; hosts: Host[] }[],
  m: Manifest,
  deps: Pick<Deps, "policies" | "config">,
): Promise<{ findings: Finding[]; roles: number }> {
  const roles = new Set<string>();
  const findings: Finding[] = [];
  for (const { service, hosts } of groups) {
    const assessed = await assessRole(hosts[0]!, service, m, deps);
    if (assessed.role) roles.add(assessed.role);
    for (const host of hosts) {
      if (assessed.verdict) findings.push(...scopeFindingsForHost(assessed.verdict, host.instanceId));
      else findings.push(...assessed.findings.map((f) => ({ ...f, instanceId: host.instanceId })));
    }
  }
  return { findings, roles: roles.size };
}

/**
 * Unmanaged hosts at a cost that does not grow with the fleet between full checks: a full check asks SSM about
 * every live host (⌈N/50⌉ calls); an incremental one sweeps the unreachable nodes (agents that went away) and asks
 * about the candidates only (new launches, hosts unmanaged last time).
 */
async function loadRegistryAnswers(
  live: Host[],
  managed: ManagedInstances,
  opts: NonNullable<AuditOptions["registry"]>,
  now: Date,
): Promise<FleetFacts["registry"]> {
  const plan = planRegistryCheck(live, opts.previous, now, {
    ...(opts.forceFull ? { forceFull: true } : {}),
    ...(opts.problem ? { problem: opts.problem } : {}),
  });
  const unavailable = { unavailable: "SSM DescribeInstanceInformation is unavailable" };
  let unreachable = new Map<string, string>();
  if (plan.mode === "incremental" && live.length > 0) {
    const swept = await managed.unreachable();
    if (!swept) return unavailable;
    unreachable = swept;
  }
  let candidates = new Map<string, string>();
  if (plan.candidates.length > 0) {
    const asked = await managed.pingStatus(plan.candidates);
    if (!asked) return unavailable;
    candidates = asked;
  }
  return { plan, answers: { unreachable, candidates }, ...(opts.previous ? { previous: opts.previous } : {}) };
}

/** Applies the judgement's remediation plan: IMDS one call per host (capped per run); stale hosts restarted. */
export async function remediate(
  m: Manifest,
  deps: AuditDeps,
  facts: FleetFacts,
  judged: FleetJudgement,
  opts: AuditOptions,
): Promise<DriftReport["remediation"]> {
  const remediation: DriftReport["remediation"] = {
    mode: opts.remediation,
    dryRun: opts.dryRun,
    imds: [],
    restarts: [],
  };
  if (opts.remediation === "none") return remediation;
  remediation.imds = await fixImds(judged.imdsFixes, desiredImds(m), deps, opts);
  if (opts.remediation === "imds+restart")
    for (const c of judged.catchUps) remediation.restarts.push(await catchUp(c, m, deps, facts.hosts, opts.dryRun));
  return remediation;
}

async function fixImds(
  imdsFixes: string[],
  desired: DesiredImds,
  deps: AuditDeps,
  opts: AuditOptions,
): Promise<DriftReport["remediation"]["imds"]> {
  const batch = imdsFixes.slice(0, opts.maxImdsFixes ?? imdsFixes.length);
  // One host's refusal (terminated meanwhile, a deny on its tag) must not cost the other fixes: it is reported.
  const done = await mapLimit(batch, IMDS_FIX_CONCURRENCY, async (instanceId) => {
    if (opts.dryRun) return { instanceId, applied: false };
    try {
      await deps.inventory.modifyImds(instanceId, desired);
      return { instanceId, applied: true };
    } catch (err) {
      return { instanceId, applied: false, error: (err as Error).message.split("\n")[0]?.slice(0, 300) ?? "error" };
    }
  });
  return [
    ...done,
    ...imdsFixes.slice(batch.length).map((instanceId) => ({ instanceId, applied: false, deferred: true as const })),
  ];
}

/** One catch-up rollout for the stale consumers of a secret, keyed on the stale set so a rerun is a duplicate. */
async function catchUp(
  c: CatchUp,
  m: Manifest,
  deps: AuditDeps,
  hosts: Host[],
  dryRun: boolean,
): Promise<DriftReport["remediation"]["restarts"][number]> {
  const fact: RotationFact = {
    secretArn: c.secretArn,
    secretName: c.secretName,
    versionId: c.versionId,
    services: c.services,
    trigger: "DriftAudit",
  };
  const key = `catch-up:${createHash("sha256")
    .update([...c.stale].sort().join(","))
    .digest("hex")
    .slice(0, 12)}`;
  const r = await startRollout(fact, m, deps, { dryRun, hosts, only: c.stale, rolloutKey: key });
  return {
    action: r.action,
    reason: r.reason,
    ...(r.rolloutId ? { rolloutId: r.rolloutId } : {}),
    ...(r.secretName ? { secretName: r.secretName } : {}),
    ...(r.versionId ? { versionId: r.versionId } : {}),
    plan: r.plan,
    commands: r.commands,
  };
}

/**
 * The previous audit's registry state from its stored summary (one GetParameter). Absent, unreadable or invalid
 * is never fatal: the audit then checks every host, and `problem` says why.
 */
export async function readRegistryState(
  params: ParameterStore,
  summaryParam: string,
): Promise<{ previous?: RegistryState; problem?: string }> {
  let text: string | undefined;
  try {
    text = await params.get(summaryParam);
  } catch (err) {
    return { problem: `previous audit summary unreadable (${(err as Error).name})` };
  }
  const { state, problem } = registryStateFromSummary(text);
  return state ? { previous: state } : { problem: problem ?? "no previous registry state" };
}
