import { createHash } from "node:crypto";
import {
  type CatchUp,
  type FleetFacts,
  type FleetJudgement,
  type ImdsFix,
  judgeFleet,
  type PlacedHost,
  placeLiveHosts,
  roleGroups,
  type ServiceReadiness,
} from "../domain/audit.ts";
import { type HostCheckState, type HostCheckSummary, hostCheckStateFromSummary } from "../domain/host-check.ts";
import { scopeFindingsForHost } from "../domain/iam/scope.ts";
import type { HostReadiness } from "../domain/imds.ts";
import { fleetTemplateIds } from "../domain/imds-sources.ts";
import type { Manifest } from "../domain/manifest.ts";
import type { Finding, FindingKind, Host } from "../domain/model.ts";
import {
  planRegistryCheck,
  type RegistryReport,
  type RegistryState,
  registryStateFromSummary,
} from "../domain/registry.ts";
import { consumedSecretIds } from "../domain/secrets.ts";
import { type BucketConfig, etaSeconds, fullBucket, take } from "../domain/token-bucket.ts";
import type {
  HostChecks,
  ImdsSources,
  ImdsUsage,
  ManagedInstances,
  ParameterStore,
  TrailCatalog,
} from "../ports/index.ts";
import { loadEcsFacts } from "./audit-ecs.ts";
import { mapLimit } from "./concurrency.ts";
import type { Deps } from "./deps.ts";
import { assessRole } from "./guard-host.ts";
import { type RotationFact, type RotationResult, startRollout } from "./rotate-secret.ts";

export type Remediation = "none" | "imds" | "imds+restart";

/** What the remediation did to one IMDS source (account defaults, a launch template). */
export interface SourceFix {
  source: string;
  action: "applied" | "planned" | "report-only" | "failed";
  detail: string;
}

/** The instance drain of one run: what it did, what is left for the next runs, and when it should be done. */
export interface DrainReport {
  total: number;
  applied: number;
  failed: number;
  deferred: number;
  /** Seconds the deferred hosts need at the configured pace. */
  etaSeconds: number;
  burst: number;
  refillPerSecond: number;
}

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
  imds: {
    /** Hosts whose last modification is still `pending` at EC2: in flight, not judged. */
    inFlight: string[];
    /** Readiness for IMDSv2 per service, from `MetadataNoToken` over `days`; null when CloudWatch was not asked. */
    readiness: { days: number; services: ServiceReadiness[] } | null;
  };
  /** The host credential check collected this run (null: none), and the command sent for the next run (null). */
  hostChecks: { collected: HostCheckSummary | null; sent: HostCheckState | null };
  remediation: {
    mode: Remediation;
    dryRun: boolean;
    /** Sources first: account defaults, then launch templates. */
    sources: SourceFix[];
    /** One entry per drifted host: applied, planned (dry run), deferred to the next run (budget), or failed (error). */
    imds: { instanceId: string; applied: boolean; deferred?: true; error?: string; notReady?: true }[];
    drain: DrainReport | null;
    restarts: Pick<
      RotationResult,
      "action" | "reason" | "rolloutId" | "secretName" | "versionId" | "plan" | "commands"
    >[];
  };
}

/** The audit's clock for pacing: real time by default, a fake one in tests. */
export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

const realClock: Clock = { now: () => Date.now(), sleep: (ms) => new Promise((r) => setTimeout(r, ms)) };

export interface AuditOptions {
  remediation: Remediation;
  dryRun: boolean;
  /** Progress per stage; the drain adds its total and an ETA (seconds). */
  onProgress?: (stage: string, done: number, total?: number, etaSeconds?: number) => void;
  /** Snapshot of API calls made so far (the caller owns the counter). */
  apiCalls?: () => Record<string, number>;
  /** The previous audit's registry state (absent: `problem` says why) and a request to ask about every host. */
  registry?: { previous?: RegistryState; problem?: string; forceFull?: boolean };
  /** At most this many IMDS fixes per run (the rest stay findings, fixed by the next run); default: no cap. */
  maxImdsFixes?: number;
  /** Stop starting IMDS fixes once the paced drain would pass this many seconds; the rest wait for the next run. */
  drainBudgetSeconds?: number;
  /** Host credential check: collect an earlier command's results, and/or send a new command. */
  hostChecks?: { collect?: HostCheckState; send?: boolean };
  clock?: Clock;
}

/**
 * IMDS fixes in flight at once. The drain's token bucket sets the pace; a handful in parallel hides the per-call
 * latency within it.
 */
export const IMDS_FIX_CONCURRENCY = 4;

/** The audit's ports: the optional ones are skipped (and said so) when a caller does not wire them. */
export type AuditDeps = Deps & {
  managed: ManagedInstances;
  sources?: ImdsSources;
  usage?: ImdsUsage;
  hostChecks?: HostChecks;
  /** Trigger health (CloudTrail); without it the audit does not judge the API-call triggers. */
  trails?: TrailCatalog;
};

/**
 * The whole-fleet audit, in three steps: load the facts (ONE namespace scan shared by every check), judge them
 * (pure, domain/audit.ts), then remediate when asked: IMDS sources before instances, instances paced to EC2's
 * bucket, stale credentials through the rotation's rollout machinery; IAM never.
 */
export async function auditFleet(m: Manifest, deps: AuditDeps, opts: AuditOptions): Promise<DriftReport> {
  const now = deps.now();
  const facts = await loadFleetFacts(m, deps, opts, now);
  const judged = judgeFleet(m, facts, now);
  const remediation = await remediate(m, deps, facts, judged, opts);
  const sent = opts.hostChecks?.send ? await sendHostChecks(m, deps, opts.dryRun, now) : null;
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
    imds: {
      inFlight: judged.imdsInFlight,
      readiness: deps.usage ? { days: m.imds.readinessDays, services: judged.readiness } : null,
    },
    hostChecks: { collected: judged.hostChecks ?? null, sent },
    remediation,
  };
}

/**
 * Loads every fact the judgements need: namespace scan, IMDS sources (account defaults, launch templates, AMIs),
 * readiness of the hosts still allowing IMDSv1, IAM per role, secrets, SSM registry, host check results, the
 * region's CloudTrail trails (trigger health).
 */
export async function loadFleetFacts(m: Manifest, deps: AuditDeps, opts: AuditOptions, now: Date): Promise<FleetFacts> {
  const progress = opts.onProgress ?? (() => {});
  const hosts = await deps.inventory.scanNamespace(m.tags.namespace, m.namespace, (n) => progress("scan", n));
  const placed = placeLiveHosts(hosts, m);
  const live = placed.map((p) => p.host);
  const imdsDefaults = await deps.inventory.imdsDefaults();
  const launchTemplates =
    (await deps.sources?.launchTemplates(fleetTemplateIds(live), m.tags.namespace, m.namespace)) ?? [];
  const imageIds = [...new Set(live.map((h) => h.imageId).filter((x): x is string => !!x))];
  const images = (imageIds.length > 0 && (await deps.sources?.imageImdsSupport(imageIds))) || new Map();
  const readiness = await loadReadiness(m, placed, deps.usage, now);
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
  // ECS services: one scan, one ListSecrets page for the referenced secrets, each task/execution role once.
  const ecs = await loadEcsFacts(m, deps);
  progress("ecs", ecs?.services.length ?? 0);
  const registry = await loadRegistryAnswers(live, deps.managed, opts.registry ?? {}, now);
  progress("registry", registry.plan?.candidates.length ?? 0);
  const collect = opts.hostChecks?.collect;
  const invocations = collect && deps.hostChecks ? await deps.hostChecks.results(collect.commandId) : undefined;
  const trails = deps.trails ? { region: deps.config.region, facts: await deps.trails.trails() } : undefined;
  return {
    hosts,
    placed,
    ...(imdsDefaults ? { imdsDefaults } : {}),
    launchTemplates,
    images,
    readiness,
    iam,
    secrets,
    ...(ecs ? { ecs } : {}),
    registry,
    ...(trails ? { trails } : {}),
    ...(collect && invocations ? { hostChecks: { commandId: collect.commandId, invocations } } : {}),
  };
}

/**
 * `MetadataNoToken` for the live hosts whose tokens are still optional (the only ones readiness decides about):
 * ⌈hosts/500⌉ GetMetricData calls.
 */
async function loadReadiness(
  m: Manifest,
  placed: PlacedHost[],
  usage: ImdsUsage | undefined,
  now: Date,
): Promise<Map<string, HostReadiness>> {
  const ids = placed.filter((p) => p.host.imds.httpTokens !== "required").map((p) => p.host.instanceId);
  const readiness = new Map<string, HostReadiness>();
  if (!usage || ids.length === 0) return readiness;
  const days = m.imds.readinessDays;
  for (const [id, noTokenCalls] of await usage.noTokenCalls(ids, days, now)) readiness.set(id, { noTokenCalls, days });
  return readiness;
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

/**
 * Applies the judgement's remediation plan, sources before instances: the account defaults (when the manifest opts
 * in), the launch templates (a compliant new default version), then the instances through the paced drain; stale
 * hosts are restarted last.
 */
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
    sources: [],
    imds: [],
    drain: null,
    restarts: [],
  };
  if (opts.remediation === "none") return remediation;
  remediation.sources = await fixSources(judged, deps, opts.dryRun);
  const drained = await drainImds(judged.imdsFixes, m.imds.drain, deps, opts);
  remediation.imds = drained.imds;
  remediation.drain = drained.report;
  if (opts.remediation === "imds+restart")
    for (const c of judged.catchUps) remediation.restarts.push(await catchUp(c, m, deps, facts.hosts, opts.dryRun));
  return remediation;
}

const firstLine = (err: unknown): string => (err as Error).message.split("\n")[0]?.slice(0, 300) ?? "error";

/** Account defaults, then each launch template: one call (or three) per source, each failure reported on its own. */
async function fixSources(judged: FleetJudgement, deps: AuditDeps, dryRun: boolean): Promise<SourceFix[]> {
  const fixes: SourceFix[] = [];
  const plan = judged.defaultsPlan;
  if (plan.action === "report") fixes.push({ source: "account defaults", action: "report-only", detail: plan.reason });
  if (plan.action === "modify") {
    const what = `tokens ${plan.desired.httpTokens}, hop limit ${plan.desired.hopLimit}`;
    if (dryRun || !deps.sources) fixes.push({ source: "account defaults", action: "planned", detail: what });
    else
      try {
        await deps.sources.setAccountDefaults(plan.desired);
        fixes.push({ source: "account defaults", action: "applied", detail: what });
      } catch (err) {
        fixes.push({ source: "account defaults", action: "failed", detail: firstLine(err) });
      }
  }
  for (const t of judged.templatePlans) {
    const source = `launch template ${t.templateName} (${t.templateId})`;
    if (t.skipped) {
      fixes.push({ source, action: "report-only", detail: t.skipped });
      continue;
    }
    const what = `new version from v${t.fromVersion} with tokens ${t.desired.httpTokens}, hop limit ${t.desired.hopLimit}, made the default`;
    if (dryRun || !deps.sources) {
      fixes.push({ source, action: "planned", detail: what });
      continue;
    }
    try {
      const version = await deps.sources.fixLaunchTemplate(t.templateId, t.fromVersion, t.desired);
      fixes.push({ source, action: "applied", detail: `version ${version} (from v${t.fromVersion}) is the default` });
    } catch (err) {
      fixes.push({ source, action: "failed", detail: firstLine(err) });
    }
  }
  return fixes;
}

/**
 * The instance drain: one ModifyInstanceMetadataOptions per host, paced by a token bucket sized to the manifest's
 * share of EC2's (field notes: burst 100, refill 5/s), a few calls in flight within that pace. A run stops starting
 * fixes at its budget (or cap); the rest are deferred, and the next run continues with them: fixed hosts read back
 * `pending` or compliant and are not repeated. A dry run plans without calls and estimates the time.
 */
async function drainImds(
  fixes: ImdsFix[],
  cfg: BucketConfig,
  deps: AuditDeps,
  opts: AuditOptions,
): Promise<{ imds: DriftReport["remediation"]["imds"]; report: DrainReport }> {
  const clock = opts.clock ?? realClock;
  const start = clock.now();
  const deadline =
    opts.drainBudgetSeconds === undefined ? Number.POSITIVE_INFINITY : start + opts.drainBudgetSeconds * 1000;
  const cap = Math.min(fixes.length, opts.maxImdsFixes ?? fixes.length);
  let bucket = fullBucket(cfg, start);
  let done = 0;
  const progress = () =>
    opts.onProgress?.("drain", done, fixes.length, etaSeconds(fixes.length - done, bucket, cfg, clock.now()));
  const note = (f: ImdsFix) => (f.notReady ? { notReady: true as const } : {});
  type Entry = DriftReport["remediation"]["imds"][number];
  const imds = await mapLimit(fixes, IMDS_FIX_CONCURRENCY, async (f, i): Promise<Entry> => {
    if (opts.dryRun) return { instanceId: f.instanceId, applied: false, ...note(f) };
    const deferred = { instanceId: f.instanceId, applied: false, deferred: true as const, ...note(f) };
    if (i >= cap) return deferred;
    const slot = take(bucket, cfg, clock.now());
    if (clock.now() + slot.waitMs > deadline) return deferred;
    bucket = slot.bucket;
    if (slot.waitMs > 0) await clock.sleep(slot.waitMs);
    try {
      await deps.inventory.modifyImds(f.instanceId, f.desired);
      return { instanceId: f.instanceId, applied: true, ...note(f) };
    } catch (err) {
      // One host's refusal (terminated meanwhile, a deny on its tag) must not cost the other fixes: it is reported.
      return { instanceId: f.instanceId, applied: false, error: firstLine(err), ...note(f) };
    } finally {
      done++;
      progress();
    }
  });
  const deferredCount = imds.filter((x) => x.deferred).length;
  const left = opts.dryRun ? fixes.length : deferredCount;
  return {
    imds,
    report: {
      total: fixes.length,
      applied: imds.filter((x) => x.applied).length,
      failed: imds.filter((x) => x.error).length,
      deferred: deferredCount,
      etaSeconds: etaSeconds(left, opts.dryRun ? fullBucket(cfg, 0) : bucket, cfg, opts.dryRun ? 0 : clock.now()),
      burst: cfg.burst,
      refillPerSecond: cfg.refillPerSecond,
    },
  };
}

/**
 * Sends the host credential check to every host of the namespace (one command, SSM paces it); the next audit
 * collects it. Dry run or no port: nothing sent.
 */
async function sendHostChecks(
  m: Manifest,
  deps: AuditDeps,
  dryRun: boolean,
  now: Date,
): Promise<HostCheckState | null> {
  if (dryRun || !deps.hostChecks) return null;
  const { commandId } = await deps.hostChecks.send(m.tags.namespace, m.namespace);
  return { commandId, sentAt: now.toISOString() };
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
    ...(c.changedAt ? { changedAt: c.changedAt } : {}),
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
 * The previous audit's state from its stored summary (one GetParameter): the registry check's state and the host
 * check command to collect. Absent, unreadable or invalid is never fatal: the audit then checks every host, and
 * `problem` says why.
 */
export async function readRegistryState(
  params: ParameterStore,
  summaryParam: string,
): Promise<{ previous?: RegistryState; problem?: string; hostChecks?: HostCheckState }> {
  let text: string | undefined;
  try {
    text = await params.get(summaryParam);
  } catch (err) {
    return { problem: `previous audit summary unreadable (${(err as Error).name})` };
  }
  const { state, problem } = registryStateFromSummary(text);
  const hostChecks = hostCheckStateFromSummary(text);
  return {
    ...(state ? { previous: state } : { problem: problem ?? "no previous registry state" }),
    ...(hostChecks ? { hostChecks } : {}),
  };
}
