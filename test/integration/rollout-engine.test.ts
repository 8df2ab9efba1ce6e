// The rollout engine against moto (EC2, SSM, Secrets Manager, IAM, DynamoDB real; moto's Run Command traps corrected
// by the SSM harness): lost events, a crash between claim and SendCommand, per-host judgement, the 50-id limit, the
// freshness rule, and an impossible event field — each as an operator would see it.
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DescribeInstancesCommand, EC2Client } from "@aws-sdk/client-ec2";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { reconcileRollouts } from "#core/app/rollout-engine";
import { confirmRotation, isFact, type RotationResult, startRollout } from "#core/app/rotate-secret";
import { trackRestart } from "#core/app/track-restart";
import type { SecretEvent } from "#core/domain/events";
import { classifyRotationEvent } from "#core/domain/rotation";
import { versionTagKey } from "#core/domain/secrets";
import { launchHosts, type SeededFleet, seedFleet } from "../../scripts/lib/fleet.ts";
import { putNewVersion, secretLabelEvent } from "../support/fixtures.ts";
import { useMoto } from "../support/moto.ts";
import { createTables, type Wired, wire } from "../support/wiring.ts";

useMoto();
const NS = "voiceai/engine";
let fleet: SeededFleet;

const hostsOf = (service: string) => fleet.hosts.filter((h) => h.service === service).map((h) => h.instanceId);

const labelEvent = (arn: string, versionId: string): SecretEvent => secretLabelEvent(arn, versionId, fleet);
const rotate = putNewVersion;

async function start(w: Wired, secret: string): Promise<RotationResult> {
  const version = await rotate(secret);
  const fact = await confirmRotation(classifyRotationEvent(labelEvent(secret, version)), fleet.manifest, w.deps);
  if (!isFact(fact)) throw new Error(`not a fact: ${fact.reason}`);
  return startRollout(fact, fleet.manifest, w.deps, { dryRun: false });
}

/** SSM's per-host events for every command sent so far, except for `lost` hosts. */
async function deliver(w: Wired, lost: ReadonlySet<string> = new Set()) {
  const results = [];
  for (const c of w.harness.sent())
    for (const id of c.instanceIds)
      if (!lost.has(id))
        results.push(
          await trackRestart(
            { commandId: c.commandId, documentName: fleet.documentName, instanceId: id, status: "Success" },
            w.deps,
          ),
        );
  return results;
}

/** The same wiring, its clock `ms` ahead (deadlines and claim leases). */
const later = (w: Wired, ms: number): Wired["deps"] => ({ ...w.deps, now: () => new Date(Date.now() + ms) });

async function tagsOf(id: string): Promise<Record<string, string>> {
  const out = await new EC2Client({}).send(new DescribeInstancesCommand({ InstanceIds: [id] }));
  return Object.fromEntries((out.Reservations?.[0]?.Instances?.[0]?.Tags ?? []).map((t) => [t.Key, t.Value]));
}

beforeAll(async () => {
  fleet = await seedFleet({
    namespace: NS,
    services: [
      { name: "api", wave: 1, hosts: 51 },
      { name: "web", wave: 2, hosts: 2 },
      { name: "ops", wave: 1, hosts: 2 },
    ],
  });
  await createTables(new DynamoDBClient({}));
}, 180_000);

describe("rollout engine on moto", () => {
  it("a 51-host wave is two commands (50 + 1); each host is sent once", async () => {
    const w = wire(fleet);
    const r = await start(w, fleet.secrets[`${NS}/api/secrets`]!);
    expect(r.action).toBe("restart");
    const sent = w.harness.sent();
    expect(sent.map((c) => c.instanceIds.length).sort((a, b) => a - b)).toEqual([1, 50]);
    expect(new Set(sent.flatMap((c) => c.instanceIds))).toEqual(new Set(hostsOf("api")));
    expect(sent.every((c) => c.parameters["Service"]?.[0] === "api")).toBe(true);
  }, 60_000);

  it("a dropped event: the wave stalls until the reconciler asks SSM, then completes and the rollout succeeds", async () => {
    const w = wire(fleet);
    const r = await start(w, fleet.secrets[`${NS}/ops/secrets`]!);
    const [lostHost, other] = hostsOf("ops");
    await deliver(w, new Set([lostHost!]));
    expect((await w.deps.rollouts.head(r.rolloutId!))?.status).toBe("running");
    expect(await w.deps.rollouts.openRollouts()).toContain(r.rolloutId);

    const report = await reconcileRollouts(w.deps, { rolloutId: r.rolloutId!, dryRun: false });
    expect(report.rollouts[0]).toMatchObject({ recorded: 1, error: null });
    const head = await w.deps.rollouts.head(r.rolloutId!);
    expect(head?.status).toBe("succeeded");
    expect(await w.deps.rollouts.openRollouts()).not.toContain(r.rolloutId);
    for (const id of [lostHost!, other!]) expect((await tagsOf(id))[versionTagKey(`${NS}/ops/secrets`)]).toBeTruthy();
    // a second run finds nothing to do
    expect((await reconcileRollouts(w.deps, { rolloutId: r.rolloutId!, dryRun: false })).rollouts[0]?.actions).toEqual(
      [],
    );
  }, 60_000);

  it("a host that never reports is failed at the step's deadline, and the rollout halts", async () => {
    const w = wire(fleet);
    const r = await start(w, fleet.secrets[`${NS}/web/secrets`]!);
    const [silent] = hostsOf("web");
    const [cmd] = w.harness.sent();
    w.harness.failInvocation(cmd!.commandId, silent!, "InProgress");
    await deliver(w, new Set([silent!]));
    expect((await reconcileRollouts(w.deps, { rolloutId: r.rolloutId!, dryRun: false })).rollouts[0]?.recorded).toBe(0);
    // ⌈2 / MaxConcurrency⌉ × 900 s + 600 s + 300 s later
    const report = await reconcileRollouts(later(w, 3 * 3600_000), { rolloutId: r.rolloutId!, dryRun: false });
    expect(report.rollouts[0]?.actions.join("\n")).toMatch(new RegExp(`record ${silent}: no report by the deadline`));
    const head = await w.deps.rollouts.head(r.rolloutId!);
    expect(head?.status).toBe("halted");
    expect(head?.haltReason).toMatch(/DeadlineExceeded/);
  }, 60_000);

  it("an Undeliverable host under a Success command: not tagged, the rollout holds, no later wave", async () => {
    const w = wire(fleet);
    const r = await start(w, fleet.secrets[`${NS}/api/secrets`]!);
    expect(r.action).toBe("restart");
    const first = w.harness.sent().find((c) => c.instanceIds.length === 50)!;
    const undelivered = first.instanceIds[0]!;
    w.harness.failInvocation(first.commandId, undelivered, "Undeliverable");
    const results = await deliver(w);
    expect(results.some((x) => x.halted?.includes(`${undelivered} (api) ended Undeliverable`))).toBe(true);
    expect((await w.deps.rollouts.head(r.rolloutId!))?.status).toBe("halted");
    expect((await tagsOf(undelivered))[versionTagKey(r.secretName!)]).toBeUndefined();
    expect((await tagsOf(first.instanceIds[1]!))[versionTagKey(r.secretName!)]).toBe(r.versionId);
    expect(w.harness.sent().every((c) => c.parameters["Service"]?.[0] !== "web")).toBe(true);
  }, 60_000);

  it("a crash between the claim and SendCommand: the next run asks SSM, then sends exactly the unsent hosts, once", async () => {
    const w = wire(fleet);
    const realSend = w.deps.commands.sendRestart.bind(w.deps.commands);
    const realRelease = w.deps.rollouts.releaseStep.bind(w.deps.rollouts);
    w.deps.commands.sendRestart = async (req) => {
      if (req.instanceIds.length === 50) throw Object.assign(new Error("Runtime exited"), { name: "Crash" });
      return realSend(req);
    };
    w.deps.rollouts.releaseStep = async () => {
      throw Object.assign(new Error("Runtime exited"), { name: "Crash" }); // gone before releasing
    };
    const version = await rotate(fleet.secrets[`${NS}/api/secrets`]!);
    const fact = await confirmRotation(
      classifyRotationEvent(labelEvent(fleet.secrets[`${NS}/api/secrets`]!, version)),
      fleet.manifest,
      w.deps,
    );
    if (!isFact(fact)) throw new Error("not a fact");
    await expect(startRollout(fact, fleet.manifest, w.deps, { dryRun: false })).rejects.toThrow("Runtime exited");
    await vi.waitFor(() => expect(w.harness.sent()).toHaveLength(1)); // the other step's send was in flight
    w.deps.commands.sendRestart = realSend;
    w.deps.rollouts.releaseStep = realRelease;
    const sentFirst = w.harness.sent().flatMap((c) => c.instanceIds);
    expect(sentFirst).toHaveLength(1); // the 1-host step went out; the 50-host step was claimed, never sent
    const unsent = hostsOf("api").filter((id) => !sentFirst.includes(id));

    const early = await reconcileRollouts(w.deps, { dryRun: false });
    expect(early.rollouts.flatMap((x) => x.sent)).toEqual([]); // within the claim lease: maybe still sending

    const runs = await Promise.all([1, 2].map(() => reconcileRollouts(later(w, 10 * 60_000), { dryRun: false })));
    const resent = runs.flatMap((run) => run.rollouts.flatMap((x) => x.sent.flatMap((s) => s.targetIds)));
    expect(resent.sort()).toEqual(unsent.sort());
    expect(
      w.harness
        .sent()
        .flatMap((c) => c.instanceIds)
        .sort(),
    ).toEqual(hostsOf("api").sort());
  }, 60_000);

  it("a host launched after the version became current is not restarted; nor one already on it", async () => {
    const w = wire(fleet);
    const secret = fleet.secrets[`${NS}/ops/secrets`]!;
    const version = await rotate(secret);
    await new Promise((r) => setTimeout(r, 1100)); // launch strictly after LastChangedDate (second precision)
    const opsProfile = fleet.hosts.find((h) => h.service === "ops")!.profileArn!;
    const [launched] = await launchHosts(new EC2Client({}), [
      {
        tags: { Namespace: NS, Service: "ops" },
        imds: { httpTokens: "required", hopLimit: 2, httpEndpoint: "enabled" },
        profileArn: opsProfile,
      },
    ]);
    const instance = launched!.instance;
    const fact = await confirmRotation(classifyRotationEvent(labelEvent(secret, version)), fleet.manifest, w.deps);
    if (!isFact(fact)) throw new Error("not a fact");
    const r = await startRollout(fact, fleet.manifest, w.deps, { dryRun: false });
    expect(r.plan.skipped).toContainEqual({
      targetId: instance.InstanceId,
      service: "ops",
      reason: "launched after this version became current: read it at boot",
    });
    expect(w.harness.sent().flatMap((c) => c.instanceIds)).not.toContain(instance.InstanceId);
  }, 60_000);

  it("a PutSecretValue event with a malformed clientRequestToken is rejected, with no AWS call at all", async () => {
    const w = wire(fleet);
    const event: SecretEvent = {
      ...labelEvent(fleet.secrets[`${NS}/api/secrets`]!, "x"),
      "detail-type": "AWS API Call via CloudTrail",
      detail: {
        eventSource: "secretsmanager.amazonaws.com",
        eventName: "PutSecretValue",
        requestParameters: {
          secretId: fleet.secrets[`${NS}/api/secrets`],
          clientRequestToken: "c4d5e6f7-0a1b-4c2d-9e3f-4a5b6c7d;reboot",
        },
        responseElements: { versionId: "c4d5e6f7-0a1b-4c2d-9e3f-4a5b6c7d8e9f" },
      },
    };
    const r = await confirmRotation(classifyRotationEvent(event), fleet.manifest, w.deps);
    expect(isFact(r)).toBe(false);
    expect(r).toMatchObject({
      action: "rejected",
      reason: expect.stringMatching(/requestParameters\.clientRequestToken/),
    });
    expect(w.counter.total()).toBe(0);
  });
});
