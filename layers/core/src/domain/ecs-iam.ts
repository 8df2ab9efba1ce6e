// The one seam between ECS consumers and the IAM evaluation (issue 13 is rewriting the scope check into a
// containment engine): ECS code calls only these functions, so re-pointing them re-points every ECS decision.
import type { RolePolicies, SecretDescription } from "../ports/index.ts";
import { type EcsService, parseValueFrom, type RoleDecision } from "./ecs.ts";
import { checkRoleScope } from "./iam/containment.ts";
import { type ExecutionReferences, executionEnvelopeFor } from "./iam/envelope.ts";
import { canReadSecret, scopeFindingsForHost, scopeOf } from "./iam/scope.ts";
import type { Manifest } from "./manifest.ts";
import type { AwsScope, Finding } from "./model.ts";

/** Can the task execution role fetch the secret at task start (GetSecretValue on its ARN)? Same evaluator as hosts. */
export function executionRoleCanRead(role: RolePolicies | undefined, secretArn: string): RoleDecision {
  return role ? canReadSecret(role, secretArn) : "no-role";
}

/**
 * What the service's task definitions make ECS read at task start, as ARNs: each `secrets[].valueFrom` that names a
 * secret (full or partial ARN, a name Secrets Manager knows, a `/aws/reference/secretsmanager/` parameter, which
 * ECS reads through Parameter Store) and each Parameter Store parameter. `secrets`: the audit's DescribeSecret
 * answers by referenced id (domain/ecs.ts referencedSecretIds).
 */
export function executionReferences(
  s: Pick<EcsService, "secretRefs">,
  secrets: ReadonlyMap<string, SecretDescription | undefined>,
  aws: AwsScope,
): ExecutionReferences {
  const refs: ExecutionReferences = { secrets: [], parameters: [] };
  const parameter = (name: string) =>
    name.startsWith("arn:")
      ? name
      : `arn:${aws.partition}:ssm:${aws.region}:${aws.account}:parameter/${name.replace(/^\//, "")}`;
  for (const { valueFrom } of s.secretRefs) {
    const p = parseValueFrom(valueFrom);
    const id = p.kind === "secret" ? p.secretId : p.name;
    const arn = secrets.get(id)?.arn ?? (p.kind === "secret" && id.startsWith("arn:") ? id : undefined);
    if (arn) refs.secrets.push(arn);
    if (p.kind === "parameter" ? !arn : p.via === "parameter-reference") refs.parameters.push(parameter(valueFrom));
  }
  return refs;
}

/**
 * What a task or execution role of an ECS service of `service` can do beyond its envelope, as findings about the
 * service (`resource` = its ARN). A task role is held to the host envelope of its service; an execution role to its
 * own (envelope.ts X1: the managed execution policy plus exactly the secrets `execution` lists); a role that is both
 * to their union. Only excess grants: an ECS role needs none of a host's parameter, ECR or S3 reads, so their absence
 * is not a finding.
 */
export function ecsRoleFindings(
  role: RolePolicies,
  m: Manifest,
  service: string,
  aws: AwsScope,
  serviceArn: string,
  uses: { task: boolean; execution?: ExecutionReferences },
): Finding[] {
  const host = scopeOf(m, service, aws).envelope;
  const exec = uses.execution && executionEnvelopeFor(m, service, aws, uses.execution);
  const envelope =
    exec && uses.task
      ? { ...host, subject: `ECS task and execution role of ${service}`, grants: [...host.grants, ...exec.grants] }
      : (exec ?? host);
  const findings = checkRoleScope(role, envelope).findings.filter((f) => f.kind === "iam-excess-grant");
  const verdict = { roleName: role.roleName, roleArn: role.roleArn, service, verdict: "violation" as const, findings };
  return scopeFindingsForHost(verdict, serviceArn).map(({ instanceId: _host, ...f }) => ({
    ...f,
    resource: serviceArn,
  }));
}
