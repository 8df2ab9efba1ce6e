// SecretCatalog over Secrets Manager: metadata only. This module never reads a secret value.
import {
  DescribeSecretCommand,
  ListSecretsCommand,
  type SecretListEntry,
  type SecretsManagerClient,
} from "@aws-sdk/client-secrets-manager";
import { isSecretArn, secretIdMatches } from "../domain/secrets.ts";
import type { SecretCatalog, SecretDescription } from "../ports/index.ts";

const iso = (d: Date | string | undefined): string | undefined => (d ? new Date(d).toISOString() : undefined);

/** ListSecrets accepts at most 10 values per filter. */
const VALUES_PER_FILTER = 10;

function describe(
  arn: string | undefined,
  name: string | undefined,
  stages: Record<string, string[]> | undefined,
  changed: Date | undefined,
  deleted: Date | undefined,
  owningService?: string,
): SecretDescription | undefined {
  if (!arn || !name) return undefined;
  const desc: SecretDescription = { arn, name, ...(owningService ? { owningService } : {}) };
  const current = Object.entries(stages ?? {}).find(([, s]) => s.includes("AWSCURRENT"));
  if (current) desc.currentVersionId = current[0];
  const c = iso(changed);
  if (c) desc.lastChangedDate = c;
  const d = iso(deleted);
  if (d) desc.deletedDate = d;
  return desc;
}

/** The name prefix an id can be found under: a name as is; an ARN's resource part without its random suffix. */
function namePrefix(id: string): string {
  if (!isSecretArn(id)) return id;
  const rest = id.slice(id.indexOf(":secret:") + ":secret:".length);
  return /-[A-Za-z0-9]{6}$/.test(rest) ? rest.slice(0, -7) : rest;
}

/**
 * Name prefixes for ListSecrets, at most `max` (one filter's worth, so one call per 100 secrets): while there are more,
 * the deepest names give way to their parent path (`voiceai/prod/api/secrets` → `voiceai/prod/api/` → `voiceai/prod/`),
 * so twelve service bundles cost one filter value, not two calls. Exact matching happens afterwards.
 */
export function listPrefixes(names: string[], max = VALUES_PER_FILTER): string[] {
  let set = [...new Set(names)];
  const parent = (p: string): string | undefined => {
    const i = p.lastIndexOf("/", p.endsWith("/") ? p.length - 2 : p.length - 1);
    return i > 0 ? p.slice(0, i + 1) : undefined;
  };
  const depth = (p: string) => p.split("/").filter(Boolean).length;
  while (set.length > max) {
    const deepest = Math.max(...set.map((p) => (parent(p) ? depth(p) : 0)));
    if (deepest === 0) break; // nothing left to shorten: several filters it is
    const next = set.map((p) => (parent(p) && depth(p) === deepest ? (parent(p) as string) : p));
    // A prefix already covered by a shorter one adds nothing.
    set = [...new Set(next)].filter((p, _, all) => !all.some((q) => q !== p && p.startsWith(q)));
  }
  return set.sort();
}

export class SecretsManagerCatalog implements SecretCatalog {
  constructor(private readonly sm: SecretsManagerClient) {}

  async describe(secretId: string): Promise<SecretDescription | undefined> {
    try {
      const out = await this.sm.send(new DescribeSecretCommand({ SecretId: secretId }));
      return describe(
        out.ARN,
        out.Name,
        out.VersionIdsToStages,
        out.LastChangedDate,
        out.DeletedDate,
        out.OwningService,
      );
    } catch (err) {
      if (err instanceof Error && err.name === "ResourceNotFoundException") return undefined;
      throw err;
    }
  }

  async describeMany(secretIds: string[]): Promise<Map<string, SecretDescription | undefined>> {
    const prefixes = listPrefixes(secretIds.map(namePrefix));
    const entries: SecretListEntry[] = [];
    for (let i = 0; i < prefixes.length; i += VALUES_PER_FILTER) {
      let token: string | undefined;
      do {
        const out = await this.sm.send(
          new ListSecretsCommand({
            Filters: [{ Key: "name", Values: prefixes.slice(i, i + VALUES_PER_FILTER) }],
            IncludePlannedDeletion: true,
            MaxResults: 100,
            NextToken: token,
          }),
        );
        entries.push(...(out.SecretList ?? []));
        token = out.NextToken;
      } while (token);
    }
    const found = new Map<string, SecretDescription | undefined>();
    for (const id of secretIds) {
      // Name filters match prefixes: pick the exact secret (ns/api/secrets, not ns/api/secrets-old).
      const e = entries.find((x) => x.ARN && x.Name && secretIdMatches(id, { arn: x.ARN, name: x.Name }));
      found.set(
        id,
        e
          ? describe(e.ARN, e.Name, e.SecretVersionsToStages, e.LastChangedDate, e.DeletedDate, e.OwningService)
          : undefined,
      );
    }
    return found;
  }
}
