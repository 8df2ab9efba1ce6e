// The drift audit's ECS part. Load (one ECS scan, one ListSecrets page for the referenced secrets, each distinct
// task/execution role once) here; judge in domain/audit.ts judgeFleet (domain/ecs-audit.ts judgeEcsServices), whose
// catch-ups include the stale services; app/audit-fleet.ts remediates them with the hosts.

import type { FleetFacts } from "../domain/audit.ts";
import { type EcsService, placeEcsService, referencedSecretIds, roleNameOf } from "../domain/ecs.ts";
import { ecsRoleFindings, executionReferences } from "../domain/ecs-iam.ts";
import type { Manifest } from "../domain/manifest.ts";
import type { AwsScope, Finding } from "../domain/model.ts";
import type { SecretDescription } from "../ports/index.ts";
import type { Deps } from "./deps.ts";

/**
 * The ECS facts of the audit; undefined without an ECS port. IAM: each task role is judged against its service's host
 * envelope, each execution role against its own (the managed execution policy plus the secrets its task definition
 * references), excess grants only; the findings name the service ARN as `resource`.
 */
export async function loadEcsFacts(m: Manifest, deps: Deps): Promise<FleetFacts["ecs"]> {
  if (!deps.ecs) return undefined;
  const services = await deps.ecs.scanNamespace(m.tags.namespace, m.namespace);
  if (services.length === 0) return { services, secrets: new Map(), roleFindings: [] };
  const ids = referencedSecretIds(services);
  const secrets = ids.length > 0 ? await deps.secrets.describeMany(ids) : new Map();
  return { services, secrets, roleFindings: await roleFindings(m, services, secrets, deps) };
}

async function roleFindings(
  m: Manifest,
  services: EcsService[],
  secrets: ReadonlyMap<string, SecretDescription | undefined>,
  deps: Deps,
): Promise<Finding[]> {
  const findings: Finding[] = [];
  for (const s of services) {
    const place = placeEcsService(s, m);
    if (place.kind !== "fleet") continue;
    // The scope's probe ARNs are built in the service's own partition, region and account.
    const [, partition = "aws", , region = deps.config.region, account = "000000000000"] = s.serviceArn.split(":");
    const aws: AwsScope = { partition, region, account };
    for (const roleArn of new Set([s.taskRoleArn, s.executionRoleArn].filter((r): r is string => !!r))) {
      const role = await deps.policies.rolePolicies(roleNameOf(roleArn)).catch((err: Error) => {
        if (err.name === "NotFoundError") return undefined;
        throw err;
      });
      const uses = {
        task: roleArn === s.taskRoleArn,
        ...(roleArn === s.executionRoleArn ? { execution: executionReferences(s, secrets, aws) } : {}),
      };
      if (role) findings.push(...ecsRoleFindings(role, m, place.service, aws, s.serviceArn, uses));
    }
  }
  return findings;
}
