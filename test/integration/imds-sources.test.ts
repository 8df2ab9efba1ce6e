// IMDS sources and readiness against moto: a non-compliant launch template is planned, then fixed with ONE new
// default version carrying the full template data; a compliant one is untouched; a host still calling IMDSv1
// (CloudWatch MetadataNoToken) gets hop limit 2 and keeps optional tokens.
import { PutMetricDataCommand } from "@aws-sdk/client-cloudwatch";
import {
  CreateLaunchTemplateCommand,
  DescribeLaunchTemplatesCommand,
  DescribeLaunchTemplateVersionsCommand,
  ModifyInstanceMetadataOptionsCommand,
  RunInstancesCommand,
} from "@aws-sdk/client-ec2";
import { CreateDocumentCommand } from "@aws-sdk/client-ssm";
import { beforeAll, describe, expect, it } from "vitest";
import { cloudwatchClient } from "#core/adapters/clients";
import { auditFleet, type DriftReport } from "#core/app/audit-fleet";
import { auditDeps, type FleetDeps } from "#core/shell/fleet-deps";
import { DEMO_AMI, type SeededFleet, seedFleet } from "../../scripts/lib/fleet.ts";
import { resourceProperties } from "../../scripts/lib/template.ts";
import { useMoto } from "../support/moto.ts";
import { wire } from "../support/wiring.ts";

useMoto();
const NS = "voiceai/sources";
let fleet: SeededFleet;
let bad = "";
let good = "";
let fromTemplate = "";
/** The first `--fix` run: sources first, then the hosts (readiness decides the IMDSv1 host's tokens). */
let fixRun: DriftReport;

function deps() {
  const w = wire(fleet);
  const { clients } = w.deps as FleetDeps;
  return { w, deps: auditDeps(w.deps.config, { clients, params: w.deps.params }) };
}

const audit = (remediation: "none" | "imds", dryRun = false): Promise<DriftReport> => {
  const { w, deps: d } = deps();
  return auditFleet(fleet.manifest, d, { remediation, dryRun, apiCalls: () => w.counter.snapshot() });
};

async function template(name: string, tokens: "optional" | "required", hop: number): Promise<string> {
  const { deps: d } = deps();
  const out = await d.clients.ec2.send(
    new CreateLaunchTemplateCommand({
      LaunchTemplateName: name,
      LaunchTemplateData: {
        ImageId: DEMO_AMI,
        InstanceType: "t3.small",
        UserData: Buffer.from("#!/bin/bash\necho boot\n").toString("base64"),
        MetadataOptions: { HttpTokens: tokens, HttpPutResponseHopLimit: hop, HttpEndpoint: "enabled" },
      },
      TagSpecifications: [{ ResourceType: "launch-template", Tags: [{ Key: "Namespace", Value: NS }] }],
    }),
  );
  return out.LaunchTemplate!.LaunchTemplateId!;
}

async function versions(id: string) {
  const { deps: d } = deps();
  const out = await d.clients.ec2.send(new DescribeLaunchTemplateVersionsCommand({ LaunchTemplateId: id }));
  return out.LaunchTemplateVersions ?? [];
}

beforeAll(async () => {
  fleet = await seedFleet({
    namespace: NS,
    services: [{ name: "api", wave: 0, hosts: [{}, { imds: { httpTokens: "optional", hopLimit: 1 } }] }],
  });
  bad = await template("api-bad", "optional", 1);
  good = await template("api-good", "required", 2);
  const { deps: d } = deps();
  // A fleet host launched from the bad template (tags name it: aws:ec2launchtemplate:id).
  const run = await d.clients.ec2.send(
    new RunInstancesCommand({
      MinCount: 1,
      MaxCount: 1,
      LaunchTemplate: { LaunchTemplateId: bad, Version: "$Default" },
      TagSpecifications: [
        {
          ResourceType: "instance",
          Tags: [
            { Key: "Namespace", Value: NS },
            { Key: "Service", Value: "api" },
          ],
        },
      ],
    }),
  );
  fromTemplate = run.Instances![0]!.InstanceId!;
  // moto launches with its own metadata defaults: make the host compliant, so only the template is drifted.
  await d.clients.ec2.send(
    new ModifyInstanceMetadataOptionsCommand({
      InstanceId: fromTemplate,
      HttpTokens: "required",
      HttpPutResponseHopLimit: 2,
      HttpEndpoint: "enabled",
    }),
  );
  // The IMDSv1 host still calls IMDSv1: 12 calls in the window.
  const v1 = fleet.hosts.find((h) => h.imds.httpTokens === "optional")!.instanceId;
  await cloudwatchClient().send(
    new PutMetricDataCommand({
      Namespace: "AWS/EC2",
      MetricData: [
        {
          MetricName: "MetadataNoToken",
          Dimensions: [{ Name: "InstanceId", Value: v1 }],
          Value: 12,
          Timestamp: new Date(Date.now() - 3600_000),
        },
      ],
    }),
  );
}, 120_000);

describe("IMDS at the source (moto)", () => {
  it("a non-compliant default version is reported and planned; the compliant template is not", async () => {
    const r = await audit("imds", true);
    const lt = r.findings.filter((f) => f.kind === "imds-launch-template");
    expect(lt.map((f) => f.evidence?.["templateId"])).toEqual([bad]);
    expect(r.remediation.sources).toEqual([
      expect.objectContaining({ source: `launch template api-bad (${bad})`, action: "planned" }),
    ]);
    expect(Object.keys(r.apiCalls).filter((k) => /CreateLaunchTemplateVersion|ModifyLaunchTemplate/.test(k))).toEqual(
      [],
    );
  });

  it("--fix creates ONE compliant version from the full data and makes it the default; the good one is untouched", async () => {
    const r = await audit("imds");
    fixRun = r;
    expect(r.remediation.sources).toEqual([
      expect.objectContaining({ source: `launch template api-bad (${bad})`, action: "applied" }),
    ]);
    expect(r.apiCalls["EC2.CreateLaunchTemplateVersion"]).toBe(1);
    const all = await versions(bad);
    expect(all).toHaveLength(2);
    const v2 = all.find((v) => v.VersionNumber === 2)!;
    expect(v2.LaunchTemplateData?.MetadataOptions).toMatchObject({
      HttpTokens: "required",
      HttpPutResponseHopLimit: 2,
    });
    expect(v2.LaunchTemplateData).toMatchObject({ ImageId: DEMO_AMI, InstanceType: "t3.small" });
    expect(v2.LaunchTemplateData?.UserData).toBe(Buffer.from("#!/bin/bash\necho boot\n").toString("base64"));
    const { deps: d } = deps();
    const t = await d.clients.ec2.send(new DescribeLaunchTemplatesCommand({ LaunchTemplateIds: [bad, good] }));
    expect(t.LaunchTemplates?.find((x) => x.LaunchTemplateId === bad)?.DefaultVersionNumber).toBe(2);
    expect(await versions(good)).toHaveLength(1);

    const again = await audit("imds");
    expect(again.findings.filter((f) => f.kind === "imds-launch-template")).toEqual([]);
    expect(again.apiCalls["EC2.CreateLaunchTemplateVersion"]).toBeUndefined();
  });

  it("readiness: the host still calling IMDSv1 gets hop limit 2, keeps optional tokens, shows as not ready", async () => {
    const r = fixRun;
    const v1 = fleet.hosts.find((h) => h.imds.httpTokens === "optional")!.instanceId;
    expect(r.imds.readiness?.services).toEqual([
      { service: "api", hosts: 3, enforced: 2, ready: 0, notReady: 1, unknown: 0 },
    ]);
    expect(r.remediation.imds).toEqual([{ instanceId: v1, applied: true, notReady: true }]);
    expect(r.apiCalls["CloudWatch.GetMetricData"]).toBe(1);
    const after = await audit("none");
    const host = after.findings.filter((f) => f.instanceId === v1).map((f) => f.kind);
    expect(host).toEqual(["imds-tokens-optional"]);
  });

  it("host checks: one SendCommand of our document targeting the namespace tag; moto cannot list results", async () => {
    const { w, deps: d } = deps();
    await d.clients.ssm.send(
      new CreateDocumentCommand({
        Name: d.config.hostCheckDocument,
        DocumentType: "Command",
        DocumentFormat: "JSON",
        Content: JSON.stringify(resourceProperties("HostCredentialCheckDocument")["Content"]),
      }),
    );
    const r = await auditFleet(fleet.manifest, d, {
      remediation: "none",
      dryRun: false,
      hostChecks: { send: true },
      apiCalls: () => w.counter.snapshot(),
    });
    expect(r.apiCalls["SSM.SendCommand"]).toBe(1);
    expect(r.hostChecks.sent?.commandId).toMatch(/^[0-9a-f-]{36}$/);
    // The next run collects: moto lacks ListCommandInvocations, so nothing is judged (and nothing is invented).
    const next = await auditFleet(fleet.manifest, d, {
      remediation: "none",
      dryRun: false,
      hostChecks: { collect: r.hostChecks.sent! },
    });
    expect(next.hostChecks.collected).toBeNull();
    expect(next.findings.filter((f) => /proxy|static-keys|host-check/.test(f.kind))).toEqual([]);
  });
});
