// What each Lambda bundle may carry, checked on the bundle esbuild builds from the template's own BuildProperties.
// Size and cold start are measured in bench/; this holds the decisions that keep them in budget from regressing
// silently (a stray import of the YAML parser or classic zod is +100 KB and ≈ +15 ms of init).
import { build, type Metafile } from "esbuild";
import { beforeAll, describe, expect, it } from "vitest";
import { bundleBudgetKB } from "../../bench/lib/report.ts";
import { esbuildOptions, functionConfig, listFunctions, loadTemplate } from "../../scripts/lib/template.ts";

const ids = listFunctions(loadTemplate());

interface Built {
  bytes: number;
  text: string;
  inputs: string[];
  external: string[];
}

const built = new Map<string, Built>();

beforeAll(async () => {
  await Promise.all(
    ids.map(async (id) => {
      const cfg = functionConfig(id);
      const r = await build({ ...esbuildOptions(cfg, "/tmp/dcp-bundle-contents"), write: false, metafile: true });
      const js = r.outputFiles.find((f) => f.path.endsWith(".mjs"));
      if (!js) throw new Error(`${id}: no .mjs output`);
      const meta = (r.metafile as Metafile).outputs;
      const out = Object.entries(meta).find(([k]) => k.endsWith(".mjs"))?.[1];
      built.set(id, {
        bytes: js.contents.byteLength,
        text: js.text,
        inputs: Object.keys(out?.inputs ?? {}),
        external: cfg.buildProperties.External ?? [],
      });
    }),
  );
}, 240_000); // six bundles; minutes on a loaded 2-core machine

const get = (id: string): Built => {
  const b = built.get(id);
  if (!b) throw new Error(`${id} was not built`);
  return b;
};

describe.each(ids)("%s bundle", (id) => {
  it("is within its budget: 650 KB when it evaluates IAM (the drift audit too), else 600 KB", () => {
    expect(get(id).bytes).toBeLessThanOrEqual(bundleBudgetKB(get(id).inputs) * 1024);
  });

  it("carries no YAML parser and no classic zod (the manifest is JSON in Parameter Store; schemas use zod/mini)", () => {
    const heavy = get(id).inputs.filter((p) => /node_modules\/(yaml|zod\/v4\/classic)\//.test(p));
    expect(heavy).toEqual([]);
  });

  it("leaves the credential providers Lambda never reaches out, and reaches them only through dynamic import()", () => {
    const { inputs, external, text } = get(id);
    expect(inputs.filter((p) => /credential-provider-(sso|ini|process|web-identity|http)\//.test(p))).toEqual([]);
    expect(external.length).toBeGreaterThan(0);
    for (const name of external) {
      const quoted = JSON.stringify(name);
      // A static import of a module that is not in the deployment package would fail the function at init.
      expect(text.includes(`from${quoted}`) || text.includes(`import${quoted}`), `${name} imported statically`).toBe(
        false,
      );
      expect(text.includes(`import(${quoted})`), `${name} reached by import()`).toBe(true);
    }
  });
});

describe("source-mapped stack traces", () => {
  it("are off by default (Node parses the whole source map at load) and one template parameter away", () => {
    for (const id of ids) {
      expect(functionConfig(id).environment.NODE_OPTIONS).toBeUndefined();
      const on = functionConfig(id, { parameterOverrides: { SourceMappedStackTraces: "true" } });
      expect(on.environment.NODE_OPTIONS).toBe("--enable-source-maps");
      expect(on.buildProperties.Sourcemap).toBe(true);
    }
  });
});
