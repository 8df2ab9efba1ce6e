// ImdsUsage over CloudWatch GetMetricData (SDK v3).
import { type CloudWatchClient, GetMetricDataCommand, type MetricDataQuery } from "@aws-sdk/client-cloudwatch";
import type { ImdsUsage } from "../ports/index.ts";

/** GetMetricData takes at most 500 metric queries per call (CloudWatch API reference, GetMetricData). */
export const METRIC_QUERIES_PER_CALL = 500;
const DAY_SECONDS = 86_400;

/** `AWS/EC2 MetadataNoToken` per instance: IMDSv1 calls (SDK fallbacks included), one daily sum per day. */
export class CloudWatchImdsUsage implements ImdsUsage {
  constructor(private readonly cw: CloudWatchClient) {}

  async noTokenCalls(instanceIds: string[], days: number, now: Date): Promise<Map<string, number>> {
    const calls = new Map<string, number>();
    const start = new Date(now.getTime() - days * DAY_SECONDS * 1000);
    for (let i = 0; i < instanceIds.length; i += METRIC_QUERIES_PER_CALL) {
      const batch = instanceIds.slice(i, i + METRIC_QUERIES_PER_CALL);
      // Query ids must start with a lower-case letter: q<index>, mapped back to the instance.
      const queries: MetricDataQuery[] = batch.map((id, n) => ({
        Id: `q${n}`,
        MetricStat: {
          Metric: {
            Namespace: "AWS/EC2",
            MetricName: "MetadataNoToken",
            Dimensions: [{ Name: "InstanceId", Value: id }],
          },
          Period: DAY_SECONDS,
          Stat: "Sum",
        },
        ReturnData: true,
      }));
      let token: string | undefined;
      do {
        const out = await this.cw.send(
          new GetMetricDataCommand({ MetricDataQueries: queries, StartTime: start, EndTime: now, NextToken: token }),
        );
        for (const r of out.MetricDataResults ?? []) {
          const id = batch[Number(r.Id?.slice(1))];
          if (id === undefined) continue;
          const sum = (r.Values ?? []).reduce((a, b) => a + b, 0);
          calls.set(id, (calls.get(id) ?? 0) + sum);
        }
        token = out.NextToken || undefined;
      } while (token);
      for (const id of batch) if (!calls.has(id)) calls.set(id, 0);
    }
    return calls;
  }
}
