// Idempotency port over Powertools for AWS Lambda (TypeScript) idempotency with its DynamoDB persistence layer:
// records keyed on the hashed business fact, in progress while the work runs (a concurrent duplicate fails with
// IdempotencyAlreadyInProgressError and is retried by EventBridge), completed with the result, expired by TTL.
import { randomUUID } from "node:crypto";
import { IdempotencyConfig, makeIdempotent } from "@aws-lambda-powertools/idempotency";
import { DynamoDBPersistenceLayer } from "@aws-lambda-powertools/idempotency/dynamodb";
import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import type { Context } from "aws-lambda";
import type { Idempotency } from "../ports/index.ts";

/** Seven days: longer than any EventBridge retry window (24 h) and any delayed redelivery we have seen. */
export const IDEMPOTENCY_TTL_SECONDS = 7 * 24 * 3600;

/** Powertools stores what the work returned plus a token naming the delivery that ran it. */
interface Stored {
  result: unknown;
  token: string;
}

export class PowertoolsIdempotency implements Idempotency {
  private readonly config: IdempotencyConfig;
  private readonly run: (key: Record<string, string>, token: string, work: () => Promise<unknown>) => Promise<Stored>;

  /** `table`: DCP_IDEMPOTENCY_TABLE; throws at cold start when it is missing (idempotency is mandatory). */
  constructor(client: DynamoDBClient, table: string | undefined, expiresAfterSeconds = IDEMPOTENCY_TTL_SECONDS) {
    if (!table)
      throw new Error(
        "configuration error: DCP_IDEMPOTENCY_TABLE is not set (idempotency is mandatory for mutating handlers)",
      );
    this.config = new IdempotencyConfig({ expiresAfterSeconds, throwOnNoIdempotencyKey: true });
    this.run = makeIdempotent(
      async (_key: Record<string, string>, token: string, work: () => Promise<unknown>): Promise<Stored> => ({
        result: await work(),
        token,
      }),
      {
        persistenceStore: new DynamoDBPersistenceLayer({ tableName: table, awsSdkV3Client: client }),
        config: this.config,
        dataIndexArgument: 0,
      },
    );
  }

  /** Lets Powertools bound an in-progress record by the invocation's remaining time (a timed-out run is retried). */
  registerLambdaContext(context: Context): void {
    this.config.registerLambdaContext(context);
  }

  async once<T>(key: Record<string, string>, work: () => Promise<T>): Promise<{ result: T; duplicate: boolean }> {
    const token = randomUUID();
    const stored = await this.run(key, token, work);
    return { result: stored.result as T, duplicate: stored.token !== token };
  }
}
