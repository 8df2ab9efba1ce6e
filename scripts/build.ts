// npm run build [-- <LogicalId> ...] [--template template.yaml] [--build-dir .aws-sam/build]
// `sam build` for this project without docker or the SAM CLI: each function of the template bundled from its own
// esbuild Metadata (scripts/lib/template.ts, the code path the invoker, demo and bench use) to
// `.aws-sam/build/<LogicalId>/index.mjs` + `index.mjs.map`, and `.aws-sam/build/template.yaml` for `sam deploy`.
import { relative } from "node:path";
import { parseArgs } from "node:util";
import { runAsScript } from "./lib/script.ts";
import { buildTemplate, TemplateError } from "./lib/template.ts";

export async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { template: { type: "string", short: "t" }, "build-dir": { type: "string", short: "b" } },
    allowPositionals: true,
  });
  const built = await buildTemplate({
    ...(values.template ? { templatePath: values.template } : {}),
    ...(values["build-dir"] ? { outRoot: values["build-dir"] } : {}),
    only: positionals,
  });
  for (const f of built.functions)
    process.stdout.write(
      `${f.logicalId.padEnd(26)} ${relative(process.cwd(), f.bundle).padEnd(52)} ${(f.bytes / 1024).toFixed(0).padStart(5)} KB ${String(f.ms).padStart(6)} ms\n`,
    );
  process.stdout.write(`built template: ${relative(process.cwd(), built.template)}\n`);
  return 0;
}

runAsScript(import.meta.url, "build", main, (e) => e instanceof TemplateError || e instanceof TypeError);
