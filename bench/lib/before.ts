// Bench-only "before" baseline for the rollout bench (issue 12): the design the rollout engine replaced — one
// brotli-compressed DynamoDB item per rollout under an optimistic lock — materialised from git, never part of the
// product. The tree at BEFORE_COMMIT (the last commit before 744c142, the engine rewrite) is extracted with
// `git archive` to bench/.work/before (git-ignored, excluded from typecheck and lint), given this checkout's
// node_modules, and its RestartTrackerFunction is built by a child process running THAT tree's template and build code
// (bench/lib/before-build.ts). The rollout is started with the old tree's own plan, claim and dispatch code.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { runNode } from "./child.ts";

/** 744c142^: the old single-item rollout store, its optimistic-lock runner and tracker (rollout table keys unchanged). */
export const BEFORE_COMMIT = "beda540c6d2b3430d87ec3cb8d1f051534de1192";
const DIR = resolve("bench/.work/before");

/** Extracts the old tree once per commit (a `.commit` stamp) and links this checkout's node_modules into it. */
export function prepareBeforeTree(): string {
  const stamp = join(DIR, ".commit");
  if (existsSync(stamp) && readFileSync(stamp, "utf8") === BEFORE_COMMIT) return DIR;
  rmSync(DIR, { recursive: true, force: true });
  mkdirSync(DIR, { recursive: true });
  const tar = join(DIR, "..", "before.tar");
  execFileSync("git", ["archive", "--format=tar", `--output=${tar}`, BEFORE_COMMIT]);
  execFileSync("tar", ["-xf", tar, "-C", DIR]);
  rmSync(tar);
  symlinkSync(resolve("node_modules"), join(DIR, "node_modules"), "dir");
  writeFileSync(stamp, BEFORE_COMMIT);
  return DIR;
}

/** Builds `logicalId` with the old tree's template (its own BuildProperties); returns the bundle and its environment. */
export async function buildBefore(logicalId: string): Promise<{ file: string; env: Record<string, string> }> {
  const dir = prepareBeforeTree();
  const { code, out, err } = await runNode(
    ["--import", "tsx", resolve("bench/lib/before-build.ts"), logicalId, resolve("bench/.work/rollout-before")],
    { env: { ...process.env }, cwd: dir },
  );
  if (code !== 0) throw new Error(`building the before ${logicalId} failed (${code}): ${err.slice(-800)}`);
  return JSON.parse(out) as { file: string; env: Record<string, string> };
}

/** The slice of the old rollout record the bench reads. */
interface OldRollout {
  rolloutId: string;
  status: string;
  currentWave: number;
  hosts: Record<string, { status: string }>;
}
interface OldStore {
  create(r: OldRollout): Promise<boolean>;
  get(id: string): Promise<OldRollout | undefined>;
}

const load = async <T>(rel: string): Promise<T> =>
  (await import(pathToFileURL(join(prepareBeforeTree(), rel)).href)) as T;

/**
 * The old engine's start for a synthetic plan, as its `startRollout` does after planning: a new rollout with wave 1
 * claimed, created in one item, then wave 1 sent (`dispatchWave(…, alreadyClaimed)`). `plan` is the old
 * `planRollout` input. Returns a reader of the rollout's status and restarted hosts.
 */
export async function oldEngine(env: Record<string, string>) {
  const domain = await load<{
    planRollout(input: unknown): unknown;
    newRollout(plan: unknown, now: string): OldRollout;
  }>("layers/core/src/domain/rollout.ts");
  const runner = await load<{
    claimWave(r: OldRollout): OldRollout | undefined;
    dispatchWave(deps: unknown, r: OldRollout, alreadyClaimed: boolean): Promise<unknown>;
  }>("layers/core/src/app/rollout-runner.ts");
  const { createClients } = await load<{
    createClients(): { dynamodb: unknown; ssm: unknown };
  }>("layers/core/src/adapters/clients.ts");
  const { DynamoRolloutStore } = await load<{ DynamoRolloutStore: new (c: unknown, t: string) => OldStore }>(
    "layers/core/src/adapters/rollout-store.ts",
  );
  const { SsmCommandRunner } = await load<{ SsmCommandRunner: new (c: unknown) => unknown }>(
    "layers/core/src/adapters/ssm.ts",
  );
  const { loadConfig } = await load<{ loadConfig(e: Record<string, string>): { rolloutTable: string } }>(
    "layers/core/src/app/config.ts",
  );
  const { unavailable } = await load<{ unavailable(port: string): unknown }>("layers/core/src/app/deps.ts");
  const config = loadConfig(env);
  const clients = createClients();
  const rollouts = new DynamoRolloutStore(clients.dynamodb, config.rolloutTable);
  const deps = {
    config,
    rollouts,
    commands: new SsmCommandRunner(clients.ssm),
    inventory: unavailable("FleetInventory"),
    policies: unavailable("PolicyStore"),
    secrets: unavailable("SecretCatalog"),
    params: unavailable("ParameterStore"),
    now: () => new Date(),
  };
  return {
    async start(planInput: unknown): Promise<void> {
      const fresh = domain.newRollout(domain.planRollout(planInput), new Date().toISOString());
      const claimed = runner.claimWave(fresh) ?? fresh;
      if (!(await rollouts.create(claimed))) throw new Error(`rollout ${fresh.rolloutId} exists`);
      await runner.dispatchWave(deps, claimed, true);
    },
    async state(rolloutId: string): Promise<{ status: string; restarted: number; wave: number }> {
      const r = await rollouts.get(rolloutId);
      if (!r) return { status: "missing", restarted: 0, wave: 0 };
      const restarted = Object.values(r.hosts).filter((h) => h.status === "Success").length;
      return { status: r.status, restarted, wave: r.currentWave };
    },
  };
}
