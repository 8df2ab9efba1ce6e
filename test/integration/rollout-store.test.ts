// The rollout store at fleet scale, against moto's DynamoDB (which enforces the 400 KB item limit): a rotation of a
// secret shared by half of a 10,000-host fleet must be recordable, or it fails before the first restart.
import { randomBytes, randomUUID } from "node:crypto";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient, PutCommand } from "@aws-sdk/lib-dynamodb";
import { describe, expect, it } from "vitest";
import { DynamoRolloutStore, MAX_BODY_BYTES, packRollout, RolloutTooLargeError } from "#core/adapters/rollout-store";
import { validateManifest } from "#core/domain/manifest";
import { newRollout, planRollout, type Rollout, recordDispatch, recordResult } from "#core/domain/rollout";
import { useMoto } from "../support/moto.ts";
import { createTables, ROLLOUT_TABLE } from "../support/wiring.ts";

useMoto();

const services = Array.from({ length: 12 }, (_, i) => ({ name: `svc${i}`, wave: i % 4 }));
const manifest = validateManifest({ namespace: "voiceai/prod", configBucket: "voiceai-prod-config", services });
const NOW = "2026-11-22T10:00:00.000Z";

/** A rollout of `n` hosts with every host sent (command id + time recorded): the largest shape it reaches. */
function rolloutOf(n: number): Rollout {
  const targets = Array.from({ length: n }, (_, i) => ({
    instanceId: `i-0${randomBytes(8).toString("hex")}`,
    service: `svc${i % 12}`,
  }));
  const plan = planRollout({
    rolloutId: `ro-${randomBytes(8).toString("hex")}`,
    secret: { arn: "arn:aws:secretsmanager:eu-central-1:123456789012:secret:shared-AbCdEf", name: "shared" },
    versionId: randomUUID(),
    manifest,
    targets,
  });
  const sent = plan.waves.map((w) => ({ commandId: randomUUID(), ...w }));
  return recordDispatch(newRollout(plan, NOW), sent, NOW);
}

function store(): { store: DynamoRolloutStore; dynamo: DynamoDBClient } {
  const dynamo = new DynamoDBClient({});
  return { store: new DynamoRolloutStore(dynamo, ROLLOUT_TABLE), dynamo };
}

describe("DynamoRolloutStore at fleet scale", () => {
  it("stores, reads back and updates a 10,000-host rollout under the optimistic lock", async () => {
    const { store: s, dynamo } = store();
    await createTables(dynamo);
    const r = rolloutOf(10_000);
    expect(JSON.stringify(r).length).toBeGreaterThan(400 * 1024); // the plain form would not fit one item

    expect(await s.create(r)).toBe(true);
    expect(await s.create(r)).toBe(false); // one rollout per id, however many deliveries
    const read = await s.get(r.rolloutId);
    expect(read).toEqual(r);

    const first = Object.keys(r.hosts)[0] as string;
    const { rollout: updated } = recordResult(read as Rollout, first, "Success", NOW);
    const saved = await s.save(updated);
    expect(saved?.rev).toBe(1);
    expect((await s.get(r.rolloutId))?.hosts[first]?.status).toBe("Success");
    // A second writer holding the old revision loses, and its change is not written.
    expect(await s.save({ ...updated, status: "halted" })).toBeUndefined();
    expect((await s.get(r.rolloutId))?.status).toBe("running");
    expect((await s.list(10)).map((x) => x.rolloutId)).toContain(r.rolloutId);
  }, 60_000);

  it("DynamoDB itself refuses the same rollout stored as plain attributes (what the store wrote before)", async () => {
    const { dynamo } = store();
    await createTables(dynamo);
    const r = rolloutOf(10_000);
    const doc = DynamoDBDocumentClient.from(dynamo);
    await expect(
      doc.send(new PutCommand({ TableName: ROLLOUT_TABLE, Item: { pk: `rollout#${r.rolloutId}`, ...r } })),
    ).rejects.toThrow(/size/i);
  }, 60_000);

  it("a rollout too large even compressed is refused with a clear error and nothing written", async () => {
    const { store: s, dynamo } = store();
    await createTables(dynamo);
    const r = rolloutOf(30_000);
    expect(packRollout(r).byteLength).toBeGreaterThan(MAX_BODY_BYTES);
    await expect(s.create(r)).rejects.toThrow(RolloutTooLargeError);
    await expect(s.create(r)).rejects.toThrow(/30000 hosts.*over DynamoDB's 400 KB item limit/);
    expect(await s.get(r.rolloutId)).toBeUndefined();
  }, 60_000);

  it("still reads a rollout item written in the plain (pre-compression) form", async () => {
    const { store: s, dynamo } = store();
    await createTables(dynamo);
    const r = rolloutOf(20);
    const doc = DynamoDBDocumentClient.from(dynamo, { marshallOptions: { removeUndefinedValues: true } });
    await doc.send(
      new PutCommand({
        TableName: ROLLOUT_TABLE,
        Item: { pk: `rollout#${r.rolloutId}`, kind: "rollout", ttl: 1, ...r },
      }),
    );
    expect(await s.get(r.rolloutId)).toEqual(r);
  });
});
