import { ConditionalCheckFailedException, type DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient, GetCommand, PutCommand, ScanCommand } from "@aws-sdk/lib-dynamodb";
import type { Rollout } from "../domain/rollout.ts";
import type { RolloutStore } from "../ports/index.ts";

const ROLLOUT = "rollout#";
/** Rollout records expire 90 days after their last write (TTL attribute `ttl`). */
const TTL_SECONDS = 90 * 24 * 3600;

/**
 * One item per rollout (pk `rollout#<id>`).
 * Every write of a rollout is conditional on the revision read, so concurrent tracker deliveries never
 * overwrite each other's host results.
 */
export class DynamoRolloutStore implements RolloutStore {
  private readonly doc: DynamoDBDocumentClient;
  constructor(
    client: DynamoDBClient,
    private readonly table: string,
  ) {
    this.doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  }

  private ttl(): number {
    return Math.floor(Date.now() / 1000) + TTL_SECONDS;
  }

  async create(r: Rollout): Promise<boolean> {
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.table,
          Item: { pk: ROLLOUT + r.rolloutId, kind: "rollout", ttl: this.ttl(), ...r },
          ConditionExpression: "attribute_not_exists(pk)",
        }),
      );
      return true;
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) return false;
      throw err;
    }
  }

  async get(rolloutId: string): Promise<Rollout | undefined> {
    const out = await this.doc.send(
      new GetCommand({ TableName: this.table, Key: { pk: ROLLOUT + rolloutId }, ConsistentRead: true }),
    );
    return out.Item ? strip(out.Item) : undefined;
  }

  async save(r: Rollout): Promise<Rollout | undefined> {
    const next = { ...r, rev: r.rev + 1 };
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.table,
          Item: { pk: ROLLOUT + r.rolloutId, kind: "rollout", ttl: this.ttl(), ...next },
          ConditionExpression: "#rev = :rev",
          ExpressionAttributeNames: { "#rev": "rev" },
          ExpressionAttributeValues: { ":rev": r.rev },
        }),
      );
      return next;
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException) return undefined;
      throw err;
    }
  }

  /** Operator listing (CLI). A scan is acceptable here: rollouts are few and expire. */
  async list(limit: number): Promise<Rollout[]> {
    const items: Rollout[] = [];
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
      for (const it of out.Items ?? []) items.push(strip(it));
      start = out.LastEvaluatedKey;
    } while (start && items.length < limit);
    return items.sort((a, b) => b.createdAt.localeCompare(a.createdAt)).slice(0, limit);
  }
}

function strip(item: Record<string, unknown>): Rollout {
  const { pk: _pk, kind: _kind, ttl: _ttl, ...rest } = item;
  return rest as unknown as Rollout;
}
