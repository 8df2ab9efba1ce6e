// Imperative shell shared by the handlers: Powertools logger/metrics, origin checks. (Idempotency is a port:
// adapters/idempotency.ts, imported only by the handlers that use it, so the others carry no JMESPath engine.)
import { Logger } from "@aws-lambda-powertools/logger";
import { Metrics, MetricUnit } from "@aws-lambda-powertools/metrics";
import type { Context } from "aws-lambda";
import { describeIssues, shown } from "../domain/events.ts";

export { MetricUnit, shown };

export function powertools(serviceName: string): { logger: Logger; metrics: Metrics } {
  const logger = new Logger({ serviceName });
  const metrics = new Metrics({
    serviceName,
    namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? "DelphiControlPlane",
  });
  return { logger, metrics };
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

/**
 * Parses an EventBridge event for a handler: the schema's output, or why it is not ours (malformed, or for another
 * account or region: see foreignOrigin) for the handler to `reject`.
 */
export function accept<T extends { account?: unknown; region?: unknown }>(
  schema: { safeParse(v: unknown): { success: true; data: T } | { success: false; error: unknown } },
  event: unknown,
  context: Pick<Context, "invokedFunctionArn">,
  what: string,
): { event: T } | { reason: string } {
  const parsed = schema.safeParse(event);
  if (!parsed.success) return { reason: `not ${what}: ${describeIssues(parsed.error as never)}` };
  const foreign = foreignOrigin(parsed.data, context);
  return foreign ? { reason: foreign } : { event: parsed.data };
}

/** Emits each count above zero as a Count metric (a dimensionless count of nothing says nothing). */
export function addCounts(metrics: Metrics, counts: Record<string, number>): void {
  for (const [name, n] of Object.entries(counts)) if (n > 0) metrics.addMetric(name, MetricUnit.Count, n);
}

/**
 * A tracker delivery's report: `restartedMetric` counts the targets this delivery recorded as restarted, plus
 * RolloutHalted and RolloutCompleted (only the delivery that recorded the last outcome counts it), and one log line
 * with the result (`recorded` as a count: a wave's outcomes can be many). Returns the result unchanged.
 */
export function reportTracked<
  R extends { recorded: { status: string }[]; halted: string | null; rolloutStatus: string | null },
>(logger: Logger, metrics: Metrics, restartedMetric: string, message: string, result: R): R {
  addCounts(metrics, {
    [restartedMetric]: result.recorded.filter((r) => r.status === "Success").length,
    RolloutHalted: result.halted ? 1 : 0,
    RolloutCompleted: result.rolloutStatus === "succeeded" && result.recorded.length > 0 ? 1 : 0,
  });
  logger.info(message, { ...result, recorded: result.recorded.length });
  return result;
}

export function reject(logger: Logger, metrics: Metrics, reason: string): Rejected {
  logger.warn("event rejected", { reason });
  metrics.addMetric("EventsRejected", MetricUnit.Count, 1);
  return { action: "rejected", reason };
}
