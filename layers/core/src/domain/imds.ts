import type { Manifest } from "./manifest.ts";
import type { Finding, Host, ImdsOptions } from "./model.ts";

export const IMDS_EXEMPT_TAG = "dcp:imds-exempt";

export type DesiredImds = Omit<ImdsOptions, "state">;

export function desiredImds(m: Manifest): DesiredImds {
  return { httpTokens: m.imds.httpTokens, hopLimit: m.imds.hopLimit, httpEndpoint: m.imds.httpEndpoint };
}

/** The IMDS findings for one host: one per field that differs from the desired state. */
export function imdsDrift(host: Host, desired: DesiredImds, service?: string): Finding[] {
  const findings: Finding[] = [];
  const base = { instanceId: host.instanceId, ...(service ? { service } : {}) };
  if (host.imds.httpTokens !== desired.httpTokens) {
    findings.push({
      ...base,
      kind: "imds-tokens-optional",
      severity: "high",
      detail: `IMDS tokens are '${host.imds.httpTokens}', want '${desired.httpTokens}' (IMDSv1 lets any SSRF read role credentials)`,
      evidence: { actual: host.imds.httpTokens, desired: desired.httpTokens },
    });
  }
  if (host.imds.hopLimit !== desired.hopLimit) {
    findings.push({
      ...base,
      kind: "imds-hop-limit",
      severity: "medium",
      detail: `IMDS hop limit is ${host.imds.hopLimit}, want ${desired.hopLimit} (containers on the Docker bridge need 2)`,
      evidence: { actual: host.imds.hopLimit, desired: desired.hopLimit },
    });
  }
  if (host.imds.httpEndpoint !== desired.httpEndpoint) {
    findings.push({
      ...base,
      kind: "imds-endpoint-disabled",
      severity: "high",
      detail: `IMDS endpoint is '${host.imds.httpEndpoint}', want '${desired.httpEndpoint}' (fetch-env.sh cannot get credentials)`,
      evidence: { actual: host.imds.httpEndpoint, desired: desired.httpEndpoint },
    });
  }
  return findings;
}

export type ImdsDecision =
  | { action: "none"; findings: [] }
  | { action: "modify"; desired: DesiredImds; findings: Finding[] }
  | { action: "exempt"; reason: string; findings: Finding[] };

/**
 * What to do about one host's IMDS: nothing, one full modification, or report only (exempt).
 * A modification always carries every desired field: EC2 resets fields a call omits.
 */
export function planImds(host: Host, desired: DesiredImds, service?: string): ImdsDecision {
  const drift = imdsDrift(host, desired, service);
  if (drift.length === 0) return { action: "none", findings: [] };
  const exemptReason = host.tags[IMDS_EXEMPT_TAG];
  if (exemptReason !== undefined) {
    return {
      action: "exempt",
      reason: exemptReason,
      findings: [
        ...drift.map((f) => ({ ...f, severity: "info" as const, detail: `${f.detail}; exempt: ${exemptReason}` })),
      ],
    };
  }
  return { action: "modify", desired, findings: drift };
}
