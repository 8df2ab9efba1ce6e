// Every file in events/ runs through the docker-free invoker (the same bundle Lambda runs) against moto with the
// demo fleet seeded. Placeholder ids in the samples are mapped to the seeded fleet's real ones.
import { execFile } from "node:child_process";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { PutSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { beforeAll, describe, expect, it } from "vitest";
import { demoFleetSpec, type SeededFleet, seedFleet } from "../../scripts/lib/fleet.ts";
import { buildFunction, functionConfig, invokeBundle } from "../../scripts/lib/template.ts";
import { useMoto } from "../support/moto.ts";
import { createTables, IDEMPOTENCY_TABLE, ROLLOUT_TABLE } from "../support/wiring.ts";

useMoto();
let fleet: SeededFleet;
const bundles = new Map<string, string>();
const commands: { commandIds: string[]; targetIds: string[] }[] = [];

const ORDER = readdirSync("events")
  .filter((f) => f.endsWith(".json"))
  // Rotations first so the tracker samples can follow a real command.
  .sort((a, b) => Number(a.startsWith("command-")) - Number(b.startsWith("command-")) || a.localeCompare(b));

const EXPECT: Record<string, RegExp> = {
  "instance-launch-pending.json": /^guarded$/,
  "instance-launch-running.json": /^guarded$/,
  "secret-label-updated-current.json": /^(restart|duplicate)$/,
  "secret-label-updated-pending.json": /^ignored$/,
  "rotation-succeeded.json": /^(restart|duplicate)$/,
  "rotation-started.json": /^ignored$/,
  "rotation-failed.json": /^ignored$/,
  "put-secret-value-current.json": /^(restart|duplicate)$/,
  "put-secret-value-pending.json": /^ignored$/,
  "update-secret-version-stage-current.json": /^(restart|duplicate)$/,
  "update-secret-version-stage-other.json": /^ignored$/,
  "update-secret-value.json": /^(restart|duplicate)$/,
  "update-secret-metadata.json": /^ignored$/,
  "command-status-success.json": /^tracked$/,
  "command-invocation-success.json": /^tracked$/,
  "command-invocation-failed.json": /^tracked$/,
  // The samples name a deployment no rollout started: looked up, and ignored (the tracked path: test/integration/ecs.test.ts).
  "ecs-deployment-completed.json": /^ignored$/,
  "ecs-deployment-failed.json": /^ignored$/,
  "ecs-deployment-in-progress.json": /^ignored$/,
  "drift-audit-schedule.json": /^audited$/,
  "rollout-reconcile-schedule.json": /^reconciled$/,
  "rollout-reconcile-wakeup-schedule.json": /^reconciled$/,
};

const FUNCTION_OF = (file: string) =>
  file.startsWith("instance-launch")
    ? "InstanceLaunchFunction"
    : file.startsWith("command-")
      ? "RestartTrackerFunction"
      : file.startsWith("drift-audit")
        ? "DriftAuditFunction"
        : file.startsWith("ecs-deployment")
          ? "EcsDeploymentTrackerFunction"
          : file.startsWith("rollout-reconcile")
            ? "RolloutReconcilerFunction"
            : "SecretRotationFunction";

function envVars(): Record<string, Record<string, string>> {
  const common = {
    DCP_RESTART_DOCUMENT: fleet.documentName,
    DCP_IDEMPOTENCY_TABLE: IDEMPOTENCY_TABLE,
    DCP_ROLLOUT_TABLE: ROLLOUT_TABLE,
    POWERTOOLS_LOG_LEVEL: "ERROR",
  };
  return Object.fromEntries(
    [
      "InstanceLaunchFunction",
      "SecretRotationFunction",
      "RestartTrackerFunction",
      "EcsDeploymentTrackerFunction",
      "DriftAuditFunction",
      "RolloutReconcilerFunction",
    ].map((f) => [f, common]),
  );
}

/** Maps the samples' placeholder secrets, instances and commands onto the seeded fleet. */
function localise(file: string, text: string): unknown {
  let t = text.replaceAll("RestartServiceDocument", fleet.documentName);
  t = t.replace(/arn:aws:secretsmanager:[a-z0-9-]+:\d{12}:secret:rds![A-Za-z0-9-]+/g, fleet.sharedSecretArn!);
  t = t.replace(
    /arn:aws:secretsmanager:[a-z0-9-]+:\d{12}:secret:(voiceai\/staging\/[a-z-]+\/secrets)(-[A-Za-z0-9]{6})?/g,
    (_m, name: string, suffix?: string) => {
      const real = fleet.secrets[name];
      return real ? (suffix ? real : real.slice(0, -7)) : _m;
    },
  );
  const web = fleet.hosts.find((h) => h.service === "web" && h.imds.httpTokens === "optional") ?? fleet.hosts[0]!;
  const event = JSON.parse(t) as { detail?: Record<string, unknown>; resources?: string[] };
  if (file.startsWith("instance-launch")) event.detail!["instance-id"] = web.instanceId;
  if (file.startsWith("command-")) {
    const cmd = commands[0];
    if (cmd) {
      event.detail!["command-id"] = cmd.commandIds[0];
      if ("instance-id" in event.detail!)
        event.detail!["instance-id"] = cmd.targetIds[file.includes("failed") ? 1 : 0] ?? cmd.targetIds[0];
    }
  }
  return event;
}

function outcome(file: string, result: Record<string, unknown>): string {
  if (file.startsWith("instance-launch")) return String(result["status"]);
  if (file.startsWith("command-"))
    return typeof result["rolloutId"] === "string" && Array.isArray(result["recorded"])
      ? "tracked"
      : `untracked: ${result["ignored"]}`;
  if (file.startsWith("ecs-deployment"))
    return "ignored" in result ? "ignored" : "rolloutId" in result ? "tracked" : "?";
  if (file.startsWith("rollout-reconcile")) return Array.isArray(result["rollouts"]) ? "reconciled" : "not reconciled";
  if (file.startsWith("drift-audit"))
    return typeof result["scannedHosts"] === "number" && result["scannedHosts"] > 0 ? "audited" : "empty";
  return String(result["action"]);
}

beforeAll(async () => {
  fleet = await seedFleet(demoFleetSpec());
  await createTables(new DynamoDBClient({}));
  // New current versions, so the rotation samples have something to roll out.
  const sm = new SecretsManagerClient({});
  for (const arn of Object.values(fleet.secrets))
    await sm.send(new PutSecretValueCommand({ SecretId: arn, SecretString: '{"v":"2"}' }));
  for (const fn of new Set(ORDER.map(FUNCTION_OF))) {
    const cfg = functionConfig(fn, {
      parameterOverrides: { Namespace: fleet.namespace },
      envVars: envVars(),
      region: fleet.region,
      accountId: fleet.account,
    });
    bundles.set(fn, await buildFunction(fn, {}, cfg));
  }
}, 240_000);

describe("events/ through the invoker", () => {
  it.each(ORDER)("%s", async (file) => {
    const fn = FUNCTION_OF(file);
    const cfg = functionConfig(fn, {
      parameterOverrides: { Namespace: fleet.namespace },
      envVars: envVars(),
      region: fleet.region,
      accountId: fleet.account,
    });
    const event = localise(file, readFileSync(join("events", file), "utf8"));
    const out = await invokeBundle(bundles.get(fn)!, cfg, event, { callerEnv: process.env });
    if (!out.ok) throw new Error(`${file}: ${out.error.type}: ${out.error.message}`);
    const result = out.result as Record<string, unknown>;
    for (const c of (result["commands"] as { commandIds: string[]; targetIds: string[] }[] | undefined) ?? [])
      commands.push(c);
    expect(outcome(file, result), JSON.stringify(result).slice(0, 400)).toMatch(EXPECT[file] ?? /^never$/);
  });

  it("every sample has an expected outcome", () => {
    expect(ORDER.filter((f) => !EXPECT[f])).toEqual([]);
  });

  it("`npm run invoke -- DriftAuditFunction <schedule sample>` prints JSON on stdout and exits 0", async () => {
    const envFile = join(tmpdir(), `dcp-env-${process.pid}.json`);
    writeFileSync(envFile, JSON.stringify(envVars()));
    const { stdout } = await promisify(execFile)(
      "npx",
      [
        "tsx",
        "scripts/invoke.ts",
        "DriftAuditFunction",
        "events/drift-audit-schedule.json",
        "--env-vars",
        envFile,
        "--parameter-overrides",
        `Namespace=${fleet.namespace}`,
      ],
      {
        env: process.env,
        maxBuffer: 16 * 1024 * 1024,
      },
    );
    const summary = JSON.parse(stdout) as {
      namespace: string;
      scannedHosts: number;
      summary: Record<string, number>;
      apiCalls: Record<string, number>;
    };
    expect(summary.namespace).toBe(fleet.namespace);
    expect(summary.scannedHosts).toBe(fleet.hosts.length);
    // The bundle's CloudTrail caller reaches the emulator (no trail there): counted per kind like every finding (the
    // handler's DriftFindings metric, dimension Kind, is emitted from this summary) and per call.
    expect(summary.summary["trigger-trail-missing"]).toBe(1);
    expect(summary.apiCalls["CloudTrail.DescribeTrails"]).toBe(1);
  });
});
