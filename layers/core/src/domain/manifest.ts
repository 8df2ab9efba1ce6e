import { parse as parseYaml } from "yaml";
import * as z from "zod";
import { InvalidInputError } from "./errors.ts";

/** Lower-case service names only: the same pattern guards the restart document's `Service` parameter. */
export const SERVICE_NAME_PATTERN = /^[a-z][a-z0-9-]{0,31}$/;
/** `voiceai/prod`: lower-case path segments. */
export const NAMESPACE_PATTERN = /^[a-z0-9][a-z0-9-]*(\/[a-z0-9][a-z0-9-]*)*$/;
const TAG_KEY = /^[\w .:/=+\-@]{1,128}$/;

const grantSchema = z.object({
  actions: z.array(z.string().min(1)).min(1),
  resources: z.array(z.string().min(1)).min(1),
});

const serviceSchema = z.object({
  name: z.string().regex(SERVICE_NAME_PATTERN, "lower-case letters, digits and '-', starting with a letter"),
  wave: z.number().int().min(0).max(100),
  extraGrants: z.array(grantSchema).default([]),
});

const sharedSecretSchema = z.object({
  bootstrapVar: z.string().regex(/^[A-Z][A-Z0-9_]*$/, "an upper-case environment variable name"),
  arn: z.string().regex(/^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:.+$/, "a Secrets Manager secret ARN"),
  consumers: z.array(z.string().regex(SERVICE_NAME_PATTERN)).min(1),
});

/**
 * SSM accepts a number or a percentage for MaxConcurrency / MaxErrors, at most 7 characters, with the
 * patterns of the SendCommand API: MaxConcurrency is at least 1 (or 1%), MaxErrors may be 0 (or 0%).
 */
const ssmRate = (pattern: RegExp, what: string) =>
  z
    .union([z.number().int().min(0), z.string()])
    .transform(String)
    .pipe(z.string().max(7).regex(pattern, what));
const maxConcurrency = ssmRate(/^([1-9][0-9]*|[1-9][0-9]%|[1-9]%|100%)$/, "a number ≥ 1 or a percentage 1%–100%");
const maxErrors = ssmRate(/^([1-9][0-9]*|0|[1-9][0-9]%|[0-9]%|100%)$/, "a number ≥ 0 or a percentage 0%–100%");

export const manifestSchema = z
  .object({
    namespace: z.string().regex(NAMESPACE_PATTERN, "lower-case path such as voiceai/prod"),
    tags: z
      .object({
        namespace: z.string().regex(TAG_KEY).default("Namespace"),
        service: z.string().regex(TAG_KEY).default("Service"),
      })
      .default({ namespace: "Namespace", service: "Service" }),
    configBucket: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, "an S3 bucket name"),
    ecrRepositoryPrefix: z
      .string()
      .regex(/^[a-z0-9][a-z0-9._/-]*$/)
      .default("voiceai-"),
    services: z.array(serviceSchema).min(1),
    sharedSecrets: z.array(sharedSecretSchema).default([]),
    imds: z
      .object({
        httpTokens: z.enum(["required", "optional"]).default("required"),
        hopLimit: z.number().int().min(1).max(64).default(2),
        httpEndpoint: z.enum(["enabled", "disabled"]).default("enabled"),
      })
      .default({ httpTokens: "required", hopLimit: 2, httpEndpoint: "enabled" }),
    restart: z
      .object({ maxConcurrency: maxConcurrency.default("1"), maxErrors: maxErrors.default("0") })
      .default({ maxConcurrency: "1", maxErrors: "0" }),
  })
  .superRefine((m, ctx) => {
    const names = new Set<string>();
    for (const [i, s] of m.services.entries()) {
      if (names.has(s.name))
        ctx.addIssue({ code: "custom", path: ["services", i, "name"], message: `duplicate service '${s.name}'` });
      names.add(s.name);
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
  });

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

/** Parses YAML or JSON text (JSON is YAML) and validates it. */
export function parseManifest(text: string): Manifest {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    throw new InvalidInputError(`fleet manifest is not valid YAML/JSON: ${(err as Error).message.split("\n")[0]}`);
  }
  return validateManifest(raw);
}

export function defaultManifestParam(namespace: string): string {
  return `/${namespace}/control-plane/manifest`;
}

export function serviceByName(m: Manifest, name: string): ServiceSpec | undefined {
  return m.services.find((s) => s.name === name);
}
