// `npm run demo` from the repository root: exits 0 and tells the whole story, section by section.
import { resolve } from "node:path";
import { expect, it } from "vitest";
import { spawnCollect } from "../support/fixtures.ts";

const ROOT = resolve(import.meta.dirname, "../..");

const npmRunDemo = () => spawnCollect("npm", ["run", "--silent", "demo"], { cwd: ROOT, env: process.env });

it("npm run demo guards a launch, rolls a rotation through every wave and audits before and after --fix", async () => {
  const r = await npmRunDemo();
  expect(r.code, r.stderr.slice(-2000)).toBe(0);
  const out = r.stdout;
  const at = (s: string) => out.indexOf(s);
  const sections = ["== 0. Setup", "== 1. A new api host", "== 2. The RDS master secret rotates", "== 3. Drift audit"];
  for (const s of sections) expect(at(s), s).toBeGreaterThanOrEqual(0);
  expect(sections.map(at)).toEqual(sections.map(at).sort((a, b) => a - b));

  // (1) The launched IMDSv1 host ends IMDSv2-only with hop limit 2; its role is in scope.
  expect(out).toMatch(/IMDS before: tokens=optional hop-limit=1/);
  expect(out).toMatch(/IMDS after: +tokens=required hop-limit=2 endpoint=enabled/);
  expect(out).toMatch(/IAM verdict: ok/);

  // (2) Waves start in manifest order (database, api, web/voice, ops) and the rollout completes.
  const waveStarts = [...out.matchAll(/wave (\d+) starts/g)].map((m) => Number(m[1]));
  expect(waveStarts.slice(0, 4)).toEqual([0, 1, 2, 3]);
  expect(out).toMatch(/rollout ro-[0-9a-f]{16}: succeeded \(13 hosts restarted, 1 ECS service redeployed\)/);
  // …and the Pipecat ECS service took one new deployment in the voice wave, recording the version it runs.
  expect(out).toMatch(/wave 2 also: ECS service arn:aws:ecs:[^ ]+\/pipecat-voice \(voice\)/);
  expect(out).toMatch(/ECS UpdateService\(forceNewDeployment\) arn:aws:ecs:[^ ]+\/pipecat-voice: ecs-svc\//);
  expect(out).toMatch(
    /ECS service pipecat-voice: deployment ecs-svc\/\d+ → ecs-svc\/\d+; records version [0-9a-f-]{36}/,
  );
  // One gate holding and releasing a wave: api's alarm in ALARM holds wave 1 until it is OK and a reconcile runs.
  expect(out).toMatch(/the next wave is held, durably, on the rollout: wave 1 held: alarm \S+-api-5xx ALARM/);
  expect(out).toMatch(/release wave 1: gates open \(was held: alarm \S+-api-5xx ALARM\)\n\s+send step 1/);

  // (3) Three audits: stale + IMDS drift before, fixes applied, and neither left afterwards.
  const audits = out
    .split(/^\$ dcp /m)
    .slice(1)
    .filter((a) => a.startsWith("audit")); // the gate section's `rollout reconcile` runs come first
  expect(audits.map((a) => a.split("\n")[0])).toEqual(["audit", "audit --fix", "audit"]);
  const [before, fix, after] = audits as [string, string, string];
  expect(before).toContain("stale-credentials");
  expect(before).toMatch(/imds-tokens-optional\s+high/);
  expect(fix).toMatch(/IMDS done: i-/);
  expect(fix).toMatch(/catch-up rollout ro-[0-9a-f]{16} .*\n(?:.*\n)*?.*: succeeded/);
  expect(after).not.toContain("stale-credentials");
  expect(after).not.toMatch(/imds-[a-z-]+\s+(high|medium)/);
  expect(after).toMatch(/iam-excess-grant/); // IAM is never auto-fixed
  expect(out).toMatch(/== Done in/);
  // A hang guard, not a timing: ≈ 45 s on an idle 2-core machine, 150 s measured with the machine's cores shared.
}, 300_000);
