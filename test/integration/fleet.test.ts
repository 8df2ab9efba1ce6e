// seedFleet against a real moto_server: what the demo, the integration tests and the benchmark stand on.
import { DescribeInstancesCommand } from "@aws-sdk/client-ec2";
import { GetInstanceProfileCommand, GetRolePolicyCommand, ListRolePoliciesCommand } from "@aws-sdk/client-iam";
import { DescribeSecretCommand, ListSecretsCommand } from "@aws-sdk/client-secrets-manager";
import { GetDocumentCommand, GetParameterCommand } from "@aws-sdk/client-ssm";
import { beforeAll, describe, expect, it } from "vitest";
import { type AwsClients, createClients } from "#core/adapters/clients";
import { toHost } from "#core/adapters/ec2";
import { decodePolicyDocument } from "#core/domain/iam/policy";
import { parseManifest } from "#core/domain/manifest";
import {
  correctRolePolicy,
  demoFleetSpec,
  RESTART_DOCUMENT_NAME,
  restartDocumentContent,
  type SeededFleet,
  seedFleet,
} from "../../scripts/lib/fleet.ts";
import { useMoto } from "../support/moto.ts";

useMoto();

describe("seedFleet(demoFleetSpec())", () => {
  let fleet: SeededFleet;
  let clients: AwsClients;
  const spec = demoFleetSpec();

  beforeAll(async () => {
    clients = createClients();
    fleet = await seedFleet(spec, clients);
  }, 60_000);

  it("launches every host of every service, each with its own instance profile attached", async () => {
    const expected = spec.services.reduce((n, s) => n + (typeof s.hosts === "number" ? s.hosts : s.hosts.length), 0);
    const managed = fleet.hosts.filter((h) => h.service && spec.services.some((s) => s.name === h.service));
    expect(managed).toHaveLength(expected);
    const out = await clients.ec2.send(
      new DescribeInstancesCommand({ InstanceIds: fleet.hosts.map((h) => h.instanceId) }),
    );
    const live = new Map(
      (out.Reservations ?? []).flatMap((r) => r.Instances ?? []).map((i) => [i.InstanceId, toHost(i)] as const),
    );
    expect(live.size).toBe(fleet.hosts.length);
    for (const h of managed) {
      const host = live.get(h.instanceId);
      expect(host?.tags).toMatchObject({ Namespace: "voiceai/staging", Service: h.service });
      expect(host?.instanceProfileArn, `${h.instanceId} (${h.service})`).toBe(h.profileArn);
      expect(h.profileArn).toMatch(new RegExp(`:instance-profile/dcp-voiceai-staging-${h.service}$`));
    }
    // The legacy host outside the manifest has no profile.
    const legacy = fleet.hosts.find((h) => h.service === "legacy-cron");
    expect(live.get(legacy?.instanceId ?? "")?.instanceProfileArn).toBeUndefined();
  });

  it("sets IMDS per host as the spec says (defects only where asked)", async () => {
    const out = await clients.ec2.send(
      new DescribeInstancesCommand({ InstanceIds: fleet.hosts.map((h) => h.instanceId) }),
    );
    const byId = new Map(
      (out.Reservations ?? []).flatMap((r) => r.Instances ?? []).map((i) => [i.InstanceId, toHost(i)]),
    );
    const imdsOf = (svc: string) =>
      fleet.hosts.filter((h) => h.service === svc).map((h) => byId.get(h.instanceId)?.imds);
    expect(imdsOf("web").map((i) => i?.httpTokens)).toEqual(["required", "optional"]);
    expect(imdsOf("voice").map((i) => i?.hopLimit)).toEqual([2, 2, 1]);
    expect(imdsOf("media")[1]).toMatchObject({ httpTokens: "optional", hopLimit: 1, httpEndpoint: "enabled" });
    for (const i of imdsOf("api"))
      expect(i).toMatchObject({ httpTokens: "required", hopLimit: 2, httpEndpoint: "enabled" });
    const exempt = fleet.hosts.filter((h) => h.service === "media")[1];
    expect(byId.get(exempt?.instanceId ?? "")?.tags["dcp:imds-exempt"]).toBe("legacy-transcoder");
  });

  it("writes a valid manifest parameter naming the managed master secret and its consumers", async () => {
    const p = await clients.ssm.send(new GetParameterCommand({ Name: "/voiceai/staging/control-plane/manifest" }));
    const m = parseManifest(p.Parameter?.Value ?? "");
    expect(m).toEqual(fleet.manifest);
    expect(m.services.map((s) => s.name).sort()).toEqual(spec.services.map((s) => s.name).sort());
    expect(m.sharedSecrets).toHaveLength(1);
    expect(m.sharedSecrets[0]?.arn).toBe(fleet.sharedSecretArn);
    expect(m.sharedSecrets[0]?.arn).toMatch(/:secret:rds!cluster-[0-9a-f-]{36}-[A-Za-z0-9]{6}$/);
    expect(m.sharedSecrets[0]?.consumers.sort()).toEqual(["api", "database", "ops", "voice", "web"]);
  });

  it("creates one secret per service plus the master secret, with the canary inside", async () => {
    const names = (await clients.secrets.send(new ListSecretsCommand({ MaxResults: 100 }))).SecretList?.map(
      (s) => s.Name,
    );
    for (const s of spec.services) expect(names).toContain(`voiceai/staging/${s.name}/secrets`);
    expect(Object.keys(fleet.secrets)).toHaveLength(spec.services.length + 1);
    const d = await clients.secrets.send(new DescribeSecretCommand({ SecretId: fleet.sharedSecretArn }));
    expect(d.Name).toMatch(/^rds!cluster-/);
  });

  it("gives each role the correct policy; ops additionally gets an over-broad secrets grant", async () => {
    const aws = { partition: "aws", region: fleet.region, account: fleet.account };
    for (const s of ["api", "ops"]) {
      const role = `dcp-voiceai-staging-${s}`;
      const names = (await clients.iam.send(new ListRolePoliciesCommand({ RoleName: role }))).PolicyNames ?? [];
      const doc = await clients.iam.send(new GetRolePolicyCommand({ RoleName: role, PolicyName: `${role}-service` }));
      expect(decodePolicyDocument(doc.PolicyDocument ?? "")).toEqual(correctRolePolicy(fleet.manifest, s, aws));
      if (s === "ops") expect(names).toContain("ops-debug-all-secrets");
      else expect(names).toEqual([`${role}-service`]);
    }
    const ip = await clients.iam.send(
      new GetInstanceProfileCommand({ InstanceProfileName: "dcp-voiceai-staging-web" }),
    );
    expect(ip.InstanceProfile?.Roles?.map((r) => r.RoleName)).toEqual(["dcp-voiceai-staging-web"]);
  });

  it("grants consumers the master secret and no one else", () => {
    const aws = { partition: "aws", region: fleet.region, account: fleet.account };
    const grantsShared = (s: string) =>
      JSON.stringify(correctRolePolicy(fleet.manifest, s, aws)).includes(fleet.sharedSecretArn ?? "<none>");
    expect(grantsShared("api")).toBe(true);
    expect(grantsShared("media")).toBe(false);
    expect(grantsShared("telpro")).toBe(false);
  });

  it("creates the template's restart document (its one home) with a guarded Service parameter", async () => {
    const d = await clients.ssm.send(new GetDocumentCommand({ Name: RESTART_DOCUMENT_NAME }));
    expect(d.DocumentType).toBe("Command");
    const content = JSON.parse(d.Content ?? "{}");
    expect(content).toEqual(restartDocumentContent());
    expect(content.schemaVersion).toBe("2.2");
    expect(content.parameters.Service.allowedPattern).toBe("^[a-z][a-z0-9-]{0,31}$");
    expect(JSON.stringify(content.mainSteps)).toContain("cd /opt/services/{{Service}} && ./update.sh --restart-only");
  });
});
