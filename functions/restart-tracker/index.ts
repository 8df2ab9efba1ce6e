import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import { logMetrics } from "@aws-lambda-powertools/metrics/middleware";
import middy from "@middy/core";
import type { Context } from "aws-lambda";
import { loadConfig } from "#core/app/config";
import { type TrackResult, trackRestart } from "#core/app/track-restart";
import { describeIssues, SsmStatusEvent } from "#core/domain/events";
import { foreignOrigin, MetricUnit, powertools, type Rejected, reject } from "#core/shell/lambda";
import { rolloutDeps } from "#core/shell/rollout-deps";

const { logger, metrics } = powertools("restart-tracker");
const deps = rolloutDeps(loadConfig());

/** Parse → trackRestart → report. Duplicates are answered by the rollout store's conditional writes. */
export const handler = middy(async (event: unknown, context: Context): Promise<TrackResult | Rejected> => {
  const parsed = SsmStatusEvent.safeParse(event);
  if (!parsed.success)
    return reject(logger, metrics, `not an SSM command status event: ${describeIssues(parsed.error)}`);
  const foreign = foreignOrigin(parsed.data, context);
  if (foreign) return reject(logger, metrics, foreign);
  const d = parsed.data.detail;
  const result = await trackRestart(
    {
      commandId: d["command-id"],
      documentName: d["document-name"],
      status: d.status,
      ...(d["instance-id"] ? { instanceId: d["instance-id"] } : {}),
    },
    deps(),
  );
  const restarted = result.recorded.filter((r) => r.status === "Success").length;
  if (restarted > 0) metrics.addMetric("HostsRestarted", MetricUnit.Count, restarted);
  if (result.halted) metrics.addMetric("RolloutHalted", MetricUnit.Count, 1);
  if (result.rolloutStatus === "succeeded" && result.recorded.length > 0)
    metrics.addMetric("RolloutCompleted", MetricUnit.Count, 1);
  logger.info("restart tracked", { ...result, recorded: result.recorded.length });
  return result;
})
  .use(injectLambdaContext(logger))
  .use(logMetrics(metrics));
