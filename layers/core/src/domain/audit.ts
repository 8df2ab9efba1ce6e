// The drift audit's judgements: pure functions from the facts the audit loaded to findings and a remediation plan.
// No AWS call, no clock read: `now` is passed in. The app layer (app/audit-fleet.ts) loads the facts and applies
// the plan.
import type { SecretDescription } from "../ports/index.ts";
import type { EcsService } from "./ecs.ts";
import { judgeEcsServices, type StaleEcsService } from "./ecs-audit.ts";
import { type HostCheckSummary, judgeHostChecks } from "./host-check.ts";
import { type DesiredImds, desiredImds, type HostReadiness, planImds } from "./imds.ts";
import {
  type AccountImdsDefaults,
  type DefaultsPlan,
  judgeAccountDefaults,
  judgeImages,
  judgeLaunchTemplates,
  type LaunchTemplateFact,
  type LaunchTemplatePlan,
} from "./imds-sources.ts";
import type { Manifest } from "./manifest.ts";
import type { Finding, FindingKind, Host } from "./model.ts";
import { placeHost } from "./placement.ts";
import {
  judgeRegistry,
  type RegistryAnswers,
  type RegistryPlan,
  type RegistryReport,
  type RegistryState,
} from "./registry.ts";
import { type ConsumerVia, consumersOf, runsCurrentVersion, versionTagKey } from "./secrets.ts";
import { judgeTriggerHealth, type TrailFacts } from "./trigger-health.ts";

/** Instance states the audit judges: stopped hosts keep their options but cannot be fixed or restarted. */
export const LIVE_STATES = new Set(["pending", "running"]);

/** A live host of the namespace placed against the manifest; `service` is absent for an unknown service. */
export interface PlacedHost {
  host: Host;
  service?: string;
  /** Why the service is unknown (tag missing, service not in the manifest). */
  unknownReason?: string;
}

/** The namespace's live hosts, placed: hosts of another namespace (a tag changed mid-scan) are left out. */
export function placeLiveHosts(hosts: readonly Host[], m: Manifest): PlacedHost[] {
  const out: PlacedHost[] = [];
  for (const host of hosts) {
    if (!LIVE_STATES.has(host.state)) continue;
    const place = placeHost(host, m);
    if (place.kind === "not-in-fleet") continue;
    out.push(place.kind === "fleet" ? { host, service: place.service } : { host, unknownReason: place.reason });
  }
  return out;
}

/** Hosts of known services grouped by (instance profile, service): each role is judged once, fanned out to hosts. */
export function roleGroups(placed: readonly PlacedHost[]): { service: string; hosts: Host[] }[] {
  const groups = new Map<string, { service: string; hosts: Host[] }>();
  for (const p of placed) {
    if (!p.service) continue;
    const key = `${p.host.instanceProfileArn ?? "-"}|${p.service}`;
    const g = groups.get(key) ?? { service: p.service, hosts: [] };
    g.hosts.push(p.host);
    groups.set(key, g);
  }
  return [...groups.values()];
}

/** A consumed secret and what Secrets Manager said about it (undefined: it does not exist). */
export interface SecretFact {
  id: string;
  services: string[];
  via: ConsumerVia;
  secret?: { arn: string; name: string; currentVersionId?: string; lastChangedDate?: string; deletedDate?: string };
}

/** Everything the audit loaded, as plain data. */
export interface FleetFacts {
  /** Every host the namespace scan returned (any state). */
  hosts: Host[];
  placed: PlacedHost[];
  /** Account IMDS defaults; undefined when the API is unavailable. */
  imdsDefaults?: AccountImdsDefaults;
  /** The launch templates the fleet uses, with their default version's MetadataOptions. */
  launchTemplates: LaunchTemplateFact[];
  /** `ImdsSupport` of the live hosts' AMIs (absent: not asked or unknown to EC2). */
  images: ReadonlyMap<string, string | undefined>;
  /** IMDSv1 use of the hosts whose tokens are optional; a host absent = readiness unknown. */
  readiness: ReadonlyMap<string, HostReadiness>;
  /** The host credential check collected from an earlier command. */
  hostChecks?: { commandId: string; invocations: { instanceId: string; status: string; output?: string }[] };
  /** The IAM judgement per host (one call, see app/audit-fleet.ts `assessRoles`) and the roles it read. */
  iam: { findings: Finding[]; roles: number };
  secrets: SecretFact[];
  /**
   * The namespace's ECS services, the secrets they reference (referencedSecretIds → description; undefined: none),
   * and the IAM judgement of their task and execution roles (app/audit-fleet.ts `assessEcsRoles`). Absent: no ECS port.
   */
  ecs?: {
    services: EcsService[];
    secrets: ReadonlyMap<string, SecretDescription | undefined>;
    roleFindings: Finding[];
  };
  /** The region's CloudTrail trails (trigger health); absent: not asked. */
  trails?: { region: string; facts: TrailFacts };
  /** Unmanaged-host check: the plan and SSM's answers, or why SSM could not answer. */
  registry:
    | { plan: RegistryPlan; answers: RegistryAnswers; previous?: RegistryState }
    | { unavailable: string; plan?: RegistryPlan };
}

/** A catch-up restart: the consumers of a secret still running an older version. */
export interface CatchUp {
  secretArn: string;
  secretName: string;
  versionId: string;
  /** The secret's LastChangedDate: hosts launched after it read the current value at boot. */
  changedAt?: string;
  services: string[];
  stale: Set<string>;
}

/** Readiness for IMDSv2 of one service's live hosts (CloudWatch MetadataNoToken). */
export interface ServiceReadiness {
  service: string;
  hosts: number;
  /** Tokens already required. */
  enforced: number;
  /** Tokens optional, no IMDSv1 call in the window: tokens can be required. */
  ready: number;
  /** Tokens optional and IMDSv1 still in use: hop limit fixed, tokens left optional. */
  notReady: number;
  unknown: number;
}

/** One instance fix: the full options to send (tokens may stay optional on a host not ready). */
export interface ImdsFix {
  instanceId: string;
  desired: DesiredImds;
  notReady?: true;
}

export interface FleetJudgement {
  findings: Finding[];
  /** Sources first: the account defaults and the launch templates to fix. */
  defaultsPlan: DefaultsPlan;
  templatePlans: LaunchTemplatePlan[];
  /** Hosts one ModifyInstanceMetadataOptions each would fix, in scan order. */
  imdsFixes: ImdsFix[];
  /** Hosts whose last modification EC2 still reports `pending`: neither compliant nor drifted. */
  imdsInFlight: string[];
  readiness: ServiceReadiness[];
  hostChecks?: HostCheckSummary;
  catchUps: CatchUp[];
  registry: RegistryReport;
  summary: Partial<Record<FindingKind, number>>;
}

/** The IMDS judgement inputs beside the hosts: clock, readiness, the manifest's readiness policy. */
export interface ImdsJudgeContext {
  now: Date;
  readiness: ReadonlyMap<string, HostReadiness>;
}

/** IMDS findings per live host, the hosts to fix and those in flight; unknown-service findings alongside. */
export function judgeImdsHosts(
  m: Manifest,
  placed: readonly PlacedHost[],
  ctx: ImdsJudgeContext,
): { findings: Finding[]; fixes: ImdsFix[]; inFlight: string[] } {
  const desired = desiredImds(m);
  const findings: Finding[] = [];
  const fixes: ImdsFix[] = [];
  const inFlight: string[] = [];
  for (const p of placed) {
    const readiness = ctx.readiness.get(p.host.instanceId);
    const decision = planImds(p.host, desired, p.service, {
      now: ctx.now,
      ...(readiness ? { readiness } : {}),
      enforceWhenNotReady: m.imds.enforceWhenNotReady,
    });
    findings.push(...decision.findings);
    if (decision.action === "modify")
      fixes.push({
        instanceId: p.host.instanceId,
        desired: decision.desired,
        ...(decision.notReady ? { notReady: true as const } : {}),
      });
    if (decision.action === "in-flight") inFlight.push(p.host.instanceId);
    if (p.unknownReason !== undefined)
      findings.push({
        kind: "unknown-service",
        severity: "medium",
        instanceId: p.host.instanceId,
        detail: p.unknownReason,
      });
  }
  return { findings, fixes, inFlight };
}

/** Readiness per service: enforced, ready, not ready, unknown (hosts of unknown services are left out). */
export function readinessByService(
  placed: readonly PlacedHost[],
  readiness: ReadonlyMap<string, HostReadiness>,
): ServiceReadiness[] {
  const by = new Map<string, ServiceReadiness>();
  for (const { host, service } of placed) {
    if (!service) continue;
    const r = by.get(service) ?? { service, hosts: 0, enforced: 0, ready: 0, notReady: 0, unknown: 0 };
    r.hosts++;
    const use = readiness.get(host.instanceId);
    if (host.imds.httpTokens === "required") r.enforced++;
    else if (!use) r.unknown++;
    else if (use.noTokenCalls > 0) r.notReady++;
    else r.ready++;
    by.set(service, r);
  }
  return [...by.values()].sort((a, b) => a.service.localeCompare(b.service));
}

/** Services of the manifest with no live host. */
export function judgeServicesWithoutHosts(m: Manifest, placed: readonly PlacedHost[]): Finding[] {
  const seen = new Set(placed.map((p) => p.service).filter((s) => s !== undefined));
  return m.services
    .filter((s) => !seen.has(s.name))
    .map((s) => ({
      kind: "service-without-hosts" as const,
      severity: "low" as const,
      service: s.name,
      detail: `no running host of service '${s.name}' in ${m.namespace}`,
    }));
}

/**
 * Stale credentials: the version each consumer recorded (tag `versionTagKey`) vs AWSCURRENT. A host booted after
 * the secret last changed read the current value at boot. Missing or deleting secrets are findings too.
 */
export function judgeSecrets(
  placed: readonly PlacedHost[],
  secrets: readonly SecretFact[],
  now: Date,
): { findings: Finding[]; catchUps: CatchUp[] } {
  const findings: Finding[] = [];
  const catchUps: CatchUp[] = [];
  for (const c of secrets) {
    const secret = c.secret;
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
    const current = secret.currentVersionId;
    if (!current) continue;
    const tag = versionTagKey(secret.name);
    const since = secret.lastChangedDate ? Date.parse(secret.lastChangedDate) : undefined;
    const stale = new Set<string>();
    for (const { host, service } of placed) {
      if (!service || !c.services.includes(service)) continue;
      if (runsCurrentVersion(host, { name: secret.name, versionId: current, changedAt: secret.lastChangedDate }))
        continue;
      const ageSeconds = since !== undefined ? Math.max(0, Math.round((now.getTime() - since) / 1000)) : -1;
      stale.add(host.instanceId);
      findings.push({
        kind: "stale-credentials",
        severity: "high",
        instanceId: host.instanceId,
        service,
        detail: `runs ${host.tags[tag] ? `version ${host.tags[tag]}` : "an unrecorded version"} of ${secret.name}; AWSCURRENT is ${current}${ageSeconds >= 0 ? ` since ${Math.round(ageSeconds / 60)} min` : ""}`,
        evidence: { secret: secret.name, currentVersion: current, ageSeconds },
      });
    }
    if (stale.size > 0)
      catchUps.push({
        secretArn: secret.arn,
        secretName: secret.name,
        versionId: current,
        services: c.services,
        ...(secret.lastChangedDate ? { changedAt: secret.lastChangedDate } : {}),
        stale,
      });
  }
  return { findings, catchUps };
}

/** Unmanaged hosts (SSM agent missing or unreachable) and the registry part of the report. */
export function judgeUnmanaged(
  placed: readonly PlacedHost[],
  registry: FleetFacts["registry"],
  now: Date,
): { findings: Finding[]; report: RegistryReport } {
  if ("unavailable" in registry)
    return {
      findings: [],
      report: { mode: "unavailable", reason: registry.unavailable, candidates: 0, deferred: 0 },
    };
  const { plan, answers, previous } = registry;
  const verdict = judgeRegistry(
    placed.map((p) => p.host),
    plan,
    answers,
    previous,
    now,
  );
  const serviceOf = new Map(placed.map((p) => [p.host.instanceId, p.service]));
  const findings = verdict.unmanaged.map((u): Finding => {
    const service = serviceOf.get(u.instanceId);
    return {
      kind: "unmanaged-host",
      severity: "medium",
      instanceId: u.instanceId,
      ...(service ? { service } : {}),
      detail: u.detail,
      evidence: u.pingStatus ? { pingStatus: u.pingStatus } : { registered: false },
    };
  });
  const note =
    verdict.deferred.length > 0
      ? `${verdict.deferred.length} host(s) launched under 15 min ago are not registered with SSM yet: not reported, asked about again by the next audit`
      : undefined;
  return {
    findings,
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

/** Count of findings per kind. */
export function summarise(findings: readonly Finding[]): Partial<Record<FindingKind, number>> {
  const summary: Partial<Record<FindingKind, number>> = {};
  for (const f of findings) summary[f.kind] = (summary[f.kind] ?? 0) + 1;
  return summary;
}

/**
 * Every judgement of the audit over the loaded facts, in report order: IMDS sources (account defaults, launch
 * templates, AMIs), hosts' IMDS, services without hosts, IAM (already judged per role), secrets, unmanaged hosts,
 * host credential checks, trigger health.
 */
export function judgeFleet(m: Manifest, facts: FleetFacts, now: Date): FleetJudgement {
  const desired = desiredImds(m);
  const live = facts.placed.map((p) => p.host);
  const defaults = judgeAccountDefaults(facts.imdsDefaults, desired, m.imds.manageAccountDefaults);
  const templates = judgeLaunchTemplates(facts.launchTemplates, live, desired, {
    tagKey: m.tags.namespace,
    namespace: m.namespace,
  });
  const imds = judgeImdsHosts(m, facts.placed, { now, readiness: facts.readiness });
  const secrets = judgeSecrets(facts.placed, facts.secrets, now);
  const ecs = facts.ecs
    ? judgeEcsServices({ manifest: m, services: facts.ecs.services, secrets: facts.ecs.secrets, now })
    : { findings: [], stale: [] };
  const unmanaged = judgeUnmanaged(facts.placed, facts.registry, now);
  const hostChecks = facts.hostChecks
    ? judgeHostChecks(
        facts.hostChecks.commandId,
        facts.hostChecks.invocations,
        new Map(facts.placed.map((p) => [p.host.instanceId, p.service])),
      )
    : undefined;
  const findings = [
    ...defaults.findings,
    ...templates.findings,
    ...judgeImages(live, facts.images),
    ...imds.findings,
    ...judgeServicesWithoutHosts(m, facts.placed),
    ...facts.iam.findings,
    ...secrets.findings,
    ...ecs.findings,
    ...(facts.ecs?.roleFindings ?? []),
    ...unmanaged.findings,
    ...(hostChecks?.findings ?? []),
    ...(facts.trails ? judgeTriggerHealth(facts.trails.region, facts.trails.facts) : []),
  ];
  return {
    findings,
    defaultsPlan: defaults.plan,
    templatePlans: templates.plans,
    imdsFixes: imds.fixes,
    imdsInFlight: imds.inFlight,
    readiness: readinessByService(facts.placed, facts.readiness),
    ...(hostChecks ? { hostChecks: hostChecks.summary } : {}),
    catchUps: withEcsCatchUps(m, secrets.catchUps, ecs.stale),
    registry: unmanaged.report,
    summary: summarise(findings),
  };
}

/**
 * The hosts' catch-ups plus the stale ECS services: a service joins its secret's catch-up (one rollout per secret,
 * hosts and services together), or opens one when no host of that secret is stale.
 */
export function withEcsCatchUps(m: Manifest, catchUps: CatchUp[], stale: readonly StaleEcsService[]): CatchUp[] {
  const out = catchUps.map((c) => ({ ...c, stale: new Set(c.stale) }));
  for (const st of stale) {
    const known = out.find((c) => c.secretArn === st.secret.arn);
    if (known) known.stale.add(st.serviceArn);
    else
      out.push({
        secretArn: st.secret.arn,
        secretName: st.secret.name,
        versionId: st.secret.currentVersionId,
        ...(st.secret.lastChangedDate ? { changedAt: st.secret.lastChangedDate } : {}),
        services: consumersOf(m, st.secret)?.services ?? [],
        stale: new Set([st.serviceArn]),
      });
  }
  return out;
}
