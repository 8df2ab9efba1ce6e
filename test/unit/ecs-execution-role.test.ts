// ECS task execution roles have their own envelope (envelope.ts X1): the AWS-managed execution policy plus exactly the
// secrets and parameters their service's task definitions reference; task roles and host roles keep the host envelope.
import { describe, expect, it } from "vitest";
import type { EcsService } from "#core/domain/ecs";
import { ecsRoleFindings, executionReferences } from "#core/domain/ecs-iam";
import { amazonEcsTaskExecutionRolePolicy } from "#core/domain/iam/aws-managed";
import type { PolicyStatement } from "#core/domain/iam/policy";
import { evaluateScope } from "#core/domain/iam/scope";
import type { AwsScope } from "#core/domain/model";
import type { NamedPolicy, RolePolicies, SecretDescription } from "#core/ports/index";
import { testManifest } from "../support/fixtures.ts";

const ACCT = "123456789012";
const REGION = "eu-central-1";
const aws: AwsScope = { partition: "aws", region: REGION, account: ACCT };
const smArn = (name: string) => `arn:aws:secretsmanager:${REGION}:${ACCT}:secret:${name}`;
const VOICE_SECRET = smArn("voiceai/prod/voice/secrets-AbCdEf");
const API_SECRET = smArn("voiceai/prod/api/secrets-Zx9Yw8");
const DAILY_KEY = smArn("pipecat/daily-api-key-Q1w2E3");
const KEY = `arn:aws:kms:${REGION}:${ACCT}:key/0000-1111`;
const SERVICE_ARN = `arn:aws:ecs:${REGION}:${ACCT}:service/voiceai-prod/pipecat-voice`;

const m = testManifest({
  services: [
    { name: "api", wave: 1 },
    { name: "voice", wave: 2, extraGrants: [{ actions: ["kms:Decrypt"], resources: [KEY] }] },
  ],
});

const described = new Map<string, SecretDescription | undefined>([
  [VOICE_SECRET, { arn: VOICE_SECRET, name: "voiceai/prod/voice/secrets" }],
  ["pipecat/daily-api-key", { arn: DAILY_KEY, name: "pipecat/daily-api-key" }],
]);

/** The voice service's task definition: its bundle (ARN + JSON key), a secret by name, a plain parameter. */
const voice: Pick<EcsService, "secretRefs"> = {
  secretRefs: [
    { container: "app", name: "TOKEN", valueFrom: `${VOICE_SECRET}:TOKEN::` },
    { container: "app", name: "DAILY_API_KEY", valueFrom: "pipecat/daily-api-key" },
    { container: "app", name: "LOG_LEVEL", valueFrom: "/voiceai/prod/voice/LOG_LEVEL" },
  ],
};
const refs = executionReferences(voice, described, aws);

const inline = (...Statement: PolicyStatement[]): NamedPolicy => ({
  name: "task-secrets",
  source: "inline",
  document: { Version: "2012-10-17", Statement },
});
const role = (...policies: NamedPolicy[]): RolePolicies => ({
  roleName: "pipecat-exec",
  roleArn: `arn:aws:iam::${ACCT}:role/pipecat-exec`,
  policies,
});
/** What ECS needs to start the voice tasks: the managed policy and the references, nothing else. */
const needed = inline(
  { Sid: "Secrets", Effect: "Allow", Action: "secretsmanager:GetSecretValue", Resource: [VOICE_SECRET, DAILY_KEY] },
  {
    Sid: "Params",
    Effect: "Allow",
    Action: "ssm:GetParameters",
    Resource: `arn:aws:ssm:${REGION}:${ACCT}:parameter/voiceai/prod/voice/LOG_LEVEL`,
  },
  { Sid: "Key", Effect: "Allow", Action: "kms:Decrypt", Resource: KEY },
);
const asExecution = (r: RolePolicies) =>
  ecsRoleFindings(r, m, "voice", aws, SERVICE_ARN, { task: false, execution: refs });

describe("executionReferences", () => {
  it("resolves secrets by ARN and by name, and plain parameters to their ARNs", () => {
    expect(refs).toEqual({
      secrets: [VOICE_SECRET, DAILY_KEY],
      parameters: [`arn:aws:ssm:${REGION}:${ACCT}:parameter/voiceai/prod/voice/LOG_LEVEL`],
    });
  });

  it("a /aws/reference/secretsmanager/ parameter: ECS reads it through Parameter Store, so both grants", () => {
    const r = executionReferences(
      {
        secretRefs: [{ container: "app", name: "K", valueFrom: "/aws/reference/secretsmanager/pipecat/daily-api-key" }],
      },
      described,
      aws,
    );
    expect(r).toEqual({
      secrets: [DAILY_KEY],
      parameters: [`arn:aws:ssm:${REGION}:${ACCT}:parameter/aws/reference/secretsmanager/pipecat/daily-api-key`],
    });
  });
});

describe("ECS task execution role envelope", () => {
  it("the managed execution policy plus reading its own referenced secrets: ok", () => {
    expect(asExecution(role(amazonEcsTaskExecutionRolePolicy(), needed))).toEqual([]);
  });

  it("GetSecretValue on another service's secret: excess, naming the statement and the secret", () => {
    const f = asExecution(
      role(
        amazonEcsTaskExecutionRolePolicy(),
        needed,
        inline({ Sid: "ApiToo", Effect: "Allow", Action: "secretsmanager:GetSecretValue", Resource: API_SECRET }),
      ),
    );
    expect(f).toHaveLength(1);
    expect(f[0]).toMatchObject({
      kind: "iam-excess-grant",
      resource: SERVICE_ARN,
      evidence: { statement: "ApiToo", action: "secretsmanager:GetSecretValue", resource: API_SECRET },
    });
    expect(f[0]!.detail).toMatch(/ECS task execution role of voice/);
  });

  it("a parameter or key its task definition does not name: excess", () => {
    const f = asExecution(
      role(
        amazonEcsTaskExecutionRolePolicy(),
        inline(
          { Sid: "AllParams", Effect: "Allow", Action: "ssm:GetParameters", Resource: "*" },
          { Sid: "AnyKey", Effect: "Allow", Action: "kms:Decrypt", Resource: "*" },
        ),
      ),
    );
    expect(f.map((x) => x.evidence?.["statement"]).sort()).toEqual(["AllParams", "AnyKey"]);
  });

  it("the same managed policy on a TASK role (or a host role) is judged by the host envelope: excess", () => {
    const task = ecsRoleFindings(role(amazonEcsTaskExecutionRolePolicy()), m, "voice", aws, SERVICE_ARN, {
      task: true,
    });
    expect(new Set(task.map((x) => x.evidence?.["action"]))).toContain("logs:CreateLogStream");
    const host = evaluateScope(role(amazonEcsTaskExecutionRolePolicy()), m, "voice", aws);
    expect(host.verdict).toBe("violation");
    expect(host.findings.filter((x) => x.kind === "iam-excess-grant").map((x) => x.witness?.action)).toContain(
      "logs:CreateLogStream",
    );
  });

  it("a role that is both task and execution role: held to the union of both envelopes", () => {
    const both = ecsRoleFindings(role(amazonEcsTaskExecutionRolePolicy(), needed), m, "voice", aws, SERVICE_ARN, {
      task: true,
      execution: refs,
    });
    expect(both).toEqual([]);
  });
});
