// The one seam between ECS consumers and the IAM evaluation (issue 13 is rewriting the scope check into a
// containment engine): ECS code calls only these two functions, so re-pointing them re-points every ECS decision.
import type { RolePolicies } from "../ports/index.ts";
import type { RoleDecision } from "./ecs.ts";
import { canReadSecret, evaluateScope, scopeFindingsForHost } from "./iam/scope.ts";
import type { Manifest } from "./manifest.ts";
import type { AwsScope, Finding } from "./model.ts";

/** Can the task execution role fetch the secret at task start (GetSecretValue on its ARN)? Same evaluator as hosts. */
export function executionRoleCanRead(role: RolePolicies | undefined, secretArn: string): RoleDecision {
  return role ? canReadSecret(role, secretArn) : "no-role";
}

/**
 * What a task or execution role of an ECS service of `service` can read beyond its scope, as findings about the
 * service (`resource` = its ARN): the host scope's forbidden probes (other services' secrets and parameters, other
 * namespaces, ancestors). Only excess grants: an ECS role needs none of a host's parameter, ECR or S3 reads, so
 * their absence is not a finding.
 */
export function ecsRoleFindings(
  role: RolePolicies,
  m: Manifest,
  service: string,
  aws: AwsScope,
  serviceArn: string,
): Finding[] {
  const verdict = evaluateScope(role, m, service, aws);
  const excess = { ...verdict, findings: verdict.findings.filter((f) => f.kind === "iam-excess-grant") };
  return scopeFindingsForHost(excess, serviceArn).map(({ instanceId: _host, ...f }) => ({
    ...f,
    resource: serviceArn,
  }));
}
