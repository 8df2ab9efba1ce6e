import {
  DescribeInstanceInformationCommand,
  type InstanceInformationStringFilter,
  type SSMClient,
} from "@aws-sdk/client-ssm";
import {
  MAX_IDS_PER_INSTANCE_INFORMATION_FILTER as IDS_PER_FILTER,
  INSTANCE_INFORMATION_PAGE as PAGE,
  UNREACHABLE_PING_STATUSES,
} from "../domain/ssm.ts";
import type { ManagedInstances } from "../ports/index.ts";
import { isUnsupportedOperation } from "./ec2.ts";

export class SsmManagedInstances implements ManagedInstances {
  constructor(private readonly ssm: SSMClient) {}

  async pingStatus(instanceIds: string[]): Promise<Map<string, string> | undefined> {
    const out = new Map<string, string>();
    for (let i = 0; i < instanceIds.length; i += IDS_PER_FILTER) {
      const page = await this.describe([{ Key: "InstanceIds", Values: instanceIds.slice(i, i + IDS_PER_FILTER) }]);
      if (!page) return undefined;
      for (const [id, ping] of page) out.set(id, ping);
    }
    return out;
  }

  async unreachable(): Promise<Map<string, string> | undefined> {
    return this.describe([{ Key: "PingStatus", Values: [...UNREACHABLE_PING_STATUSES] }]);
  }

  /** Every page of one filtered DescribeInstanceInformation: id → PingStatus. */
  private async describe(filters: InstanceInformationStringFilter[]): Promise<Map<string, string> | undefined> {
    const out = new Map<string, string>();
    try {
      let token: string | undefined;
      do {
        const res = await this.ssm.send(
          new DescribeInstanceInformationCommand({ Filters: filters, MaxResults: PAGE, NextToken: token }),
        );
        for (const info of res.InstanceInformationList ?? [])
          if (info.InstanceId) out.set(info.InstanceId, info.PingStatus ?? "Unknown");
        token = res.NextToken;
      } while (token);
    } catch (err) {
      if (isUnsupportedOperation(err)) return undefined;
      throw err;
    }
    return out;
  }
}
