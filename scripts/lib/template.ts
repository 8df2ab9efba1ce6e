// Reads template.yaml the way SAM/CloudFormation would (short-form intrinsics, Globals, parameters,
// conditions) and bundles a function exactly as its esbuild Metadata says. Shared by the invoker, the bench
// and the tests; no AWS calls, no docker.

import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, extname, join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { type BuildOptions, build, type Loader } from "esbuild";
import { parse as parseYaml } from "yaml";

/** A parsed template: plain JSON with long-form intrinsics ({ "Fn::Sub": … }). */
export interface CfnTemplate {
  Parameters?: Record<string, CfnParameter>;
  Mappings?: Record<string, Record<string, Record<string, unknown>>>;
  Conditions?: Record<string, unknown>;
  Globals?: { Function?: Record<string, unknown> };
  Resources: Record<string, { Type: string; Properties?: Record<string, unknown>; Metadata?: Record<string, unknown> }>;
}

export interface CfnParameter {
  Type?: string;
  Default?: string | number;
  AllowedValues?: Array<string | number>;
  AllowedPattern?: string;
}

/** SAM esbuild `Metadata.BuildProperties`, as written in the template. */
export interface BuildProperties {
  EntryPoints?: string[];
  Format?: "esm" | "cjs" | "iife";
  OutExtension?: string[];
  Target?: string;
  MainFields?: string;
  Minify?: boolean;
  Sourcemap?: boolean;
  SourcesContent?: boolean;
  External?: string[];
  Banner?: string[] | string;
  Loader?: string[];
  Define?: string[];
}

/** SAM's `--env-vars` file: `{ "<LogicalId>": {...}, "Parameters": {...} }` (Parameters apply to every function). */
export type EnvVarsFile = Record<string, Record<string, unknown>>;

export interface FunctionOptions {
  /** Template path; default `template.yaml` in the current directory. */
  templatePath?: string;
  /** Parameter values (like `--parameter-overrides`), applied over the template defaults. */
  parameterOverrides?: Record<string, string>;
  /** SAM-format env-vars file content. */
  envVars?: EnvVarsFile;
  /** Region / account used for pseudo parameters; defaults from AWS_REGION and a placeholder account. */
  region?: string;
  accountId?: string;
}

export interface FunctionConfig {
  logicalId: string;
  /** Absolute path of the esbuild entry point. */
  entry: string;
  /** Module file named by Handler (`index` of `index.handler`). */
  handlerModule: string;
  /** Export named by Handler (`handler` of `index.handler`). */
  handlerExport: string;
  /** Globals + function variables with parameters resolved, then --env-vars applied. */
  environment: Record<string, string>;
  /** Variables set only by --env-vars (SAM itself ignores those; the invoker sets them anyway). */
  undeclaredEnv: string[];
  buildProperties: BuildProperties;
  /** Directory CodeUri points at (esbuild's working directory). */
  codeDir: string;
  runtime: string;
  architectures: string[];
  memoryMB: number;
  timeoutSeconds: number;
  region: string;
  accountId: string;
}

export class TemplateError extends Error {
  override name = "TemplateError";
}

// ---------------------------------------------------------------- parsing

const SHORT_FORMS: Record<string, string> = {
  Ref: "Ref",
  Condition: "Condition",
  Sub: "Fn::Sub",
  GetAtt: "Fn::GetAtt",
  If: "Fn::If",
  Join: "Fn::Join",
  Select: "Fn::Select",
  Split: "Fn::Split",
  Equals: "Fn::Equals",
  Not: "Fn::Not",
  And: "Fn::And",
  Or: "Fn::Or",
  FindInMap: "Fn::FindInMap",
  Base64: "Fn::Base64",
  Cidr: "Fn::Cidr",
  GetAZs: "Fn::GetAZs",
  ImportValue: "Fn::ImportValue",
  Transform: "Fn::Transform",
  ToJsonString: "Fn::ToJsonString",
  Length: "Fn::Length",
};

interface JsonNode {
  toJSON(): unknown;
}

function cfnTags() {
  return Object.entries(SHORT_FORMS).flatMap(([short, long]) => [
    {
      tag: `!${short}`,
      resolve: (value: string) => {
        if (short === "GetAtt") {
          const dot = value.indexOf(".");
          return { [long]: dot < 0 ? [value] : [value.slice(0, dot), value.slice(dot + 1)] };
        }
        return { [long]: value };
      },
    },
    { tag: `!${short}`, collection: "seq" as const, resolve: (seq: JsonNode) => ({ [long]: seq.toJSON() }) },
    { tag: `!${short}`, collection: "map" as const, resolve: (map: JsonNode) => ({ [long]: map.toJSON() }) },
  ]);
}

/** Parses a CloudFormation/SAM template (YAML with short-form tags, or JSON). */
export function parseTemplate(text: string): CfnTemplate {
  // `customTags` is typed loosely in yaml's API; the array above matches its ScalarTag/CollectionTag shapes.
  const doc = parseYaml(text, { customTags: cfnTags() as never, maxAliasCount: -1 }) as unknown;
  if (!isRecord(doc) || !isRecord(doc["Resources"])) throw new TemplateError("template has no Resources section");
  return doc as unknown as CfnTemplate;
}

export function loadTemplate(path = "template.yaml"): CfnTemplate {
  if (!existsSync(path)) throw new TemplateError(`template not found: ${path}`);
  return parseTemplate(readFileSync(path, "utf8"));
}

export function listFunctions(template: CfnTemplate): string[] {
  return Object.entries(template.Resources)
    .filter(([, r]) => r.Type === "AWS::Serverless::Function")
    .map(([id]) => id);
}

// ---------------------------------------------------------------- intrinsic resolution

const NO_VALUE = Symbol("AWS::NoValue");

export interface ResolveContext {
  template: CfnTemplate;
  parameters: Record<string, string>;
  pseudo: Record<string, string>;
}

/** Parameter values: overrides over defaults, checked against AllowedValues / AllowedPattern like CloudFormation. */
export function resolveParameters(
  template: CfnTemplate,
  overrides: Record<string, string> = {},
): Record<string, string> {
  const declared = template.Parameters ?? {};
  for (const name of Object.keys(overrides)) {
    if (!(name in declared)) throw new TemplateError(`unknown parameter '${name}' in overrides`);
  }
  const out: Record<string, string> = {};
  for (const [name, p] of Object.entries(declared)) {
    const value = overrides[name] ?? (p.Default === undefined ? undefined : String(p.Default));
    if (value === undefined)
      throw new TemplateError(`parameter '${name}' has no default; pass it in --parameter-overrides`);
    if (p.AllowedValues && !p.AllowedValues.map(String).includes(value))
      throw new TemplateError(`parameter '${name}'='${value}' is not one of ${p.AllowedValues.join(", ")}`);
    if (p.AllowedPattern && !new RegExp(`^(?:${p.AllowedPattern})$`).test(value))
      throw new TemplateError(`parameter '${name}'='${value}' does not match ${p.AllowedPattern}`);
    out[name] = value;
  }
  return out;
}

function pseudoParameters(region: string, accountId: string): Record<string, string> {
  return {
    "AWS::Region": region,
    "AWS::AccountId": accountId,
    "AWS::Partition": region.startsWith("cn-") ? "aws-cn" : region.startsWith("us-gov-") ? "aws-us-gov" : "aws",
    "AWS::StackName": "local",
    "AWS::StackId": `arn:aws:cloudformation:${region}:${accountId}:stack/local/00000000-0000-0000-0000-000000000000`,
    "AWS::URLSuffix": region.startsWith("cn-") ? "amazonaws.com.cn" : "amazonaws.com",
    "AWS::NotificationARNs": "",
  };
}

function refValue(name: string, ctx: ResolveContext): string {
  if (name in ctx.parameters) return ctx.parameters[name]!;
  if (name in ctx.pseudo) return ctx.pseudo[name]!;
  // A resource: locally there is no physical id, so its logical id stands in (readable in logs and results).
  if (name in ctx.template.Resources) return name;
  throw new TemplateError(`Ref to unknown name '${name}'`);
}

function getAttValue(resource: string, attribute: string, ctx: ResolveContext): string {
  if (!(resource in ctx.template.Resources)) throw new TemplateError(`GetAtt of unknown resource '${resource}'`);
  return `${resource}.${attribute}`;
}

export function evaluateCondition(name: string, ctx: ResolveContext): boolean {
  const expr = ctx.template.Conditions?.[name];
  if (expr === undefined) throw new TemplateError(`unknown condition '${name}'`);
  return Boolean(resolveValue(expr, ctx));
}

function substitute(text: string, vars: Record<string, unknown>, ctx: ResolveContext): string {
  return text.replace(/\$\{([^}]*)\}/g, (_whole, inner: string) => {
    if (inner.startsWith("!")) return "${" + inner.slice(1) + "}"; // ${!Literal} escapes
    const name = inner.trim();
    if (name in vars) return stringify(vars[name]);
    const dot = name.indexOf(".");
    if (dot > 0 && !(name in ctx.parameters) && !(name in ctx.pseudo)) {
      return getAttValue(name.slice(0, dot), name.slice(dot + 1), ctx);
    }
    return refValue(name, ctx);
  });
}

function stringify(v: unknown): string {
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  return JSON.stringify(v);
}

/** Resolves intrinsic functions in a value. Conditions, Refs to parameters/pseudo parameters and Subs are exact;
 * resource Refs/GetAtts become `LogicalId` / `LogicalId.Attribute` placeholders. */
export function resolveValue(value: unknown, ctx: ResolveContext): unknown {
  const v = resolveInner(value, ctx);
  return v === NO_VALUE ? undefined : v;
}

function resolveInner(value: unknown, ctx: ResolveContext): unknown {
  if (Array.isArray(value)) return value.map((x) => resolveInner(x, ctx)).filter((x) => x !== NO_VALUE);
  if (!isRecord(value)) return value;
  const keys = Object.keys(value);
  if (keys.length === 1) {
    const key = keys[0]!;
    const arg = value[key];
    const args = () => (Array.isArray(arg) ? arg : [arg]);
    switch (key) {
      case "Ref":
        if (arg === "AWS::NoValue") return NO_VALUE;
        return refValue(String(arg), ctx);
      case "Condition":
        return evaluateCondition(String(arg), ctx);
      case "Fn::GetAtt": {
        const [res, ...attr] = typeof arg === "string" ? arg.split(".") : (resolveInner(arg, ctx) as string[]);
        return getAttValue(String(res), attr.join("."), ctx);
      }
      case "Fn::Sub": {
        if (typeof arg === "string") return substitute(arg, {}, ctx);
        const [text, vars] = args();
        const resolvedVars = isRecord(vars)
          ? Object.fromEntries(Object.entries(vars).map(([k, x]) => [k, resolveInner(x, ctx)]))
          : {};
        return substitute(String(text), resolvedVars, ctx);
      }
      case "Fn::If": {
        const [cond, whenTrue, whenFalse] = args();
        return resolveInner(evaluateCondition(String(cond), ctx) ? whenTrue : whenFalse, ctx);
      }
      case "Fn::Equals": {
        const [a, b] = args().map((x) => stringify(resolveInner(x, ctx)));
        return a === b;
      }
      case "Fn::Not":
        return !resolveInner(args()[0], ctx);
      case "Fn::And":
        return args().every((x) => Boolean(resolveInner(x, ctx)));
      case "Fn::Or":
        return args().some((x) => Boolean(resolveInner(x, ctx)));
      case "Fn::Join": {
        const [delim, list] = args();
        const items = resolveInner(list, ctx);
        return (Array.isArray(items) ? items : [items]).map(stringify).join(String(delim));
      }
      case "Fn::Select": {
        const [index, list] = args();
        const items = resolveInner(list, ctx);
        const i = Number(resolveInner(index, ctx));
        if (!Array.isArray(items) || i < 0 || i >= items.length)
          throw new TemplateError(`Fn::Select index ${i} out of range`);
        return items[i];
      }
      case "Fn::Split": {
        const [delim, text] = args();
        return stringify(resolveInner(text, ctx)).split(String(delim));
      }
      case "Fn::FindInMap": {
        const [map, top, second] = args().map((x) => stringify(resolveInner(x, ctx)));
        const found = ctx.template.Mappings?.[map!]?.[top!]?.[second!];
        if (found === undefined) throw new TemplateError(`Fn::FindInMap: no ${map}.${top}.${second}`);
        return found;
      }
      case "Fn::Base64":
        return Buffer.from(stringify(resolveInner(arg, ctx))).toString("base64");
      case "Fn::GetAZs": {
        const region = stringify(resolveInner(arg, ctx)) || ctx.pseudo["AWS::Region"]!;
        return ["a", "b", "c"].map((z) => region + z);
      }
      case "Fn::ImportValue":
        return `import:${stringify(resolveInner(arg, ctx))}`;
      case "Fn::ToJsonString":
        return JSON.stringify(resolveInner(arg, ctx));
    }
  }
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(value)) {
    const r = resolveInner(x, ctx);
    if (r !== NO_VALUE) out[k] = r;
  }
  return out;
}

// ---------------------------------------------------------------- functions

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function variablesOf(props: Record<string, unknown> | undefined): Record<string, unknown> {
  const env = props?.["Environment"];
  if (!isRecord(env)) return {};
  const vars = env["Variables"];
  return isRecord(vars) ? vars : {};
}

function contextFor(template: CfnTemplate, opts: FunctionOptions): ResolveContext {
  const region = opts.region ?? process.env["AWS_REGION"] ?? process.env["AWS_DEFAULT_REGION"] ?? "us-east-1";
  const accountId = opts.accountId ?? process.env["AWS_ACCOUNT_ID"] ?? "123456789012";
  return {
    template,
    parameters: resolveParameters(template, { ...opts.parameterOverrides }),
    pseudo: pseudoParameters(region, accountId),
  };
}

/**
 * A resource's Properties with parameters, conditions and pseudo parameters resolved as CloudFormation would
 * (resource Refs become logical ids). Throws TemplateError when the template has no such resource.
 */
export function resourceProperties(logicalId: string, opts: FunctionOptions = {}): Record<string, unknown> {
  const templatePath = resolve(opts.templatePath ?? "template.yaml");
  const template = loadTemplate(templatePath);
  const resource = template.Resources[logicalId];
  if (!resource) throw new TemplateError(`no resource '${logicalId}' in ${templatePath}`);
  return (resolveValue(resource.Properties ?? {}, contextFor(template, opts)) ?? {}) as Record<string, unknown>;
}

/** Everything needed to run one function locally, resolved from the template. */
export function functionConfig(logicalId: string, opts: FunctionOptions = {}): FunctionConfig {
  const templatePath = resolve(opts.templatePath ?? "template.yaml");
  const template = loadTemplate(templatePath);
  const resource = template.Resources[logicalId];
  if (resource?.Type !== "AWS::Serverless::Function") {
    const known = listFunctions(template).join(", ") || "none";
    throw new TemplateError(
      `'${logicalId}' is not an AWS::Serverless::Function in ${templatePath} (functions: ${known})`,
    );
  }
  const ctx = contextFor(template, opts);
  const region = ctx.pseudo["AWS::Region"]!;
  const accountId = ctx.pseudo["AWS::AccountId"]!;
  const globals = template.Globals?.Function ?? {};
  const props = resource.Properties ?? {};
  const prop = (name: string): unknown => resolveValue(props[name] ?? globals[name], ctx);

  const handler = String(prop("Handler") ?? "");
  const dot = handler.lastIndexOf(".");
  if (dot <= 0) throw new TemplateError(`${logicalId}: Handler '${handler}' is not <module>.<export>`);

  const metadata = resource.Metadata ?? {};
  if (metadata["BuildMethod"] !== "esbuild")
    throw new TemplateError(`${logicalId}: Metadata.BuildMethod is not esbuild`);
  const buildProperties = (resolveValue(metadata["BuildProperties"] ?? {}, ctx) ?? {}) as BuildProperties;

  const codeUri = prop("CodeUri");
  if (typeof codeUri !== "string") throw new TemplateError(`${logicalId}: CodeUri must be a local path`);
  const codeDir = resolve(dirname(templatePath), codeUri);
  const entryRel = buildProperties.EntryPoints?.[0] ?? handler.slice(0, dot);
  const entry = resolve(codeDir, entryRel);

  // Environment: Globals, then the function's own (SAM merges maps key by key), then --env-vars.
  const declared = { ...variablesOf(globals), ...variablesOf(props) };
  const resolved = resolveValue(declared, ctx) as Record<string, unknown>;
  const environment: Record<string, string> = {};
  for (const [k, v] of Object.entries(resolved)) environment[k] = stringify(v);
  const undeclaredEnv: string[] = [];
  for (const section of [opts.envVars?.["Parameters"], opts.envVars?.[logicalId]]) {
    if (!section) continue;
    if (!isRecord(section)) throw new TemplateError("--env-vars sections must be objects");
    for (const [k, v] of Object.entries(section)) {
      if (!(k in environment) && !undeclaredEnv.includes(k)) undeclaredEnv.push(k);
      environment[k] = stringify(v);
    }
  }

  const architectures = prop("Architectures");
  return {
    logicalId,
    entry,
    handlerModule: handler.slice(0, dot),
    handlerExport: handler.slice(dot + 1),
    environment,
    undeclaredEnv,
    buildProperties,
    codeDir,
    runtime: String(prop("Runtime") ?? ""),
    architectures: Array.isArray(architectures) ? architectures.map(String) : ["x86_64"],
    memoryMB: Number(prop("MemorySize") ?? 128),
    timeoutSeconds: Number(prop("Timeout") ?? 3),
    region,
    accountId,
  };
}

// ---------------------------------------------------------------- bundling

function pairs(list: string[] | string | undefined, what: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of list === undefined ? [] : Array.isArray(list) ? list : [list]) {
    const eq = item.indexOf("=");
    if (eq <= 0) throw new TemplateError(`${what} entry '${item}' is not <key>=<value>`);
    out[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return out;
}

/** esbuild options equivalent to what `sam build` derives from Metadata.BuildProperties. */
export function esbuildOptions(cfg: FunctionConfig, outdir: string): BuildOptions {
  const bp = cfg.buildProperties;
  return {
    absWorkingDir: cfg.codeDir,
    entryPoints: [cfg.entry],
    bundle: true,
    platform: "node",
    format: bp.Format ?? "cjs",
    target: bp.Target ?? "es2020",
    mainFields: (bp.MainFields ?? "main,module").split(",").map((s) => s.trim()),
    minify: bp.Minify ?? true,
    sourcemap: bp.Sourcemap ?? false,
    sourcesContent: bp.SourcesContent ?? true,
    external: bp.External ?? [],
    banner: pairs(bp.Banner, "Banner"),
    outExtension: pairs(bp.OutExtension, "OutExtension"),
    loader: pairs(bp.Loader, "Loader") as Record<string, Loader>,
    define: pairs(bp.Define, "Define"),
    outdir,
    logLevel: "silent",
  };
}

/** Path of the bundle esbuild writes for a function (one entry point → `<entry basename><out extension>`). */
export function bundlePath(cfg: FunctionConfig, outdir: string): string {
  const jsExt = pairs(cfg.buildProperties.OutExtension, "OutExtension")[".js"] ?? ".js";
  return join(outdir, basename(cfg.entry, extname(cfg.entry)) + jsExt);
}

/** `sam build`'s default build directory, relative to the template's directory (the repository root here). */
export const SAM_BUILD_DIR = ".aws-sam/build";

/** The build directory of a template: `<template dir>/.aws-sam/build`, where `sam build` run beside it writes. */
export function defaultBuildDir(templatePath = "template.yaml"): string {
  return join(dirname(resolve(templatePath)), SAM_BUILD_DIR);
}

export interface BuildFunctionOptions extends FunctionOptions {
  /** Root of the bundles; default `defaultBuildDir(templatePath)`. The bundle goes to `<outRoot>/<LogicalId>/`. */
  outRoot?: string;
}

/** Writes a file so a concurrent reader sees the old or the new content, never a torn one (write + rename). */
function writeAtomically(path: string, contents: Uint8Array): void {
  const tmp = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  writeFileSync(tmp, contents);
  renameSync(tmp, path);
}

/**
 * Bundles a function with its template's BuildProperties, as `sam build` does, into `<outRoot>/<LogicalId>/`
 * (`index.mjs` + `index.mjs.map` here); returns the bundle's absolute path. Files are replaced atomically, so a test or
 * the demo may build while another process loads the same bundle; files esbuild no longer emits are removed.
 * Throws TemplateError when the entry is missing, the handler names another file, or esbuild fails.
 */
export async function buildFunction(
  logicalId: string,
  opts: BuildFunctionOptions = {},
  cfg: FunctionConfig = functionConfig(logicalId, opts),
): Promise<string> {
  if (!existsSync(cfg.entry)) throw new TemplateError(`${logicalId}: entry point ${cfg.entry} does not exist`);
  const outRoot = resolve(opts.outRoot ?? defaultBuildDir(opts.templatePath));
  const outdir = join(outRoot, logicalId);
  const file = bundlePath(cfg, outdir);
  // Lambda loads <module>.{js,mjs,cjs} from the artifact root: the handler must name the file esbuild writes.
  if (basename(file, extname(file)) !== cfg.handlerModule)
    throw new TemplateError(
      `${logicalId}: Handler module '${cfg.handlerModule}' does not match bundle ${basename(file)}`,
    );
  let outputs: { path: string; contents: Uint8Array }[];
  try {
    outputs = (await build({ ...esbuildOptions(cfg, outdir), write: false })).outputFiles;
  } catch (err) {
    const first = (err as { errors?: Array<{ text: string; location?: { file: string; line: number } }> }).errors?.[0];
    const where = first?.location ? ` (${first.location.file}:${first.location.line})` : "";
    throw new TemplateError(`${logicalId}: esbuild failed: ${first?.text ?? (err as Error).message}${where}`);
  }
  mkdirSync(outdir, { recursive: true });
  for (const o of outputs) writeAtomically(o.path, o.contents);
  const emitted = new Set(outputs.map((o) => basename(o.path)));
  for (const name of readdirSync(outdir))
    if (!emitted.has(name) && !name.endsWith(".tmp")) rmSync(join(outdir, name), { recursive: true, force: true });
  return file;
}

export interface BuiltFunction {
  logicalId: string;
  bundle: string;
  bytes: number;
  ms: number;
}

/**
 * `sam build` without docker or the SAM CLI: every AWS::Serverless::Function of the template (or the ids given) bundled
 * to `<buildDir>/<LogicalId>/`, plus `<buildDir>/template.yaml` whose functions point at those directories (what
 * `sam deploy` packages). Function directories of functions the template no longer has are removed.
 */
export async function buildTemplate(
  opts: BuildFunctionOptions & { only?: string[] } = {},
): Promise<{ buildDir: string; template: string; functions: BuiltFunction[] }> {
  const templatePath = resolve(opts.templatePath ?? "template.yaml");
  const template = loadTemplate(templatePath);
  const all = listFunctions(template);
  for (const id of opts.only ?? [])
    if (!all.includes(id)) throw new TemplateError(`'${id}' is not a function of ${templatePath} (${all.join(", ")})`);
  const buildDir = resolve(opts.outRoot ?? defaultBuildDir(templatePath));
  mkdirSync(buildDir, { recursive: true });
  for (const name of readdirSync(buildDir))
    if (statSync(join(buildDir, name)).isDirectory() && !all.includes(name))
      rmSync(join(buildDir, name), { recursive: true, force: true });
  const functions: BuiltFunction[] = [];
  for (const logicalId of opts.only?.length ? opts.only : all) {
    const t0 = performance.now();
    const bundle = await buildFunction(logicalId, { ...opts, templatePath, outRoot: buildDir });
    functions.push({ logicalId, bundle, bytes: statSync(bundle).size, ms: Math.round(performance.now() - t0) });
  }
  const out = join(buildDir, "template.yaml");
  // JSON is YAML: every SAM/CloudFormation reader takes it, and no YAML 1.1 reader turns a string into a date.
  writeAtomically(out, Buffer.from(`${JSON.stringify(builtTemplate(template, all), null, 2)}\n`));
  return { buildDir, template: out, functions };
}

/** The template as `sam build` leaves it: each function's CodeUri is its build directory, its Metadata names it. */
export function builtTemplate(template: CfnTemplate, functionIds: string[]): CfnTemplate {
  const out = structuredClone(template);
  for (const id of functionIds) {
    const r = out.Resources[id]!;
    r.Properties = { ...r.Properties, CodeUri: id };
    r.Metadata = { ...r.Metadata, SamResourceId: id };
  }
  return out;
}

// ---------------------------------------------------------------- invoking

/** Runs inside a plain `node` child (no tsx hooks): loads the bundle, calls the handler, answers over IPC. */
const RUNNER_SOURCE = `import { pathToFileURL } from "node:url";
let replied = false;
const reply = (m) => {
  if (replied) return;
  replied = true;
  process.send(m, () => process.exit(0));
};
const failure = (err) => ({
  ok: false,
  error: { type: (err && err.name) || "Error", message: String((err && err.message) || err), stack: err && err.stack },
});
process.on("unhandledRejection", (err) => reply(failure(err)));
process.on("uncaughtException", (err) => reply(failure(err)));
process.once("message", async (msg) => {
  const { bundle, handlerExport, event, context: base, deadline } = msg;
  const context = {
    ...base,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => {},
    fail: () => {},
    succeed: () => {},
  };
  try {
    const mod = await import(pathToFileURL(bundle).href);
    const fn = mod[handlerExport] ?? (mod.default && mod.default[handlerExport]);
    if (typeof fn !== "function") throw new Error(bundle + " does not export a function '" + handlerExport + "'");
    const result =
      fn.length >= 3
        ? await new Promise((res, rej) => {
            const r = fn(event, context, (e, v) => (e ? rej(e) : res(v)));
            if (r && typeof r.then === "function") r.then(res, rej);
          })
        : await fn(event, context);
    reply({ ok: true, result: result === undefined ? null : result });
  } catch (err) {
    reply(failure(err));
  }
});
`;

/** The runner script, written once per content outside the build directory (which holds only what SAM would). */
function runnerFile(): string {
  const hash = createHash("sha256").update(RUNNER_SOURCE).digest("hex").slice(0, 12);
  const path = join(tmpdir(), `dcp-invoke-runner-${hash}.mjs`);
  if (!existsSync(path)) writeAtomically(path, Buffer.from(RUNNER_SOURCE));
  return path;
}

export type InvokeOutcome =
  | { ok: true; result: unknown; durationMs: number; requestId: string }
  | { ok: false; error: { type: string; message: string; stack?: string }; durationMs: number; requestId: string };

/** Caller variables a Lambda-like run keeps: credentials, endpoint, region, proxies, Powertools dev switches. */
const PASSTHROUGH =
  /^(AWS_.*|POWERTOOLS_.*|PATH|HOME|TMPDIR|TEMP|TMP|LANG|LC_ALL|(HTTPS?|NO)_PROXY|(https?|no)_proxy)$/;

/** The process environment a function sees: kept caller variables, then the function's, then Lambda's own. */
export function lambdaEnvironment(
  cfg: FunctionConfig,
  callerEnv: NodeJS.ProcessEnv = process.env,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(callerEnv)) if (v !== undefined && PASSTHROUGH.test(k)) env[k] = v;
  Object.assign(env, cfg.environment);
  const region = callerEnv["AWS_REGION"] ?? cfg.region;
  Object.assign(env, {
    AWS_REGION: region,
    AWS_DEFAULT_REGION: callerEnv["AWS_DEFAULT_REGION"] ?? region,
    AWS_LAMBDA_FUNCTION_NAME: cfg.logicalId,
    AWS_LAMBDA_FUNCTION_VERSION: "$LATEST",
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(cfg.memoryMB),
    AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${cfg.logicalId}`,
    AWS_EXECUTION_ENV: `AWS_Lambda_${cfg.runtime}`,
    _HANDLER: `${cfg.handlerModule}.${cfg.handlerExport}`,
  });
  return env;
}

export interface InvokeOptions {
  /** Default: the function's Timeout. */
  timeoutMs?: number;
  callerEnv?: NodeJS.ProcessEnv;
}

/** Invokes a built bundle once in a child process. The child's stdout is sent to this process's stderr, so
 * handler logs (Powertools writes to stdout) never mix with the result, which comes back over IPC. */
export async function invokeBundle(
  bundle: string,
  cfg: FunctionConfig,
  event: unknown,
  opts: InvokeOptions = {},
): Promise<InvokeOutcome> {
  const { fork } = await import("node:child_process");
  const { randomUUID, randomBytes } = await import("node:crypto");
  const runner = runnerFile();

  const requestId = randomUUID();
  const timeoutMs = opts.timeoutMs ?? cfg.timeoutSeconds * 1000;
  const env = lambdaEnvironment(cfg, opts.callerEnv);
  const day = new Date().toISOString().slice(0, 10).replaceAll("-", "/");
  env["AWS_LAMBDA_LOG_STREAM_NAME"] = `${day}/[$LATEST]${randomBytes(16).toString("hex")}`;
  const context = {
    functionName: cfg.logicalId,
    functionVersion: "$LATEST",
    invokedFunctionArn: `arn:aws:lambda:${env["AWS_REGION"]}:${cfg.accountId}:function:${cfg.logicalId}`,
    memoryLimitInMB: String(cfg.memoryMB),
    awsRequestId: requestId,
    logGroupName: env["AWS_LAMBDA_LOG_GROUP_NAME"],
    logStreamName: env["AWS_LAMBDA_LOG_STREAM_NAME"],
    callbackWaitsForEmptyEventLoop: true,
  };

  const started = Date.now();
  return new Promise<InvokeOutcome>((resolveOutcome) => {
    const child = fork(runner, [], {
      cwd: dirname(bundle),
      env,
      execArgv: [], // never inherit tsx's loader hooks: the bundle runs on plain node like in Lambda
      stdio: ["ignore", 2, 2, "ipc"],
    });
    let settled = false;
    const settle = (o: InvokeOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (child.exitCode === null) child.kill("SIGKILL");
      resolveOutcome(o);
    };
    const timer = setTimeout(() => {
      settle({
        ok: false,
        error: { type: "TimeoutError", message: `Task timed out after ${(timeoutMs / 1000).toFixed(2)} seconds` },
        durationMs: Date.now() - started,
        requestId,
      });
    }, timeoutMs);
    child.on("message", (m: { ok: boolean; result?: unknown; error?: { type: string; message: string } }) => {
      const durationMs = Date.now() - started;
      settle(
        m.ok
          ? { ok: true, result: m.result ?? null, durationMs, requestId }
          : { ok: false, error: m.error ?? { type: "Error", message: "unknown error" }, durationMs, requestId },
      );
    });
    child.on("error", (err) =>
      settle({ ok: false, error: { type: "RuntimeError", message: err.message }, durationMs: 0, requestId }),
    );
    // "close" (not "exit"): it comes after the IPC channel has delivered every message.
    child.on("close", (code, signal) =>
      settle({
        ok: false,
        error: { type: "RuntimeExitError", message: `runtime exited (${signal ?? `code ${code}`}) without a result` },
        durationMs: Date.now() - started,
        requestId,
      }),
    );
    child.send({ bundle, handlerExport: cfg.handlerExport, event, context, deadline: started + timeoutMs });
  });
}
