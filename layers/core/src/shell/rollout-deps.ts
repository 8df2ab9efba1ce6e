// Wiring of the rollout engine's functions (tracker, reconciler): only the ports their roles allow.
import { cloudwatchClient, dynamodbClient, ec2Client, ssmClient } from "../adapters/clients.ts";
import { Ec2FleetInventory } from "../adapters/ec2.ts";
import { AwsGateSignals } from "../adapters/gates.ts";
import { DynamoRolloutStore } from "../adapters/rollout-store.ts";
import { SsmCommandRunner } from "../adapters/ssm.ts";
import type { Config } from "../app/config.ts";
import type { EngineDeps } from "../app/rollout-engine.ts";

/** Clients are made once per cold start; the returned function fails loudly when the rollout table is not set. */
export function rolloutDeps(config: Config): () => EngineDeps {
  const dynamo = dynamodbClient();
  const ssm = ssmClient();
  let deps: EngineDeps | undefined;
  return () => {
    if (!config.rolloutTable) throw new Error("configuration error: DCP_ROLLOUT_TABLE is not set");
    deps ??= {
      config,
      inventory: new Ec2FleetInventory(ec2Client()),
      commands: new SsmCommandRunner(ssm, { timeoutSeconds: config.timings.deliveryTimeoutSeconds }),
      rollouts: new DynamoRolloutStore(dynamo, config.rolloutTable),
      signals: new AwsGateSignals(cloudwatchClient(), ssm),
      now: () => new Date(),
    };
    return deps;
  };
}
