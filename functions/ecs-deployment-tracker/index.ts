import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import { logMetrics } from "@aws-lambda-powertools/metrics/middleware";
import middy from "@middy/core";
import type { Context } from "aws-lambda";
import { ECS_DEPLOYMENT_TRACKER_USES } from "#core/adapters/permissions";
import { loadConfig } from "#core/app/config";
import { type EcsTrackResult, trackEcsDeployment } from "#core/app/track-ecs-deployment";
import { EcsDeploymentEvent } from "#core/domain/events";
import { rolloutAdapters } from "#core/shell/fleet-deps";
import { accept, powertools, type Rejected, reject, reportTracked } from "#core/shell/lambda";
import { portsFor } from "#core/shell/ports-for";

const { logger, metrics } = powertools("ecs-deployment-tracker");
const config = loadConfig();
// No idempotency table: a duplicate is answered by the rollout store's conditional write on the service's step.
const deps = portsFor("EcsDeploymentTrackerFunction", ECS_DEPLOYMENT_TRACKER_USES, rolloutAdapters(config), {
  config,
  now: () => new Date(),
});

/** Parse → trackEcsDeployment → report. */
export const handler = middy(async (event: unknown, context: Context): Promise<EcsTrackResult | Rejected> => {
  const accepted = accept(EcsDeploymentEvent, event, context, "an ECS deployment state change");
  if ("reason" in accepted) return reject(logger, metrics, accepted.reason);
  const { resources, detail } = accepted.event;
  const result = await trackEcsDeployment(
    { serviceArn: resources[0]!, deploymentId: detail.deploymentId, eventName: detail.eventName },
    deps,
  );
  return reportTracked(logger, metrics, "EcsServicesRestarted", "ECS deployment tracked", result);
})
  .use(injectLambdaContext(logger))
  .use(logMetrics(metrics));
