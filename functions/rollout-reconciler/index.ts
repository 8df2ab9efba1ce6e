import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import { logMetrics } from "@aws-lambda-powertools/metrics/middleware";
import middy from "@middy/core";
import { ROLLOUT_RECONCILER_USES } from "#core/adapters/permissions";
import { loadConfig } from "#core/app/config";
import { reconcileRollouts } from "#core/app/rollout-engine";
import { describeIssues, ReconcileRequest } from "#core/domain/events";
import { rolloutAdapters } from "#core/shell/fleet-deps";
import { addCounts, powertools, type Rejected, reject } from "#core/shell/lambda";
import { portsFor } from "#core/shell/ports-for";

const { logger, metrics } = powertools("rollout-reconciler");
const config = loadConfig();
const deps = portsFor("RolloutReconcilerFunction", ROLLOUT_RECONCILER_USES, rolloutAdapters(config), {
  config,
  now: () => new Date(),
});
type Result = Awaited<ReturnType<typeof reconcileRollouts>>;

/** Parse the schedule's input → reconcile every open rollout → report; a rollout that failed makes the run throw (retry, DLQ). */
export const handler = middy(async (event: unknown): Promise<Result | Rejected> => {
  const parsed = ReconcileRequest.safeParse(event);
  if (!parsed.success) return reject(logger, metrics, `not a reconcile request: ${describeIssues(parsed.error)}`);
  const result = await reconcileRollouts(deps, {
    dryRun: config.dryRun || parsed.data.dryRun === true,
    // A one-time wake-up (EventBridge Scheduler) names its held rollout; the periodic schedule visits every open one.
    ...(parsed.data.rolloutId ? { rolloutId: parsed.data.rolloutId } : {}),
  });
  addCounts(metrics, { OutcomesReconciled: result.rollouts.reduce((n, r) => n + r.recorded, 0) });
  logger.info("rollouts reconciled", { rollouts: result.rollouts.map(({ sent: _s, ...r }) => r) });
  const failed = result.rollouts.filter((r) => r.error);
  if (failed.length > 0) throw new Error(`reconcile failed for ${failed.map((r) => r.rolloutId).join(", ")}`);
  return result;
})
  .use(injectLambdaContext(logger))
  .use(logMetrics(metrics));
