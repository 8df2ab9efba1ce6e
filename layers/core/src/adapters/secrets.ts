// SecretCatalog over Secrets Manager: metadata only. This module never reads a secret value.
import { DescribeSecretCommand, type SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import type { SecretCatalog, SecretDescription } from "../ports/index.ts";

const iso = (d: Date | string | undefined): string | undefined => (d ? new Date(d).toISOString() : undefined);

export class SecretsManagerCatalog implements SecretCatalog {
  constructor(private readonly sm: SecretsManagerClient) {}

  async describe(secretId: string): Promise<SecretDescription | undefined> {
    try {
      const out = await this.sm.send(new DescribeSecretCommand({ SecretId: secretId }));
      if (!out.ARN || !out.Name) return undefined;
      const desc: SecretDescription = { arn: out.ARN, name: out.Name };
      const current = Object.entries(out.VersionIdsToStages ?? {}).find(([, stages]) => stages.includes("AWSCURRENT"));
      if (current) desc.currentVersionId = current[0];
      const changed = iso(out.LastChangedDate);
      if (changed) desc.lastChangedDate = changed;
      const deleted = iso(out.DeletedDate);
      if (deleted) desc.deletedDate = deleted;
      return desc;
    } catch (err) {
      if (err instanceof Error && err.name === "ResourceNotFoundException") return undefined;
      throw err;
    }
  }
}
