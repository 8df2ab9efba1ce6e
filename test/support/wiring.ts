// Real adapters against moto, wired the way the handlers wire them, plus the SSM harness for moto's traps.
import { CreateTableCommand, DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { ApiCallCounter, createClients } from "#core/adapters/clients";
import { SsmParameterStore } from "#core/adapters/ssm";
import { loadConfig } from "#core/app/config";
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
  const clients = createClients({ counter });
  const harness = attachSsmHarness(clients.ssm);
  const config = loadConfig(
    handlerEnv(fleet, { DCP_DRY_RUN: opts.dryRun ? "true" : "false", DCP_IAM_MODE: opts.iamMode ?? "report" }),
  );
  const deps = fleetDeps(config, {
    clients,
    policies: opts.iam ?? "bulk",
    // Tests change the manifest between steps: read it fresh every time.
    params: new SsmParameterStore(clients.ssm),
  });
  return { deps, counter, harness };
}

/**
 * moto applies a conditional UpdateItem as read, check, write without a lock: two concurrent requests can both pass a
 * condition DynamoDB lets only one pass, and concurrent `ADD`s to one set can lose a member. Sending this client's
 * requests to moto one at a time restores DynamoDB's per-item atomicity; the callers' logic still interleaves between
 * requests, as concurrent Lambda deliveries do.
 */
export function atomicWrites(client: DynamoDBClient): void {
  let last: Promise<unknown> = Promise.resolve();
  client.middlewareStack.add(
    (next) => async (args) => {
      const turn = last.then(() => next(args));
      last = turn.catch(() => undefined);
      return turn;
    },
    { step: "finalizeRequest", name: "dcpAtomicWrites", override: true },
  );
}
