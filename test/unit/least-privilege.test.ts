// Least privilege, proven: the template is transformed with the SAM translator, each function's policies are
// extracted, and the project's own IAM evaluator checks them against what the function's adapters declare.
import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { actionsFor, FUNCTION_USES, PERMISSIONS } from "#core/adapters/permissions";
import { evaluate } from "#core/domain/iam/evaluator";
import { decodePolicyDocument } from "#core/domain/iam/policy";
import type { NamedPolicy } from "#core/ports/index";
import { OWN_DECLARATIONS, PORT_OF } from "#core/shell/ports-for";
import { type CfnTemplate, type ResolveContext, resolveParameters, resolveValue } from "../../scripts/lib/template.ts";

const NS = "voiceai/prod";
const ACCOUNT = "123456789012";
const REGION = "eu-central-1";
const arn = (svc: string, res: string) => `arn:aws:${svc}:${REGION}:${ACCOUNT}:${res}`;

const transformed = JSON.parse(
  execFileSync("python3", ["scripts/sam-transform.py", "template.yaml"], { encoding: "utf8" }),
) as CfnTemplate;
const ctx: ResolveContext = {
  template: transformed,
  parameters: resolveParameters(transformed, { Namespace: NS }),
  pseudo: {
    "AWS::Partition": "aws",
    "AWS::Region": REGION,
    "AWS::AccountId": ACCOUNT,
    "AWS::StackName": "dcp",
    "AWS::URLSuffix": "amazonaws.com",
  },
};

// AWS-managed policies SAM attaches (documents from the AWS managed policy reference).
const MANAGED: Record<string, NamedPolicy> = {
  "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole": {
    name: "AWSLambdaBasicExecutionRole",
    source: "aws-managed",
    document: {
      Version: "2012-10-17",
      Statement: [
        {
          Effect: "Allow",
          Action: ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
          Resource: "*",
        },
      ],
    },
  },
  "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess": {
    name: "AWSXrayWriteOnlyAccess",
    source: "aws-managed",
    document: {
      Version: "2012-10-17",
      Statement: [
        {
          Effect: "Allow",
          Action: [
            "xray:PutTraceSegments",
            "xray:PutTelemetryRecords",
            "xray:GetSamplingRules",
            "xray:GetSamplingTargets",
            "xray:GetSamplingStatisticSummaries",
          ],
          Resource: "*",
        },
      ],
    },
  },
};

type Resource = { Type: string; Properties?: Record<string, unknown> };
const resources = transformed.Resources as Record<string, Resource>;

/** Every identity policy that applies to a function's role: inline, attached managed, and standalone AWS::IAM::Policy. */
function policiesOf(fn: string): NamedPolicy[] {
  const roleId = `${fn}Role`;
  const role = resources[roleId];
  if (!role) throw new Error(`no role ${roleId}`);
  const out: NamedPolicy[] = [];
  for (const p of (role.Properties?.["Policies"] as { PolicyName: string; PolicyDocument: unknown }[]) ?? [])
    out.push({
      name: p.PolicyName,
      source: "inline",
      document: decodePolicyDocument(resolveValue(p.PolicyDocument, ctx) as object),
    });
  for (const m of (resolveValue(role.Properties?.["ManagedPolicyArns"], ctx) as string[]) ?? []) {
    const known = MANAGED[m];
    if (!known) throw new Error(`unexpected managed policy ${m} on ${roleId}: add its document here to evaluate it`);
    out.push(known);
  }
  for (const [id, r] of Object.entries(resources)) {
    if (r.Type !== "AWS::IAM::Policy") continue;
    const roles = ((r.Properties?.["Roles"] as unknown[] | undefined) ?? []).map((x) => JSON.stringify(x));
    if (!roles.includes(JSON.stringify({ Ref: roleId }))) continue;
    const doc = resolveValue(r.Properties?.["PolicyDocument"], ctx);
    out.push({ name: id, source: "inline", document: decodePolicyDocument(doc as string | object) });
  }
  return out;
}

const TABLE = { Idempotency: "IdempotencyTable.Arn", Rollout: "RolloutTable.Arn" };
const DOC = arn("ssm", "document/RestartServiceDocument");
const INSTANCE = arn("ec2", "instance/i-0123456789abcdef0");
const HOST_CHECK_DOC = arn("ssm", "document/HostCredentialCheckDocument");
const LAUNCH_TEMPLATE = arn("ec2", "launch-template/lt-0123456789abcdef0");
const nsTag = (key: string, value = NS) => ({ [`${key}/Namespace`]: value });
const ECS_SERVICE = arn("ecs", "service/voiceai-prod/voice");

/** A representative request for each action a function declares. */
function requestsFor(action: string, fn: string): { resource: string; context?: Record<string, string> }[] {
  switch (action) {
    case "ec2:ModifyInstanceMetadataOptions":
    case "ec2:CreateTags":
      return [{ resource: INSTANCE, context: nsTag("aws:ResourceTag") }];
    case "ssm:SendCommand": {
      const uses = FUNCTION_USES[fn as keyof typeof FUNCTION_USES] as readonly string[];
      return [
        { resource: DOC },
        { resource: INSTANCE, context: nsTag("ssm:resourceTag") },
        ...(uses.includes("HostChecks.send") ? [{ resource: HOST_CHECK_DOC }] : []),
      ];
    }
    case "ec2:CreateLaunchTemplateVersion":
    case "ec2:ModifyLaunchTemplate":
      return [{ resource: LAUNCH_TEMPLATE, context: nsTag("aws:ResourceTag") }];
    case "ecs:UpdateService":
      return [{ resource: ECS_SERVICE, context: nsTag("aws:ResourceTag") }];
    case "ecs:TagResource":
      return [
        { resource: ECS_SERVICE, context: { ...nsTag("aws:ResourceTag"), "aws:TagKeys": "dcp:sv:0123456789abcdef" } },
      ];
    case "ecs:DescribeServices":
      return [{ resource: ECS_SERVICE }];
    case "ssm:GetParameter": {
      const uses = FUNCTION_USES[fn as keyof typeof FUNCTION_USES] as readonly string[];
      return [
        { resource: arn("ssm", `parameter/${NS}/control-plane/manifest`) },
        ...(uses.includes("AuditState.read")
          ? [{ resource: arn("ssm", `parameter/${NS}/control-plane/audit/summary`) }]
          : []),
      ];
    }
    case "ssm:PutParameter":
      return [{ resource: arn("ssm", `parameter/${NS}/control-plane/audit/summary`) }];
    case "scheduler:CreateSchedule": // a held rollout's one-time wake-up, in the stack's wake-up group only
      return [{ resource: arn("scheduler", "schedule/RolloutWakeupGroup/ro-0123456789abcdef-1764500000") }];
    case "iam:PassRole": // only the wake-up role, only to EventBridge Scheduler
      return [{ resource: "RolloutWakeupRole.Arn", context: { "iam:PassedToService": "scheduler.amazonaws.com" } }];
    case "secretsmanager:DescribeSecret":
      return [{ resource: arn("secretsmanager", `secret:${NS}/api/secrets-AbCdEf`) }];
    case "cloudtrail:GetTrailStatus":
    case "cloudtrail:GetEventSelectors": // this region's trail, a multi-region shadow, an organization trail
      return [
        { resource: arn("cloudtrail", "trail/management") },
        { resource: "arn:aws:cloudtrail:us-east-1:999999999999:trail/org-trail" },
      ];
    case "iam:GetInstanceProfile":
      return [{ resource: `arn:aws:iam::${ACCOUNT}:instance-profile/dcp-api` }];
    case "iam:GetRole":
    case "iam:ListRolePolicies":
    case "iam:GetRolePolicy":
    case "iam:ListAttachedRolePolicies":
      return [{ resource: `arn:aws:iam::${ACCOUNT}:role/dcp-api` }];
    case "iam:GetPolicy":
    case "iam:GetPolicyVersion":
      return [
        { resource: `arn:aws:iam::${ACCOUNT}:policy/dcp-api-extra` },
        { resource: "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore" },
      ];
    default:
      if (action.startsWith("dynamodb:")) {
        const uses = FUNCTION_USES[fn as keyof typeof FUNCTION_USES] as readonly string[];
        const tables: string[] = [];
        if (uses.includes("Idempotency")) tables.push(TABLE.Idempotency);
        if (uses.includes("RolloutStore.*")) tables.push(TABLE.Rollout);
        return tables
          .filter((t) =>
            (t === TABLE.Rollout ? PERMISSIONS["RolloutStore.*"] : PERMISSIONS.Idempotency).some((a) => a === action),
          )
          .map((resource) => ({ resource }));
      }
      return [{ resource: "*" }];
  }
}

const FUNCTIONS = Object.keys(FUNCTION_USES) as (keyof typeof FUNCTION_USES)[];

describe.each(FUNCTIONS)("%s", (fn) => {
  const policies = policiesOf(fn);
  const decide = (action: string, resource: string, context?: Record<string, string>) =>
    evaluate({ action, resource, ...(context ? { context, contextComplete: true } : {}) }, policies).decision;

  it("is allowed every call its adapters declare", () => {
    const denied: string[] = [];
    for (const action of actionsFor(FUNCTION_USES[fn]))
      for (const r of requestsFor(action, fn))
        if (decide(action, r.resource, r.context) !== "allow") denied.push(`${action} on ${r.resource}`);
    expect(denied).toEqual([]);
  });

  it("can never read a secret value", () => {
    for (const s of [`secret:${NS}/api/secrets-AbCdEf`, "secret:rds!cluster-1234-AbCdEf", "secret:anything"])
      expect(decide("secretsmanager:GetSecretValue", arn("secretsmanager", s))).not.toBe("allow");
  });

  it("cannot send any other document, nor to instances outside the namespace", () => {
    expect(decide("ssm:SendCommand", arn("ssm", "document/AWS-RunShellScript"))).not.toBe("allow");
    expect(decide("ssm:SendCommand", "arn:aws:ssm:eu-central-1::document/AWS-RunShellScript")).not.toBe("allow");
    expect(decide("ssm:SendCommand", INSTANCE, nsTag("ssm:resourceTag", "voiceai/other"))).not.toBe("allow");
    expect(decide("ssm:SendCommand", INSTANCE, {})).not.toBe("allow");
  });

  it("writes instance metadata and tags only on instances carrying the namespace tag", () => {
    for (const action of ["ec2:ModifyInstanceMetadataOptions", "ec2:CreateTags"]) {
      expect(decide(action, INSTANCE, nsTag("aws:ResourceTag", "voiceai/other"))).not.toBe("allow");
      expect(decide(action, INSTANCE, {})).not.toBe("allow");
      expect(decide(action, arn("ec2", "volume/vol-0123"), nsTag("aws:ResourceTag"))).not.toBe("allow");
    }
  });

  it("writes launch templates only when they carry the namespace tag", () => {
    for (const action of ["ec2:CreateLaunchTemplateVersion", "ec2:ModifyLaunchTemplate", "ec2:DeleteLaunchTemplate"]) {
      expect(decide(action, LAUNCH_TEMPLATE, nsTag("aws:ResourceTag", "voiceai/other"))).not.toBe("allow");
      expect(decide(action, LAUNCH_TEMPLATE, {})).not.toBe("allow");
    }
  });

  it("deploys and tags only ECS services carrying the namespace tag, and only dcp:* tags", () => {
    for (const action of ["ecs:UpdateService", "ecs:TagResource"]) {
      expect(decide(action, ECS_SERVICE, nsTag("aws:ResourceTag", "voiceai/other"))).not.toBe("allow");
      expect(decide(action, ECS_SERVICE, {})).not.toBe("allow");
    }
    const foreignTag = { ...nsTag("aws:ResourceTag"), "aws:TagKeys": "Namespace" };
    expect(decide("ecs:TagResource", ECS_SERVICE, foreignTag)).not.toBe("allow");
  });

  it("holds nothing of consequence beyond its declared calls", () => {
    const declared = new Set<string>(actionsFor(FUNCTION_USES[fn]));
    const probes: [string, string, Record<string, string>?][] = [
      ["ec2:TerminateInstances", INSTANCE, nsTag("aws:ResourceTag")],
      ["ec2:StopInstances", INSTANCE, nsTag("aws:ResourceTag")],
      ["ec2:ModifyInstanceMetadataOptions", INSTANCE, nsTag("aws:ResourceTag")],
      ["ec2:CreateTags", INSTANCE, nsTag("aws:ResourceTag")],
      ["ec2:DeleteTags", INSTANCE, nsTag("aws:ResourceTag")],
      ["ec2:CreateLaunchTemplateVersion", LAUNCH_TEMPLATE, nsTag("aws:ResourceTag")],
      ["ec2:ModifyLaunchTemplate", LAUNCH_TEMPLATE, nsTag("aws:ResourceTag")],
      ["ec2:DeleteLaunchTemplate", LAUNCH_TEMPLATE, nsTag("aws:ResourceTag")],
      ["ec2:ModifyInstanceMetadataDefaults", "*"],
      ["ssm:SendCommand", HOST_CHECK_DOC],
      ["cloudwatch:GetMetricData", "*"],
      ["iam:PutRolePolicy", `arn:aws:iam::${ACCOUNT}:role/dcp-api`],
      ["iam:AttachRolePolicy", `arn:aws:iam::${ACCOUNT}:role/dcp-api`],
      ["iam:PassRole", `arn:aws:iam::${ACCOUNT}:role/dcp-api`],
      ["scheduler:CreateSchedule", arn("scheduler", "schedule/default/anything")],
      ["ssm:PutParameter", arn("ssm", `parameter/${NS}/control-plane/manifest`)],
      ["ssm:GetParameter", arn("ssm", `parameter/${NS}/api/DATABASE_HOST`)],
      ["ssm:SendCommand", DOC],
      ["secretsmanager:PutSecretValue", arn("secretsmanager", `secret:${NS}/api/secrets-AbCdEf`)],
      ["secretsmanager:DescribeSecret", arn("secretsmanager", `secret:${NS}/api/secrets-AbCdEf`)],
      ["dynamodb:DeleteTable", TABLE.Rollout],
      ["dynamodb:Scan", TABLE.Rollout],
      ["kms:Decrypt", arn("kms", "key/1234")],
      ["lambda:InvokeFunction", arn("lambda", "function:x")],
      ["ecs:UpdateService", ECS_SERVICE, nsTag("aws:ResourceTag")],
      ["ecs:TagResource", ECS_SERVICE, nsTag("aws:ResourceTag")],
      ["ecs:DeleteService", ECS_SERVICE, nsTag("aws:ResourceTag")],
      ["ecs:RunTask", arn("ecs", "task-definition/voice:1")],
      ["ecs:RegisterTaskDefinition", "*"],
      ["ecs:ExecuteCommand", arn("ecs", "task/voiceai-prod/abc")],
    ];
    const excess = probes
      .filter(([action]) => !declared.has(action))
      .filter(([action, resource, context]) => decide(action, resource, context) === "allow")
      .map(([a, r]) => `${a} on ${r}`);
    expect(excess).toEqual([]);
  });
});

describe("ports-for OWN_DECLARATIONS", () => {
  it("lists exactly the methods declared on their own under a port that some declaration grants with `*`", () => {
    const split = (k: string) => {
      const [prefix = "", method] = k.split(".");
      return { port: PORT_OF[prefix], method: method ?? "*" };
    };
    const starPorts = new Set(
      Object.keys(PERMISSIONS)
        .map(split)
        .filter((d) => d.method === "*")
        .map((d) => d.port),
    );
    const own = Object.keys(PERMISSIONS)
      .map(split)
      .filter((d) => d.method !== "*" && starPorts.has(d.port))
      .map((d) => `${d.port}.${d.method}`);
    expect([...OWN_DECLARATIONS].sort()).toEqual([...new Set(own)].sort());
  });
});
