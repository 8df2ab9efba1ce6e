// Real adapters against moto, wired the way the handlers wire them, plus the SSM harness for moto's traps.
import { Agent } from "node:http";
import { CreateTableCommand, DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { ApiCallCounter, attachCounter, createClients } from "#core/adapters/clients";
import { CoalescingRolloutStore } from "#core/adapters/rollout-store";
import { SsmParameterStore } from "#core/adapters/ssm";
import { loadConfig } from "#core/app/config";
import { trackRestart } from "#core/app/track-restart";
import { type FleetDeps, fleetDeps } from "#core/shell/fleet-deps";
import { type SeededFleet, seedFleet } from "../../scripts/lib/fleet.ts";
import { handlerEnv, IDEMPOTENCY_TABLE, ROLLOUT_TABLE } from "./fixtures.ts";
import { attachSsmHarness, type SsmHarness } from "./ssm-harness.ts";

export { IDEMPOTENCY_TABLE, ROLLOUT_TABLE };

/**
 * The rollout policy tests' fleet: `database` (wave 0, 2 hosts) and `api` (wave 1, 3 hosts) share the database
 * master secret; the tables are created. Every rotation of it is a two-wave rollout.
 */
export async function seedTwoWaveFleet(namespace: string): Promise<SeededFleet> {
  const fleet = await seedFleet({
    namespace,
    sharedSecret: { consumers: ["database", "api"] },
    services: [
      { name: "database", wave: 0, hosts: 2 },
      { name: "api", wave: 1, hosts: 3 },
    ],
  });
  await createTables(new DynamoDBClient({}));
  return fleet;
}

export async function createTables(dynamo: DynamoDBClient): Promise<void> {
  for (const [name, key] of [
    [ROLLOUT_TABLE, "pk"],
    [IDEMPOTENCY_TABLE, "id"],
  ] as const) {
    try {
      await dynamo.send(
        new CreateTableCommand({
          TableName: name,
          BillingMode: "PAY_PER_REQUEST",
          AttributeDefinitions: [{ AttributeName: key, AttributeType: "S" }],
          KeySchema: [{ AttributeName: key, KeyType: "HASH" }],
        }),
      );
    } catch (err) {
      if ((err as Error).name !== "ResourceInUseException") throw err;
    }
  }
}

export interface Wired {
  deps: FleetDeps;
  counter: ApiCallCounter;
  harness: SsmHarness;
}

/** One socket to moto for every DynamoDB client of the test process (see serialDynamo). */
const ONE_AT_A_TIME = new Agent({ keepAlive: true, maxSockets: 1 });

/**
 * A DynamoDB client whose requests reach moto one at a time. moto applies concurrent UpdateItems to one item without a
 * lock (a conditional write can pass twice, an ADD can be lost); DynamoDB applies each update atomically. With one
 * socket per process moto sees what DynamoDB guarantees per item, while the callers (concurrent deliveries) still race.
 */
export function serialDynamo(counter?: ApiCallCounter): DynamoDBClient {
  const client = new DynamoDBClient({ requestHandler: { httpAgent: ONE_AT_A_TIME }, maxAttempts: 4 });
  return counter ? attachCounter(client, counter) : client;
}

/** Fresh adapters (fresh memo caches) with one call counter across every client. */
export function wire(
  fleet: SeededFleet,
  opts: {
    iam?: "bulk" | "targeted";
    dryRun?: boolean;
    iamMode?: "report" | "quarantine";
    /** Share one counter across several wirings (concurrent deliveries). */
    counter?: ApiCallCounter;
  } = {},
): Wired {
  const counter = opts.counter ?? new ApiCallCounter();
  // Object-literal getters are configurable: the DynamoDB one is replaced by the serialized client.
  const clients = Object.defineProperty(createClients({ counter }), "dynamodb", { value: serialDynamo(counter) });
  const harness = attachSsmHarness(clients.ssm);
  const config = loadConfig(
    handlerEnv(fleet, { DCP_DRY_RUN: opts.dryRun ? "true" : "false", DCP_IAM_MODE: opts.iamMode ?? "report" }),
  );
  const deps = fleetDeps(config, {
    clients,
    // As the rotation function and the reconciler wire it: rotations in a coalescing window join a batch.
    rollouts: new CoalescingRolloutStore(clients.dynamodb, ROLLOUT_TABLE),
    policies: opts.iam ?? "bulk",
    // Tests change the manifest between steps: read it fresh every time.
    params: new SsmParameterStore(clients.ssm),
  });
  return { deps, counter, harness };
}

/** SSM's Success event, through the tracker, for every host of every command `w` has sent so far (the engine ignores repeats). */
export async function succeedSent(w: Wired, documentName: string): Promise<void> {
  for (const c of w.harness.sent())
    for (const id of c.instanceIds)
      await trackRestart({ commandId: c.commandId, documentName, instanceId: id, status: "Success" }, w.deps);
}
