import { createHash } from "node:crypto";
import { scopeFindingsForHost } from "../domain/iam/scope.ts";
import { desiredImds, imdsDrift, planImds } from "../domain/imds.ts";
import type { Manifest } from "../domain/manifest.ts";
import type { Finding, FindingKind, Host } from "../domain/model.ts";
import { placeHost } from "../domain/placement.ts";
import {
  judgeRegistry,
  planRegistryCheck,
  type RegistryAnswers,
  type RegistryReport,
  type RegistryState,
  registryStateFromSummary,
  type UnmanagedHost,
} from "../domain/registry.ts";
import { consumedSecretIds, consumersOf, runsCurrentVersion, versionTagKey } from "../domain/secrets.ts";
import type { ManagedInstances, ParameterStore } from "../ports/index.ts";
import { auditEcsServices } from "./audit-ecs.ts";
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

const LIVE = new Set(["pending", "running"]);

/**
 * The whole-fleet audit, from ONE namespace scan shared by every check: IMDS drift, IAM scope per distinct
 * role (fanned out to hosts), stale credentials per consumed secret, unknown services, missing profiles,
 * services without hosts, missing secrets, unmanaged hosts, account IMDS defaults. Remediation reuses the
 * launch guard's IMDS fix and the rotation's rollout machinery.
 */
export async function auditFleet(
  m: Manifest,
  deps: Deps & { managed: ManagedInstances },
  opts: AuditOptions,
): Promise<DriftReport> {
  const now = deps.now();
  const findings: Finding[] = [];
  const desired = desiredImds(m);

  const hosts = await deps.inventory.scanNamespace(m.tags.namespace, m.namespace, (n) => opts.onProgress?.("scan", n));
  const live = hosts.filter((h) => LIVE.has(h.state));

  const defaults = await deps.inventory.imdsDefaults();
  if (defaults) {
    const asHost = {
      instanceId: "",
      state: "running",
      launchTime: "",
      tags: {},
      imds: { ...desired, ...defaults },
    } as Host;
    const drift = imdsDrift(asHost, desired);
    if (drift.length > 0)
      findings.push({
        kind: "imds-defaults",
        severity: "medium",
        detail: `account IMDS defaults let new instances launch non-compliant: ${drift.map((d) => d.kind).join(", ")}`,
      });
  }

  // Placement + IMDS per host; hosts grouped by (profile, service) so each role is evaluated once.
  const imdsFixes: string[] = [];
  const byRole = new Map<string, { service: string; hosts: Host[] }>();
  const servicesSeen = new Set<string>();
  const placed = new Map<string, string>();
  for (const host of live) {
    const place = placeHost(host, m);
    if (place.kind === "not-in-fleet") continue;
    const service = place.kind === "fleet" ? place.service : undefined;
    const decision = planImds(host, desired, service);
    findings.push(...decision.findings);
    if (decision.action === "modify") imdsFixes.push(host.instanceId);
    if (place.kind === "unknown-service") {
      findings.push({ kind: "unknown-service", severity: "medium", instanceId: host.instanceId, detail: place.reason });
      continue;
    }
    servicesSeen.add(place.service);
    placed.set(host.instanceId, place.service);
    const key = `${host.instanceProfileArn ?? "-"}|${place.service}`;
    const group = byRole.get(key) ?? { service: place.service, hosts: [] };
    group.hosts.push(host);
    byRole.set(key, group);
  }
  opts.onProgress?.("imds", live.length);

  for (const s of m.services)
    if (!servicesSeen.has(s.name))
      findings.push({
        kind: "service-without-hosts",
        severity: "low",
        service: s.name,
        detail: `no running host of service '${s.name}' in ${m.namespace}`,
      });

  const roles = new Set<string>();
  for (const { service, hosts: group } of byRole.values()) {
    const first = group[0]!;
    const assessed = await assessRole(first, service, m, deps);
    if (assessed.role) roles.add(assessed.role);
    for (const host of group) {
      if (assessed.verdict) findings.push(...scopeFindingsForHost(assessed.verdict, host.instanceId));
      else findings.push(...assessed.findings.map((f) => ({ ...f, instanceId: host.instanceId })));
    }
  }
  opts.onProgress?.("iam", roles.size);

  // Stale credentials: the version each consumer recorded vs AWSCURRENT; every consumed secret in one ListSecrets page.
  const consumed = consumedSecretIds(m);
  const catchUps: { fact: RotationFact; stale: Set<string> }[] = [];
  const described = await deps.secrets.describeMany(consumed.map((c) => c.id));
  for (const c of consumed) {
    const secret = described.get(c.id);
    if (!secret || secret.deletedDate) {
      findings.push({
        kind: "secret-missing",
        severity: c.via === "shared" ? "high" : "medium",
        ...(c.via === "bundle" ? { service: c.services[0]! } : {}),
        detail: secret
          ? `secret ${secret.name} is scheduled for deletion (${secret.deletedDate}); consumers: ${c.services.join(", ")}`
          : `secret ${c.id} does not exist; consumers: ${c.services.join(", ")}`,
      });
      continue;
    }
    if (!secret.currentVersionId) continue;
    const tag = versionTagKey(secret.name);
    const since = secret.lastChangedDate ? Date.parse(secret.lastChangedDate) : undefined;
    const stale = new Set<string>();
    for (const host of live) {
      const service = placed.get(host.instanceId);
      if (!service || !c.services.includes(service)) continue;
      const version = { name: secret.name, versionId: secret.currentVersionId, changedAt: secret.lastChangedDate };
      if (runsCurrentVersion(host, version)) continue;
      const ageSeconds = since !== undefined ? Math.max(0, Math.round((now.getTime() - since) / 1000)) : -1;
      stale.add(host.instanceId);
      findings.push({
        kind: "stale-credentials",
        severity: "high",
        instanceId: host.instanceId,
        service,
        detail: `runs ${host.tags[tag] ? `version ${host.tags[tag]}` : "an unrecorded version"} of ${secret.name}; AWSCURRENT is ${secret.currentVersionId}${ageSeconds >= 0 ? ` since ${Math.round(ageSeconds / 60)} min` : ""}`,
        evidence: { secret: secret.name, currentVersion: secret.currentVersionId, ageSeconds },
      });
    }
    if (stale.size > 0)
      catchUps.push({
        fact: {
          secretArn: secret.arn,
          secretName: secret.name,
          versionId: secret.currentVersionId,
          services: c.services,
          ...(secret.lastChangedDate ? { changedAt: secret.lastChangedDate } : {}),
          trigger: "DriftAudit",
        },
        stale,
      });
  }
  opts.onProgress?.("secrets", consumed.length);

  // ECS services: stale deployments, unknown service tags, over-scoped task and execution roles (app/audit-ecs.ts).
  const ecs = await auditEcsServices(m, deps);
  findings.push(...ecs.findings);
  for (const st of ecs.stale) {
    const known = catchUps.find((c) => c.fact.secretArn === st.secret.arn);
    if (known) known.stale.add(st.serviceArn);
    else
      catchUps.push({
        fact: {
          secretArn: st.secret.arn,
          secretName: st.secret.name,
          versionId: st.secret.currentVersionId,
          ...(st.secret.lastChangedDate ? { changedAt: st.secret.lastChangedDate } : {}),
          services: consumersOf(m, st.secret)?.services ?? [],
          trigger: "DriftAudit",
        },
        stale: new Set([st.serviceArn]),
      });
  }
  opts.onProgress?.("ecs", ecs.services);

  const registry = await checkRegistry(live, deps.managed, opts.registry ?? {}, now);
  for (const u of registry.unmanaged) {
    const service = placed.get(u.instanceId);
    findings.push({
      kind: "unmanaged-host",
      severity: "medium",
      instanceId: u.instanceId,
      ...(service ? { service } : {}),
      detail: u.detail,
      evidence: u.pingStatus ? { pingStatus: u.pingStatus } : { registered: false },
    });
  }
  opts.onProgress?.("registry", registry.report.candidates);

  // Remediation: IMDS one call per host; stale hosts through the rollout machinery. IAM never.
  const remediation: DriftReport["remediation"] = {
    mode: opts.remediation,
    dryRun: opts.dryRun,
    imds: [],
    restarts: [],
  };
  if (opts.remediation !== "none") {
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
    remediation.imds.push(...done);
    for (const instanceId of imdsFixes.slice(batch.length))
      remediation.imds.push({ instanceId, applied: false, deferred: true });
  }
  if (opts.remediation === "imds+restart") {
    for (const { fact, stale } of catchUps) {
      const key = `catch-up:${createHash("sha256")
        .update([...stale].sort().join(","))
        .digest("hex")
        .slice(0, 12)}`;
      const r = await startRollout(fact, m, deps, { dryRun: opts.dryRun, hosts, only: stale, rolloutKey: key });
      remediation.restarts.push({
        action: r.action,
        reason: r.reason,
        ...(r.rolloutId ? { rolloutId: r.rolloutId } : {}),
        ...(r.secretName ? { secretName: r.secretName } : {}),
        ...(r.versionId ? { versionId: r.versionId } : {}),
        plan: r.plan,
        commands: r.commands,
      });
    }
  }

  const summary: Partial<Record<FindingKind, number>> = {};
  for (const f of findings) summary[f.kind] = (summary[f.kind] ?? 0) + 1;
  return {
    namespace: m.namespace,
    generatedAt: now.toISOString(),
    scannedHosts: hosts.length,
    roles: roles.size,
    secrets: consumed.length,
    findings,
    summary,
    apiCalls: opts.apiCalls?.() ?? {},
    registry: registry.report,
    remediation,
  };
}

/**
 * Unmanaged hosts at a cost that does not grow with the fleet between full checks: a full check asks SSM about
 * every live host (⌈N/50⌉ calls); an incremental one sweeps the unreachable nodes (agents that went away) and asks
 * about the candidates only (new launches, hosts unmanaged last time).
 */
async function checkRegistry(
  live: Host[],
  managed: ManagedInstances,
  opts: NonNullable<AuditOptions["registry"]>,
  now: Date,
): Promise<{ unmanaged: UnmanagedHost[]; report: RegistryReport }> {
  const plan = planRegistryCheck(live, opts.previous, now, {
    ...(opts.forceFull ? { forceFull: true } : {}),
    ...(opts.problem ? { problem: opts.problem } : {}),
  });
  const unavailable = (): { unmanaged: UnmanagedHost[]; report: RegistryReport } => ({
    unmanaged: [],
    report: {
      mode: "unavailable",
      reason: "SSM DescribeInstanceInformation is unavailable",
      candidates: 0,
      deferred: 0,
    },
  });
  let unreachable = new Map<string, string>();
  if (plan.mode === "incremental" && live.length > 0) {
    const swept = await managed.unreachable();
    if (!swept) return unavailable();
    unreachable = swept;
  }
  let candidates = new Map<string, string>();
  if (plan.candidates.length > 0) {
    const asked = await managed.pingStatus(plan.candidates);
    if (!asked) return unavailable();
    candidates = asked;
  }
  const answers: RegistryAnswers = { unreachable, candidates };
  const verdict = judgeRegistry(live, plan, answers, opts.previous, now);
  const note =
    verdict.deferred.length > 0
      ? `${verdict.deferred.length} host(s) launched under 15 min ago are not registered with SSM yet: not reported, asked about again by the next audit`
      : undefined;
  return {
    unmanaged: verdict.unmanaged,
    report: {
      mode: plan.mode,
      reason: plan.reason,
      candidates: plan.candidates.length,
      deferred: verdict.deferred.length,
      ...verdict.state,
      ...(note ? { note } : {}),
    },
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
