// ECS services as secret consumers: plain data and pure decisions. An ECS task reads its secrets once, at task
// start (task definition `secrets[].valueFrom`, fetched by the task execution role), so a rotated secret reaches a
// service only through a new deployment. Sources: ECS developer guide, "Pass Secrets Manager secrets through
// Amazon ECS environment variables" and "Pass sensitive data to an Amazon ECS container"; seed "AWS Secrets Manager
// Integration" (the Pipecat ECS deployment).

import type { EcsDeploymentState } from "../ports/index.ts";
import { shown } from "./events.ts";
import type { Decision } from "./iam/evaluator.ts";
import type { Manifest } from "./manifest.ts";
import { SERVICE_NAME_PATTERN } from "./manifest.ts";
import type { RolloutTarget, SkippedTarget, Verdict } from "./rollout.ts";
import { isSecretArn, nameCandidates, runsCurrentVersion, type SecretRef } from "./secrets.ts";

/** A task definition's `secrets[]` entry: the container and variable it feeds, and where it comes from. */
export interface EcsSecretReference {
  container: string;
  name: string;
  valueFrom: string;
}

export type DeploymentController = "ECS" | "CODE_DEPLOY" | "EXTERNAL";

/** One ECS service as the control plane sees it (DescribeServices + its current task definition's `secrets[]`). */
export interface EcsService {
  serviceArn: string;
  clusterArn: string;
  serviceName: string;
  tags: Record<string, string>;
  controller: DeploymentController;
  /** deploymentConfiguration.deploymentCircuitBreaker.enable: ECS itself fails (and may roll back) a bad deployment. */
  circuitBreaker: boolean;
  taskDefinitionArn?: string;
  taskRoleArn?: string;
  executionRoleArn?: string;
  /** The PRIMARY deployment: the one whose tasks the service is converging on. ISO-8601 `createdAt`. */
  primaryDeployment?: { id: string; createdAt: string; rolloutState?: string };
  /** Names and `valueFrom` only: the task definition's `environment` values are never read. */
  secretRefs: EcsSecretReference[];
}

/** The contract's ECS target (CONTRACT-consumers.md): identified by its service ARN. */
export type EcsServiceTarget = Extract<RolloutTarget, { kind: "ecs-service" }>;

const PARAMETER_REFERENCE = "/aws/reference/secretsmanager/";
const SSM_PARAMETER_ARN = /^arn:aws[a-z-]*:ssm:[a-z0-9-]+:\d{12}:parameter(\/.*)$/;

/**
 * What a `valueFrom` points at. A Secrets Manager reference is `secretId` (a full ARN, a partial ARN without the
 * random suffix, or a name) plus the optional `json-key:version-stage:version-id` selector; a Parameter Store
 * reference to a secret (`/aws/reference/secretsmanager/<id>`, by name or parameter ARN) carries the same `secretId`.
 * Any other parameter is `parameter` (not a Secrets Manager secret).
 */
export type ParsedValueFrom =
  | {
      kind: "secret";
      via: "secretsmanager" | "parameter-reference";
      secretId: string;
      jsonKey?: string;
      versionStage?: string;
      versionId?: string;
    }
  | { kind: "parameter"; name: string };

/**
 * Parses one `valueFrom` (ECS developer guide, "secrets" task definition parameter). Secret names cannot contain
 * `:` (Secrets Manager naming rules), so everything after the ARN's name part is the selector
 * `json-key:version-stage:version-id`, each part optional. Never strips the `-xxxxxx` suffix: whether an ARN is
 * full or partial is decided by Secrets Manager (field notes), not by a regex.
 */
export function parseValueFrom(valueFrom: string): ParsedValueFrom {
  if (isSecretArn(valueFrom)) {
    const at = valueFrom.indexOf(":secret:") + ":secret:".length;
    const [name = "", jsonKey, versionStage, versionId] = valueFrom.slice(at).split(":");
    return {
      kind: "secret",
      via: "secretsmanager",
      secretId: valueFrom.slice(0, at) + name,
      ...(jsonKey ? { jsonKey } : {}),
      ...(versionStage ? { versionStage } : {}),
      ...(versionId ? { versionId } : {}),
    };
  }
  const paramName = SSM_PARAMETER_ARN.exec(valueFrom)?.[1] ?? valueFrom;
  if (paramName.startsWith(PARAMETER_REFERENCE)) {
    // `/aws/reference/secretsmanager/<name or ARN>`; a version is selected with a trailing `:<version>` on a name.
    const id = paramName.slice(PARAMETER_REFERENCE.length);
    if (isSecretArn(id)) {
      const parsed = parseValueFrom(id);
      return parsed.kind === "secret" ? { ...parsed, via: "parameter-reference" } : parsed;
    }
    const colon = id.indexOf(":");
    return colon < 0
      ? { kind: "secret", via: "parameter-reference", secretId: id }
      : { kind: "secret", via: "parameter-reference", secretId: id.slice(0, colon), versionId: id.slice(colon + 1) };
  }
  // A bare string: a Parameter Store name, or a Secrets Manager secret's name (issue 16: "or a name"). Which one is
  // decided by comparing it with the rotated secret's exact name (referencesTo), never by guessing.
  return { kind: "parameter", name: valueFrom };
}

/** A reference whose selector pins a version id or a stage other than AWSCURRENT: a redeploy reads the same value. */
export function pinnedBy(ref: ParsedValueFrom): string | undefined {
  if (ref.kind !== "secret") return undefined;
  if (ref.versionId) return `version id ${ref.versionId}`;
  if (ref.versionStage && ref.versionStage !== "AWSCURRENT") return `version stage ${ref.versionStage}`;
  return undefined;
}

/**
 * How a reference's id relates to a secret, before any AWS call: `same` (the full ARN or the exact name), `maybe`
 * (an ARN that is a prefix ending where the secret's 6-character suffix starts: a partial ARN that Secrets Manager
 * must confirm, since a name may itself end in `-xxxxxx`), or `other`.
 */
export function referenceMatch(secretId: string, secret: SecretRef): "same" | "maybe" | "other" {
  if (secretId === secret.arn || secretId === secret.name) return "same";
  if (isSecretArn(secretId) && secret.arn.length === secretId.length + 7 && secret.arn.startsWith(`${secretId}-`))
    return "maybe";
  return "other";
}

/** Where a service belongs: the fleet's tags, as for a host (namespace tag + service tag naming a manifest service). */
export function placeEcsService(
  s: Pick<EcsService, "tags">,
  m: Manifest,
):
  | { kind: "fleet"; service: string; wave: number }
  | { kind: "not-in-fleet" }
  | { kind: "unknown-service"; reason: string } {
  if (s.tags[m.tags.namespace] !== m.namespace) return { kind: "not-in-fleet" };
  const name = s.tags[m.tags.service];
  const spec = name === undefined ? undefined : m.services.find((x) => x.name === name);
  if (!spec || !SERVICE_NAME_PATTERN.test(spec.name))
    return {
      kind: "unknown-service",
      reason: `tag ${shown(m.tags.service)}=${shown(name ?? "")} names no service of the manifest`,
    };
  return { kind: "fleet", service: spec.name, wave: spec.wave };
}

/** The evaluator's decision for GetSecretValue on the secret, or `no-role` when the task definition names none. */
export type RoleDecision = Decision | "no-role";

export type EcsConsumerDecision =
  | { kind: "not-consumer" }
  | { kind: "target"; target: EcsServiceTarget }
  | { kind: "skipped"; skipped: SkippedTarget };

/**
 * Does this ECS service take a new deployment for `secret`? Inputs: the service, the secret (canonical ARN and
 * name), `confirmed` (partial ARNs Secrets Manager resolved to this secret's ARN), the execution role's decision
 * for GetSecretValue on the secret, and (rotation) the version now current. A service of another namespace, or whose
 * current task definition does not reference the secret, is not a consumer (left untouched). A consumer is skipped —
 * reported, not restarted — when its tags name no manifest service, every reference is pinned, it already runs the
 * version (the hosts' freshness rule: version tag, or PRIMARY deployment started after the change), its deployment
 * controller is CODE_DEPLOY or EXTERNAL (UpdateService cannot force a new deployment), or its execution role cannot
 * read the secret.
 */
export function judgeEcsConsumer(input: {
  service: EcsService;
  manifest: Manifest;
  secret: SecretRef;
  confirmed: ReadonlySet<string>;
  roleDecision: RoleDecision;
  version?: { versionId: string; changedAt?: string | undefined };
}): EcsConsumerDecision {
  const { service: s, manifest: m, secret } = input;
  const place = placeEcsService(s, m);
  const refs = referencesTo(s, secret, input.confirmed);
  if (place.kind === "not-in-fleet" || refs.length === 0) return { kind: "not-consumer" };
  const skip = (service: string, reason: string): EcsConsumerDecision => ({
    kind: "skipped",
    skipped: { targetId: s.serviceArn, service, reason },
  });
  if (place.kind === "unknown-service") return skip(shown(s.tags[m.tags.service] ?? ""), place.reason);
  const live = refs.filter((r) => !pinnedBy(r.parsed));
  if (live.length === 0)
    return skip(
      place.service,
      // Container and variable names come from the task definition: shown escaped, never raw.
      `every reference is pinned (${refs.map((r) => `${shown(r.ref.container)}/${shown(r.ref.name)}: ${shown(pinnedBy(r.parsed) ?? "")}`).join("; ")}): a new deployment would read the same value`,
    );
  // A role that cannot read the secret comes first: such a service runs no version of it, however recent its tasks.
  if (input.roleDecision !== "allow")
    return skip(
      place.service,
      input.roleDecision === "no-role"
        ? "no task execution role: the new tasks could not fetch the secret"
        : `task execution role cannot read the secret (${input.roleDecision}): the new tasks would fail to start`,
    );
  const fresh = input.version && runsCurrentVersionOf(s, { name: secret.name, ...input.version });
  if (fresh) return skip(place.service, `already runs version ${input.version?.versionId} (${fresh})`);
  if (s.controller !== "ECS")
    return skip(place.service, `deployment controller ${s.controller}: UpdateService cannot force a new deployment`);
  return {
    kind: "target",
    target: { kind: "ecs-service", serviceArn: s.serviceArn, clusterArn: s.clusterArn, service: place.service },
  };
}

/** The hosts' freshness rule for a service: its version tag, or its PRIMARY deployment's start as its "launch". */
export function runsCurrentVersionOf(
  s: Pick<EcsService, "tags" | "primaryDeployment">,
  secret: { name: string; versionId: string; changedAt?: string | undefined },
): "recorded" | "deployed-after" | undefined {
  const r = runsCurrentVersion({ tags: s.tags, launchTime: s.primaryDeployment?.createdAt ?? "" }, secret);
  return r === "launched-after" ? "deployed-after" : r;
}

/**
 * What a deployment's state means for its target, or undefined while it is in flight (the engine's step deadline
 * then decides: a service without a circuit breaker never reports FAILED). COMPLETED, or superseded by a later
 * completed deployment (whose tasks read the secret afresh too) → ok; FAILED (circuit breaker), gone (rolled back)
 * or the service deleted → bad.
 */
export function ecsOutcome(state: EcsDeploymentState): { verdict: Verdict; why: string } | undefined {
  const why = (s: string) => (state.reason ? `${s}: ${state.reason.slice(0, 300)}` : s);
  switch (state.state) {
    case "COMPLETED":
    case "superseded":
      return { verdict: "ok", why: why(`deployment ${state.state}`) };
    case "FAILED":
    case "gone":
    case "service-missing":
      return { verdict: "bad", why: why(`deployment ${state.state}`) };
    case "IN_PROGRESS":
      return undefined;
  }
}

/** Is `s` a fleet service whose current task definition references `secret`? (Before any IAM read.) */
export function isEcsConsumer(s: EcsService, m: Manifest, secret: SecretRef, confirmed: ReadonlySet<string>): boolean {
  return placeEcsService(s, m).kind !== "not-in-fleet" && referencesTo(s, secret, confirmed).length > 0;
}

/** The service's references that denote `secret` (same id, or a partial ARN Secrets Manager confirmed). */
export function referencesTo(
  s: Pick<EcsService, "secretRefs">,
  secret: SecretRef,
  confirmed: ReadonlySet<string>,
): { ref: EcsSecretReference; parsed: ParsedValueFrom }[] {
  const out: { ref: EcsSecretReference; parsed: ParsedValueFrom }[] = [];
  for (const ref of s.secretRefs) {
    const parsed = parseValueFrom(ref.valueFrom);
    const id = parsed.kind === "secret" ? parsed.secretId : parsed.name;
    const match = referenceMatch(id, secret);
    if (match === "same" || (match === "maybe" && confirmed.has(id))) out.push({ ref, parsed });
  }
  return out;
}

/**
 * Cheap pre-filter before any Secrets Manager call: can `id` (a name, a full or a partial ARN, as an event names it)
 * be a secret one of these services references? False positives are settled by DescribeSecret afterwards.
 */
export function mayBeReferenced(services: EcsService[], id: string): boolean {
  const names = nameCandidates(id);
  return services.some((s) =>
    s.secretRefs.some((ref) => {
      const parsed = parseValueFrom(ref.valueFrom);
      const rid = parsed.kind === "secret" ? parsed.secretId : parsed.name;
      if (rid === id || id.startsWith(`${rid}-`) || rid.startsWith(`${id}-`)) return true;
      return nameCandidates(rid).some((n) => names.includes(n));
    }),
  );
}

/** Partial-ARN references to `secret` that only Secrets Manager can confirm (one DescribeSecret each, memoised). */
export function partialReferences(services: EcsService[], secret: SecretRef): string[] {
  const ids = new Set<string>();
  for (const s of services)
    for (const ref of s.secretRefs) {
      const parsed = parseValueFrom(ref.valueFrom);
      if (parsed.kind === "secret" && referenceMatch(parsed.secretId, secret) === "maybe") ids.add(parsed.secretId);
    }
  return [...ids].sort();
}

/** Every distinct secret id the services reference (for a bulk ListSecrets in the audit). */
export function referencedSecretIds(services: EcsService[]): string[] {
  const ids = new Set<string>();
  for (const s of services)
    for (const ref of s.secretRefs) {
      const parsed = parseValueFrom(ref.valueFrom);
      ids.add(parsed.kind === "secret" ? parsed.secretId : parsed.name);
    }
  return [...ids].sort();
}

/** Role name of an IAM role ARN (`arn:aws:iam::123:role/path/name` → `name`). */
export function roleNameOf(roleArn: string): string {
  return roleArn.slice(roleArn.lastIndexOf("/") + 1);
}
