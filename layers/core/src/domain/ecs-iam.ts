// The one seam between ECS consumers and the IAM evaluation (issue 13 is rewriting the scope check into a
// containment engine): ECS code calls only these two functions, so re-pointing them re-points every ECS decision.
import type { RolePolicies } from "../ports/index.ts";
import type { RoleDecision } from "./ecs.ts";
import { canReadSecret, evaluateScope, type ScopeFinding } from "./iam/scope.ts";
import type { Manifest } from "./manifest.ts";
import type { AwsScope } from "./model.ts";

/** Can the task execution role fetch the secret at task start (GetSecretValue on its ARN)? Same evaluator as hosts. */
export function executionRoleCanRead(role: RolePolicies | undefined, secretArn: string): RoleDecision {
  return role ? canReadSecret(role, secretArn) : "no-role";
}

/**
 * What a task or execution role of an ECS service of `service` can read beyond its scope: the host scope's
 * forbidden probes (other services' secrets and parameters, other namespaces, ancestors). Only excess grants:
 * an ECS role does not need a host's parameter, ECR or S3 reads, so their absence is not a finding.
 */
export function ecsRoleExcess(role: RolePolicies, m: Manifest, service: string, aws: AwsScope): ScopeFinding[] {
  return evaluateScope(role, m, service, aws).findings.filter((f) => f.kind === "iam-excess-grant");
}
