// The unmanaged-host check's cost and guarantees over successive audits: the real SSM adapter against a mocked
// DescribeInstanceInformation (moto does not implement it), the rest of the audit over in-memory fakes, and the
// state carried from one audit to the next through the stored summary, as the drift-audit function does.
import {
  DescribeInstanceInformationCommand,
  type DescribeInstanceInformationCommandInput,
  type InstanceInformation,
  SSMClient,
} from "@aws-sdk/client-ssm";
import { mockClient } from "aws-sdk-client-mock";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { SsmManagedInstances } from "#core/adapters/ssm-managed";
import { auditFleet, type DriftReport, readRegistryState } from "#core/app/audit-fleet";
import type { AuditSummary } from "#core/app/run-audit";
import type { FindingKind, Host } from "#core/domain/model";
import { MAX_REMEMBERED, registryStateToKeep } from "#core/domain/registry";
import { registryLine } from "../../bin/lib/render.ts";
import { fakeWorld } from "../support/fakes.ts";
import { instanceId, testHost, testManifest } from "../support/fixtures.ts";

const NS = "voiceai/prod";
const SUMMARY = "/voiceai/prod/control-plane/audit/summary";
const manifest = testManifest({ services: [{ name: "api", wave: 0 }] });
const id = instanceId;
const T0 = new Date("2025-11-20T12:00:00.000Z");
const hoursLater = (h: number) => new Date(T0.getTime() + h * 3_600_000);

const host = (n: number, launchTime: string): Host => testHost(n, "api", { launchTime });

/** SSM's registry as DescribeInstanceInformation answers it: API limits enforced, pages of 50. */
class FakeRegistry {
  readonly ping = new Map<string, string>();

  answer(input: DescribeInstanceInformationCommandInput): {
    InstanceInformationList: InstanceInformation[];
    NextToken?: string;
  } {
    const max = input.MaxResults ?? 50;
    if (max < 5 || max > 50) throw new Error(`MaxResults ${max} out of 5–50`);
    let rows = [...this.ping.entries()];
    for (const f of input.Filters ?? []) {
      const values = new Set(f.Values ?? []);
      if (f.Key === "InstanceIds") {
        if (values.size > 50) throw new Error(`${values.size} ids in one InstanceIds filter`);
        rows = rows.filter(([i]) => values.has(i));
      } else if (f.Key === "PingStatus") rows = rows.filter(([, p]) => values.has(p));
      else throw new Error(`unexpected filter ${f.Key}`);
    }
    const start = Number(input.NextToken ?? 0);
    const page = rows.slice(start, start + max);
    return {
      InstanceInformationList: page.map(
        ([InstanceId, PingStatus]) => ({ InstanceId, PingStatus }) as InstanceInformation,
      ),
      ...(start + max < rows.length ? { NextToken: String(start + max) } : {}),
    };
  }
}

const ssm = new SSMClient({ region: "eu-central-1", credentials: { accessKeyId: "AKIDTEST", secretAccessKey: "x" } });
const ssmMock = mockClient(ssm);
let registry: FakeRegistry;

beforeEach(() => {
  ssmMock.reset();
  registry = new FakeRegistry();
  ssmMock.on(DescribeInstanceInformationCommand).callsFake((input) => registry.answer(input));
});
afterEach(() => ssmMock.reset());

const describeCalls = () => ssmMock.commandCalls(DescribeInstanceInformationCommand).map((c) => c.args[0].input);

/** A world of `n` old hosts, all Online unless told otherwise, audited like the drift-audit function does. */
function world(n: number) {
  const hosts = Array.from({ length: n }, (_, i) => host(i + 1, "2025-11-01T00:00:00Z"));
  const w = fakeWorld(NS, { hosts });
  for (const h of hosts) registry.ping.set(h.instanceId, "Online");
  const deps = { ...w.deps, managed: new SsmManagedInstances(ssm) };
  /** One scheduled audit at `now`: read the state, audit, store the summary with the new state. */
  const audit = async (now: Date, opts: { forceFull?: boolean } = {}): Promise<DriftReport> => {
    ssmMock.resetHistory();
    const state = await readRegistryState(w.params, SUMMARY);
    const report = await auditFleet(
      manifest,
      { ...deps, now: () => now },
      {
        remediation: "none",
        dryRun: false,
        registry: { ...state, ...opts },
      },
    );
    const kept = registryStateToKeep(report.registry, state.previous);
    await w.params.put(SUMMARY, JSON.stringify({ namespace: NS, ...(kept ? { registry: kept } : {}) }), true);
    return report;
  };
  return { w, audit, hosts };
}

const unmanaged = (r: DriftReport) =>
  r.findings
    .filter((f) => f.kind === "unmanaged-host")
    .map((f) => f.instanceId)
    .sort();

describe("unmanaged-host check over successive audits (DescribeInstanceInformation mocked)", () => {
  it("2,000 hosts: ⌈2000/50⌉ calls on the first audit, ≤ 3 on the next with 30 launches since", async () => {
    const { w, audit } = world(2000);
    registry.ping.delete(id(7)); // never registered

    const first = await audit(T0);
    expect(first.registry).toMatchObject({ mode: "full", candidates: 2000, deferred: 0 });
    expect(describeCalls()).toHaveLength(Math.ceil(2000 / 50));
    expect(describeCalls().every((i) => i.Filters?.[0]?.Key === "InstanceIds")).toBe(true);
    expect(unmanaged(first)).toEqual([id(7)]);

    // An hour later: 30 hosts launched 30 min ago, one of which never registers; host 12's agent is lost.
    for (let n = 3001; n <= 3030; n++) {
      w.inventory.hosts.set(id(n), host(n, hoursLater(0.5).toISOString()));
      if (n !== 3030) registry.ping.set(id(n), "Online");
    }
    registry.ping.set(id(12), "ConnectionLost");
    const next = await audit(hoursLater(1));
    // 30 new + host 7 + the rolling pass's hourly slice (⌈2000/144⌉ = 14 ids from the start of the id order).
    expect(next.registry).toMatchObject({ mode: "incremental" });
    expect(next.registry.candidates).toBeGreaterThanOrEqual(31);
    expect(next.registry.candidates).toBeLessThanOrEqual(31 + 14);
    expect(describeCalls().length).toBeLessThanOrEqual(3);
    expect(describeCalls()).toHaveLength(2); // the sweep + one page of ids
    expect(describeCalls()[0]?.Filters).toEqual([{ Key: "PingStatus", Values: ["ConnectionLost", "Inactive"] }]);
    expect(unmanaged(next)).toEqual([id(7), id(12), id(3030)].sort());
    expect(registryLine(next.registry)).toMatch(
      /^Unmanaged-host check: incremental, \d+ candidate\(s\) asked by id \(/,
    );
    const lost = next.findings.find((f) => f.kind === "unmanaged-host" && f.instanceId === id(12));
    expect(lost).toMatchObject({ kind: "unmanaged-host", service: "api", evidence: { pingStatus: "ConnectionLost" } });
    expect(lost?.detail).toMatch(/ConnectionLost/);
  });

  it("a never-registered old host reported once stays reported in the following incremental audits", async () => {
    const { audit } = world(120);
    registry.ping.delete(id(40));
    expect(unmanaged(await audit(T0))).toEqual([id(40)]);
    for (let h = 1; h <= 3; h++) {
      const r = await audit(hoursLater(h));
      expect(r.registry.mode).toBe("incremental");
      expect(unmanaged(r)).toEqual([id(40)]);
      // Host 40 launched long ago: only the remembered list makes it a candidate (plus one id of the rolling pass).
      expect(r.registry.candidates).toBeLessThanOrEqual(2);
      expect(describeCalls()).toHaveLength(2);
    }
    // Once it registers, it is dropped from the state and no longer asked about.
    registry.ping.set(id(40), "Online");
    expect(unmanaged(await audit(hoursLater(4)))).toEqual([]);
    const quiet = await audit(hoursLater(5));
    expect(quiet.registry.candidates).toBe(1); // the rolling pass's slice: ⌈120/144⌉ = 1
    expect(describeCalls()).toHaveLength(2); // the sweep + one page
  });

  it("a host launched minutes ago is not reported yet (the report says so), and is reported once past the grace period", async () => {
    const { w, audit } = world(60);
    await audit(T0);
    w.inventory.hosts.set(id(500), host(500, new Date(hoursLater(1).getTime() - 5 * 60_000).toISOString()));
    const young = await audit(hoursLater(1));
    expect(unmanaged(young)).toEqual([]);
    expect(young.registry).toMatchObject({ mode: "incremental", deferred: 1 });
    expect(young.registry.mode !== "unavailable" && young.registry.note).toMatch(/under 15 min ago/);
    const later = await audit(hoursLater(2));
    expect(unmanaged(later)).toEqual([id(500)]);
  });

  it("hourly audits ask about every host within a week, a page of ids at a time: no weekly ⌈N/50⌉ spike", async () => {
    const n = 2000;
    const { audit } = world(n);
    await audit(T0); // full: no state yet
    const asked = new Map<string, number>(); // id → hours after T0 it was last asked about by id
    let pass: number | undefined;
    let maxCalls = 0;
    for (let h = 1; h <= 24 * 7; h++) {
      const r = await audit(hoursLater(h));
      expect(r.registry.mode).toBe("incremental");
      const calls = describeCalls();
      maxCalls = Math.max(maxCalls, calls.length);
      for (const c of calls)
        if (c.Filters?.[0]?.Key === "InstanceIds") for (const i of c.Filters[0].Values ?? []) asked.set(i, h);
      if (pass === undefined && r.registry.mode === "incremental" && r.registry.fullCheckAt === r.registry.checkedAt)
        pass = h;
    }
    expect(asked.size).toBe(n); // every host asked by id again within the week
    expect(pass).toBeDefined();
    expect(pass).toBeLessThanOrEqual(24 * 7);
    expect(maxCalls).toBeLessThanOrEqual(2); // the sweep + one page of ⌈2000/144⌉ = 14 ids, every hour
  });

  it("after a paused schedule the slice covers everyone; --full-registry and an unreadable summary check everything", async () => {
    const { w, audit } = world(120);
    await audit(T0);
    const weekLater = await audit(hoursLater(7 * 24 + 1));
    expect(weekLater.registry).toMatchObject({ mode: "incremental", candidates: 120 });
    expect(weekLater.registry.mode !== "unavailable" && weekLater.registry.fullCheckAt).toBe(
      hoursLater(7 * 24 + 1).toISOString(),
    );
    expect(describeCalls()).toHaveLength(1 + Math.ceil(120 / 50));
    expect((await audit(hoursLater(7 * 24 + 2))).registry).toMatchObject({ mode: "incremental", candidates: 1 });
    expect((await audit(hoursLater(7 * 24 + 3), { forceFull: true })).registry.mode).toBe("full");
    await w.params.put(SUMMARY, "{ broken", true);
    const r = await audit(hoursLater(7 * 24 + 4));
    expect(r.registry).toMatchObject({ mode: "full", reason: "previous audit summary is not JSON" });
  });
});

describe("the stored summary", () => {
  it("stays in the standard tier (< 4 KB) with 100 remembered ids, every finding kind and a dozen API counters", () => {
    const kinds: FindingKind[] = [
      "imds-tokens-optional",
      "imds-hop-limit",
      "imds-endpoint-disabled",
      "imds-exempt",
      "iam-missing-grant",
      "iam-excess-grant",
      "iam-unknown",
      "no-instance-profile",
      "not-in-fleet",
      "stale-credentials",
      "unknown-service",
      "service-without-hosts",
      "secret-missing",
      "unmanaged-host",
      "imds-defaults",
      "imds-exempt-expired",
      "imds-launch-template",
      "imds-asg-pinned",
      "imds-ami",
      "proxy-bypasses-imds",
      "static-keys-shadow-profile",
      "host-check-failed",
    ];
    const worst: AuditSummary = {
      namespace: "a-long-team-name/a-long-environment-name",
      generatedAt: T0.toISOString(),
      scannedHosts: 100_000,
      findings: 1_000_000,
      summary: Object.fromEntries(kinds.map((k) => [k, 100_000])),
      apiCalls: Object.fromEntries(
        [
          "EC2.DescribeInstances",
          "EC2.GetInstanceMetadataDefaults",
          "EC2.ModifyInstanceMetadataOptions",
          "IAM.GetAccountAuthorizationDetails",
          "IAM.GetPolicy",
          "IAM.GetPolicyVersion",
          "SecretsManager.ListSecrets",
          "SecretsManager.DescribeSecret",
          "SSM.DescribeInstanceInformation",
          "SSM.GetParameter",
          "SSM.SendCommand",
          "SSM.ListCommandInvocations",
          "EC2.DescribeLaunchTemplates",
          "EC2.DescribeLaunchTemplateVersions",
          "EC2.DescribeImages",
          "CloudWatch.GetMetricData",
          "DynamoDB.PutItem",
        ].map((k) => [k, 100_000]),
      ),
      dryRun: false,
      remediation: {
        mode: "imds+restart",
        imdsFixed: 100_000,
        imdsFailed: 100_000,
        imdsDeferred: 100_000,
        restarts: 1000,
      },
      registry: {
        checkedAt: T0.toISOString(),
        fullCheckAt: T0.toISOString(),
        unmanaged: Array.from({ length: MAX_REMEMBERED }, (_, i) => id(0x10000000 + i)),
        truncated: true,
      },
      hostChecks: { commandId: "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0", sentAt: T0.toISOString() },
    };
    const bytes = Buffer.byteLength(JSON.stringify(worst));
    expect(bytes).toBeLessThan(4096);
  });
});
