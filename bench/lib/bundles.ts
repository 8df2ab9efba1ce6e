// Bundle size and cold init per function, with the template's own esbuild BuildProperties (scripts/lib/template.ts):
// (a) as deployed, (b) the other SDK choice (bundled in vs external = the nodejs22.x runtime's copy), and (c) a
// simulated layer: `#core/*` external, served from ONE prebuilt core file shared by every function.
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { build, type Plugin } from "esbuild";
import {
  buildFunction,
  bundlePath,
  esbuildOptions,
  type FunctionConfig,
  functionConfig,
  lambdaEnvironment,
  listFunctions,
  loadTemplate,
} from "../../scripts/lib/template.ts";
import { runNode } from "./child.ts";

export type Variant = "deployed" | "alt: sdk-bundled" | "alt: sdk-external" | "layer" | "source-mapped traces";

export interface ColdInit {
  samples: number[];
  median: number;
  min: number;
  max: number;
  /** Network attempts (TCP connect / DNS lookup / fetch) seen during import, summed over every sample. */
  networkAttempts: number;
  errors: string[];
}

export interface BundleRow {
  logicalId: string;
  variant: Variant;
  file: string;
  bytes: number;
  /** For `layer`: the shared core file's size (deployed once, loaded by every function). */
  layerBytes?: number;
  /** The bundle's source files, from its source map (empty without one). */
  inputs: string[];
  cold: ColdInit;
}

const CORE_ROOT = resolve("layers/core/src");

/** Every core module, as `#core/<path>` specifiers (the import form functions use). */
export function coreModules(root = CORE_ROOT): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name.endsWith(".ts") && !name.endsWith(".test.ts") && !name.endsWith(".d.ts"))
        out.push(relative(root, p).replace(/\.ts$/, "").split("\\").join("/"));
    }
  };
  walk(root);
  return out;
}

/** The source files esbuild bundled into `file`, from `file.map` (absolute paths; [] without a map). */
function sourcesOf(file: string): string[] {
  try {
    const map = JSON.parse(readFileSync(`${file}.map`, "utf8")) as { sources?: string[] };
    return (map.sources ?? []).map((src) => resolve(dirname(file), src));
  } catch {
    return [];
  }
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Runs inside a fresh plain `node` (no tsx hooks): traps network attempts, imports the handler, does NOT invoke. */
const COLD_RUNNER = `import net from "node:net";
import dns from "node:dns";
import { performance } from "node:perf_hooks";
const attempts = [];
const trap = (what) => attempts.push(what);
const origConnect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function (...a) { trap("connect"); return origConnect.apply(this, a); };
const origLookup = dns.lookup;
dns.lookup = function (...a) { trap("dns:" + a[0]); return origLookup.apply(this, a); };
if (globalThis.fetch) { const f = globalThis.fetch; globalThis.fetch = (...a) => { trap("fetch"); return f(...a); }; }
const url = process.argv[2];
const t0 = performance.now();
let error;
let exported = false;
try {
  const mod = await import(url);
  exported = typeof mod.handler === "function";
} catch (err) {
  error = String((err && err.stack) || err).split("\\n").slice(0, 3).join(" | ");
}
const importMs = performance.now() - t0;
// Anything started asynchronously at import time (a credential fetch, a warm-up call) shows up within a tick or two.
await new Promise((r) => setTimeout(r, 50));
process.stdout.write(JSON.stringify({ importMs, sinceProcessStartMs: t0 + importMs, exported, attempts, error }));
process.exit(0);
`;

async function runOnce(
  runner: string,
  bundle: string,
  env: Record<string, string>,
): Promise<{ importMs: number; exported: boolean; attempts: string[]; error?: string }> {
  const { code, out, err } = await runNode([runner, pathToFileURL(bundle).href], { env, cwd: dirname(bundle) });
  try {
    return JSON.parse(out);
  } catch {
    throw new Error(`cold-init runner exited ${code}: ${err.trim().split("\n").slice(-3).join(" | ")}`);
  }
}

/**
 * Median import time of `bundle` over `samples` fresh node processes, with the function's Lambda environment
 * (template variables, NODE_OPTIONS only with SourceMappedStackTraces=true, AWS_REGION). AWS_ENDPOINT_URL points at a closed
 * local port so an accidental call at import fails fast instead of reaching AWS; the runner counts attempts.
 */
export async function coldInit(
  bundle: string,
  cfg: FunctionConfig,
  samples: number,
  workDir: string,
): Promise<ColdInit> {
  const runner = resolve(workDir, "_cold-runner.mjs");
  writeFileSync(runner, COLD_RUNNER);
  const env = lambdaEnvironment(cfg, {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    AWS_REGION: "eu-central-1",
    AWS_ACCESS_KEY_ID: "bench",
    AWS_SECRET_ACCESS_KEY: "bench",
    AWS_ENDPOINT_URL: "http://127.0.0.1:9",
  });
  const xs: number[] = [];
  const errors: string[] = [];
  let networkAttempts = 0;
  for (let i = 0; i < samples; i++) {
    const r = await runOnce(runner, bundle, env);
    if (r.error) errors.push(r.error);
    else if (!r.exported) errors.push("module does not export a function 'handler'");
    networkAttempts += r.attempts.length;
    xs.push(r.importMs);
  }
  return {
    samples: xs,
    median: median(xs),
    min: Math.min(...xs),
    max: Math.max(...xs),
    networkAttempts,
    errors: [...new Set(errors)],
  };
}

/** One ESM file re-exporting every core module (export names are unique across the core). */
export async function buildCoreLayer(base: FunctionConfig, outFile: string): Promise<string> {
  const opts = esbuildOptions(base, dirname(outFile));
  const { entryPoints: _e, outdir: _o, outExtension: _x, ...rest } = opts;
  mkdirSync(dirname(outFile), { recursive: true });
  await build({
    ...rest,
    stdin: {
      contents: coreModules()
        .map((m) => `export * from ${JSON.stringify(`./${m}.ts`)};`)
        .join("\n"),
      resolveDir: CORE_ROOT,
      sourcefile: "core-layer.ts",
      loader: "ts",
    },
    outfile: outFile,
  });
  return outFile;
}

/** `#core/*` → the prebuilt core file, left as an import (the layer's /opt/nodejs path in Lambda). */
function coreExternal(layerFile: string, outdir: string): Plugin {
  let spec = relative(outdir, layerFile).split("\\").join("/");
  if (!spec.startsWith(".")) spec = `./${spec}`;
  return {
    name: "dcp-core-layer",
    setup(b) {
      b.onResolve({ filter: /^#core\// }, () => ({ path: spec, external: true }));
    },
  };
}

export interface BundleBenchOptions {
  samples: number;
  workDir: string;
  onProgress?: (msg: string) => void;
}

/** Builds and measures every function of template.yaml in the three variants. */
export async function benchBundles(opts: BundleBenchOptions): Promise<BundleRow[]> {
  const work = resolve(opts.workDir);
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const ids = listFunctions(loadTemplate());
  const cfgs = ids.map((id) => functionConfig(id));
  const rows: BundleRow[] = [];
  const first = cfgs[0];
  if (!first) return rows;
  const layerFile = await buildCoreLayer(first, join(work, "layer", "nodejs", "dcp-core.mjs"));
  const layerBytes = statSync(layerFile).size;

  for (const cfg of cfgs) {
    // What `npm run build` writes (.aws-sam/build/<LogicalId>/index.mjs): the deployed artifact itself.
    const deployed = await buildFunction(cfg.logicalId, {}, cfg);
    // The other SDK choice, same BuildProperties otherwise: bundled in if the template marks it external, else external.
    // (Single providers such as @aws-sdk/credential-provider-sso may be external either way: only the wildcard counts.)
    const external = cfg.buildProperties.External ?? [];
    const sdkExternal = external.includes("@aws-sdk/*");
    const altCfg: FunctionConfig = {
      ...cfg,
      buildProperties: {
        ...cfg.buildProperties,
        External: sdkExternal ? external.filter((e) => e !== "@aws-sdk/*") : [...external, "@aws-sdk/*"],
      },
    };
    const altVariant: Variant = sdkExternal ? "alt: sdk-bundled" : "alt: sdk-external";
    const alt = await buildFunction(cfg.logicalId, { outRoot: join(work, "alt") }, altCfg);
    const layerDir = join(work, "layer", cfg.logicalId);
    const layerOpts = esbuildOptions(cfg, layerDir);
    await build({ ...layerOpts, plugins: [coreExternal(layerFile, layerDir)] });
    const layered = bundlePath(cfg, layerDir);

    // The deployed bundle with the template's SourceMappedStackTraces=true (NODE_OPTIONS=--enable-source-maps).
    const mapped = functionConfig(cfg.logicalId, { parameterOverrides: { SourceMappedStackTraces: "true" } });

    for (const [variant, file, env] of [
      ["deployed", deployed, cfg],
      [altVariant, alt, cfg],
      ["layer", layered, cfg],
      ["source-mapped traces", deployed, mapped],
    ] as [Variant, string, FunctionConfig][]) {
      opts.onProgress?.(`cold init ${cfg.logicalId} (${variant})`);
      const cold = await coldInit(file, env, opts.samples, work);
      rows.push({
        logicalId: cfg.logicalId,
        variant,
        file,
        bytes: statSync(file).size,
        inputs: sourcesOf(file),
        ...(variant === "layer" ? { layerBytes } : {}),
        cold,
      });
    }
  }
  return rows;
}
