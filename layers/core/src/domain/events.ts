// Event shapes the control plane accepts, built on an EventBridge envelope schema.
// zod/mini and a local envelope (the same fields as Powertools' parser EventBridgeSchema): Powertools' schema pulls
// classic zod's whole namespace object, all locales included, into every bundle (+350 KB, measured).
import * as z from "zod/mini";
import "./zod-messages.ts";

const bounded = (max: number) => z.string().check(z.maxLength(max));

/** The EventBridge envelope (as @aws-lambda-powertools/parser/schemas/eventbridge defines it). */
const envelope = {
  version: z.string(),
  id: z.string(),
  source: z.string(),
  account: z.string(),
  time: z.iso.datetime(),
  region: z.string(),
  resources: z.array(z.string()),
  "detail-type": z.string(),
  detail: z.unknown(),
  "replay-name": z.optional(z.string()),
};

/** Identifiers are bounded: a 100 KB "instance id" is an attack, not an instance. */
const INSTANCE_ID = /^i-[0-9a-f]{8,17}$/;
const COMMAND_ID = /^[0-9a-f-]{36}$/;

export const Ec2StateChangeEvent = z.object({
  ...envelope,
  source: z.literal("aws.ec2"),
  "detail-type": z.literal("EC2 Instance State-change Notification"),
  detail: z.object({
    "instance-id": z.string().check(z.regex(INSTANCE_ID, "an EC2 instance id (i-…)")),
    state: z.enum(["pending", "running", "stopping", "stopped", "shutting-down", "terminated"]),
  }),
});
export type Ec2StateChangeEvent = z.infer<typeof Ec2StateChangeEvent>;

/** A secret name or ARN: Secrets Manager ids are at most 2048 characters, never with control characters. */
export const SECRET_ID = z
  .string()
  .check(z.minLength(1), z.maxLength(2048), z.regex(/^[^\p{Cc}]+$/u, "a secret id without control characters"));

/**
 * A version id or ClientRequestToken: 32–64 characters (SDKs send a UUID), never whitespace, control characters or
 * shell metacharacters. An event carrying anything else was not written by Secrets Manager.
 */
export const VERSION_ID = z
  .string()
  .check(
    z.minLength(32),
    z.maxLength(64),
    z.regex(/^[^\s\p{Cc}`;$|&<>(){}\\'"*?!#~]+$/u, "a version id without whitespace, control or shell characters"),
  );

/** Secrets Manager events: the native label event and the CloudTrail-delivered ones. */
export const SecretEvent = z.object({
  ...envelope,
  source: z.literal("aws.secretsmanager"),
  "detail-type": z.enum(["Secret Label Updated", "AWS Service Event via CloudTrail", "AWS API Call via CloudTrail"]),
  detail: z.record(z.string(), z.unknown()),
});
export type SecretEvent = z.infer<typeof SecretEvent>;

export const LabelUpdatedDetail = z.object({
  name: z.optional(SECRET_ID),
  labelUpdated: bounded(256),
  versionId: z.optional(VERSION_ID),
});

export const ServiceEventDetail = z.object({
  eventSource: z.literal("secretsmanager.amazonaws.com"),
  eventName: bounded(128),
  additionalEventData: z.nullish(z.object({ SecretId: z.optional(SECRET_ID) })),
});

export const ApiCallDetail = z.object({
  eventSource: z.literal("secretsmanager.amazonaws.com"),
  eventName: bounded(128),
  errorCode: z.optional(z.string()),
  requestParameters: z.nullish(
    z.looseObject({
      secretId: z.optional(SECRET_ID),
      versionStages: z.optional(z.array(bounded(256)).check(z.maxLength(20))),
      versionStage: z.optional(bounded(256)),
      moveToVersionId: z.optional(VERSION_ID),
      removeFromVersionId: z.optional(VERSION_ID),
      clientRequestToken: z.optional(VERSION_ID),
    }),
  ),
  responseElements: z.nullish(z.looseObject({ versionId: z.optional(VERSION_ID), arn: z.optional(SECRET_ID) })),
});

export const SsmStatusEvent = z.object({
  ...envelope,
  source: z.literal("aws.ssm"),
  "detail-type": z.enum([
    "EC2 Command Status-change Notification",
    "EC2 Command Invocation Status-change Notification",
  ]),
  detail: z.object({
    "command-id": z.string().check(z.regex(COMMAND_ID, "an SSM command id")),
    "document-name": bounded(128),
    "instance-id": z.optional(z.string().check(z.regex(INSTANCE_ID))),
    status: bounded(32),
  }),
});
export type SsmStatusEvent = z.infer<typeof SsmStatusEvent>;

/** An ECS service ARN (long format, `service/<cluster>/<name>`, or the old `service/<name>`). */
export const ECS_SERVICE_ARN =
  /^arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:service\/[A-Za-z0-9_-]{1,255}(\/[A-Za-z0-9_-]{1,255})?$/;

/** `ECS Deployment State Change` (ECS developer guide, "Amazon ECS service deployment state change events"). */
export const EcsDeploymentEvent = z.object({
  ...envelope,
  source: z.literal("aws.ecs"),
  "detail-type": z.literal("ECS Deployment State Change"),
  resources: z
    .array(z.string().check(z.regex(ECS_SERVICE_ARN, "an ECS service ARN")))
    .check(z.minLength(1), z.maxLength(1)),
  detail: z.object({
    eventType: z.optional(z.enum(["INFO", "ERROR"])),
    eventName: z.enum(["SERVICE_DEPLOYMENT_IN_PROGRESS", "SERVICE_DEPLOYMENT_COMPLETED", "SERVICE_DEPLOYMENT_FAILED"]),
    deploymentId: z.string().check(z.regex(/^ecs-svc\/[0-9A-Za-z]{1,64}$/, "an ECS deployment id (ecs-svc/…)")),
    updatedAt: z.optional(bounded(64)),
    reason: z.optional(bounded(2048)),
  }),
});
export type EcsDeploymentEvent = z.infer<typeof EcsDeploymentEvent>;

/** The schedule's constant input (and what the CLI sends). */
export const AuditRequest = z.object({
  source: z.optional(z.literal("dcp.schedule")),
  action: z._default(z.literal("audit"), "audit"),
  remediation: z.optional(z.enum(["none", "imds", "imds+restart"])),
  dryRun: z.optional(z.boolean()),
});

/** The reconciler schedule's constant input (and what `dcp rollout reconcile` would send). */
export const ReconcileRequest = z.object({
  source: z.optional(z.literal("dcp.schedule")),
  action: z._default(z.literal("reconcile"), "reconcile"),
  dryRun: z.optional(z.boolean()),
  /** A one-time wake-up names the held rollout it is for (EventBridge Scheduler, adapters/wakeups.ts). */
  rolloutId: z.optional(z.string().check(z.regex(/^ro-[0-9a-f]{16}$/, "a rollout id (ro- and 16 hex digits)"))),
});

/** One line per problem, for results and logs: never the input's values beyond the path. */
export function describeIssues(error: { issues: readonly z.core.$ZodIssue[] }): string {
  return error.issues
    .slice(0, 5)
    .map((i) => `${i.path.length ? i.path.join(".") : "(event)"}: ${i.message}`)
    .join("; ");
}

const SHOWN_MAX = 64;

/**
 * An event's value as it may appear in a reason (returned, logged, counted): a plain identifier as is; anything
 * else quoted, cut to 64 characters, with control, bidi and other non-ASCII characters escaped. A 100 KB or
 * newline-laden "region" must not become a 100 KB or forged log line.
 */
export function shown(value: string): string {
  if (/^[A-Za-z0-9_.:-]{1,64}$/.test(value)) return value;
  const cut = value.length > SHOWN_MAX ? `${value.slice(0, SHOWN_MAX)}…(${value.length} chars)` : value;
  const escaped = cut.replace(/[^\x20-\x7e…]/gu, (c) => `\\u{${(c.codePointAt(0) ?? 0).toString(16)}}`);
  return `"${escaped}"`;
}
