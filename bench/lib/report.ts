// Budgets and the one results table (markdown; the same text goes to stdout and bench/RESULTS.md).
import { rollingSlice } from "#core/domain/registry";
import { MAX_IDS_PER_INSTANCE_INFORMATION_FILTER } from "#core/domain/ssm";
import type { RunResult } from "./audit.ts";
import type { BundleRow } from "./bundles.ts";

export const BUDGET = {
  bundleKB: 600,
  /** Functions that evaluate IAM carry the evaluator, the containment engine and the action catalog (≈ 90 KB). */
  iamBundleKB: 650,
  coldMs: 120,
  auditWallS: 60,
  auditWallAtHosts: 10_000,
  benchMinutes: 10,
  /** 12 distinct roles judged for 2,000 hosts (containment + required grants + fan-out), CPU time. */
  iamJudgeCpuMs: 1000,
};

/** The module that makes a bundle IAM-evaluating (its budget is iamBundleKB). */
export const IAM_EVALUATOR_MODULE = "layers/core/src/domain/iam/evaluator.ts";

/** The size budget of a bundle built from `inputs` (source paths, as esbuild's metafile or source map names them). */
export function bundleBudgetKB(inputs: readonly string[]): number {
  return inputs.some((p) => p.endsWith(IAM_EVALUATOR_MODULE)) ? BUDGET.iamBundleKB : BUDGET.bundleKB;
}

export interface Verdict {
  met: boolean;
  text: string;
}
const met = (ok: boolean, why: string): Verdict => ({ met: ok, text: `${ok ? "met" : "NOT met"}: ${why}` });

/** ⌈N/1000⌉ + 10 + one ModifyInstanceMetadataOptions per fixed host + one DescribeSecret per secret beyond 8. */
export function auditCallBudget(hosts: number, fixes: number, secrets: number): number {
  return Math.ceil(hosts / 1000) + 10 + fixes + Math.max(0, secrets - 8);
}

const HOUR_MS = 3_600_000;

/**
 * What real AWS would cost where moto does not implement the call (SSM DescribeInstanceInformation, ≤ 50 ids per
 * call), for the two kinds of audit the registry check makes: the first one, with no stored state, asks about every
 * host (⌈N/50⌉); an hourly one reads the state (+1 GetParameter), sweeps the unreachable nodes (1 call) and asks about
 * the rolling pass's slice (the domain's own rollingSlice) — no launches between audits in this fleet.
 */
export function awsProjectedCalls(r: RunResult, hosts: number): { first: number; hourly: number } | undefined {
  const onMoto = r.apiCalls["SSM.DescribeInstanceInformation"] ?? 0;
  if (onMoto === 0) return undefined;
  const base = r.totalCalls - onMoto;
  const ids = Array.from({ length: hosts }, (_, i) => `i-${i.toString(16).padStart(17, "0")}`);
  const slice = rollingSlice(ids, undefined, HOUR_MS).ids.length;
  const calls = (ids: number) => Math.ceil(ids / MAX_IDS_PER_INSTANCE_INFORMATION_FILTER);
  return { first: base + calls(hosts), hourly: base + 1 + 1 + calls(slice) };
}

export function auditVerdict(r: RunResult, hosts: number, secrets: number, fixes: number): Verdict {
  const budget = auditCallBudget(hosts, fixes, secrets);
  const aws = awsProjectedCalls(r, hosts);
  const calls = r.totalCalls <= budget;
  const parts = [`${r.totalCalls} calls ≤ ${budget}`];
  if (!calls) parts[0] = `${r.totalCalls} calls > ${budget}`;
  let ok = calls;
  if (hosts >= BUDGET.auditWallAtHosts) {
    const s = r.wallMs / 1000;
    ok &&= s < BUDGET.auditWallS;
    parts.push(`${s.toFixed(1)} s ${s < BUDGET.auditWallS ? "<" : "≥"} ${BUDGET.auditWallS} s`);
  }
  const v = met(ok, parts.join(", "));
  if (aws)
    v.text +=
      `; on AWS (DescribeInstanceInformation projected, moto lacks it): hourly audits ≈${aws.hourly} calls ` +
      `(${aws.hourly <= budget ? "met" : "NOT met"}), the first audit with no stored state ≈${aws.first} ` +
      `(${aws.first <= budget ? "met" : "NOT met: ⌈N/50⌉ ids asked once"})`;
  return v;
}

export function bundleVerdict(b: BundleRow): Verdict {
  const kb = b.bytes / 1024;
  const budgetKB = bundleBudgetKB(b.inputs);
  const why: string[] = [];
  if (kb > budgetKB) why.push(`${kb.toFixed(0)} KB > ${budgetKB}`);
  if (b.cold.median > BUDGET.coldMs) why.push(`cold ${b.cold.median.toFixed(0)} ms > ${BUDGET.coldMs}`);
  if (b.cold.networkAttempts > 0) why.push(`${b.cold.networkAttempts} network attempt(s) at import`);
  if (b.cold.errors.length) why.push(`import failed: ${b.cold.errors[0]}`);
  return why.length
    ? met(false, why.join(", "))
    : met(
        true,
        `≤ ${budgetKB} KB${budgetKB > BUDGET.bundleKB ? " (evaluates IAM)" : ""}, ≤ ${BUDGET.coldMs} ms, no network`,
      );
}

export interface TableRow {
  section: string;
  item: string;
  kb?: string;
  cold?: string;
  hosts?: string;
  calls?: string;
  wall?: string;
  rss?: string;
  budget: string;
}

export function fmtCalls(calls: Record<string, number>, total?: number): string {
  const t = total ?? Object.values(calls).reduce((a, b) => a + b, 0);
  const ops = Object.entries(calls)
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .map(([k, v]) => `${k} ${v}`)
    .join(", ");
  return `**${t}**: ${ops}`;
}

export const fmtCold = (b: BundleRow) =>
  `${b.cold.median.toFixed(0)} (${b.cold.min.toFixed(0)}–${b.cold.max.toFixed(0)}), n=${b.cold.samples.length}`;

export function renderTable(rows: TableRow[]): string {
  const head = [
    "section",
    "item",
    "KB",
    "cold init ms median (min–max)",
    "hosts",
    "API calls",
    "wall s",
    "peak RSS MB",
    "budget",
  ];
  const esc = (s: string | undefined) => (s ?? "–").replaceAll("|", "\\|");
  const lines = [`| ${head.join(" | ")} |`, `|${head.map(() => "---").join("|")}|`];
  for (const r of rows)
    lines.push(
      `| ${[r.section, r.item, r.kb, r.cold, r.hosts, r.calls, r.wall, r.rss, r.budget].map(esc).join(" | ")} |`,
    );
  return lines.join("\n");
}
