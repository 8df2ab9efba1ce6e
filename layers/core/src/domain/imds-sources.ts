// Where a new instance's IMDS options come from, judged before the instances themselves (field notes, IMDS:
// launch parameters / launch template, then the AMI's ImdsSupport, then the account defaults). Fixing a source
// costs one call and stops new drift; fixing instances costs one throttled call each.
import type { DesiredImds } from "./imds.ts";
import type { Finding, Host, ImdsOptions } from "./model.ts";

/** EC2's own tags on an instance launched from a launch template / by an Auto Scaling group. */
export const LAUNCH_TEMPLATE_ID_TAG = "aws:ec2launchtemplate:id";
export const LAUNCH_TEMPLATE_VERSION_TAG = "aws:ec2launchtemplate:version";
export const ASG_NAME_TAG = "aws:autoscaling:groupName";

/** `GetInstanceMetadataDefaults` (account level, this region). `managedBy` absent = the account. */
export interface AccountImdsDefaults extends Partial<Omit<ImdsOptions, "state">> {
  managedBy?: "account" | "declarative-policy";
  managedExceptionMessage?: string;
}

export type DefaultsPlan =
  | { action: "none" }
  | { action: "report"; reason: string }
  | { action: "modify"; desired: DesiredImds };

const ENFORCED_TIP =
  "also set HttpTokensEnforced (aws ec2 modify-instance-metadata-defaults --http-tokens-enforced enabled) so no launch can opt out of IMDSv2";

/**
 * The account defaults against the manifest: a finding per drifted field; written only when the manifest opts in
 * (`imds.manageAccountDefaults`) and never when an organisation's declarative policy manages them. Tokens already
 * required are never lowered. HttpTokensEnforced is recommended in the finding (the pinned EC2 client cannot set it).
 */
export function judgeAccountDefaults(
  d: AccountImdsDefaults | undefined,
  desired: DesiredImds,
  manage: boolean,
): { findings: Finding[]; plan: DefaultsPlan } {
  if (!d) return { findings: [], plan: { action: "none" } };
  const target: DesiredImds = { ...desired, ...(d.httpTokens === "required" ? { httpTokens: "required" } : {}) };
  const drift: string[] = [];
  // An unset default means EC2's own: tokens optional, hop limit 1, endpoint enabled.
  if ((d.httpTokens ?? "optional") !== target.httpTokens) drift.push(`tokens ${d.httpTokens ?? "unset (optional)"}`);
  if ((d.hopLimit ?? 1) !== target.hopLimit) drift.push(`hop limit ${d.hopLimit ?? "unset (1)"}`);
  if ((d.httpEndpoint ?? "enabled") !== target.httpEndpoint) drift.push(`endpoint ${d.httpEndpoint}`);
  if (drift.length === 0) return { findings: [], plan: { action: "none" } };
  const policy = d.managedBy === "declarative-policy";
  const how = policy
    ? `managed by a declarative policy of the organisation (${d.managedExceptionMessage ?? "the account cannot change them"}): change the policy`
    : manage
      ? "the control plane sets them (imds.manageAccountDefaults)"
      : "set them, or let the control plane (imds.manageAccountDefaults: true)";
  const finding: Finding = {
    kind: "imds-defaults",
    severity: "medium",
    detail: `account IMDS defaults let new instances launch non-compliant (${drift.join(", ")}); ${how}; ${ENFORCED_TIP}`,
    evidence: {
      managedBy: d.managedBy ?? "account",
      httpTokens: d.httpTokens ?? "unset",
      hopLimit: d.hopLimit ?? 0,
      httpEndpoint: d.httpEndpoint ?? "unset",
    },
  };
  const plan: DefaultsPlan = policy
    ? { action: "report", reason: "managed by a declarative policy" }
    : manage
      ? { action: "modify", desired: target }
      : { action: "report", reason: "imds.manageAccountDefaults is off" };
  return { findings: [finding], plan };
}

/** A launch template and its default version, as EC2 describes it. */
export interface LaunchTemplateFact {
  id: string;
  name: string;
  defaultVersion: number;
  latestVersion: number;
  tags: Record<string, string>;
  /** CreateTime of the default version (ISO-8601). */
  defaultCreatedAt?: string;
  /** MetadataOptions of the default version; fields absent fall back to the AMI, then the account defaults. */
  metadata: Partial<Omit<ImdsOptions, "state">>;
}

export interface LaunchTemplatePlan {
  templateId: string;
  templateName: string;
  fromVersion: number;
  desired: DesiredImds;
  /** Why it is reported and not fixed (the control plane writes only templates carrying the namespace tag). */
  skipped?: string;
}

/** Launch templates the fleet uses: those of its live hosts, and those tagged with the namespace. */
export function fleetTemplateIds(hosts: readonly Host[]): string[] {
  return [...new Set(hosts.map((h) => h.tags[LAUNCH_TEMPLATE_ID_TAG]).filter((x): x is string => !!x))].sort();
}

/**
 * The default version of each template against the manifest: a finding and a fix plan (a new version carrying the
 * full template data with compliant MetadataOptions, made the default) per drifted template. Templates without the
 * namespace tag are reported with the reason they are not written. Hosts in an Auto Scaling group launched after the
 * default version existed from another version show the group pins a numbered version or `$Latest`.
 */
export function judgeLaunchTemplates(
  templates: readonly LaunchTemplateFact[],
  hosts: readonly Host[],
  desired: DesiredImds,
  ns: { tagKey: string; namespace: string },
): { findings: Finding[]; plans: LaunchTemplatePlan[] } {
  const findings: Finding[] = [];
  const plans: LaunchTemplatePlan[] = [];
  for (const t of templates) {
    const m = t.metadata;
    const drift: string[] = [];
    const target: DesiredImds = { ...desired, ...(m.httpTokens === "required" ? { httpTokens: "required" } : {}) };
    if (m.httpTokens !== target.httpTokens) drift.push(`tokens ${m.httpTokens ?? "unset"}`);
    if (m.hopLimit !== target.hopLimit) drift.push(`hop limit ${m.hopLimit ?? "unset"}`);
    if ((m.httpEndpoint ?? "enabled") !== target.httpEndpoint) drift.push(`endpoint ${m.httpEndpoint}`);
    if (drift.length > 0) {
      const tagged = t.tags[ns.tagKey] === ns.namespace;
      const skipped = tagged
        ? undefined
        : `not tagged ${ns.tagKey}=${ns.namespace}: the control plane writes only templates of its namespace`;
      findings.push({
        kind: "imds-launch-template",
        severity: "high",
        detail: `launch template ${t.name} (${t.id}) default version ${t.defaultVersion} launches non-compliant hosts (${drift.join(", ")})${skipped ? `; ${skipped}` : ""}`,
        evidence: { templateId: t.id, templateName: t.name, defaultVersion: t.defaultVersion },
      });
      plans.push({
        templateId: t.id,
        templateName: t.name,
        fromVersion: t.defaultVersion,
        desired: target,
        ...(skipped ? { skipped } : {}),
      });
    }
    const since = t.defaultCreatedAt ? Date.parse(t.defaultCreatedAt) : Number.NaN;
    const pinned = new Map<string, string[]>();
    for (const h of hosts) {
      const group = h.tags[ASG_NAME_TAG];
      const version = h.tags[LAUNCH_TEMPLATE_VERSION_TAG];
      if (!group || h.tags[LAUNCH_TEMPLATE_ID_TAG] !== t.id || version === undefined) continue;
      if (version === String(t.defaultVersion) || !(Date.parse(h.launchTime) > since)) continue;
      pinned.set(group, [...(pinned.get(group) ?? []), `${h.instanceId} (v${version})`]);
    }
    for (const [group, seen] of pinned)
      findings.push({
        kind: "imds-asg-pinned",
        severity: "medium",
        detail: `Auto Scaling group ${group} launched ${seen.join(", ")} from ${t.name} after its default version ${t.defaultVersion} existed: it pins a numbered version or $Latest; set it to $Default so template fixes reach new hosts`,
        evidence: { group, templateId: t.id, defaultVersion: t.defaultVersion },
      });
  }
  return { findings, plans };
}

/** AMIs of live hosts without `ImdsSupport: v2.0` (a host launched from them without options gets IMDSv1). */
export function judgeImages(hosts: readonly Host[], support: ReadonlyMap<string, string | undefined>): Finding[] {
  const byImage = new Map<string, number>();
  for (const h of hosts) if (h.imageId) byImage.set(h.imageId, (byImage.get(h.imageId) ?? 0) + 1);
  const findings: Finding[] = [];
  for (const [imageId, count] of [...byImage].sort(([a], [b]) => a.localeCompare(b))) {
    if (!support.has(imageId) || support.get(imageId) === "v2.0") continue;
    findings.push({
      kind: "imds-ami",
      // Informational: the launch template and account defaults decide first; this is the last line.
      severity: "info",
      detail: `AMI ${imageId} (${count} running host(s)) lacks ImdsSupport v2.0: instances launched from it without IMDS options allow IMDSv1; register the next image with --imds-support v2.0`,
      evidence: { imageId, hosts: count },
    });
  }
  return findings;
}
