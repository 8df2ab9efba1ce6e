import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import { logMetrics } from "@aws-lambda-powertools/metrics/middleware";
import middy from "@middy/core";
import { ApiCallCounter } from "#core/adapters/clients";
import { auditFleet, type DriftReport, readRegistryState } from "#core/app/audit-fleet";
import { loadConfig } from "#core/app/config";
import { loadManifest } from "#core/app/manifest-source";
import { AuditRequest, describeIssues } from "#core/domain/events";
import { type RegistryState, registryStateToKeep } from "#core/domain/registry";
import { fleetDeps } from "#core/shell/fleet-deps";
import { MetricUnit, powertools, type Rejected, reject } from "#core/shell/lambda";

const { logger, metrics } = powertools("drift-audit");
/**
 * IMDS fixes per run: EC2 refills its mutating-call bucket at about 5 per second, so 1,000 fixes take ≈ 200 s and
 * a run ends well inside the function's 600 s timeout; hosts beyond stay findings and the next run fixes them.
 */
export const MAX_IMDS_FIXES_PER_RUN = 1000;
const config = loadConfig();

/**
 * The operator's summary lives in Parameter Store; the full report goes to the log stream (one JSON line). It also
 * carries the unmanaged-host check's state, read back by the next audit (≤ 100 ids: the summary stays < 4 KB).
 */
export type AuditSummary = Pick<DriftReport, "namespace" | "generatedAt" | "scannedHosts" | "summary" | "apiCalls"> & {
  findings: number;
  remediation: { mode: string; imdsFixed: number; imdsFailed?: number; imdsDeferred?: number; restarts: number };
  registry?: RegistryState;
};

const counted = <K extends string>(key: K, n: number) => (n > 0 ? { [key]: n } : {}) as Partial<Record<K, number>>;

export const handler = middy(async (event: unknown): Promise<AuditSummary | Rejected> => {
  const parsed = AuditRequest.safeParse(event ?? {});
  if (!parsed.success) return reject(logger, metrics, `not an audit request: ${describeIssues(parsed.error)}`);
  const remediation = parsed.data.remediation ?? config.auditRemediation;
  const dryRun = parsed.data.dryRun ?? config.dryRun;

  // A fresh counter and policy store per run: the report's apiCalls are this audit's own.
  const counter = new ApiCallCounter();
  const deps = fleetDeps(config, { counter });
  const manifest = await loadManifest(deps.params, config.manifestParam, config.namespace);
  const state = await readRegistryState(deps.params, config.auditSummaryParam);
  if (state.problem) logger.info("unmanaged-host check: full", { reason: state.problem });
  const report = await auditFleet(manifest, deps, {
    remediation,
    dryRun,
    apiCalls: () => counter.snapshot(),
    registry: state,
    maxImdsFixes: MAX_IMDS_FIXES_PER_RUN,
  });
  const registry = registryStateToKeep(report.registry, state.previous);

  const summary: AuditSummary = {
    namespace: report.namespace,
    generatedAt: report.generatedAt,
    scannedHosts: report.scannedHosts,
    findings: report.findings.length,
    summary: report.summary,
    apiCalls: report.apiCalls,
    remediation: {
      mode: remediation,
      imdsFixed: report.remediation.imds.filter((f) => f.applied).length,
      ...counted("imdsFailed", report.remediation.imds.filter((f) => f.error).length),
      ...counted("imdsDeferred", report.remediation.imds.filter((f) => f.deferred).length),
      restarts: report.remediation.restarts.length,
    },
    ...(registry ? { registry } : {}),
  };
  if (!dryRun) await deps.params.put(config.auditSummaryParam, JSON.stringify(summary), true);
  metrics.addMetric("HostsScanned", MetricUnit.Count, report.scannedHosts);
  if (summary.remediation.imdsFailed)
    metrics.addMetric("ImdsFixFailed", MetricUnit.Count, summary.remediation.imdsFailed);
  for (const [kind, count] of Object.entries(report.summary)) {
    const m = metrics.singleMetric();
    m.addDimension("Kind", kind);
    m.addMetric("DriftFindings", MetricUnit.Count, count ?? 0);
  }
  logger.info("drift audit", { ...summary });
  logger.info("drift report", { report });
  return summary;
})
  .use(injectLambdaContext(logger))
  .use(logMetrics(metrics));
