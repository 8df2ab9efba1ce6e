// ECS services in a rotation's rollout: who takes a new deployment (discovery + IAM). The engine dispatches them.
import {
  type EcsServiceTarget,
  isEcsConsumer,
  judgeEcsConsumer,
  partialReferences,
  roleNameOf,
} from "../domain/ecs.ts";
import { executionRoleCanRead } from "../domain/ecs-iam.ts";
import type { Manifest } from "../domain/manifest.ts";
import type { SkippedTarget } from "../domain/rollout.ts";
import type { SecretRef } from "../domain/secrets.ts";
import type { RolePolicies } from "../ports/index.ts";
import type { Deps } from "./deps.ts";

/** Execution roles' policies, once per role per invocation; undefined when the role does not exist. */
function roleLoader(deps: Pick<Deps, "policies">): (roleArn: string | undefined) => Promise<RolePolicies | undefined> {
  const cache = new Map<string, Promise<RolePolicies | undefined>>();
  return (roleArn) => {
    if (!roleArn) return Promise.resolve(undefined);
    let p = cache.get(roleArn);
    if (!p) {
      p = deps.policies.rolePolicies(roleNameOf(roleArn)).catch((err: Error) => {
        if (err.name === "NotFoundError") return undefined;
        throw err;
      });
      cache.set(roleArn, p);
    }
    return p;
  };
}

/**
 * The fleet's ECS services whose current task definition references `secret`, split into targets (one new
 * deployment each, in their manifest wave) and services reported but not restarted (domain/ecs.ts judgeEcsConsumer).
 * Costs the ECS scan (memoised per invocation), one DescribeSecret per distinct partial ARN that may denote the
 * secret, and one role read per distinct execution role. Without an ECS port: no ECS targets.
 */
export async function ecsConsumersOf(
  secret: SecretRef,
  m: Manifest,
  deps: Pick<Deps, "ecs" | "secrets" | "policies">,
  version?: { versionId: string; changedAt?: string | undefined },
): Promise<{ targets: EcsServiceTarget[]; skipped: SkippedTarget[] }> {
  if (!deps.ecs) return { targets: [], skipped: [] };
  const services = await deps.ecs.scanNamespace(m.tags.namespace, m.namespace);
  const confirmed = new Set<string>();
  for (const id of partialReferences(services, secret))
    if ((await deps.secrets.describe(id))?.arn === secret.arn) confirmed.add(id);
  const loadRole = roleLoader(deps);
  const targets: EcsServiceTarget[] = [];
  const skipped: SkippedTarget[] = [];
  for (const service of services) {
    if (!isEcsConsumer(service, m, secret, confirmed)) continue; // IAM is read only for consumers
    const roleDecision = executionRoleCanRead(await loadRole(service.executionRoleArn), secret.arn);
    const d = judgeEcsConsumer({
      service,
      manifest: m,
      secret,
      confirmed,
      roleDecision,
      ...(version ? { version } : {}),
    });
    if (d.kind === "target") targets.push(d.target);
    else if (d.kind === "skipped") skipped.push(d.skipped);
  }
  return { targets, skipped };
}
