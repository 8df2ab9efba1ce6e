// Readable CLI output: plain-text tables and the operator's "what to do next" lines. Pure functions over the
// core's result types; nothing here talks to AWS.
import type { DrainReport, DriftReport } from "#core/app/audit-fleet";
import type { GuardResult } from "#core/app/guard-host";
import type { ReconcileReport } from "#core/app/rollout-engine";
import type { WhoCanReport } from "#core/app/who-can";
import { gatesBefore, policyLines, type RolloutPolicy } from "#core/domain/gates";
import type { Finding, ImdsOptions, Severity } from "#core/domain/model";
import type { RegistryReport } from "#core/domain/registry";
import {
  progressOf,
  type Rollout,
  type RolloutHead,
  type RolloutPlan,
  type RolloutProgress,
  type WaveStep,
} from "#core/domain/rollout";

/** A left-aligned table; the last column is never padded (long details wrap naturally). */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join("  ")
      .trimEnd();
  return [line(header), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}

const SEVERITY_ORDER: Severity[] = ["critical", "high", "medium", "low", "info"];

/** Clean means nothing above `info` (exempt hosts are reported as info and do not fail the audit). */
export function actionable(findings: Finding[]): Finding[] {
  return findings.filter((f) => f.severity !== "info");
}

export function sortFindings(findings: Finding[]): Finding[] {
  return [...findings].sort(
    (a, b) =>
      SEVERITY_ORDER.indexOf(a.severity) - SEVERITY_ORDER.indexOf(b.severity) ||
      (a.instanceId ?? "").localeCompare(b.instanceId ?? "") ||
      a.kind.localeCompare(b.kind),
  );
}

const ev = (f: Finding, key: string): string | undefined => {
  const v = f.evidence?.[key];
  return v === undefined ? undefined : String(v);
};

const DETAIL_WIDTH = 140;

/** The table's short form of a finding's detail (the full sentence is in --json). */
export function shortDetail(f: Finding): string {
  let d = f.instanceId && f.detail.startsWith(`${f.instanceId}: `) ? f.detail.slice(f.instanceId.length + 2) : f.detail;
  if (f.kind.startsWith("iam-") && ev(f, "action")) {
    const where = ev(f, "statement") ? ` [${ev(f, "policy")} / ${ev(f, "statement")}]` : "";
    const verb = f.kind === "iam-missing-grant" ? "cannot" : f.kind === "iam-unknown" ? "may" : "can";
    const risk = ev(f, "risk") ? `${ev(f, "risk")}: ` : "";
    d = `role ${ev(f, "roleName")}${where} ${risk}${verb} ${ev(f, "action")} on ${ev(f, "resource")}`;
  }
  return d.length > DETAIL_WIDTH ? `${d.slice(0, DETAIL_WIDTH - 1)}…` : d;
}

/** At most this many host ids in a grouped row; the rest are counted (`--json` lists every host). */
const HOSTS_SHOWN = 3;

/** The cause of an IAM finding: one role's statement (or probe) and risk. Other findings have no cause key. */
function iamCause(f: Finding): string | undefined {
  if (!f.kind.startsWith("iam-") || !ev(f, "roleName")) return undefined;
  const what = ev(f, "risk") ?? `${ev(f, "action")} ${ev(f, "resource")}`;
  return [f.kind, ev(f, "roleArn"), ev(f, "policy"), ev(f, "statement"), what].join("|");
}

/**
 * Findings as table rows: an IAM finding is one row per (role, statement, risk) naming the hosts it affects (one
 * evaluation per role fans out to every host: 12 hosts are one row, not 12); every other finding is one row per host.
 */
export function groupFindings(findings: Finding[]): { finding: Finding; hosts: string[] }[] {
  const rows: { finding: Finding; hosts: string[] }[] = [];
  const byCause = new Map<string, { finding: Finding; hosts: string[] }>();
  for (const f of sortFindings(findings)) {
    const cause = iamCause(f);
    const hit = cause === undefined ? undefined : byCause.get(cause);
    if (hit) {
      if (f.instanceId) hit.hosts.push(f.instanceId);
      continue;
    }
    const row = { finding: f, hosts: f.instanceId ? [f.instanceId] : [] };
    rows.push(row);
    if (cause !== undefined) byCause.set(cause, row);
  }
  return rows;
}

function hostsCell(hosts: string[]): string {
  if (hosts.length === 0) return "-";
  if (hosts.length <= HOSTS_SHOWN) return hosts.join(", ");
  return `${hosts.slice(0, HOSTS_SHOWN - 1).join(", ")} +${hosts.length - HOSTS_SHOWN + 1} more (${hosts.length} hosts)`;
}

export function findingsTable(findings: Finding[]): string {
  return table(
    ["HOSTS", "SERVICE", "KIND", "SEVERITY", "DETAIL"],
    groupFindings(findings).map(({ finding: f, hosts }) => [
      hostsCell(hosts),
      f.service ?? "-",
      f.kind,
      f.severity,
      shortDetail(f),
    ]),
  );
}

export function imdsText(o: ImdsOptions | null | undefined): string {
  if (!o) return "-";
  return `tokens=${o.httpTokens} hop-limit=${o.hopLimit} endpoint=${o.httpEndpoint}${o.state ? ` (${o.state})` : ""}`;
}

/** One line per distinct thing to do, most urgent first. */
export function nextSteps(
  report: DriftReport,
  haltedRollouts: Pick<RolloutHead, "rolloutId" | "haltReason">[],
): string[] {
  const steps: string[] = [];
  const seen = new Set<string>();
  const add = (s: string) => {
    if (!seen.has(s)) steps.push(s);
    seen.add(s);
  };
  const fixedImds = report.remediation.imds.filter((i) => i.applied).length;
  const plannedImds = report.remediation.imds.filter((i) => !i.applied && !i.error && !i.deferred).length;
  const failedImds = report.remediation.imds.filter((i) => i.error).length;
  // IAM: one line per (role, policy, statement, kind) listing what it wrongly allows/denies.
  const iam = new Map<string, { head: string; items: Map<string, Set<string>> }>();
  for (const f of actionable(report.findings)) {
    if ((f.kind !== "iam-excess-grant" && f.kind !== "iam-missing-grant") || !ev(f, "action")) continue;
    const where = ev(f, "policy")
      ? `policy ${ev(f, "policy")} (${ev(f, "policySource")}) statement ${ev(f, "statement")}`
      : undefined;
    const head =
      f.kind === "iam-excess-grant"
        ? `IAM: role ${ev(f, "roleName")}: narrow ${where ?? "its policies"}; it must not allow`
        : where
          ? `IAM: role ${ev(f, "roleName")}: ${where} denies what the service needs; allow`
          : `IAM: role ${ev(f, "roleName")}: add a statement allowing`;
    const g = iam.get(head) ?? { head, items: new Map<string, Set<string>>() };
    // Containment findings carry a risk class and one example request; probes carry the exact request.
    const action = ev(f, "risk") ? `${ev(f, "risk")}, e.g. ${ev(f, "action")}` : (ev(f, "action") ?? "?");
    g.items.set(action, (g.items.get(action) ?? new Set<string>()).add(ev(f, "resource") ?? "?"));
    iam.set(head, g);
  }
  for (const g of iam.values())
    add(`${g.head} ${[...g.items].map(([a, rs]) => `${a} on ${[...rs].join(", ")}`).join("; ")}`);
  for (const f of sortFindings(actionable(report.findings))) {
    switch (f.kind) {
      case "iam-unknown":
        add(`IAM: role ${ev(f, "roleName") ?? "(unknown)"}: review manually (${shortDetail(f)})`);
        break;
      case "imds-tokens-optional":
      case "imds-hop-limit":
      case "imds-endpoint-disabled":
        if (fixedImds === 0)
          add(
            plannedImds > 0
              ? "IMDS: run `dcp audit --fix imds` without --dry-run to apply the planned modifications"
              : "IMDS: run `dcp audit --fix imds` (or `dcp guard <instance-id>` for one host)",
          );
        break;
      case "stale-credentials":
        if (!report.remediation.restarts.some((r) => r.action === "restart"))
          add("stale credentials: run `dcp audit --fix` to restart the stale hosts through a rolling restart");
        break;
      case "no-instance-profile":
        add(`${f.instanceId}: attach the instance profile of service '${f.service}'`);
        break;
      case "unknown-service":
        add(`${f.instanceId}: add its service to the manifest (dcp manifest push) or fix its Service tag`);
        break;
      case "secret-missing":
        add(`secrets: ${f.detail}: create it or remove it from the manifest`);
        break;
      case "unmanaged-host":
        add(`${f.instanceId}: bring its SSM agent online (restarts cannot reach it)`);
        break;
      case "imds-defaults":
        add(
          f.evidence?.["managedBy"] === "declarative-policy"
            ? "account: the IMDS defaults are pinned by an organisation declarative policy: change it there"
            : "account: set imds.manageAccountDefaults: true and run `dcp audit --fix imds`, or aws ec2 modify-instance-metadata-defaults --http-tokens required --http-put-response-hop-limit 2 --http-tokens-enforced enabled",
        );
        break;
      case "imds-launch-template":
        add(
          report.remediation.sources.some((x) => x.source.startsWith("launch template") && x.action === "applied")
            ? "launch templates: new compliant default versions were made; run `dcp audit` again to confirm"
            : "launch templates: run `dcp audit --fix imds --dry-run` to see the new default versions, then without --dry-run (templates must carry the namespace tag)",
        );
        break;
      case "imds-asg-pinned":
      case "imds-ami":
      case "imds-exempt-expired":
      case "proxy-bypasses-imds":
      case "static-keys-shadow-profile":
        add(`${f.instanceId ? `${f.instanceId}: ` : ""}${shortDetail(f)}`);
        break;
      case "trigger-trail-missing":
        add(
          "rotation triggers: create a logging multi-region CloudTrail trail with management write events (aws cloudtrail create-trail --is-multi-region-trail …, then start-logging); until then rotations reach the control plane by the label event and the reconciler only",
        );
        break;
      case "host-check-failed":
        add("host checks: look at the failed invocations (aws ssm list-command-invocations --details)");
        break;
      case "service-without-hosts":
        add(`service '${f.service}': no running host (expected? otherwise check the launch template)`);
        break;
      default:
        break;
    }
  }
  if (fixedImds > 0) add(`IMDS fixed on ${fixedImds} host(s): run \`dcp audit\` again to confirm`);
  if (failedImds > 0)
    add(`IMDS fix refused on ${failedImds} host(s): see the errors above, then \`dcp guard <instance-id>\``);
  for (const r of report.remediation.restarts)
    if (r.action === "restart" && r.rolloutId) add(`follow the catch-up restart: dcp rollout status ${r.rolloutId}`);
  for (const r of haltedRollouts)
    add(
      `rollout ${r.rolloutId} is halted (${r.haltReason ?? "failure"}): fix the host, then dcp rollout resume ${r.rolloutId}`,
    );
  return steps;
}

/** Seconds as `1h02m`, `5m31s` or `12s`. */
export function duration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s >= 3600) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
  if (s >= 60) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${s}s`;
}

/** The instance drain: done this run, left for the next runs and their ETA at the configured pace. */
export function drainLine(d: DrainReport, dryRun: boolean): string {
  const pace = `${d.refillPerSecond}/s, burst ${d.burst}`;
  if (dryRun) return `IMDS drain planned: ${d.total} host(s), ≈ ${duration(d.etaSeconds)} at ${pace}`;
  const left = d.deferred > 0 ? `; ${d.deferred} left for the next run(s), ETA ${duration(d.etaSeconds)}` : "";
  return `IMDS drain: ${d.applied}/${d.total} fixed${d.failed ? `, ${d.failed} failed` : ""} at ${pace}${left}`;
}

/** Readiness for IMDSv2 per service, and hosts whose last modification is still in flight. */
export function imdsLines(report: DriftReport): string[] {
  const out: string[] = [];
  const r = report.imds.readiness;
  if (r && r.services.length > 0) {
    out.push(`IMDSv2 readiness (MetadataNoToken, last ${r.days} days):`);
    out.push(
      table(
        ["SERVICE", "HOSTS", "ENFORCED", "READY", "NOT-READY", "UNKNOWN"],
        r.services.map((s) => [s.service, s.hosts, s.enforced, s.ready, s.notReady, s.unknown].map((x) => String(x))),
      )
        .split("\n")
        .map((l) => `  ${l}`)
        .join("\n"),
    );
  }
  if (report.imds.inFlight.length > 0)
    out.push(
      `IMDS in flight: ${report.imds.inFlight.length} host(s) still 'pending' at EC2 (judged by the next audit)`,
    );
  return out;
}

export function hostCheckLine(h: DriftReport["hostChecks"]): string {
  const parts: string[] = [];
  const c = h.collected;
  if (c)
    parts.push(
      `command ${c.commandId}: ${c.answered}/${c.hosts} host(s) answered${c.pending ? `, ${c.pending} still running` : ""}${c.failed ? `, ${c.failed} failed` : ""}`,
    );
  if (h.sent) parts.push(`sent ${h.sent.commandId} (collected by the next audit)`);
  return `Host credential check: ${parts.length ? parts.join("; ") : "not run (dcp audit --host-checks)"}`;
}

/** How the unmanaged-host check ran: its cost grows with the candidates, not the fleet, unless it is full. */
export function registryLine(r: RegistryReport): string {
  if (r.mode === "unavailable") return `Unmanaged-host check: skipped (${r.reason})`;
  const lines = [`Unmanaged-host check: ${r.mode}, ${r.candidates} candidate(s) asked by id (${r.reason})`];
  if (r.note) lines.push(`  ${r.note}`);
  return lines.join("\n");
}

export function auditText(report: DriftReport, halted: Pick<RolloutHead, "rolloutId" | "haltReason">[]): string {
  const out: string[] = [];
  out.push(
    `Fleet ${report.namespace}: ${report.scannedHosts} host(s), ${report.roles} role(s), ${report.secrets} secret(s) checked at ${report.generatedAt}`,
  );
  out.push("");
  if (report.findings.length === 0) out.push("No findings: the fleet matches its manifest.");
  else out.push(findingsTable(report.findings));
  out.push("");
  out.push("Summary by kind:");
  const kinds = Object.entries(report.summary).sort(([a], [b]) => a.localeCompare(b));
  if (kinds.length === 0) out.push("  (none)");
  for (const [kind, n] of kinds) out.push(`  ${kind.padEnd(24)} ${n}`);
  out.push(registryLine(report.registry));
  out.push(...imdsLines(report));
  out.push(hostCheckLine(report.hostChecks));
  const calls = Object.values(report.apiCalls).reduce((a, b) => a + b, 0);
  out.push(
    `API calls: ${calls} (${
      Object.entries(report.apiCalls)
        .map(([k, v]) => `${k}=${v}`)
        .join(", ") || "none"
    })`,
  );
  out.push("");
  const rem = report.remediation;
  const verb = rem.dryRun ? "planned" : "done";
  out.push(`Remediation (${rem.mode}${rem.dryRun ? ", dry run" : ""}):`);
  if (rem.mode === "none") out.push("  none requested (use --fix [imds|imds+restart])");
  else {
    for (const f of rem.sources) out.push(`  source ${f.source}: ${f.action} (${f.detail})`);
    if (rem.drain) out.push(`  ${drainLine(rem.drain, rem.dryRun)}`);
    out.push(
      `  IMDS ${verb}: ${rem.imds.length ? rem.imds.map((i) => `${i.instanceId}${i.applied ? "" : i.error ? ` (failed: ${i.error})` : i.deferred ? " (next run)" : " (planned)"}`).join(", ") : "nothing to fix"}`,
    );
    if (rem.mode === "imds+restart") {
      if (rem.restarts.length === 0) out.push("  restarts: no stale hosts");
      for (const r of rem.restarts) {
        out.push(`  restart ${r.action}: ${r.secretName ?? "?"} ${r.rolloutId ?? ""} — ${r.reason}`);
        for (const w of r.plan.waves) out.push(`    wave ${w.wave} ${w.service}: ${w.targetIds.join(", ")}`);
        for (const c of r.commands)
          out.push(`    sent ${c.commandIds.join(",")} (${c.service}): ${c.targetIds.join(", ")}`);
      }
    }
  }
  const steps = nextSteps(report, halted);
  out.push("");
  out.push("What to do next:");
  if (steps.length === 0) out.push("  nothing");
  for (const s of steps) out.push(`  - ${s}`);
  return out.join("\n");
}

export function guardText(r: GuardResult): string {
  const out = [`Instance ${r.instanceId} (${r.namespace}${r.service ? `, service ${r.service}` : ""}): ${r.status}`];
  if (r.reason) out.push(`  reason: ${r.reason}`);
  if (r.status === "guarded") {
    out.push(`  IMDS before: ${imdsText(r.imds.before)}`);
    out.push(`  IMDS after:  ${imdsText(r.imds.after)}`);
    out.push(
      `  IMDS action: ${r.imds.action}${r.imds.changed ? " (modified)" : r.dryRun ? " (dry run: not applied)" : ""}`,
    );
    out.push(`  IAM: role ${r.iam.role ?? "-"}, verdict ${r.iam.verdict}`);
    const tags = Object.entries(r.tags).map(([k, v]) => `${k}=${v}`);
    if (tags.length) out.push(`  tags ${r.dryRun ? "to write" : "written"}: ${tags.join(", ")}`);
  }
  if (r.findings.length) {
    out.push("");
    out.push(findingsTable(r.findings));
  }
  return out.join("\n");
}

export function wavesTable(waves: WaveStep[]): string {
  return table(
    ["WAVE", "SERVICE", "TARGETS", "IDS"],
    waves.map((w) => [String(w.wave), w.service, String(w.targetIds.length), w.targetIds.join(", ")]),
  );
}

/** The plan's steps with each command's MaxConcurrency and the gates its wave waits for. */
function gatedWavesTable(waves: WaveStep[], policy: RolloutPolicy): string {
  return table(
    ["WAVE", "SERVICE", "TARGETS", "CONCURRENCY", "WAITS FOR", "IDS"],
    waves.map((w, i) => [
      `${w.wave}${w.part ? `.${w.part}` : ""}`,
      w.service,
      String(w.targetIds.length),
      w.maxConcurrency ?? "-",
      gatesBefore(policy, waves, i),
      w.targetIds.join(", "),
    ]),
  );
}

export function planText(
  plan: Pick<RolloutPlan, "rolloutId" | "secretName" | "versionId" | "waves" | "skipped" | "policy">,
  reads: { service: string; readsPerRestart: number }[] = [],
): string {
  const count = (kind: string) => plan.waves.filter((w) => w.kind === kind).reduce((n, w) => n + w.targetIds.length, 0);
  const ecs = count("ecs-service");
  const waves = plan.policy ? gatedWavesTable(plan.waves, plan.policy) : wavesTable(plan.waves);
  const out = [
    `Restart plan for ${plan.secretName} (AWSCURRENT ${plan.versionId}), rollout ${plan.rolloutId}:`,
    `${count("host")} host(s)${ecs ? ` and ${ecs} ECS service(s) (one new deployment each)` : ""} in ${new Set(plan.waves.map((w) => w.wave)).size} wave(s); nothing was sent.`,
    ...(plan.policy ? policyLines(plan.policy, reads) : []),
    "",
    plan.waves.length ? waves : "No consumer needs or can take the restart.",
  ];
  if (plan.skipped.length) {
    out.push("", "Skipped:");
    out.push(
      table(
        ["TARGET", "SERVICE", "REASON"],
        plan.skipped.map((s) => [s.targetId, s.service, s.reason]),
      ),
    );
  }
  return out.join("\n");
}

/** One line of progress: wave, done / in flight / failed, and an ETA from the rate since watching began. */
export function progressLine(
  p: RolloutProgress,
  clock?: { startedAt: number; startDone: number; now: number },
): string {
  const finished = p.succeeded + p.failed + p.skipped;
  let eta = "";
  if (clock && p.status === "running") {
    const rate = (p.succeeded - clock.startDone) / Math.max(1, (clock.now - clock.startedAt) / 1000);
    if (rate > 0) eta = `, ETA ${Math.ceil((p.targets - finished) / rate)} s`;
  }
  return (
    `${p.rolloutId} ${p.status} wave ${p.wave ?? "-"} (${p.waveIndex + 1}/${p.waves}): ` +
    `${p.succeeded}/${p.targets} done, ${p.inFlight} in flight, ${p.failed} failed, ${p.skipped} skipped, ${p.pending} pending${eta}` +
    (p.haltReason ? ` — halted: ${p.haltReason}` : "")
  );
}

export function rolloutText(r: Rollout): string {
  const rows: string[][] = [];
  for (const s of r.steps)
    for (const id of s.targetIds) {
      const state = s.ok.includes(id)
        ? "succeeded"
        : s.bad.includes(id)
          ? `failed: ${s.why[id] ?? "?"}`
          : s.skip.includes(id)
            ? `skipped: ${s.why[id] ?? "?"}`
            : s.state === "planned"
              ? "pending"
              : s.state;
      rows.push([id, s.service, String(s.wave), state, s.commandIds.join(",") || "-"]);
    }
  return [
    `Rollout ${r.rolloutId}: ${r.status}${r.haltReason ? ` (${r.haltReason})` : ""}`,
    `  secret ${r.secretName} version ${r.versionId}; updated ${r.updatedAt}`,
    `  ${progressLine(progressOf(r))}`,
    ...(r.hold ? [`  ${r.hold.reason} (since ${r.hold.since})`] : []),
    ...(r.skippedCount > 0 ? [`  ${r.skippedCount} consumer(s) skipped at planning (dcp rollout status --json)`] : []),
    "",
    table(["TARGET", "SERVICE", "WAVE", "STATE", "COMMAND"], rows),
  ].join("\n");
}

export function rolloutListText(rs: RolloutHead[]): string {
  if (rs.length === 0) return "No rollouts.";
  return table(
    ["ROLLOUT", "STATUS", "WAVE", "DONE", "SECRET", "CREATED"],
    rs.map((r) => {
      const targets = r.waves.reduce((n, w) => n + w.targets, 0);
      const done = r.done.reduce((n, d) => n + d, 0);
      return [
        r.rolloutId,
        r.status,
        String(r.waves[r.current]?.wave ?? "-"),
        `${done}/${targets}`,
        r.secretName,
        r.createdAt,
      ];
    }),
  );
}

/** `dcp iam who-can`: one row per role that can (or may) read the target, its hosts and the statements. */
export function whoCanText(r: WhoCanReport): string {
  const what = r.target.kind === "secret" ? `secret ${r.target.arn}` : `parameter ${r.target.path}`;
  const out = [
    `Who can read ${what} in ${r.namespace}: ${r.readers.length} of ${r.roles} fleet role(s) (${r.scannedHosts} host(s) scanned)`,
    "",
  ];
  if (r.readers.length === 0) out.push("No fleet role can read it.");
  else
    out.push(
      table(
        ["ROLE", "DECISION", "SERVICES", "HOSTS", "VIA"],
        r.readers.map((x) => [
          x.roleName,
          x.decision,
          x.services.join(", ") || "-",
          hostsCell(x.hosts),
          x.via
            .map(
              (v) =>
                `${v.action} on ${v.resource}${v.statements.length ? ` [${v.statements.map((s) => `${s.policy} / ${s.sid ?? `#${s.index}`}`).join(", ")}]` : ""}`,
            )
            .join("; "),
        ]),
      ),
    );
  out.push(
    "",
    "Identity policies and permission boundaries only: a resource or KMS key policy can narrow this further.",
  );
  return out.join("\n");
}

export function reconcileText(reports: (ReconcileReport & { error: string | null })[], dryRun: boolean): string {
  if (reports.length === 0) return "No open rollouts.";
  const out: string[] = [];
  for (const r of reports) {
    out.push(
      `${r.rolloutId}: ${r.status}${r.wave !== undefined ? ` (wave ${r.wave})` : ""}${r.error ? ` — error: ${r.error}` : ""}`,
    );
    if (r.actions.length === 0 && !r.error) out.push("  nothing to do");
    for (const a of r.actions) out.push(`  ${a}`);
  }
  if (dryRun) out.push("", "Dry run: nothing was written or sent.");
  return out.join("\n");
}
