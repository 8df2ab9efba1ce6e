import type { HostCheckState } from "../domain/host-check.ts";
import { type RegistryState, registryStateToKeep } from "../domain/registry.ts";
import { type AuditDeps, auditFleet, type DriftReport, type Remediation, readRegistryState } from "./audit-fleet.ts";
import { loadManifest } from "./manifest-source.ts";

/**
 * Seconds a run spends draining IMDS fixes at the manifest's pace (imds.drain): well inside the function's 600 s
 * timeout; hosts beyond stay findings and the next scheduled run continues with them (they read back drifted, while
 * the ones fixed read back `pending` or compliant: no work is repeated).
 */
export const DRAIN_BUDGET_SECONDS = 420;

/**
 * The operator's summary, stored in Parameter Store (DCP_AUDIT_SUMMARY_PARAM, < 4 KB); the full report goes to the log
 * stream. Every key is always present: counts are 0 and `registry` is null when there is nothing. `registry` is the
 * unmanaged-host check's state (≤ 100 ids), read back by the next audit.
 */
export type AuditSummary = Pick<DriftReport, "namespace" | "generatedAt" | "scannedHosts" | "summary" | "apiCalls"> & {
  findings: number;
  dryRun: boolean;
  remediation: { mode: Remediation; imdsFixed: number; imdsFailed: number; imdsDeferred: number; restarts: number };
  registry: RegistryState | null;
  /** The host credential check this run sent; the next run collects it. */
  hostChecks: HostCheckState | null;
};

export interface AuditRun {
  summary: AuditSummary;
  report: DriftReport;
  /** Why the unmanaged-host check asked about every host (no usable previous state); null for an incremental one. */
  registryProblem: string | null;
}

/**
 * The scheduled audit's entry point (DriftAuditFunction): manifest (refused with one line when it names another
 * namespace or other tag keys than the deployment), the previous run's registry state, the audit, and the summary
 * stored for the next run. `request` overrides the deployment's remediation and dry run (DCP_AUDIT_REMEDIATION,
 * DCP_DRY_RUN); a dry run plans every fix and stores nothing. `apiCalls`: this run's call counts (the caller's counter).
 */
export async function runAudit(
  request: { remediation?: Remediation | undefined; dryRun?: boolean | undefined },
  deps: AuditDeps,
  apiCalls: () => Record<string, number>,
): Promise<AuditRun> {
  const { config } = deps;
  const remediation = request.remediation ?? config.auditRemediation;
  const dryRun = request.dryRun ?? config.dryRun;
  const manifest = await loadManifest(deps.params, config);
  const state = await readRegistryState(deps.params, config.auditSummaryParam);
  const report = await auditFleet(manifest, deps, {
    remediation,
    dryRun,
    apiCalls,
    registry: state,
    drainBudgetSeconds: DRAIN_BUDGET_SECONDS,
    // Collect the check the previous run sent; send the next one (read-only; SSM keeps results 30 days).
    hostChecks: { ...(state.hostChecks ? { collect: state.hostChecks } : {}), send: true },
  });
  const fixes = report.remediation.imds;
  const summary: AuditSummary = {
    namespace: report.namespace,
    generatedAt: report.generatedAt,
    scannedHosts: report.scannedHosts,
    findings: report.findings.length,
    summary: report.summary,
    apiCalls: report.apiCalls,
    dryRun,
    remediation: {
      mode: remediation,
      imdsFixed: fixes.filter((f) => f.applied).length,
      imdsFailed: fixes.filter((f) => f.error).length,
      imdsDeferred: fixes.filter((f) => f.deferred).length,
      restarts: report.remediation.restarts.length,
    },
    registry: registryStateToKeep(report.registry, state.previous) ?? null,
    hostChecks: report.hostChecks.sent,
  };
  if (!dryRun) await deps.params.put(config.auditSummaryParam, JSON.stringify(summary), true);
  return { summary, report, registryProblem: state.problem ?? null };
}
