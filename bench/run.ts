// `npm run bench`: bundle size + cold init per function (deployed / SDK bundled / core as a layer), then the drift
// audit, the naive baseline and one rotation on a moto fleet grown 500 → 2,000 → 10,000 hosts. Prints ONE table and
// writes bench/RESULTS.md. Env: BENCH_SIZES=500,2000 (subset), BENCH_COLD_SAMPLES (default 10, min 10 for the
// budget), BENCH_NAIVE_SAMPLE (hosts the naive baseline really describes per size, default 300), BENCH_SKIP_BUNDLES=1,
// BENCH_MAX_PASS_S (default 300: a size whose first audit pass takes longer on moto gets no fix/re-audit/rotation).
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";
import { performance } from "node:perf_hooks";
import { CreateTableCommand } from "@aws-sdk/client-dynamodb";
import { createClients } from "#core/adapters/clients";
import { consumedSecretIds } from "#core/domain/secrets";
import { MAX_IDS_PER_COMMAND } from "#core/domain/ssm";
import { localAwsEnv, startMoto } from "../scripts/lib/moto.ts";
import type { RunResult, Target } from "./lib/audit.ts";
import { type BundleRow, benchBundles } from "./lib/bundles.ts";
import { runNode } from "./lib/child.ts";
import { growFleet, redrift, SHARED_CONSUMERS, seedBenchFleet } from "./lib/fleet.ts";
import { auditVerdict, BUDGET, bundleVerdict, fmtCalls, fmtCold, renderTable, type TableRow } from "./lib/report.ts";
import { benchRollout, renderRolloutSection } from "./lib/rollout.ts";
import { type Job, WORKER_ERROR } from "./lib/worker.ts";

const started = performance.now();
const loadAtStart = loadavg()[0] ?? 0;
const log = (msg: string) =>
  process.stderr.write(`[bench ${((performance.now() - started) / 1000).toFixed(0)}s] ${msg}\n`);

// 10000 fits the 10-minute budget only on the indexed moto (startMoto({ indexedTags: true }) below); stock moto
// 5.2.1 needed > 1 h to seed and scan it.
const DEFAULT_SIZES = "500,2000,10000";
const SIZES = (process.env.BENCH_SIZES ?? DEFAULT_SIZES)
  .split(",")
  .map((s) => Number.parseInt(s.trim(), 10))
  .filter((n) => Number.isFinite(n) && n > 0)
  .sort((a, b) => a - b);
const COLD_SAMPLES = Math.max(1, Number(process.env.BENCH_COLD_SAMPLES ?? 10));
const NAIVE_SAMPLE = Math.max(1, Number(process.env.BENCH_NAIVE_SAMPLE ?? 300));
const MAX_PASS_S = Math.max(1, Number(process.env.BENCH_MAX_PASS_S ?? 300));
const NAMESPACE = "bench/fleet";
/** Rollout sizes (issue 12): BENCH_ROLLOUT_SIZES=2000 for one; BENCH_ONLY=rollout skips bundles and audits. */
const ROLLOUT_SIZES = (process.env.BENCH_ROLLOUT_SIZES ?? "2000,10000")
  .split(",")
  .map((s) => Number.parseInt(s.trim(), 10))
  .filter((n) => Number.isFinite(n) && n > 0);
/** Hosts of the same-run before/after baseline (the old single-item design and this one); 0 skips it. */
const ROLLOUT_BEFORE = Math.max(0, Number.parseInt(process.env.BENCH_ROLLOUT_BEFORE ?? "268", 10) || 0);
/** A rollout still delivering after this many seconds is stopped and reported as such, with where its time went. */
const ROLLOUT_MAX_S = Math.max(1, Number(process.env.BENCH_ROLLOUT_MAX_S ?? 1200));
const ONLY_ROLLOUT = process.env.BENCH_ONLY === "rollout";
let rolloutSection = "";
const ROLLOUT_TABLE = "dcp-bench-rollouts";

/** Runs one job in a fresh node process (its peak RSS is its own). */
async function inChild(job: Job): Promise<RunResult> {
  const { code, out, err } = await runNode(["--import", "tsx", "bench/lib/worker.ts", JSON.stringify(job)], {
    env: process.env,
  });
  const line = out.trim().split("\n").at(-1) ?? "";
  if (code === 0 && line.startsWith("{")) return JSON.parse(line) as RunResult;
  const lines = err.trim().split("\n");
  const why = lines.findLast((l) => l.startsWith(WORKER_ERROR))?.slice(WORKER_ERROR.length);
  throw new Error(`${job.kind} worker exited ${code}: ${why ?? lines.slice(-4).join(" | ")}`);
}

const rotations: { n: number; r?: RunResult }[] = [];
/** k hosts spread over the launch order (every service represented). */
function spread<T>(xs: T[], k: number): T[] {
  const out: T[] = [];
  const step = xs.length / k;
  // Host i runs service i mod 12: nudge each pick so the sample cycles through every service (and so every role).
  for (let i = 0; i < k; i++) {
    const at = Math.floor(i * step);
    const idx = at - (at % 12) + (i % 12);
    out.push(xs[Math.min(xs.length - 1, idx)] as T);
  }
  return out;
}

const rows: TableRow[] = [];
const rss = (r: RunResult) => `${r.peakRssMB} (base ${r.baseRssMB})`;
const notes: string[] = [];
const verdicts: string[] = [];

// ---------------------------------------------------------------- bundles
let bundles: BundleRow[] = [];
if (process.env.BENCH_SKIP_BUNDLES !== "1" && !ONLY_ROLLOUT) {
  log(`bundling every function (3 variants) and measuring cold init over ${COLD_SAMPLES} fresh processes each`);
  bundles = await benchBundles({ samples: COLD_SAMPLES, workDir: "bench/.work/bundles", onProgress: log });
  for (const b of bundles) {
    const v = bundleVerdict(b);
    rows.push({
      section: "bundle",
      item: `${b.logicalId} — ${b.variant}${b.variant === "layer" ? ` (+ core ${(b.layerBytes! / 1024).toFixed(0)} KB)` : ""}`,
      kb: (b.bytes / 1024).toFixed(0),
      cold: fmtCold(b),
      budget: b.variant === "deployed" ? v.text : `(alternative) ${v.text}`,
    });
    if (b.variant === "deployed") verdicts.push(`bundle+cold ${b.logicalId}: ${v.text}`);
  }
  const of = (variant: string) => bundles.filter((b) => b.variant === variant);
  const meanMedian = (xs: BundleRow[]) => xs.reduce((a, b) => a + b.cold.median, 0) / Math.max(1, xs.length);
  const dep = of("deployed");
  const lay = of("layer");
  const sdk = bundles.filter((b) => b.variant.startsWith("alt: "));
  const depKB = dep.reduce((a, b) => a + b.bytes, 0) / 1024;
  const layKB = (lay.reduce((a, b) => a + b.bytes, 0) + (lay[0]?.layerBytes ?? 0)) / 1024;
  const perFnLayerKB = lay.length ? lay.reduce((a, b) => a + b.bytes + (b.layerBytes ?? 0), 0) / 1024 / lay.length : 0;
  const depCold = meanMedian(dep);
  const layCold = meanMedian(lay);
  const sdkCold = meanMedian(sdk);
  const better = layCold < depCold ? "layer" : "bundled per function";
  const pct = (a: number, b: number) => `${(((b - a) / b) * 100).toFixed(0)}%`;
  rows.push({
    section: "layer vs bundle",
    item: `${dep.length} functions: each bundled (deployed) vs core as one layer file`,
    kb: `${depKB.toFixed(0)} vs ${layKB.toFixed(0)} total (per function incl. layer: ${(depKB / Math.max(1, dep.length)).toFixed(0)} vs ${perFnLayerKB.toFixed(0)})`,
    cold: `${depCold.toFixed(0)} vs ${layCold.toFixed(0)} (mean of medians)`,
    budget: `${better} is faster to init by ${Math.abs(depCold - layCold).toFixed(0)} ms (${pct(Math.min(depCold, layCold), Math.max(depCold, layCold))}); ${sdk[0]?.variant.slice(5) ?? "other SDK choice"}: ${sdkCold.toFixed(0)} ms`,
  });
  verdicts.push(
    `layer vs bundle: deployed bundles ${depCold.toFixed(0)} ms / ${depKB.toFixed(0)} KB total; layer ${layCold.toFixed(0)} ms / ${layKB.toFixed(0)} KB total (functions + one core file) → ${better} wins on cold init by ${Math.abs(depCold - layCold).toFixed(0)} ms`,
  );
  const net = bundles.reduce((a, b) => a + b.cold.networkAttempts, 0);
  notes.push(
    `Network at import: ${net} attempt(s) over ${bundles.length * COLD_SAMPLES} processes (TCP connect, DNS lookup and fetch trapped; AWS_ENDPOINT_URL pointed at a closed port).`,
  );
}

// ---------------------------------------------------------------- IAM judge (CPU)
{
  log("IAM judge: 12 distinct roles x 2,000 hosts in a fresh process");
  const { code, out, err } = await runNode(["--import", "tsx", "bench/lib/iam-judge.ts"], { env: process.env });
  const line = out.trim().split("\n").at(-1) ?? "";
  if (code !== 0 || !line.startsWith("{")) throw new Error(`iam-judge exited ${code}: ${err.trim().slice(-400)}`);
  const j = JSON.parse(line) as {
    roles: number;
    hosts: number;
    findings: number;
    rows: number;
    coldCpuMs: number;
    warmCpuMs: number;
    perRoleMs: number[];
  };
  const ok = j.coldCpuMs <= BUDGET.iamJudgeCpuMs;
  const text = `${ok ? "met" : "NOT met"}: ${j.coldCpuMs} ms CPU ${ok ? "≤" : ">"} ${BUDGET.iamJudgeCpuMs} ms (first pass in a fresh process; warm median of 5: ${j.warmCpuMs} ms)`;
  const sorted = [...j.perRoleMs].sort((a, b) => a - b);
  rows.push({
    section: "IAM judge",
    item: `${j.roles} roles (6 with one of issue 13's statements) judged for ${j.hosts} hosts: required grants + containment per role, fanned out, grouped`,
    hosts: String(j.hosts),
    wall: `${j.coldCpuMs} ms CPU`,
    budget: `${text}; ${j.findings} host findings in ${j.rows} table rows; per role (warm) median ${sorted[Math.floor(sorted.length / 2)]} ms, max ${sorted.at(-1)} ms`,
  });
  verdicts.push(`IAM judge ${j.roles} roles x ${j.hosts} hosts: ${text}`);
}

// ---------------------------------------------------------------- audits on moto
if (SIZES.length && !ONLY_ROLLOUT) {
  log("starting moto_server (indexed tag and instance lookups, scripts/lib/moto_indexed.py)");
  // Stock moto 5.2.1 is O(N²) here (every instance's tags come from a scan of the whole tag store); the patched
  // server gives the same answers with O(1) lookups per resource (test/integration/moto-indexed.test.ts).
  const moto = await startMoto({ indexedTags: true });
  Object.assign(process.env, localAwsEnv(moto.endpoint));
  try {
    const clients = createClients();
    await clients.dynamodb.send(
      new CreateTableCommand({
        TableName: ROLLOUT_TABLE,
        BillingMode: "PAY_PER_REQUEST",
        AttributeDefinitions: [{ AttributeName: "pk", AttributeType: "S" }],
        KeySchema: [{ AttributeName: "pk", KeyType: "HASH" }],
      }),
    );
    log("seeding roles, profiles, secrets, parameters, manifest (12 services)");
    const bf = await seedBenchFleet(NAMESPACE, clients);
    const target: Target = {
      namespace: NAMESPACE,
      manifestParam: bf.fleet.manifestParam,
      restartDocument: bf.fleet.documentName,
      rolloutTable: ROLLOUT_TABLE,
      region: bf.fleet.region,
    };
    const secrets = consumedSecretIds(bf.fleet.manifest).length;
    const sharedArn = bf.fleet.sharedSecretArn;
    let fixedBefore = false;
    for (const n of SIZES) {
      const t0 = performance.now();
      try {
        if (fixedBefore) log(`re-drifting ${await redrift(bf, clients)} hosts fixed by the previous size`);
        await growFleet(bf, n, clients, (d) => log(`seeded ${d}/${n} hosts`));
        log(`${n} hosts ready (${((performance.now() - t0) / 1000).toFixed(0)} s); audit`);
        const audit = await inChild({ kind: "audit", target, remediation: "none" });
        log(`audit ${n}: ${(audit.wallMs / 1000).toFixed(1)} s, ${audit.totalCalls} calls; naive baseline`);
        const sample = bf.hostIds.length <= NAIVE_SAMPLE ? [...bf.hostIds] : spread(bf.hostIds, NAIVE_SAMPLE);
        const naive = await inChild({ kind: "naive", target, hostIds: sample });
        log(`naive ${n} (${sample.length} hosts): ${(naive.wallMs / 1000).toFixed(1)} s; audit --fix`);
        // A guard, not the expected path: past MAX_PASS_S one pass is all a size gets.
        const slow = audit.wallMs / 1000 > MAX_PASS_S;
        const skipped = `not run: the first audit pass took ${(audit.wallMs / 1000).toFixed(0)} s on moto (> BENCH_MAX_PASS_S=${MAX_PASS_S})`;
        let fix: RunResult | undefined;
        let verify: RunResult | undefined;
        if (!slow) {
          fix = await inChild({ kind: "audit", target, remediation: "imds" });
          fixedBefore = true;
          log(`audit --fix ${n}: ${(fix.wallMs / 1000).toFixed(1)} s, fixed ${fix.imdsFixed}; re-audit`);
          verify = await inChild({ kind: "audit", target, remediation: "none" });
        }
        let rotation: RunResult | undefined;
        let rotationError: string | undefined;
        if (slow) rotationError = skipped;
        else if (sharedArn) {
          log(`rotation of the shared secret at ${n}`);
          try {
            rotation = await inChild({ kind: "rotation", target, secretArn: sharedArn, account: bf.fleet.account });
          } catch (err) {
            rotationError = (err as Error).message;
          }
        }

        const hostsOf = (r: RunResult) => String(r.hosts);
        const auditRow = (label: string, r: RunResult, fixes: number, extra = "") => {
          const v = auditVerdict(r, n, secrets, fixes);
          rows.push({
            section: `audit N=${n}`,
            item: label,
            hosts: hostsOf(r),
            calls: fmtCalls(r.apiCalls, r.totalCalls),
            wall: `${(r.wallMs / 1000).toFixed(1)}${r.scanMs !== undefined ? ` (scan ${(r.scanMs / 1000).toFixed(1)})` : ""}`,
            rss: rss(r),
            budget: `${v.text}${extra}${r.note ? `; ${r.note}` : ""}`,
          });
          verdicts.push(`audit calls/wall N=${n} ${label}: ${v.text}${extra}`);
        };
        const drifted = bf.drifted.size;
        auditRow("audit", audit, 0, `; IMDS findings ${audit.imdsFindings} (drifted hosts ${drifted})`);
        if (fix && verify) {
          auditRow("audit --fix imds", fix, fix.imdsFixed ?? 0, `; fixed ${fix.imdsFixed}`);
          const converged = verify.imdsFindings === 0;
          auditRow(
            "re-audit after fix",
            verify,
            0,
            `; ${converged ? "converged in one pass: 0 IMDS findings" : `NOT converged: ${verify.imdsFindings} IMDS findings left`}`,
          );
        } else {
          rows.push({ section: `audit N=${n}`, item: "audit --fix imds + re-audit", budget: skipped });
          verdicts.push(`audit --fix N=${n}: ${skipped}`);
        }

        // Naive: DescribeInstances scales per host; everything else is per role / per secret (already whole).
        const scale = n / sample.length;
        const naiveCalls: Record<string, number> = {};
        for (const [op, c] of Object.entries(naive.apiCalls))
          naiveCalls[op] = op === "EC2.DescribeInstances" ? Math.round(c * scale) : c;
        const naiveTotal = Object.values(naiveCalls).reduce((a, b) => a + b, 0);
        const naiveWall = naive.wallMs * scale;
        const sampled = sample.length < n;
        rows.push({
          section: `audit N=${n}`,
          item: sampled
            ? `naive baseline (measured on ${sample.length} hosts, extrapolated ×${scale.toFixed(1)})`
            : "naive baseline (every host)",
          hosts: sampled ? `${n} (${sample.length} measured)` : String(n),
          calls: `${sampled ? "≈" : ""}${fmtCalls(naiveCalls, naiveTotal)}`,
          wall: `${sampled ? "≈" : ""}${(naiveWall / 1000).toFixed(1)}`,
          rss: rss(naive),
          budget: `contrast: ${(naiveTotal / audit.totalCalls).toFixed(0)}× the audit's calls, ${(naiveWall / audit.wallMs).toFixed(1)}× its wall time`,
        });

        if (rotation) {
          rows.push({
            section: `audit N=${n}`,
            item: "one rotation → dispatch (shared RDS secret, 6 consumer services)",
            hosts: `${rotation.planned} planned, ${rotation.commands} SendCommand in wave 0`,
            calls: fmtCalls(rotation.apiCalls, rotation.totalCalls),
            wall: (rotation.wallMs / 1000).toFixed(1),
            rss: rss(rotation),
            budget: rotation.note ?? "",
          });
        } else if (rotationError) {
          const what = slow ? rotationError : `FAILED: ${rotationError}`;
          rows.push({ section: `audit N=${n}`, item: "one rotation → dispatch", budget: what });
          verdicts.push(`rotation N=${n}: ${what}`);
        }
        log(`size ${n} done (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
        rotations.push({ n, r: rotation });
      } catch (err) {
        const msg = (err as Error).message;
        log(`size ${n} FAILED: ${msg}`);
        rows.push({ section: `audit N=${n}`, item: "size aborted", budget: `FAILED: ${msg}` });
        verdicts.push(`audit N=${n}: FAILED: ${msg}`);
        break;
      }
      writeResults(false);
    }
    // Rotation growth: SendCommand is ⌈wave-0 hosts/50⌉ (the SSM limit), each with its step's two UpdateItems (claim,
    // sent); DescribeInstances ⌈N/1000⌉ pages (the EC2 page size); PutItem one per rollout step (≤ 50 hosts each,
    // written only if absent: issue 12's per-step items) plus the head and the idempotency record — all linear in the
    // fleet by design. Every other call must stay flat.
    const r = rotations.filter((x): x is { n: number; r: RunResult } => x.r !== undefined);
    if (r.length >= 2) {
      const pages = (x: RunResult) => x.apiCalls["EC2.DescribeInstances"] ?? 0;
      const sends = (x: RunResult) => x.apiCalls["SSM.SendCommand"] ?? 0;
      const puts = (x: RunResult) => x.apiCalls["DynamoDB.PutItem"] ?? 0;
      /** Steps of ≤ 50 hosts per consumer service, the head, the idempotency record. */
      const maxPuts = (x: RunResult) => Math.ceil((x.planned ?? 0) / MAX_IDS_PER_COMMAND) + SHARED_CONSUMERS.length + 2;
      const rest = r.map(({ r: x }) => x.totalCalls - 3 * sends(x) - pages(x) - puts(x));
      const flat = rest.every((f) => f <= (rest[0] ?? 0));
      const paged = r.every(({ n, r: x }) => pages(x) <= Math.ceil(n / 1000));
      const stepped = r.every(({ r: x }) => puts(x) <= maxPuts(x));
      const txt = r
        .map(
          ({ n, r: x }) =>
            `N=${n}: ${x.totalCalls} (${sends(x)} SendCommand, ${pages(x)} DescribeInstances pages, ${puts(x)} PutItem ≤ ${maxPuts(x)} for ${x.planned} planned)`,
        )
        .join("; ");
      verdicts.push(
        `rotation → dispatch, no call count growing with hosts × anything: ${flat && paged && stepped ? "met" : "NOT met"}: ${txt}; besides SendCommand (⌈wave-0 hosts/50⌉, the SSM limit, with 2 UpdateItem each), DescribeInstances (${paged ? "" : "NOT "}≤ ⌈N/1000⌉ pages) and PutItem (${stepped ? "" : "NOT "}≤ ⌈planned/50⌉ + ${SHARED_CONSUMERS.length} steps + 2) ${rest.join(" / ")} calls`,
      );
    }
  } finally {
    await moto.stop();
  }
}

// ---------------------------------------------------------------- rollouts (issue 12)
if (ROLLOUT_SIZES.length) {
  log(`rollouts of ${ROLLOUT_SIZES.join(", ")} hosts through the built tracker and reconciler`);
  const moto = await startMoto();
  try {
    Object.assign(process.env, localAwsEnv(moto.endpoint));
    rolloutSection = renderRolloutSection(
      await benchRollout(moto.endpoint, ROLLOUT_SIZES, log, {
        beforeHosts: ROLLOUT_BEFORE,
        maxSeconds: ROLLOUT_MAX_S,
        motoPid: moto.pid,
      }),
    );
  } finally {
    await moto.stop();
  }
}

if (ONLY_ROLLOUT) {
  // Replace only the rollout section of the existing results.
  const old = existsSync("bench/RESULTS.md") ? readFileSync("bench/RESULTS.md", "utf8") : "# Benchmark results\n";
  const block = /<!-- rollout -->[\s\S]*<!-- \/rollout -->/;
  const md = block.test(old) ? old.replace(block, rolloutSection) : `${old.trimEnd()}\n\n${rolloutSection}\n`;
  writeFileSync("bench/RESULTS.md", md);
  process.stdout.write(`${rolloutSection}\n`);
} else writeResults(true);
log("done; wrote bench/RESULTS.md");

// ---------------------------------------------------------------- output
/** Writes bench/RESULTS.md (after every size too, so a long run leaves its partial results); prints at the end. */
function writeResults(final: boolean): void {
  const totalS = (performance.now() - started) / 1000;
  const fullRun = SIZES.join(",") === DEFAULT_SIZES && process.env.BENCH_SKIP_BUNDLES !== "1";
  const budgetLines = [...verdicts];
  if (final)
    budgetLines.push(
      fullRun
        ? `whole bench < ${BUDGET.benchMinutes} min: ${totalS < BUDGET.benchMinutes * 60 ? "met" : "NOT met"}: ${(totalS / 60).toFixed(1)} min (sizes ${SIZES.join(", ")}, bundles included)`
        : `whole bench < ${BUDGET.benchMinutes} min: not measured by this run (a subset: sizes ${SIZES.join(", ") || "none"}${process.env.BENCH_SKIP_BUNDLES === "1" ? ", bundles skipped" : ""}); the subset took ${(totalS / 60).toFixed(1)} min`,
    );
  const machine = `${cpus().length} × ${cpus()[0]?.model.trim() ?? "cpu"}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}, load average ${loadAtStart.toFixed(1)} at start / ${(loadavg()[0] ?? 0).toFixed(1)} at end`;
  const md = [
    "# Benchmark results",
    "",
    `Generated by \`npm run bench\` on ${new Date().toISOString()} — ${machine}; sizes ${SIZES.join(", ") || "none"}; ${(totalS / 60).toFixed(1)} min in all.`,
    "",
    renderTable(rows),
    "",
    "## Budgets",
    "",
    ...budgetLines.map((v) => `- ${v}`),
    ...(final ? [] : ["- (run in progress: partial results)"]),
    "",
    "## Notes",
    "",
    ...notes.map((n) => `- ${n}`),
    "- Cold init = time to `import()` the handler module (not invoking it) in a fresh `node` with the function's template environment (no NODE_OPTIONS: source-mapped traces are off by default) and AWS_REGION set. `deployed` = the template's BuildProperties as they are; `source-mapped traces` = the same bundle with the template's SourceMappedStackTraces=true (NODE_OPTIONS=--enable-source-maps); `alt: sdk-bundled` / `alt: sdk-external` = the same with only the @aws-sdk/* External entry flipped (external = loaded from node_modules, as the nodejs22.x runtime would load its own copy); `layer` = `#core/*` external, served from one prebuilt ESM core file (the layer), which itself imports every SDK client the core uses.",
    "- Audit rows run in a fresh child process each (peak RSS = that process's maxRSS, tsx loader included), wired like functions/drift-audit (real adapters, one ApiCallCounter); API calls are the report's own `apiCalls` (manifest read included), the summary PutParameter the handler makes afterwards is shown separately. The fleet: 12 services each with its own role, 1 host in 4 with IMDS drift (IMDSv1 / hop limit 1 / both), one shared RDS master secret consumed by 6 services; 13 consumed secrets in all, so the budget allows 5 DescribeSecret beyond 8. Hosts fixed by `audit --fix` are drifted again before the next size.",
    "- moto does not implement SSM DescribeInstanceInformation (the unmanaged-host check answers 'unavailable' after 1 call) nor EC2 GetInstanceMetadataDefaults. On AWS the check costs ⌈N/50⌉ calls in the first audit (no stored state), then 1 sweep + ⌈(launches since + a rolling slice of ⌈N/144⌉)/50⌉ per hourly audit plus 1 GetParameter for the state (docs/design.md); the verdicts project both.",
    "- moto with indexed tag lookup (scripts/lib/moto_indexed.py, started by `startMoto({ indexedTags: true })`): same answers as stock moto 5.2.1 (test/integration/moto-indexed.test.ts compares both), O(1) per resource; stock moto 5.2.1 is O(N²) here, because it builds every instance's tag set by scanning the whole tag store (for the tag filter and again to serialise each instance) and finds an instance by id by copying every reservation. The patches cover those lookups only: moto still builds each DescribeInstances page by filtering all N instances and serialising 1,000 of them, so the `scan` figure in the wall column (DescribeInstances pages plus SDK parsing) is mostly moto's own per-instance serialisation cost, not what EC2 would take.",
    "- Wall times are on a shared 2-core machine (other work may run concurrently); moto's own per-call cost dominates the audit wall time.",
    "",
  ].join("\n");
  // A run without rollouts (BENCH_ROLLOUT_SIZES=0) keeps the rollout section the file already has.
  const kept = existsSync("bench/RESULTS.md")
    ? (/<!-- rollout -->[\s\S]*<!-- \/rollout -->/.exec(readFileSync("bench/RESULTS.md", "utf8"))?.[0] ?? "")
    : "";
  const section = rolloutSection || kept;
  const full = section ? `${md}\n${section}\n` : md;
  writeFileSync("bench/RESULTS.md", full);
  if (final) process.stdout.write(`${full}\n`);
}
