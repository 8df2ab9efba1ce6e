import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import { logMetrics } from "@aws-lambda-powertools/metrics/middleware";
import middy from "@middy/core";
import type { Context } from "aws-lambda";
import { CachedParameterStore } from "#core/adapters/cached-parameters";
import { createClients } from "#core/adapters/clients";
import { loadConfig } from "#core/app/config";
import { type RotationResult, rotateSecret } from "#core/app/rotate-secret";
import { describeIssues, SecretEvent } from "#core/domain/events";
import { fleetDeps } from "#core/shell/fleet-deps";
import { foreignOrigin, idempotencyPort, MetricUnit, powertools, type Rejected, reject } from "#core/shell/lambda";

const { logger, metrics } = powertools("secret-rotation");
const config = loadConfig();
const clients = createClients();
const params = new CachedParameterStore(clients.ssm);
/** Keyed on the business fact (secret ARN, AWSCURRENT version), not the event id: every trigger for one rotation agrees. */
const once = idempotencyPort(clients.dynamodb, config.idempotencyTable);

/** Parse → rotateSecret → report. */
export const handler = middy(async (event: unknown, context: Context): Promise<RotationResult | Rejected> => {
  const parsed = SecretEvent.safeParse(event);
  if (!parsed.success) return reject(logger, metrics, `not a Secrets Manager event: ${describeIssues(parsed.error)}`);
  const foreign = foreignOrigin(parsed.data, context);
  if (foreign) return reject(logger, metrics, foreign);
  if (!config.rolloutTable) throw new Error("configuration error: DCP_ROLLOUT_TABLE is not set");
  // Fleet-wide work: one paginated GetAccountAuthorizationDetails instead of reads per role.
  const result = await rotateSecret(
    parsed.data,
    fleetDeps(config, { clients, params, policies: "bulk" }),
    once(context),
  );
  if (result.action === "rejected") metrics.addMetric("EventsRejected", MetricUnit.Count, 1);
  if (result.action === "ignored") metrics.addMetric("RotationIgnored", MetricUnit.Count, 1);
  if (result.action === "restart") metrics.addMetric("RolloutStarted", MetricUnit.Count, 1);
  const { plan, commands, ...summary } = result;
  logger.info("rotation handled", {
    ...summary,
    targets: result.plannedHosts ?? plan.waves.reduce((n, w) => n + w.targetIds.length, 0),
    commands: commands.length,
  });
  return result;
})
  .use(injectLambdaContext(logger))
  .use(logMetrics(metrics));
