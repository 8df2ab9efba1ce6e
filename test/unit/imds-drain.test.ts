// The throttle-aware drain: 2,000 drifted hosts on a fake clock never exceed EC2's ModifyInstanceMetadataOptions
// bucket as configured, the run reports progress with an ETA, stops at its budget, and the next run continues
// without repeating a host. Launch events for instances EC2 does not show yet are retried, then reported.
import { describe, expect, it } from "vitest";
import { auditFleet, type Clock } from "#core/app/audit-fleet";
import { guardHost } from "#core/app/guard-host";
import { validateManifest } from "#core/domain/manifest";
import type { Host, ImdsOptions } from "#core/domain/model";
import { etaSeconds, fullBucket, take } from "#core/domain/token-bucket";
import { drainLine } from "../../bin/lib/render.ts";
import { fakeWorld } from "../support/fakes.ts";

const NS = "voiceai/prod";
const BURST = 100;
const RATE = 5;
const manifest = validateManifest({
  namespace: NS,
  configBucket: "voiceai-prod-config",
  services: [{ name: "api", wave: 0 }],
  imds: { drain: { burst: BURST, refillPerSecond: RATE } },
});
const id = (n: number) => `i-${n.toString(16).padStart(17, "0")}`;
/** An IMDSv1 host with hop limit 1: every field but the endpoint to fix. */
const V1: Omit<Host, "instanceId"> = {
  state: "running",
  launchTime: "2026-11-01T00:00:00Z",
  tags: { Namespace: NS, Service: "api" },
  imds: { httpTokens: "optional", hopLimit: 1, httpEndpoint: "enabled", state: "applied" },
};
const drifted = (n: number): Host => structuredClone({ ...V1, instanceId: id(n) });

/** Virtual time: sleeping advances it; nothing really waits. */
function fakeClock(): Clock & { t: number } {
  const c = {
    t: Date.parse("2026-11-30T12:00:00Z"),
    now: () => c.t,
    sleep: async (ms: number) => {
      c.t += ms;
    },
  };
  return c;
}

function world(n: number) {
  const w = fakeWorld(NS, { hosts: Array.from({ length: n }, (_, i) => drifted(i + 1)) });
  const at: number[] = [];
  const clock = fakeClock();
  const modify = w.inventory.modifyImds.bind(w.inventory);
  w.inventory.modifyImds = async (instanceId: string, desired: Omit<ImdsOptions, "state">) => {
    at.push(clock.now());
    const r = await modify(instanceId, desired);
    // The real answer: the change is pending until a later describe says applied.
    const h = w.inventory.hosts.get(instanceId);
    if (h) h.imds = { ...h.imds, state: "pending" };
    return { ...r, state: "pending" };
  };
  return { w, at, clock };
}

/** The most calls any window [t, t + d] holds must stay within what the bucket allows: burst + rate × d. */
function worstExcess(at: number[]): number {
  let worst = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < at.length; i++)
    for (let j = i; j < at.length; j++) {
      const allowed = BURST + (RATE * (at[j]! - at[i]!)) / 1000;
      worst = Math.max(worst, j - i + 1 - allowed);
    }
  return worst;
}

describe("token bucket", () => {
  it("reservations in a row wait 1/refill apart once the burst is spent", () => {
    const cfg = { burst: 2, refillPerSecond: 4 };
    let b = fullBucket(cfg, 0);
    const waits: number[] = [];
    for (let i = 0; i < 4; i++) {
      const r = take(b, cfg, 0);
      b = r.bucket;
      waits.push(r.waitMs);
    }
    expect(waits).toEqual([0, 0, 250, 500]);
    expect(etaSeconds(100, fullBucket(cfg, 0), cfg, 0)).toBe(25);
  });
});

describe("audit --fix imds: the paced drain", () => {
  it("2,000 drifted hosts: never more than the bucket allows, progress with an ETA, every host once", async () => {
    const { w, at, clock } = world(2000);
    const etas: number[] = [];
    const r = await auditFleet(manifest, w.deps, {
      remediation: "imds",
      dryRun: false,
      clock,
      onProgress: (stage, _done, total, eta) => {
        if (stage === "drain" && total === 2000 && eta !== undefined) etas.push(eta);
      },
    });
    expect(at).toHaveLength(2000);
    expect(new Set(w.inventory.modifyCalls.map((c) => c.instanceId)).size).toBe(2000);
    expect(worstExcess(at)).toBeLessThanOrEqual(1e-9);
    // The burst goes at once, the rest at the refill rate: (2000 − 100) / 5 = 380 s.
    expect((at.at(-1)! - at[0]!) / 1000).toBeCloseTo(380, 0);
    expect(etas[0]).toBeGreaterThan(370);
    expect(etas.at(-1)).toBe(0);
    // Counts down (to within a second of rounding while calls are in flight).
    expect(etas.every((e, i) => i === 0 || e <= etas[i - 1]! + 1)).toBe(true);
    expect(r.remediation.drain).toMatchObject({ total: 2000, applied: 2000, deferred: 0, etaSeconds: 0 });
  });

  it("stops at its budget; the next run continues with the rest and repeats no host (in flight is not drift)", async () => {
    const { w, at, clock } = world(2000);
    const first = await auditFleet(manifest, w.deps, {
      remediation: "imds",
      dryRun: false,
      clock,
      drainBudgetSeconds: 100,
    });
    // 100 at once, then 5/s for 100 s.
    expect(first.remediation.drain).toMatchObject({ applied: 600, deferred: 1400 });
    expect(first.remediation.drain?.etaSeconds).toBeGreaterThan(250);
    expect(drainLine(first.remediation.drain!, false)).toMatch(
      /600\/2000 fixed at 5\/s, burst 100; 1400 left for the next run\(s\), ETA \d+m\d\ds/,
    );

    clock.t += 3600_000; // the next scheduled run, an hour later: the bucket is full again
    const second = await auditFleet(manifest, w.deps, {
      remediation: "imds",
      dryRun: false,
      clock,
      drainBudgetSeconds: 400,
    });
    expect(second.imds.inFlight).toHaveLength(600);
    expect(second.remediation.drain).toMatchObject({ total: 1400, applied: 1400, deferred: 0 });
    expect(w.inventory.modifyCalls).toHaveLength(2000);
    expect(new Set(w.inventory.modifyCalls.map((c) => c.instanceId)).size).toBe(2000);
    expect(worstExcess(at.slice(600))).toBeLessThanOrEqual(1e-9);
  });

  it("a dry run plans every host and estimates the time, calling nothing", async () => {
    const { w, clock } = world(2000);
    const r = await auditFleet(manifest, w.deps, { remediation: "imds", dryRun: true, clock });
    expect(w.inventory.modifyCalls).toEqual([]);
    expect(r.remediation.drain).toMatchObject({ total: 2000, applied: 0, etaSeconds: 380 });
    expect(drainLine(r.remediation.drain!, true)).toBe("IMDS drain planned: 2000 host(s), ≈ 6m20s at 5/s, burst 100");
  });
});

describe("launch events: instances EC2 does not show yet", () => {
  const sleeps: number[] = [];
  const sleep = async (ms: number) => {
    sleeps.push(ms);
  };

  it("retried within the invocation, then reported as not visible: never thrown, never 'not in fleet'", async () => {
    const w = fakeWorld(NS);
    let reads = 0;
    w.inventory.describeHost = async () => {
      reads++;
      return undefined;
    };
    sleeps.length = 0;
    const r = await guardHost(id(1), manifest, w.deps, {
      dryRun: false,
      sleep,
      visibilityDelaysMs: [1000, 2000, 4000],
    });
    expect(r.status).toBe("not-visible");
    expect(r.findings.map((f) => f.kind)).not.toContain("not-in-fleet");
    expect(reads).toBe(4);
    expect(sleeps).toEqual([1000, 2000, 4000]);
  });

  it("tags that appear on a later read: the host is guarded as a fleet host", async () => {
    const w = fakeWorld(NS, { hosts: [drifted(1)] });
    const real = w.inventory.describeHost.bind(w.inventory);
    let reads = 0;
    w.inventory.describeHost = async (instanceId: string) => {
      const h = await real(instanceId);
      return ++reads < 3 && h ? { ...h, tags: {} } : h;
    };
    const r = await guardHost(id(1), manifest, w.deps, { dryRun: true, sleep, visibilityDelaysMs: [1, 1, 1] });
    expect(r.status).toBe("guarded");
    expect(r.service).toBe("api");
    expect(reads).toBe(3);
  });
});
