// Bench-only: runs with its cwd in the old tree (bench/.work/before, see before.ts) and builds one function with THAT
// tree's template and build code. Prints `{ "file": <bundle>, "env": <template environment> }` on stdout.
// `node --import tsx bench/lib/before-build.ts <LogicalId> <outRoot>`
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";

interface OldTemplateLib {
  functionConfig(id: string): unknown;
  buildFunction(id: string, opts: { outRoot: string }, cfg: unknown): Promise<string>;
  lambdaEnvironment(cfg: unknown, env: NodeJS.ProcessEnv): Record<string, string>;
}

const [logicalId, outRoot] = process.argv.slice(2);
if (!logicalId || !outRoot) throw new Error("usage: before-build.ts <LogicalId> <outRoot>");
const lib = (await import(pathToFileURL(resolve("scripts/lib/template.ts")).href)) as OldTemplateLib;
const cfg = lib.functionConfig(logicalId);
const file = await lib.buildFunction(logicalId, { outRoot }, cfg);
process.stdout.write(JSON.stringify({ file, env: lib.lambdaEnvironment(cfg, {}) }));
