// The envelope: everything the instance-profile role of a host of service S may do, as plain grants.
//
// Rules (seed "AWS security setup", instance-profile table; "least privilege" in the networking seed):
//  E1  ssm:GetParameter* (GetParameter, GetParameters, GetParameterHistory, GetParametersByPath) on
//      `parameter/NS/S/*`, and ssm:GetParametersByPath on `parameter/NS/S` itself (authorised against the path;
//      it reads only S's own children).
//  E2  ssm:DescribeParameters and ecr:GetAuthorizationToken on `*` (neither takes a resource ARN).
//  E3  secretsmanager:GetSecretValue on `secret:NS/S/*`.
//  E4  ecr:BatchGetImage + ecr:GetDownloadUrlForLayer on `repository/<ecrRepositoryPrefix>*` and s3:GetObject on
//      `<configBucket>/*`, as the seed grants them; a service's `ecrRepositories` / `configKeys` narrow them.
//  E5  GetSecretValue on each shared secret S consumes: its ARN, and its name + `-??????` (Secrets Manager's
//      random suffix, the form the IAM docs recommend) when the ARN carries a suffix.
//  E6  S's `extraGrants` (the only way kms:Decrypt, sts:AssumeRole, ses:… get in) and the manifest's
//      `platformGrants` (default: what the SSM agent needs, AmazonSSMManagedInstanceCore without GetParameter(s)).
//  E7  E1/E3/E4 hold in any region and account (`arn:aws:ssm:*:*:parameter/NS/S/*`, as fleets commonly write them):
//      the namespace path names the service, and another account's parameter, secret or repository is readable only
//      if that account shares it with the role. Everything else is compared exactly as written.
//  X1  An ECS task execution role (executionEnvelopeFor) has its own envelope: the grants of the AWS-managed
//      AmazonECSTaskExecutionRolePolicy (ECR pulls, awslogs), GetSecretValue / GetParameters on exactly what its
//      service's task definitions reference, kms:Decrypt on the keys the service's extraGrants name; nothing else.
import { InvalidInputError } from "../errors.ts";
import type { Manifest } from "../manifest.ts";
import type { AwsScope } from "../model.ts";

export interface EnvelopeGrant {
  actions: string[];
  resources: string[];
  /** Where the grant comes from, in words (`seed: own parameters`, `extraGrants[0]`). */
  why: string;
}

export interface Envelope {
  /** What the envelope is for (`service api`, `ECS task execution role of api`): appears in findings. */
  subject: string;
  aws: AwsScope;
  grants: EnvelopeGrant[];
}

/** Secrets Manager appends `-` + 6 characters to a secret's name in its ARN. */
const SECRET_SUFFIX = /-[A-Za-z0-9]{6}$/;

/** The ARN patterns a consumer of the secret `arn` may read: the ARN, and name + `-??????` when it has a suffix. */
export function secretArnPatterns(arn: string): string[] {
  return SECRET_SUFFIX.test(arn) ? [arn, arn.replace(SECRET_SUFFIX, "-??????")] : [arn];
}

function serviceSpec(m: Manifest, service: string) {
  const spec = m.services.find((s) => s.name === service);
  if (!spec) throw new InvalidInputError(`service '${service}' is not in the fleet manifest`, "service");
  return spec;
}

/**
 * The envelope of `service` in manifest `m` at `aws` (E1–E6).
 * Throws InvalidInputError for a service not in the manifest.
 */
export function envelopeFor(m: Manifest, service: string, aws: AwsScope): Envelope {
  const spec = serviceSpec(m, service);
  // E7: a path under the namespace is the service's identity; the region and account are where it lives.
  const arn = (svc: string) => `arn:${aws.partition}:${svc}:*:*`;
  const own = `${m.namespace}/${service}`;
  const repos = spec.ecrRepositories ?? [`${m.ecrRepositoryPrefix}*`];
  const keys = spec.configKeys ?? ["*"];
  const grants: EnvelopeGrant[] = [
    { why: "seed: own parameters", actions: ["ssm:GetParameter*"], resources: [`${arn("ssm")}:parameter/${own}/*`] },
    {
      why: "seed: by-path read of its own path",
      actions: ["ssm:GetParametersByPath"],
      resources: [`${arn("ssm")}:parameter/${own}`],
    },
    { why: "seed: DescribeParameters (takes only *)", actions: ["ssm:DescribeParameters"], resources: ["*"] },
    {
      why: "seed: own secrets",
      actions: ["secretsmanager:GetSecretValue"],
      resources: [`${arn("secretsmanager")}:secret:${own}/*`],
    },
    { why: "seed: ECR login (takes only *)", actions: ["ecr:GetAuthorizationToken"], resources: ["*"] },
    {
      why: spec.ecrRepositories ? "manifest: ecrRepositories" : "seed: image pulls",
      actions: ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
      resources: repos.map((r) => `${arn("ecr")}:repository/${r}`),
    },
    {
      why: spec.configKeys ? "manifest: configKeys" : "seed: config bucket",
      actions: ["s3:GetObject"],
      resources: keys.map((k) => `arn:${aws.partition}:s3:::${m.configBucket}/${k}`),
    },
  ];
  for (const s of m.sharedSecrets)
    if (s.consumers.includes(service))
      grants.push({
        why: `sharedSecrets ${s.bootstrapVar}`,
        actions: ["secretsmanager:GetSecretValue"],
        resources: secretArnPatterns(s.arn),
      });
  for (const [i, g] of spec.extraGrants.entries())
    grants.push({ why: `extraGrants[${i}]`, actions: [...g.actions], resources: [...g.resources] });
  for (const [i, g] of m.platformGrants.entries())
    grants.push({ why: `platformGrants[${i}]`, actions: [...g.actions], resources: [...g.resources] });
  return { subject: `service ${service}`, aws, grants };
}

/**
 * AmazonECSTaskExecutionRolePolicy, current version (AWS Managed Policy Reference; ECS developer guide, "Amazon ECS
 * task execution IAM role"): pull images from ECR, write container logs with the awslogs driver; all on `*`.
 */
export const ECS_TASK_EXECUTION_POLICY_ACTIONS = [
  "ecr:GetAuthorizationToken",
  "ecr:BatchCheckLayerAvailability",
  "ecr:GetDownloadUrlForLayer",
  "ecr:BatchGetImage",
  "logs:CreateLogStream",
  "logs:PutLogEvents",
];

/** What a service's task definitions reference in `secrets[].valueFrom`, as ARNs (domain/ecs-iam.ts resolves them). */
export interface ExecutionReferences {
  secrets: string[];
  parameters: string[];
}

/**
 * The envelope of the ECS task execution role of `service` (X1): what ECS needs to start its tasks, given the
 * secrets (`ssm:GetParameters` for Parameter Store references, `secretsmanager:GetSecretValue` for secrets) its task
 * definitions reference. Throws InvalidInputError for a service not in the manifest.
 */
export function executionEnvelopeFor(m: Manifest, service: string, aws: AwsScope, refs: ExecutionReferences): Envelope {
  const keys = serviceSpec(m, service)
    .extraGrants.filter((g) => g.actions.includes("kms:Decrypt"))
    .flatMap((g) => g.resources);
  const grant = (why: string, actions: string[], resources: string[]): EnvelopeGrant[] =>
    resources.length > 0 ? [{ why, actions, resources }] : [];
  return {
    subject: `ECS task execution role of ${service}`,
    aws,
    grants: [
      ...grant("AWS managed AmazonECSTaskExecutionRolePolicy", ECS_TASK_EXECUTION_POLICY_ACTIONS, ["*"]),
      ...grant("task definition secrets", ["secretsmanager:GetSecretValue"], refs.secrets.flatMap(secretArnPatterns)),
      ...grant("task definition parameters", ["ssm:GetParameters"], refs.parameters),
      ...grant("extraGrants kms:Decrypt", ["kms:Decrypt"], keys),
    ],
  };
}
