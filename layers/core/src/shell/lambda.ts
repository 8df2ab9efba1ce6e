// Imperative shell shared by the four handlers: Powertools logger/metrics/idempotency, origin checks.
import { IdempotencyConfig, makeIdempotent } from "@aws-lambda-powertools/idempotency";
import { DynamoDBPersistenceLayer } from "@aws-lambda-powertools/idempotency/dynamodb";
import { Logger } from "@aws-lambda-powertools/logger";
import { Metrics, MetricUnit } from "@aws-lambda-powertools/metrics";
import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import type { Context } from "aws-lambda";
import { shown } from "../domain/events.ts";
import type { Idempotency } from "../ports/index.ts";

export { MetricUnit, shown };

export function powertools(serviceName: string): { logger: Logger; metrics: Metrics } {
  const logger = new Logger({ serviceName });
  const metrics = new Metrics({
    serviceName,
    namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? "DelphiControlPlane",
  });
  return { logger, metrics };
}

/** Idempotency records in DynamoDB; `keyPath` is a JMESPath over the hashed payload (the business fact). */
export function idempotency(
  client: DynamoDBClient,
  table: string | undefined,
  keyPath: string,
  expiresAfterSeconds = 7 * 24 * 3600,
): { persistenceStore: DynamoDBPersistenceLayer; config: IdempotencyConfig } {
  if (!table)
    throw new Error(
      "configuration error: DCP_IDEMPOTENCY_TABLE is not set (idempotency is mandatory for mutating handlers)",
    );
  return {
    persistenceStore: new DynamoDBPersistenceLayer({ tableName: table, awsSdkV3Client: client }),
    config: new IdempotencyConfig({ eventKeyJmesPath: keyPath, expiresAfterSeconds, throwOnNoIdempotencyKey: true }),
  };
}

/**
 * An event for another account or region is not ours: rejected (recorded, not retried).
 * The account comes from the function's own ARN; local invocations without one skip that check.
 */
export function foreignOrigin(
  event: { account?: unknown; region?: unknown },
  context: Pick<Context, "invokedFunctionArn">,
): string | undefined {
  const region = process.env.AWS_REGION;
  if (region && typeof event.region === "string" && event.region !== region)
    return `event is for region ${shown(event.region)}, this control plane runs in ${region}`;
  const account = /^arn:[^:]+:lambda:[^:]+:(\d{12}):/.exec(context.invokedFunctionArn ?? "")?.[1];
  if (account && typeof event.account === "string" && event.account !== account)
    return `event is for account ${shown(event.account)}, this control plane runs in ${account}`;
  return undefined;
}

/** Poison events are answered, not thrown: a throw would burn the retry budget on an event that can never succeed. */
export interface Rejected {
  action: "rejected";
  reason: string;
}

export function reject(logger: Logger, metrics: Metrics, reason: string): Rejected {
  logger.warn("event rejected", { reason });
  metrics.addMetric("EventsRejected", MetricUnit.Count, 1);
  return { action: "rejected", reason };
}

/**
 * The Idempotency port over Powertools (DynamoDB records keyed on the business fact `key`, TTL 7 days). The first
 * delivery's request id travels in the stored value, so a repeat (another request id) knows it is one.
 */
export function idempotencyPort(client: DynamoDBClient, table: string | undefined): (context: Context) => Idempotency {
  const idem = idempotency(client, table, "key");
  const run = makeIdempotent(
    async (input: { key: Record<string, string>; requestId: string }, fn: () => Promise<object>) => ({
      value: await fn(),
      firstRequestId: input.requestId,
    }),
    { ...idem, dataIndexArgument: 0 },
  );
  return (context) => {
    idem.config.registerLambdaContext(context);
    return {
      once: async <T extends object>(key: Record<string, string>, fn: () => Promise<T>) => {
        const out = await run({ key, requestId: context.awsRequestId }, fn);
        return { value: out.value as T, repeated: out.firstRequestId !== context.awsRequestId };
      },
    };
  };
}
