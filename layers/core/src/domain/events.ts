// Event shapes the control plane accepts, built on an EventBridge envelope schema.
// Namespace import and a local envelope (the same fields as Powertools' parser EventBridgeSchema): `import { z }`
// (ours or Powertools') keeps zod's whole namespace object, all locales included, in every bundle (+350 KB).
import * as z from "zod";

/** The EventBridge envelope (as @aws-lambda-powertools/parser/schemas/eventbridge defines it). */
const EventBridgeSchema = z.object({
  version: z.string(),
  id: z.string(),
  source: z.string(),
  account: z.string(),
  time: z.iso.datetime(),
  region: z.string(),
  resources: z.array(z.string()),
  "detail-type": z.string(),
  detail: z.unknown(),
  "replay-name": z.string().optional(),
});

/** Identifiers are bounded: a 100 KB "instance id" is an attack, not an instance. */
const INSTANCE_ID = /^i-[0-9a-f]{8,17}$/;
const COMMAND_ID = /^[0-9a-f-]{36}$/;

export const Ec2StateChangeEvent = EventBridgeSchema.extend({
  source: z.literal("aws.ec2"),
  "detail-type": z.literal("EC2 Instance State-change Notification"),
  detail: z.object({
    "instance-id": z.string().regex(INSTANCE_ID, "an EC2 instance id (i-…)"),
    state: z.enum(["pending", "running", "stopping", "stopped", "shutting-down", "terminated"]),
  }),
});
export type Ec2StateChangeEvent = z.infer<typeof Ec2StateChangeEvent>;

/** A secret name or ARN: Secrets Manager ids are at most 2048 characters. */
export const SECRET_ID = z.string().min(1).max(2048);
const VERSION_ID = z.string().min(32).max(64);

/** Secrets Manager events: the native label event and the CloudTrail-delivered ones. */
export const SecretEvent = EventBridgeSchema.extend({
  source: z.literal("aws.secretsmanager"),
  "detail-type": z.enum(["Secret Label Updated", "AWS Service Event via CloudTrail", "AWS API Call via CloudTrail"]),
  detail: z.record(z.string(), z.unknown()),
});
export type SecretEvent = z.infer<typeof SecretEvent>;

export const LabelUpdatedDetail = z.object({
  name: SECRET_ID.optional(),
  labelUpdated: z.string().max(256),
  versionId: VERSION_ID.optional(),
});

export const ServiceEventDetail = z.object({
  eventSource: z.literal("secretsmanager.amazonaws.com"),
  eventName: z.string().max(128),
  additionalEventData: z.object({ SecretId: SECRET_ID }).partial().nullish(),
});

export const ApiCallDetail = z.object({
  eventSource: z.literal("secretsmanager.amazonaws.com"),
  eventName: z.string().max(128),
  errorCode: z.string().optional(),
  requestParameters: z
    .object({
      secretId: SECRET_ID.optional(),
      versionStages: z.array(z.string().max(256)).max(20).optional(),
      versionStage: z.string().max(256).optional(),
      moveToVersionId: VERSION_ID.optional(),
      removeFromVersionId: VERSION_ID.optional(),
    })
    .passthrough()
    .nullish(),
  responseElements: z.object({ versionId: VERSION_ID.optional(), arn: SECRET_ID.optional() }).passthrough().nullish(),
});

export const SsmStatusEvent = EventBridgeSchema.extend({
  source: z.literal("aws.ssm"),
  "detail-type": z.enum([
    "EC2 Command Status-change Notification",
    "EC2 Command Invocation Status-change Notification",
  ]),
  detail: z.object({
    "command-id": z.string().regex(COMMAND_ID, "an SSM command id"),
    "document-name": z.string().max(128),
    "instance-id": z.string().regex(INSTANCE_ID).optional(),
    status: z.string().max(32),
  }),
});
export type SsmStatusEvent = z.infer<typeof SsmStatusEvent>;

/** The schedule's constant input (and what the CLI sends). */
export const AuditRequest = z.object({
  source: z.literal("dcp.schedule").optional(),
  action: z.literal("audit").default("audit"),
  remediation: z.enum(["none", "imds", "imds+restart"]).optional(),
  dryRun: z.boolean().optional(),
});

/** One line per problem, for results and logs: never the input's values beyond the path. */
export function describeIssues(error: z.ZodError): string {
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
