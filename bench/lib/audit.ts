// The measured runs, each wired the way the handlers wire them (real SDK adapters + ApiCallCounter):
// the drift audit (as functions/drift-audit does), the naive baseline, and one rotation to dispatch.
import { performance } from "node:perf_hooks";
import { PutSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { CachedParameterStore } from "#core/adapters/cached-parameters";
import { ApiCallCounter, ec2Client, iamClient, secretsClient, ssmClient } from "#core/adapters/clients";
import { Ec2FleetInventory } from "#core/adapters/ec2";
import { TargetedPolicyStore } from "#core/adapters/iam";
import { SecretsManagerCatalog } from "#core/adapters/secrets";
import { auditFleet, type Remediation } from "#core/app/audit-fleet";
import { type Config, loadConfig } from "#core/app/config";
import { assessRole } from "#core/app/guard-host";
import { loadManifest } from "#core/app/manifest-source";
import { confirmRotation, isFact, startRollout } from "#core/app/rotate-secret";
import { desiredImds, planImds } from "#core/domain/imds";
import type { FindingKind } from "#core/domain/model";
import { placeHost } from "#core/domain/placement";
import { classifyRotationEvent } from "#core/domain/rotation";
import { consumedSecretIds } from "#core/domain/secrets";
import { auditDeps, fleetDeps } from "#core/shell/fleet-deps";

export interface Target {
  namespace: string;
  manifestParam: string;
  restartDocument: string;
  rolloutTable: string;
  region: string;
}

export interface RunResult {
  wallMs: number;
  /** process.resourceUsage().maxRSS of the process that ran it, MB (whole-process peak). */
  peakRssMB: number;
  /** Audit: time of the namespace scan (DescribeInstances pages, SDK parsing included). */
  scanMs?: number;
  /** RSS when the run started (modules loaded, nothing fetched), MB. */
  baseRssMB: number;
  apiCalls: Record<string, number>;
  totalCalls: number;
  hosts: number;
  summary?: Partial<Record<FindingKind, number>>;
  imdsFindings?: number;
  imdsFixed?: number;
  /** Naive baseline on a subset: how many hosts were really described. */
  sampledHosts?: number;
  /** Rotation: hosts in the plan / commands sent in the first wave. */
  planned?: number;
  commands?: number;
  note?: string;
}

export function targetConfig(t: Target, extra: Record<string, string> = {}): Config {
  return loadConfig({
    DCP_NAMESPACE: t.namespace,
    DCP_MANIFEST_PARAM: t.manifestParam,
    DCP_RESTART_DOCUMENT: t.restartDocument,
    DCP_ROLLOUT_TABLE: t.rolloutTable,
    AWS_REGION: t.region,
    ...extra,
  });
}

const total = (c: Record<string, number>) => Object.values(c).reduce((a, b) => a + b, 0);
const rssMB = () => Math.round(process.resourceUsage().maxRSS / 1024);
const rssNowMB = () => Math.round(process.memoryUsage().rss / 2 ** 20);

/** The measures every run reports: wall since `t0`, the counter's calls, peak and base RSS; `rest` adds its own. */
function measured(
  t0: number,
  counter: ApiCallCounter,
  baseRssMB: number,
  rest: Omit<RunResult, "wallMs" | "peakRssMB" | "apiCalls" | "totalCalls" | "baseRssMB">,
): RunResult {
  const wallMs = performance.now() - t0;
  const apiCalls = counter.snapshot();
  return { wallMs, peakRssMB: rssMB(), apiCalls, totalCalls: total(apiCalls), baseRssMB, ...rest };
}
const IMDS_KINDS = new Set<string>(["imds-tokens-optional", "imds-hop-limit", "imds-endpoint-disabled"]);
const imdsCount = (s: Partial<Record<string, number>>) =>
  Object.entries(s).reduce((n, [k, v]) => n + (IMDS_KINDS.has(k) ? (v ?? 0) : 0), 0);

/** One drift audit exactly as functions/drift-audit wires it, including the summary parameter write. */
export async function runAudit(t: Target, remediation: Remediation): Promise<RunResult> {
  const baseRssMB = rssNowMB();
  const config = targetConfig(t, { DCP_AUDIT_REMEDIATION: remediation });
  const counter = new ApiCallCounter();
  const t0 = performance.now();
  // Exactly the handler's wiring (functions/drift-audit → auditDeps: IMDS sources, readiness, host checks).
  const deps = auditDeps(config, { counter });
  const params = deps.params;
  const manifest = await loadManifest(params, config);
  const scanStart = performance.now();
  let scanEnd = scanStart;
  const report = await auditFleet(manifest, deps, {
    remediation,
    dryRun: false,
    apiCalls: () => counter.snapshot(),
    onProgress: (stage) => {
      if (stage === "scan") scanEnd = performance.now();
    },
  });
  const summary = {
    namespace: report.namespace,
    scannedHosts: report.scannedHosts,
    findings: report.findings.length,
    summary: report.summary,
    apiCalls: report.apiCalls,
  };
  await params.put(config.auditSummaryParam, JSON.stringify(summary), true);
  const wallMs = performance.now() - t0;
  // The audit's own calls are what the handler reports (manifest read included); the summary write comes after.
  const apiCalls = report.apiCalls;
  const after = counter.snapshot();
  return {
    wallMs,
    peakRssMB: rssMB(),
    baseRssMB,
    scanMs: scanEnd - scanStart,
    note: `then ${total(after) - total(apiCalls)} SSM.PutParameter (summary)`,
    apiCalls,
    totalCalls: total(apiCalls),
    hosts: report.scannedHosts,
    summary: report.summary,
    imdsFindings: imdsCount(report.summary),
    imdsFixed: report.remediation.imds.filter((f) => f.applied).length,
  };
}

/**
 * The naive baseline: one DescribeInstances per host (by id), IAM read role by role with targeted calls
 * (TargetedPolicyStore: GetInstanceProfile, GetRole, List/GetRolePolicy…), one DescribeSecret per secret.
 * `hostIds` may be a subset; the caller extrapolates.
 */
export async function runNaive(t: Target, hostIds: string[]): Promise<RunResult> {
  const baseRssMB = rssNowMB();
  const config = targetConfig(t);
  const counter = new ApiCallCounter();
  const opts = { counter };
  const t0 = performance.now();
  const params = new CachedParameterStore(ssmClient(opts));
  const m = await loadManifest(params, config);
  const inventory = new Ec2FleetInventory(ec2Client(opts));
  const deps = { config, policies: new TargetedPolicyStore(iamClient(opts)) };
  const secrets = new SecretsManagerCatalog(secretsClient(opts));
  const desired = desiredImds(m);
  let imds = 0;
  for (const id of hostIds) {
    const host = await inventory.describeHost(id);
    if (!host) continue;
    const place = placeHost(host, m);
    if (place.kind !== "fleet") continue;
    imds += planImds(host, desired, place.service).findings.length;
    await assessRole(host, place.service, m, deps);
  }
  for (const c of consumedSecretIds(m)) await secrets.describe(c.id);
  return measured(t0, counter, baseRssMB, { hosts: hostIds.length, sampledHosts: hostIds.length, imdsFindings: imds });
}

/** One rotation of `secretArn` (PutSecretValue, not counted), then the rotation handler's path to dispatch. */
export async function runRotation(t: Target, secretArn: string, account: string): Promise<RunResult> {
  const baseRssMB = rssNowMB();
  const put = await new SecretsManagerClient({}).send(
    new PutSecretValueCommand({ SecretId: secretArn, SecretString: JSON.stringify({ rotatedAt: Date.now() }) }),
  );
  const config = targetConfig(t);
  const counter = new ApiCallCounter();
  const t0 = performance.now();
  // As functions/secret-rotation wires it: fleet-wide deps with the bulk IAM loader.
  const deps = fleetDeps(config, { counter, policies: "bulk" });
  const params = deps.params;
  const m = await loadManifest(params, config);
  const intent = classifyRotationEvent({
    version: "0",
    id: `bench-${Date.now()}`,
    "detail-type": "Secret Label Updated",
    source: "aws.secretsmanager",
    account,
    time: new Date().toISOString(),
    region: t.region,
    resources: [secretArn],
    detail: { labelUpdated: "AWSCURRENT", versionId: put.VersionId ?? "" },
  });
  const fact = await confirmRotation(intent, m, deps);
  if (!isFact(fact)) throw new Error(`rotation not confirmed: ${fact.reason}`);
  const r = await startRollout(fact, m, deps, { dryRun: false });
  return measured(t0, counter, baseRssMB, {
    hosts: 0,
    planned: r.plan.waves.reduce((n, w) => n + w.targetIds.length, 0),
    commands: r.commands.length,
    note: `${r.action}: ${r.reason}`,
  });
}
