import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import { logMetrics } from "@aws-lambda-powertools/metrics/middleware";
import middy from "@middy/core";
import { ApiCallCounter, createClients } from "#core/adapters/clients";
import { DRIFT_AUDIT_USES } from "#core/adapters/permissions";
import { loadConfig } from "#core/app/config";
import { type AuditSummary, runAudit } from "#core/app/run-audit";
import { AuditRequest, describeIssues } from "#core/domain/events";
import { auditDeps } from "#core/shell/fleet-deps";
import { addCounts, MetricUnit, powertools, type Rejected, reject } from "#core/shell/lambda";
import { portsFor } from "#core/shell/ports-for";

const { logger, metrics } = powertools("drift-audit");
const config = loadConfig();

export const handler = middy(async (event: unknown): Promise<AuditSummary | Rejected> => {
  const parsed = AuditRequest.safeParse(event ?? {});
  if (!parsed.success) return reject(logger, metrics, `not an audit request: ${describeIssues(parsed.error)}`);
  // A fresh counter and fresh adapters per run: the summary's apiCalls and the policy reads are this audit's own.
  const counter = new ApiCallCounter();
  const deps = portsFor(
    "DriftAuditFunction",
    DRIFT_AUDIT_USES,
    auditDeps(config, { clients: createClients({ counter }), counter }),
    {
      config,
      now: () => new Date(),
    },
  );
  const { summary, report, registryProblem } = await runAudit(parsed.data, deps, () => counter.snapshot());

  if (registryProblem) logger.info("unmanaged-host check: full", { reason: registryProblem });
  metrics.addMetric("HostsScanned", MetricUnit.Count, summary.scannedHosts);
  addCounts(metrics, { ImdsFixFailed: summary.remediation.imdsFailed });
  for (const [kind, count] of Object.entries(summary.summary)) {
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
