import * as z from "zod/mini";
import {
  DEFAULT_TAG_KEYS,
  defaultManifestParam,
  NAMESPACE_PATTERN,
  TAG_KEY_PATTERN,
  type TagKeys,
} from "../domain/manifest.ts";
import { DEFAULT_TIMINGS, type RolloutTimings } from "../domain/rollout.ts";

const bool = z.pipe(
  z.optional(z.enum(["true", "false", ""])),
  z.transform((v) => v === "true"),
);

const seconds = z.pipe(
  z.string().check(z.regex(/^\d{1,6}$/, "a whole number of seconds")),
  z.transform((v) => Number(v)),
);

const tagKey = (fallback: string) => z._default(z.string().check(z.regex(TAG_KEY_PATTERN, "an EC2 tag key")), fallback);
const TagKeysEnv = z.object({
  DCP_NAMESPACE_TAG_KEY: tagKey(DEFAULT_TAG_KEYS.namespace),
  DCP_SERVICE_TAG_KEY: tagKey(DEFAULT_TAG_KEYS.service),
});

const EnvSchema = z.object({
  ...TagKeysEnv.shape,
  DCP_NAMESPACE: z.string().check(z.regex(NAMESPACE_PATTERN, "a lower-case namespace such as voiceai/prod")),
  DCP_MANIFEST_PARAM: z.optional(z.string()),
  DCP_DRY_RUN: bool,
  DCP_RESTART_DOCUMENT: z._default(z.string().check(z.minLength(3), z.maxLength(128)), "dcp-restart-service"),
  DCP_HOST_CHECK_DOCUMENT: z._default(z.string().check(z.minLength(3), z.maxLength(128)), "dcp-host-credential-check"),
  DCP_IDEMPOTENCY_TABLE: z.optional(z.string()),
  DCP_ROLLOUT_TABLE: z.optional(z.string()),
  DCP_IAM_MODE: z._default(z.enum(["report", "quarantine"]), "report"),
  DCP_AUDIT_REMEDIATION: z._default(z.enum(["none", "imds", "imds+restart"]), "none"),
  DCP_AUDIT_SUMMARY_PARAM: z.optional(z.string()),
  AWS_REGION: z._default(z.string(), "us-east-1"),
  DCP_EXECUTION_TIMEOUT_SECONDS: z.optional(seconds),
  DCP_DELIVERY_TIMEOUT_SECONDS: z.optional(seconds),
  DCP_DEADLINE_MARGIN_SECONDS: z.optional(seconds),
  DCP_CLAIM_LEASE_SECONDS: z.optional(seconds),
  /** One-time wake-ups of held rollouts (EventBridge Scheduler): the reconciler, the role that invokes it, the group. */
  DCP_WAKEUP_FUNCTION_ARN: z.optional(z.string()),
  DCP_WAKEUP_ROLE_ARN: z.optional(z.string()),
  DCP_WAKEUP_GROUP: z.optional(z.string()),
});

/** Every environment variable the configuration reads (the template must set each DCP_ one; test/unit/config). */
export const CONFIG_VARIABLES = Object.keys(EnvSchema.shape);

export interface Config {
  namespace: string;
  manifestParam: string;
  /** Template parameters NamespaceTagKey / ServiceTagKey: the keys the IAM conditions were deployed with. */
  tagKeys: TagKeys;
  dryRun: boolean;
  restartDocument: string;
  /** The read-only host credential check document (template: HostCredentialCheckDocument). */
  hostCheckDocument: string;
  idempotencyTable?: string;
  rolloutTable?: string;
  /** Where held rollouts' one-time wake-ups go; absent: the reconciler's schedule ends every wait. */
  wakeup?: { functionArn: string; roleArn: string; group: string };
  iamMode: "report" | "quarantine";
  auditRemediation: "none" | "imds" | "imds+restart";
  auditSummaryParam: string;
  region: string;
  /** Deadlines and leases of the rollout reconciler (README "Rollouts"). */
  timings: RolloutTimings;
}

function failed(error: z.core.$ZodError): Error {
  const msg = error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
  return new Error(`configuration error: ${msg}`);
}

/** The deployment's tag keys from DCP_NAMESPACE_TAG_KEY / DCP_SERVICE_TAG_KEY (template NamespaceTagKey / ServiceTagKey). */
export function tagKeysFromEnv(env: Record<string, string | undefined> = process.env): TagKeys {
  const parsed = TagKeysEnv.safeParse(env);
  if (!parsed.success) throw failed(parsed.error);
  return { namespace: parsed.data.DCP_NAMESPACE_TAG_KEY, service: parsed.data.DCP_SERVICE_TAG_KEY };
}

/** Reads the configuration contract from the environment; a bad value fails loudly at cold start. */
export function loadConfig(
  env: Record<string, string | undefined> = process.env,
  overrides: Partial<Config> = {},
): Config {
  const parsed = EnvSchema.safeParse({
    ...env,
    ...(overrides.namespace ? { DCP_NAMESPACE: overrides.namespace } : {}),
  });
  if (!parsed.success) throw failed(parsed.error);
  const e = parsed.data;
  const base: Config = {
    namespace: e.DCP_NAMESPACE,
    manifestParam: e.DCP_MANIFEST_PARAM || defaultManifestParam(e.DCP_NAMESPACE),
    tagKeys: { namespace: e.DCP_NAMESPACE_TAG_KEY, service: e.DCP_SERVICE_TAG_KEY },
    dryRun: e.DCP_DRY_RUN,
    restartDocument: e.DCP_RESTART_DOCUMENT,
    hostCheckDocument: e.DCP_HOST_CHECK_DOCUMENT,
    iamMode: e.DCP_IAM_MODE,
    auditRemediation: e.DCP_AUDIT_REMEDIATION,
    auditSummaryParam: e.DCP_AUDIT_SUMMARY_PARAM || `/${e.DCP_NAMESPACE}/control-plane/audit/summary`,
    region: e.AWS_REGION,
    timings: {
      executionTimeoutSeconds: e.DCP_EXECUTION_TIMEOUT_SECONDS ?? DEFAULT_TIMINGS.executionTimeoutSeconds,
      deliveryTimeoutSeconds: e.DCP_DELIVERY_TIMEOUT_SECONDS ?? DEFAULT_TIMINGS.deliveryTimeoutSeconds,
      deadlineMarginSeconds: e.DCP_DEADLINE_MARGIN_SECONDS ?? DEFAULT_TIMINGS.deadlineMarginSeconds,
      claimLeaseSeconds: e.DCP_CLAIM_LEASE_SECONDS ?? DEFAULT_TIMINGS.claimLeaseSeconds,
    },
    ...(e.DCP_IDEMPOTENCY_TABLE ? { idempotencyTable: e.DCP_IDEMPOTENCY_TABLE } : {}),
    ...(e.DCP_ROLLOUT_TABLE ? { rolloutTable: e.DCP_ROLLOUT_TABLE } : {}),
    ...(e.DCP_WAKEUP_FUNCTION_ARN && e.DCP_WAKEUP_ROLE_ARN && e.DCP_WAKEUP_GROUP
      ? {
          wakeup: {
            functionArn: e.DCP_WAKEUP_FUNCTION_ARN,
            roleArn: e.DCP_WAKEUP_ROLE_ARN,
            group: e.DCP_WAKEUP_GROUP,
          },
        }
      : {}),
  };
  const merged = { ...base, ...overrides };
  if (overrides.namespace && !env.DCP_MANIFEST_PARAM && !overrides.manifestParam)
    merged.manifestParam = defaultManifestParam(overrides.namespace);
  return merged;
}
