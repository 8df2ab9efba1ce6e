// Coalescing, pure: what a batch member does when visited, and the one plan its merged members make.
import { describe, expect, it } from "vitest";
import { type Batch, coalescedRolloutId, heldWakeups, memberFate, mergePlans } from "#core/domain/coalesce";
import { policyFor } from "#core/domain/gates";
import { validateManifest } from "#core/domain/manifest";
import { newRollout, planRollout, type RolloutTarget } from "#core/domain/rollout";
import { rolloutIdFor } from "#core/domain/secrets";

const manifest = validateManifest({
  namespace: "voiceai/prod",
  configBucket: "voiceai-prod-config",
  services: [
    { name: "database", wave: 0, alarms: ["db-health"] },
    { name: "api", wave: 1, alarms: ["api-5xx"], readsPerRestart: 20 },
  ],
  restart: { maxConcurrency: "100%", parameterStoreTps: 40, coalesceSeconds: 60 },
});
const T0 = Date.parse("2026-11-30T12:00:00Z");
const id = (n: number) => `i-${n.toString(16).padStart(17, "0")}`;
const hosts = (service: string, ...ns: number[]): RolloutTarget[] =>
  ns.map((n) => ({ kind: "host", instanceId: id(n), service }));

/** A member rollout as startRollout stores it: planned for one secret version, held, nothing sent. */
function member(arn: string, version: string, services: string[], targets: RolloutTarget[], at: number) {
  const plan = planRollout({
    rolloutId: rolloutIdFor(arn, version),
    secret: { arn, name: arn.split(":secret:")[1]! },
    versionId: version,
    manifest,
    targets,
    skipped: [{ targetId: id(9), service: "api", reason: "already runs this version (recorded on the host)" }],
    policy: policyFor(manifest, {}, services),
  });
  return newRollout(plan, new Date(at).toISOString());
}
const SM = "arn:aws:secretsmanager:eu-central-1:123456789012:secret:";

describe("memberFate", () => {
  const batch: Batch = {
    leader: "ro-a",
    namespace: "voiceai/prod",
    openedAt: new Date(T0).toISOString(),
    deadline: new Date(T0 + 60_000).toISOString(),
    members: ["ro-a", "ro-b"],
  };
  it("waits while the window is open, closes after it, then follows what was merged", () => {
    expect(memberFate(undefined, "ro-a", T0)).toBe("alone");
    expect(memberFate(batch, "ro-b", T0 + 59_999)).toBe("wait");
    expect(memberFate(batch, "ro-b", T0 + 60_000)).toBe("close");
    expect(memberFate({ ...batch, closed: batch.members }, "ro-b", T0 + 1000)).toBe("close"); // a closer half-way
    const merged = { ...batch, closed: batch.members, merged: ["ro-a", "ro-b"] };
    expect(memberFate(merged, "ro-b", T0 + 61_000)).toBe("coalesced");
    // One member only (the other had already gone): nothing to coalesce, it rolls alone; so does one left out.
    expect(memberFate({ ...merged, merged: ["ro-a"] }, "ro-a", T0 + 61_000)).toBe("alone");
    expect(memberFate(merged, "ro-c", T0 + 61_000)).toBe("alone");
  });

  it("names the coalesced rollout in the rollout id format, derived from the batch", () => {
    expect(coalescedRolloutId("ro-0123456789abcdef")).toMatch(/^ro-[0-9a-f]{16}$/);
    expect(coalescedRolloutId("ro-0123456789abcdef")).toBe(coalescedRolloutId("ro-0123456789abcdef"));
    expect(coalescedRolloutId("ro-0123456789abcdef")).not.toBe(coalescedRolloutId("ro-fedcba9876543210"));
  });
});

describe("mergePlans", () => {
  const a = member(
    `${SM}db-master-AbCdEf`,
    "v-a",
    ["database", "api"],
    [...hosts("database", 1, 2), ...hosts("api", 3, 4, 5)],
    T0,
  );
  const b = member(`${SM}voiceai/prod/api/secrets-XyZ123`, "v-b", ["api"], [...hosts("api", 4, 5, 6, 9)], T0 + 10_000);
  const into = coalescedRolloutId(a.head.rolloutId);
  const p = mergePlans(into, [a, b]);

  it("restarts every target of every member once, in its service's wave, sized to the Parameter Store budget", () => {
    expect(p.rolloutId).toBe(into);
    expect(p.waves.map((s) => [s.wave, s.service, s.targetIds, s.maxConcurrency])).toEqual([
      [0, "database", [id(1), id(2)], "2"],
      [1, "api", [id(3), id(4), id(5), id(6), id(9)], "2"], // ⌊40 / 20⌋ = 2 at once
    ]);
    // i-…9 was skipped by the first member (already on its version) but the second restarts it: not skipped.
    expect(p.skipped).toEqual([]);
  });

  it("records every version with the services whose hosts consume it, and gates on every member's alarms", () => {
    expect(p.secrets).toEqual([
      { arn: a.head.secretArn, name: a.head.secretName, versionId: "v-a", services: ["api", "database"] },
      { arn: b.head.secretArn, name: b.head.secretName, versionId: "v-b", services: ["api"] },
    ]);
    expect(p.policy?.alarms).toEqual({ "0": ["db-health"], "1": ["api-5xx"] });
    expect(p.policy?.profileWhy).toContain("coalesced: 2 secret versions changed within 60 s");
    // The leader names the secret in command comments; the head carries all versions.
    expect(p.secretName).toBe(a.head.secretName);
    expect(newRollout(p, a.head.createdAt).head.secrets).toEqual(p.secrets);
  });

  it("is the same plan whichever closer builds it", () => {
    expect(mergePlans(into, [a, b])).toEqual(p);
  });
});

describe("heldWakeups", () => {
  const iso = (ms: number) => new Date(ms).toISOString();
  const batch = { leader: "ro-a", deadline: iso(T0 + 60_000) };

  it("wakes a held rollout outside any batch at its own hold's end, and an untimed hold not at all", () => {
    expect(heldWakeups("ro-a", iso(T0 + 300_000))).toEqual([{ rolloutId: "ro-a", at: iso(T0 + 300_000) }]);
    expect(heldWakeups("ro-a", undefined)).toEqual([]);
  });

  it("wakes a batch's leader at the deadline, never before it (a visit before the deadline would only wait)", () => {
    // The leader's hold was decided a few ms before it opened the batch.
    expect(heldWakeups("ro-a", iso(T0 + 59_996), batch)).toEqual([{ rolloutId: "ro-a", at: batch.deadline }]);
    expect(heldWakeups("ro-a", iso(T0 + 90_000), batch)).toEqual([{ rolloutId: "ro-a", at: iso(T0 + 90_000) }]);
  });

  it("has a joiner ask for the leader's wake-up (which closes the batch for all) and keep its own", () => {
    expect(heldWakeups("ro-b", iso(T0 + 70_000), batch)).toEqual([
      { rolloutId: "ro-a", at: batch.deadline },
      { rolloutId: "ro-b", at: iso(T0 + 70_000) },
    ]);
    // A joiner held untimed (a closed calendar) still has the batch closed on time.
    expect(heldWakeups("ro-b", undefined, batch)).toEqual([{ rolloutId: "ro-a", at: batch.deadline }]);
  });
});
