// Every command of the README's local sections runs verbatim on a clean environment (no AWS credentials, no
// endpoint): the build, the local invoke example (which starts its own local AWS) and the CLI. Commands that need the
// SAM CLI and an account stand in their own section, which says so.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = join(import.meta.dirname, "..", "..");
const README = readFileSync(join(ROOT, "README.md"), "utf8");

/** `## heading` → the commands of its ```sh blocks (comments stripped). */
function sections(): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const part of README.split(/^## /m).slice(1)) {
    const heading = part.split("\n")[0]!.trim();
    const commands = [...part.matchAll(/```sh\n([\s\S]*?)```/g)].flatMap((m) =>
      m[1]!
        .split("\n")
        .map((l) => l.replace(/\s+#.*$/, "").trim())
        .filter(Boolean),
    );
    out.set(heading, commands);
  }
  return out;
}

const LOCAL = [
  "Build (docker-free `sam build`)",
  "Run a function locally (docker-free `sam local invoke`)",
  "Operator CLI",
];
const cleanEnv = { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", LANG: "C.UTF-8" };

function run(command: string) {
  return spawnSync("bash", ["-c", command], { cwd: ROOT, env: cleanEnv, encoding: "utf8", timeout: 240_000 });
}

describe("README", () => {
  const all = sections();

  it("keeps commands that need the SAM CLI and an account in their own section, saying so", () => {
    const deploy = [...all.entries()].filter(([, cmds]) => cmds.some((c) => /^sam /.test(c)));
    expect(deploy.map(([h]) => h)).toEqual(["Deploy (needs the SAM CLI and an AWS account: not run by CI)"]);
    for (const h of LOCAL) expect(all.get(h)?.some((c) => /\bsam /.test(c))).toBe(false);
  });

  it("runs the CLI as npx dcp everywhere", () => {
    const cmds = [...all.values()].flat();
    expect(cmds.filter((c) => /(^|&& )dcp /.test(c))).toEqual([]);
    expect(cmds.some((c) => c.startsWith("npx dcp "))).toBe(true);
  });

  it.each(LOCAL.flatMap((h) => (all.get(h) ?? []).map((c) => [h, c] as const)))(
    "%s: `%s` exits 0",
    (_h, command) => {
      const r = run(command);
      expect(r.status, `${command}\n${r.stderr.slice(-2000)}`).toBe(0);
      if (command.startsWith("npm run invoke")) {
        // The local invoke example: the drift audit of the seeded demo fleet, as the function's JSON result.
        const result = JSON.parse(r.stdout.trim().split("\n").at(-1)!);
        expect(result).toMatchObject({ namespace: "voiceai/prod", dryRun: false, remediation: { mode: "none" } });
        expect(result.scannedHosts).toBeGreaterThan(10);
        expect(r.stderr).toMatch(/invoke: local AWS \(moto\) on http:\/\/127\.0\.0\.1:\d+/);
      }
    },
    300_000,
  );
});
