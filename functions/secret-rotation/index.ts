import { makeIdempotent } from "@aws-lambda-powertools/idempotency";
import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import { logMetrics } from "@aws-lambda-powertools/metrics/middleware";
import middy from "@middy/core";
import type { Context } from "aws-lambda";
import { CachedParameterStore } from "#core/adapters/cached-parameters";
import { createClients } from "#core/adapters/clients";
import { loadConfig } from "#core/app/config";
import type { Deps } from "#core/app/deps";
import { loadManifest } from "#core/app/manifest-source";
import { confirmRotation, isFact, type RotationFact, type RotationResult, startRollout } from "#core/app/rotate-secret";
import { describeIssues, SecretEvent } from "#core/domain/events";
import { classifyRotationEvent } from "#core/domain/rotation";
import { fleetDeps } from "#core/shell/fleet-deps";
import { foreignOrigin, idempotency, MetricUnit, powertools, type Rejected, reject } from "#core/shell/lambda";

const { logger, metrics } = powertools("secret-rotation");
const config = loadConfig();
const clients = createClients();
const params = new CachedParameterStore(clients.ssm);

function deps(): Deps {
  if (!config.rolloutTable) throw new Error("configuration error: DCP_ROLLOUT_TABLE is not set");
  // Fleet-wide work: one paginated GetAccountAuthorizationDetails instead of reads per role.
  return fleetDeps(config, { clients, params, policies: "bulk" });
}

/** Keyed on the business fact (secret ARN, AWSCURRENT version), not the event id: every trigger for one rotation agrees. */
const idem = idempotency(clients.dynamodb, config.idempotencyTable, "[secretArn, versionId]");
const rollout = makeIdempotent(
  async (fact: RotationFact, requestId: string): Promise<RotationResult & { firstRequestId: string }> => {
    const d = deps();
    const manifest = await loadManifest(d.params, config);
    return { ...asRecord(await startRollout(fact, manifest, d, { dryRun: false })), firstRequestId: requestId };
  },
  { ...idem, dataIndexArgument: 0 },
);

/** Above this many planned hosts the result names waves and commands without their ids (see asRecord). */
export const RECORD_MAX_IDS = 2000;

/**
 * The result as the idempotency record keeps it (and a duplicate delivery gets it back). A DynamoDB item stops at
 * 400 KB and a 10,000-host plan's ids alone are ≈ 250 KB, so a large rollout's result keeps its shape but drops the
 * ids; the rollout store holds them all (`dcp rollout status <id>`).
 */
export function asRecord(r: RotationResult): RotationResult {
  const ids = r.plan.waves.reduce((n, w) => n + w.instanceIds.length, 0);
  if (ids <= RECORD_MAX_IDS) return r;
  return {
    ...r,
    reason: `${r.reason} (${ids} hosts: ids in rollout ${r.rolloutId}, see dcp rollout status)`,
    plannedHosts: ids,
    plan: {
      waves: r.plan.waves.map((w) => ({ ...w, instanceIds: [] })),
      skipped: r.plan.skipped.slice(0, 100),
    },
    commands: r.commands.map((c) => ({ ...c, instanceIds: [] })),
  };
}

export const handler = middy(async (event: unknown, context: Context): Promise<RotationResult | Rejected> => {
  const parsed = SecretEvent.safeParse(event);
  if (!parsed.success) return reject(logger, metrics, `not a Secrets Manager event: ${describeIssues(parsed.error)}`);
  const foreign = foreignOrigin(parsed.data, context);
  if (foreign) return reject(logger, metrics, foreign);

  const d = deps();
  const manifest = await loadManifest(d.params, config);
  const fact = await confirmRotation(classifyRotationEvent(parsed.data), manifest, d);
  let result: RotationResult;
  if (!isFact(fact)) result = fact;
  else if (config.dryRun) result = await startRollout(fact, manifest, d, { dryRun: true });
  else {
    idem.config.registerLambdaContext(context);
    const { firstRequestId, ...r } = await rollout(fact, context.awsRequestId);
    // Powertools hands back the stored result for a repeat: say so instead of claiming a second restart.
    result =
      firstRequestId === context.awsRequestId
        ? r
        : { ...r, action: "duplicate", reason: "already handled for this version", commands: [] };
  }

  if (result.action === "ignored") metrics.addMetric("RotationIgnored", MetricUnit.Count, 1);
  if (result.action === "restart") metrics.addMetric("RolloutStarted", MetricUnit.Count, 1);
  logger.info("rotation handled", {
    action: result.action,
    reason: result.reason,
    trigger: result.trigger,
    secretArn: result.secretArn,
    versionId: result.versionId,
    rolloutId: result.rolloutId,
    hosts: result.plannedHosts ?? result.plan.waves.reduce((n, w) => n + w.instanceIds.length, 0),
    commands: result.commands.length,
  });
  return result;
})
  .use(injectLambdaContext(logger))
  .use(logMetrics(metrics));
