// ECS services in a rotation's rollout: who takes a new deployment (discovery + IAM), and the dispatch itself.
import {
  type EcsPlanTarget,
  isEcsConsumer,
  judgeEcsConsumer,
  partialReferences,
  roleNameOf,
  type SkippedEcsService,
} from "../domain/ecs.ts";
import { executionRoleCanRead } from "../domain/ecs-iam.ts";
import type { Manifest } from "../domain/manifest.ts";
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
): Promise<{ targets: EcsPlanTarget[]; skipped: SkippedEcsService[] }> {
  if (!deps.ecs) return { targets: [], skipped: [] };
  const services = await deps.ecs.scanNamespace(m.tags.namespace, m.namespace);
  const confirmed = new Set<string>();
  for (const id of partialReferences(services, secret))
    if ((await deps.secrets.describe(id))?.arn === secret.arn) confirmed.add(id);
  const loadRole = roleLoader(deps);
  const targets: EcsPlanTarget[] = [];
  const skipped: SkippedEcsService[] = [];
  for (const service of services) {
    if (!isEcsConsumer(service, m, secret, confirmed)) continue; // IAM is read only for consumers
    const roleDecision = executionRoleCanRead(await loadRole(service.executionRoleArn), secret.arn);
    const d = judgeEcsConsumer({ service, manifest: m, secret, confirmed, roleDecision });
    if (d.kind === "target") targets.push(d.target);
    else if (d.kind === "skipped") skipped.push(d.skipped);
  }
  return { targets, skipped };
}

/**
 * Starts one new deployment per claimed ECS target (UpdateService forceNewDeployment) and links each deployment to
 * the rollout before its events can matter. Fills `sent` (serviceArn → deploymentId) as it goes, so a failure part
 * way leaves the caller knowing exactly what was sent. Throws when ECS targets exist but no ECS port is wired.
 */
export async function dispatchEcs(
  deps: Pick<Deps, "ecs" | "links">,
  rolloutId: string,
  claimed: { serviceArn: string; clusterArn: string }[],
  sent: Map<string, string>,
): Promise<void> {
  if (claimed.length === 0) return;
  if (!deps.ecs || !deps.links)
    throw new Error(`rollout ${rolloutId} has ECS targets but this function has no ECS dispatcher wired`);
  for (const t of claimed) {
    const { deploymentId } = await deps.ecs.forceNewDeployment(t.clusterArn, t.serviceArn);
    sent.set(t.serviceArn, deploymentId);
    await deps.links.link(deploymentId, rolloutId);
  }
}
