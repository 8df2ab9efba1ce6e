// The rotation handler's idempotency record must fit one DynamoDB item (400 KB) however large the rollout.
import { describe, expect, it } from "vitest";
import { asRecord, RECORD_MAX_IDS, type RotationResult } from "#core/app/rotate-secret";

const id = (n: number) => `i-0${n.toString(16).padStart(16, "0")}`;

function result(hosts: number): RotationResult {
  const waves = [];
  for (let i = 0; i < hosts; i += 50)
    waves.push({
      wave: i < hosts / 2 ? 0 : 1,
      service: "api",
      kind: "host" as const,
      targetIds: Array.from({ length: Math.min(50, hosts - i) }, (_, k) => id(i + k)),
    });
  return {
    action: "restart",
    reason: "SecretLabelUpdated: restarting",
    trigger: "SecretLabelUpdated",
    secretArn: "arn:aws:secretsmanager:eu-central-1:123456789012:secret:shared-AbCdEf",
    versionId: "0123456789abcdef0123456789abcdef",
    rolloutId: "ro-0123456789abcdef",
    plan: { waves, skipped: [] },
    commands: waves
      .filter((w) => w.wave === 0)
      .map((w, i) => ({
        step: i,
        commandIds: [`cmd-${i}`],
        service: w.service,
        targetIds: w.targetIds,
        unmanaged: [],
      })),
  };
}

describe("asRecord (what the idempotency record keeps)", () => {
  it("keeps a small rollout's result whole", () => {
    const r = result(RECORD_MAX_IDS);
    expect(asRecord(r)).toEqual(r);
  });

  it("keeps a 20,000-host result's shape, counts and command ids, drops the ids, and fits one item", () => {
    const r = result(20_000);
    expect(JSON.stringify(r).length).toBeGreaterThan(400 * 1024);
    const rec = asRecord(r);
    expect(JSON.stringify(rec).length).toBeLessThan(200 * 1024);
    expect(rec.plannedHosts).toBe(20_000);
    expect(rec.plan.waves).toHaveLength(r.plan.waves.length);
    expect(rec.commands.map((c) => c.commandIds)).toEqual(r.commands.map((c) => c.commandIds));
    expect(rec.reason).toMatch(/20000 targets: ids in rollout ro-0123456789abcdef/);
  });
});
