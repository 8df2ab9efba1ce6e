// The rollout store against moto's DynamoDB (which enforces the 400 KB item limit and evaluates conditions): no item
// grows with the rollout, so a planned 50,000-host rollout is stored; concurrent writers never overwrite each other.
import { randomBytes, randomUUID } from "node:crypto";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient, GetCommand } from "@aws-sdk/lib-dynamodb";
import { beforeAll, describe, expect, it } from "vitest";
import { DynamoRolloutStore } from "#core/adapters/rollout-store";
import { validateManifest } from "#core/domain/manifest";
import { newRollout, planRollout, type RolloutTarget } from "#core/domain/rollout";
import { useMoto } from "../support/moto.ts";
import { createTables, ROLLOUT_TABLE, serialDynamo } from "../support/wiring.ts";

useMoto();

const services = Array.from({ length: 12 }, (_, i) => ({ name: `svc${i}`, wave: i % 4 }));
const manifest = validateManifest({ namespace: "voiceai/prod", configBucket: "voiceai-prod-config", services });
const NOW = "2026-11-22T10:00:00.000Z";

function rolloutOf(n: number) {
  const targets: RolloutTarget[] = Array.from({ length: n }, (_, i) => ({
    kind: "host",
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
  return newRollout(plan, NOW);
}

const dynamo = new DynamoDBClient({});
const store = () => new DynamoRolloutStore(dynamo, ROLLOUT_TABLE);
/** For the concurrency test the requests go to moto one at a time (serialDynamo), the callers still race. */
const serialStore = () => new DynamoRolloutStore(serialDynamo(), ROLLOUT_TABLE);

beforeAll(async () => {
  await createTables(dynamo);
});

describe("DynamoRolloutStore", () => {
  it("stores and reads back a planned 50,000-host rollout: 1,000 steps, a head item of a few hundred bytes", async () => {
    const s = store();
    const { head, steps } = rolloutOf(50_000);
    expect(steps).toHaveLength(12 * 84); // 12 services of ≈ 4,167 hosts, ⌈4,167 / 50⌉ = 84 steps each
    expect(await s.create(head, steps)).toBe(true);
    expect(await s.create(head, steps)).toBe(false); // one rollout per id, however many deliveries
    const read = await s.get(head.rolloutId);
    expect(read?.steps).toHaveLength(steps.length);
    expect(read?.steps.flatMap((st) => st.targetIds)).toHaveLength(50_000);
    expect(read?.waves).toEqual(head.waves);
    expect(await s.openRollouts()).toContain(head.rolloutId);
    const raw = await DynamoDBDocumentClient.from(dynamo).send(
      new GetCommand({ TableName: ROLLOUT_TABLE, Key: { pk: `rollout#${head.rolloutId}` } }),
    );
    expect(JSON.stringify(raw.Item).length).toBeLessThan(2048);
  }, 180_000);

  it("outcomes: once per target per attempt, concurrent writers all land, exactly one sees the step complete", async () => {
    const s = serialStore();
    const { head, steps } = rolloutOf(50);
    const step = steps[0]!;
    await s.create(head, steps);
    expect(await s.claimStep(head.rolloutId, step.index, NOW)).toMatchObject({ state: "claimed" });
    expect(await s.claimStep(head.rolloutId, step.index, NOW)).toBeUndefined(); // claimed once
    expect(await s.markSent(head.rolloutId, step.index, 1, ["c-1"], NOW)).toBe(true);

    // every target once, plus a duplicate of each, all in flight together
    const ids = [...step.targetIds, ...step.targetIds];
    const results = await Promise.all(
      ids.map((t, i) =>
        s.recordOutcome(
          { rolloutId: head.rolloutId, step: step.index, attempt: 1 },
          t,
          i % 7 === 0 ? "bad" : "ok",
          "x",
        ),
      ),
    );
    expect(results.filter((r) => r.applied)).toHaveLength(step.targetIds.length);
    const sawComplete = results.filter((r) => r.applied && r.step?.done === step.targetIds.length);
    expect(sawComplete).toHaveLength(1);
    expect(
      await s.recordOutcome(
        { rolloutId: head.rolloutId, step: step.index, attempt: 2 },
        step.targetIds[0]!,
        "ok",
        "Success",
      ),
    ).toMatchObject({
      applied: false,
    }); // another attempt's outcome is not this one's
    const closes = await Promise.all([1, 2, 3].map(() => s.closeStep(head.rolloutId, step.index, 1, NOW)));
    expect(closes.filter(Boolean)).toHaveLength(1);
    const counted = await Promise.all([1, 2, 3].map(() => s.addDone(head.rolloutId, 0, 2)));
    expect(counted.map((h) => h.done[0]).sort()).toEqual([2, 4, 6]);
  });

  it("halts once; advance and succeed only from the wave they expect; succeeded leaves the running set", async () => {
    const s = store();
    const { head, steps } = rolloutOf(8);
    await s.create(head, steps);
    expect(await s.advance(head.rolloutId, 1, 2, NOW)).toBe(false);
    expect(await s.advance(head.rolloutId, 0, 1, NOW)).toBe(true);
    expect(await s.advance(head.rolloutId, 0, 1, NOW)).toBe(false);
    expect(await s.succeed(head.rolloutId, 0, NOW)).toBe(false);
    expect(await s.halt(head.rolloutId, "i-1 ended Failed", NOW)).toBe(true);
    expect(await s.halt(head.rolloutId, "again", NOW)).toBe(false);
    expect((await s.head(head.rolloutId))?.haltReason).toBe("i-1 ended Failed");

    const other = rolloutOf(1);
    await s.create(other.head, other.steps);
    expect(await s.succeed(other.head.rolloutId, 0, NOW)).toBe(true);
    expect(await s.openRollouts()).not.toContain(other.head.rolloutId);
  });
});
