// FleetInventory over EC2 (SDK v3).
import {
  CreateTagsCommand,
  DescribeInstancesCommand,
  type DescribeInstancesCommandOutput,
  type EC2Client,
  GetInstanceMetadataDefaultsCommand,
  type Instance,
  type InstanceMetadataOptionsResponse,
  ModifyInstanceMetadataOptionsCommand,
} from "@aws-sdk/client-ec2";
import type { Host, ImdsOptions, InstanceState } from "../domain/model.ts";
import type { FleetInventory } from "../ports/index.ts";

/** Fleet states: terminated / shutting-down hosts are not fleet. */
export const FLEET_STATES: InstanceState[] = ["pending", "running", "stopping", "stopped"];
const TAG_CHUNK = 1000;

function mapImds(
  o:
    | Pick<InstanceMetadataOptionsResponse, "HttpTokens" | "HttpPutResponseHopLimit" | "HttpEndpoint" | "State">
    | undefined,
): ImdsOptions {
  const imds: ImdsOptions = {
    // EC2 always answers these; defaults are EC2's own launch defaults when a field is missing.
    httpTokens: o?.HttpTokens === "required" ? "required" : "optional",
    hopLimit: o?.HttpPutResponseHopLimit ?? 1,
    httpEndpoint: o?.HttpEndpoint === "disabled" ? "disabled" : "enabled",
  };
  if (o?.State === "pending" || o?.State === "applied") imds.state = o.State;
  return imds;
}

export function toHost(i: Instance): Host {
  const tags: Record<string, string> = {};
  for (const t of i.Tags ?? []) if (t.Key !== undefined) tags[t.Key] = t.Value ?? "";
  const host: Host = {
    instanceId: i.InstanceId ?? "",
    state: (i.State?.Name ?? "pending") as InstanceState,
    launchTime: i.LaunchTime ? new Date(i.LaunchTime).toISOString() : new Date(0).toISOString(),
    tags,
    imds: mapImds(i.MetadataOptions),
  };
  if (i.IamInstanceProfile?.Arn) host.instanceProfileArn = i.IamInstanceProfile.Arn;
  return host;
}

function instancesOf(out: DescribeInstancesCommandOutput): Instance[] {
  return (out.Reservations ?? []).flatMap((r) => r.Instances ?? []);
}

/**
 * True only for "this endpoint does not implement the operation": a modelled UnsupportedOperation/InvalidAction, or
 * a 5xx/404 whose body is not an AWS error at all (moto answers an HTML 500). Throttling and access errors are
 * modelled AWS errors and are NOT swallowed.
 */
export function isUnsupportedOperation(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (["UnsupportedOperation", "InvalidAction", "NotImplemented", "UnknownOperationException"].includes(err.name))
    return true;
  const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  // XML protocols (EC2) fail as a plain Error; JSON protocols (SSM) as the SyntaxError of JSON.parse on the HTML page.
  const unparsed =
    (err.name === "Error" || err.name === "SyntaxError") &&
    /Deserialization error|XML parse error|not.*implemented/i.test(err.message);
  return unparsed && status !== undefined && (status >= 500 || status === 404);
}

export interface Ec2FleetInventoryOptions {
  /** DescribeInstances MaxResults (5–1000). Default 1000; tests use a small value to exercise paging. */
  pageSize?: number;
}

export class Ec2FleetInventory implements FleetInventory {
  private readonly pageSize: number;

  constructor(
    private readonly ec2: EC2Client,
    opts: Ec2FleetInventoryOptions = {},
  ) {
    this.pageSize = Math.min(1000, Math.max(5, opts.pageSize ?? 1000));
  }

  async describeHost(instanceId: string): Promise<Host | undefined> {
    try {
      const out = await this.ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
      const inst = instancesOf(out).find((i) => i.InstanceId === instanceId);
      return inst ? toHost(inst) : undefined;
    } catch (err) {
      if (err instanceof Error && /^InvalidInstanceID\.(NotFound|Malformed)$/.test(err.name)) return undefined;
      throw err;
    }
  }

  async scanNamespace(tagKey: string, namespace: string, onPage?: (hostsSoFar: number) => void): Promise<Host[]> {
    const hosts: Host[] = [];
    const seen = new Set<string>();
    let token: string | undefined;
    do {
      // MaxResults counts reservations (moto) or instances (EC2): either way NextToken drives the loop.
      const out = await this.ec2.send(
        new DescribeInstancesCommand({
          Filters: [
            { Name: `tag:${tagKey}`, Values: [namespace] },
            { Name: "instance-state-name", Values: FLEET_STATES },
          ],
          MaxResults: this.pageSize,
          NextToken: token,
        }),
      );
      for (const inst of instancesOf(out)) {
        if (!inst.InstanceId || seen.has(inst.InstanceId)) continue;
        seen.add(inst.InstanceId);
        hosts.push(toHost(inst));
      }
      onPage?.(hosts.length);
      token = out.NextToken || undefined;
    } while (token);
    return hosts;
  }

  async modifyImds(instanceId: string, desired: Omit<ImdsOptions, "state">): Promise<ImdsOptions> {
    // Every field in one call: an omitted field may be reset (moto) and a second call could race the first.
    const out = await this.ec2.send(
      new ModifyInstanceMetadataOptionsCommand({
        InstanceId: instanceId,
        HttpTokens: desired.httpTokens,
        HttpPutResponseHopLimit: desired.hopLimit,
        HttpEndpoint: desired.httpEndpoint,
      }),
    );
    const o = out.InstanceMetadataOptions;
    // Fields EC2 did not echo are the ones we just set.
    return mapImds({
      HttpTokens: o?.HttpTokens ?? desired.httpTokens,
      HttpPutResponseHopLimit: o?.HttpPutResponseHopLimit ?? desired.hopLimit,
      HttpEndpoint: o?.HttpEndpoint ?? desired.httpEndpoint,
      State: o?.State,
    });
  }

  async tagHosts(instanceIds: string[], tags: Record<string, string>): Promise<void> {
    const Tags = Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));
    if (instanceIds.length === 0 || Tags.length === 0) return;
    for (let i = 0; i < instanceIds.length; i += TAG_CHUNK) {
      await this.ec2.send(new CreateTagsCommand({ Resources: instanceIds.slice(i, i + TAG_CHUNK), Tags }));
    }
  }

  async imdsDefaults(): Promise<Partial<ImdsOptions> | undefined> {
    try {
      const out = await this.ec2.send(new GetInstanceMetadataDefaultsCommand({}));
      const d = out.AccountLevel;
      const res: Partial<ImdsOptions> = {};
      if (d?.HttpTokens === "required" || d?.HttpTokens === "optional") res.httpTokens = d.HttpTokens;
      if (d?.HttpPutResponseHopLimit !== undefined) res.hopLimit = d.HttpPutResponseHopLimit;
      if (d?.HttpEndpoint === "enabled" || d?.HttpEndpoint === "disabled") res.httpEndpoint = d.HttpEndpoint;
      return res;
    } catch (err) {
      if (isUnsupportedOperation(err)) return undefined;
      throw err;
    }
  }
}
