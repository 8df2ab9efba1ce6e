// The drift audit's ECS part: load (one ECS scan, one ListSecrets page for the referenced secrets, each distinct
// task/execution role once) → judge (domain/ecs-audit.ts, domain/ecs-iam.ts) → catch-up targets for remediation.
import { type EcsService, placeEcsService, referencedSecretIds, roleNameOf } from "../domain/ecs.ts";
import { judgeEcsServices, type StaleEcsService } from "../domain/ecs-audit.ts";
import { ecsRoleFindings } from "../domain/ecs-iam.ts";
import type { Manifest } from "../domain/manifest.ts";
import type { AwsScope, Finding } from "../domain/model.ts";
import type { Deps } from "./deps.ts";

export interface EcsAudit {
  services: number;
  findings: Finding[];
  stale: StaleEcsService[];
}

/**
 * Audits the fleet's ECS services; nothing without an ECS port. IAM: each task and execution role is judged against
 * its service's scope once (excess grants only) and the findings name the service ARN as `resource`.
 */
export async function auditEcsServices(m: Manifest, deps: Deps): Promise<EcsAudit> {
  if (!deps.ecs) return { services: 0, findings: [], stale: [] };
  const services = await deps.ecs.scanNamespace(m.tags.namespace, m.namespace);
  if (services.length === 0) return { services: 0, findings: [], stale: [] };
  const ids = referencedSecretIds(services);
  const secrets = ids.length > 0 ? await deps.secrets.describeMany(ids) : new Map();
  const judged = judgeEcsServices({ manifest: m, services, secrets, now: deps.now() });
  const findings = [...judged.findings, ...(await roleFindings(m, services, deps))];
  return { services: services.length, findings, stale: judged.stale };
}

async function roleFindings(m: Manifest, services: EcsService[], deps: Deps): Promise<Finding[]> {
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
      if (role) findings.push(...ecsRoleFindings(role, m, place.service, aws, s.serviceArn));
    }
  }
  return findings;
}
