// DeploymentLinks on the rollout table: one small item per ECS deployment we started (pk `ecs-deployment#<id>`),
// so an `ECS Deployment State Change` event (which names the deployment, not our rollout) finds its rollout.
import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient, GetCommand, PutCommand } from "@aws-sdk/lib-dynamodb";
import type { DeploymentLinks } from "../ports/index.ts";

const LINK = "ecs-deployment#";
/** As long as the rollout record it points at (90 days). */
const TTL_SECONDS = 90 * 24 * 3600;

export class DynamoDeploymentLinks implements DeploymentLinks {
  private readonly doc: DynamoDBDocumentClient;
  constructor(
    client: DynamoDBClient,
    private readonly table: string,
  ) {
    this.doc = DynamoDBDocumentClient.from(client);
  }

  async link(deploymentId: string, ref: { rolloutId: string; step: number; attempt: number }): Promise<void> {
    await this.doc.send(
      new PutCommand({
        TableName: this.table,
        Item: {
          pk: LINK + deploymentId,
          kind: "ecs-deployment",
          ...ref,
          ttl: Math.floor(Date.now() / 1000) + TTL_SECONDS,
        },
      }),
    );
  }

  async stepOf(deploymentId: string): Promise<{ rolloutId: string; step: number; attempt: number } | undefined> {
    const out = await this.doc.send(
      new GetCommand({ TableName: this.table, Key: { pk: LINK + deploymentId }, ConsistentRead: true }),
    );
    const { rolloutId, step, attempt } = out.Item ?? {};
    return typeof rolloutId === "string" && typeof step === "number" && typeof attempt === "number"
      ? { rolloutId, step, attempt }
      : undefined;
  }
}
