// The launch guard's entry point over in-memory ports: duplicates (concurrent and repeated), dry run, and the
// tag-key refusal; and the per-function wiring derived from adapters/permissions.ts.
import { describe, expect, it } from "vitest";
import { FUNCTION_USES } from "#core/adapters/permissions";
import { guardLaunch } from "#core/app/guard-launch";
import { type AllPorts, type FunctionId, portsFor } from "#core/shell/ports-for";
import { FakeIdempotency, fakeWorld } from "../support/fakes.ts";
import { instanceId, testHost, testManifest } from "../support/fixtures.ts";

const NS = "voiceai/prod";
const MANIFEST_PARAM = `/${NS}/control-plane/manifest`;

/** One IMDSv1 api host whose role cannot be found (a finding, not an error), the manifest stored as push writes it. */
function world(opts: { dryRun?: boolean; tagKeys?: { namespace: string; service: string } } = {}) {
  const w = fakeWorld(NS, {
    hosts: [testHost(1, "api", { imds: { httpTokens: "optional" } })],
    config: { dryRun: opts.dryRun ?? false, ...(opts.tagKeys ? { tagKeys: opts.tagKeys } : {}) },
  });
  w.params.values.set(MANIFEST_PARAM, JSON.stringify(testManifest()));
  const idempotency = new FakeIdempotency();
  return { w, idempotency, deps: { ...w.deps, idempotency } };
}
const fact = { instanceId: instanceId(1), state: "running" as const };

describe("guardLaunch", () => {
  it("guards once when EventBridge delivers the same launch 8 times at once: one IMDS fix, one tag write", async () => {
    const { w, deps } = world();
    const outcomes = await Promise.allSettled(Array.from({ length: 8 }, () => guardLaunch(fact, deps)));
    const done = outcomes.filter((o) => o.status === "fulfilled");
    const retried = outcomes.filter((o) => o.status === "rejected");
    expect(done.map((o) => o.value.duplicate)).toEqual([false]);
    // The others found the record in progress: they throw, EventBridge retries them, and then they are duplicates.
    for (const r of retried) expect((r.reason as Error).name).toBe("IdempotencyAlreadyInProgressError");
    expect(w.inventory.modifyCalls).toHaveLength(1);
    expect(w.inventory.tagCalls).toHaveLength(1);
    const again = await guardLaunch(fact, deps);
    expect(again.duplicate).toBe(true);
    expect(again.imds).toEqual(done[0]!.value.imds);
    expect(w.inventory.modifyCalls).toHaveLength(1);
  });

  it("a later state of the same instance is a new fact and is guarded", async () => {
    const { w, deps } = world();
    await guardLaunch({ ...fact, state: "pending" }, deps);
    const running = await guardLaunch(fact, deps);
    expect(running.duplicate).toBe(false);
    expect(w.inventory.modifyCalls).toHaveLength(1); // the host is compliant by then: nothing more to fix
  });

  it("dry run plans without a write and without an idempotency record, so the real run still acts", async () => {
    const { w, deps, idempotency } = world({ dryRun: true });
    const planned = await guardLaunch(fact, deps);
    expect(planned).toMatchObject({ dryRun: true, duplicate: false, imds: { action: "modify", changed: false } });
    expect(w.inventory.modifyCalls).toEqual([]);
    expect(w.inventory.tagCalls).toEqual([]);
    expect(idempotency.records.size).toBe(0);
  });

  it("refuses a manifest whose tags differ from the deployment's keys: one line, no write, no record", async () => {
    const { w, deps, idempotency } = world({ tagKeys: { namespace: "fleet:namespace", service: "Service" } });
    const err = await guardLaunch(fact, deps).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err?.message).toMatch(
      /^manifest tags \(namespace: 'Namespace', service: 'Service'\) differ from the deployed/,
    );
    expect(err?.message).not.toContain("\n");
    expect(w.inventory.modifyCalls).toEqual([]);
    expect(w.inventory.tagCalls).toEqual([]);
    expect(idempotency.records.size).toBe(0);
  });
});

describe("portsFor: wiring derived from adapters/permissions.ts", () => {
  // Ports no use case here calls: present so wiring can be checked, and any call through them is a test bug.
  const unused = <T extends object>(port: string) =>
    new Proxy({} as T, {
      get: (_t, prop) =>
        prop === "then"
          ? undefined
          : () => {
              throw new Error(`${port}.${String(prop)} is not faked here`);
            },
    });
  const adapters = (): Partial<AllPorts> => {
    const { w, idempotency } = world();
    return {
      ...w.deps,
      idempotency,
      sources: unused<NonNullable<AllPorts["sources"]>>("sources"),
      usage: unused<NonNullable<AllPorts["usage"]>>("usage"),
      hostChecks: unused<NonNullable<AllPorts["hostChecks"]>>("hostChecks"),
      trails: unused<AllPorts["trails"]>("trails"),
      signals: unused<NonNullable<AllPorts["signals"]>>("signals"),
      ecs: unused<AllPorts["ecs"]>("ecs"),
      links: unused<NonNullable<AllPorts["links"]>>("links"),
    };
  };
  const base = () => ({ config: world().w.deps.config, now: () => new Date() });
  const refused = (call: () => unknown) => expect(call).toThrow(/may not call .*: its role does not allow it/);

  it("the launch guard can describe, fix and tag one host, read the manifest and its records — nothing else", async () => {
    const d = portsFor("InstanceLaunchFunction", FUNCTION_USES["InstanceLaunchFunction"], adapters(), base());
    expect(await d.inventory.describeHost(instanceId(1))).toBeDefined();
    expect(await d.params.get(MANIFEST_PARAM)).toBeDefined();
    refused(() => d.inventory.scanNamespace("Namespace", NS));
    refused(() => d.params.put(MANIFEST_PARAM, "{}", true));
    refused(() => d.commands.sendRestart({} as never));
    refused(() => d.rollouts.get("ro-0"));
    refused(() => d.secrets.describe("x"));
    refused(() => d.managed.unreachable());
  });

  it("RolloutStore.* covers the functions' store methods but not the operator-only list (dynamodb:Scan)", async () => {
    const d = portsFor("SecretRotationFunction", FUNCTION_USES["SecretRotationFunction"], adapters(), base());
    expect(await d.rollouts.get("ro-0000000000000000")).toBeUndefined();
    refused(() => d.rollouts.list(10));
  });

  it("every function gets exactly the methods it declares, and a declared port without an adapter fails at wiring", () => {
    for (const fn of Object.keys(FUNCTION_USES) as FunctionId[]) {
      const d = portsFor(fn, FUNCTION_USES[fn], adapters(), base());
      expect(d.config).toBeDefined();
      const { idempotency: _i, ...withoutIdempotency } = adapters();
      if ((FUNCTION_USES[fn] as readonly string[]).includes("Idempotency"))
        expect(() => portsFor(fn, FUNCTION_USES[fn], withoutIdempotency, base())).toThrow(
          /declares idempotency .* but none is wired/,
        );
      else refused(() => d.idempotency.once({}, async () => 1));
    }
  });
});
