// dcp — the operator CLI of delphi-control-plane: a thin shell over the core's use cases.
// Exit codes: 0 ok/clean, 1 findings / halted rollout / refused action, 2 error (one line on stderr;
// the stack only with DCP_DEBUG=1).
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { stringify as toYaml } from "yaml";
import { auditFleet, type Remediation, readRegistryState } from "#core/app/audit-fleet";
import { tagKeysFromEnv } from "#core/app/config";
import { guardHost } from "#core/app/guard-host";
import { dispatchWave, reconcileRollouts } from "#core/app/rollout-engine";
import { confirmRotation, isFact, planForFact } from "#core/app/rotate-secret";
import { whoCan } from "#core/app/who-can";
import { InvalidInputError } from "#core/domain/errors";
import type { HostCheckState } from "#core/domain/host-check";
import { parseReadTarget, type ReadTarget } from "#core/domain/iam/who-can";
import { checkTagKeys, defaultManifestParam, type Manifest, type TagKeys } from "#core/domain/manifest";
import { parseManifestFile } from "#core/domain/manifest-yaml";
import { progressOf, type Rollout, type RolloutHead, resetForResume, toSend } from "#core/domain/rollout";
import {
  actionable,
  auditText,
  duration,
  guardText,
  planText,
  progressLine,
  reconcileText,
  rolloutListText,
  rolloutText,
  whoCanText,
} from "./lib/render.ts";
import {
  type CliContext,
  CliError,
  cliContext,
  cliDeps,
  cliManifest,
  type GlobalOptions,
  rolloutStore,
} from "./lib/wiring.ts";

export const USAGE = `usage: dcp <command> [options]

commands:
  audit [--fix [imds|imds+restart]] [--dry-run] [--full-registry] [--host-checks]
                                                   fleet drift audit (exit 1 on findings); the unmanaged-host
                                                   check asks SSM about hosts launched since the last scheduled
                                                   audit (its summary, read only), --full-registry about every host;
                                                   --fix imds fixes IMDS sources first, then drains the hosts at
                                                   the manifest's pace (imds.drain) with progress and an ETA;
                                                   --host-checks runs the read-only host credential check on every
                                                   host (proxy vs IMDS, static keys) and waits for the answers
  guard <instance-id> [--dry-run]                  launch guard for one host (IMDS + IAM scope)
  restart plan <secret-id>                         the rolling restart a rotation would run; sends nothing
  rollout list | status <id> | watch <id> [--interval S] | resume <id> [--dry-run] | reconcile [<id>] [--dry-run]
                                                   rollouts: exit 0 succeeded/running, 1 halted
  manifest validate <file> | push <file> [--dry-run]
  iam who-can <secret ARN | secret name | /parameter/path>
                                                   the fleet roles (and their hosts) that can read it, naming the
                                                   statements (identity policies + boundary; one bulk IAM read)

options (every command):
  --namespace NS        fleet namespace (default: DCP_NAMESPACE)
  --manifest-param P    manifest parameter (default: DCP_MANIFEST_PARAM or /{ns}/control-plane/manifest)
  --region R            AWS region (default: AWS_REGION or the profile's)
  --rollout-table T     rollout table (default: DCP_ROLLOUT_TABLE)
  --json                machine-readable output only
Tag keys: DCP_NAMESPACE_TAG_KEY / DCP_SERVICE_TAG_KEY (default Namespace / Service), the stack's NamespaceTagKey /
ServiceTagKey; manifest push fills them into a file without tags and refuses one naming other keys.
AWS_ENDPOINT_URL points every client at an emulator; credentials come from the standard chain.`;

export interface Io {
  out(text: string): void;
  err(text: string): void;
  env: NodeJS.ProcessEnv;
  stderrIsTty: boolean;
  stdoutIsTty?: boolean;
}

const defaultIo = (): Io => ({
  out: (t) => process.stdout.write(t.endsWith("\n") ? t : `${t}\n`),
  err: (t) => process.stderr.write(t),
  env: process.env,
  stderrIsTty: Boolean(process.stderr.isTTY),
  stdoutIsTty: Boolean(process.stdout.isTTY),
});

const OPTIONS = {
  namespace: { type: "string" },
  "manifest-param": { type: "string" },
  region: { type: "string" },
  "rollout-table": { type: "string" },
  json: { type: "boolean", default: false },
  "dry-run": { type: "boolean", default: false },
  fix: { type: "string" },
  "full-registry": { type: "boolean", default: false },
  "host-checks": { type: "boolean", default: false },
  interval: { type: "string" },
  help: { type: "boolean", short: "h", default: false },
} as const;

const FIX_MODES = new Set(["imds", "imds+restart"]);
const INSTANCE_ID = /^i-(?:[0-9a-f]{8}|[0-9a-f]{17})$/;

/** `--fix` alone means imds+restart; `--fix imds` / `--fix=imds` narrow it. */
function normaliseFix(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--fix") {
      const next = argv[i + 1];
      if (next !== undefined && FIX_MODES.has(next)) {
        out.push(`--fix=${next}`);
        i++;
      } else out.push("--fix=imds+restart");
    } else out.push(a);
  }
  return out;
}

type Parsed = ReturnType<typeof parse>;

function parse(argv: string[]) {
  try {
    return parseArgs({ args: normaliseFix(argv), options: OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    throw new CliError(`${(err as Error).message.split("\n")[0]} (dcp --help)`);
  }
}

function globals(p: Parsed): GlobalOptions {
  const v = p.values;
  return {
    ...(v.namespace ? { namespace: v.namespace } : {}),
    ...(v["manifest-param"] ? { manifestParam: v["manifest-param"] } : {}),
    ...(v.region ? { region: v.region } : {}),
    ...(v["rollout-table"] ? { rolloutTable: v["rollout-table"] } : {}),
  };
}

function arg(p: Parsed, index: number, what: string): string {
  const v = p.positionals[index];
  if (!v) throw new CliError(`missing ${what} (dcp --help)`);
  return v;
}

const json = (x: unknown): string => JSON.stringify(x, null, 2);

// ---------------------------------------------------------------- commands

async function audit(p: Parsed, io: Io): Promise<number> {
  const fix = p.values.fix;
  if (fix !== undefined && !FIX_MODES.has(fix)) throw new CliError(`--fix takes imds or imds+restart, not '${fix}'`);
  const remediation: Remediation = (fix as Remediation | undefined) ?? "none";
  const dryRun = p.values["dry-run"];
  const ctx = await cliContext(globals(p), io.env);
  if (remediation === "imds+restart" && !dryRun && !ctx.config.rolloutTable)
    throw new CliError("--fix imds+restart records its rollout: pass --rollout-table NAME or set DCP_ROLLOUT_TABLE");
  const deps = cliDeps(ctx, "bulk");
  const manifest = await cliManifest(ctx, deps);
  // The scheduled audit owns the state: the CLI reads it to stay cheap and never writes it.
  const state = p.values["full-registry"] ? {} : await readRegistryState(deps.params, ctx.config.auditSummaryParam);
  const progress = io.stderrIsTty || io.env.DCP_PROGRESS === "1";
  const tty = io.stderrIsTty;
  const onProgress = progress
    ? (stage: string, done: number, total?: number, eta?: number) =>
        io.err(
          `${tty ? "\r\x1b[K" : ""}auditing ${manifest.namespace}: ${stage} ${done}${total ? `/${total}${eta !== undefined ? `, ETA ${duration(eta)}` : ""}` : ""}${tty ? "" : "\n"}`,
        )
    : undefined;
  const hostChecks = p.values["host-checks"] ? await runHostChecks(manifest, deps, dryRun, onProgress) : undefined;
  const report = await auditFleet(manifest, deps, {
    remediation,
    dryRun,
    apiCalls: () => ctx.counter.snapshot(),
    registry: { ...state, forceFull: p.values["full-registry"] },
    ...(hostChecks ? { hostChecks: { collect: hostChecks } } : {}),
    ...(onProgress ? { onProgress } : {}),
  });
  if (progress && tty) io.err("\r\x1b[K");
  // Halted rollouts belong in "what to do next" when the operator told us where rollouts live.
  let halted: RolloutHead[] = [];
  if (ctx.config.rolloutTable) halted = (await deps.rollouts.list(100)).filter((r) => r.status === "halted");
  io.out(p.values.json ? json(report) : auditText(report, halted));
  return actionable(report.findings).length > 0 || halted.length > 0 ? 1 : 0;
}

/** How long `dcp audit --host-checks` waits for the hosts' answers, and how often it asks. */
export const HOST_CHECK_WAIT_MS = 180_000;
const HOST_CHECK_POLL_MS = 5_000;

/**
 * Sends the host credential check to the namespace (one command) and waits until every host answered or the wait
 * is over; the audit then judges what arrived (hosts still running it are counted as pending). Dry run: not sent.
 */
async function runHostChecks(
  m: Manifest,
  deps: ReturnType<typeof cliDeps>,
  dryRun: boolean,
  onProgress?: (stage: string, done: number, total?: number) => void,
): Promise<HostCheckState | undefined> {
  if (dryRun) return undefined;
  const sentAt = new Date();
  const { commandId } = await deps.hostChecks.send(m.tags.namespace, m.namespace);
  const until = sentAt.getTime() + HOST_CHECK_WAIT_MS;
  for (;;) {
    const got = await deps.hostChecks.results(commandId);
    if (!got) break;
    const final = got.filter((i) => !["Pending", "InProgress", "Delayed"].includes(i.status)).length;
    onProgress?.("host checks", final, got.length);
    if ((got.length > 0 && final === got.length) || Date.now() + HOST_CHECK_POLL_MS > until) break;
    await new Promise((r) => setTimeout(r, HOST_CHECK_POLL_MS));
  }
  return { commandId, sentAt: sentAt.toISOString() };
}

async function guard(p: Parsed, io: Io): Promise<number> {
  const instanceId = arg(p, 1, "<instance-id>");
  if (!INSTANCE_ID.test(instanceId))
    throw new CliError(`'${instanceId}' is not an EC2 instance id (i- followed by 8 or 17 hex digits)`);
  const ctx = await cliContext(globals(p), io.env);
  const deps = cliDeps(ctx, "targeted");
  const manifest = await cliManifest(ctx, deps);
  // The operator names an instance that exists: no waiting for eventual consistency.
  const result = await guardHost(instanceId, manifest, deps, {
    dryRun: p.values["dry-run"],
    usage: deps.usage,
    visibilityDelaysMs: [],
  });
  io.out(p.values.json ? json(result) : guardText(result));
  return result.status !== "guarded" || result.iam.verdict === "violation" ? 1 : 0;
}

async function restartPlan(p: Parsed, io: Io): Promise<number> {
  if (p.positionals[1] !== "plan") throw new CliError("usage: dcp restart plan <secret-id>");
  const secretId = arg(p, 2, "<secret-id>");
  const ctx = await cliContext(globals(p), io.env);
  const deps = cliDeps(ctx, "bulk");
  const manifest = await cliManifest(ctx, deps);
  const fact = await confirmRotation({ kind: "act", trigger: "cli", secretId }, manifest, deps);
  if (!isFact(fact)) {
    io.out(p.values.json ? json(fact) : `Nothing to restart: ${fact.reason}`);
    return 1;
  }
  const plan = await planForFact(fact, manifest, deps);
  const reads = manifest.services
    .filter((s) => fact.services.includes(s.name))
    .map((s) => ({ service: s.name, readsPerRestart: s.readsPerRestart }));
  io.out(p.values.json ? json({ ...plan, services: fact.services }) : planText(plan, reads));
  return 0;
}

const ROLLOUT_ID = /^ro-[0-9a-f]{16}$/;

function rolloutIdArg(p: Parsed): string {
  const id = arg(p, 2, "<rollout-id>");
  if (!ROLLOUT_ID.test(id)) throw new CliError(`'${id}' is not a rollout id (ro- followed by 16 hex digits)`);
  return id;
}

const exitFor = (r: Pick<RolloutHead, "status">): number => (r.status === "halted" ? 1 : 0);

async function rollout(p: Parsed, io: Io): Promise<number> {
  const sub = p.positionals[1];
  const ctx = await cliContext(globals(p), io.env);
  const store = rolloutStore(ctx);
  if (sub === "list") {
    const all = await store.list(50);
    io.out(p.values.json ? json(all) : rolloutListText(all));
    return 0;
  }
  if (sub === "reconcile") {
    const id = p.positionals[2] ? rolloutIdArg(p) : undefined;
    const result = await reconcileRollouts(cliDeps(ctx, "targeted"), {
      dryRun: p.values["dry-run"],
      ...(id ? { rolloutId: id } : {}),
    });
    io.out(p.values.json ? json(result) : reconcileText(result.rollouts, p.values["dry-run"]));
    return result.rollouts.some((r) => r.error) ? 2 : result.rollouts.some((r) => r.status === "halted") ? 1 : 0;
  }
  if (sub !== "status" && sub !== "resume" && sub !== "watch")
    throw new CliError("usage: dcp rollout list | status <id> | watch <id> | resume <id> | reconcile [<id>]");
  const id = rolloutIdArg(p);
  const current = await store.get(id);
  if (!current) throw new CliError(`rollout ${id} not found in ${ctx.config.rolloutTable} (expired after 90 days?)`);
  if (sub === "status") {
    io.out(p.values.json ? json({ ...current, progress: progressOf(current) }) : rolloutText(current));
    return exitFor(current);
  }
  if (sub === "watch") return watch(p, io, store, current);
  return resume(p, io, ctx, current);
}

/**
 * Live progress until the rollout ends or halts: one redrawn line on a TTY, a plain line per change otherwise
 * (`--json`: one JSON object per change). Exit code = outcome (0 succeeded, 1 halted).
 */
async function watch(p: Parsed, io: Io, store: ReturnType<typeof rolloutStore>, first: Rollout): Promise<number> {
  const seconds = Number(p.values.interval ?? "5");
  if (!Number.isFinite(seconds) || seconds < 0.1 || seconds > 3600)
    throw new CliError("--interval takes seconds between 0.1 and 3600");
  const tty = Boolean(io.stdoutIsTty) && !p.values.json;
  const startedAt = Date.now();
  const startDone = progressOf(first).succeeded;
  let last = "";
  let current: Rollout | undefined = first;
  for (;;) {
    const progress = progressOf(current);
    const line = p.values.json
      ? JSON.stringify(progress)
      : progressLine(progress, { startedAt, startDone, now: Date.now() });
    // On a terminal the line is redrawn in place (stderr, unbuffered); piped, one line per change on stdout.
    if (line !== last && !tty) io.out(line);
    if (line !== last && tty) io.err(`\r\x1b[K${line}`);
    last = line;
    if (current.status !== "running") {
      if (tty) {
        io.err("\r\x1b[K");
        io.out(line);
      }
      return exitFor(current);
    }
    await new Promise((r) => setTimeout(r, seconds * 1000));
    current = await store.get(current.rolloutId);
    // A rollout coalesced with others restarts nothing itself: follow the rollout its hosts restart in.
    if (current?.coalescedInto) current = await store.get(current.coalescedInto);
    if (!current) throw new CliError(`rollout ${first.rolloutId} disappeared`);
  }
}

/** Explicit operator action on a halted rollout: the current wave's failed targets are sent again. */
async function resume(p: Parsed, io: Io, ctx: CliContext, current: Rollout): Promise<number> {
  if (current.status !== "halted") {
    const msg = `rollout ${current.rolloutId} is ${current.status}: only a halted rollout can be resumed (a stranded dispatch is re-sent by dcp rollout reconcile)`;
    io.out(p.values.json ? json({ rolloutId: current.rolloutId, action: "refused", reason: msg }) : msg);
    return 1;
  }
  const again = resetForResume(current, current.steps).steps;
  const wouldSend = current.steps
    .filter((s) => again.some((r) => r.index === s.index))
    .map((s) => ({
      step: s.index,
      service: s.service,
      targetIds: toSend({ ...s, ok: s.ok }).filter((t) => s.bad.includes(t)),
    }));
  if (p.values["dry-run"]) {
    io.out(
      p.values.json
        ? json({ rolloutId: current.rolloutId, action: "planned", wouldSend })
        : [
            `Dry run: resuming ${current.rolloutId} would send again in wave ${current.waves[current.current]?.wave}:`,
            ...wouldSend.map((w) => `  step ${w.step} ${w.service}: ${w.targetIds.join(", ")}`),
          ].join("\n"),
    );
    return 0;
  }
  const deps = cliDeps(ctx, "targeted");
  if (!(await deps.rollouts.resume(current, current.steps, new Date().toISOString())))
    throw new CliError(`rollout ${current.rolloutId} changed while resuming; look again`, 1);
  const head = await deps.rollouts.head(current.rolloutId);
  const sent = head ? await dispatchWave(deps, head) : [];
  io.out(
    p.values.json
      ? json({ rolloutId: current.rolloutId, action: "resumed", status: head?.status ?? "running", sent })
      : [
          `Resumed ${current.rolloutId}: wave ${current.waves[current.current]?.wave}, ${sent.length} command(s) sent`,
          ...sent.map((c) => `  ${c.commandIds.join(",")} ${c.service}: ${c.targetIds.join(", ")}`),
        ].join("\n"),
  );
  return 0;
}

function readManifestFile(path: string, tagKeys?: TagKeys): Manifest {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    throw new CliError(`cannot read manifest file ${path}`);
  }
  return parseManifestFile(text, tagKeys);
}

async function manifest(p: Parsed, io: Io): Promise<number> {
  const sub = p.positionals[1];
  if (sub !== "validate" && sub !== "push") throw new CliError("usage: dcp manifest validate|push <file>");
  const file = arg(p, 2, "<file>");
  if (sub === "validate") {
    const m = readManifestFile(file);
    io.out(p.values.json ? json(m) : `# ${file}: valid fleet manifest for ${m.namespace}\n${toYaml(m)}`);
    return 0;
  }
  // The tag keys come from the deployment's setting (DCP_NAMESPACE_TAG_KEY / DCP_SERVICE_TAG_KEY, as the functions
  // read them): a file without `tags` takes them, a file naming other keys is refused before any write.
  const tagKeys = tagKeysFromEnv(io.env);
  const m = readManifestFile(file, tagKeys);
  checkTagKeys(m, tagKeys);
  const g = globals(p);
  if (g.namespace && g.namespace !== m.namespace)
    throw new CliError(`manifest is for namespace '${m.namespace}', not '${g.namespace}'`);
  const ctx = await cliContext(g, io.env, m.namespace);
  if (ctx.config.namespace !== m.namespace)
    throw new CliError(`manifest is for namespace '${m.namespace}', DCP_NAMESPACE is '${ctx.config.namespace}'`);
  const name = g.manifestParam ?? io.env.DCP_MANIFEST_PARAM ?? defaultManifestParam(m.namespace);
  const text = JSON.stringify(m);
  if (!p.values["dry-run"]) await cliDeps(ctx, "targeted").params.put(name, text, true);
  const did = p.values["dry-run"] ? "would write" : "wrote";
  io.out(
    p.values.json
      ? json({ parameter: name, dryRun: p.values["dry-run"], bytes: Buffer.byteLength(text) })
      : `${did} ${name} (${Buffer.byteLength(text)} bytes, ${m.services.length} services)`,
  );
  return 0;
}

async function iam(p: Parsed, io: Io): Promise<number> {
  if (p.positionals[1] !== "who-can") throw new CliError("usage: dcp iam who-can <secret ARN | secret name | /path>");
  const parsed = parseReadTarget(arg(p, 2, "<secret ARN | secret name | /parameter/path>"));
  const ctx = await cliContext(globals(p), io.env);
  const deps = cliDeps(ctx, "bulk");
  const manifest = await cliManifest(ctx, deps);
  let target: ReadTarget;
  if (parsed.kind === "secret-name") {
    // The ARN carries Secrets Manager's random suffix: policies are matched against it, so resolve the name.
    const found = (await deps.secrets.describeMany([parsed.name])).get(parsed.name);
    if (!found) throw new CliError(`secret '${parsed.name}' not found (pass its ARN to ask anyway)`);
    target = { kind: "secret", arn: found.arn };
  } else target = parsed;
  const report = await whoCan(target, manifest, deps, () => ctx.counter.snapshot());
  io.out(p.values.json ? json(report) : whoCanText(report));
  return 0;
}

// ---------------------------------------------------------------- entry

export async function main(argv: string[], io: Io = defaultIo()): Promise<number> {
  const p = parse(argv);
  const cmd = p.positionals[0];
  if (p.values.help || !cmd || cmd === "help") {
    io.out(USAGE);
    return cmd || p.values.help ? 0 : 2;
  }
  switch (cmd) {
    case "audit":
      return audit(p, io);
    case "guard":
      return guard(p, io);
    case "restart":
      return restartPlan(p, io);
    case "rollout":
      return rollout(p, io);
    case "manifest":
      return manifest(p, io);
    case "iam":
      return iam(p, io);
    default:
      throw new CliError(`unknown command '${cmd}' (dcp --help)`);
  }
}

/** main() with the exit-code contract applied to errors. */
export async function run(argv: string[], io: Io = defaultIo()): Promise<number> {
  try {
    return await main(argv, io);
  } catch (err) {
    const e = err as Error;
    const known = err instanceof CliError || err instanceof InvalidInputError;
    const line = known ? e.message : `${e.name && e.name !== "Error" ? `${e.name}: ` : ""}${e.message}`;
    io.err(`dcp: ${line.split("\n")[0]}\n`);
    if (io.env.DCP_DEBUG === "1" && e.stack) io.err(`${e.stack}\n`);
    return err instanceof CliError ? err.code : 2;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  run(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
