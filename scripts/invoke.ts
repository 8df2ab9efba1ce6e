// Docker-free `sam local invoke`: npm run invoke -- <LogicalId> <event.json|-> [--env-vars env.json]
//   [--parameter-overrides K=V ...] [--template template.yaml] [--timeout seconds] [--local-aws]
// --local-aws: starts a moto_server for this run (seeded with the demo fleet under the function's namespace and the
// tables and document its environment names) and stops it afterwards; otherwise AWS_ENDPOINT_URL or real AWS.
// Bundles the function exactly as template.yaml's esbuild Metadata says, runs it in a Lambda-like child
// process and prints ONLY the handler's JSON result on stdout; every log line goes to stderr.
import { readFileSync } from "node:fs";
import { startLocalStack } from "./lib/local-stack.ts";
import { runAsScript } from "./lib/script.ts";
import { buildFunction, type EnvVarsFile, functionConfig, invokeBundle, TemplateError } from "./lib/template.ts";

export interface InvokeArgs {
  logicalId: string;
  eventPath: string;
  envVarsPath?: string;
  parameterOverrides: Record<string, string>;
  templatePath: string;
  timeoutSeconds?: number;
  localAws?: boolean;
}

const USAGE =
  "usage: npm run invoke -- <LogicalId> <event.json|-> [--env-vars env.json] [--parameter-overrides K=V ...] [--template path] [--timeout s] [--local-aws]";

/** Accepts `K=V` and SAM's `ParameterKey=K,ParameterValue=V` forms. */
function parseOverride(token: string): [string, string] {
  const sam = /^ParameterKey=([^,]+),ParameterValue=(.*)$/.exec(token);
  if (sam) return [sam[1]!, sam[2]!];
  const eq = token.indexOf("=");
  if (eq <= 0) throw new TemplateError(`--parameter-overrides: '${token}' is not K=V`);
  return [token.slice(0, eq), token.slice(eq + 1)];
}

export function parseArgs(argv: string[]): InvokeArgs {
  const positional: string[] = [];
  const out: Omit<InvokeArgs, "logicalId" | "eventPath"> = { parameterOverrides: {}, templatePath: "template.yaml" };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const next = () => {
      const v = argv[++i];
      if (v === undefined) throw new TemplateError(`${arg} needs a value`);
      return v;
    };
    if (arg === "--env-vars" || arg === "-n") out.envVarsPath = next();
    else if (arg === "--template" || arg === "-t") out.templatePath = next();
    else if (arg === "--timeout") out.timeoutSeconds = Number(next());
    else if (arg === "--local-aws") out.localAws = true;
    else if (arg === "--parameter-overrides") {
      while (argv[i + 1] !== undefined && !argv[i + 1]!.startsWith("--")) {
        const [k, v] = parseOverride(argv[++i]!);
        out.parameterOverrides[k] = v;
      }
    } else if (arg.startsWith("--")) throw new TemplateError(`unknown option ${arg}`);
    else positional.push(arg);
  }
  if (positional.length !== 2) throw new TemplateError(USAGE);
  return { logicalId: positional[0]!, eventPath: positional[1]!, ...out };
}

function readJson(path: string, what: string): unknown {
  let text: string;
  try {
    text = path === "-" ? readFileSync(0, "utf8") : readFileSync(path, "utf8");
  } catch {
    throw new TemplateError(`${what} not readable: ${path}`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new TemplateError(`${what} ${path} is not valid JSON: ${(err as Error).message}`);
  }
}

export async function main(argv: string[]): Promise<number> {
  const args = parseArgs(argv);
  const event = readJson(args.eventPath, "event file");
  const envVars = args.envVarsPath ? (readJson(args.envVarsPath, "env-vars file") as EnvVarsFile) : undefined;
  const cfg = functionConfig(args.logicalId, {
    templatePath: args.templatePath,
    parameterOverrides: args.parameterOverrides,
    ...(envVars ? { envVars } : {}),
  });
  for (const name of cfg.undeclaredEnv)
    process.stderr.write(`invoke: note: ${name} is not declared in the template (SAM would ignore it; set anyway)\n`);
  const t0 = Date.now();
  const bundle = await buildFunction(args.logicalId, { templatePath: args.templatePath }, cfg);
  process.stderr.write(`invoke: built ${args.logicalId} → ${bundle} in ${Date.now() - t0} ms\n`);
  const local = args.localAws ? await startLocalStack(cfg.environment) : undefined;
  if (local)
    process.stderr.write(
      `invoke: local AWS (moto) on ${local.server.endpoint}: demo fleet ${local.fleet.namespace} (${local.fleet.hosts.length} hosts), ${Object.values(local.resources).join(", ")}\n`,
    );
  const outcome = await invokeBundle(
    bundle,
    cfg,
    event,
    args.timeoutSeconds ? { timeoutMs: args.timeoutSeconds * 1000 } : {},
  ).finally(() => local?.stop());
  process.stderr.write(`invoke: ${args.logicalId} ${outcome.requestId} finished in ${outcome.durationMs} ms\n`);
  if (!outcome.ok) {
    const msg = `${outcome.error.type}: ${outcome.error.message}`.replace(/\s*\n\s*/g, " ");
    process.stderr.write(`invoke: ${args.logicalId} failed: ${msg}\n`);
    return 1;
  }
  process.stdout.write(`${JSON.stringify(outcome.result)}\n`);
  return 0;
}

runAsScript(import.meta.url, "invoke", main, (e) => e instanceof TemplateError);
