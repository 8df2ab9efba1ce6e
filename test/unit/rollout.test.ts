import { describe, expect, it } from "vitest";
import { validateManifest } from "#core/domain/manifest";
import {
  afterWaveCount,
  claimExpired,
  commentFor,
  DEFAULT_TIMINGS,
  deadlineOutcome,
  judgeInvocation,
  MAX_IDS_PER_COMMAND,
  newRollout,
  planRollout,
  type RolloutTarget,
  refFromComment,
  resetForResume,
  rolloutIdFromComment,
  stepDeadline,
  stepIndices,
  targetIdOf,
  toSend,
} from "#core/domain/rollout";
import { rolloutIdFor } from "#core/domain/secrets";
import { verdictOf } from "#core/domain/ssm";

const T0 = "2025-11-20T12:00:00.000Z";
const SECRET = {
  arn: "arn:aws:secretsmanager:eu-central-1:123456789012:secret:rds!cluster-abc-Q1w2E3",
  name: "rds!cluster-abc",
};
const VERSION = "c4d5e6f7-0a1b-4c2d-9e3f-4a5b6c7d8e9f";
const ROLLOUT_ID = rolloutIdFor(SECRET.arn, VERSION);

const manifest = validateManifest({
  namespace: "voiceai/prod",
  configBucket: "voiceai-prod-config",
  // declared out of order on purpose: the plan orders by wave, then name
  services: [
    { name: "web", wave: 2 },
    { name: "tasker", wave: 1 },
    { name: "api", wave: 1 },
    { name: "worker", wave: 5 },
  ],
  restart: { maxConcurrency: "25%", maxErrors: 1 },
});

const id = (n: number) => `i-${n.toString(16).padStart(17, "0")}`;
const plan = (targets: RolloutTarget[]) =>
  planRollout({ rolloutId: ROLLOUT_ID, secret: SECRET, versionId: VERSION, manifest, targets });
const hosts = (n: number, service: string, from = 1): RolloutTarget[] =>
  Array.from({ length: n }, (_, i) => ({ kind: "host", instanceId: id(from + i), service }));

describe("planRollout", () => {
  it("orders steps by manifest wave, then service name, and sorts ids", () => {
    const p = plan([
      { kind: "host" as const, instanceId: id(9), service: "worker" },
      { kind: "host" as const, instanceId: id(5), service: "web" },
      { kind: "host" as const, instanceId: id(3), service: "tasker" },
      { kind: "host" as const, instanceId: id(2), service: "api" },
      { kind: "host" as const, instanceId: id(1), service: "api" },
    ]);
    expect(p.waves.map((w) => [w.wave, w.service, w.targetIds])).toEqual([
      [1, "api", [id(1), id(2)]],
      [1, "tasker", [id(3)]],
      [2, "web", [id(5)]],
      [5, "worker", [id(9)]],
    ]);
    expect(p).toMatchObject({
      rolloutId: ROLLOUT_ID,
      secretArn: SECRET.arn,
      secretName: SECRET.name,
      versionId: VERSION,
      maxConcurrency: "25%",
      maxErrors: "1",
      skipped: [],
    });
  });

  it("chunks a service at 50 ids per SendCommand, every host exactly once", () => {
    const targets = Array.from({ length: 123 }, (_, i) => ({
      kind: "host" as const,
      instanceId: id(i + 1),
      service: "api",
    }));
    const p = plan(targets);
    expect(MAX_IDS_PER_COMMAND).toBe(50);
    expect(p.waves.map((w) => w.targetIds.length)).toEqual([50, 50, 23]);
    expect(p.waves.every((w) => w.service === "api" && w.wave === 1)).toBe(true);
    const all = p.waves.flatMap((w) => w.targetIds);
    expect(new Set(all).size).toBe(123);
    expect(all).toHaveLength(123);
  });

  it("exactly 50 hosts is one command", () => {
    const p = plan(
      Array.from({ length: 50 }, (_, i) => ({ kind: "host" as const, instanceId: id(i + 1), service: "web" })),
    );
    expect(p.waves).toHaveLength(1);
  });

  it("deduplicates a host listed twice", () => {
    const p = plan([
      { kind: "host" as const, instanceId: id(1), service: "api" },
      { kind: "host" as const, instanceId: id(1), service: "api" },
    ]);
    expect(p.waves.flatMap((w) => w.targetIds)).toEqual([id(1)]);
    expect(p.skipped).toEqual([]);
  });

  it("a host listed under two services is planned once and the second listing is skipped", () => {
    const p = plan([
      { kind: "host" as const, instanceId: id(1), service: "web" },
      { kind: "host" as const, instanceId: id(1), service: "api" },
    ]);
    expect(p.waves.flatMap((w) => w.targetIds)).toEqual([id(1)]);
    expect(p.waves[0]?.service).toBe("web");
    expect(p.skipped).toEqual([{ targetId: id(1), service: "api", reason: expect.stringMatching(/already planned/) }]);
    // …so the rollout's record of the host agrees with the one step that will send it.
    const { steps } = newRollout(p, T0);
    expect(steps.map((st) => [st.service, st.wave, st.targetIds])).toEqual([["web", 2, [id(1)]]]);
  });

  it("refuses service names outside the manifest or the pattern into skipped, keeping given skips", () => {
    const p = planRollout({
      rolloutId: ROLLOUT_ID,
      secret: SECRET,
      versionId: VERSION,
      manifest,
      targets: [
        { kind: "host" as const, instanceId: id(1), service: "api" },
        { kind: "host" as const, instanceId: id(2), service: "billing" },
        { kind: "host" as const, instanceId: id(3), service: "api; reboot" },
        { kind: "host" as const, instanceId: id(4), service: "API" },
      ],
      skipped: [{ targetId: id(5), service: "web", reason: "no instance profile" }],
    });
    expect(p.waves.flatMap((w) => w.targetIds)).toEqual([id(1)]);
    expect(p.skipped.map((s) => s.targetId)).toEqual([id(5), id(2), id(3), id(4)]);
    expect(p.skipped[1]?.reason).toMatch(/service name refused/);
  });

  it("no targets → no steps, and the rollout is born finished", () => {
    const p = plan([]);
    expect(p.waves).toEqual([]);
    const { head, steps } = newRollout(p, T0);
    expect(head.status).toBe("succeeded");
    expect(steps).toEqual([]);
  });
});

describe("newRollout: the head stays small however large the rollout", () => {
  it("a planned 50,000-host rollout: 1,000 steps of ≤ 50, waves by index range, a head under 2 KB", () => {
    const { head, steps } = newRollout(
      plan([...hosts(20_000, "api"), ...hosts(20_000, "web", 20_001), ...hosts(10_000, "worker", 40_001)]),
      T0,
    );
    expect(steps).toHaveLength(1000);
    expect(steps.every((st) => st.targetIds.length <= MAX_IDS_PER_COMMAND)).toBe(true);
    expect(head.waves).toEqual([
      { wave: 1, first: 0, steps: 400, targets: 20_000 },
      { wave: 2, first: 400, steps: 400, targets: 20_000 },
      { wave: 5, first: 800, steps: 200, targets: 10_000 },
    ]);
    expect(steps[400]).toMatchObject({ waveIndex: 1, wave: 2, state: "planned", attempt: 1, done: 0 });
    expect(stepIndices(head, 2)).toHaveLength(200);
    expect(JSON.stringify(head).length).toBeLessThan(2048);
  });

  it("an ECS service is a step of its own in its service's wave, counted like a host", () => {
    const ecs: RolloutTarget = {
      kind: "ecs-service",
      serviceArn: "arn:aws:ecs:eu-central-1:123456789012:service/prod/web",
      clusterArn: "arn:aws:ecs:eu-central-1:123456789012:cluster/prod",
      service: "web",
    };
    const p = plan([...hosts(2, "web"), ecs]);
    expect(p.waves.map((w) => [w.kind, w.targetIds])).toEqual([
      ["ecs-service", [targetIdOf(ecs)]],
      ["host", [id(1), id(2)]],
    ]);
    expect(newRollout(p, T0).head.waves).toEqual([{ wave: 2, first: 0, steps: 2, targets: 3 }]);
  });
});

describe("transitions", () => {
  const twoWaves = () => newRollout(plan([...hosts(2, "api"), ...hosts(1, "web", 3)]), T0).head;

  it("the counter reaching the wave's size advances; the last wave succeeds; anything else waits", () => {
    const head = twoWaves();
    expect(afterWaveCount(head, 0, 1)).toEqual({ kind: "wait" });
    expect(afterWaveCount(head, 0, 2)).toEqual({ kind: "advance", next: 1 });
    expect(afterWaveCount({ ...head, current: 1 }, 1, 1)).toEqual({ kind: "succeeded" });
    expect(afterWaveCount({ ...head, status: "halted" }, 0, 2)).toEqual({ kind: "wait" });
    expect(afterWaveCount({ ...head, current: 1 }, 0, 2)).toEqual({ kind: "wait" }); // already advanced
  });

  it("hosts are judged by their own invocation: not-run statuses are failures, in-flight ones nothing", () => {
    for (const s of ["Undeliverable", "DeliveryTimedOut", "AccessDenied", "InvalidPlatform", "Failed", "TimedOut"])
      expect(judgeInvocation(s)?.verdict, s).toBe("bad");
    expect(judgeInvocation("Success")?.verdict).toBe("ok");
    for (const s of ["Pending", "InProgress", "Delayed", "Cancelling", "Bogus"])
      expect(verdictOf(s), s).toBeUndefined();
    expect(judgeInvocation(undefined)).toBeUndefined();
  });

  it("deadline: ⌈hosts / MaxConcurrency⌉ × execution timeout + delivery timeout + margin (queued hosts are not late)", () => {
    const step = { sentAt: T0, targetIds: Array.from({ length: 50 }, (_, i) => id(i)) };
    const t = DEFAULT_TIMINGS;
    // 25% of 50 = 12 at a time → 5 rounds
    const expected =
      Date.parse(T0) + 1000 * (5 * t.executionTimeoutSeconds + t.deliveryTimeoutSeconds + t.deadlineMarginSeconds);
    expect(stepDeadline(step, "25%", t)).toBe(expected);
    expect(stepDeadline(step, "50", t)).toBe(Date.parse(T0) + 1000 * (900 + 600 + 300));
    expect(deadlineOutcome(step, "25%", t, expected - 1)).toBeUndefined();
    expect(deadlineOutcome(step, "25%", t, expected)).toMatchObject({ verdict: "bad", why: /DeadlineExceeded/ });
    expect(stepDeadline({ targetIds: [] }, "50", t)).toBeUndefined();
  });

  it("a claim is re-taken only after its lease", () => {
    const now = Date.parse(T0);
    expect(claimExpired({ state: "claimed", claimedAt: T0 }, now + 179_000, DEFAULT_TIMINGS)).toBe(false);
    expect(claimExpired({ state: "claimed", claimedAt: T0 }, now + 180_000, DEFAULT_TIMINGS)).toBe(true);
    expect(claimExpired({ state: "sent", claimedAt: T0 }, now + 999_000, DEFAULT_TIMINGS)).toBe(false);
  });

  it("resume gives the current wave's failed targets a new attempt, and un-counts closed steps", () => {
    const { head, steps } = newRollout(plan([...hosts(60, "api"), ...hosts(1, "web", 61)]), T0);
    const [a, b] = steps;
    Object.assign(a!, {
      ok: [id(1)],
      bad: [id(2)],
      skip: [id(3)],
      why: { [id(2)]: "Failed", [id(3)]: "x" },
      done: 50,
      closed: true,
    });
    Object.assign(b!, { bad: [id(51)], done: 1 });
    const r = resetForResume(head, steps);
    expect(r.steps.map((x) => [x.index, x.attempt, x.bad, x.why])).toEqual([
      [0, 1, 1, { [id(3)]: "x" }],
      [1, 1, 1, {}],
    ]);
    expect(r.lowerDone).toBe(50);
    expect(toSend(a!)).toHaveLength(48); // not the success, not the skipped host
  });

  it("resume also sends again the hosts SSM stopped on an alarm (a halted rollout's held stop), never the successes", () => {
    const { head, steps } = newRollout(plan(hosts(3, "api")), T0);
    Object.assign(steps[0]!, {
      ok: [id(1)],
      stopped: [id(2), id(3)],
      why: { [id(2)]: "Cancelled: SSM stopped it on alarm api-5xx" },
      done: 1,
    });
    const r = resetForResume(head, steps);
    expect(r.steps).toEqual([{ index: 0, attempt: 1, bad: 0, why: {} }]);
    expect(r.lowerDone).toBe(0);
    expect(toSend(steps[0]!)).toEqual([id(2), id(3)]);
  });

  it("a command comment names rollout, wave, step and attempt; only ours are recognised", () => {
    const c = commentFor({ rolloutId: ROLLOUT_ID, secretName: SECRET.name }, { wave: 2, index: 7, attempt: 3 });
    expect(c).toBe(`dcp ${ROLLOUT_ID} wave 2 step 7 try 3 rds!cluster-abc`);
    expect(refFromComment(c)).toEqual({ rolloutId: ROLLOUT_ID, wave: 2, step: 7, attempt: 3 });
    expect(refFromComment(`dcp ${ROLLOUT_ID} wave 1 old-format`)).toEqual({ rolloutId: ROLLOUT_ID, wave: 1 });
    expect(rolloutIdFromComment("restart by hand")).toBeUndefined();
    expect(rolloutIdFromComment(undefined)).toBeUndefined();
  });
});
