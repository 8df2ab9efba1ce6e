// FleetInventory over EC2 (SDK v3).
import {
  CreateLaunchTemplateVersionCommand,
  CreateTagsCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  type DescribeInstancesCommandOutput,
  DescribeLaunchTemplatesCommand,
  DescribeLaunchTemplateVersionsCommand,
  type EC2Client,
  GetInstanceMetadataDefaultsCommand,
  type Instance,
  type InstanceMetadataOptionsResponse,
  type LaunchTemplate,
  ModifyInstanceMetadataDefaultsCommand,
  ModifyInstanceMetadataOptionsCommand,
  ModifyLaunchTemplateCommand,
  type RequestLaunchTemplateData,
} from "@aws-sdk/client-ec2";
import type { DesiredImds } from "../domain/imds.ts";
import type { AccountImdsDefaults, LaunchTemplateFact } from "../domain/imds-sources.ts";
import type { Host, ImdsOptions, InstanceState } from "../domain/model.ts";
import type { FleetInventory, ImdsSources } from "../ports/index.ts";

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
  if (i.ImageId) host.imageId = i.ImageId;
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

  async imdsDefaults(): Promise<AccountImdsDefaults | undefined> {
    try {
      const out = await this.ec2.send(new GetInstanceMetadataDefaultsCommand({}));
      const d = out.AccountLevel;
      const res: AccountImdsDefaults = {};
      if (d?.HttpTokens === "required" || d?.HttpTokens === "optional") res.httpTokens = d.HttpTokens;
      if (d?.HttpPutResponseHopLimit !== undefined && d.HttpPutResponseHopLimit > 0)
        res.hopLimit = d.HttpPutResponseHopLimit;
      if (d?.HttpEndpoint === "enabled" || d?.HttpEndpoint === "disabled") res.httpEndpoint = d.HttpEndpoint;
      if (d?.ManagedBy === "account" || d?.ManagedBy === "declarative-policy") res.managedBy = d.ManagedBy;
      if (d?.ManagedExceptionMessage) res.managedExceptionMessage = d.ManagedExceptionMessage;
      return res;
    } catch (err) {
      if (isUnsupportedOperation(err)) return undefined;
      throw err;
    }
  }
}

const tagsOf = (tags: { Key?: string; Value?: string }[] | undefined): Record<string, string> =>
  Object.fromEntries((tags ?? []).filter((t) => t.Key !== undefined).map((t) => [t.Key, t.Value ?? ""]));

/** ImdsSources over EC2: account defaults, launch templates, AMIs. */
export class Ec2ImdsSources implements ImdsSources {
  constructor(private readonly ec2: EC2Client) {}

  async setAccountDefaults(desired: DesiredImds): Promise<void> {
    await this.ec2.send(
      new ModifyInstanceMetadataDefaultsCommand({
        HttpTokens: desired.httpTokens,
        HttpPutResponseHopLimit: desired.hopLimit,
        HttpEndpoint: desired.httpEndpoint,
      }),
    );
  }

  async launchTemplates(ids: string[], tagKey: string, namespace: string): Promise<LaunchTemplateFact[]> {
    const found = new Map<string, LaunchTemplate>();
    const list = async (input: ConstructorParameters<typeof DescribeLaunchTemplatesCommand>[0]) => {
      let token: string | undefined;
      do {
        const out = await this.ec2.send(new DescribeLaunchTemplatesCommand({ ...input, NextToken: token }));
        for (const t of out.LaunchTemplates ?? []) if (t.LaunchTemplateId) found.set(t.LaunchTemplateId, t);
        token = out.NextToken || undefined;
      } while (token);
    };
    await list({ Filters: [{ Name: `tag:${tagKey}`, Values: [namespace] }] });
    // One by one: a single template deleted since its hosts launched must not hide the others (NotFound).
    for (const id of ids.filter((i) => !found.has(i)))
      try {
        await list({ LaunchTemplateIds: [id] });
      } catch (err) {
        if (!/NotFound|Malformed/.test((err as Error).name)) throw err;
      }
    const facts: LaunchTemplateFact[] = [];
    for (const t of found.values()) {
      const out = await this.ec2.send(
        new DescribeLaunchTemplateVersionsCommand({ LaunchTemplateId: t.LaunchTemplateId, Versions: ["$Default"] }),
      );
      const v = out.LaunchTemplateVersions?.[0];
      const o = v?.LaunchTemplateData?.MetadataOptions;
      const metadata: LaunchTemplateFact["metadata"] = {};
      if (o?.HttpTokens) metadata.httpTokens = o.HttpTokens;
      if (o?.HttpPutResponseHopLimit) metadata.hopLimit = o.HttpPutResponseHopLimit;
      if (o?.HttpEndpoint) metadata.httpEndpoint = o.HttpEndpoint;
      facts.push({
        id: t.LaunchTemplateId ?? "",
        name: t.LaunchTemplateName ?? "",
        defaultVersion: t.DefaultVersionNumber ?? v?.VersionNumber ?? 1,
        latestVersion: t.LatestVersionNumber ?? t.DefaultVersionNumber ?? 1,
        tags: tagsOf(t.Tags),
        ...(v?.CreateTime ? { defaultCreatedAt: new Date(v.CreateTime).toISOString() } : {}),
        metadata,
      });
    }
    return facts.sort((a, b) => a.id.localeCompare(b.id));
  }

  async fixLaunchTemplate(templateId: string, fromVersion: number, desired: DesiredImds): Promise<number> {
    const out = await this.ec2.send(
      new DescribeLaunchTemplateVersionsCommand({ LaunchTemplateId: templateId, Versions: [String(fromVersion)] }),
    );
    const data = out.LaunchTemplateVersions?.[0]?.LaunchTemplateData;
    if (!data) throw new Error(`launch template ${templateId} has no version ${fromVersion}`);
    // The full data, not SourceVersion: a version built on a source keeps the source's nested structures, and an
    // emulator may ignore SourceVersion. The response's members are the request's (the serializer drops the rest).
    const next: RequestLaunchTemplateData = {
      ...(data as RequestLaunchTemplateData),
      MetadataOptions: {
        ...data.MetadataOptions,
        HttpTokens: desired.httpTokens,
        HttpPutResponseHopLimit: desired.hopLimit,
        HttpEndpoint: desired.httpEndpoint,
      },
    };
    delete (next.MetadataOptions as { State?: string }).State;
    const created = await this.ec2.send(
      new CreateLaunchTemplateVersionCommand({
        LaunchTemplateId: templateId,
        VersionDescription: `dcp: IMDS tokens ${desired.httpTokens}, hop limit ${desired.hopLimit} (from v${fromVersion})`,
        LaunchTemplateData: next,
      }),
    );
    const version = created.LaunchTemplateVersion?.VersionNumber;
    if (version === undefined) throw new Error(`launch template ${templateId}: no version number in the answer`);
    await this.ec2.send(
      new ModifyLaunchTemplateCommand({ LaunchTemplateId: templateId, DefaultVersion: String(version) }),
    );
    return version;
  }

  async imageImdsSupport(imageIds: string[]): Promise<Map<string, string | undefined>> {
    const support = new Map<string, string | undefined>();
    // DescribeImages by id fails the whole call for one unknown id: ask by filter, which skips unknown ones.
    for (let i = 0; i < imageIds.length; i += 200) {
      const out = await this.ec2.send(
        new DescribeImagesCommand({ Filters: [{ Name: "image-id", Values: imageIds.slice(i, i + 200) }] }),
      );
      for (const img of out.Images ?? [])
        if (img.ImageId) support.set(img.ImageId, (img as { ImdsSupport?: string }).ImdsSupport);
    }
    return support;
  }
}
