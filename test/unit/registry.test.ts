// The unmanaged-host check's pure core: which hosts to ask SSM about, what the answers mean, what is remembered.
import { describe, expect, it } from "vitest";
import {
  judgeRegistry,
  MAX_REMEMBERED,
  planRegistryCheck,
  type RegistryState,
  registryStateFromSummary,
  registryStateToKeep,
  rollingSlice,
} from "#core/domain/registry";

const NOW = new Date("2025-11-20T12:00:00.000Z");
const at = (minutesBeforeNow: number) => new Date(NOW.getTime() - minutesBeforeNow * 60_000).toISOString();
const id = (n: number) => `i-${n.toString(16).padStart(17, "0")}`;
const host = (n: number, launchedMinutesAgo: number) => ({ instanceId: id(n), launchTime: at(launchedMinutesAgo) });
const DAY = 24 * 60;

/** An hourly schedule: the previous audit ran an hour ago, its last full check two days ago. */
const previous = (extra: Partial<RegistryState> = {}): RegistryState => ({
  checkedAt: at(60),
  fullCheckAt: at(2 * DAY),
  unmanaged: [],
  ...extra,
});

const OLD = 30 * DAY;
const fleet = [host(1, OLD), host(2, OLD), host(3, 150), host(4, 110), host(5, 30), host(6, 5)];

describe("planRegistryCheck", () => {
  it("no previous state: every live host, and the reason says why", () => {
    const p = planRegistryCheck(fleet, undefined, NOW);
    expect(p.mode).toBe("full");
    expect(p.candidates).toEqual(fleet.map((h) => h.instanceId));
    expect(planRegistryCheck(fleet, undefined, NOW, { problem: "previous audit summary is not JSON" }).reason).toBe(
      "previous audit summary is not JSON",
    );
  });

  it("no complete pass in 7 days, truncated, dated in the future or forced: every live host", () => {
    const cases: [RegistryState, RegExp][] = [
      [previous({ fullCheckAt: at(7 * DAY + 1) }), /over 7 days/],
      [previous({ truncated: true }), /over 100 unmanaged/],
      [previous({ checkedAt: at(-5) }), /future/],
      [previous({ fullCheckAt: at(-5) }), /future/],
    ];
    for (const [state, reason] of cases) {
      const p = planRegistryCheck(fleet, state, NOW);
      expect(p.mode, reason.source).toBe("full");
      expect(p.reason).toMatch(reason);
      expect(p.candidates).toHaveLength(fleet.length);
    }
    // Exactly 7 days is still incremental.
    expect(planRegistryCheck(fleet, previous({ fullCheckAt: at(7 * DAY) }), NOW).mode).toBe("incremental");
    const forced = planRegistryCheck(fleet, previous(), NOW, { forceFull: true });
    expect(forced).toMatchObject({ mode: "full", reason: "full check requested" });
    expect(forced.candidates).toHaveLength(fleet.length);
  });

  it("incremental: hosts launched since the previous check minus a 1 h margin", () => {
    // Previous check 60 min ago: the window opens 120 min ago. Host 3 (150 min) is out, host 4 (110 min) in.
    // No cursor: the rolling pass's one id (⌈6/144⌉) is the first in id order, host 1.
    const p = planRegistryCheck(fleet, previous(), NOW);
    expect(p.mode).toBe("incremental");
    expect(p.candidates.sort()).toEqual([id(1), id(4), id(5), id(6)]);
    expect(p.reason).toBe(`3 launched since ${at(120)}, 0 unmanaged last time, 1 in the rolling pass`);
    // The window's edge is inclusive.
    expect(planRegistryCheck([host(7, 120)], previous(), NOW).candidates).toEqual([id(7)]);
  });

  it("previous unmanaged hosts still live are asked about again; terminated ones are dropped", () => {
    // id(1) is live and old; id(99) was unmanaged but is no longer in the scan (terminated).
    const p = planRegistryCheck(fleet, previous({ unmanaged: [id(1), id(99)], cursor: id(1) }), NOW);
    expect(p.candidates.sort()).toEqual([id(1), id(2), id(4), id(5), id(6)]); // id(2): the rolling pass
    expect(p.candidates).not.toContain(id(99));
    expect(p.reason).toMatch(/, 1 unmanaged last time, 1 in the rolling pass$/);
  });

  it("a launch time that cannot be read makes a host a candidate", () => {
    const p = planRegistryCheck(
      [{ instanceId: id(8), launchTime: "" }, host(1, OLD)],
      previous({ cursor: id(1) }),
      NOW,
    );
    expect(p.candidates).toEqual([id(8)]); // the rolling pass's next id after host 1 is host 8 itself
  });
});

describe("rollingSlice (the rolling pass that replaces a weekly full check)", () => {
  const ids = Array.from({ length: 1000 }, (_, i) => id(i + 1));
  const HOUR = 3_600_000;

  it("an hourly audit asks ⌈N/144⌉ ids, in id order after the cursor", () => {
    const first = rollingSlice(ids, undefined, HOUR);
    expect(first.ids).toEqual(ids.slice(0, 7));
    expect(first).toMatchObject({ cursor: id(7), passCompleted: false });
    expect(rollingSlice(ids, id(7), HOUR).ids).toEqual(ids.slice(7, 14));
  });

  it("hourly slices come round within 6 days, and a longer gap asks about proportionally more", () => {
    let cursor: string | undefined;
    let audits = 0;
    for (;;) {
      const s = rollingSlice(ids, cursor, HOUR);
      audits++;
      if (s.passCompleted) break;
      cursor = s.cursor;
    }
    expect(audits).toBeLessThanOrEqual(144);
    expect(rollingSlice(ids, undefined, 24 * HOUR).ids).toHaveLength(Math.ceil(1000 / 6));
    expect(rollingSlice(ids, undefined, 7 * 24 * HOUR).ids).toHaveLength(1000);
  });

  it("a cursor whose host is gone resumes at the next id; one past every id means the pass is done", () => {
    const live = ids.filter((i) => i !== id(7));
    expect(rollingSlice(live, id(7), HOUR).ids[0]).toBe(id(8));
    expect(rollingSlice(ids, id(5000), HOUR)).toEqual({ ids: [], passCompleted: true });
    expect(rollingSlice([], undefined, HOUR)).toEqual({ ids: [], passCompleted: true });
  });
});

describe("judgeRegistry", () => {
  const none = new Map<string, string>();

  it("full: not registered, or registered but not Online, is unmanaged; Online is fine", () => {
    const plan = planRegistryCheck(fleet, undefined, NOW);
    const answers = {
      unreachable: none,
      candidates: new Map([
        [id(1), "Online"],
        [id(2), "ConnectionLost"],
        [id(4), "Online"],
        [id(5), "Online"],
      ]),
    };
    const v = judgeRegistry(fleet, plan, answers, undefined, NOW);
    expect(v.unmanaged.map((u) => [u.instanceId, u.pingStatus])).toEqual([
      [id(2), "ConnectionLost"],
      [id(3), undefined],
    ]);
    expect(v.unmanaged[0]?.detail).toMatch(/registered but ConnectionLost/);
    expect(v.unmanaged[1]?.detail).toMatch(/not registered with SSM/);
    // Never-registered first in the remembered list: the sweep finds the others anyway.
    expect(v.state).toEqual({
      checkedAt: NOW.toISOString(),
      fullCheckAt: NOW.toISOString(),
      unmanaged: [id(3), id(2)],
    });
  });

  it("grace period: a host launched under 15 min ago and not registered is deferred, not reported", () => {
    const plan = planRegistryCheck(fleet, undefined, NOW);
    const online = new Map(fleet.filter((h) => h.instanceId !== id(6)).map((h) => [h.instanceId, "Online"]));
    const v = judgeRegistry(fleet, plan, { unreachable: none, candidates: online }, undefined, NOW);
    expect(v.unmanaged).toEqual([]);
    expect(v.deferred).toEqual([id(6)]);
    expect(v.state.unmanaged).toEqual([]);
    // 16 minutes later it is still unregistered: the margin made it a candidate, now it is reported.
    const later = new Date(NOW.getTime() + 11 * 60_000);
    const next = planRegistryCheck(fleet, v.state, later);
    expect(next.candidates).toContain(id(6));
    const v2 = judgeRegistry(fleet, next, { unreachable: none, candidates: online }, v.state, later);
    expect(v2.unmanaged.map((u) => u.instanceId)).toEqual([id(6)]);
    expect(v2.deferred).toEqual([]);
  });

  it("incremental: the sweep reports live hosts whose agent went away, de-duplicated with the candidates", () => {
    const prev = previous({ unmanaged: [id(1)] });
    const plan = planRegistryCheck(fleet, prev, NOW);
    const answers = {
      // id(2): old host, agent lost since; id(5): candidate and in the sweep; i-…99: not ours.
      unreachable: new Map([
        [id(2), "ConnectionLost"],
        [id(5), "Inactive"],
        [id(99), "ConnectionLost"],
      ]),
      candidates: new Map([
        [id(4), "Online"],
        [id(5), "Inactive"],
        [id(6), "Online"],
      ]),
    };
    const v = judgeRegistry(fleet, plan, answers, prev, NOW);
    expect(v.unmanaged.map((u) => u.instanceId).sort()).toEqual([id(1), id(2), id(5)]);
    expect(v.unmanaged.find((u) => u.instanceId === id(5))?.pingStatus).toBe("Inactive");
    expect(v.state.fullCheckAt).toBe(prev.fullCheckAt); // incremental keeps the last full check's date
    expect(v.state.checkedAt).toBe(NOW.toISOString());
    expect(v.state.unmanaged[0]).toBe(id(1)); // the never-registered one first
  });

  it("beyond 100 unmanaged hosts the state is truncated, so the next audit is full", () => {
    const many = Array.from({ length: MAX_REMEMBERED + 5 }, (_, i) => host(1000 + i, OLD));
    const plan = planRegistryCheck(many, undefined, NOW);
    const v = judgeRegistry(many, plan, { unreachable: none, candidates: none }, undefined, NOW);
    expect(v.unmanaged).toHaveLength(MAX_REMEMBERED + 5);
    expect(v.state.unmanaged).toHaveLength(MAX_REMEMBERED);
    expect(v.state.truncated).toBe(true);
    expect(planRegistryCheck(many, v.state, NOW).mode).toBe("full");
  });
});

describe("the stored state", () => {
  it("round-trips through the audit summary; anything else is a reason for a full check, never a throw", () => {
    const state = previous({ unmanaged: [id(1)] });
    expect(registryStateFromSummary(JSON.stringify({ namespace: "x", findings: 3, registry: state }))).toEqual({
      state,
    });
    expect(registryStateFromSummary(undefined).problem).toBe("no previous audit summary");
    expect(registryStateFromSummary("{not json").problem).toMatch(/not JSON/);
    expect(registryStateFromSummary(JSON.stringify({ findings: 1 })).problem).toMatch(
      /^previous registry state invalid/,
    );
    const bad = [
      { ...state, checkedAt: "yesterday" },
      { ...state, unmanaged: ["not-an-instance"] },
      { ...state, unmanaged: Array.from({ length: MAX_REMEMBERED + 1 }, (_, i) => id(i)) },
      { ...state, truncated: "yes" },
    ];
    for (const registry of bad)
      expect(registryStateFromSummary(JSON.stringify({ registry })).state, JSON.stringify(registry)).toBeUndefined();
  });

  it("a check that could not run keeps the previous state", () => {
    const prev = previous();
    expect(registryStateToKeep({ mode: "unavailable", reason: "x", candidates: 0, deferred: 0 }, prev)).toBe(prev);
    expect(
      registryStateToKeep(
        { mode: "incremental", reason: "r", candidates: 3, deferred: 0, ...previous({ unmanaged: [id(2)] }) },
        prev,
      ),
    ).toEqual(previous({ unmanaged: [id(2)] }));
  });
});
