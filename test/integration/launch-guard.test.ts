// Launch guard against moto: IMDS fixed in ONE call per non-compliant host, compliant hosts untouched,
// IAM scope findings naming the policy and statement responsible.
import { DescribeInstancesCommand, EC2Client } from "@aws-sdk/client-ec2";
import { beforeAll, describe, expect, it } from "vitest";
import { guardHost, IAM_SCOPE_TAG } from "#core/app/guard-host";
import type { Finding } from "#core/domain/model";
import { allNamespaceSecrets, launchHosts, type SeededFleet, seedFleet } from "../../scripts/lib/fleet.ts";
import { oneHostService } from "../support/fixtures.ts";
import { useMoto } from "../support/moto.ts";
import { wire } from "../support/wiring.ts";

useMoto({ loadAwsManagedPolicies: true });
const NS = "voiceai/guard";
let fleet: SeededFleet;

const hostsOf = (service: string) => fleet.hosts.filter((h) => h.service === service);
const kinds = (fs: Finding[]) => fs.map((f) => f.kind).sort();

beforeAll(async () => {
  fleet = await seedFleet({
    namespace: NS,
    sharedSecret: { consumers: ["api", "database"] },
    services: [
      // compliant, IMDSv1, hop limit 1, IMDSv1 but exempt
      {
        name: "api",
        wave: 1,
        hosts: [
          {},
          { imds: { httpTokens: "optional" } },
          { imds: { hopLimit: 1 } },
          { imds: { httpTokens: "optional" }, tags: { "dcp:imds-exempt": "vendor appliance" } },
        ],
      },
      // secret:NS/* — reads every service's secrets
      oneHostService("web", 2, {
        inline: {
          "web-all-secrets": allNamespaceSecrets(NS),
        },
      }),
      // NotResource: "everything but one thing" is everything else
      oneHostService("voice", 2, {
        inline: {
          "voice-notresource": {
            Version: "2012-10-17",
            Statement: [
              { Effect: "Allow", Action: "ssm:GetParameter", NotResource: "arn:aws:ssm:*:*:parameter/forbidden/*" },
              { Sid: "RunAnything", Effect: "Allow", Action: "ssm:SendCommand", Resource: "*" },
            ],
          },
        },
      }),
      // AWS-managed SSM core policy: ssm:GetParameter(s) on *
      oneHostService("ops", 3, { managedArns: ["arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"] }),
      // By-path read on the namespace root: reads every service
      oneHostService("media", 3, {
        inline: {
          "media-by-path": {
            Version: "2012-10-17",
            Statement: [
              {
                Sid: "ByPath",
                Effect: "Allow",
                Action: "ssm:GetParametersByPath",
                Resource: `arn:aws:ssm:*:*:parameter/${NS}`,
              },
            ],
          },
        },
      }),
      // Missing grants: only its own parameters
      {
        name: "database",
        wave: 0,
        hosts: 1,
        role: {
          inline: {
            "database-partial": {
              Version: "2012-10-17",
              Statement: [
                {
                  Sid: "Params",
                  Effect: "Allow",
                  Action: "ssm:GetParameter*",
                  Resource: `arn:aws:ssm:*:*:parameter/${NS}/database/*`,
                },
              ],
            },
          },
        },
      },
      { name: "telpro", wave: 3, hosts: [{ noProfile: true }] },
    ],
    extraHosts: [{ tags: { Name: "not-ours" } }],
  });
}, 180_000);

describe("IMDS", () => {
  it("fixes each non-compliant host with exactly one full modification; compliant and exempt hosts get no write", async () => {
    const [ok, v1, hop1, exempt] = hostsOf("api");
    const w = wire(fleet, { iam: "targeted" });
    const results = [];
    for (const h of [ok!, v1!, hop1!, exempt!])
      results.push(await guardHost(h.instanceId, fleet.manifest, w.deps, { dryRun: false }));
    expect(w.counter.snapshot()["EC2.ModifyInstanceMetadataOptions"]).toBe(2);
    expect(results.map((r) => r.imds.action)).toEqual(["none", "modify", "modify", "exempt"]);
    expect(kinds(results[1]!.findings.filter((f) => f.kind.startsWith("imds")))).toEqual(["imds-tokens-optional"]);
    expect(kinds(results[2]!.findings.filter((f) => f.kind.startsWith("imds")))).toEqual(["imds-hop-limit"]);
    expect(results[3]!.findings.find((f) => f.kind === "imds-tokens-optional")?.detail).toContain("vendor appliance");

    const ec2 = new EC2Client({});
    const out = await ec2.send(
      new DescribeInstancesCommand({
        InstanceIds: [ok!.instanceId, v1!.instanceId, hop1!.instanceId, exempt!.instanceId],
      }),
    );
    const imds = Object.fromEntries(
      (out.Reservations ?? []).flatMap((r) => r.Instances ?? []).map((i) => [i.InstanceId, i.MetadataOptions]),
    );
    for (const id of [ok!.instanceId, v1!.instanceId, hop1!.instanceId]) {
      expect(imds[id]).toMatchObject({ HttpTokens: "required", HttpPutResponseHopLimit: 2, HttpEndpoint: "enabled" });
    }
    expect(imds[exempt!.instanceId]?.HttpTokens).toBe("optional"); // reported, not changed
  });

  it("dry run makes no write at all", async () => {
    const h = fleet.hosts.find((x) => x.service === "web")!;
    const w = wire(fleet, { iam: "targeted", dryRun: true });
    const r = await guardHost(h.instanceId, fleet.manifest, w.deps, { dryRun: true });
    const writes = Object.keys(w.counter.snapshot()).filter((k) => /Modify|CreateTags|SendCommand|Put/.test(k));
    expect(writes).toEqual([]);
    expect(r.iam.verdict).toBe("violation");
  });

  it("a host outside the namespace is left alone and the result says why", async () => {
    const other = fleet.hosts.find((h) => h.service === "" && !h.roleName)!;
    const w = wire(fleet);
    const r = await guardHost(other.instanceId, fleet.manifest, w.deps, { dryRun: false });
    expect(r.status).toBe("skipped");
    expect(r.reason).toMatch(/not in namespace/);
    expect(Object.keys(w.counter.snapshot())).toEqual(["EC2.DescribeInstances"]);
  });
});

describe("IAM scope", () => {
  const guard = async (service: string) => {
    const w = wire(fleet, { iam: "targeted" });
    return guardHost(hostsOf(service)[0]!.instanceId, fleet.manifest, w.deps, { dryRun: false });
  };

  it("a correct role is ok: no IAM finding", async () => {
    const r = await guard("api");
    expect(r.iam.verdict).toBe("ok");
    expect(r.iam.findings).toEqual([]);
  });

  it("secret:NS/* is one excess finding naming policy, statement, risk and a secret outside web's scope", async () => {
    const r = await guard("web");
    expect(r.iam.verdict).toBe("violation");
    const excess = r.iam.findings.filter((f) => f.kind === "iam-excess-grant");
    expect(excess.map((f) => f.evidence)).toEqual([
      expect.objectContaining({
        policy: "web-all-secrets",
        statement: "AllNs",
        risk: "read-beyond-scope",
        action: "secretsmanager:GetSecretValue",
        resource: expect.stringMatching(new RegExp(`:secret:${NS}/x$`)),
      }),
    ]);
    expect(r.tags[IAM_SCOPE_TAG]).toBe("violation");
  });

  it("ssm:SendCommand on * (issue 13) is an escalation naming its Sid, and the launch guard tags violation", async () => {
    const r = await guard("voice");
    const f = r.iam.findings.filter(
      (x) => x.kind === "iam-excess-grant" && x.evidence?.["statement"] === "RunAnything",
    );
    expect(f.map((x) => [x.evidence?.["risk"], x.evidence?.["action"]])).toEqual([["escalation", "ssm:SendCommand"]]);
    expect(f[0]?.detail).toContain('statement "RunAnything"');
    const out = await new EC2Client({}).send(
      new DescribeInstancesCommand({ InstanceIds: [hostsOf("voice")[0]!.instanceId] }),
    );
    const tags = out.Reservations?.[0]?.Instances?.[0]?.Tags ?? [];
    expect(tags.find((t) => t.Key === IAM_SCOPE_TAG)?.Value).toBe("violation");
  });

  it("NotResource allows everything it does not exclude: excess", async () => {
    const r = await guard("voice");
    const f = r.iam.findings.filter((x) => x.kind === "iam-excess-grant");
    expect(f.some((x) => x.evidence?.["policy"] === "voice-notresource")).toBe(true);
  });

  it("AmazonSSMManagedInstanceCore reads every parameter: excess naming the AWS-managed policy", async () => {
    const r = await guard("ops");
    const f = r.iam.findings.filter((x) => x.kind === "iam-excess-grant");
    expect(
      f.some((x) =>
        String(x.evidence?.["policyArn"] ?? x.evidence?.["policy"]).includes("AmazonSSMManagedInstanceCore"),
      ),
    ).toBe(true);
  });

  it("GetParametersByPath on /NS reads every service: excess", async () => {
    const r = await guard("media");
    const f = r.iam.findings.filter((x) => x.kind === "iam-excess-grant");
    expect(
      f.some((x) => x.evidence?.["policy"] === "media-by-path" && x.evidence?.["action"] === "ssm:GetParametersByPath"),
    ).toBe(true);
  });

  it("missing grants are named by probe; a consumer of the shared secret must be able to read it", async () => {
    const r = await guard("database");
    const missing = r.iam.findings
      .filter((f) => f.kind === "iam-missing-grant")
      .map((f) => String(f.evidence?.["action"]));
    expect(missing).toEqual(
      expect.arrayContaining(["secretsmanager:GetSecretValue", "ecr:GetAuthorizationToken", "s3:GetObject"]),
    );
    expect(
      r.iam.findings.some(
        (f) => f.kind === "iam-missing-grant" && String(f.evidence?.["resource"]) === fleet.sharedSecretArn,
      ),
    ).toBe(true);
    expect(r.iam.findings.some((f) => f.kind === "iam-excess-grant")).toBe(false);
  });

  it("a host without an instance profile is a violation, tagged so", async () => {
    const h = hostsOf("telpro")[0]!;
    const w = wire(fleet);
    const r = await guardHost(h.instanceId, fleet.manifest, w.deps, { dryRun: false });
    expect(kinds(r.findings)).toContain("no-instance-profile");
    expect(r.tags["dcp:iam-scope"]).toBe("violation");
  });
});

describe("warm path", () => {
  it("with the role's policies cached, a new launch costs at most 4 AWS calls and no IAM read", async () => {
    const w = wire(fleet, { iam: "targeted" });
    await guardHost(hostsOf("api")[0]!.instanceId, fleet.manifest, w.deps, { dryRun: false }); // warms the role
    const ec2 = new EC2Client({});
    const api = hostsOf("api")[0]!;
    const [launched] = await launchHosts(ec2, [
      {
        tags: { Namespace: NS, Service: "api" },
        imds: { httpTokens: "optional", hopLimit: 1, httpEndpoint: "enabled" },
        profileArn: api.profileArn!,
      },
    ]);
    const id = launched!.instance.InstanceId!;
    const before = w.counter.snapshot();
    const r = await guardHost(id, fleet.manifest, w.deps, { dryRun: false });
    const after = w.counter.snapshot();
    const delta = Object.fromEntries(
      Object.entries(after)
        .map(([k, v]) => [k, v - (before[k] ?? 0)])
        .filter(([, v]) => Number(v) > 0),
    );
    expect(r.imds.changed).toBe(true);
    expect(r.iam.verdict).toBe("ok");
    expect(Object.values(delta).reduce((a, b) => Number(a) + Number(b), 0)).toBeLessThanOrEqual(4);
    expect(Object.keys(delta).some((k) => k.startsWith("IAM."))).toBe(false);
  });
});
