// Coalescing against moto (EC2, SSM, Secrets Manager, IAM, DynamoDB real; moto's Run Command traps corrected by the
// SSM harness): two secrets rotated 10 s apart whose consumers overlap restart each host ONCE, in one rollout that
// records both versions — under concurrent, duplicated and reordered deliveries and racing reconcilers; the window
// ends on the batch's one-time wake-up (EventBridge Scheduler, in moto), not on the reconciler's next run.
import { CreateScheduleGroupCommand, ListSchedulesCommand, SchedulerClient } from "@aws-sdk/client-scheduler";
import { PutSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { beforeAll, describe, expect, it } from "vitest";
import { SchedulerWakeups } from "#core/adapters/wakeups";
import { reconcileRollouts } from "#core/app/rollout-engine";
import { confirmRotation, isFact, startRollout } from "#core/app/rotate-secret";
import { trackRestart } from "#core/app/track-restart";
import { coalescedRolloutId } from "#core/domain/coalesce";
import { validateManifest } from "#core/domain/manifest";
import { rolloutIdFor, versionTagKey } from "#core/domain/secrets";
import type { SeededFleet } from "../../scripts/lib/fleet.ts";
import { useMoto } from "../support/moto.ts";
import { seedTwoWaveFleet, type Wired, wire } from "../support/wiring.ts";

useMoto();
const NS = "voiceai/coalesce";
let fleet: SeededFleet;

beforeAll(async () => {
  fleet = await seedTwoWaveFleet(NS);
}, 120_000);

const T0 = Date.parse("2026-11-30T12:00:00Z");
const at = (w: Wired, ms: number) => ({ ...w.deps, now: () => new Date(ms) });

async function rotate(secret: string): Promise<string> {
  const out = await new SecretsManagerClient({}).send(
    new PutSecretValueCommand({ SecretId: secret, SecretString: JSON.stringify({ v: Math.random() }) }),
  );
  return out.VersionId ?? "";
}

describe("coalescing", () => {
  it("two secrets rotated 10 s apart with shared consumers: one command per host, both versions recorded", async () => {
    const w = wire(fleet);
    const m = validateManifest({ ...fleet.manifest, restart: { ...fleet.manifest.restart, coalesceSeconds: 60 } });
    const shared = fleet.sharedSecretArn!; // database + api
    const apiOwn = fleet.secrets[`${NS}/api/secrets`]!; // api only
    const vShared = await rotate(shared);
    const vApi = await rotate(apiOwn);
    const deliver = async (secret: string, ms: number) => {
      const fact = await confirmRotation({ kind: "act", trigger: "test", secretId: secret }, m, w.deps);
      if (!isFact(fact)) throw new Error(fact.reason);
      return startRollout(fact, m, at(w, ms), { dryRun: false });
    };
    // Lambda runs deliveries side by side: the api secret's event (10 s later) and duplicates of both, out of order.
    const results = await Promise.all([
      deliver(apiOwn, T0 + 10_000),
      deliver(shared, T0),
      deliver(shared, T0 + 12_000),
      deliver(apiOwn, T0 + 11_000),
    ]);
    expect(w.harness.sent()).toEqual([]); // both wait out the window, held
    // One rollout per version, each held; the duplicates are answered as such.
    const members = [rolloutIdFor(shared, vShared), rolloutIdFor(apiOwn, vApi)];
    expect(new Set(results.map((r) => r.rolloutId))).toEqual(new Set(members));
    expect(results.filter((r) => r.action === "restart")).toHaveLength(2);
    expect(results.filter((r) => r.action === "duplicate")).toHaveLength(2);
    const heads = await Promise.all(members.map((id) => w.deps.rollouts.head(id)));
    const leader = heads[0]?.batch;
    expect(leader).toBeDefined();
    expect(heads.map((h) => h?.batch)).toEqual([leader, leader]);

    // Before the window ends, the reconciler sends nothing.
    await reconcileRollouts(at(w, T0 + 30_000), { dryRun: false });
    expect(w.harness.sent()).toEqual([]);

    // After it (a window opens with the first delivery processed, at T0 + 12 s at the latest), two reconcilers race:
    // one coalesced rollout, its first wave sent once.
    const after = T0 + 73_000;
    await Promise.all([1, 2].map(() => reconcileRollouts(at(w, after), { dryRun: false })));
    const into = coalescedRolloutId(leader!);
    expect(into).toMatch(/^ro-[0-9a-f]{16}$/);
    const coalesced = await w.deps.rollouts.head(into);
    expect(coalesced?.secrets?.map((s) => [s.versionId, s.services]).sort()).toEqual(
      [
        [vShared, ["api", "database"]],
        [vApi, ["api"]],
      ].sort(),
    );
    for (const id of members) expect((await w.deps.rollouts.head(id))?.coalescedInto).toBe(into);
    expect(await w.deps.rollouts.openRollouts()).toEqual([into]);
    expect(w.harness.sent().map((c) => c.parameters.Service?.[0])).toEqual(["database"]);
    expect(w.harness.sent()[0]?.comment).toContain(`dcp ${into} wave 0 step 0 try 1`);

    // The tracker drives it like any rollout; each host is in exactly one command.
    const track = (c: { commandId: string; instanceIds: string[] }) =>
      Promise.all(
        c.instanceIds.map((id) =>
          trackRestart(
            { commandId: c.commandId, documentName: fleet.documentName, instanceId: id, status: "Success" },
            at(w, after + 1000),
          ),
        ),
      );
    await track(w.harness.sent()[0]!);
    expect(w.harness.sent()).toHaveLength(2);
    await track(w.harness.sent()[1]!);
    expect((await w.deps.rollouts.head(into))?.status).toBe("succeeded");
    const targeted = w.harness.sent().flatMap((c) => c.instanceIds);
    expect(targeted.sort()).toEqual(fleet.hosts.map((h) => h.instanceId).sort());
    // Two SendCommands restart 5 hosts once each; two separate rollouts would have sent 4 and restarted api twice.
    expect(w.counter.count("SSM.SendCommand")).toBe(2);

    // A later event for a version already covered is a duplicate: nothing more is sent.
    expect((await deliver(apiOwn, after + 60_000)).action).toBe("duplicate");
    expect(w.harness.sent()).toHaveLength(2);

    // Every host records the versions its service consumes: api both, database the shared one.
    for (const h of fleet.hosts) {
      const tags = (await w.deps.inventory.describeHost(h.instanceId))?.tags ?? {};
      expect(tags[versionTagKey(fleet.manifest.sharedSecrets[0]!.arn.split(":secret:")[1]!.slice(0, -7))]).toBe(
        vShared,
      );
      expect(tags[versionTagKey(`${NS}/api/secrets`)]).toBe(h.service === "api" ? vApi : undefined);
    }
  });

  it("the window ends on the batch's one-time wake-up: one schedule on the leader at the deadline, whose visit starts the coalesced rollout", async () => {
    const w = wire(fleet);
    const scheduler = new SchedulerClient({});
    const group = "dcp-coalesce-wakeups";
    await scheduler.send(new CreateScheduleGroupCommand({ Name: group }));
    const reconciler = `arn:aws:lambda:${fleet.region}:${fleet.account}:function:dcp-rollout-reconciler`;
    w.deps.wakeups = new SchedulerWakeups(scheduler, {
      functionArn: reconciler,
      roleArn: `arn:aws:iam::${fleet.account}:role/dcp-wakeup`,
      group,
    });
    const m = validateManifest({ ...fleet.manifest, restart: { ...fleet.manifest.restart, coalesceSeconds: 60 } });
    const shared = fleet.sharedSecretArn!;
    const apiOwn = fleet.secrets[`${NS}/api/secrets`]!;
    const vShared = await rotate(shared);
    const vApi = await rotate(apiOwn);
    const t1 = T0 + 3_600_000; // an hour after the first test's window: a new batch
    const deliver = async (secret: string, ms: number) => {
      const fact = await confirmRotation({ kind: "act", trigger: "test", secretId: secret }, m, w.deps);
      if (!isFact(fact)) throw new Error(fact.reason);
      return startRollout(fact, m, at(w, ms), { dryRun: false });
    };
    // The shared secret's event first, then the api secret's 10 s later — each delivered twice, side by side (at one
    // clock: which duplicate opens the batch would otherwise move its deadline by their gap).
    await Promise.all([deliver(shared, t1), deliver(shared, t1)]);
    await Promise.all([deliver(apiOwn, t1 + 10_000), deliver(apiOwn, t1 + 10_000)]);
    const leader = rolloutIdFor(shared, vShared);
    const joiner = rolloutIdFor(apiOwn, vApi);
    expect((await w.deps.rollouts.head(joiner))?.batch).toBe(leader);
    expect(w.harness.sent()).toEqual([]);

    const listed = await scheduler.send(new ListSchedulesCommand({ GroupName: group }));
    const names = (listed.Schedules ?? []).map((s) => s.Name).sort();
    // The leader's wake-up at the batch deadline (asked by both members, set once) and the joiner's own, later one
    // (for when the merge leaves it alone): two schedules for four deliveries, each on the first whole minute at or
    // after its moment (Scheduler's precision is a minute).
    const deadline = (t1 + 60_000) / 1000; // 13:01:00, a whole minute
    expect(names).toEqual([`${leader}-${deadline}`, `${joiner}-${(t1 + 120_000) / 1000}`].sort());

    // The schedule fires at the deadline: the reconciler visits the leader only, and the coalesced rollout starts.
    await reconcileRollouts(at(w, deadline * 1000), { rolloutId: leader, dryRun: false });
    const into = coalescedRolloutId(leader);
    expect(w.harness.sent().map((c) => c.parameters.Service?.[0])).toEqual(["database"]);
    expect(w.harness.sent()[0]?.comment).toContain(`dcp ${into} wave 0 step 0 try 1`);
    for (const id of [leader, joiner]) expect((await w.deps.rollouts.head(id))?.coalescedInto).toBe(into);
    expect((await w.deps.rollouts.head(into))?.secrets?.map((s) => s.versionId).sort()).toEqual([vShared, vApi].sort());
    // The joiner's own wake-up, when it fires, finds it coalesced: nothing more is sent.
    await reconcileRollouts(at(w, t1 + 120_000), { rolloutId: joiner, dryRun: false });
    expect(w.harness.sent()).toHaveLength(1);
  });
});
