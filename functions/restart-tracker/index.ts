import { makeIdempotent } from "@aws-lambda-powertools/idempotency";
import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import { logMetrics } from "@aws-lambda-powertools/metrics/middleware";
import middy from "@middy/core";
import type { Context } from "aws-lambda";
import { dynamodbClient, ec2Client, ecsClient, ssmClient } from "#core/adapters/clients";
import { Ec2FleetInventory } from "#core/adapters/ec2";
import { DynamoRolloutStore } from "#core/adapters/rollout-store";
import { SsmCommandRunner } from "#core/adapters/ssm";
import { loadConfig } from "#core/app/config";
import { type Deps, unavailable } from "#core/app/deps";
import { type TrackInput, type TrackResult, trackRestart } from "#core/app/track-restart";
import { describeIssues, SsmStatusEvent } from "#core/domain/events";
import { ecsDeps } from "#core/shell/fleet-deps";
import { foreignOrigin, idempotency, MetricUnit, powertools, type Rejected, reject } from "#core/shell/lambda";

const { logger, metrics } = powertools("restart-tracker");
const config = loadConfig();
const dynamo = dynamodbClient();
const ssm = ssmClient();
const ecs = ecsClient();

function deps(): Deps {
  if (!config.rolloutTable) throw new Error("configuration error: DCP_ROLLOUT_TABLE is not set");
  return {
    config,
    inventory: new Ec2FleetInventory(ec2Client()),
    commands: new SsmCommandRunner(ssm),
    rollouts: new DynamoRolloutStore(dynamo, config.rolloutTable),
    // The next wave may hold ECS services: one new deployment each.
    ...ecsDeps({ ecs, dynamodb: dynamo }, config),
    policies: unavailable("PolicyStore"),
    secrets: unavailable("SecretCatalog"),
    params: unavailable("ParameterStore"),
    now: () => new Date(),
  };
}

/** Keyed on (command, instance, status): a re-delivered status change is recorded once. */
const idem = idempotency(dynamo, config.idempotencyTable, "[commandId, scope, status]");
const track = makeIdempotent(
  ({ scope: _scope, ...input }: TrackInput & { scope: string }): Promise<TrackResult> => trackRestart(input, deps()),
  idem,
);

export const handler = middy(async (event: unknown, context: Context): Promise<TrackResult | Rejected> => {
  const parsed = SsmStatusEvent.safeParse(event);
  if (!parsed.success)
    return reject(logger, metrics, `not an SSM command status event: ${describeIssues(parsed.error)}`);
  const foreign = foreignOrigin(parsed.data, context);
  if (foreign) return reject(logger, metrics, foreign);
  const d = parsed.data.detail;
  const input: TrackInput = {
    commandId: d["command-id"],
    documentName: d["document-name"],
    status: d.status,
    ...(d["instance-id"] ? { instanceId: d["instance-id"] } : {}),
  };
  if (input.documentName !== config.restartDocument) return trackRestart(input, deps());

  idem.config.registerLambdaContext(context);
  const result = await track({ ...input, scope: input.instanceId ?? "command" });
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
