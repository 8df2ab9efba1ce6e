// Use cases over in-memory ports: the failure paths moto cannot produce.
import { describe, expect, it } from "vitest";
import { auditFleet } from "#core/app/audit-fleet";
import { guardHost, IAM_SCOPE_TAG } from "#core/app/guard-host";
import { reconcileRollouts } from "#core/app/rollout-engine";
import { confirmRotation, isFact, startRollout } from "#core/app/rotate-secret";
import { trackRestart } from "#core/app/track-restart";
import { validateManifest } from "#core/domain/manifest";
import type { Rollout } from "#core/domain/rollout";
import { classifyRotationEvent } from "#core/domain/rotation";
import { RESTARTED_AT_TAG, versionTagKey } from "#core/domain/secrets";
import { InvalidInstanceIdError } from "#core/ports/index";
import { FAKE_RESTART_DOCUMENT, type FakeWorld } from "../support/fakes.ts";
import { instanceId, ROTATION, rotationWorld, TEST_ACCOUNT, testHost } from "../support/fixtures.ts";

const { DB, VERSION, manifest, fact, ROLLOUT_ID } = ROTATION;
const ACCT = TEST_ACCOUNT;
const SM = `arn:aws:secretsmanager:eu-central-1:${ACCT}:secret:`;
const fleet = rotationWorld;
const _profile = (svc: string) => testHost(0, svc).instanceProfileArn!;
const id = instanceId;
const host = testHost;

async function stored(w: FakeWorld): Promise<Rollout> {
  const r = await w.rollouts.get(ROLLOUT_ID);
  if (!r) throw new Error("rollout not stored");
  return r;
}
/** Each target's state: its step's, or its outcome. */
const states = (r: Rollout) =>
  Object.fromEntries(
    r.steps.flatMap((s) =>
      s.targetIds.map((t) => [
        t,
        s.ok.includes(t) ? "ok" : s.bad.includes(t) ? "bad" : s.skip.includes(t) ? "skip" : s.state,
      ]),
    ),
  );

/** The same world, its clock `ms` later. */
function fakeWorldAt(w: FakeWorld, ms: number): FakeWorld["deps"] {
  const at = new Date(w.deps.now().getTime() + ms);
  return { ...w.deps, now: () => at };
}

describe("guardHost over fakes", () => {
  it("a role deleted between describe and load → iam-unknown, tagged unknown, IMDS still fixed in one call", async () => {
    const w = fleet();
    w.inventory.hosts.get(id(1))!.imds = { httpTokens: "optional", hopLimit: 1, httpEndpoint: "enabled" };
    w.policies.roles.set("voiceai-api", "deleted");
    const r = await guardHost(id(1), manifest, w.deps, { dryRun: false });
    expect(r.status).toBe("guarded");
    expect(r.iam.verdict).toBe("unknown");
    expect(r.iam.role).toBe("voiceai-api");
    expect(r.findings.find((f) => f.kind === "iam-unknown")?.detail).toMatch(/voiceai-api vanished/);
    expect(w.inventory.tagCalls).toEqual([{ instanceIds: [id(1)], tags: { [IAM_SCOPE_TAG]: "unknown" } }]);
    expect(w.inventory.modifyCalls).toEqual([
      { instanceId: id(1), desired: { httpTokens: "required", hopLimit: 2, httpEndpoint: "enabled" } },
    ]);
    expect(r.imds).toMatchObject({ changed: true, action: "modify", after: { httpTokens: "required", hopLimit: 2 } });
  });

  it("dry run writes nothing but reports the same findings", async () => {
    const w = fleet();
    w.inventory.hosts.get(id(1))!.imds = { httpTokens: "optional", hopLimit: 2, httpEndpoint: "enabled" };
    w.policies.roles.set("voiceai-api", "deleted");
    const r = await guardHost(id(1), manifest, w.deps, { dryRun: true });
    expect(r.findings.map((f) => f.kind).sort()).toEqual(["iam-unknown", "imds-tokens-optional"]);
    expect(r.imds.changed).toBe(false);
    expect(r.tags).toEqual({ [IAM_SCOPE_TAG]: "unknown" });
    expect(w.inventory.modifyCalls).toEqual([]);
    expect(w.inventory.tagCalls).toEqual([]);
  });

  it("a host of another namespace is left alone", async () => {
    const w = fleet();
    w.inventory.hosts.set(id(9), host(9, "api", { tags: { Namespace: "other/ns", Service: "api" } }));
    const r = await guardHost(id(9), manifest, w.deps, { dryRun: false });
    expect(r.status).toBe("skipped");
    expect(w.inventory.modifyCalls).toEqual([]);
    expect(w.inventory.tagCalls).toEqual([]);
  });
});

describe("auditFleet over fakes", () => {
  it("reports hosts the SSM agent does not manage, and non-compliant account IMDS defaults", async () => {
    const w = fleet();
    w.deps.managed.online = new Set([id(1), id(3)]);
    w.inventory.defaults = { httpTokens: "optional", hopLimit: 1 };
    const report = await auditFleet(manifest, w.deps, { remediation: "none", dryRun: false });
    const unmanaged = report.findings.filter((f) => f.kind === "unmanaged-host");
    expect(unmanaged).toEqual([expect.objectContaining({ instanceId: id(2), service: "api" })]);
    const defaults = report.findings.filter((f) => f.kind === "imds-defaults");
    expect(defaults).toHaveLength(1);
    expect(defaults[0]?.detail).toMatch(/tokens optional, hop limit 1/);
    expect(report.summary["unmanaged-host"]).toBe(1);
  });

  it("compliant or unavailable defaults and an unavailable fleet manager raise nothing", async () => {
    for (const defaults of [undefined, { httpTokens: "required" as const, hopLimit: 2 }]) {
      const w = fleet();
      w.inventory.defaults = defaults;
      const report = await auditFleet(manifest, w.deps, { remediation: "none", dryRun: false });
      expect(report.findings.filter((f) => f.kind === "imds-defaults" || f.kind === "unmanaged-host")).toEqual([]);
    }
  });

  it("a role deleted mid-audit is iam-unknown for each of its hosts, and the audit goes on", async () => {
    const w = fleet();
    w.policies.roles.set("voiceai-api", "deleted");
    const report = await auditFleet(manifest, w.deps, { remediation: "none", dryRun: false });
    expect(
      report.findings
        .filter((f) => f.kind === "iam-unknown")
        .map((f) => f.instanceId)
        .sort(),
    ).toEqual([id(1), id(2)]);
  });
});

describe("startRollout over fakes", () => {
  it("sends the first wave only, one command per step, naming rollout, step and attempt", async () => {
    const w = fleet();
    const r = await startRollout(fact, manifest, w.deps, { dryRun: false });
    expect(r).toMatchObject({ action: "restart", rolloutId: ROLLOUT_ID });
    expect(w.commands.sent).toHaveLength(1);
    expect(w.commands.sent[0]).toMatchObject({
      documentName: FAKE_RESTART_DOCUMENT,
      service: "api",
      instanceIds: [id(1), id(2)],
      maxConcurrency: "1",
      maxErrors: "0",
    });
    expect(w.commands.sent[0]?.comment).toMatch(new RegExp(`^dcp ${ROLLOUT_ID} wave 1 step 0 try 1 `));
    expect(states(await stored(w))).toEqual({ [id(1)]: "sent", [id(2)]: "sent", [id(3)]: "planned" });
    expect(w.rollouts.running.has(ROLLOUT_ID)).toBe(true);
  });

  it("a second delivery of the same rotation sends nothing", async () => {
    const w = fleet();
    await startRollout(fact, manifest, w.deps, { dryRun: false });
    const again = await startRollout(fact, manifest, w.deps, { dryRun: false });
    expect(again.action).toBe("duplicate");
    expect(w.commands.sent).toHaveLength(1);
  });

  it("dry run plans but neither stores nor sends", async () => {
    const w = fleet();
    const r = await startRollout(fact, manifest, w.deps, { dryRun: true });
    expect(r.action).toBe("planned");
    expect(r.plan.waves.map((s) => s.service)).toEqual(["api", "web"]);
    expect(w.commands.sent).toEqual([]);
    expect(w.rollouts.heads.size).toBe(0);
  });

  it("skips consumers already on the version or launched after it became current (the audit's rule)", async () => {
    const w = fleet();
    w.inventory.hosts.get(id(1))!.tags[versionTagKey(DB.name)] = VERSION;
    w.inventory.hosts.get(id(2))!.launchTime = "2025-11-20T11:30:00Z"; // after lastChangedDate 11:00
    const r = await startRollout({ ...fact, changedAt: "2025-11-20T11:00:00Z" }, manifest, w.deps, { dryRun: false });
    expect(r.plan.waves.flatMap((s) => s.targetIds)).toEqual([id(3)]);
    expect(r.plan.skipped.map((s) => [s.targetId, s.reason])).toEqual([
      [id(1), "already runs this version (recorded on the host)"],
      [id(2), "launched after this version became current: read it at boot"],
    ]);
  });

  it("hosts the audit's registry state knows to be unmanaged are reported, not sent", async () => {
    const w = fleet();
    const registry = { checkedAt: "2025-11-20T11:00:00Z", fullCheckAt: "2025-11-20T11:00:00Z", unmanaged: [id(2)] };
    await w.params.put(w.deps.config.auditSummaryParam, JSON.stringify({ registry }), true);
    const r = await startRollout(fact, manifest, w.deps, { dryRun: false });
    expect(w.commands.sent.flatMap((c) => c.instanceIds)).toEqual([id(1)]);
    expect(r.plan.skipped).toEqual([
      { targetId: id(2), service: "api", reason: expect.stringMatching(/^unmanaged: not registered with SSM/) },
    ]);
  });

  it("InvalidInstanceId for a batch: split and sent per host; the refused host is skipped, not a failure", async () => {
    const w = fleet();
    const invalid = () => new InvalidInstanceIdError("Instances [[i-…]] not in a valid state for account");
    w.commands.failOn(1, invalid()); // the batch of api hosts 1, 2
    w.commands.failOn(3, invalid()); // host 2 alone
    const r = await startRollout(fact, manifest, w.deps, { dryRun: false });
    expect(r.commands).toEqual([
      expect.objectContaining({
        targetIds: [id(1), id(2)],
        unmanaged: [id(2)],
        commandIds: [w.commands.sent[0]!.commandId],
      }),
    ]);
    const st = (await stored(w)).steps[0]!;
    expect(st.skip).toEqual([id(2)]);
    expect(st.why[id(2)]).toMatch(/InvalidInstanceId/);
    expect((await stored(w)).status).toBe("running");
  });

  it("SendCommand throttled past its retries: the error propagates, the step's claim is released, a retry sends it", async () => {
    const w = fleet();
    const m = validateManifest({
      ...manifest,
      services: [
        { name: "api", wave: 1 },
        { name: "web", wave: 1 },
      ],
    });
    const throttled = Object.assign(new Error("Rate exceeded"), { name: "ThrottlingException" });
    w.commands.failOn(2, throttled);
    await expect(startRollout(fact, m, w.deps, { dryRun: false })).rejects.toThrow("Rate exceeded");
    expect(states(await stored(w))).toEqual({ [id(1)]: "sent", [id(2)]: "sent", [id(3)]: "planned" });
    const retry = await startRollout(fact, m, w.deps, { dryRun: false });
    expect(retry.action).toBe("restart");
    expect(retry.commands.map((c) => c.targetIds)).toEqual([[id(3)]]);
    expect(w.commands.sent.flatMap((c) => c.instanceIds).sort()).toEqual([id(1), id(2), id(3)]);
  });

  it("a crash after the claim: the reconciler asks SSM first, then sends exactly the unsent step, once", async () => {
    const w = fleet();
    const crash = Object.assign(new Error("Runtime exited"), { name: "Crash" });
    w.commands.failOn(1, crash);
    const release = w.rollouts.releaseStep.bind(w.rollouts);
    w.rollouts.releaseStep = async () => {
      throw crash; // the process is gone before the release is written
    };
    await expect(startRollout(fact, manifest, w.deps, { dryRun: false })).rejects.toThrow("Runtime exited");
    w.rollouts.releaseStep = release;
    expect(states(await stored(w))).toEqual({ [id(1)]: "claimed", [id(2)]: "claimed", [id(3)]: "planned" });
    // Within the lease (a slow delivery may still be sending) nothing is re-sent.
    expect((await reconcileRollouts(w.deps, { dryRun: false })).rollouts[0]?.sent).toEqual([]);
    const later = fakeWorldAt(w, 10 * 60_000);
    const lookups: string[] = [];
    const ask = w.commands.commandsWithComment.bind(w.commands);
    w.commands.commandsWithComment = async (...a) => {
      lookups.push(a[0]);
      return ask(...a);
    };
    const first = await reconcileRollouts(later, { dryRun: false });
    expect(lookups).toEqual([id(1)]);
    expect(first.rollouts[0]?.sent.map((s) => s.targetIds)).toEqual([[id(1), id(2)]]);
    const second = await reconcileRollouts(later, { dryRun: false });
    expect(second.rollouts[0]?.sent).toEqual([]);
    expect(w.commands.sent.map((c) => c.instanceIds)).toEqual([[id(1), id(2)]]);
  });
});

describe("confirmRotation over fakes", () => {
  it("every id form of the event resolves to the same rollout, through one DescribeSecret", async () => {
    const ids = new Set<string>();
    for (const secretId of [DB.arn, `${SM}${DB.name}`, DB.name]) {
      const w = fleet();
      const intent = classifyRotationEvent({
        version: "0",
        id: "1d2e3f4a-5b6c-4d7e-8f9a-0b1c2d3e4f5a",
        "detail-type": "AWS Service Event via CloudTrail",
        source: "aws.secretsmanager",
        account: ACCT,
        time: "2025-11-20T11:30:45Z",
        region: "eu-central-1",
        resources: [],
        detail: {
          eventSource: "secretsmanager.amazonaws.com",
          eventName: "RotationSucceeded",
          additionalEventData: { SecretId: secretId },
        },
      });
      const f = await confirmRotation(intent, manifest, w.deps);
      expect(isFact(f)).toBe(true);
      if (!isFact(f)) continue;
      expect(f).toMatchObject({ secretArn: DB.arn, secretName: DB.name, versionId: VERSION, services: ["api", "web"] });
      expect(w.secrets.calls).toEqual([secretId]);
      const r = await startRollout(f, manifest, w.deps, { dryRun: false });
      if (r.rolloutId) ids.add(r.rolloutId);
    }
    expect(ids).toEqual(new Set([ROLLOUT_ID]));
  });

  it("a foreign secret is ignored without any AWS call", async () => {
    const w = fleet();
    const f = await confirmRotation(
      { kind: "act", trigger: "PutSecretValue", secretId: "voiceai/staging/api/secrets" },
      manifest,
      w.deps,
    );
    expect(isFact(f)).toBe(false);
    expect(w.secrets.calls).toEqual([]);
  });
});

describe("trackRestart over fakes", () => {
  async function started(w: FakeWorld): Promise<string> {
    await startRollout(fact, manifest, w.deps, { dryRun: false });
    const cmd = w.commands.sent[0];
    if (!cmd) throw new Error("nothing sent");
    return cmd.commandId;
  }
  const track = (w: FakeWorld, commandId: string, instanceId: string | undefined, status: string) =>
    trackRestart(
      { commandId, documentName: FAKE_RESTART_DOCUMENT, status, ...(instanceId ? { instanceId } : {}) },
      w.deps,
    );

  it("records a success; the step's last one tags the step's hosts by secret NAME in one call and sends the next wave", async () => {
    const w = fleet();
    const cmd = await started(w);
    w.commands.finish(cmd, "Success");
    const first = await track(w, cmd, id(1), "Success");
    expect(first.recorded).toEqual([{ instanceId: id(1), status: "Success" }]);
    expect(first.nextWave).toBeNull();
    expect(w.inventory.tagCalls).toEqual([]);

    const second = await track(w, cmd, id(2), "Success");
    expect(second.nextWave?.wave).toBe(2);
    expect(second.nextWave?.commands.map((c) => [c.service, c.targetIds])).toEqual([["web", [id(3)]]]);
    expect(w.commands.sent).toHaveLength(2);
    expect(w.inventory.tagCalls.map((c) => c.instanceIds)).toEqual([[id(1), id(2)]]);
    expect(w.inventory.hosts.get(id(1))?.tags[versionTagKey(DB.name)]).toBe(VERSION);
    expect(w.inventory.hosts.get(id(1))?.tags[RESTARTED_AT_TAG]).toBe("2025-11-20T12:00:00.000Z");
  });

  it("trusts GetCommandInvocation over the event's status: still InProgress records nothing", async () => {
    const w = fleet();
    const cmd = await started(w);
    w.commands.finish(cmd, "InProgress");
    const r = await track(w, cmd, id(1), "Success");
    expect(r.recorded).toEqual([]);
    expect(r.ignored).toMatch(/still reports InProgress/);
    expect(w.inventory.tagCalls).toEqual([]);
  });

  it("an Undeliverable host under a Success command: not tagged, the rollout halts, no later wave", async () => {
    const w = fleet();
    const cmd = await started(w);
    w.commands.finish(cmd, "Success", [id(1)]);
    w.commands.finish(cmd, "Undeliverable", [id(2)]);
    const r = await track(w, cmd, undefined, "Success");
    expect(r.rolloutStatus).toBe("halted");
    expect(r.halted).toBe(`${id(2)} (api) ended Undeliverable`);
    expect(r.nextWave).toBeNull();
    expect(w.commands.sent).toHaveLength(1);
    // the host that did restart still records its version; the undelivered one does not
    expect(w.inventory.tagCalls.map((c) => c.instanceIds)).toEqual([[id(1)]]);
  });

  it("duplicated, reordered, concurrent deliveries: each host once, one wave transition, waves in order", async () => {
    const w = fleet();
    const cmd = await started(w);
    w.commands.finish(cmd, "Success");
    const deliveries = [id(1), id(2), id(2), id(1), id(2)].map((h) => track(w, cmd, h, "Success"));
    const results = await Promise.all(deliveries);
    expect(results.filter((r) => r.recorded.length > 0)).toHaveLength(2);
    expect(results.filter((r) => r.duplicate)).toHaveLength(3);
    expect(results.filter((r) => r.nextWave)).toHaveLength(1);
    expect(w.commands.sent.map((c) => c.service)).toEqual(["api", "web"]);
  });

  it("ignores other documents, foreign commands and non-final statuses without a write", async () => {
    const w = fleet();
    const cmd = await started(w);
    const writes = w.rollouts.writes;
    expect(
      (
        await trackRestart(
          { commandId: cmd, documentName: "AWS-RunShellScript", status: "Success", instanceId: id(1) },
          w.deps,
        )
      ).ignored,
    ).toMatch(/not the control plane's restart document/);
    expect((await track(w, cmd, undefined, "InProgress")).ignored).toMatch(/not final/);
    expect((await track(w, cmd, id(1), "InProgress")).ignored).toMatch(/not final/);
    expect((await track(w, "ffffffff-aaaa-bbbb-cccc-000000000000", id(1), "Success")).ignored).toMatch(
      /no such invocation/,
    );
    expect(w.rollouts.writes).toBe(writes);
  });
});
