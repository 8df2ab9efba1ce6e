// The host credential check's answer (template: HostCredentialCheckDocument), judged. The document reports names and
// flags only; this module still treats every field as untrusted data from a host.
import * as z from "zod/mini";
import type { Finding } from "./model.ts";

const PRINTABLE = /^[A-Za-z0-9_./:@()-]{1,200}$/;
const printable = () => z.string().check(z.regex(PRINTABLE));

/** One JSON line on the document's stdout. */
export const HostCheckOutput = z.object({
  v: z.literal(1),
  checked: z.number(),
  skipped: z.number(),
  /** Files with findings beyond what one answer carries (ListCommandInvocations keeps 2,500 characters). */
  omitted: z._default(z.number(), 0),
  proxyBypass: z.array(z.object({ file: printable(), v4: z.boolean(), v6: z.boolean() })),
  staticKeys: z.array(z.object({ file: printable(), keys: z.array(printable()) })),
});
export type HostCheckOutput = z.infer<typeof HostCheckOutput>;

/** The host check's state between scheduled audits: the command sent by one run and collected by the next. */
export const HostCheckState = z.object({ commandId: z.string(), sentAt: z.string() });
export type HostCheckState = z.infer<typeof HostCheckState>;

/** The host check command a stored audit summary recorded; undefined when none or unreadable. */
export function hostCheckStateFromSummary(text: string | undefined): HostCheckState | undefined {
  if (!text) return undefined;
  try {
    const r = HostCheckState.safeParse((JSON.parse(text) as { hostChecks?: unknown }).hostChecks);
    return r.success ? r.data : undefined;
  } catch {
    return undefined;
  }
}

/** Run Command statuses after which an invocation will not change any more. */
const FINAL = new Set([
  "Success",
  "Failed",
  "Cancelled",
  "TimedOut",
  "Undeliverable",
  "Terminated",
  "InvalidPlatform",
  "AccessDenied",
]);

export interface HostCheckSummary {
  commandId: string;
  hosts: number;
  answered: number;
  pending: number;
  failed: number;
}

/**
 * Findings from every host's answer: `proxy-bypasses-imds` for a proxy whose NO_PROXY misses the IMDS address
 * (IPv4 high: the SDK's credential calls go to the proxy; IPv6 only: low), `static-keys-shadow-profile` for AWS keys
 * beside the instance profile (the SDK's default chain prefers them; seed "AWS security setup"), and
 * `host-check-failed` for a host whose check ran and failed or answered something else than the contract.
 */
export function judgeHostChecks(
  commandId: string,
  invocations: readonly { instanceId: string; status: string; output?: string }[],
  serviceOf: ReadonlyMap<string, string | undefined>,
): { findings: Finding[]; summary: HostCheckSummary } {
  const findings: Finding[] = [];
  let answered = 0;
  let pending = 0;
  let failed = 0;
  for (const inv of invocations) {
    const service = serviceOf.get(inv.instanceId);
    const base = { instanceId: inv.instanceId, ...(service ? { service } : {}) };
    if (!FINAL.has(inv.status)) {
      pending++;
      continue;
    }
    const parsed = inv.status === "Success" ? parseOutput(inv.output) : undefined;
    if (!parsed) {
      failed++;
      findings.push({
        ...base,
        kind: "host-check-failed",
        severity: "low",
        detail: `host credential check ${inv.status === "Success" ? "answered outside its contract" : `ended ${inv.status}`} (command ${commandId}): proxy and static-key hygiene unknown`,
        evidence: { commandId, status: inv.status },
      });
      continue;
    }
    answered++;
    for (const b of parsed.proxyBypass) {
      const missing = [b.v4 ? "" : "169.254.169.254", b.v6 ? "" : "fd00:ec2::254"].filter(Boolean).join(" and ");
      findings.push({
        ...base,
        kind: "proxy-bypasses-imds",
        severity: b.v4 ? "low" : "high",
        detail: `${b.file} sets a proxy whose NO_PROXY misses ${missing}: IMDS calls for instance-profile credentials go to the proxy; add ${missing} to NO_PROXY`,
        evidence: { file: b.file, noProxyV4: b.v4, noProxyV6: b.v6 },
      });
    }
    if (parsed.omitted > 0)
      findings.push({
        ...base,
        kind: "host-check-failed",
        severity: "medium",
        detail: `${parsed.omitted} more file(s) with proxy or static-key findings than one answer carries: run the check on this host (aws ssm send-command) and read its full output`,
        evidence: { commandId, omitted: parsed.omitted },
      });
    for (const k of parsed.staticKeys)
      findings.push({
        ...base,
        kind: "static-keys-shadow-profile",
        severity: "high",
        detail: `${k.file} sets ${k.keys.join(", ")}: the SDK's default chain prefers these over the instance profile; remove them`,
        evidence: { file: k.file, keys: k.keys.join(",") },
      });
  }
  return { findings, summary: { commandId, hosts: invocations.length, answered, pending, failed } };
}

/** The document's JSON line, or undefined when the output is not the contract (it is never echoed). */
export function parseOutput(output: string | undefined): HostCheckOutput | undefined {
  const line = output
    ?.split("\n")
    .map((l) => l.trim())
    .find((l) => l.startsWith("{"));
  if (!line) return undefined;
  try {
    const r = HostCheckOutput.safeParse(JSON.parse(line));
    return r.success ? r.data : undefined;
  } catch {
    return undefined;
  }
}
