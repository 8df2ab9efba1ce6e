// IMDS at the source and on the hosts: what the real API says (pending = in flight, hop 1 with tokens is drifted),
// readiness from MetadataNoToken, exemptions with owner and end, account defaults through the real EC2 adapter
// answered by aws-sdk-client-mock (moto lacks Get/ModifyInstanceMetadataDefaults).
import {
  DescribeImagesCommand,
  DescribeLaunchTemplatesCommand,
  EC2Client,
  GetInstanceMetadataDefaultsCommand,
  ModifyInstanceMetadataDefaultsCommand,
} from "@aws-sdk/client-ec2";
import { mockClient } from "aws-sdk-client-mock";
import { afterEach, describe, expect, it } from "vitest";
import { Ec2FleetInventory, Ec2ImdsSources } from "#core/adapters/ec2";
import { auditFleet } from "#core/app/audit-fleet";
import {
  desiredImds,
  IMDS_EXEMPT_OWNER_TAG,
  IMDS_EXEMPT_TAG,
  IMDS_EXEMPT_UNTIL_TAG,
  planImds,
} from "#core/domain/imds";
import {
  ASG_NAME_TAG,
  judgeAccountDefaults,
  judgeImages,
  judgeLaunchTemplates,
  LAUNCH_TEMPLATE_ID_TAG,
  LAUNCH_TEMPLATE_VERSION_TAG,
  type LaunchTemplateFact,
} from "#core/domain/imds-sources";
import { validateManifest } from "#core/domain/manifest";
import type { Host, ImdsOptions } from "#core/domain/model";
import { fakeWorld } from "../support/fakes.ts";

const NS = "voiceai/prod";
const manifest = (imds: Record<string, unknown> = {}) =>
  validateManifest({ namespace: NS, configBucket: "voiceai-prod-config", services: [{ name: "api", wave: 0 }], imds });
const desired = desiredImds(manifest());
const NOW = new Date("2026-11-30T12:00:00Z");

function host(imds: Partial<ImdsOptions> = {}, tags: Record<string, string> = {}, n = 1): Host {
  return {
    instanceId: `i-${n.toString(16).padStart(17, "0")}`,
    state: "running",
    launchTime: "2026-11-01T00:00:00Z",
    tags: { Namespace: NS, Service: "api", ...tags },
    imageId: "ami-0123456789abcdef0",
    imds: { httpTokens: "required", hopLimit: 2, httpEndpoint: "enabled", state: "applied", ...imds },
  };
}

describe("planImds: what the API really says", () => {
  it("a host whose modification EC2 still reports pending is in flight: neither compliant nor drifted", () => {
    const d = planImds(host({ httpTokens: "optional", state: "pending" }), desired, "api", { now: NOW });
    expect(d).toEqual({ action: "in-flight", findings: [] });
  });

  it("tokens required with hop limit 1 is still non-compliant (containers fall back to IMDSv1)", () => {
    const d = planImds(host({ hopLimit: 1 }), desired, "api", { now: NOW });
    expect(d.action).toBe("modify");
    expect(d.findings.map((f) => f.kind)).toEqual(["imds-hop-limit"]);
  });

  it("tokens already required are never lowered, whatever the manifest says", () => {
    const optional = desiredImds(manifest({ httpTokens: "optional", hopLimit: 2 }));
    const d = planImds(host({ hopLimit: 1 }), optional, "api", { now: NOW });
    expect(d.action).toBe("modify");
    if (d.action === "modify") expect(d.desired.httpTokens).toBe("required");
  });
});

describe("planImds: readiness (MetadataNoToken)", () => {
  const v1 = host({ httpTokens: "optional", hopLimit: 1 });

  it("a host still calling IMDSv1 gets hop limit 2 and keeps optional tokens, reported as not ready", () => {
    const d = planImds(v1, desired, "api", { now: NOW, readiness: { noTokenCalls: 37, days: 14 } });
    expect(d.action).toBe("modify");
    if (d.action !== "modify") return;
    expect(d.desired).toEqual({ httpTokens: "optional", hopLimit: 2, httpEndpoint: "enabled" });
    expect(d.notReady).toBe(true);
    const tokens = d.findings.find((f) => f.kind === "imds-tokens-optional");
    expect(tokens?.severity).toBe("high");
    expect(tokens?.detail).toMatch(/not ready: 37 IMDSv1 call\(s\) in 14 days/);
  });

  it("only tokens off and not ready: nothing to send, still reported", () => {
    const d = planImds(host({ httpTokens: "optional" }), desired, "api", {
      now: NOW,
      readiness: { noTokenCalls: 1, days: 14 },
    });
    expect(d.action).toBe("hold");
    expect(d.findings.map((f) => f.kind)).toEqual(["imds-tokens-optional"]);
  });

  it("ready (no IMDSv1 call) or enforceWhenNotReady → tokens required", () => {
    for (const ctx of [
      { now: NOW, readiness: { noTokenCalls: 0, days: 14 } },
      { now: NOW, readiness: { noTokenCalls: 5, days: 14 }, enforceWhenNotReady: true },
    ]) {
      const d = planImds(v1, desired, "api", ctx);
      expect(d.action === "modify" && d.desired.httpTokens).toBe("required");
    }
  });
});

describe("exemptions with an owner and an end", () => {
  const exempt = (until?: string, owner?: string) =>
    host(
      { httpTokens: "optional" },
      {
        [IMDS_EXEMPT_TAG]: "legacy SDK, OPS-12",
        ...(until ? { [IMDS_EXEMPT_UNTIL_TAG]: until } : {}),
        ...(owner ? { [IMDS_EXEMPT_OWNER_TAG]: owner } : {}),
      },
    );

  it("an exemption until a future date holds and names its owner", () => {
    const d = planImds(exempt("2026-12-31", "team-voice"), desired, "api", { now: NOW });
    expect(d.action).toBe("exempt");
    expect(d.findings[0]?.detail).toMatch(/exempt: legacy SDK, OPS-12; owner team-voice; until 2026-12-31/);
  });

  it("holds through its last day (UTC) and expires after it: then a finding, and the host is fixed", () => {
    expect(planImds(exempt("2026-11-30", "a"), desired, "api", { now: NOW }).action).toBe("exempt");
    const d = planImds(exempt("2026-11-29", "team-voice"), desired, "api", { now: NOW });
    expect(d.action).toBe("modify");
    const expired = d.findings.find((f) => f.kind === "imds-exempt-expired");
    expect(expired).toMatchObject({ severity: "medium", evidence: { owner: "team-voice", until: "2026-11-29" } });
  });

  it("an unreadable end date keeps the exemption (a typo must not break a host) and is a finding", () => {
    const d = planImds(exempt("31/12/2026"), desired, "api", { now: NOW });
    expect(d.action).toBe("exempt");
    expect(d.findings.map((f) => f.kind)).toContain("imds-exempt-expired");
    expect(d.findings.find((f) => f.kind === "imds-exempt-expired")?.detail).toMatch(/not YYYY-MM-DD.*no owner/);
  });
});

describe("sources: launch templates, Auto Scaling pinning, AMIs", () => {
  const lt = (metadata: LaunchTemplateFact["metadata"], tags = { Namespace: NS }): LaunchTemplateFact => ({
    id: "lt-0aaaaaaaaaaaaaaaa",
    name: "api",
    defaultVersion: 3,
    latestVersion: 4,
    tags,
    defaultCreatedAt: "2026-11-10T00:00:00Z",
    metadata,
  });
  const ns = { tagKey: "Namespace", namespace: NS };

  it("a compliant default version needs nothing; a drifted one is planned from its default version", () => {
    expect(judgeLaunchTemplates([lt({ httpTokens: "required", hopLimit: 2 })], [], desired, ns)).toEqual({
      findings: [],
      plans: [],
    });
    const r = judgeLaunchTemplates([lt({ httpTokens: "optional" })], [], desired, ns);
    expect(r.findings.map((f) => f.kind)).toEqual(["imds-launch-template"]);
    expect(r.plans).toEqual([
      { templateId: "lt-0aaaaaaaaaaaaaaaa", templateName: "api", fromVersion: 3, desired: { ...desired } },
    ]);
  });

  it("a template without the namespace tag is reported, not written", () => {
    const r = judgeLaunchTemplates([lt({}, { Namespace: "other" })], [], desired, ns);
    expect(r.plans[0]?.skipped).toMatch(/not tagged Namespace=voiceai\/prod/);
  });

  it("an ASG launching another version after the default existed pins a version", () => {
    const launched = (version: string, at: string, n: number) => ({
      ...host(
        {},
        {
          [ASG_NAME_TAG]: "api-asg",
          [LAUNCH_TEMPLATE_ID_TAG]: "lt-0aaaaaaaaaaaaaaaa",
          [LAUNCH_TEMPLATE_VERSION_TAG]: version,
        },
        n,
      ),
      launchTime: at,
    });
    const hosts = [
      launched("2", "2026-11-01T00:00:00Z", 1), // before the default existed: not evidence
      launched("3", "2026-11-20T00:00:00Z", 2), // the default: fine
    ];
    const ok = judgeLaunchTemplates([lt({ httpTokens: "required", hopLimit: 2 })], hosts, desired, ns);
    expect(ok.findings).toEqual([]);
    hosts.push(launched("4", "2026-11-21T00:00:00Z", 3)); // $Latest
    const pinned = judgeLaunchTemplates([lt({ httpTokens: "required", hopLimit: 2 })], hosts, desired, ns);
    expect(pinned.findings.map((f) => [f.kind, f.evidence?.["group"]])).toEqual([["imds-asg-pinned", "api-asg"]]);
  });

  it("AMIs without ImdsSupport v2.0 are reported once each, with their host count", () => {
    const hosts = [host({}, {}, 1), host({}, {}, 2), { ...host({}, {}, 3), imageId: "ami-0bbbbbbbbbbbbbbbb" }];
    const f = judgeImages(
      hosts,
      new Map([
        ["ami-0123456789abcdef0", undefined],
        ["ami-0bbbbbbbbbbbbbbbb", "v2.0"],
      ]),
    );
    expect(f.map((x) => x.evidence)).toEqual([{ imageId: "ami-0123456789abcdef0", hosts: 2 }]);
  });
});

describe("account IMDS defaults (EC2 answered by aws-sdk-client-mock)", () => {
  const ec2 = mockClient(EC2Client);
  afterEach(() => ec2.reset());

  async function auditWith(answer: object, imds: Record<string, unknown>, dryRun = false) {
    ec2.on(GetInstanceMetadataDefaultsCommand).resolves({ AccountLevel: answer });
    ec2.on(ModifyInstanceMetadataDefaultsCommand).resolves({ Return: true });
    ec2.on(DescribeLaunchTemplatesCommand).resolves({ LaunchTemplates: [] });
    ec2.on(DescribeImagesCommand).resolves({ Images: [] });
    const client = new EC2Client({ region: "eu-central-1" });
    const w = fakeWorld(NS, { hosts: [host()] });
    const real = new Ec2FleetInventory(client);
    w.inventory.imdsDefaults = () => real.imdsDefaults();
    const deps = { ...w.deps, sources: new Ec2ImdsSources(client) };
    const report = await auditFleet(manifest(imds), deps, { remediation: "imds", dryRun });
    return { report, writes: ec2.commandCalls(ModifyInstanceMetadataDefaultsCommand).map((c) => c.args[0].input) };
  }

  it("account-managed, drifted, opted in → one write carrying every field", async () => {
    const { report, writes } = await auditWith(
      { HttpTokens: "optional", HttpPutResponseHopLimit: 1, ManagedBy: "account" },
      { manageAccountDefaults: true },
    );
    expect(writes).toEqual([{ HttpTokens: "required", HttpPutResponseHopLimit: 2, HttpEndpoint: "enabled" }]);
    expect(report.remediation.sources).toEqual([
      expect.objectContaining({ source: "account defaults", action: "applied" }),
    ]);
    const f = report.findings.find((x) => x.kind === "imds-defaults");
    expect(f?.detail).toMatch(/HttpTokensEnforced/);
  });

  it("hop limit 1 defaults are a finding; without the opt-in they are reported, never written", async () => {
    const { report, writes } = await auditWith({ HttpTokens: "required", HttpPutResponseHopLimit: 1 }, {});
    expect(report.findings.find((x) => x.kind === "imds-defaults")?.detail).toMatch(/hop limit 1/);
    expect(writes).toEqual([]);
    expect(report.remediation.sources[0]).toMatchObject({ action: "report-only" });
  });

  it("declarative-policy-managed defaults: drift reported, never written, even when opted in", async () => {
    const { report, writes } = await auditWith(
      {
        HttpTokens: "optional",
        HttpPutResponseHopLimit: 1,
        ManagedBy: "declarative-policy",
        ManagedExceptionMessage: "Managed by the organisation's declarative policy",
      },
      { manageAccountDefaults: true },
    );
    expect(writes).toEqual([]);
    const f = report.findings.find((x) => x.kind === "imds-defaults");
    expect(f?.evidence?.["managedBy"]).toBe("declarative-policy");
    expect(report.remediation.sources[0]).toMatchObject({ action: "report-only", detail: /declarative policy/ });
  });

  it("dry run plans the write and sends nothing; compliant defaults need nothing", async () => {
    const planned = await auditWith({ HttpTokens: "optional" }, { manageAccountDefaults: true }, true);
    expect(planned.writes).toEqual([]);
    expect(planned.report.remediation.sources[0]).toMatchObject({ action: "planned" });
    expect(
      judgeAccountDefaults({ httpTokens: "required", hopLimit: 2, httpEndpoint: "enabled" }, desired, true),
    ).toEqual({ findings: [], plan: { action: "none" } });
  });
});
