import { ConditionalCheckFailedException, type DynamoDBClient } from "@aws-sdk/client-dynamodb";
import {
  BatchGetCommand,
  type BatchGetCommandOutput,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  ScanCommand,
  UpdateCommand,
  type UpdateCommandInput,
} from "@aws-sdk/lib-dynamodb";
import { mapLimit } from "../app/concurrency.ts";
import type { Batch } from "../domain/coalesce.ts";
import type { Hold, RolloutPolicy } from "../domain/gates.ts";
import {
  allStepIndices,
  type Rollout,
  type RolloutHead,
  resetForResume,
  type StepRecord,
  type StepRef,
  type Verdict,
} from "../domain/rollout.ts";
import type { CoalescingStore, RolloutStore } from "../ports/index.ts";

const HEAD = "rollout#";
/** A coalescing batch (`batch#<leader>`), and the namespace's pointer to its newest one (`coalesce#<namespace>`). */
const BATCH = "batch#";
const POINTER = "coalesce#";
const STEP = "step#";
/** The running set: ids of rollouts the reconciler visits, so it never scans the table. */
const RUNNING_SET = "running-set";
/** Rollout records expire 90 days after creation (TTL attribute `ttl`). */
const TTL_SECONDS = 90 * 24 * 3600;
/** BatchGetItem takes at most 100 keys. */
const BATCH_GET = 100;

/** The target is one of the step's, with no outcome and no stop in this attempt (`#stop` names `stop`). */
const NO_OUTCOME_YET =
  "att = :att AND contains(tids, :id) AND NOT contains(ok, :id) AND NOT contains(bad, :id) AND NOT contains(skip, :id) AND NOT contains(#stop, :id)";
const stepKey = (rolloutId: string, index: number) => ({ pk: `${STEP}${rolloutId}#${index}` });
const headKey = (rolloutId: string) => ({ pk: HEAD + rolloutId });
const doneAttr = (waveIndex: number) => `d${waveIndex}`;

/**
 * Rollout state in the (unchanged, pk-only) rollout table, sized so no item grows with the rollout:
 * - head `rollout#<id>`: plan summary, status, current wave, one done-counter `d<i>` per wave (atomic ADD);
 * - step `step#<id>#<n>`: ≤ 50 targets, their outcomes as string sets, written with conditions on the step alone;
 * - `running-set`: a string set of open rollout ids (the reconciler reads one item instead of scanning).
 * Per event the tracker writes one step (≈ 200 bytes), and the head only when a step closes.
 */
export class DynamoRolloutStore implements RolloutStore {
  protected readonly doc: DynamoDBDocumentClient;
  constructor(
    client: DynamoDBClient,
    protected readonly table: string,
  ) {
    this.doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  }

  /** A conditional update; false when its condition did not hold. */
  protected async update(input: Omit<UpdateCommandInput, "TableName">): Promise<Record<string, unknown> | false> {
    try {
      const out = await this.doc.send(new UpdateCommand({ TableName: this.table, ...input }));
      return out.Attributes ?? {};
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) return false;
      throw err;
    }
  }

  protected async putIfAbsent(item: Record<string, unknown>): Promise<boolean> {
    try {
      await this.doc.send(
        new PutCommand({ TableName: this.table, Item: item, ConditionExpression: "attribute_not_exists(pk)" }),
      );
      return true;
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) return false;
      throw err;
    }
  }

  async create(head: RolloutHead, steps: StepRecord[]): Promise<boolean> {
    const ttl = Math.floor(Date.parse(head.createdAt) / 1000) + TTL_SECONDS;
    // Steps first, each only if absent: a duplicate creator never overwrites a step another one already advanced.
    await mapLimit(steps, 8, (s) => this.putIfAbsent({ ...toStepItem(s), ttl }));
    const { done, ...rest } = head;
    const counters = Object.fromEntries(done.map((n, i) => [doneAttr(i), n]));
    if (!(await this.putIfAbsent({ ...headKey(head.rolloutId), kind: "rollout", ttl, ...rest, ...counters })))
      return false;
    if (head.status !== "succeeded") await this.setRunning(head.rolloutId, true);
    return true;
  }

  private async setRunning(rolloutId: string, open: boolean): Promise<void> {
    await this.doc.send(
      new UpdateCommand({
        TableName: this.table,
        Key: { pk: RUNNING_SET },
        UpdateExpression: `${open ? "ADD" : "DELETE"} ids :id`,
        ExpressionAttributeValues: { ":id": new Set([rolloutId]) },
      }),
    );
  }

  async head(rolloutId: string): Promise<RolloutHead | undefined> {
    const out = await this.doc.send(
      new GetCommand({ TableName: this.table, Key: headKey(rolloutId), ConsistentRead: true }),
    );
    return out.Item ? fromHeadItem(out.Item) : undefined;
  }

  async steps(rolloutId: string, indices: number[]): Promise<StepRecord[]> {
    const found: StepRecord[] = [];
    for (let i = 0; i < indices.length; i += BATCH_GET) {
      let keys: Record<string, unknown>[] | undefined = indices
        .slice(i, i + BATCH_GET)
        .map((n) => stepKey(rolloutId, n));
      // Unprocessed keys (throttling) are asked again until none remain.
      while (keys && keys.length > 0) {
        const out: BatchGetCommandOutput = await this.doc.send(
          new BatchGetCommand({ RequestItems: { [this.table]: { Keys: keys, ConsistentRead: true } } }),
        );
        for (const it of out.Responses?.[this.table] ?? []) found.push(fromStepItem(it));
        keys = out.UnprocessedKeys?.[this.table]?.Keys;
      }
    }
    return found.sort((a, b) => a.index - b.index);
  }

  async get(rolloutId: string): Promise<Rollout | undefined> {
    const head = await this.head(rolloutId);
    if (!head) return undefined;
    return { ...head, steps: await this.steps(rolloutId, allStepIndices(head)) };
  }

  async claimStep(
    rolloutId: string,
    index: number,
    now: string,
    expiredClaimAt?: string,
  ): Promise<StepRecord | undefined> {
    const out = await this.update({
      Key: stepKey(rolloutId, index),
      UpdateExpression: "SET #st = :claimed, claimedAt = :now",
      ConditionExpression: expiredClaimAt ? "#st = :claimed AND claimedAt = :old" : "#st = :planned",
      ExpressionAttributeNames: { "#st": "st" },
      ExpressionAttributeValues: {
        ":claimed": "claimed",
        ":now": now,
        ...(expiredClaimAt ? { ":old": expiredClaimAt } : { ":planned": "planned" }),
      },
      ReturnValues: "ALL_NEW",
    });
    return out ? fromStepItem(out) : undefined;
  }

  async markSent(rolloutId: string, index: number, attempt: number, commandIds: string[], now: string) {
    const out = await this.update({
      Key: stepKey(rolloutId, index),
      UpdateExpression: "SET #st = :sent, cmds = :cmds, sentAt = :now",
      ConditionExpression: "#st = :claimed AND att = :att",
      ExpressionAttributeNames: { "#st": "st" },
      ExpressionAttributeValues: {
        ":sent": "sent",
        ":claimed": "claimed",
        ":cmds": commandIds,
        ":now": now,
        ":att": attempt,
      },
    });
    return out !== false;
  }

  async releaseStep(rolloutId: string, index: number, attempt: number): Promise<void> {
    await this.update({
      Key: stepKey(rolloutId, index),
      UpdateExpression: "SET #st = :planned REMOVE claimedAt",
      ConditionExpression: "#st = :claimed AND att = :att",
      ExpressionAttributeNames: { "#st": "st" },
      ExpressionAttributeValues: { ":planned": "planned", ":claimed": "claimed", ":att": attempt },
    });
  }

  async recordOutcome(
    { rolloutId, step: index, attempt }: StepRef,
    targetId: string,
    verdict: Verdict,
    why: string,
  ): Promise<{ applied: boolean; step: StepRecord | undefined }> {
    const out = await this.update({
      Key: stepKey(rolloutId, index),
      UpdateExpression: `ADD #v :t, done :one${verdict === "ok" ? "" : " SET why.#id = :why"}`,
      ConditionExpression: NO_OUTCOME_YET,
      ExpressionAttributeNames: { "#v": verdict, "#stop": "stop", ...(verdict === "ok" ? {} : { "#id": targetId }) },
      ExpressionAttributeValues: {
        ":t": new Set([targetId]),
        ":id": targetId,
        ":one": 1,
        ":att": attempt,
        ...(verdict === "ok" ? {} : { ":why": why }),
      },
      ReturnValues: "ALL_NEW",
    });
    if (out) return { applied: true, step: fromStepItem(out) };
    const [step] = await this.steps(rolloutId, [index]);
    return { applied: false, step };
  }

  async recordStop(
    { rolloutId, step: index, attempt }: StepRef,
    targetId: string,
    why: string,
  ): Promise<{ applied: boolean; step: StepRecord | undefined }> {
    const out = await this.update({
      Key: stepKey(rolloutId, index),
      UpdateExpression: "ADD #stop :t SET why.#id = :why",
      ConditionExpression: NO_OUTCOME_YET,
      ExpressionAttributeNames: { "#stop": "stop", "#id": targetId },
      ExpressionAttributeValues: { ":t": new Set([targetId]), ":id": targetId, ":att": attempt, ":why": why },
      ReturnValues: "ALL_NEW",
    });
    if (out) return { applied: true, step: fromStepItem(out) };
    const [step] = await this.steps(rolloutId, [index]);
    return { applied: false, step };
  }

  async resendStopped(rolloutId: string, index: number, attempt: number, why: Record<string, string>) {
    const out = await this.update({
      Key: stepKey(rolloutId, index),
      UpdateExpression: "SET #st = :planned, att = :next, why = :why, cmds = :none REMOVE #stop, claimedAt, sentAt",
      ConditionExpression: "att = :att AND #st = :sent AND attribute_exists(#stop)",
      ExpressionAttributeNames: { "#st": "st", "#stop": "stop" },
      ExpressionAttributeValues: {
        ":planned": "planned",
        ":sent": "sent",
        ":next": attempt + 1,
        ":att": attempt,
        ":why": why,
        ":none": [],
      },
      ReturnValues: "ALL_NEW",
    });
    return out ? fromStepItem(out) : undefined;
  }

  async closeStep(rolloutId: string, index: number, attempt: number, now: string): Promise<boolean> {
    const out = await this.update({
      Key: stepKey(rolloutId, index),
      UpdateExpression: "SET closed = :t, closedAt = :now",
      ConditionExpression: "closed = :f AND att = :att",
      ExpressionAttributeValues: { ":t": true, ":f": false, ":att": attempt, ":now": now },
    });
    return out !== false;
  }

  async markTagged(rolloutId: string, index: number): Promise<void> {
    await this.update({
      Key: stepKey(rolloutId, index),
      UpdateExpression: "SET tagged = :t",
      ConditionExpression: "attribute_exists(pk)",
      ExpressionAttributeValues: { ":t": true },
    });
  }

  async addDone(rolloutId: string, waveIndex: number, n: number): Promise<RolloutHead> {
    const out = await this.update({
      Key: headKey(rolloutId),
      UpdateExpression: "ADD #d :n",
      ConditionExpression: "attribute_exists(pk)",
      ExpressionAttributeNames: { "#d": doneAttr(waveIndex) },
      ExpressionAttributeValues: { ":n": n },
      ReturnValues: "ALL_NEW",
    });
    if (!out) throw new Error(`rollout ${rolloutId} not found`);
    return fromHeadItem(out);
  }

  async setDone(rolloutId: string, waveIndex: number, expected: number, value: number): Promise<boolean> {
    const out = await this.update({
      Key: headKey(rolloutId),
      UpdateExpression: "SET #d = :v",
      ConditionExpression: "#d = :e",
      ExpressionAttributeNames: { "#d": doneAttr(waveIndex) },
      ExpressionAttributeValues: { ":v": value, ":e": expected },
    });
    return out !== false;
  }

  async advance(rolloutId: string, from: number, to: number, now: string, hold?: Hold): Promise<boolean> {
    const out = await this.update({
      Key: headKey(rolloutId),
      UpdateExpression: `SET #cur = :to, updatedAt = :now${hold ? ", #hold = :hold" : ""}`,
      ConditionExpression: "#cur = :from AND #st = :running",
      ExpressionAttributeNames: { "#cur": "current", "#st": "status", ...(hold ? { "#hold": "hold" } : {}) },
      ExpressionAttributeValues: {
        ":to": to,
        ":from": from,
        ":now": now,
        ":running": "running",
        ...(hold ? { ":hold": hold } : {}),
      },
    });
    return out !== false;
  }

  async setHold(rolloutId: string, hold: Hold, now: string): Promise<boolean> {
    const out = await this.update({
      Key: headKey(rolloutId),
      UpdateExpression: "SET #hold = :hold, updatedAt = :now",
      ConditionExpression: "#cur = :w AND #st = :running AND (attribute_not_exists(#hold) OR #hold.since = :since)",
      ExpressionAttributeNames: { "#cur": "current", "#st": "status", "#hold": "hold" },
      ExpressionAttributeValues: {
        ":hold": hold,
        ":w": hold.wave,
        ":running": "running",
        ":since": hold.since,
        ":now": now,
      },
    });
    return out !== false;
  }

  async release(rolloutId: string, hold: Hold, now: string): Promise<boolean> {
    const out = await this.update({
      Key: headKey(rolloutId),
      UpdateExpression: "SET updatedAt = :now, lastHold = :hold REMOVE #hold",
      ConditionExpression: "#hold.since = :since AND #hold.wave = :w",
      ExpressionAttributeNames: { "#hold": "hold" },
      ExpressionAttributeValues: {
        ":since": hold.since,
        ":w": hold.wave,
        ":hold": { ...hold, releasedAt: now },
        ":now": now,
      },
    });
    return out !== false;
  }

  async succeed(rolloutId: string, waveIndex: number, now: string): Promise<boolean> {
    const out = await this.update({
      Key: headKey(rolloutId),
      UpdateExpression: "SET #st = :ok, updatedAt = :now",
      ConditionExpression: "#cur = :w AND #st = :running",
      ExpressionAttributeNames: { "#cur": "current", "#st": "status" },
      ExpressionAttributeValues: { ":ok": "succeeded", ":w": waveIndex, ":now": now, ":running": "running" },
    });
    if (out === false) return false;
    await this.setRunning(rolloutId, false);
    return true;
  }

  async halt(rolloutId: string, reason: string, now: string): Promise<boolean> {
    const out = await this.update({
      Key: headKey(rolloutId),
      UpdateExpression: "SET #st = :halted, haltReason = :why, updatedAt = :now",
      ConditionExpression: "#st = :running",
      ExpressionAttributeNames: { "#st": "status" },
      ExpressionAttributeValues: { ":halted": "halted", ":why": reason, ":now": now, ":running": "running" },
    });
    return out !== false;
  }

  async resume(head: RolloutHead, steps: StepRecord[], now: string): Promise<boolean> {
    const plan = resetForResume(head, steps);
    // The head first, conditional on `halted`: of two operators resuming at once, one resets the steps.
    const reopened = await this.update({
      Key: headKey(head.rolloutId),
      UpdateExpression: "SET #st = :running, updatedAt = :now REMOVE haltReason ADD #d :minus",
      ConditionExpression: "#st = :halted",
      ExpressionAttributeNames: { "#st": "status", "#d": doneAttr(head.current) },
      ExpressionAttributeValues: { ":running": "running", ":halted": "halted", ":now": now, ":minus": -plan.lowerDone },
    });
    if (reopened === false) return false;
    for (const r of plan.steps)
      await this.update({
        Key: stepKey(head.rolloutId, r.index),
        UpdateExpression:
          "SET #st = :planned, att = :next, done = done - :n, closed = :f, tagged = :f, why = :why, cmds = :none REMOVE bad, #stop, claimedAt, sentAt, closedAt",
        ConditionExpression: "att = :att",
        ExpressionAttributeNames: { "#st": "st", "#stop": "stop" },
        ExpressionAttributeValues: {
          ":planned": "planned",
          ":next": r.attempt + 1,
          ":att": r.attempt,
          ":n": r.bad,
          ":f": false,
          ":why": r.why,
          ":none": [],
        },
      });
    await this.setRunning(head.rolloutId, true);
    return true;
  }

  async openRollouts(): Promise<string[]> {
    const out = await this.doc.send(
      new GetCommand({ TableName: this.table, Key: { pk: RUNNING_SET }, ConsistentRead: true }),
    );
    const ids = out.Item?.ids;
    return ids instanceof Set ? [...ids].map(String).sort() : [];
  }

  async forget(rolloutId: string): Promise<void> {
    await this.setRunning(rolloutId, false);
  }

  async markCoalesced(rolloutId: string, into: string, reason: string, now: string): Promise<boolean> {
    const out = await this.update({
      Key: headKey(rolloutId),
      UpdateExpression: "SET coalescedInto = :into, #hold.reason = :why, updatedAt = :now",
      ConditionExpression: "attribute_exists(#hold) AND attribute_not_exists(coalescedInto) AND #st = :running",
      ExpressionAttributeNames: { "#hold": "hold", "#st": "status" },
      ExpressionAttributeValues: { ":into": into, ":why": reason, ":now": now, ":running": "running" },
    });
    await this.setRunning(rolloutId, false);
    return out !== false;
  }

  /** Operator listing (CLI, operator credentials; no function is granted Scan): heads only, newest first. */
  async list(limit: number): Promise<RolloutHead[]> {
    const items: RolloutHead[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const out = await this.doc.send(
        new ScanCommand({
          TableName: this.table,
          FilterExpression: "#k = :k",
          ExpressionAttributeNames: { "#k": "kind" },
          ExpressionAttributeValues: { ":k": "rollout" },
          ExclusiveStartKey: start,
        }),
      );
      for (const it of out.Items ?? []) if (Array.isArray(it.waves)) items.push(fromHeadItem(it));
      start = out.LastEvaluatedKey;
    } while (start);
    return items.sort((a, b) => b.createdAt.localeCompare(a.createdAt)).slice(0, limit);
  }
}

/**
 * The rollout store with coalescing batches (domain/coalesce.ts) on the same table: `batch#<leader>` and the namespace's
 * pointer `coalesce#<namespace>`. Wired where rotations coalesce and batches close (rotation, reconciler, CLI); the
 * drift audit's catch-up rollouts use the plain store and never wait for a batch.
 */
export class CoalescingRolloutStore extends DynamoRolloutStore implements CoalescingStore {
  async currentBatch(namespace: string): Promise<{ leader: string; deadline: string } | undefined> {
    const out = await this.doc.send(
      new GetCommand({ TableName: this.table, Key: { pk: POINTER + namespace }, ConsistentRead: true }),
    );
    return out.Item ? { leader: String(out.Item.leader), deadline: String(out.Item.deadline) } : undefined;
  }

  async openBatch(b: Pick<Batch, "leader" | "namespace" | "openedAt" | "deadline">, now: string): Promise<boolean> {
    const ttl = Math.floor(Date.parse(b.openedAt) / 1000) + TTL_SECONDS;
    await this.putIfAbsent({ pk: BATCH + b.leader, kind: "batch", ...b, members: new Set([b.leader]), ttl });
    const out = await this.update({
      Key: { pk: POINTER + b.namespace },
      UpdateExpression: "SET leader = :l, deadline = :d, #ttl = :ttl",
      ConditionExpression: "attribute_not_exists(pk) OR deadline <= :now OR leader = :l",
      ExpressionAttributeNames: { "#ttl": "ttl" },
      ExpressionAttributeValues: { ":l": b.leader, ":d": b.deadline, ":now": now, ":ttl": ttl },
    });
    return out !== false;
  }

  async joinBatch(leader: string, member: string, now: string): Promise<boolean> {
    const out = await this.update({
      Key: { pk: BATCH + leader },
      UpdateExpression: "ADD members :m",
      ConditionExpression: "attribute_exists(pk) AND attribute_not_exists(closed) AND deadline > :now",
      ExpressionAttributeValues: { ":m": new Set([member]), ":now": now },
    });
    return out !== false;
  }

  async batch(leader: string): Promise<Batch | undefined> {
    const out = await this.doc.send(
      new GetCommand({ TableName: this.table, Key: { pk: BATCH + leader }, ConsistentRead: true }),
    );
    return out.Item ? fromBatchItem(out.Item) : undefined;
  }

  async closeBatch(leader: string, now: string): Promise<Batch | undefined> {
    return this.fixBatch(leader, "SET closed = members, closedAt = :v", "deadline <= :v", now);
  }

  async setMerged(leader: string, merged: string[]): Promise<Batch | undefined> {
    return this.fixBatch(
      leader,
      "SET merged = :v",
      "attribute_exists(closed) AND attribute_not_exists(merged)",
      merged,
    );
  }

  /** Sets a batch field once (conditional); the batch as stored afterwards, whoever set it. */
  private async fixBatch(leader: string, set: string, condition: string, value: unknown): Promise<Batch | undefined> {
    const field = set.split(" ")[1];
    const out = await this.update({
      Key: { pk: BATCH + leader },
      UpdateExpression: set,
      ConditionExpression: `attribute_exists(pk) AND attribute_not_exists(${field}) AND ${condition}`,
      ExpressionAttributeValues: { ":v": value },
      ReturnValues: "ALL_NEW",
    });
    return out ? fromBatchItem(out) : this.batch(leader);
  }
}

function toStepItem(s: StepRecord): Record<string, unknown> {
  return {
    ...stepKey(s.rolloutId, s.index),
    kind: "step",
    rolloutId: s.rolloutId,
    index: s.index,
    wi: s.waveIndex,
    wave: s.wave,
    service: s.service,
    targetKind: s.kind,
    ...(s.clusterArn ? { clusterArn: s.clusterArn } : {}),
    ...(s.maxConcurrency ? { mc: s.maxConcurrency } : {}),
    tids: s.targetIds,
    st: s.state,
    att: s.attempt,
    cmds: s.commandIds,
    why: s.why,
    done: s.done,
    closed: s.closed,
    tagged: s.tagged,
  };
}

const strings = (v: unknown): string[] => (v instanceof Set ? [...v].map(String).sort() : []);

function fromStepItem(it: Record<string, unknown>): StepRecord {
  return {
    rolloutId: String(it.rolloutId),
    index: Number(it.index),
    waveIndex: Number(it.wi),
    wave: Number(it.wave),
    service: String(it.service),
    kind: it.targetKind === "ecs-service" ? "ecs-service" : "host",
    ...(typeof it.clusterArn === "string" ? { clusterArn: it.clusterArn } : {}),
    ...(typeof it.mc === "string" ? { maxConcurrency: it.mc } : {}),
    targetIds: (it.tids as string[]) ?? [],
    state: it.st as StepRecord["state"],
    attempt: Number(it.att),
    commandIds: (it.cmds as string[]) ?? [],
    ...(typeof it.claimedAt === "string" ? { claimedAt: it.claimedAt } : {}),
    ...(typeof it.sentAt === "string" ? { sentAt: it.sentAt } : {}),
    ok: strings(it.ok),
    bad: strings(it.bad),
    skip: strings(it.skip),
    stopped: strings(it.stop),
    why: (it.why as Record<string, string>) ?? {},
    done: Number(it.done ?? 0),
    closed: it.closed === true,
    ...(typeof it.closedAt === "string" ? { closedAt: it.closedAt } : {}),
    tagged: it.tagged === true,
  };
}

function fromBatchItem(it: Record<string, unknown>): Batch {
  return {
    leader: String(it.leader),
    namespace: String(it.namespace),
    openedAt: String(it.openedAt),
    deadline: String(it.deadline),
    members: strings(it.members),
    ...(it.closed ? { closed: strings(it.closed) } : {}),
    ...(Array.isArray(it.merged) ? { merged: it.merged.map(String) } : {}),
  };
}

function fromHeadItem(it: Record<string, unknown>): RolloutHead {
  const waves = (it.waves as RolloutHead["waves"]) ?? [];
  return {
    rolloutId: String(it.rolloutId),
    status: it.status as RolloutHead["status"],
    secretArn: String(it.secretArn),
    secretName: String(it.secretName),
    versionId: String(it.versionId),
    maxConcurrency: String(it.maxConcurrency),
    maxErrors: String(it.maxErrors),
    waves: waves.map((w) => ({
      wave: Number(w.wave),
      ...(w.part ? { part: Number(w.part) } : {}),
      first: Number(w.first),
      steps: Number(w.steps),
      targets: Number(w.targets),
    })),
    current: Number(it.current),
    done: waves.map((_, i) => Number(it[doneAttr(i)] ?? 0)),
    skipped: (it.skipped as RolloutHead["skipped"]) ?? [],
    skippedCount: Number(it.skippedCount ?? 0),
    ...(typeof it.haltReason === "string" ? { haltReason: it.haltReason } : {}),
    ...(it.policy ? { policy: it.policy as RolloutPolicy } : {}),
    ...(it.hold ? { hold: it.hold as Hold } : {}),
    ...(it.lastHold ? { lastHold: it.lastHold as Hold & { releasedAt: string } } : {}),
    ...(typeof it.batch === "string" ? { batch: it.batch } : {}),
    ...(typeof it.coalescedInto === "string" ? { coalescedInto: it.coalescedInto } : {}),
    ...(Array.isArray(it.secrets) ? { secrets: it.secrets as RolloutHead["secrets"] } : {}),
    createdAt: String(it.createdAt),
    updatedAt: String(it.updatedAt),
  };
}
