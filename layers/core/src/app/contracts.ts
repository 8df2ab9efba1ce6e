// Output contracts: one schema per result a function or `dcp --json` returns. Every documented key is present on
// every path — `null` or empty when there is nothing to say — so a consumer never has to tell "absent" from "none".
// Strict objects: a key added to a result without its schema fails the contract tests (test/unit/contracts.test.ts).
// Not imported by the handlers (no bundle weight); the tests hold every path of the use cases to these.
import * as z from "zod/mini";

const str = z.string();
const nullableStr = z.nullable(z.string());
const count = z.number().check(z.int(), z.gte(0));

/** A finding: kind, severity and one actionable sentence; host, service and evidence when the finding has them. */
export const FindingContract = z.object({
  kind: str,
  severity: z.enum(["info", "low", "medium", "high", "critical"]),
  detail: str,
  instanceId: z.optional(str),
  service: z.optional(str),
  evidence: z.optional(z.record(str, z.union([str, z.number(), z.boolean()]))),
});

const ImdsContract = z.strictObject({
  httpTokens: z.enum(["required", "optional"]),
  hopLimit: z.number(),
  httpEndpoint: z.enum(["enabled", "disabled"]),
  state: z.optional(str),
});

/** InstanceLaunchFunction (with `duplicate`) and `dcp guard --json`. */
export const GuardResultContract = z.strictObject({
  instanceId: str,
  namespace: str,
  service: nullableStr,
  status: z.enum(["guarded", "skipped", "not-visible"]),
  reason: nullableStr,
  dryRun: z.boolean(),
  imds: z.strictObject({
    before: z.nullable(ImdsContract),
    after: z.nullable(ImdsContract),
    changed: z.boolean(),
    action: z.enum(["none", "modify", "exempt", "skipped"]),
  }),
  iam: z.strictObject({
    role: nullableStr,
    verdict: z.enum(["ok", "violation", "unknown", "skipped"]),
    findings: z.array(FindingContract),
  }),
  tags: z.record(str, str),
  findings: z.array(FindingContract),
});
export const LaunchResultContract = z.strictObject({ ...GuardResultContract.shape, duplicate: z.boolean() });

/** One plan step as the engine sent it (app/rollout-engine.ts SentStep). */
const SentStepContract = z.strictObject({
  step: z.number(),
  commandIds: z.array(str),
  service: str,
  targetIds: z.array(str),
  unmanaged: z.array(str),
});

/** RestartTrackerFunction. */
export const TrackResultContract = z.strictObject({
  rolloutId: nullableStr,
  commandId: str,
  instanceId: nullableStr,
  status: str,
  recorded: z.array(z.strictObject({ instanceId: str, status: str })),
  duplicate: z.boolean(),
  nextWave: z.nullable(z.strictObject({ wave: z.number(), commands: z.array(SentStepContract) })),
  rolloutStatus: z.nullable(z.enum(["running", "succeeded", "halted"])),
  halted: nullableStr,
  held: nullableStr,
  ignored: nullableStr,
});

/** DriftAuditFunction's result and the summary it stores for the next run. */
export const AuditSummaryContract = z.strictObject({
  namespace: str,
  generatedAt: str,
  scannedHosts: count,
  findings: count,
  summary: z.record(str, count),
  apiCalls: z.record(str, count),
  dryRun: z.boolean(),
  remediation: z.strictObject({
    mode: z.enum(["none", "imds", "imds+restart"]),
    imdsFixed: count,
    imdsFailed: count,
    imdsDeferred: count,
    restarts: count,
  }),
  registry: z.nullable(
    z.strictObject({
      checkedAt: str,
      fullCheckAt: str,
      unmanaged: z.array(str),
      truncated: z.optional(z.boolean()),
      cursor: z.optional(str),
    }),
  ),
  /** The host credential check this run sent (the next run collects it); null when none was sent. */
  hostChecks: z.nullable(z.strictObject({ commandId: str, sentAt: str })),
});

/** A poison event: answered, not retried. */
export const RejectedContract = z.strictObject({ action: z.literal("rejected"), reason: str });

export type Contract = z.ZodMiniType;

/** The first contract violation as one line (`path: message`), or undefined when `value` holds to `contract`. */
export function contractViolation(contract: Contract, value: unknown): string | undefined {
  const r = contract.safeParse(value);
  if (r.success) return undefined;
  const i = r.error.issues[0]!;
  return `${i.path.join(".") || "(result)"}: ${i.message}`;
}
