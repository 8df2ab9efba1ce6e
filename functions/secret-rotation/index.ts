import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import { logMetrics } from "@aws-lambda-powertools/metrics/middleware";
import middy from "@middy/core";
import type { Context } from "aws-lambda";
import { CachedParameterStore } from "#core/adapters/cached-parameters";
import { createClients } from "#core/adapters/clients";
import { PowertoolsIdempotency } from "#core/adapters/idempotency";
import { SECRET_ROTATION_USES } from "#core/adapters/permissions";
import { CoalescingRolloutStore } from "#core/adapters/rollout-store";
import { loadConfig } from "#core/app/config";
import { type RotationResult, rotateSecret } from "#core/app/rotate-secret";
import { SecretEvent } from "#core/domain/events";
import { fleetDeps, wakeupsFor } from "#core/shell/fleet-deps";
import { accept, addCounts, powertools, type Rejected, reject } from "#core/shell/lambda";
import { portsFor } from "#core/shell/ports-for";

const { logger, metrics } = powertools("secret-rotation");
const config = loadConfig();
const clients = createClients();
/** Keyed on the business fact (secret ARN, AWSCURRENT version): every trigger for one rotation agrees. */
const idempotency = new PowertoolsIdempotency(clients.dynamodb, config.idempotencyTable);
// Fleet-wide work: one paginated GetAccountAuthorizationDetails instead of reads per role.
// The rollout store with coalescing batches: a rotation in a coalescing window joins its namespace's batch.
const rollouts = config.rolloutTable ? new CoalescingRolloutStore(clients.dynamodb, config.rolloutTable) : undefined;
const fleet = fleetDeps(config, {
  clients,
  params: new CachedParameterStore(clients.ssm),
  policies: "bulk",
  ...(rollouts ? { rollouts } : {}),
});
// A rollout held for its coalescing window wakes the reconciler when the window ends (one-time schedule).
const deps = portsFor(
  "SecretRotationFunction",
  SECRET_ROTATION_USES,
  { ...fleet, idempotency, ...wakeupsFor(config) },
  fleet,
);

/** Parse → rotateSecret (dry run, duplicates, idempotency inside) → report. */
export const handler = middy(async (event: unknown, context: Context): Promise<RotationResult | Rejected> => {
  const accepted = accept(SecretEvent, event, context, "a Secrets Manager event");
  if ("reason" in accepted) return reject(logger, metrics, accepted.reason);
  if (!config.rolloutTable) throw new Error("configuration error: DCP_ROLLOUT_TABLE is not set");
  idempotency.registerLambdaContext(context);
  const result = await rotateSecret(accepted.event, deps);
  addCounts(metrics, {
    EventsRejected: result.action === "rejected" ? 1 : 0,
    RotationIgnored: result.action === "ignored" ? 1 : 0,
    RolloutStarted: result.action === "restart" ? 1 : 0,
  });
  const { plan, commands, ...summary } = result;
  const targets = result.plannedHosts ?? plan.waves.reduce((n, w) => n + w.targetIds.length, 0);
  logger.info("rotation handled", { ...summary, targets, commands: commands.length });
  return result;
})
  .use(injectLambdaContext(logger))
  .use(logMetrics(metrics));
