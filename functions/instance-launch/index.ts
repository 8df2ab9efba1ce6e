import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import { logMetrics } from "@aws-lambda-powertools/metrics/middleware";
import middy from "@middy/core";
import type { Context } from "aws-lambda";
import { CachedParameterStore } from "#core/adapters/cached-parameters";
import { cloudwatchClient, dynamodbClient, ec2Client, iamClient, ssmClient } from "#core/adapters/clients";
import { CloudWatchImdsUsage } from "#core/adapters/cloudwatch";
import { Ec2FleetInventory } from "#core/adapters/ec2";
import { TargetedPolicyStore } from "#core/adapters/iam";
import { PowertoolsIdempotency } from "#core/adapters/idempotency";
import { INSTANCE_LAUNCH_USES } from "#core/adapters/permissions";
import { loadConfig } from "#core/app/config";
import { guardLaunch, type LaunchResult } from "#core/app/guard-launch";
import { Ec2StateChangeEvent } from "#core/domain/events";
import { accept, addCounts, powertools, type Rejected, reject } from "#core/shell/lambda";
import { portsFor } from "#core/shell/ports-for";

const { logger, metrics } = powertools("instance-launch");
const config = loadConfig();
const idempotency = new PowertoolsIdempotency(dynamodbClient(), config.idempotencyTable);
// Role policies are kept five minutes across warm invocations: a launch burst reads each role once.
const deps = portsFor(
  "InstanceLaunchFunction",
  INSTANCE_LAUNCH_USES,
  {
    inventory: new Ec2FleetInventory(ec2Client()),
    policies: new TargetedPolicyStore(iamClient(), 5 * 60_000),
    params: new CachedParameterStore(ssmClient()),
    usage: new CloudWatchImdsUsage(cloudwatchClient()),
    idempotency,
  },
  { config, now: () => new Date() },
);

export const handler = middy(async (event: unknown, context: Context): Promise<LaunchResult | Rejected> => {
  const accepted = accept(Ec2StateChangeEvent, event, context, "an EC2 state-change event");
  if ("reason" in accepted) return reject(logger, metrics, accepted.reason);
  const { "instance-id": instanceId, state } = accepted.event.detail;
  if (state !== "pending" && state !== "running") return reject(logger, metrics, `state ${state} is not a launch`);
  idempotency.registerLambdaContext(context);
  const result = await guardLaunch({ instanceId, state }, deps);
  const { service, status, duplicate, imds, iam } = result;
  const once = duplicate ? 0 : 1;
  addCounts(metrics, {
    LaunchGuarded: once,
    ImdsRemediated: imds.changed ? once : 0,
    IamScopeViolation: iam.verdict === "violation" ? once : 0,
  });
  logger.info("launch guarded", { instanceId, service, status, duplicate, imds: imds.action, iam: iam.verdict });
  return result;
})
  .use(injectLambdaContext(logger))
  .use(logMetrics(metrics));
