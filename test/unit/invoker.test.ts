// The docker-free invoker against a fixture template + handler: environment resolution, stdout purity,
// exit codes. The handler logs through Powertools (stdout), console.log, raw stdout writes and console.error.
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { functionConfig, lambdaEnvironment, TemplateError } from "../../scripts/lib/template.ts";

const ROOT = join(import.meta.dirname, "..", "..");
const FIXTURE = join(ROOT, "test", "fixtures", "invoker", "template.yaml");
const TSX = join(ROOT, "node_modules", "tsx", "dist", "cli.mjs");
const run = promisify(execFile);
const tmp = mkdtempSync(join(tmpdir(), "dcp-invoker-"));

function file(name: string, content: unknown): string {
  const path = join(tmp, name);
  writeFileSync(path, typeof content === "string" ? content : JSON.stringify(content));
  return path;
}

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

async function invoke(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  const callerEnv = { PATH: process.env["PATH"], HOME: process.env["HOME"], ...env };
  try {
    const { stdout, stderr } = await run(process.execPath, [TSX, "scripts/invoke.ts", "--template", FIXTURE, ...args], {
      cwd: ROOT,
      env: callerEnv,
      timeout: 60_000,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout: string; stderr: string };
    return { code: typeof e.code === "number" ? e.code : -1, stdout: e.stdout, stderr: e.stderr };
  }
}

describe("functionConfig environment resolution", () => {
  it("merges Globals with the function's variables and resolves parameters and intrinsics", () => {
    const cfg = functionConfig("FixtureFunction", { templatePath: FIXTURE, region: "eu-central-1" });
    expect(cfg.environment).toEqual({
      FIX_NAMESPACE: "voiceai/prod",
      FIX_PARAM: "/voiceai/prod/control-plane/manifest",
      FIX_MODE: "report",
      FIX_TABLE: "Table", // a resource Ref becomes its logical id
      FIX_QUEUE_ARN: "Queue.Arn",
      FIX_TOPIC: "none", // !If on a condition that is false with the defaults
      FIX_JOINED: "eu-central-1-prod",
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a literal ${…} is the point (Sub's ${!…} escape)
      FIX_LITERAL: "${NotSubstituted}",
      FIX_OVERRIDDEN: "from-function", // the function's value beats Globals
      FIX_FUNCTION_ONLY: "only-here",
      POWERTOOLS_SERVICE_NAME: "fixture",
    });
    expect(cfg.timeoutSeconds).toBe(5);
    expect(cfg.memoryMB).toBe(256);
    expect(cfg.handlerExport).toBe("handler");
  });

  it("applies parameter overrides, then env-vars Parameters (all functions), then the function's own section", () => {
    const envVars = {
      Parameters: { FIX_OVERRIDDEN: "from-parameters", FIX_MODE: "from-parameters" },
      FixtureFunction: { FIX_MODE: "from-function-section", FIX_EXTRA: 42 },
      OtherFunction: { FIX_OTHER: "not-for-fixture" },
    };
    const cfg = functionConfig("FixtureFunction", {
      templatePath: FIXTURE,
      parameterOverrides: { Namespace: "voiceai/staging", TopicArn: "arn:aws:sns:eu-central-1:123456789012:t" },
      envVars,
    });
    expect(cfg.environment["FIX_NAMESPACE"]).toBe("voiceai/staging");
    expect(cfg.environment["FIX_PARAM"]).toBe("/voiceai/staging/control-plane/manifest");
    expect(cfg.environment["FIX_TOPIC"]).toBe("arn:aws:sns:eu-central-1:123456789012:t");
    expect(cfg.environment["FIX_OVERRIDDEN"]).toBe("from-parameters");
    expect(cfg.environment["FIX_MODE"]).toBe("from-function-section");
    expect(cfg.environment["FIX_EXTRA"]).toBe("42");
    expect(cfg.environment["FIX_OTHER"]).toBeUndefined();
    expect(cfg.undeclaredEnv).toEqual(["FIX_EXTRA"]);

    const other = functionConfig("OtherFunction", { templatePath: FIXTURE, envVars });
    expect(other.environment["FIX_OTHER"]).toBe("not-for-fixture");
    expect(other.environment["FIX_OVERRIDDEN"]).toBe("from-parameters");
    expect(other.environment["POWERTOOLS_SERVICE_NAME"]).toBeUndefined();
  });

  it("rejects overrides CloudFormation would reject", () => {
    expect(() =>
      functionConfig("FixtureFunction", { templatePath: FIXTURE, parameterOverrides: { Mode: "delete" } }),
    ).toThrow(/Mode.*not one of/);
    expect(() =>
      functionConfig("FixtureFunction", { templatePath: FIXTURE, parameterOverrides: { Namespace: "Bad Namespace" } }),
    ).toThrow(/does not match/);
    expect(() =>
      functionConfig("FixtureFunction", { templatePath: FIXTURE, parameterOverrides: { Nope: "x" } }),
    ).toThrow(TemplateError);
    expect(() => functionConfig("Table", { templatePath: FIXTURE })).toThrow(/not an AWS::Serverless::Function/);
  });

  it("keeps the caller's AWS endpoint, region and credentials but nothing else from the shell", () => {
    const cfg = functionConfig("FixtureFunction", { templatePath: FIXTURE });
    const env = lambdaEnvironment(cfg, {
      AWS_ENDPOINT_URL: "http://127.0.0.1:5000",
      AWS_REGION: "eu-central-1",
      AWS_ACCESS_KEY_ID: "testing",
      AWS_SECRET_ACCESS_KEY: "testing",
      FIX_MODE: "from-shell",
      DCP_NAMESPACE: "leaked",
    });
    expect(env["AWS_ENDPOINT_URL"]).toBe("http://127.0.0.1:5000");
    expect(env["AWS_REGION"]).toBe("eu-central-1");
    expect(env["AWS_ACCESS_KEY_ID"]).toBe("testing");
    expect(env["FIX_MODE"]).toBe("report");
    expect(env["DCP_NAMESPACE"]).toBeUndefined();
    expect(env["AWS_LAMBDA_FUNCTION_NAME"]).toBe("FixtureFunction");
  });
});

describe("npm run invoke (scripts/invoke.ts)", () => {
  it("prints only the handler's JSON result on stdout and every log line on stderr", async () => {
    const event = file("ok.json", { mode: "ok", marker: "m-ok" });
    const envVars = file("env.json", { FixtureFunction: { FIX_MODE: "quarantine" } });
    const r = await invoke(
      ["FixtureFunction", event, "--env-vars", envVars, "--parameter-overrides", "Namespace=voiceai/staging"],
      {
        AWS_ENDPOINT_URL: "http://127.0.0.1:5999",
        AWS_REGION: "eu-central-1",
        FIX_CALLER_ONLY: "should-not-reach-the-handler",
      },
    );
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.split("\n").filter(Boolean);
    expect(lines).toHaveLength(1);
    const result = JSON.parse(lines[0]!);
    expect(result.marker).toBe("m-ok");
    expect(result.env.FIX_NAMESPACE).toBe("voiceai/staging");
    expect(result.env.FIX_MODE).toBe("quarantine");
    expect(result.env.FIX_OVERRIDDEN).toBe("from-function");
    expect(result.env.AWS_ENDPOINT_URL).toBe("http://127.0.0.1:5999");
    expect(result.env.FIX_CALLER_ONLY).toBeUndefined();
    expect(result.context).toMatchObject({
      functionName: "FixtureFunction",
      functionVersion: "$LATEST",
      invokedFunctionArn: "arn:aws:lambda:eu-central-1:123456789012:function:FixtureFunction",
      memoryLimitInMB: "256",
      logGroupName: "/aws/lambda/FixtureFunction",
      callbackWaitsForEmptyEventLoop: true,
    });
    expect(result.context.awsRequestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(result.context.remainingMs).toBeGreaterThan(0);
    expect(result.context.remainingMs).toBeLessThanOrEqual(5000);

    // Logs: Powertools' JSON line, console.log and raw stdout writes all land on stderr.
    const powertools = r.stderr
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(powertools).toContainEqual(
      expect.objectContaining({ message: "fixture handler invoked", service: "fixture", marker: "m-ok" }),
    );
    expect(r.stderr).toContain("console.log line from the fixture");
    expect(r.stderr).toContain("raw stdout write from the fixture");
    expect(r.stderr).toContain("console.error line from the fixture");
    expect(r.stdout).not.toContain("fixture handler invoked");
  }, 60_000);

  it("runs the bundle `sam build` would write beside the template, built from its BuildProperties (the code Lambda runs)", async () => {
    const r = await invoke(["FixtureFunction", file("bundle.json", { marker: "b" })]);
    expect(r.code, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout);
    const bundle = join(ROOT, "test", "fixtures", "invoker", ".aws-sam", "build", "FixtureFunction", "index.mjs");
    expect(result.moduleUrl).toBe(`file://${bundle}`);
    const code = readFileSync(bundle, "utf8");
    expect(code.startsWith("import { createRequire } from 'module';")).toBe(true); // Banner applied
    expect(code).toContain("//# sourceMappingURL=index.mjs.map");
    expect(existsSync(`${bundle}.map`)).toBe(true);
  }, 60_000);

  it("exits non-zero with a one-line error and an empty stdout when the handler throws", async () => {
    const r = await invoke(["FixtureFunction", file("throw.json", { mode: "throw", marker: "boom-7" })]);
    expect(r.code).not.toBe(0);
    expect(r.stdout).toBe("");
    const last = r.stderr.trim().split("\n").at(-1)!;
    expect(last).toBe("invoke: FixtureFunction failed: TypeError: fixture failure requested (boom-7)");
  }, 60_000);

  it("stops a handler at the function timeout", async () => {
    const r = await invoke(["FixtureFunction", file("hang.json", { mode: "hang" }), "--timeout", "1"]);
    expect(r.code).not.toBe(0);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/Task timed out after 1\.00 seconds/);
  }, 60_000);

  it("rejects an unknown logical id, naming the functions that exist", async () => {
    const r = await invoke(["NoSuchFunction", file("any.json", {})]);
    expect(r.code).not.toBe(0);
    expect(r.stdout).toBe("");
    expect(r.stderr.trim().split("\n").at(-1)).toMatch(
      /^invoke: 'NoSuchFunction' is not an AWS::Serverless::Function .*\(functions: FixtureFunction, OtherFunction\)$/,
    );
  }, 60_000);

  it("rejects a missing or malformed event file", async () => {
    const missing = await invoke(["FixtureFunction", join(tmp, "missing.json")]);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toMatch(/event file not readable/);
    const broken = await invoke(["FixtureFunction", file("broken.json", "{not json")]);
    expect(broken.code).not.toBe(0);
    expect(broken.stdout).toBe("");
    expect(broken.stderr).toMatch(/is not valid JSON/);
  }, 60_000);
});
