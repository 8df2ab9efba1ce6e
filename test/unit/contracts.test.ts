// Output contracts (app/contracts.ts) on every path: each documented key present, null or empty when there is
// nothing to say. A result that drops a key, or grows one without its schema, fails here.
import { describe, expect, it } from "vitest";
import {
  AuditSummaryContract,
  type Contract,
  contractViolation,
  GuardResultContract,
  LaunchResultContract,
  RejectedContract,
  TrackResultContract,
} from "#core/app/contracts";
import { guardHost } from "#core/app/guard-host";
import { guardLaunch } from "#core/app/guard-launch";
import { startRollout } from "#core/app/rotate-secret";
import { runAudit } from "#core/app/run-audit";
import { trackRestart } from "#core/app/track-restart";
import { powertools, reject } from "#core/shell/lambda";
import { FAKE_RESTART_DOCUMENT, FakeIdempotency, type FakeWorld, fakeWorld } from "../support/fakes.ts";
import { instanceId, ROTATION, rotationWorld, testHost, testManifest } from "../support/fixtures.ts";

const holds = (contract: Contract, value: unknown) => expect(contractViolation(contract, value)).toBeUndefined();
const { manifest, fact } = ROTATION;

describe("GuardResult (InstanceLaunchFunction, dcp guard --json)", () => {
  const w = rotationWorld();
  w.inventory.hosts.set(instanceId(7), testHost(7, "api", { instanceProfileArn: undefined }));
  w.inventory.hosts.set(instanceId(8), testHost(8, "legacy-cron"));
  w.inventory.hosts.set(instanceId(9), testHost(9, "api", { tags: { Namespace: "other/ns", Service: "api" } }));
  w.inventory.hosts.set(instanceId(10), testHost(10, "api", { state: "terminated" }));
  const guard = (n: number) => guardHost(instanceId(n), manifest, w.deps, { dryRun: true });

  it.each([
    ["a guarded host with a role", 1, { service: "api", reason: null, iam: { role: "voiceai-api" } }],
    ["a host without an instance profile", 7, { service: "api", iam: { role: null, verdict: "violation" } }],
    ["a host of an unknown service", 8, { service: null, iam: { role: null, verdict: "unknown" } }],
    ["a host of another namespace", 9, { status: "skipped", service: null, imds: { before: null, after: null } }],
    ["a terminated host", 10, { status: "skipped", iam: { role: null, verdict: "skipped" } }],
    ["an instance EC2 does not know", 99, { status: "not-visible", reason: expect.stringMatching(/does not know/) }],
  ])("%s", async (_what, n, expected) => {
    const r = await guard(n);
    holds(GuardResultContract, r);
    expect(r).toMatchObject(expected);
  });

  it("the launch function's result adds `duplicate`, on the first and the repeated delivery", async () => {
    const v = fakeWorld(ROTATION.NS, { hosts: [testHost(1, "api")] });
    v.params.values.set(v.deps.config.manifestParam, JSON.stringify(testManifest()));
    const deps = { ...v.deps, idempotency: new FakeIdempotency() };
    const first = await guardLaunch({ instanceId: instanceId(1), state: "running" }, deps);
    const again = await guardLaunch({ instanceId: instanceId(1), state: "running" }, deps);
    holds(LaunchResultContract, first);
    holds(LaunchResultContract, again);
    expect([first.duplicate, again.duplicate]).toEqual([false, true]);
  });
});

describe("TrackResult (RestartTrackerFunction)", () => {
  async function started(): Promise<{ w: FakeWorld; cmd: string }> {
    const w = rotationWorld();
    await startRollout(fact, manifest, w.deps, { dryRun: false });
    return { w, cmd: w.commands.sent[0]!.commandId };
  }
  const track = (
    w: FakeWorld,
    commandId: string,
    instance: string | undefined,
    status: string,
    doc = FAKE_RESTART_DOCUMENT,
  ) => trackRestart({ commandId, documentName: doc, status, ...(instance ? { instanceId: instance } : {}) }, w.deps);

  it("holds when ignored, recorded without a next wave, with the next wave, and halted", async () => {
    const { w, cmd } = await started();
    const ignored = [
      await track(w, cmd, instanceId(1), "Success", "AWS-RunShellScript"),
      await track(w, cmd, undefined, "InProgress"),
      await track(w, "ffffffff-aaaa-bbbb-cccc-000000000000", instanceId(1), "Success"),
    ];
    for (const r of ignored) {
      holds(TrackResultContract, r);
      expect(r.ignored).toEqual(expect.any(String));
      expect(r.nextWave).toBeNull();
    }
    expect(ignored[1]!.instanceId).toBeNull();

    w.commands.finish(cmd, "Success");
    const first = await track(w, cmd, instanceId(1), "Success");
    holds(TrackResultContract, first);
    expect(first).toMatchObject({ nextWave: null, halted: null, ignored: null, duplicate: false });
    const second = await track(w, cmd, instanceId(2), "Success");
    holds(TrackResultContract, second);
    expect(second.nextWave?.wave).toBe(2);

    const { w: h, cmd: c } = await started();
    h.commands.finish(c, "Failed", [instanceId(1)]);
    const halted = await track(h, c, instanceId(1), "Failed");
    holds(TrackResultContract, halted);
    expect(halted).toMatchObject({ nextWave: null, halted: expect.stringMatching(/ended Failed/) });
  });
});

describe("AuditSummary (DriftAuditFunction)", () => {
  it("holds for a dry run and a run that stores its summary, with and without registry state", async () => {
    for (const dryRun of [true, false]) {
      const w = rotationWorld();
      w.params.values.set(w.deps.config.manifestParam, JSON.stringify(manifest));
      const { summary, registryProblem } = await runAudit({ dryRun, remediation: "imds" }, w.deps, () => ({}));
      holds(AuditSummaryContract, summary);
      // The fakes' SSM fleet manager is unavailable: no state to keep is null, not absent.
      expect(summary.registry).toBeNull();
      expect(registryProblem).toEqual(expect.any(String));
      expect(summary.remediation).toEqual({ mode: "imds", imdsFixed: 0, imdsFailed: 0, imdsDeferred: 0, restarts: 0 });
      expect(w.params.values.has(w.deps.config.auditSummaryParam)).toBe(!dryRun);
    }
  });
});

describe("Rejected (every function, for a poison event)", () => {
  it("holds", () => {
    const { logger, metrics } = powertools("contracts-test");
    holds(RejectedContract, reject(logger, metrics, "not an EC2 state-change event: detail: required"));
  });
});

describe("the contracts themselves", () => {
  it("refuse a result missing a documented key or carrying an undocumented one", () => {
    const r = { action: "rejected", reason: "x" };
    expect(contractViolation(RejectedContract, { action: "rejected" })).toMatch(/^reason: /);
    expect(contractViolation(RejectedContract, { ...r, extra: 1 })).toMatch(/extra/);
  });
});
