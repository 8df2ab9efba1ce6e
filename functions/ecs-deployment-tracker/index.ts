import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import { logMetrics } from "@aws-lambda-powertools/metrics/middleware";
import middy from "@middy/core";
import type { Context } from "aws-lambda";
import { dynamodbClient, ecsClient, ssmClient } from "#core/adapters/clients";
import { PowertoolsIdempotency } from "#core/adapters/idempotency";
import { DynamoRolloutStore } from "#core/adapters/rollout-store";
import { SsmCommandRunner } from "#core/adapters/ssm";
import { loadConfig } from "#core/app/config";
import { type EcsTrackResult, trackEcsDeployment } from "#core/app/track-ecs-deployment";
import { EcsDeploymentEvent } from "#core/domain/events";
import { ecsDeps } from "#core/shell/fleet-deps";
import { accept, addCounts, powertools, type Rejected, reject } from "#core/shell/lambda";
import { portsFor } from "#core/shell/ports-for";

const { logger, metrics } = powertools("ecs-deployment-tracker");
const config = loadConfig();
if (!config.rolloutTable) throw new Error("configuration error: DCP_ROLLOUT_TABLE is not set");
const dynamodb = dynamodbClient();
const idempotency = new PowertoolsIdempotency(dynamodb, config.idempotencyTable);
const deps = portsFor(
  "EcsDeploymentTrackerFunction",
  {
    // The next wave may hold hosts: SendCommand of the restart document, as the SSM tracker sends it.
    commands: new SsmCommandRunner(ssmClient()),
    rollouts: new DynamoRolloutStore(dynamodb, config.rolloutTable),
    ...ecsDeps({ ecs: ecsClient(), dynamodb }, config),
    idempotency,
  },
  { config, now: () => new Date() },
);

export const handler = middy(async (event: unknown, context: Context): Promise<EcsTrackResult | Rejected> => {
  const accepted = accept(EcsDeploymentEvent, event, context, "an ECS deployment state change");
  if ("reason" in accepted) return reject(logger, metrics, accepted.reason);
  const { resources, detail } = accepted.event;
  const input = { serviceArn: resources[0]!, deploymentId: detail.deploymentId, eventName: detail.eventName };
  idempotency.registerLambdaContext(context);
  // One record per (deployment, final state): a re-delivered state change is recorded once.
  const { result, duplicate } = await deps.idempotency.once(
    { deploymentId: input.deploymentId, eventName: input.eventName },
    () => trackEcsDeployment(input, deps),
  );
  const once = duplicate ? 0 : 1;
  addCounts(metrics, {
    EcsServicesRestarted: once * result.recorded.filter((r) => r.status === "Success").length,
    RolloutHalted: result.halted ? once : 0,
    RolloutCompleted: result.rolloutStatus === "succeeded" && result.recorded.length > 0 ? once : 0,
  });
  logger.info("ECS deployment tracked", { ...result, recorded: result.recorded.length, duplicate });
  return result;
})
  .use(injectLambdaContext(logger))
  .use(logMetrics(metrics));
