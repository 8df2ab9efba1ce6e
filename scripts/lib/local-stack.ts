// The stack's stateful resources on a local AWS: what a function's environment names (the invoker resolves resource
// Refs to logical ids, so the tables are called IdempotencyTable / RolloutTable and the document
// RestartServiceDocument), created as the template declares them. Shared by the demo and `npm run invoke -- --local-aws`.
import { CreateTableCommand } from "@aws-sdk/client-dynamodb";
import { type AwsClients, createClients } from "#core/adapters/clients";
import { createRestartDocument, demoFleetSpec, type SeededFleet, seedFleet } from "./fleet.ts";
import { localAwsEnv, type MotoServer, startMoto } from "./moto.ts";

export interface StackResources {
  idempotencyTable: string;
  rolloutTable: string;
  document: string;
}

/** Creates the idempotency table (key `id`), the rollout table (key `pk`) and the restart document `environment` names. */
export async function createStackResources(
  clients: Pick<AwsClients, "dynamodb" | "ssm">,
  environment: Record<string, string>,
): Promise<StackResources> {
  const res = {
    idempotencyTable: environment.DCP_IDEMPOTENCY_TABLE ?? "IdempotencyTable",
    rolloutTable: environment.DCP_ROLLOUT_TABLE ?? "RolloutTable",
    document: environment.DCP_RESTART_DOCUMENT ?? "RestartServiceDocument",
  };
  for (const [TableName, key] of [
    [res.idempotencyTable, "id"],
    [res.rolloutTable, "pk"],
  ] as const)
    await clients.dynamodb.send(
      new CreateTableCommand({
        TableName,
        AttributeDefinitions: [{ AttributeName: key, AttributeType: "S" }],
        KeySchema: [{ AttributeName: key, KeyType: "HASH" }],
        BillingMode: "PAY_PER_REQUEST",
      }),
    );
  await createRestartDocument(clients.ssm, res.document);
  return res;
}

export interface LocalStack {
  server: MotoServer;
  fleet: SeededFleet;
  resources: StackResources;
  stop(): Promise<void>;
}

/**
 * A local AWS for one function run: moto_server on a free port (this process's AWS_* variables point at it until
 * stop), the demo fleet seeded under the function's namespace, and the stack resources its environment names.
 */
export async function startLocalStack(environment: Record<string, string>): Promise<LocalStack> {
  const server = await startMoto();
  const saved = { ...process.env };
  try {
    Object.assign(process.env, localAwsEnv(server.endpoint));
    const clients = createClients();
    const fleet = await seedFleet(demoFleetSpec(environment.DCP_NAMESPACE), clients);
    const resources = await createStackResources(clients, environment);
    const stop = async () => {
      await server.stop();
      for (const k of Object.keys(localAwsEnv(""))) {
        if (saved[k] === undefined) delete process.env[k];
        else process.env[k] = saved[k];
      }
    };
    return { server, fleet, resources, stop };
  } catch (err) {
    await server.stop();
    throw err;
  }
}
