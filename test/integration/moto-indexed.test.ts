// scripts/lib/moto_indexed.py must not change what moto answers: the same small fleet, built call for call on a
// stock moto_server and on the indexed one, gives the same DescribeInstances (tag filters, by id, paged),
// DescribeTags and tag-filtered DescribeSecurityGroups answers, before and after CreateTags/DeleteTags. Ids are random
// per server, so each is mapped to the name of the resource it was created as.
import { spawnSync } from "node:child_process";
import {
  CreateSecurityGroupCommand,
  CreateTagsCommand,
  DeleteTagsCommand,
  DescribeIamInstanceProfileAssociationsCommand,
  DescribeInstancesCommand,
  DescribeSecurityGroupsCommand,
  DescribeTagsCommand,
  DescribeVolumesCommand,
  EC2Client,
  type Filter,
  type Instance,
  ModifyInstanceMetadataOptionsCommand,
  RunInstancesCommand,
  type Tag,
} from "@aws-sdk/client-ec2";
import {
  AddRoleToInstanceProfileCommand,
  CreateInstanceProfileCommand,
  CreateRoleCommand,
  IAMClient,
} from "@aws-sdk/client-iam";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEMO_AMI } from "../../scripts/lib/fleet.ts";
import { type MotoServer, startMoto } from "../../scripts/lib/moto.ts";

const REGION = "eu-central-1";
const credentials = { accessKeyId: "testing", secretAccessKey: "testing" };

interface Side {
  server: MotoServer;
  ec2: EC2Client;
  /** Server id → stable name ("host3", "host3:/dev/sda1", "sg-web"). */
  names: Map<string, string>;
  /** Stable name → server id. */
  ids: Map<string, string>;
}

async function side(indexedTags: boolean): Promise<Side> {
  const server = await startMoto({ indexedTags });
  const ec2 = new EC2Client({ endpoint: server.endpoint, region: REGION, credentials });
  return { server, ec2, names: new Map(), ids: new Map() };
}

function name(s: Side, name: string, id: string | undefined): void {
  if (!id) throw new Error(`no id for ${name}`);
  s.names.set(id, name);
  s.ids.set(name, id);
}
const idOf = (s: Side, n: string): string => {
  const id = s.ids.get(n);
  if (!id) throw new Error(`unknown resource ${n}`);
  return id;
};
const nameOf = (s: Side, id: string | undefined) => (id === undefined ? "(none)" : (s.names.get(id) ?? `?${id}`));

// The fleet: 3 services × 3 hosts with a role each, one host outside any service, one with a volume tag.
const SERVICES = ["api", "web", "voice"];
interface HostSpec {
  name: string;
  tags: Tag[];
  profile?: string;
  volumeTags?: Tag[];
}
const HOSTS: HostSpec[] = [
  ...SERVICES.flatMap((svc) =>
    [1, 2, 3].map((i) => ({
      name: `${svc}-${i}`,
      tags: [
        { Key: "Namespace", Value: "voiceai/staging" },
        { Key: "Service", Value: svc },
        { Key: "Name", Value: `${svc}-${i}` },
        ...(i === 3 ? [{ Key: "dcp:imds-exempt", Value: "legacy.transcoder*v1" }] : []),
      ],
      profile: `dcp-${svc}`,
      volumeTags: i === 1 ? [{ Key: "Backup", Value: svc }] : undefined,
    })),
  ),
  {
    name: "stray",
    tags: [
      { Key: "Name", Value: "stray" },
      { Key: "Namespace", Value: "other" },
    ],
  },
];

/** Builds the same fleet on one server, call by call in the same order. */
async function build(s: Side): Promise<void> {
  const iam = new IAMClient({ endpoint: s.server.endpoint, region: REGION, credentials });
  const profiles = new Map<string, string>();
  for (const svc of SERVICES) {
    const role = `dcp-${svc}`;
    await iam.send(new CreateRoleCommand({ RoleName: role, AssumeRolePolicyDocument: "{}" }));
    const ip = await iam.send(new CreateInstanceProfileCommand({ InstanceProfileName: role }));
    await iam.send(new AddRoleToInstanceProfileCommand({ InstanceProfileName: role, RoleName: role }));
    profiles.set(role, ip.InstanceProfile?.Arn ?? "");
  }
  for (const h of HOSTS) {
    const out = await s.ec2.send(
      new RunInstancesCommand({
        ImageId: DEMO_AMI,
        InstanceType: "t3.small",
        MinCount: 1,
        MaxCount: 1,
        IamInstanceProfile: h.profile ? { Arn: profiles.get(h.profile) } : undefined,
        MetadataOptions: { HttpTokens: "required", HttpPutResponseHopLimit: 2, HttpEndpoint: "enabled" },
        TagSpecifications: [
          { ResourceType: "instance", Tags: h.tags },
          ...(h.volumeTags ? [{ ResourceType: "volume" as const, Tags: h.volumeTags }] : []),
        ],
      }),
    );
    const inst = out.Instances?.[0];
    name(s, h.name, inst?.InstanceId);
  }
  // Volumes (the root volume of each host) get names through their attachment.
  const vols = await s.ec2.send(new DescribeVolumesCommand({}));
  for (const v of vols.Volumes ?? [])
    for (const a of v.Attachments ?? []) name(s, `${nameOf(s, a.InstanceId)}:${a.Device}`, v.VolumeId);
  const sg = await s.ec2.send(
    new CreateSecurityGroupCommand({
      GroupName: "web",
      Description: "web",
      TagSpecifications: [{ ResourceType: "security-group", Tags: [{ Key: "Service", Value: "web" }] }],
    }),
  );
  name(s, "sg-web", sg.GroupId);
}

/** Everything a caller can see of the instances, ids replaced by names; volatile fields (times, IPs) left out. */
const instanceView = (s: Side, i: Instance) => ({
  id: nameOf(s, i.InstanceId),
  tags: i.Tags,
  state: i.State?.Name,
  profile: i.IamInstanceProfile?.Arn,
  imds: i.MetadataOptions,
  volumes: (i.BlockDeviceMappings ?? []).map((b) => `${b.DeviceName}=${nameOf(s, b.Ebs?.VolumeId)}`),
});

async function describeInstances(s: Side, filters: Filter[], ids?: string[], pageSize?: number) {
  const pages: ReturnType<typeof instanceView>[][] = [];
  let token: string | undefined;
  do {
    const out = await s.ec2.send(
      new DescribeInstancesCommand({
        Filters: filters.length ? filters : undefined,
        InstanceIds: ids?.map((n) => idOf(s, n)),
        MaxResults: pageSize,
        NextToken: token,
      }),
    );
    pages.push((out.Reservations ?? []).flatMap((r) => r.Instances ?? []).map((i) => instanceView(s, i)));
    token = out.NextToken;
  } while (token);
  return pages;
}

async function describeTags(s: Side, filters: Filter[]) {
  const out = await s.ec2.send(new DescribeTagsCommand({ Filters: filters.length ? filters : undefined }));
  return (out.Tags ?? []).map((t) => ({ ...t, ResourceId: nameOf(s, t.ResourceId) }));
}

/** The error name a call fails with, or "ok". */
async function outcome(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "ok";
  } catch (err) {
    return (err as Error).name;
  }
}

const INSTANCE_FILTERS: Record<string, Filter[]> = {
  none: [],
  "tag:Service = web": [{ Name: "tag:Service", Values: ["web"] }],
  "tag:Service in (api, voice)": [{ Name: "tag:Service", Values: ["api", "voice"] }],
  "tag:Namespace wildcard": [{ Name: "tag:Namespace", Values: ["voiceai/*"] }],
  "tag:Namespace + running": [
    { Name: "tag:Namespace", Values: ["voiceai/staging"] },
    { Name: "instance-state-name", Values: ["pending", "running", "stopping", "stopped"] },
  ],
  "tag:Missing": [{ Name: "tag:Missing", Values: ["x"] }],
  "tag-key": [{ Name: "tag-key", Values: ["dcp:imds-exempt"] }],
  "tag-key wildcard": [{ Name: "tag-key", Values: ["dcp:*"] }],
  "tag-value": [{ Name: "tag-value", Values: ["voice"] }],
  "tag-value with glob characters": [{ Name: "tag-value", Values: ["legacy.transcoder*"] }],
  "tag-key + tag:Service": [
    { Name: "tag-key", Values: ["Name"] },
    { Name: "tag:Service", Values: ["api"] },
  ],
};

const TAG_FILTERS: Record<string, Filter[]> = {
  none: [],
  "resource-type instance": [{ Name: "resource-type", Values: ["instance"] }],
  "resource-type volume": [{ Name: "resource-type", Values: ["volume"] }],
  key: [{ Name: "key", Values: ["Service"] }],
  "value wildcard": [{ Name: "value", Values: ["v*"] }],
};

describe("moto with indexed lookups answers exactly like stock moto", () => {
  let stock: Side;
  let indexed: Side;
  /** Runs `f` on both servers and expects the same answer; returns it for further checks. */
  const same = async <T>(f: (s: Side) => Promise<T>): Promise<T> => {
    const [a, b] = [await f(stock), await f(indexed)];
    expect(b).toEqual(a);
    return a;
  };
  const sameEverywhere = async () => {
    for (const [label, filters] of Object.entries(INSTANCE_FILTERS)) {
      const a = await describeInstances(stock, filters);
      expect({ label, pages: await describeInstances(indexed, filters) }).toEqual({ label, pages: a });
    }
    for (const [label, filters] of Object.entries(TAG_FILTERS)) {
      const a = await describeTags(stock, filters);
      expect({ label, tags: await describeTags(indexed, filters) }).toEqual({ label, tags: a });
    }
    await same(async (s) => {
      const out = await s.ec2.send(
        new DescribeSecurityGroupsCommand({ Filters: [{ Name: "tag:Service", Values: ["web"] }] }),
      );
      return (out.SecurityGroups ?? []).map((g) => ({ id: nameOf(s, g.GroupId), tags: g.Tags }));
    });
    await same(async (s) => {
      const out = await s.ec2.send(new DescribeVolumesCommand({ Filters: [{ Name: "tag-key", Values: ["Backup"] }] }));
      return (out.Volumes ?? []).map((v) => ({ id: nameOf(s, v.VolumeId), tags: v.Tags }));
    });
  };

  beforeAll(async () => {
    [stock, indexed] = await Promise.all([side(false), side(true)]);
    await build(stock);
    await build(indexed);
  }, 120_000);

  afterAll(async () => {
    await Promise.all([stock?.server.stop(), indexed?.server.stop()]);
  });

  it("is really two different servers: the indexed one logs that its patches applied", async () => {
    const { readFileSync } = await import("node:fs");
    expect(readFileSync(indexed.server.logFile, "utf8")).toContain(
      "moto_indexed: indexed tag and instance lookups applied",
    );
    expect(readFileSync(stock.server.logFile, "utf8")).not.toContain("moto_indexed");
  });

  it("DescribeInstances with tag:Key / tag-key / tag-value filters, DescribeTags, tag-filtered security groups", async () => {
    const all = await describeInstances(stock, INSTANCE_FILTERS["tag:Service = web"] ?? []);
    expect(all.flat().map((i) => i.id)).toEqual(["web-1", "web-2", "web-3"]);
    await sameEverywhere();
  });

  it("DescribeInstances by id, paged, and with an unknown id", async () => {
    const ids = ["voice-2", "api-1", "stray"];
    const byId = await same((s) => describeInstances(s, [], ids));
    expect(
      byId
        .flat()
        .map((i) => i.id)
        .sort(),
    ).toEqual([...ids].sort());
    await same((s) => describeInstances(s, [{ Name: "tag:Service", Values: ["api"] }], ids));
    const paged = await same((s) => describeInstances(s, [{ Name: "tag-key", Values: ["Namespace"] }], undefined, 5));
    expect(paged.map((p) => p.length)).toEqual([5, 5]);
    await same((s) =>
      outcome(s.ec2.send(new DescribeInstancesCommand({ InstanceIds: [idOf(s, "api-1"), "i-0123456789abcdef0"] }))),
    );
    // One volume by id (the lookup RunInstances makes), and a missing one.
    const vol = await same(async (s) => {
      const out = await s.ec2.send(new DescribeVolumesCommand({ VolumeIds: [idOf(s, "web-1:/dev/sda1")] }));
      return (out.Volumes ?? []).map((v) => ({ id: nameOf(s, v.VolumeId), tags: v.Tags, size: v.Size }));
    });
    expect(vol.map((v) => v.id)).toEqual(["web-1:/dev/sda1"]);
    await same((s) => outcome(s.ec2.send(new DescribeVolumesCommand({ VolumeIds: ["vol-0123456789abcdef0"] }))));
  });

  it("instance profiles are associated on launch; ModifyInstanceMetadataOptions finds the host (and not a missing one)", async () => {
    const assoc = await same(async (s) => {
      const out = await s.ec2.send(new DescribeIamInstanceProfileAssociationsCommand({}));
      return (out.IamInstanceProfileAssociations ?? [])
        .map((a) => `${nameOf(s, a.InstanceId)} ${a.IamInstanceProfile?.Arn} ${a.State}`)
        .sort();
    });
    expect(assoc).toHaveLength(9);
    await same(async (s) => {
      await s.ec2.send(
        new ModifyInstanceMetadataOptionsCommand({
          InstanceId: idOf(s, "web-2"),
          HttpTokens: "optional",
          HttpPutResponseHopLimit: 1,
        }),
      );
      return describeInstances(s, [], ["web-2"]);
    });
    await same((s) =>
      outcome(
        s.ec2.send(
          new ModifyInstanceMetadataOptionsCommand({ InstanceId: "i-0123456789abcdef0", HttpTokens: "optional" }),
        ),
      ),
    );
  });

  it("CreateTags / DeleteTags, then every describe again", async () => {
    for (const s of [stock, indexed]) {
      // New key on several resources, overwrite of an existing one, a tag on a volume.
      await s.ec2.send(
        new CreateTagsCommand({
          Resources: [idOf(s, "api-1"), idOf(s, "web-3"), idOf(s, "stray")],
          Tags: [
            { Key: "Owner", Value: "team-a" },
            { Key: "Name", Value: "renamed" },
          ],
        }),
      );
      await s.ec2.send(
        new CreateTagsCommand({ Resources: [idOf(s, "voice-1:/dev/sda1")], Tags: [{ Key: "Backup", Value: "none" }] }),
      );
      // Delete by key, by key + matching value, by key + non-matching value (kept), every tag of a host.
      await s.ec2.send(new DeleteTagsCommand({ Resources: [idOf(s, "api-2")], Tags: [{ Key: "Service" }] }));
      await s.ec2.send(
        new DeleteTagsCommand({ Resources: [idOf(s, "web-3")], Tags: [{ Key: "Owner", Value: "team-a" }] }),
      );
      await s.ec2.send(
        new DeleteTagsCommand({ Resources: [idOf(s, "stray")], Tags: [{ Key: "Owner", Value: "someone-else" }] }),
      );
      await s.ec2.send(
        new DeleteTagsCommand({
          Resources: [idOf(s, "voice-3")],
          Tags: ["Namespace", "Service", "Name", "dcp:imds-exempt"].map((Key) => ({ Key })),
        }),
      );
    }
    const owners = await same((s) => describeInstances(s, [{ Name: "tag:Owner", Values: ["team-a"] }]));
    expect(owners.flat().map((i) => i.id)).toEqual(["api-1", "stray"]);
    const untagged = await same((s) => describeInstances(s, [], ["voice-3"]));
    expect(untagged.flat()[0]?.tags).toBeUndefined();
    await sameEverywhere();
  });
});

describe("moto_indexed.py refuses to run a moto it was not checked against", () => {
  const launcher = "scripts/lib/moto_indexed.py";
  const run = (prelude: string) =>
    spawnSync(
      "python3",
      [
        "-c",
        `${prelude}\nimport runpy, sys\nsys.argv = ["moto_indexed", "-H", "127.0.0.1", "-p", "1"]\nrunpy.run_path(${JSON.stringify(launcher)}, run_name="__main__")`,
      ],
      { encoding: "utf8", timeout: 60_000 },
    );

  it("another moto version: exit 3 with one line", () => {
    const r = run("import moto; moto.__version__ = '5.1.0'");
    expect(r.status).toBe(3);
    expect(r.stderr.trim().split("\n")).toEqual([
      "moto_indexed: cannot apply the indexed-lookup patches: moto 5.1.0 installed, the patches were checked against moto 5.2.1",
    ]);
  });

  it("a patched function whose source changed: exit 3 with one line naming it", () => {
    const r = run(
      "from moto.ec2.models.instances import InstanceBackend\ndef get_instance(self, instance_id):\n    return None\nInstanceBackend.get_instance = get_instance",
    );
    expect(r.status).toBe(3);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toContain("InstanceBackend.get_instance");
  });
});
