// The audit's IMDS remediation at fleet scale: bounded parallelism, a per-run cap, one host's refusal reported
// without costing the others.
import { describe, expect, it } from "vitest";
import { auditFleet, IMDS_FIX_CONCURRENCY } from "#core/app/audit-fleet";
import type { Host, ImdsOptions } from "#core/domain/model";
import { fakeWorld } from "../support/fakes.ts";
import { instanceId, testHost, testManifest } from "../support/fixtures.ts";

const NS = "voiceai/prod";
const manifest = testManifest({ services: [{ name: "api", wave: 0 }] });
const id = instanceId;
const drifted = (n: number): Host => testHost(n, "api", { imds: { httpTokens: "optional" } });

function world(n: number) {
  const w = fakeWorld(NS, { hosts: Array.from({ length: n }, (_, i) => drifted(i + 1)) });
  let inFlight = 0;
  let peak = 0;
  const refuse = new Set<string>();
  const modify = w.inventory.modifyImds.bind(w.inventory);
  w.inventory.modifyImds = async (instanceId: string, desired: Omit<ImdsOptions, "state">) => {
    inFlight++;
    peak = Math.max(peak, inFlight);
    await new Promise((r) => setTimeout(r, 2));
    inFlight--;
    if (refuse.has(instanceId)) throw new Error(`EC2.ModifyInstanceMetadataOptions (1 attempt): UnauthorizedOperation`);
    return modify(instanceId, desired);
  };
  const deps = { ...w.deps, managed: { pingStatus: async () => undefined, unreachable: async () => undefined } };
  return { w, deps, refuse, peak: () => peak };
}

describe("audit --fix imds at scale", () => {
  it("fixes with at most a few calls in flight, every drifted host exactly once", async () => {
    const { w, deps, peak } = world(40);
    const r = await auditFleet(manifest, deps, { remediation: "imds", dryRun: false });
    expect(r.remediation.imds.filter((f) => f.applied)).toHaveLength(40);
    expect(new Set(w.inventory.modifyCalls.map((c) => c.instanceId)).size).toBe(40);
    expect(w.inventory.modifyCalls).toHaveLength(40);
    expect(peak()).toBeGreaterThan(1);
    expect(peak()).toBeLessThanOrEqual(IMDS_FIX_CONCURRENCY);
  });

  it("one host's refusal is reported on that host; the others are still fixed", async () => {
    const { w, deps, refuse } = world(10);
    refuse.add(id(3));
    const r = await auditFleet(manifest, deps, { remediation: "imds", dryRun: false });
    const bad = r.remediation.imds.find((f) => f.instanceId === id(3));
    expect(bad).toMatchObject({ applied: false, error: expect.stringMatching(/UnauthorizedOperation/) });
    expect(r.remediation.imds.filter((f) => f.applied)).toHaveLength(9);
    expect(w.inventory.hosts.get(id(4))?.imds.httpTokens).toBe("required");
    expect(w.inventory.hosts.get(id(3))?.imds.httpTokens).toBe("optional");
  });

  it("a per-run cap fixes that many and leaves the rest to the next run, still reported as findings", async () => {
    const { w, deps } = world(25);
    const r = await auditFleet(manifest, deps, { remediation: "imds", dryRun: false, maxImdsFixes: 10 });
    expect(w.inventory.modifyCalls).toHaveLength(10);
    expect(r.remediation.imds.filter((f) => f.applied)).toHaveLength(10);
    expect(r.remediation.imds.filter((f) => f.deferred)).toHaveLength(15);
    expect(r.findings.filter((f) => f.kind === "imds-tokens-optional")).toHaveLength(25);
    const next = await auditFleet(manifest, deps, { remediation: "imds", dryRun: false, maxImdsFixes: 10 });
    expect(next.findings.filter((f) => f.kind === "imds-tokens-optional")).toHaveLength(15);
  });

  it("a dry run plans every fix and calls nothing", async () => {
    const { w, deps } = world(5);
    const r = await auditFleet(manifest, deps, { remediation: "imds", dryRun: true });
    expect(w.inventory.modifyCalls).toHaveLength(0);
    expect(r.remediation.imds.every((f) => !f.applied && !f.error && !f.deferred)).toBe(true);
  });
});
