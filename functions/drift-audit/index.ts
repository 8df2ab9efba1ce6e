import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import { logMetrics } from "@aws-lambda-powertools/metrics/middleware";
import middy from "@middy/core";
import { ApiCallCounter } from "#core/adapters/clients";
import { auditFleet, type DriftReport, readRegistryState } from "#core/app/audit-fleet";
import { loadConfig } from "#core/app/config";
import { loadManifest } from "#core/app/manifest-source";
import { AuditRequest, describeIssues } from "#core/domain/events";
import type { HostCheckState } from "#core/domain/host-check";
import { type RegistryState, registryStateToKeep } from "#core/domain/registry";
import { auditDeps } from "#core/shell/fleet-deps";
import { MetricUnit, powertools, type Rejected, reject } from "#core/shell/lambda";

const { logger, metrics } = powertools("drift-audit");
/**
 * Seconds a run spends draining IMDS fixes at the manifest's pace (imds.drain): well inside the function's 600 s
 * timeout; hosts beyond stay findings and the next scheduled run continues with them.
 */
export const DRAIN_BUDGET_SECONDS = 420;
const config = loadConfig();

/**
 * The operator's summary lives in Parameter Store; the full report goes to the log stream (one JSON line). It also
 * carries the unmanaged-host check's state, read back by the next audit (≤ 100 ids: the summary stays < 4 KB).
 */
export type AuditSummary = Pick<DriftReport, "namespace" | "generatedAt" | "scannedHosts" | "summary" | "apiCalls"> & {
  findings: number;
  remediation: { mode: string; imdsFixed: number; imdsFailed?: number; imdsDeferred?: number; restarts: number };
  registry?: RegistryState;
  hostChecks?: HostCheckState;
};

const counted = <K extends string>(key: K, n: number) => (n > 0 ? { [key]: n } : {}) as Partial<Record<K, number>>;

export const handler = middy(async (event: unknown): Promise<AuditSummary | Rejected> => {
  const parsed = AuditRequest.safeParse(event ?? {});
  if (!parsed.success) return reject(logger, metrics, `not an audit request: ${describeIssues(parsed.error)}`);
  const remediation = parsed.data.remediation ?? config.auditRemediation;
  const dryRun = parsed.data.dryRun ?? config.dryRun;

  // A fresh counter and policy store per run: the report's apiCalls are this audit's own.
  const counter = new ApiCallCounter();
  const deps = auditDeps(config, { counter });
  const manifest = await loadManifest(deps.params, config.manifestParam, config.namespace);
  const state = await readRegistryState(deps.params, config.auditSummaryParam);
  if (state.problem) logger.info("unmanaged-host check: full", { reason: state.problem });
  const report = await auditFleet(manifest, deps, {
    remediation,
    dryRun,
    apiCalls: () => counter.snapshot(),
    registry: state,
    drainBudgetSeconds: DRAIN_BUDGET_SECONDS,
    // Collect the check the previous run sent; send the next one (read-only, results kept by SSM).
    hostChecks: { ...(state.hostChecks ? { collect: state.hostChecks } : {}), send: true },
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
    ...(report.hostChecks.sent ? { hostChecks: report.hostChecks.sent } : {}),
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
