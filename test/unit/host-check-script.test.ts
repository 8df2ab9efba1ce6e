// The host credential check document's own script (template.yaml, HostCredentialCheckDocument), run with bash
// against fixture directories in a temp dir, its stdout judged by the same code the audit uses. Canary values must
// never appear in any output; hostile file contents stay data.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { auditFleet } from "#core/app/audit-fleet";
import { judgeHostChecks, parseOutput } from "#core/domain/host-check";
import { validateManifest } from "#core/domain/manifest";
import { loadTemplate, resolveParameters, resolveValue } from "../../scripts/lib/template.ts";
import { fakeWorld } from "../support/fakes.ts";

const CANARY = "AKIACANARY7d1f3bSECRETVALUE";
const template = loadTemplate();
const doc = template.Resources["HostCredentialCheckDocument"] as unknown as {
  Properties: {
    Content: {
      parameters: Record<string, { default: unknown; allowedPattern: string; type: string }>;
      mainSteps: { inputs: { runCommand: string[] } }[];
    };
  };
};
const content = doc.Properties.Content;
const script = content.mainSteps[0]!.inputs.runCommand.join("\n");

let dir = "";
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = "";
});

/** A host's files: the bootstrap .env, `services/<name>/.env`, and root's ~/.aws files. */
function host(files: { bootstrap?: string; services?: Record<string, string>; aws?: Record<string, string> }) {
  dir = mkdtempSync(join(tmpdir(), "dcphc"));
  const servicesRoot = join(dir, "services");
  const bootstrap = join(dir, "deployment", ".env");
  mkdirSync(servicesRoot, { recursive: true });
  mkdirSync(join(dir, "deployment"));
  mkdirSync(join(dir, "root", ".aws"), { recursive: true });
  if (files.bootstrap !== undefined) writeFileSync(bootstrap, files.bootstrap);
  for (const [name, text] of Object.entries(files.services ?? {})) {
    mkdirSync(join(servicesRoot, name));
    writeFileSync(join(servicesRoot, name, ".env"), text);
  }
  for (const [name, text] of Object.entries(files.aws ?? {})) writeFileSync(join(dir, "root", ".aws", name), text);
  return { servicesRoot, bootstrap };
}

/** Runs the document as SSM would: parameters substituted (after their allowedPattern), bash, stdout + stderr. */
function run(paths: { servicesRoot: string; bootstrap: string }) {
  for (const [name, value] of [
    ["ServicesRoot", paths.servicesRoot],
    ["BootstrapEnv", paths.bootstrap],
  ] as const)
    expect(value, `${name} must pass its allowedPattern`).toMatch(new RegExp(content.parameters[name]!.allowedPattern));
  const text = script
    .replaceAll("{{ServicesRoot}}", paths.servicesRoot)
    .replaceAll("{{BootstrapEnv}}", paths.bootstrap);
  let stderr = "";
  let stdout = "";
  try {
    stdout = execFileSync("bash", ["-c", text], {
      encoding: "utf8",
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", DCP_HOST_CHECK_ROOT_HOME: join(dir, "root") },
      stdio: ["ignore", "pipe", "pipe"],
      maxBuffer: 16 * 1024 * 1024,
    });
  } catch (err) {
    stderr = String((err as { stderr?: string }).stderr);
    throw new Error(`host check failed: ${stderr}`);
  }
  const output = parseOutput(stdout);
  expect(output, stdout).toBeDefined();
  const judged = judgeHostChecks(
    "cmd-1",
    [{ instanceId: "i-0123456789abcdef0", status: "Success", output: stdout }],
    new Map([["i-0123456789abcdef0", "api"]]),
  );
  return { stdout, output: output!, findings: judged.findings, text: stdout + stderr + JSON.stringify(judged) };
}

describe("HostCredentialCheckDocument", () => {
  it("takes two parameters, each with an allowedPattern; ServicesRoot defaults to the template's", () => {
    expect(Object.keys(content.parameters).sort()).toEqual(["BootstrapEnv", "ServicesRoot"]);
    for (const p of Object.values(content.parameters)) {
      expect(p.type).toBe("String");
      expect(p.allowedPattern).toMatch(/^\^.*\$$/);
    }
    const ctx = { template, parameters: resolveParameters(template), pseudo: {} };
    expect(resolveValue(content.parameters["ServicesRoot"]!.default, ctx)).toBe("/opt/services");
    expect(content.parameters["BootstrapEnv"]!.default).toBe("/opt/deployment/.env");
    for (const [name, p] of Object.entries(content.parameters))
      expect(resolveValue(p.default, ctx), `${name}'s default passes its own pattern`).toMatch(
        new RegExp(p.allowedPattern),
      );
    for (const hostile of [
      "/opt/x;id",
      "/opt/../etc",
      "/opt/..",
      "/opt/.x/.env",
      "/opt/$(id)",
      "/opt/a b",
      "relative/.env",
      "/opt/'q",
    ])
      expect(hostile).not.toMatch(new RegExp(content.parameters["BootstrapEnv"]!.allowedPattern));
  });

  it("a proxy without NO_PROXY → proxy-bypasses-imds naming the file; clean files → nothing", () => {
    const paths = host({
      bootstrap: "HTTP_PROXY=http://proxy.internal:3128\n",
      services: { api: "PORT=8080\n" },
    });
    const { findings } = run(paths);
    expect(findings.map((f) => [f.kind, f.severity, f.evidence?.["file"]])).toEqual([
      ["proxy-bypasses-imds", "high", paths.bootstrap],
    ]);
  });

  it("NO_PROXY covering 169.254.169.254 and fd00:ec2::254 (address, CIDR or *) → no finding", () => {
    const paths = host({
      bootstrap: 'export HTTPS_PROXY="http://proxy:3128"\nNO_PROXY="localhost, 169.254.169.254,[fd00:ec2::254]"\n',
      services: {
        api: "http_proxy=http://p:1\nno_proxy=10.0.0.0/8,169.254.0.0/16,fd00:ec2::254\n",
        web: "ALL_PROXY=socks5://p:1\nNO_PROXY=*\n",
      },
    });
    expect(run(paths).findings).toEqual([]);
  });

  it("only the IPv6 address missing → a low finding; a CIDR that does not contain IMDS → high", () => {
    const paths = host({
      services: {
        api: "HTTP_PROXY=http://p:1\nNO_PROXY=169.254.169.254\n",
        web: "HTTPS_PROXY=http://p:1\nNO_PROXY=10.0.0.0/8,169.254.170.0/24\n",
      },
    });
    const found = run(paths).findings.map((f) => [String(f.evidence?.["file"]).split("/").at(-2), f.severity]);
    expect(found.sort()).toEqual([
      ["api", "low"],
      ["web", "high"],
    ]);
  });

  it("static keys in a .env or root's AWS files → static-keys-shadow-profile naming file and key, never the value", () => {
    const paths = host({
      services: { api: `AWS_ACCESS_KEY_ID=${CANARY}\nAWS_SECRET_ACCESS_KEY='${CANARY}/x'\nAWS_REGION=eu-central-1\n` },
      aws: { credentials: `[default]\naws_access_key_id = ${CANARY}\n[ops]\naws_secret_access_key=${CANARY}\n` },
    });
    const { findings, text } = run(paths);
    expect(findings.map((f) => [f.kind, f.evidence?.["file"], f.evidence?.["keys"]])).toEqual([
      [
        "static-keys-shadow-profile",
        join(paths.servicesRoot, "api", ".env"),
        "AWS_ACCESS_KEY_ID,AWS_SECRET_ACCESS_KEY",
      ],
      [
        "static-keys-shadow-profile",
        join(dir, "root", ".aws", "credentials"),
        "default:aws_access_key_id,ops:aws_secret_access_key",
      ],
    ]);
    expect(text).not.toContain("CANARY");
  });

  it("hostile contents stay data: quotes, newlines, command substitution, NUL, 1 MB lines, odd directory names", () => {
    const pwned = join(tmpdir(), `dcphc-pwned-${process.pid}`);
    const huge = `X=${"A".repeat(1024 * 1024)}${CANARY}\n`;
    const paths = host({
      bootstrap: `${huge}HTTP_PROXY="$(touch ${pwned})"\nNO_PROXY=\`touch ${pwned}\`\n`,
      services: {
        api: `AWS_ACCESS_KEY_ID="${CANARY}\n${CANARY}"\n"quoted=\\"${CANARY}\\"\n\u0000AWS_PROFILE=${CANARY}\u0000\n${huge}`,
        'we"ird\nname': `AWS_SECRET_ACCESS_KEY=${CANARY}\n`,
        "$(id)": `AWS_SESSION_TOKEN=${CANARY}\n`,
      },
      aws: {
        config: `[profile ${CANARY}"]\naws_access_key_id=${CANARY}\n[\u0007]\ncredential_process = /bin/${CANARY}\n`,
      },
    });
    const { output, findings, text } = run(paths);
    expect(existsSync(pwned)).toBe(false);
    expect(text).not.toContain("CANARY");
    expect(output.checked).toBe(5);
    // Directory names outside the printable set are reported, not printed.
    const files = findings.map((f) => String(f.evidence?.["file"]));
    expect(files.filter((f) => f === "(unprintable)").length).toBeGreaterThanOrEqual(1);
    expect(findings.some((f) => f.kind === "proxy-bypasses-imds")).toBe(true);
  }, 60_000);

  it("many findings: the answer stays within ListCommandInvocations' 2,500 characters and says what it left out", () => {
    const services = Object.fromEntries(
      Array.from({ length: 20 }, (_, i) => [
        `service-with-a-rather-long-name-${i}`,
        `HTTP_PROXY=http://p:1\nAWS_ACCESS_KEY_ID=${CANARY}\n`,
      ]),
    );
    const { stdout, output, findings } = run(host({ services }));
    expect(stdout.length).toBeLessThanOrEqual(2500);
    expect([output.proxyBypass.length, output.staticKeys.length, output.omitted]).toEqual([6, 6, 28]);
    expect(findings.filter((f) => f.kind === "host-check-failed")).toEqual([
      expect.objectContaining({ severity: "medium", evidence: { commandId: "cmd-1", omitted: 28 } }),
    ]);
  });

  it("an answer outside the contract is a host-check-failed finding, and its text is never echoed", () => {
    const r = judgeHostChecks(
      "cmd-1",
      [
        {
          instanceId: "i-1",
          status: "Success",
          output: `{"v":1,"checked":1,"skipped":0,"proxyBypass":[{"file":"${CANARY}\\"x","v4":false,"v6":false}],"staticKeys":[]}`,
        },
        { instanceId: "i-2", status: "Failed" },
        { instanceId: "i-3", status: "InProgress" },
      ],
      new Map(),
    );
    expect(r.summary).toEqual({ commandId: "cmd-1", hosts: 3, answered: 0, pending: 1, failed: 2 });
    expect(r.findings.map((f) => f.kind)).toEqual(["host-check-failed", "host-check-failed"]);
    expect(JSON.stringify(r)).not.toContain("CANARY");
  });
});

describe("the audit's host check: collect the previous command, send the next", () => {
  it("judges what the hosts answered and records the command it sent; a dry run sends nothing", async () => {
    const NS = "voiceai/prod";
    const m = validateManifest({
      namespace: NS,
      configBucket: "voiceai-prod-config",
      services: [{ name: "api", wave: 0 }],
    });
    const h = {
      instanceId: "i-0123456789abcdef0",
      state: "running" as const,
      launchTime: "2026-11-01T00:00:00Z",
      tags: { Namespace: NS, Service: "api" },
      imds: { httpTokens: "required" as const, hopLimit: 2, httpEndpoint: "enabled" as const },
    };
    const w = fakeWorld(NS, { hosts: [h] });
    const sent: string[] = [];
    const answer =
      '{"v":1,"checked":2,"skipped":0,"proxyBypass":[],"staticKeys":[{"file":"/opt/services/api/.env","keys":["AWS_ACCESS_KEY_ID"]}]}';
    const hostChecks = {
      send: async (tagKey: string, namespace: string) => {
        sent.push(`${tagKey}=${namespace}`);
        return { commandId: `cmd-${sent.length + 1}` };
      },
      results: async (commandId: string) =>
        commandId === "cmd-1" ? [{ instanceId: h.instanceId, status: "Success", output: answer }] : [],
    };
    const deps = { ...w.deps, hostChecks };
    const collect = { commandId: "cmd-1", sentAt: "2026-11-30T11:00:00Z" };
    const r = await auditFleet(m, deps, { remediation: "none", dryRun: false, hostChecks: { collect, send: true } });
    expect(r.findings.filter((f) => f.kind === "static-keys-shadow-profile")).toEqual([
      expect.objectContaining({
        instanceId: h.instanceId,
        service: "api",
        evidence: { file: "/opt/services/api/.env", keys: "AWS_ACCESS_KEY_ID" },
      }),
    ]);
    expect(r.hostChecks.collected).toMatchObject({ commandId: "cmd-1", hosts: 1, answered: 1 });
    expect(sent).toEqual(["Namespace=voiceai/prod"]);
    expect(r.hostChecks.sent?.commandId).toBe("cmd-2");

    const dry = await auditFleet(m, deps, { remediation: "none", dryRun: true, hostChecks: { send: true } });
    expect(dry.hostChecks).toEqual({ collected: null, sent: null });
    expect(sent).toHaveLength(1);
  });
});
