import { NotFoundError } from "../domain/errors.ts";
import { evaluateScope, type ScopeVerdict, scopeFindingsForHost } from "../domain/iam/scope.ts";
import { desiredImds, type HostReadiness, type ImdsDecision, planImds } from "../domain/imds.ts";
import type { Manifest } from "../domain/manifest.ts";
import type { AwsScope, Finding, Host, ImdsOptions } from "../domain/model.ts";
import { accountOfArn, placeHost } from "../domain/placement.ts";
import type { ImdsUsage } from "../ports/index.ts";
import type { Deps } from "./deps.ts";

export const IAM_SCOPE_TAG = "dcp:iam-scope";
export const QUARANTINE_TAG = "dcp:quarantine";

/** Every key is always present (app/contracts.ts): `null` when there is nothing to say. */
export interface GuardResult {
  instanceId: string;
  namespace: string;
  service: string | null;
  /** `not-visible`: EC2 did not show the instance within the invocation's retries. */
  status: "guarded" | "skipped" | "not-visible";
  reason: string | null;
  dryRun: boolean;
  imds: {
    before: ImdsOptions | null;
    after: ImdsOptions | null;
    changed: boolean;
    action: ImdsDecision["action"] | "skipped";
  };
  iam: { role: string | null; verdict: ScopeVerdict["verdict"] | "skipped"; findings: Finding[] };
  tags: Record<string, string>;
  findings: Finding[];
}

function skipped(
  instanceId: string,
  namespace: string,
  reason: string,
  dryRun: boolean,
  findings: Finding[] = [],
  status: "skipped" | "not-visible" = "skipped",
): GuardResult {
  return {
    instanceId,
    namespace,
    service: null,
    status,
    reason,
    dryRun,
    imds: { before: null, after: null, changed: false, action: "skipped" },
    iam: { role: null, verdict: "skipped", findings: [] },
    tags: {},
    findings,
  };
}

/** Resolves the role of a host and evaluates its scope; every failure is a finding, never a silent pass. */
export async function assessRole(
  host: Host,
  service: string,
  m: Manifest,
  deps: Pick<Deps, "policies" | "config">,
): Promise<{ role?: string; verdict?: ScopeVerdict; findings: Finding[] }> {
  const base = { instanceId: host.instanceId, service };
  if (!host.instanceProfileArn)
    return {
      findings: [
        {
          ...base,
          kind: "no-instance-profile",
          severity: "high",
          detail: "no instance profile: fetch-env.sh cannot read configuration",
        },
      ],
    };
  const role = await deps.policies.roleOfInstanceProfile(host.instanceProfileArn);
  if (!role)
    return {
      findings: [
        {
          ...base,
          kind: "no-instance-profile",
          severity: "high",
          detail: `instance profile ${host.instanceProfileArn} has no role (or no longer exists)`,
        },
      ],
    };
  const acct = accountOfArn(host.instanceProfileArn);
  const aws: AwsScope = {
    partition: acct?.partition ?? "aws",
    account: acct?.account ?? "000000000000",
    region: deps.config.region,
  };
  try {
    const policies = await deps.policies.rolePolicies(role.roleName);
    const verdict = evaluateScope(policies, m, service, aws);
    return { role: role.roleName, verdict, findings: scopeFindingsForHost(verdict, host.instanceId) };
  } catch (err) {
    if (!(err instanceof NotFoundError)) throw err;
    return {
      role: role.roleName,
      findings: [
        {
          ...base,
          kind: "iam-unknown",
          severity: "medium",
          detail: `role ${role.roleName} vanished while loading its policies: ${err.message}`,
        },
      ],
    };
  }
}

/**
 * EC2 is eventually consistent: a launch event can arrive before DescribeInstances knows the instance or its tags.
 * A few reads a few seconds apart, within the invocation (never a throw: the rule matches every launch in the
 * account, and retrying it would multiply that).
 */
export const VISIBILITY_DELAYS_MS = [500, 1000, 2000];

export interface GuardOptions {
  dryRun: boolean;
  /** Waits between reads of a not-yet-visible instance (default VISIBILITY_DELAYS_MS). */
  visibilityDelaysMs?: readonly number[];
  sleep?: (ms: number) => Promise<void>;
  /** CloudWatch MetadataNoToken: a host that still calls IMDSv1 keeps optional tokens (see planImds). */
  usage?: ImdsUsage;
}

async function describeVisible(instanceId: string, deps: Deps, opts: GuardOptions): Promise<Host | undefined> {
  const delays = opts.visibilityDelaysMs ?? VISIBILITY_DELAYS_MS;
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  let host = await deps.inventory.describeHost(instanceId);
  for (const ms of delays) {
    if (host && Object.keys(host.tags).length > 0) return host;
    await sleep(ms);
    host = await deps.inventory.describeHost(instanceId);
  }
  return host;
}

/** Readiness of one launching host: asked only when it decides something (tokens optional, required wanted). */
async function readinessOf(host: Host, m: Manifest, deps: Deps, usage?: ImdsUsage): Promise<HostReadiness | undefined> {
  if (!usage || host.imds.httpTokens === "required" || m.imds.httpTokens !== "required") return undefined;
  const days = m.imds.readinessDays;
  const calls = await usage.noTokenCalls([host.instanceId], days, deps.now());
  return { noTokenCalls: calls.get(host.instanceId) ?? 0, days };
}

/**
 * Launch guard for one instance: IMDS made safe with at most one modification, IAM scope evaluated,
 * the verdict tagged. Dry run makes no write at all.
 */
export async function guardHost(instanceId: string, m: Manifest, deps: Deps, opts: GuardOptions): Promise<GuardResult> {
  const { dryRun } = opts;
  const ns = m.namespace;
  const host = await describeVisible(instanceId, deps, opts);
  // Still unknown after the retries: reported, not thrown. Known but untagged: judged (not in the fleet) only now.
  if (!host)
    return skipped(
      instanceId,
      ns,
      "EC2 does not know this instance yet (or it is in another account/region): not judged now; the drift audit covers it",
      dryRun,
      [],
      "not-visible",
    );
  if (host.state === "terminated" || host.state === "shutting-down")
    return skipped(instanceId, ns, `instance is ${host.state}`, dryRun);

  const place = placeHost(host, m);
  if (place.kind === "not-in-fleet")
    return skipped(instanceId, ns, `not in namespace ${ns}: ${place.reason}`, dryRun, [
      { kind: "not-in-fleet", severity: "info", instanceId, detail: `left alone: ${place.reason}` },
    ]);

  const service = place.kind === "fleet" ? place.service : undefined;
  const findings: Finding[] = [];

  // IMDS applies to every host of the namespace, known service or not.
  const readiness = await readinessOf(host, m, deps, opts.usage);
  const decision = planImds(host, desiredImds(m), service, {
    now: deps.now(),
    ...(readiness ? { readiness } : {}),
    enforceWhenNotReady: m.imds.enforceWhenNotReady,
  });
  findings.push(...decision.findings);
  let after: ImdsOptions = host.imds;
  let changed = false;
  if (decision.action === "modify" && !dryRun) {
    after = await deps.inventory.modifyImds(instanceId, decision.desired);
    changed = true;
    if (after.state !== "applied") {
      const confirmed = await deps.inventory.describeHost(instanceId);
      if (confirmed) after = confirmed.imds;
    }
  }

  let iam: GuardResult["iam"];
  if (place.kind === "unknown-service") {
    findings.push({ kind: "unknown-service", severity: "medium", instanceId, detail: place.reason });
    iam = { role: null, verdict: "unknown", findings: [] };
  } else {
    const assessed = await assessRole(host, place.service, m, deps);
    findings.push(...assessed.findings);
    const verdict =
      assessed.verdict?.verdict ??
      (assessed.findings.some((f) => f.kind === "no-instance-profile") ? "violation" : "unknown");
    iam = { role: assessed.role ?? null, verdict, findings: assessed.findings };
  }

  const tags: Record<string, string> = {};
  if (iam.verdict !== "skipped" && host.tags[IAM_SCOPE_TAG] !== iam.verdict) tags[IAM_SCOPE_TAG] = iam.verdict;
  if (deps.config.iamMode === "quarantine" && iam.verdict === "violation" && host.tags[QUARANTINE_TAG] !== "iam-scope")
    tags[QUARANTINE_TAG] = "iam-scope";
  if (Object.keys(tags).length > 0 && !dryRun) await deps.inventory.tagHosts([instanceId], tags);

  return {
    instanceId,
    namespace: ns,
    service: service ?? null,
    status: "guarded",
    reason: null,
    dryRun,
    imds: { before: host.imds, after, changed, action: decision.action },
    iam,
    tags,
    findings,
  };
}
