import { createHash } from "node:crypto";
import type { Manifest } from "./manifest.ts";

/** A secret as Secrets Manager names it: full ARN (with the 6-character suffix) and name. */
export interface SecretRef {
  arn: string;
  name: string;
}

const ARN_PREFIX = /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:/;

export function isSecretArn(id: string): boolean {
  return ARN_PREFIX.test(id);
}

/** The bundle every service host reads: `{NAMESPACE}/{service}/secrets`. */
export function bundleSecretName(namespace: string, service: string): string {
  return `${namespace}/${service}/secrets`;
}

/**
 * Does `id` (a name, a full ARN, or a partial ARN without the `-xxxxxx` suffix) denote `secret`?
 * Partial ARNs are matched only as a prefix that ends exactly where the suffix starts.
 */
export function secretIdMatches(id: string, secret: SecretRef): boolean {
  if (id === secret.arn || id === secret.name) return true;
  if (isSecretArn(id)) return secret.arn.length === id.length + 7 && secret.arn.startsWith(`${id}-`);
  return false;
}

/** The name part of an id: a name as is; an ARN's resource part (which may still carry the suffix). */
export function nameCandidates(id: string): string[] {
  if (!isSecretArn(id)) return [id];
  const rest = id.replace(ARN_PREFIX, "");
  const withoutSuffix = /-[A-Za-z0-9]{6}$/.test(rest) ? rest.slice(0, -7) : rest;
  return [rest, withoutSuffix];
}

/**
 * Cheap pre-filter before any AWS call: can `id` possibly be a secret this fleet consumes?
 * (True positives are confirmed with DescribeSecret; this only saves calls for foreign secrets.)
 */
export function mayBeFleetSecret(m: Manifest, id: string): boolean {
  const names = nameCandidates(id);
  const bundles = new Set(m.services.map((s) => bundleSecretName(m.namespace, s.name)));
  if (names.some((n) => bundles.has(n))) return true;
  return m.sharedSecrets.some((s) => {
    if (s.arn === id || id.startsWith(`${s.arn}-`) || s.arn.startsWith(`${id}-`)) return true;
    const sharedNames = nameCandidates(s.arn);
    return names.some((n) => sharedNames.includes(n));
  });
}

export type ConsumerVia = "bundle" | "shared";

export interface SecretConsumers {
  secret: SecretRef;
  services: string[];
  via: ConsumerVia;
  bootstrapVar?: string;
}

/** Which services read this secret, by the fleet's conventions and the manifest's shared secrets. */
export function consumersOf(m: Manifest, secret: SecretRef): SecretConsumers | undefined {
  const bundleOwner = m.services.find((s) => bundleSecretName(m.namespace, s.name) === secret.name);
  if (bundleOwner) return { secret, services: [bundleOwner.name], via: "bundle" };
  const shared = m.sharedSecrets.find((s) => secretIdMatches(s.arn, secret));
  if (shared) return { secret, services: [...shared.consumers], via: "shared", bootstrapVar: shared.bootstrapVar };
  return undefined;
}

/** Every secret the fleet consumes, as ids DescribeSecret accepts (names for bundles, ARNs for shared). */
export function consumedSecretIds(m: Manifest): { id: string; services: string[]; via: ConsumerVia }[] {
  return [
    ...m.services.map((s) => ({
      id: bundleSecretName(m.namespace, s.name),
      services: [s.name],
      via: "bundle" as const,
    })),
    ...m.sharedSecrets.map((s) => ({ id: s.arn, services: [...s.consumers], via: "shared" as const })),
  ];
}

/** Instance tag recording the secret version a host runs. Keyed by NAME so every ARN form agrees; hashed to fit EC2's 128-char keys and charset. */
export function versionTagKey(secretName: string): string {
  return `dcp:sv:${createHash("sha256").update(secretName).digest("hex").slice(0, 16)}`;
}

export const RESTARTED_AT_TAG = "dcp:restarted-at";

/** The tags recording that a consumer (host or ECS service) now runs `versionId` of the secret, since `at` (ISO). */
export function versionTags(secretName: string, versionId: string, at: string): Record<string, string> {
  return { [versionTagKey(secretName)]: versionId, [RESTARTED_AT_TAG]: at };
}

export function rolloutIdFor(secretArn: string, versionId: string): string {
  return `ro-${createHash("sha256").update(`${secretArn}|${versionId}`).digest("hex").slice(0, 16)}`;
}

/**
 * The freshness rule (shared by the audit and the rotation): does this consumer already run the current version?
 * `recorded` when its version tag equals it; `launched-after` when it booted after the version became current
 * (`changedAt`, the secret's LastChangedDate, at or after the version's creation), so its fetch at boot read it.
 * Undefined: it needs the restart.
 */
export function runsCurrentVersion(
  host: { tags: Record<string, string>; launchTime: string },
  secret: { name: string; versionId: string; changedAt?: string | undefined },
): "recorded" | "launched-after" | undefined {
  if (host.tags[versionTagKey(secret.name)] === secret.versionId) return "recorded";
  const since = secret.changedAt ? Date.parse(secret.changedAt) : Number.NaN;
  if (!Number.isNaN(since) && Date.parse(host.launchTime) > since) return "launched-after";
  return undefined;
}
