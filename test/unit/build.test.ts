// `npm run build` (scripts/build.ts) writes what `sam build` would: one bundle + source map per template function at
// `.aws-sam/build/<LogicalId>/`, built from the template's own esbuild Metadata, and a built template for `sam deploy`
// whose functions point at those directories and still transform with the SAM translator.
import { execFile, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { beforeAll, describe, expect, it } from "vitest";
import { listFunctions, loadTemplate } from "../../scripts/lib/template.ts";

const ROOT = join(import.meta.dirname, "..", "..");
const TSX = join(ROOT, "node_modules", "tsx", "dist", "cli.mjs");
const ids = listFunctions(loadTemplate(join(ROOT, "template.yaml")));
const buildDir = join(mkdtempSync(join(tmpdir(), "dcp-build-")), ".aws-sam", "build");
let stdout = "";

beforeAll(async () => {
  // A stale function directory (a function the template no longer has) must go, as with `sam build`.
  mkdirSync(join(buildDir, "RemovedFunction"), { recursive: true });
  writeFileSync(join(buildDir, "RemovedFunction", "index.mjs"), "stale");
  ({ stdout } = await promisify(execFile)(process.execPath, [TSX, "scripts/build.ts", "--build-dir", buildDir], {
    cwd: ROOT,
    timeout: 120_000,
  }));
}, 120_000);

describe("npm run build", () => {
  it("writes exactly one index.mjs + index.mjs.map per template function, and the built template", () => {
    expect(ids.length).toBeGreaterThan(0);
    expect(readdirSync(buildDir).sort()).toEqual([...ids, "template.yaml"].sort());
    for (const id of ids) {
      expect(readdirSync(join(buildDir, id)).sort()).toEqual(["index.mjs", "index.mjs.map"]);
      const code = readFileSync(join(buildDir, id, "index.mjs"), "utf8");
      // The template's Banner and Sourcemap properties, applied as SAM applies them.
      expect(code.startsWith("import { createRequire } from 'module';")).toBe(true);
      expect(code.trimEnd().endsWith("//# sourceMappingURL=index.mjs.map")).toBe(true);
      expect(stdout).toContain(id);
    }
  });

  it("leaves a built template whose functions point at their build directories and which the SAM translator takes", () => {
    const built = loadTemplate(join(buildDir, "template.yaml"));
    for (const id of ids) {
      expect(built.Resources[id]?.Properties?.["CodeUri"]).toBe(id);
      expect(built.Resources[id]?.Metadata?.["SamResourceId"]).toBe(id);
    }
    const r = spawnSync("python3", [join(ROOT, "scripts/sam-transform.py"), join(buildDir, "template.yaml")], {
      encoding: "utf8",
      env: { ...process.env, AWS_DEFAULT_REGION: "eu-central-1" },
    });
    expect(r.status, r.stderr).toBe(0);
  });

  it("refuses an id that is not a function of the template, with one line and exit 2", () => {
    const r = spawnSync(process.execPath, [TSX, "scripts/build.ts", "NoSuchFunction", "--build-dir", buildDir], {
      cwd: ROOT,
      encoding: "utf8",
    });
    expect(r.status).toBe(2);
    expect(r.stderr.trim()).toMatch(/^build: 'NoSuchFunction' is not a function of .*template\.yaml/);
  });
});
