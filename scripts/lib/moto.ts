// Local AWS for tests, the demo and benchmarks: a moto_server on a free loopback port, stopped by PID.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { openSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export interface MotoServer {
  endpoint: string;
  port: number;
  pid: number;
  /** Path of the server's combined stdout/stderr. */
  logFile: string;
  stop(): Promise<void>;
  /** POST /moto-api/reset: forget every resource in every service. */
  reset(): Promise<void>;
}

const HOST = "127.0.0.1";
const READY_TIMEOUT_MS = 20_000;

/** Environment a process needs to talk to the local server with the standard SDK chain. */
export function localAwsEnv(endpoint: string): Record<string, string> {
  return {
    AWS_ENDPOINT_URL: endpoint,
    AWS_REGION: "eu-central-1",
    AWS_DEFAULT_REGION: "eu-central-1",
    AWS_ACCESS_KEY_ID: "testing",
    AWS_SECRET_ACCESS_KEY: "testing",
  };
}

function onPath(cmd: string): boolean {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (!dir) continue;
    const r = spawnSync("test", ["-x", join(dir, cmd)]);
    if (r.status === 0) return true;
  }
  return false;
}

/** The indexed launcher imports moto into `python3` itself, so that interpreter must have it (not just PATH). */
const PYTHON = "python3";
const INDEXED_LAUNCHER = join(dirname(fileURLToPath(import.meta.url)), "moto_indexed.py");
const pythonHasMoto = () => spawnSync(PYTHON, ["-c", "import moto.server"], { stdio: "ignore" }).status === 0;

function ensureMotoInstalled(indexed = false): void {
  const ready = () => onPath("moto_server") && (!indexed || pythonHasMoto());
  if (ready()) return;
  const r = spawnSync(PYTHON, ["-m", "pip", "install", "moto[server]"], { encoding: "utf8" });
  if (r.status === 0 && ready()) return;
  const lines = `${r.stderr ?? ""}\n${r.stdout ?? ""}`
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean);
  const why =
    r.error?.message ??
    (r.status === 0
      ? `installed, but moto_server is still not on PATH${indexed ? ` or ${PYTHON} cannot import moto` : ""}`
      : (lines.find((l) => /^error\b/i.test(l)) ?? lines.at(-1) ?? `exit ${r.status}`));
  throw new Error(`moto_server not found and 'python3 -m pip install "moto[server]"' failed: ${why}`);
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, HOST, () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal); // the whole group: the pyenv shim and python itself
  } catch {
    try {
      child.kill(signal);
    } catch {
      /* already gone */
    }
  }
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", () => {
    for (const c of live) killGroup(c, "SIGKILL");
  });
}

export interface StartMotoOptions {
  port?: number;
  /**
   * Load AWS-managed IAM policies (arn:aws:iam::aws:policy/…) so they can be attached. Off by default: moto then
   * holds ~1,300 extra policies, which slows GetAccountAuthorizationDetails with the AWSManagedPolicy filter.
   */
  loadAwsManagedPolicies?: boolean;
  /**
   * Run moto through scripts/lib/moto_indexed.py: same answers, but tag and instance-by-id lookups are indexed
   * instead of scanning every resource (stock moto 5.2.1 is O(N²) for large EC2 fleets). Refuses to start on a
   * moto it was not checked against. Off by default: tests and the demo run stock moto_server.
   */
  indexedTags?: boolean;
}

/** Last non-empty line of the server log: why it exited (the launcher's refusal is one line). */
function lastLogLine(logFile: string): string {
  try {
    return (
      readFileSync(logFile, "utf8")
        .split("\n")
        .map((l) => l.trim())
        .filter(Boolean)
        .at(-1) ?? ""
    );
  } catch {
    return "";
  }
}

export async function startMoto(opts: StartMotoOptions = {}): Promise<MotoServer> {
  ensureMotoInstalled(opts.indexedTags);
  const port = opts.port ?? (await freePort());
  const endpoint = `http://${HOST}:${port}`;
  const logFile = join(tmpdir(), `moto-${port}-${process.pid}.log`);
  const fd = openSync(logFile, "a");
  const serverArgs = ["-H", HOST, "-p", String(port)];
  const [cmd, args] = opts.indexedTags ? [PYTHON, [INDEXED_LAUNCHER, ...serverArgs]] : ["moto_server", serverArgs];
  const child = spawn(cmd, args, {
    detached: true,
    stdio: ["ignore", fd, fd],
    env: { ...process.env, MOTO_IAM_LOAD_MANAGED_POLICIES: opts.loadAwsManagedPolicies ? "true" : "false" },
  });
  if (child.pid === undefined) {
    await new Promise((r) => child.once("error", r).once("spawn", r));
    throw new Error(`could not spawn ${cmd} (see ${logFile})`);
  }
  const pid = child.pid;
  let exited = child.exitCode !== null;
  const exitedP = new Promise<void>((resolve) =>
    child.once("exit", () => {
      exited = true;
      live.delete(child);
      resolve();
    }),
  );
  live.add(child);
  installExitHook();

  const stop = async (): Promise<void> => {
    if (exited) return;
    killGroup(child, "SIGTERM");
    const timer = setTimeout(() => killGroup(child, "SIGKILL"), 3000);
    await exitedP;
    clearTimeout(timer);
  };

  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (exited) {
      const why = lastLogLine(logFile);
      throw new Error(`moto_server exited before answering on ${endpoint}${why ? `: ${why}` : ""} (see ${logFile})`);
    }
    try {
      const res = await fetch(`${endpoint}/moto-api/data.json`, { signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      if (res.ok) break;
    } catch {
      /* not up yet */
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`moto_server did not answer on ${endpoint} within ${READY_TIMEOUT_MS / 1000}s (see ${logFile})`);
    }
    await sleep(150);
  }

  const reset = async (): Promise<void> => {
    const res = await fetch(`${endpoint}/moto-api/reset`, { method: "POST" });
    await res.arrayBuffer();
    if (!res.ok) throw new Error(`moto reset failed: HTTP ${res.status}`);
  };

  return { endpoint, port, pid, logFile, stop, reset };
}
