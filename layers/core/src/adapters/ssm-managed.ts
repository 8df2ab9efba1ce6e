import { DescribeInstanceInformationCommand, type SSMClient } from "@aws-sdk/client-ssm";
import type { ManagedInstances } from "../ports/index.ts";
import { isUnsupportedOperation } from "./ec2.ts";

/** DescribeInstanceInformation accepts at most 50 ids per InstanceIds filter. */
const IDS_PER_FILTER = 50;

export class SsmManagedInstances implements ManagedInstances {
  constructor(private readonly ssm: SSMClient) {}

  async managedIds(instanceIds: string[]): Promise<Set<string> | undefined> {
    const managed = new Set<string>();
    try {
      for (let i = 0; i < instanceIds.length; i += IDS_PER_FILTER) {
        let token: string | undefined;
        do {
          const out = await this.ssm.send(
            new DescribeInstanceInformationCommand({
              Filters: [{ Key: "InstanceIds", Values: instanceIds.slice(i, i + IDS_PER_FILTER) }],
              MaxResults: 50,
              NextToken: token,
            }),
          );
          for (const info of out.InstanceInformationList ?? [])
            if (info.InstanceId && info.PingStatus === "Online") managed.add(info.InstanceId);
          token = out.NextToken;
        } while (token);
      }
    } catch (err) {
      if (isUnsupportedOperation(err)) return undefined;
      throw err;
    }
    return managed;
  }
}
