// Every SDK adapter against a real moto_server, through the real SDK v3 clients.

import {
  DescribeInstancesCommand,
  type EC2Client,
  RunInstancesCommand,
  TerminateInstancesCommand,
} from "@aws-sdk/client-ec2";
import {
  AddRoleToInstanceProfileCommand,
  AttachRolePolicyCommand,
  CreateInstanceProfileCommand,
  CreatePolicyCommand,
  CreatePolicyVersionCommand,
  CreateRoleCommand,
  DeleteRoleCommand,
  PutRolePermissionsBoundaryCommand,
  PutRolePolicyCommand,
} from "@aws-sdk/client-iam";
import { CreateSecretCommand, PutSecretValueCommand } from "@aws-sdk/client-secrets-manager";
import { DescribeParametersCommand } from "@aws-sdk/client-ssm";
import { beforeAll, describe, expect, it } from "vitest";
import { ApiCallCounter, type AwsClients, createClients } from "#core/adapters/clients";
import { CloudWatchImdsUsage } from "#core/adapters/cloudwatch";
import { Ec2FleetInventory, Ec2ImdsSources } from "#core/adapters/ec2";
import { AwsGateSignals } from "#core/adapters/gates";
import { BulkPolicyStore, TargetedPolicyStore } from "#core/adapters/iam";
import { PERMISSIONS } from "#core/adapters/permissions";
import { SecretsManagerCatalog } from "#core/adapters/secrets";
import { SsmCommandRunner, SsmHostChecks, SsmParameterStore } from "#core/adapters/ssm";
import { SsmManagedInstances } from "#core/adapters/ssm-managed";
import { SchedulerWakeups } from "#core/adapters/wakeups";
import { InvalidInputError, NotFoundError } from "#core/domain/errors";
import type { PolicyDocument } from "#core/domain/iam/policy";
import type { RolePolicies } from "#core/ports/index";
import { createRestartDocument, DEMO_AMI, RESTART_DOCUMENT_NAME } from "../../scripts/lib/fleet.ts";
import { useMoto } from "../support/moto.ts";
import { attachSsmHarness } from "../support/ssm-harness.ts";

useMoto({ loadAwsManagedPolicies: true });

const counted = () => {
  const counter = new ApiCallCounter();
  return { counter, clients: createClients({ counter }) };
};

async function launch(
  ec2: EC2Client,
  tags: Record<string, string>,
  opts: { tokens?: "required" | "optional"; hop?: number; profile?: string } = {},
): Promise<string> {
  const out = await ec2.send(
    new RunInstancesCommand({
      ImageId: DEMO_AMI,
      MinCount: 1,
      MaxCount: 1,
      IamInstanceProfile: opts.profile ? { Name: opts.profile } : undefined,
      MetadataOptions: {
        HttpTokens: opts.tokens ?? "required",
        HttpPutResponseHopLimit: opts.hop ?? 2,
        HttpEndpoint: "enabled",
      },
      TagSpecifications: [
        { ResourceType: "instance", Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) },
      ],
    }),
  );
  return out.Instances?.[0]?.InstanceId ?? "";
}

/** A stub EC2 client that records commands (for limits moto cannot show). */
function recordingClient(answer: (cmd: { input: unknown }) => unknown = () => ({})) {
  const sent: { name: string; input: unknown }[] = [];
  const client = {
    send: async (cmd: { input: unknown; constructor: { name: string } }) => {
      sent.push({ name: cmd.constructor.name, input: cmd.input });
      return answer(cmd);
    },
  };
  return { sent, client };
}

describe("Ec2FleetInventory", () => {
  const ns = "scan/one";
  let ids: string[] = [];
  let clients: AwsClients;

  beforeAll(async () => {
    clients = createClients();
    const tagged = Array.from({ length: 12 }, (_, i) => launch(clients.ec2, { Namespace: ns, Service: `s${i % 3}` }));
    ids = await Promise.all(tagged);
    await launch(clients.ec2, { Namespace: "scan/other", Service: "s0" });
    await launch(clients.ec2, { Service: "s0" });
    const gone = await launch(clients.ec2, { Namespace: ns, Service: "s0" });
    await clients.ec2.send(new TerminateInstancesCommand({ InstanceIds: [gone] }));
  }, 30_000);

  it("scans a namespace by tag server-side, paging across several pages, skipping terminated hosts", async () => {
    const { counter, clients: c } = counted();
    const inv = new Ec2FleetInventory(c.ec2, { pageSize: 5 });
    const pages: number[] = [];
    const hosts = await inv.scanNamespace("Namespace", ns, (n) => pages.push(n));
    expect(hosts.map((h) => h.instanceId).sort()).toEqual([...ids].sort());
    expect(hosts.every((h) => h.tags.Namespace === ns && h.state !== "terminated")).toBe(true);
    expect(pages.length).toBeGreaterThan(1);
    expect(pages.at(-1)).toBe(12);
    expect(counter.snapshot()).toEqual({ "EC2.DescribeInstances": pages.length });
  });

  it("describes one host with tags, profile and IMDS; unknown id → undefined", async () => {
    const inv = new Ec2FleetInventory(clients.ec2);
    const h = await inv.describeHost(ids[0] ?? "");
    expect(h).toMatchObject({
      instanceId: ids[0],
      tags: { Namespace: ns, Service: "s0" },
      imds: { httpTokens: "required", hopLimit: 2, httpEndpoint: "enabled" },
    });
    expect(Date.parse(h?.launchTime ?? "")).not.toBeNaN();
    expect(await inv.describeHost("i-0123456789abcdef0")).toBeUndefined();
  });

  it("modifies IMDS with ONE call carrying every field and reads it back", async () => {
    const id = await launch(clients.ec2, { Namespace: "imds/x" }, { tokens: "optional", hop: 1 });
    const { counter, clients: c } = counted();
    const inv = new Ec2FleetInventory(c.ec2);
    const answered = await inv.modifyImds(id, { httpTokens: "required", hopLimit: 2, httpEndpoint: "enabled" });
    expect(answered).toMatchObject({ httpTokens: "required", hopLimit: 2, httpEndpoint: "enabled" });
    expect(["pending", "applied"]).toContain(answered.state);
    expect(counter.count("EC2.ModifyInstanceMetadataOptions")).toBe(1);
    const back = await inv.describeHost(id);
    expect(back?.imds).toMatchObject({ httpTokens: "required", hopLimit: 2, httpEndpoint: "enabled" });

    // moto resets fields a call omits (and echoes them as missing), so prove the request itself carried all three.
    const { sent, client } = recordingClient(() => ({ InstanceMetadataOptions: { State: "pending" } }));
    // biome-ignore lint/suspicious/noExplicitAny: a recording stand-in for EC2Client (only `send` is used)
    const r = await new Ec2FleetInventory(client as any).modifyImds(id, {
      httpTokens: "optional",
      hopLimit: 3,
      httpEndpoint: "disabled",
    });
    expect(sent).toEqual([
      {
        name: "ModifyInstanceMetadataOptionsCommand",
        input: { InstanceId: id, HttpTokens: "optional", HttpPutResponseHopLimit: 3, HttpEndpoint: "disabled" },
      },
    ]);
    expect(r).toEqual({ httpTokens: "optional", hopLimit: 3, httpEndpoint: "disabled", state: "pending" });
  });

  it("tags hosts and chunks CreateTags at 1000 ids", async () => {
    const inv = new Ec2FleetInventory(clients.ec2);
    await inv.tagHosts(ids.slice(0, 3), { "dcp:iam-scope": "ok", "dcp:restarted-at": "2026-01-01T00:00:00.000Z" });
    const out = await clients.ec2.send(new DescribeInstancesCommand({ InstanceIds: ids.slice(0, 4) }));
    const tagged = (out.Reservations ?? [])
      .flatMap((r) => r.Instances ?? [])
      .filter((i) => i.Tags?.some((t) => t.Key === "dcp:iam-scope" && t.Value === "ok"))
      .map((i) => i.InstanceId);
    expect(tagged.sort()).toEqual(ids.slice(0, 3).sort());

    const { sent, client } = recordingClient();
    const many = Array.from({ length: 2001 }, (_, i) => `i-${i.toString(16).padStart(17, "0")}`);
    // biome-ignore lint/suspicious/noExplicitAny: a recording stand-in for EC2Client (only `send` is used)
    await new Ec2FleetInventory(client as any).tagHosts(many, { a: "b" });
    expect(sent.map((s) => (s.input as { Resources: string[] }).Resources.length)).toEqual([1000, 1000, 1]);
  });

  it("imdsDefaults: undefined where the API is unsupported (moto), throttling is not swallowed", async () => {
    const { counter, clients: c } = counted();
    expect(await new Ec2FleetInventory(c.ec2).imdsDefaults()).toBeUndefined();
    // moto answers HTML 500, which the SDK retries: the counter still counts ONE logical call.
    expect(counter.count("EC2.GetInstanceMetadataDefaults")).toBe(1);

    const throttled = Object.assign(new Error("Rate exceeded"), {
      name: "RequestLimitExceeded",
      $metadata: { httpStatusCode: 503 },
    });
    const stub = {
      send: async () => {
        throw throttled;
      },
    };
    // biome-ignore lint/suspicious/noExplicitAny: a failing stand-in for EC2Client (only `send` is used)
    await expect(new Ec2FleetInventory(stub as any).imdsDefaults()).rejects.toThrow("Rate exceeded");
  });
});

describe("PolicyStore (targeted and bulk)", () => {
  const doc = (stmts: PolicyDocument["Statement"]): PolicyDocument => ({ Version: "2012-10-17", Statement: stmts });
  // Characters that URL-encoding changes: spaces, %, +, &, /, quotes, unicode.
  const tricky = doc([
    {
      Sid: "Tricky",
      Effect: "Allow",
      Action: ["s3:GetObject"],
      Resource: ["arn:aws:s3:::bucket-a/path with space/100%+&x/ü*"],
      Condition: { StringLike: { "aws:userid": ['AIDA*:"quoted"'] } },
    },
  ]);
  const sharedV2 = doc([{ Effect: "Allow", Action: "ssm:GetParameters", Resource: "*" }]);
  const boundaryDoc = doc([{ Effect: "Allow", Action: ["ssm:*", "s3:*"], Resource: "*" }]);
  let sharedArn = "";
  let profileB = "";
  let profileA = "";
  const assume = JSON.stringify(
    doc([{ Effect: "Allow", Principal: { Service: "ec2.amazonaws.com" }, Action: "sts:AssumeRole" }]),
  );

  beforeAll(async () => {
    const { iam } = createClients();
    const shared = await iam.send(
      new CreatePolicyCommand({
        PolicyName: "shared-managed",
        PolicyDocument: JSON.stringify(doc([{ Effect: "Allow", Action: "ssm:GetParameter", Resource: "*" }])),
      }),
    );
    sharedArn = shared.Policy?.Arn ?? "";
    // v2 becomes the default: both stores must read v2, not v1.
    await iam.send(
      new CreatePolicyVersionCommand({
        PolicyArn: sharedArn,
        PolicyDocument: JSON.stringify(sharedV2),
        SetAsDefault: true,
      }),
    );
    const boundary = await iam.send(
      new CreatePolicyCommand({ PolicyName: "fleet-boundary", PolicyDocument: JSON.stringify(boundaryDoc) }),
    );
    for (const r of ["role-a", "role-b", "role-doomed"]) {
      await iam.send(new CreateRoleCommand({ RoleName: r, AssumeRolePolicyDocument: assume }));
      await iam.send(new AttachRolePolicyCommand({ RoleName: r, PolicyArn: sharedArn }));
    }
    await iam.send(
      new PutRolePolicyCommand({ RoleName: "role-a", PolicyName: "tricky", PolicyDocument: JSON.stringify(tricky) }),
    );
    await iam.send(
      new AttachRolePolicyCommand({
        RoleName: "role-a",
        PolicyArn: "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore",
      }),
    );
    await iam.send(
      new PutRolePermissionsBoundaryCommand({ RoleName: "role-a", PermissionsBoundary: boundary.Policy?.Arn }),
    );
    // Profile B is created first: resolving A must not pick "the first profile".
    for (const [p, r] of [
      ["profile-b", "role-b"],
      ["profile-a", "role-a"],
    ] as const) {
      const ip = await iam.send(new CreateInstanceProfileCommand({ InstanceProfileName: p, Path: "/fleet/" }));
      await iam.send(new AddRoleToInstanceProfileCommand({ InstanceProfileName: p, RoleName: r }));
      if (p === "profile-a") profileA = ip.InstanceProfile?.Arn ?? "";
      else profileB = ip.InstanceProfile?.Arn ?? "";
    }
    await iam.send(new CreateInstanceProfileCommand({ InstanceProfileName: "profile-empty" }));
  }, 30_000);

  const normalise = (r: RolePolicies) => ({
    ...r,
    policies: [...r.policies].sort((a, b) => a.name.localeCompare(b.name)),
  });

  it("targeted store: resolves profiles by name, decodes URL-encoded documents, reads default versions", async () => {
    const store = new TargetedPolicyStore(createClients().iam);
    expect(await store.roleOfInstanceProfile(profileA)).toEqual({
      roleName: "role-a",
      roleArn: expect.stringMatching(/:role\/role-a$/),
    });
    expect((await store.roleOfInstanceProfile(profileB))?.roleName).toBe("role-b");
    expect(await store.roleOfInstanceProfile(profileA.replace("profile-a", "profile-empty"))).toBeUndefined();
    expect(await store.roleOfInstanceProfile(profileA.replace("profile-a", "no-such-profile"))).toBeUndefined();

    const a = await store.rolePolicies("role-a");
    const byName = Object.fromEntries(a.policies.map((p) => [p.name, p]));
    expect(byName.tricky).toEqual({ name: "tricky", source: "inline", document: tricky });
    expect(byName["shared-managed"]).toMatchObject({ source: "managed", arn: sharedArn, document: sharedV2 });
    expect(byName.AmazonSSMManagedInstanceCore?.source).toBe("aws-managed");
    expect(JSON.stringify(byName.AmazonSSMManagedInstanceCore?.document)).toContain("ssm:UpdateInstanceInformation");
    expect(a.boundary).toMatchObject({ name: "fleet-boundary", source: "boundary", document: boundaryDoc });
  });

  it("targeted store memoises per role, per profile and per managed policy", async () => {
    const { counter, clients: c } = counted();
    const store = new TargetedPolicyStore(c.iam);
    await Promise.all([store.rolePolicies("role-a"), store.rolePolicies("role-a")]);
    await store.rolePolicies("role-b");
    await store.rolePolicies("role-a");
    await store.roleOfInstanceProfile(profileA);
    await store.roleOfInstanceProfile(profileA);
    const n = counter.snapshot();
    expect(n["IAM.GetRole"]).toBe(2); // role-a once, role-b once
    expect(n["IAM.GetInstanceProfile"]).toBe(1);
    // shared-managed is attached to both roles: its document is read once.
    expect(n["IAM.GetPolicy"]).toBe(3); // shared-managed, AWS-managed, boundary
    expect(n["IAM.GetPolicyVersion"]).toBe(3);
    expect(n["IAM.GetRolePolicy"]).toBe(1);
  });

  it("bulk store agrees with the targeted store, with one paginated GetAccountAuthorizationDetails", async () => {
    const { counter, clients: c } = counted();
    const bulk = new BulkPolicyStore(c.iam);
    const targeted = new TargetedPolicyStore(createClients().iam);
    for (const role of ["role-a", "role-b"])
      expect(normalise(await bulk.rolePolicies(role))).toEqual(normalise(await targeted.rolePolicies(role)));
    for (const p of [profileA, profileB])
      expect(await bulk.roleOfInstanceProfile(p)).toEqual(await targeted.roleOfInstanceProfile(p));
    expect(await bulk.roleOfInstanceProfile(profileA.replace("profile-a", "profile-empty"))).toBeUndefined();
    expect(counter.count("IAM.GetAccountAuthorizationDetails")).toBeGreaterThanOrEqual(1);
    expect(Object.keys(counter.snapshot())).toEqual(["IAM.GetAccountAuthorizationDetails"]);
    const before = counter.total();
    await bulk.rolePolicies("role-a");
    await bulk.roleOfInstanceProfile(profileB);
    expect(counter.total()).toBe(before);
  });

  it("a deleted role is NotFoundError in both stores", async () => {
    const { iam } = createClients();
    const { DetachRolePolicyCommand } = await import("@aws-sdk/client-iam");
    await iam.send(new DetachRolePolicyCommand({ RoleName: "role-doomed", PolicyArn: sharedArn }));
    await iam.send(new DeleteRoleCommand({ RoleName: "role-doomed" }));
    await expect(new TargetedPolicyStore(iam).rolePolicies("role-doomed")).rejects.toBeInstanceOf(NotFoundError);
    await expect(new BulkPolicyStore(iam).rolePolicies("role-doomed")).rejects.toBeInstanceOf(NotFoundError);
  });
});

describe("SecretsManagerCatalog", () => {
  it("describes metadata only: current version follows PutSecretValue; missing → undefined", async () => {
    const { counter, clients: c } = counted();
    const cat = new SecretsManagerCatalog(c.secrets);
    expect(await cat.describe("nope/none/secrets")).toBeUndefined();
    const created = await c.secrets.send(
      new CreateSecretCommand({ Name: "cat/api/secrets", SecretString: JSON.stringify({ k: "CANARY-value-1" }) }),
    );
    const d1 = await cat.describe("cat/api/secrets");
    expect(d1).toMatchObject({ arn: created.ARN, name: "cat/api/secrets", currentVersionId: created.VersionId });
    const put = await c.secrets.send(
      new PutSecretValueCommand({ SecretId: created.ARN, SecretString: JSON.stringify({ k: "CANARY-value-2" }) }),
    );
    expect(put.VersionId).not.toBe(created.VersionId);
    const d2 = await cat.describe(created.ARN ?? "");
    expect(d2?.currentVersionId).toBe(put.VersionId);
    expect(Date.parse(d2?.lastChangedDate ?? "")).not.toBeNaN();
    expect(JSON.stringify([d1, d2])).not.toContain("CANARY");
    expect(Object.keys(counter.snapshot()).filter((k) => k.startsWith("SecretsManager."))).toEqual([
      "SecretsManager.CreateSecret",
      "SecretsManager.DescribeSecret",
      "SecretsManager.PutSecretValue",
    ]);
  });
});

describe("SsmCommandRunner with the harness", () => {
  let hosts: string[] = [];
  let clients: AwsClients;

  beforeAll(async () => {
    clients = createClients();
    hosts = await Promise.all([1, 2, 3].map(() => launch(clients.ec2, { Namespace: "ssm/x", Service: "api" })));
    await createRestartDocument(clients.ssm, RESTART_DOCUMENT_NAME);
  }, 30_000);

  it("sends the restart to exactly the requested hosts and reports per-host status", async () => {
    const { counter, clients: c } = counted();
    const harness = attachSsmHarness(c.ssm);
    const runner = new SsmCommandRunner(c.ssm);
    const comment = `dcp rollout ro-0123456789abcdef ${"x".repeat(120)}`;
    const { commandId } = await runner.sendRestart({
      documentName: RESTART_DOCUMENT_NAME,
      service: "api",
      instanceIds: hosts.slice(0, 2),
      maxConcurrency: "1",
      maxErrors: "0",
      comment,
    });
    expect(harness.targetsOf(commandId)).toEqual(hosts.slice(0, 2));
    const [sent] = harness.sent();
    expect(sent).toMatchObject({
      documentName: RESTART_DOCUMENT_NAME,
      parameters: { Service: ["api"] },
      maxConcurrency: "1",
      maxErrors: "0",
    });
    expect(sent?.comment).toBe(comment.slice(0, 100));

    expect((await runner.invocation(commandId, hosts[0] ?? ""))?.status).toBe("Success");
    harness.failInvocation(commandId, hosts[1] ?? "", "Failed");
    expect(await runner.invocation(commandId, hosts[1] ?? "")).toEqual({
      status: "Failed",
      comment: comment.slice(0, 100),
    });
    // moto would claim host 3 ran it too; it was never targeted.
    expect(await runner.invocation(commandId, hosts[2] ?? "")).toBeUndefined();
    expect(await runner.commandComment(commandId)).toBe(comment.slice(0, 100));
    expect(counter.count("SSM.SendCommand")).toBe(1);
  });

  it("refuses more than 50 hosts or a bad service name without calling SSM", async () => {
    const { counter, clients: c } = counted();
    const runner = new SsmCommandRunner(c.ssm);
    const req = {
      documentName: RESTART_DOCUMENT_NAME,
      service: "api",
      maxConcurrency: "1",
      maxErrors: "0",
      comment: "",
    };
    const many = Array.from({ length: 51 }, (_, i) => `i-${String(i).padStart(17, "0")}`);
    await expect(runner.sendRestart({ ...req, instanceIds: many })).rejects.toBeInstanceOf(InvalidInputError);
    await expect(runner.sendRestart({ ...req, service: "api; rm -rf /", instanceIds: hosts })).rejects.toBeInstanceOf(
      InvalidInputError,
    );
    expect(counter.total()).toBe(0);
  });

  it("works without the harness: unknown command → undefined", async () => {
    const runner = new SsmCommandRunner(createClients().ssm);
    const { commandId } = await runner.sendRestart({
      documentName: RESTART_DOCUMENT_NAME,
      service: "api",
      instanceIds: [hosts[0] ?? ""],
      maxConcurrency: "50%",
      maxErrors: "1",
      comment: "plain",
    });
    expect((await runner.invocation(commandId, hosts[0] ?? ""))?.status).toBe("Success");
    expect(await runner.invocation("00000000-0000-0000-0000-000000000000", hosts[0] ?? "")).toBeUndefined();
    expect(await runner.commandComment(commandId)).toBe("plain");
  });
});

describe("SsmParameterStore", () => {
  it("gets, puts, refuses to overwrite when asked, and stores > 4 KB values as Advanced", async () => {
    const { ssm } = createClients();
    const store = new SsmParameterStore(ssm);
    expect(await store.get("/ps/none")).toBeUndefined();
    await store.put("/ps/a", "one", false);
    expect(await store.get("/ps/a")).toBe("one");
    await expect(store.put("/ps/a", "two", false)).rejects.toThrow();
    expect(await store.get("/ps/a")).toBe("one");
    await store.put("/ps/a", "two", true);
    expect(await store.get("/ps/a")).toBe("two");
    const big = "y".repeat(5000);
    await store.put("/ps/big", big, true);
    expect(await store.get("/ps/big")).toBe(big);
    const meta = await ssm.send(
      new DescribeParametersCommand({ ParameterFilters: [{ Key: "Name", Values: ["/ps/big"] }] }),
    );
    expect(meta.Parameters?.[0]?.Tier).toBe("Advanced");
  });
});

describe("clients and permissions", () => {
  it("constructs clients lazily and once", () => {
    const c = createClients();
    const d = Object.getOwnPropertyDescriptor(c, "iam");
    expect(typeof d?.get).toBe("function");
    expect(c.ec2).toBe(c.ec2);
  });

  it("declares IAM actions for every method of every adapter", () => {
    const methods = (cls: { prototype: object }) =>
      Object.getOwnPropertyNames(cls.prototype).filter(
        (m) =>
          m !== "constructor" &&
          !m.startsWith("load") &&
          typeof (cls.prototype as Record<string, unknown>)[m] === "function",
      );
    const expected = [
      ...methods(Ec2FleetInventory).map((m) => `FleetInventory.${m}`),
      ...["roleOfInstanceProfile", "rolePolicies"].map((m) => `PolicyStore.${m}`),
      ...methods(SecretsManagerCatalog).map((m) => `SecretCatalog.${m}`),
      ...methods(SsmCommandRunner).map((m) => `CommandRunner.${m}`),
      ...methods(SsmParameterStore).map((m) => `ParameterStore.${m}`),
      ...methods(SsmManagedInstances)
        .filter((m) => m !== "describe")
        .map((m) => `ManagedInstances.${m}`),
      ...methods(BulkPolicyStore)
        .filter((m) => !["fetchAll", "fallbackManaged"].includes(m))
        .map((m) => `BulkPolicyStore.${m}`),
      ...methods(Ec2ImdsSources).map((m) => `ImdsSources.${m}`),
      ...methods(CloudWatchImdsUsage).map((m) => `ImdsUsage.${m}`),
      ...methods(SsmHostChecks).map((m) => `HostChecks.${m}`),
      "EcsInventory.scanNamespace",
      ...["forceNewDeployment", "deploymentState", "deploymentsSince", "tagService"].map((m) => `EcsDeployments.${m}`),
      "DeploymentLinks.*",
      ...methods(AwsGateSignals).map((m) => `GateSignals.${m}`),
      ...methods(SchedulerWakeups).map((m) => `Wakeups.${m}`),
      "TrailCatalog.trails",
    ];
    for (const key of expected) expect(Object.keys(PERMISSIONS), key).toContain(key);
    for (const actions of Object.values(PERMISSIONS))
      for (const a of actions)
        expect(a).toMatch(/^(ec2|ecs|iam|ssm|secretsmanager|dynamodb|cloudwatch|scheduler|cloudtrail):[A-Za-z]+$/);
    expect(JSON.stringify(PERMISSIONS)).not.toContain("GetSecretValue");
  });
});
