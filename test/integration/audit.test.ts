// Drift audit against moto: exactly the expected findings, call counts that do not grow per host,
// convergence after --fix, and stale credentials cleared once the tracker records the restarts.
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { PutSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { beforeAll, describe, expect, it } from "vitest";
import { auditFleet, type DriftReport } from "#core/app/audit-fleet";
import { trackRestart } from "#core/app/track-restart";
import { type SeededFleet, seedFleet } from "../../scripts/lib/fleet.ts";
import { useMoto } from "../support/moto.ts";
import { createTables, wire } from "../support/wiring.ts";

useMoto();
const NS = "voiceai/audit";
let fleet: SeededFleet;

const byService = (s: string) => fleet.hosts.filter((h) => h.service === s);
const key = (f: { kind: string; instanceId?: string; service?: string }) =>
  `${f.kind}|${f.instanceId ?? ""}|${f.instanceId ? "" : (f.service ?? "")}`;
const audit = (
  w = wire(fleet),
  remediation: "none" | "imds" | "imds+restart" = "none",
  dryRun = false,
): Promise<DriftReport> =>
  auditFleet(fleet.manifest, w.deps, { remediation, dryRun, apiCalls: () => w.counter.snapshot() });

beforeAll(async () => {
  fleet = await seedFleet({
    namespace: NS,
    sharedSecret: { consumers: ["database", "api"] },
    services: [
      { name: "database", wave: 0, hosts: 1 },
      { name: "api", wave: 1, hosts: [{}, { imds: { httpTokens: "optional" } }] },
      { name: "web", wave: 2, hosts: [{ imds: { hopLimit: 1 } }] },
      { name: "telpro", wave: 3, hosts: [{ noProfile: true }] },
      { name: "media", wave: 3, hosts: 0 },
    ],
    extraHosts: [{ tags: { Namespace: NS, Service: "legacy-cron" } }],
  });
  await createTables(new DynamoDBClient({}));
}, 120_000);

describe("drift audit", () => {
  it("reports exactly the seeded drift, from one scan and bulk IAM", async () => {
    const w = wire(fleet);
    const report = await audit(w);
    const [v1] = byService("api").filter((h) => h.imds.httpTokens === "optional");
    const expected = [
      `imds-tokens-optional|${v1!.instanceId}|`,
      `imds-hop-limit|${byService("web")[0]!.instanceId}|`,
      `no-instance-profile|${byService("telpro")[0]!.instanceId}|`,
      `unknown-service|${fleet.hosts.find((h) => h.service === "legacy-cron")!.instanceId}|`,
      "service-without-hosts||media",
    ].sort();
    expect(report.findings.map(key).sort()).toEqual(expected);
    expect(report.scannedHosts).toBe(fleet.hosts.length);
    expect(report.summary).toMatchObject({ "imds-tokens-optional": 1, "imds-hop-limit": 1, "no-instance-profile": 1 });

    const calls = report.apiCalls;
    expect(calls["EC2.DescribeInstances"]).toBe(1);
    // Every consumed secret (a bundle per service + the shared one) from one ListSecrets page, not one call each.
    expect(calls["SecretsManager.ListSecrets"]).toBe(1);
    expect(calls["SecretsManager.DescribeSecret"]).toBeUndefined();
    const iam = Object.entries(calls)
      .filter(([k]) => k.startsWith("IAM."))
      .reduce((n, [, v]) => n + v, 0);
    expect(iam).toBeLessThanOrEqual(3);
    const total = Object.values(calls).reduce((a, b) => a + b, 0);
    expect(total - (calls["SecretsManager.DescribeSecret"] ?? 0)).toBeLessThanOrEqual(
      Math.ceil(fleet.hosts.length / 1000) + 10,
    );
    expect(Object.keys(calls).some((k) => /Modify|CreateTags|SendCommand|Put/.test(k))).toBe(false);
  });

  it("--dry-run --fix plans and writes nothing", async () => {
    const w = wire(fleet);
    const r = await audit(w, "imds+restart", true);
    expect(r.remediation.imds.map((f) => f.applied)).toEqual([false, false]);
    expect(Object.keys(w.counter.snapshot()).some((k) => /Modify|SendCommand|PutItem/.test(k))).toBe(false);
  });

  it("a rotation leaves consumers stale with their age; --fix restarts them through a rollout, the tracker clears them", async () => {
    await new SecretsManagerClient({}).send(
      new PutSecretValueCommand({ SecretId: fleet.sharedSecretArn!, SecretString: '{"password":"new"}' }),
    );
    const before = await audit();
    const stale = before.findings.filter((f) => f.kind === "stale-credentials");
    expect(stale.map((f) => f.instanceId).sort()).toEqual(
      [...byService("database"), ...byService("api")].map((h) => h.instanceId).sort(),
    );
    expect(stale.every((f) => typeof f.evidence?.["ageSeconds"] === "number")).toBe(true);

    const w = wire(fleet);
    const fixed = await audit(w, "imds+restart");
    expect(w.counter.snapshot()["EC2.ModifyInstanceMetadataOptions"]).toBe(2); // one call per non-compliant host
    const sent = w.harness.sent();
    expect(sent.flatMap((c) => c.instanceIds).sort()).toEqual(byService("database").map((h) => h.instanceId)); // wave 0 first
    expect(fixed.remediation.restarts).toHaveLength(1);

    // The tracker records each wave's success; the rollout moves on to api.
    for (let round = 0; round < 4; round++)
      for (const c of w.harness.sent())
        for (const id of c.instanceIds)
          await trackRestart(
            { commandId: c.commandId, documentName: fleet.documentName, instanceId: id, status: "Success" },
            w.deps,
          );

    const after = await audit();
    expect(after.findings.filter((f) => f.kind.startsWith("imds-") || f.kind === "stale-credentials")).toEqual([]);
    // IAM and placement problems are never "fixed" automatically.
    expect(after.findings.map((f) => f.kind)).toEqual(
      expect.arrayContaining(["no-instance-profile", "unknown-service"]),
    );
  });
});
