// The gate decision and the Parameter Store budget, pure: what holds a wave, for how long, and how a wave is sized.
import { describe, expect, it } from "vitest";
import { startRollout } from "#core/app/rotate-secret";
import {
  alarmStop,
  budgetWave,
  type GatedHead,
  gatesBefore,
  nextWaveGate,
  policyFor,
  policyLines,
  type RolloutPolicy,
  stopHold,
} from "#core/domain/gates";
import { validateManifest } from "#core/domain/manifest";
import { stoppedToResend } from "#core/domain/rollout";
import { ROTATION, rotationWorld } from "../support/fixtures.ts";

const manifest = validateManifest({
  namespace: "voiceai/prod",
  configBucket: "voiceai-prod-config",
  services: [
    { name: "database", wave: 0, alarms: ["db-health"] },
    { name: "api", wave: 1, alarms: ["api-5xx", "api-latency"], readsPerRestart: 20 },
    { name: "web", wave: 2 },
  ],
  restart: { bakeSeconds: 300, changeCalendar: "voiceai-freeze", coalesceSeconds: 60 },
});
const T0 = Date.parse("2026-11-30T10:00:00Z");
const head = (policy: RolloutPolicy, extra: Partial<GatedHead> = {}): GatedHead => ({
  createdAt: new Date(T0).toISOString(),
  waves: [{ wave: 0 }, { wave: 1 }, { wave: 2 }],
  policy,
  ...extra,
});
const ok = {
  alarms: new Map([
    ["db-health", "OK"],
    ["api-5xx", "OK"],
    ["api-latency", "INSUFFICIENT_DATA"],
  ]),
  calendar: { state: "OPEN" },
};

describe("policyFor", () => {
  it("application secrets are safe; a secret AWS manages is fast unless the manifest says otherwise", () => {
    const safe = policyFor(manifest, {}, ["database", "api"]);
    expect(safe).toMatchObject({
      profile: "safe",
      bakeSeconds: 300,
      coalesceSeconds: 60,
      changeCalendar: "voiceai-freeze",
    });
    expect(safe.alarms).toEqual({ "0": ["db-health"], "1": ["api-5xx", "api-latency"] }); // web is not a consumer
    const fast = policyFor(manifest, { owningService: "rds" }, ["database"]);
    expect(fast).toMatchObject({ profile: "fast", bakeSeconds: 0, coalesceSeconds: 0 });
    expect(fast.changeCalendar).toBeUndefined();
    expect(fast.alarms).toEqual({ "0": ["db-health"] }); // alarms still gate a fast rollout
    expect(policyFor(manifest, { owningService: "rds", profile: "safe" }, ["database"]).profile).toBe("safe");
  });
});

describe("nextWaveGate", () => {
  const policy = policyFor(manifest, {}, ["database", "api", "web"]);

  it("the first wave waits out the coalescing window from the rollout's creation, then asks calendar and alarms", () => {
    const held = nextWaveGate(head(policy), 0, ok, T0 + 1000);
    expect(held).toMatchObject({ open: false, hold: { by: ["coalesce"], until: "2026-11-30T10:01:00.000Z" } });
    expect(nextWaveGate(head(policy), 0, ok, T0 + 60_000)).toEqual({ open: true });
  });

  it("a later wave bakes from its predecessor's completion; the hold keeps that moment across evaluations", () => {
    const first = nextWaveGate(head(policy), 1, ok, T0 + 10_000);
    expect(first.open).toBe(false);
    const hold = first.open ? undefined : first.hold;
    expect(hold).toMatchObject({ by: ["bake"], until: "2026-11-30T10:05:10.000Z" });
    // Evaluated again later (reconciler): the same deadline, not a new bake.
    expect(nextWaveGate(head(policy, { hold }), 1, ok, T0 + 200_000)).toMatchObject({ hold: { until: hold?.until } });
    expect(nextWaveGate(head(policy, { hold }), 1, ok, T0 + 310_000)).toEqual({ open: true });
  });

  it("a CLOSED or unknown calendar, an alarm in ALARM or missing hold the wave, naming each", () => {
    const noBake = { ...policy, bakeSeconds: 0 };
    const closed = nextWaveGate(
      head(noBake),
      1,
      { ...ok, calendar: { state: "CLOSED", nextTransition: "2026-12-01T06:00:00Z" } },
      T0,
    );
    expect(closed).toMatchObject({ open: false, hold: { by: ["calendar"] } });
    const unknown = nextWaveGate(head(noBake), 1, { alarms: ok.alarms }, T0);
    expect(unknown).toMatchObject({
      open: false,
      hold: { by: ["calendar"], reason: expect.stringContaining("unknown") },
    });
    const alarms = new Map([
      ["db-health", "ALARM"],
      ["api-5xx", "OK"],
    ]);
    const firing = nextWaveGate(head(noBake), 1, { alarms, calendar: { state: "OPEN" } }, T0);
    expect(firing).toMatchObject({ open: false, hold: { by: ["alarm"] } });
    expect(firing.open ? "" : firing.hold.reason).toBe("wave 1 held: alarm api-latency missing, db-health ALARM");
  });
});

describe("a command SSM stopped on its alarm", () => {
  const policy = policyFor(manifest, {}, ["database", "api", "web"]);
  const fired = [{ name: "api-5xx", state: "ALARM" }];

  it("is a stop only for a stopped status under the command's own alarm in ALARM; anything else stays a failure", () => {
    expect(alarmStop("Cancelled", fired, "api-5xx")).toBe("api-5xx");
    expect(alarmStop("Terminated", fired, "api-5xx")).toBe("api-5xx");
    expect(alarmStop("Failed", fired, "api-5xx")).toBeUndefined(); // the host ran and failed
    expect(alarmStop("TimedOut", fired, "api-5xx")).toBeUndefined();
    expect(alarmStop("Cancelled", [], "api-5xx")).toBeUndefined(); // an operator's CancelCommand
    expect(alarmStop("Cancelled", [{ name: "api-5xx", state: "UNKNOWN" }], "api-5xx")).toBeUndefined();
    expect(alarmStop("Cancelled", fired, undefined)).toBeUndefined(); // the command carried no alarm
    expect(alarmStop("Cancelled", [{ name: "other", state: "ALARM" }], "api-5xx")).toBeUndefined();
  });

  it("holds the running wave on that alarm; released when the alarms are OK, with no bake (not a wave boundary)", () => {
    const hold = stopHold(head(policy), 1, "api-5xx", T0);
    expect(hold).toEqual({
      wave: 1,
      by: ["alarm"],
      reason:
        "wave 1 held: SSM stopped its restart on alarm api-5xx (the stopped hosts are sent again); alarm api-5xx ALARM",
      since: new Date(T0).toISOString(),
      stopped: "api-5xx",
    });
    const firing = { ...ok, alarms: new Map([...ok.alarms, ["api-5xx", "ALARM"]]) };
    const still = nextWaveGate(head(policy, { hold }), 1, firing, T0 + 60_000);
    expect(still).toMatchObject({ open: false, hold: { by: ["alarm"], stopped: "api-5xx", since: hold.since } });
    expect(still.open ? "" : still.hold.reason).toContain("SSM stopped its restart on alarm api-5xx");
    // bakeSeconds is 300: a gate hold on wave 1 would bake first; the stop hold opens as soon as the alarms are OK.
    expect(nextWaveGate(head(policy, { hold }), 1, ok, T0 + 61_000)).toEqual({ open: true });
  });

  it("re-sends a step's stopped hosts only once none of its hosts is still in flight", () => {
    const step = { targetIds: ["i-1", "i-2", "i-3"], ok: ["i-1"], bad: [], skip: [], stopped: ["i-3"] };
    expect(stoppedToResend(step)).toEqual([]); // i-2 still running: never sent twice
    expect(stoppedToResend({ ...step, stopped: ["i-2", "i-3"] })).toEqual(["i-2", "i-3"]);
    expect(stoppedToResend({ ...step, ok: ["i-1", "i-2"], stopped: [] })).toEqual([]);
  });
});

describe("budgetWave (Parameter Store)", () => {
  it("caps each command at ⌊TPS / reads⌋ and packs commands into parts whose reads fit the budget together", () => {
    // 40 TPS, 10 reads: 4 hosts at once. Three 50-host commands at 10% → 5 each, capped to 4; 4 + 4 > 4: 3 parts.
    expect(
      budgetWave(
        [50, 50, 50].map((hosts) => ({ hosts, readsPerRestart: 10 })),
        "10%",
        40,
      ),
    ).toEqual([
      { maxConcurrency: 4, part: 0, capped: true },
      { maxConcurrency: 4, part: 1, capped: true },
      { maxConcurrency: 4, part: 2, capped: true },
    ]);
    // One host at a time each: four commands share one part (4 × 10 = 40 reads/s), the fifth starts a new one.
    expect(
      budgetWave(
        Array.from({ length: 5 }, () => ({ hosts: 50, readsPerRestart: 10 })),
        "1",
        40,
      ).map((b) => b.part),
    ).toEqual([0, 0, 0, 0, 1]);
  });

  it("the plan names the gates before each wave and a later part's reason", () => {
    const policy = policyFor(manifest, {}, ["database", "api"]);
    const steps = [{ wave: 0 }, { wave: 1 }, { wave: 1, part: 1 }];
    expect(gatesBefore(policy, steps, 0)).toBe(
      "coalescing window 60 s; calendar voiceai-freeze OPEN; alarms OK: db-health",
    );
    expect(gatesBefore(policy, steps, 1)).toBe(
      "bake 300 s; calendar voiceai-freeze OPEN; alarms OK: db-health, api-5xx, api-latency",
    );
    expect(gatesBefore(policy, steps, 2)).toMatch(/^after part 1 of wave 1 \(Parameter Store budget\)/);
    expect(policyLines(policy, [])[1]).toBe(
      "Coalescing window 60 s: secrets of the namespace that change within it restart each host once (one rollout recording every version).",
    );
    expect(policyLines(policyFor(manifest, { owningService: "rds" }, ["database"]), [])[1]).toBe(
      "No coalescing window: the first wave is sent at once.",
    );
  });
});

describe("restart.mode notify", () => {
  it("plans and reports the rotation, restarts nothing and writes no rollout", async () => {
    const w = rotationWorld();
    const m = validateManifest({ ...ROTATION.manifest, restart: { ...ROTATION.manifest.restart, mode: "notify" } });
    const r = await startRollout(ROTATION.fact, m, w.deps, { dryRun: false });
    expect(r.action).toBe("planned");
    expect(r.reason).toContain("notify mode");
    expect(r.plan.waves.flatMap((s) => s.targetIds)).toHaveLength(3);
    expect(w.commands.sent).toEqual([]);
    expect(await w.rollouts.head(ROTATION.ROLLOUT_ID)).toBeUndefined();
  });
});
