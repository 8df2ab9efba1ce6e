import { makeIdempotent } from "@aws-lambda-powertools/idempotency";
import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import { logMetrics } from "@aws-lambda-powertools/metrics/middleware";
import middy from "@middy/core";
import type { Context } from "aws-lambda";
import { dynamodbClient, ecsClient, ssmClient } from "#core/adapters/clients";
import { DynamoRolloutStore } from "#core/adapters/rollout-store";
import { SsmCommandRunner } from "#core/adapters/ssm";
import { loadConfig } from "#core/app/config";
import { type Deps, unavailable } from "#core/app/deps";
import { type EcsDeploymentInput, type EcsTrackResult, trackEcsDeployment } from "#core/app/track-ecs-deployment";
import { describeIssues, EcsDeploymentEvent } from "#core/domain/events";
import { ecsDeps } from "#core/shell/fleet-deps";
import { foreignOrigin, idempotency, MetricUnit, powertools, type Rejected, reject } from "#core/shell/lambda";

const { logger, metrics } = powertools("ecs-deployment-tracker");
const config = loadConfig();
const clients = { dynamodb: dynamodbClient(), ecs: ecsClient() };
const ssm = ssmClient();

function deps(): Deps {
  if (!config.rolloutTable) throw new Error("configuration error: DCP_ROLLOUT_TABLE is not set");
  return {
    config,
    // The next wave may hold hosts: SendCommand of the restart document, as the SSM tracker sends it.
    commands: new SsmCommandRunner(ssm),
    rollouts: new DynamoRolloutStore(clients.dynamodb, config.rolloutTable),
    ...ecsDeps(clients, config),
    inventory: unavailable("FleetInventory"),
    policies: unavailable("PolicyStore"),
    secrets: unavailable("SecretCatalog"),
    params: unavailable("ParameterStore"),
    now: () => new Date(),
  };
}

/** Keyed on (deployment, event name): a re-delivered state change is recorded once. */
const idem = idempotency(clients.dynamodb, config.idempotencyTable, "[deploymentId, eventName]");
const track = makeIdempotent(
  (input: EcsDeploymentInput): Promise<EcsTrackResult> => trackEcsDeployment(input, deps()),
  idem,
);

export const handler = middy(async (event: unknown, context: Context): Promise<EcsTrackResult | Rejected> => {
  const parsed = EcsDeploymentEvent.safeParse(event);
  if (!parsed.success)
    return reject(logger, metrics, `not an ECS deployment state change: ${describeIssues(parsed.error)}`);
  const foreign = foreignOrigin(parsed.data, context);
  if (foreign) return reject(logger, metrics, foreign);
  const input: EcsDeploymentInput = {
    serviceArn: parsed.data.resources[0]!,
    deploymentId: parsed.data.detail.deploymentId,
    eventName: parsed.data.detail.eventName,
  };
  if (input.eventName === "SERVICE_DEPLOYMENT_IN_PROGRESS") return trackEcsDeployment(input, deps());

  idem.config.registerLambdaContext(context);
  const result = await track(input);
  const restarted = result.recorded.filter((r) => r.status === "Success").length;
  if (restarted > 0) metrics.addMetric("EcsServicesRestarted", MetricUnit.Count, restarted);
  if (result.halted) metrics.addMetric("RolloutHalted", MetricUnit.Count, 1);
  if (result.rolloutStatus === "succeeded" && result.recorded.length > 0)
    metrics.addMetric("RolloutCompleted", MetricUnit.Count, 1);
  logger.info("ECS deployment tracked", { ...result, recorded: result.recorded.length });
  return result;
})
  .use(injectLambdaContext(logger))
  .use(logMetrics(metrics));
