import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import { logMetrics } from "@aws-lambda-powertools/metrics/middleware";
import middy from "@middy/core";
import type { Context } from "aws-lambda";
import { RESTART_TRACKER_USES } from "#core/adapters/permissions";
import { loadConfig } from "#core/app/config";
import { type TrackResult, trackRestart } from "#core/app/track-restart";
import { SsmStatusEvent } from "#core/domain/events";
import { rolloutAdapters } from "#core/shell/fleet-deps";
import { accept, powertools, type Rejected, reject, reportTracked } from "#core/shell/lambda";
import { portsFor } from "#core/shell/ports-for";

const { logger, metrics } = powertools("restart-tracker");
const config = loadConfig();
// No idempotency table: a duplicate is answered by the rollout store's conditional write on the host's step.
const deps = portsFor("RestartTrackerFunction", RESTART_TRACKER_USES, rolloutAdapters(config), {
  config,
  now: () => new Date(),
});

/** Parse → trackRestart → report. */
export const handler = middy(async (event: unknown, context: Context): Promise<TrackResult | Rejected> => {
  const accepted = accept(SsmStatusEvent, event, context, "an SSM command status event");
  if ("reason" in accepted) return reject(logger, metrics, accepted.reason);
  const d = accepted.event.detail;
  const result = await trackRestart(
    {
      commandId: d["command-id"],
      documentName: d["document-name"],
      status: d.status,
      ...(d["instance-id"] ? { instanceId: d["instance-id"] } : {}),
    },
    deps,
  );
  return reportTracked(logger, metrics, "HostsRestarted", "restart tracked", result);
})
  .use(injectLambdaContext(logger))
  .use(logMetrics(metrics));
