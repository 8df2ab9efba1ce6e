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

/** Tags completing an exemption: who owns it and the last day (UTC, YYYY-MM-DD) it holds. */
export const IMDS_EXEMPT_UNTIL_TAG = "dcp:imds-exempt-until";
export const IMDS_EXEMPT_OWNER_TAG = "dcp:imds-exempt-owner";

/** What CloudWatch says about a host's IMDSv1 use (`MetadataNoToken`, summed over the readiness window). */
export interface HostReadiness {
  /** IMDSv1 calls in the window; 0 = ready to require tokens. */
  noTokenCalls: number;
  /** Window length in days. */
  days: number;
}

/** Context of one IMDS decision: the clock (exemption ends) and readiness (undefined = unknown). */
export interface ImdsContext {
  now: Date;
  readiness?: HostReadiness;
  /** `imds.enforceWhenNotReady`: require tokens even on a host that still calls IMDSv1. */
  enforceWhenNotReady?: boolean;
}

export type ImdsDecision =
  | { action: "none"; findings: [] }
  /** A modification EC2 answered `pending`: neither compliant nor drifted until a describe says `applied`. */
  | { action: "in-flight"; findings: [] }
  | { action: "modify"; desired: DesiredImds; findings: Finding[]; notReady?: true }
  /** Drifted but nothing to send: only tokens are off, and the host is not ready for them. */
  | { action: "hold"; findings: Finding[] }
  | { action: "exempt"; reason: string; findings: Finding[] };

type Exemption =
  | { kind: "none" }
  | { kind: "active"; reason: string; note: string; finding?: Finding }
  | { kind: "expired"; finding: Finding };

/** The last moment an exemption holds: the end of its `until` day in UTC; NaN when the date is unreadable. */
function exemptionEnd(until: string): number {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(until)) return Number.NaN;
  const t = Date.parse(`${until}T23:59:59.999Z`);
  return Number.isNaN(t) || new Date(t).toISOString().slice(0, 10) !== until ? Number.NaN : t;
}

/**
 * The host's exemption: `dcp:imds-exempt=<reason>` (presence decides), completed by `-owner` and `-until`. An
 * exemption past its end date no longer holds and is a finding; an unreadable end date keeps it (a typo must not
 * break a host) and is a finding too.
 */
export function exemptionOf(host: Host, now: Date, service?: string): Exemption {
  const reason = host.tags[IMDS_EXEMPT_TAG];
  if (reason === undefined) return { kind: "none" };
  const owner = host.tags[IMDS_EXEMPT_OWNER_TAG];
  const until = host.tags[IMDS_EXEMPT_UNTIL_TAG];
  const base = { kind: "imds-exempt-expired" as const, instanceId: host.instanceId, ...(service ? { service } : {}) };
  const evidence = { reason, owner: owner ?? "", until: until ?? "" };
  const who = owner ? `owner ${owner}` : "no owner (tag dcp:imds-exempt-owner)";
  if (until !== undefined) {
    const end = exemptionEnd(until);
    if (Number.isNaN(end))
      return {
        kind: "active",
        reason,
        note: `exempt: ${reason}; ${who}`,
        finding: {
          ...base,
          severity: "medium",
          detail: `IMDS exemption end date '${until}' is not YYYY-MM-DD: fix tag ${IMDS_EXEMPT_UNTIL_TAG} (${who})`,
          evidence,
        },
      };
    if (now.getTime() > end)
      return {
        kind: "expired",
        finding: {
          ...base,
          severity: "medium",
          detail: `IMDS exemption '${reason}' ended on ${until} (${who}): the host is held to the manifest again`,
          evidence,
        },
      };
  }
  return { kind: "active", reason, note: `exempt: ${reason}; ${who}; ${until ? `until ${until}` : "no end date"}` };
}

/**
 * What to do about one host's IMDS: nothing, in flight, one full modification, hold, or report only (exempt).
 * - A modification always carries every field: EC2 resets fields a call omits (field notes, IMDS).
 * - Tokens already required are never lowered, whatever the manifest says.
 * - A host with IMDSv1 use in the readiness window (CloudWatch `MetadataNoToken`) is not ready: its hop limit and
 *   endpoint are fixed, its tokens left optional and reported, unless `enforceWhenNotReady`.
 * - Hop limit 1 with tokens required is still drifted: containers behind the Docker bridge fall back to IMDSv1.
 */
export function planImds(host: Host, desired: DesiredImds, service?: string, ctx?: ImdsContext): ImdsDecision {
  if (host.imds.state === "pending") return { action: "in-flight", findings: [] };
  const exemption = ctx ? exemptionOf(host, ctx.now, service) : exemptionOf(host, new Date(0), service);
  const extra = exemption.kind !== "none" && exemption.finding ? [exemption.finding] : [];
  const drift = imdsDrift(host, desired, service);
  if (drift.length === 0) return extra.length ? { action: "hold", findings: extra } : { action: "none", findings: [] };
  if (exemption.kind === "active")
    return {
      action: "exempt",
      reason: exemption.reason,
      findings: [
        ...drift.map((f) => ({ ...f, severity: "info" as const, detail: `${f.detail}; ${exemption.note}` })),
        ...extra,
      ],
    };
  const target: DesiredImds = { ...desired };
  if (host.imds.httpTokens === "required") target.httpTokens = "required";
  const r = ctx?.readiness;
  const notReady =
    target.httpTokens === "required" &&
    host.imds.httpTokens !== "required" &&
    r !== undefined &&
    r.noTokenCalls > 0 &&
    !ctx?.enforceWhenNotReady;
  const findings = drift.map((f) =>
    notReady && f.kind === "imds-tokens-optional"
      ? {
          ...f,
          detail: `${f.detail}; not ready: ${r.noTokenCalls} IMDSv1 call(s) in ${r.days} days (MetadataNoToken), tokens left optional until its software uses IMDSv2 (or imds.enforceWhenNotReady)`,
          evidence: { ...f.evidence, noTokenCalls: r.noTokenCalls, ready: false },
        }
      : f,
  );
  findings.push(...extra);
  if (notReady) target.httpTokens = host.imds.httpTokens;
  const changes =
    target.httpTokens !== host.imds.httpTokens ||
    target.hopLimit !== host.imds.hopLimit ||
    target.httpEndpoint !== host.imds.httpEndpoint;
  if (!changes) return { action: "hold", findings };
  return { action: "modify", desired: target, findings, ...(notReady ? { notReady: true as const } : {}) };
}
