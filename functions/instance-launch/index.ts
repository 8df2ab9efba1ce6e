import { makeIdempotent } from "@aws-lambda-powertools/idempotency";
import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import { logMetrics } from "@aws-lambda-powertools/metrics/middleware";
import middy from "@middy/core";
import type { Context } from "aws-lambda";
import { CachedParameterStore } from "#core/adapters/cached-parameters";
import { cloudwatchClient, dynamodbClient, ec2Client, iamClient, ssmClient } from "#core/adapters/clients";
import { CloudWatchImdsUsage } from "#core/adapters/cloudwatch";
import { Ec2FleetInventory } from "#core/adapters/ec2";
import { TargetedPolicyStore } from "#core/adapters/iam";
import { loadConfig } from "#core/app/config";
import { type Deps, unavailable } from "#core/app/deps";
import { type GuardResult, guardHost } from "#core/app/guard-host";
import { loadManifest } from "#core/app/manifest-source";
import { describeIssues, Ec2StateChangeEvent } from "#core/domain/events";
import { foreignOrigin, idempotency, MetricUnit, powertools, type Rejected, reject } from "#core/shell/lambda";

const { logger, metrics } = powertools("instance-launch");
const config = loadConfig();
const ec2 = ec2Client();
const iam = iamClient();
const params = new CachedParameterStore(ssmClient());
const usage = new CloudWatchImdsUsage(cloudwatchClient());
/** Role policies are cached across warm invocations for a few minutes: a launch burst reads each role once. */
const POLICY_TTL_MS = 5 * 60_000;
let policies = { store: new TargetedPolicyStore(iam), at: Date.now() };

function deps(): Deps {
  if (Date.now() - policies.at > POLICY_TTL_MS) policies = { store: new TargetedPolicyStore(iam), at: Date.now() };
  return {
    config,
    inventory: new Ec2FleetInventory(ec2),
    policies: policies.store,
    params,
    secrets: unavailable("SecretCatalog"),
    commands: unavailable("CommandRunner"),
    rollouts: unavailable("RolloutStore"),
    now: () => new Date(),
  };
}

/** Keyed on (instance, state): a re-delivered launch event guards once. */
const idem = idempotency(dynamodbClient(), config.idempotencyTable, "[instanceId, state]");
const guard = makeIdempotent(async (fact: { instanceId: string; state: string }): Promise<GuardResult> => {
  const d = deps();
  const manifest = await loadManifest(d.params, config.manifestParam, config.namespace);
  return guardHost(fact.instanceId, manifest, d, { dryRun: config.dryRun, usage });
}, idem);

export const handler = middy(async (event: unknown, context: Context): Promise<GuardResult | Rejected> => {
  const parsed = Ec2StateChangeEvent.safeParse(event);
  if (!parsed.success) return reject(logger, metrics, `not an EC2 state-change event: ${describeIssues(parsed.error)}`);
  const foreign = foreignOrigin(parsed.data, context);
  if (foreign) return reject(logger, metrics, foreign);
  const { "instance-id": instanceId, state } = parsed.data.detail;
  if (state !== "pending" && state !== "running") return reject(logger, metrics, `state ${state} is not a launch`);

  idem.config.registerLambdaContext(context);
  const result = await guard({ instanceId, state });
  metrics.addMetric("LaunchGuarded", MetricUnit.Count, 1);
  if (result.imds.changed) metrics.addMetric("ImdsRemediated", MetricUnit.Count, 1);
  if (result.iam.verdict === "violation") metrics.addMetric("IamScopeViolation", MetricUnit.Count, 1);
  logger.info("launch guarded", {
    instanceId,
    service: result.service,
    status: result.status,
    imdsAction: result.imds.action,
    iamVerdict: result.iam.verdict,
    findings: result.findings.length,
  });
  return result;
})
  .use(injectLambdaContext(logger))
  .use(logMetrics(metrics));
