// zod/mini, not classic zod: the same checks at a third of the bundle weight (every function loads this module).
import * as z from "zod/mini";
import { InvalidInputError } from "./errors.ts";
import { DEFAULT_PLATFORM_GRANTS } from "./iam/aws-managed.ts";
import "./zod-messages.ts";

/** Lower-case service names only: the same pattern guards the restart document's `Service` parameter. */
export const SERVICE_NAME_PATTERN = /^[a-z][a-z0-9-]{0,31}$/;
/** `voiceai/prod`: lower-case path segments. */
export const NAMESPACE_PATTERN = /^[a-z0-9][a-z0-9-]*(\/[a-z0-9][a-z0-9-]*)*$/;
/** An EC2 tag key as the template's NamespaceTagKey / ServiceTagKey parameters allow it. */
export const TAG_KEY_PATTERN = /^[\w .:/=+\-@]{1,128}$/;
const TAG_KEY = TAG_KEY_PATTERN;

/** The tag keys placing a host: `namespace` = the fleet namespace, `service` = a manifest service. */
export interface TagKeys {
  namespace: string;
  service: string;
}
export const DEFAULT_TAG_KEYS: TagKeys = { namespace: "Namespace", service: "Service" };

/**
 * The drain's default share of EC2's ModifyInstanceMetadataOptions bucket (100 calls, refilled 5/s per account and
 * region, EC2 API throttling page): most of it, leaving room for the launch guard and other tools.
 */
export const DRAIN_DEFAULTS = { burst: 80, refillPerSecond: 4 };

const nonEmpty = () => z.string().check(z.minLength(1));
const matching = (pattern: RegExp, what?: string) => z.string().check(z.regex(pattern, what));
const int = (min: number, max?: number) =>
  z.number().check(z.int(), z.gte(min), ...(max === undefined ? [] : [z.lte(max)]));

/** CloudWatch alarm names: 1–255 characters, no control characters. */
const ALARM_NAME = /^[^\p{Cc}]{1,255}$/u;
/** An SSM Change Calendar: a document name or ARN. */
const CALENDAR = /^(arn:aws[a-z-]*:ssm:[a-z0-9-]+:\d{12}:document\/)?[a-zA-Z0-9_.-]{3,128}$/;
const profileSchema = z.enum(["fast", "safe"]);

const grantSchema = z.object({
  actions: z.array(nonEmpty()).check(z.minLength(1)),
  resources: z.array(nonEmpty()).check(z.minLength(1)),
});

const serviceSchema = z.object({
  name: matching(SERVICE_NAME_PATTERN, "lower-case letters, digits and '-', starting with a letter"),
  wave: int(0, 100),
  extraGrants: z._default(z.array(grantSchema), []),
  /** CloudWatch alarms checked before each next wave (any in ALARM holds the rollout); the first rides on SendCommand. */
  alarms: z._default(z.array(matching(ALARM_NAME, "a CloudWatch alarm name")).check(z.maxLength(10)), []),
  /** Parameter Store reads one restart of this service makes (GetParameter/GetParameters/GetParametersByPath). */
  readsPerRestart: z._default(int(1, 1000), 10),
  /** Narrows the seed's image pulls (`repository/<ecrRepositoryPrefix>*`) to these repository names (globs). */
  ecrRepositories: z.optional(z.array(matching(/^[a-z0-9*?][a-z0-9._/*?-]*$/, "a repository name (glob)"))),
  /** Narrows the seed's `s3:GetObject` on `<configBucket>/*` to these object keys (globs). */
  configKeys: z.optional(z.array(nonEmpty()).check(z.minLength(1))),
});

const sharedSecretSchema = z.object({
  bootstrapVar: matching(/^[A-Z][A-Z0-9_]*$/, "an upper-case environment variable name"),
  arn: matching(/^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:.+$/, "a Secrets Manager secret ARN"),
  consumers: z.array(matching(SERVICE_NAME_PATTERN)).check(z.minLength(1)),
  /** `fast` or `safe`; default: `fast` for a secret AWS manages (DescribeSecret OwningService), else `safe`. */
  profile: z.optional(profileSchema),
});

/**
 * SSM accepts a number or a percentage for MaxConcurrency / MaxErrors, at most 7 characters, with the
 * patterns of the SendCommand API: MaxConcurrency is at least 1 (or 1%), MaxErrors may be 0 (or 0%).
 */
const ssmRate = (pattern: RegExp, what: string) =>
  z.pipe(
    z.pipe(z.union([int(0), z.string()]), z.transform(String)),
    z.string().check(z.maxLength(7), z.regex(pattern, what)),
  );
const maxConcurrency = ssmRate(/^([1-9][0-9]*|[1-9][0-9]%|[1-9]%|100%)$/, "a number ≥ 1 or a percentage 1%–100%");
const maxErrors = ssmRate(/^([1-9][0-9]*|0|[1-9][0-9]%|[0-9]%|100%)$/, "a number ≥ 0 or a percentage 0%–100%");

const RESTART_DEFAULTS = {
  maxConcurrency: "1",
  maxErrors: "0",
  bakeSeconds: 0,
  coalesceSeconds: 60,
  profile: "safe" as const,
  parameterStoreTps: 40,
  mode: "restart" as const,
};

export const manifestSchema = z
  .object({
    namespace: matching(NAMESPACE_PATTERN, "lower-case path such as voiceai/prod"),
    tags: z._default(
      z.object({
        namespace: z._default(matching(TAG_KEY), DEFAULT_TAG_KEYS.namespace),
        service: z._default(matching(TAG_KEY), DEFAULT_TAG_KEYS.service),
      }),
      { ...DEFAULT_TAG_KEYS },
    ),
    configBucket: matching(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, "an S3 bucket name"),
    ecrRepositoryPrefix: z._default(matching(/^[a-z0-9][a-z0-9._/-]*$/), "voiceai-"),
    services: z.array(serviceSchema).check(z.minLength(1)),
    sharedSecrets: z._default(z.array(sharedSecretSchema), []),
    /** What every host may hold besides its service's grants; default: what the SSM agent needs. */
    platformGrants: z._default(z.array(grantSchema), () => structuredClone(DEFAULT_PLATFORM_GRANTS)),
    imds: z._default(
      z.object({
        httpTokens: z._default(z.enum(["required", "optional"]), "required"),
        hopLimit: z._default(int(1, 64), 2),
        httpEndpoint: z._default(z.enum(["enabled", "disabled"]), "enabled"),
        /** Write the account's IMDS defaults (account-wide: off unless the operator opts in). */
        manageAccountDefaults: z._default(z.boolean(), false),
        /** Days of CloudWatch MetadataNoToken that decide whether a host is ready for tokens. */
        readinessDays: z._default(int(1, 63), 14),
        /** Require tokens even on hosts that still call IMDSv1 (they break). */
        enforceWhenNotReady: z._default(z.boolean(), false),
        /** The pace of instance fixes: ModifyInstanceMetadataOptions is a token bucket (AWS: 100, +5/s). */
        drain: z._default(
          z.object({
            burst: z._default(int(1, 1000), DRAIN_DEFAULTS.burst),
            refillPerSecond: z._default(z.number().check(z.gt(0), z.lte(100)), DRAIN_DEFAULTS.refillPerSecond),
          }),
          DRAIN_DEFAULTS,
        ),
      }),
      {
        httpTokens: "required",
        hopLimit: 2,
        httpEndpoint: "enabled",
        manageAccountDefaults: false,
        readinessDays: 14,
        enforceWhenNotReady: false,
        drain: DRAIN_DEFAULTS,
      },
    ),
    restart: z._default(
      z.object({
        maxConcurrency: z._default(maxConcurrency, "1"),
        maxErrors: z._default(maxErrors, "0"),
        /** Seconds between a wave's completion and the next wave (safe profile). */
        bakeSeconds: z._default(int(0, 86_400), 0),
        /** Secrets changing within this window with shared consumers restart each host once (safe profile). */
        coalesceSeconds: z._default(int(0, 900), 60),
        /** SSM Change Calendar (name or ARN): while CLOSED, the next wave waits (safe profile). */
        changeCalendar: z.optional(matching(CALENDAR, "an SSM Change Calendar document name or ARN")),
        /** Profile of service bundles (shared secrets carry their own). */
        profile: z._default(profileSchema, "safe"),
        /** Parameter Store throughput the restarting hosts share (default quota 40 TPS). */
        parameterStoreTps: z._default(int(1, 10_000), 40),
        /** `notify`: plan and report every rotation, restart nothing. */
        mode: z._default(z.enum(["restart", "notify"]), "restart"),
      }),
      RESTART_DEFAULTS,
    ),
  })
  .check(
    z.superRefine((m, ctx) => {
      const names = new Set<string>();
      for (const [i, s] of m.services.entries()) {
        if (names.has(s.name))
          ctx.addIssue({ code: "custom", path: ["services", i, "name"], message: `duplicate service '${s.name}'` });
        names.add(s.name);
        for (const [j, repo] of (s.ecrRepositories ?? []).entries())
          if (!repo.startsWith(m.ecrRepositoryPrefix))
            ctx.addIssue({
              code: "custom",
              path: ["services", i, "ecrRepositories", j],
              message: `narrows the seed's repository/${m.ecrRepositoryPrefix}*: must start with '${m.ecrRepositoryPrefix}'`,
            });
      }
      for (const [i, s] of m.sharedSecrets.entries()) {
        for (const [j, c] of s.consumers.entries()) {
          if (!names.has(c))
            ctx.addIssue({
              code: "custom",
              path: ["sharedSecrets", i, "consumers", j],
              message: `unknown service '${c}'`,
            });
        }
      }
    }),
  );

export type Manifest = z.output<typeof manifestSchema>;
export type ServiceSpec = Manifest["services"][number];
export type SharedSecret = Manifest["sharedSecrets"][number];
export type Grant = z.output<typeof grantSchema>;

/** Validates a manifest object; the error names the first bad field by its path. */
export function validateManifest(input: unknown): Manifest {
  const result = manifestSchema.safeParse(input);
  if (result.success) return result.data;
  const issues = result.error.issues.map((i) => `${i.path.length ? i.path.join(".") : "(root)"}: ${i.message}`);
  throw new InvalidInputError(`invalid fleet manifest: ${issues.join("; ")}`);
}

/**
 * Parses the manifest as Parameter Store holds it: JSON, the form `dcp manifest push` writes (YAML files are for
 * people and are read by the CLI, `manifest-yaml.ts`; no YAML parser travels in a Lambda bundle).
 */
export function parseManifest(text: string): Manifest {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    const hint = /^\s*[{[]/.test(text)
      ? (err as Error).message.split("\n")[0]
      : "it looks like YAML; publish it with `dcp manifest push <file>`, which validates it and stores JSON";
    throw new InvalidInputError(`fleet manifest parameter is not JSON: ${hint}`);
  }
  return validateManifest(raw);
}

/**
 * The deployment's tag keys are the source (template parameters NamespaceTagKey / ServiceTagKey → the functions'
 * DCP_NAMESPACE_TAG_KEY / DCP_SERVICE_TAG_KEY): the IAM conditions were fixed with them at deploy, so a manifest naming
 * other keys would make every tag-scoped write fail at run time. Throws InvalidInputError (one line) when they differ.
 */
export function checkTagKeys(m: Pick<Manifest, "tags">, deployed: TagKeys): void {
  if (m.tags.namespace === deployed.namespace && m.tags.service === deployed.service) return;
  throw new InvalidInputError(
    `manifest tags (namespace: '${m.tags.namespace}', service: '${m.tags.service}') differ from the deployed tag keys ` +
      `(namespace: '${deployed.namespace}', service: '${deployed.service}'; template parameters NamespaceTagKey/ServiceTagKey, ` +
      "fixed in the IAM conditions at deploy): change the manifest's tags or redeploy with those keys",
  );
}

export function defaultManifestParam(namespace: string): string {
  return `/${namespace}/control-plane/manifest`;
}

export function serviceByName(m: Manifest, name: string): ServiceSpec | undefined {
  return m.services.find((s) => s.name === name);
}
