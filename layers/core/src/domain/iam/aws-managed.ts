// Documents of AWS-managed policies that fleet roles commonly carry (test fixtures and demo seeding).
// Source: AWS Managed Policy Reference, "AmazonSSMManagedInstanceCore", policy version v2 (default).
import type { NamedPolicy } from "../../ports/index.ts";
import { ECS_TASK_EXECUTION_POLICY_ACTIONS } from "./envelope.ts";
import { asArray, type PolicyDocument, statements } from "./policy.ts";

export const AMAZON_SSM_MANAGED_INSTANCE_CORE_ARN = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore";

/** Note the first statement: ssm:GetParameter / ssm:GetParameters on "*" — every parameter of the account. */
export const AMAZON_SSM_MANAGED_INSTANCE_CORE_DOCUMENT: PolicyDocument = {
  Version: "2012-10-17",
  Statement: [
    {
      Effect: "Allow",
      Action: [
        "ssm:DescribeAssociation",
        "ssm:GetDeployablePatchSnapshotForInstance",
        "ssm:GetDocument",
        "ssm:DescribeDocument",
        "ssm:GetManifest",
        "ssm:GetParameter",
        "ssm:GetParameters",
        "ssm:ListAssociations",
        "ssm:ListInstanceAssociations",
        "ssm:PutInventory",
        "ssm:PutComplianceItems",
        "ssm:PutConfigurePackageResult",
        "ssm:UpdateAssociationStatus",
        "ssm:UpdateInstanceAssociationStatus",
        "ssm:UpdateInstanceInformation",
      ],
      Resource: "*",
    },
    {
      Effect: "Allow",
      Action: [
        "ssmmessages:CreateControlChannel",
        "ssmmessages:CreateDataChannel",
        "ssmmessages:OpenControlChannel",
        "ssmmessages:OpenDataChannel",
      ],
      Resource: "*",
    },
    {
      Effect: "Allow",
      Action: [
        "ec2messages:AcknowledgeMessage",
        "ec2messages:DeleteMessage",
        "ec2messages:FailMessage",
        "ec2messages:GetEndpoint",
        "ec2messages:GetMessages",
        "ec2messages:SendReply",
      ],
      Resource: "*",
    },
  ],
};

/** The policy as attached to a role; pass the partition for aws-cn / aws-us-gov. */
export function amazonSsmManagedInstanceCore(partition = "aws"): NamedPolicy {
  return {
    name: "AmazonSSMManagedInstanceCore",
    arn: `arn:${partition}:iam::aws:policy/AmazonSSMManagedInstanceCore`,
    source: "aws-managed",
    document: AMAZON_SSM_MANAGED_INSTANCE_CORE_DOCUMENT,
  };
}

/**
 * What the SSM agent needs on every host (the manifest's default `platformGrants`): the statements of
 * AmazonSSMManagedInstanceCore without `ssm:GetParameter` / `ssm:GetParameters` on `*`, which read every parameter
 * of the account (the host reads its own parameters through its service's grants).
 */
export const DEFAULT_PLATFORM_GRANTS: { actions: string[]; resources: string[] }[] = statements(
  AMAZON_SSM_MANAGED_INSTANCE_CORE_DOCUMENT,
).map((s) => ({
  actions: asArray(s.Action).filter((a) => a !== "ssm:GetParameter" && a !== "ssm:GetParameters"),
  resources: asArray(s.Resource),
}));

/**
 * AmazonECSTaskExecutionRolePolicy as attached to an ECS task execution role (its one statement: the actions of
 * envelope.ts ECS_TASK_EXECUTION_POLICY_ACTIONS on `*`).
 */
export function amazonEcsTaskExecutionRolePolicy(partition = "aws"): NamedPolicy {
  return {
    name: "AmazonECSTaskExecutionRolePolicy",
    arn: `arn:${partition}:iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy`,
    source: "aws-managed",
    document: {
      Version: "2012-10-17",
      Statement: [{ Effect: "Allow", Action: [...ECS_TASK_EXECUTION_POLICY_ACTIONS], Resource: "*" }],
    },
  };
}
