import { randomUUID } from "node:crypto";
import { join } from "node:path";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { GetSecretValueCommand, PutSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import type { Context } from "aws-lambda";
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { MAX_IDS_PER_COMMAND } from "#core/domain/ssm";
import { demoEcsSeeds, demoFleetSpec, type SeededFleet, seedEcsServices, seedFleet } from "../../scripts/lib/fleet.ts";
import { handlerEnv, lambdaContext, ROLLOUT_TABLE, spawnCollect } from "../support/fixtures.ts";
import { useMoto } from "../support/moto.ts";
import { createTables } from "../support/wiring.ts";

const moto = useMoto();
const ROOT = join(import.meta.dirname, "..", "..");
const SPEC = demoFleetSpec();
const CANARY = SPEC.canary ?? "";
const SECRET_KEY = `dcpSecretKey${randomUUID().replaceAll("-", "")}`;
const SESSION_TOKEN = `dcpSessionToken${randomUUID().replaceAll("-", "")}`;

let fleet: SeededFleet;
type Handler = (event: unknown, context: Context) => Promise<unknown>;
let launch: Handler;
let rotation: Handler;
let tracker: Handler;
let audit: Handler;
let ecsTracker: Handler;
/** The shared-secret rollout (its ECS service's deployment is followed by the ECS tracker). */
let sharedRolloutId = "";

/** Everything written, in order, from any channel. */
let captured: string[] = [];
const text = (x: unknown): string =>
  typeof x === "string" ? x : x instanceof Uint8Array ? Buffer.from(x).toString() : JSON.stringify(x);

beforeEach(() => {
  captured = [];
  const tap =
    () =>
    (...args: unknown[]) => {
      captured.push(args.map((a) => (a instanceof Error ? `${a.name}: ${a.message}\n${a.stack}` : text(a))).join(" "));
      return true;
    };
  // The real writes are swallowed: the test run's own output stays readable and nothing escapes unchecked.
  vi.spyOn(process.stdout, "write").mockImplementation(tap() as never);
  vi.spyOn(process.stderr, "write").mockImplementation(tap() as never);
  for (const m of ["log", "info", "warn", "error", "debug", "trace"] as const)
    vi.spyOn(console, m).mockImplementation(tap() as never);
});

afterEach(() => {
  vi.restoreAllMocks();
});

function assertClean(output: string, where: string): void {
  expect(CANARY.length, "the demo spec carries a canary").toBeGreaterThan(8);
  expect(output.includes(CANARY), `${where}: canary leaked`).toBe(false);
  expect(output.includes("SecretString"), `${where}: SecretString appears`).toBe(false);
  expect(output.includes(SECRET_KEY), `${where}: AWS secret access key appears`).toBe(false);
  expect(output.includes(SESSION_TOKEN), `${where}: session token appears`).toBe(false);
}

const ctx = (fn: string): Context => lambdaContext(fn, randomUUID(), fleet.region, fleet.account);

const envelope = (source: string, detailType: string, detail: unknown, resources: string[] = []) => ({
  version: "0",
  id: randomUUID(),
  "detail-type": detailType,
  source,
  account: fleet.account,
  time: new Date().toISOString(),
  region: fleet.region,
  resources,
  detail,
});

async function rotate(secretArn: string): Promise<string> {
  const out = await new SecretsManagerClient({}).send(
    new PutSecretValueCommand({
      SecretId: secretArn,
      SecretString: JSON.stringify({ password: `pw-${randomUUID()}`, canary: CANARY }),
    }),
  );
  return out.VersionId ?? "";
}

/** A plan step as the engine sent it: its hosts, ≤ 50 per command, in order (an ECS step: one service ARN). */
interface Cmd {
  commandIds: string[];
  targetIds: string[];
}

/** Feeds the tracker a Success per host of each command, wave after wave, until no new command is sent. */
async function trackToCompletion(first: Cmd[]): Promise<unknown[]> {
  const results: unknown[] = [];
  let pending = first;
  for (let guard = 0; pending.length > 0 && guard < 10; guard++) {
    const next: Cmd[] = [];
    for (const c of pending)
      for (const [i, id] of c.targetIds.entries()) {
        if (!id.startsWith("i-")) continue; // an ECS step: its deployment event is another test's
        const r = (await tracker(
          envelope("aws.ssm", "EC2 Command Invocation Status-change Notification", {
            "command-id": c.commandIds[Math.floor(i / MAX_IDS_PER_COMMAND)],
            "document-name": fleet.documentName,
            "instance-id": id,
            status: "Success",
          }),
          ctx("RestartTrackerFunction"),
        )) as { nextWave?: { commands: Cmd[] } | null };
        results.push(r);
        next.push(...(r.nextWave?.commands ?? []));
      }
    pending = next;
  }
  return results;
}

beforeAll(async () => {
  void moto;
  process.env.AWS_SECRET_ACCESS_KEY = SECRET_KEY;
  process.env.AWS_SESSION_TOKEN = SESSION_TOKEN;
  fleet = await seedFleet(SPEC);
  // The demo's ECS service, with the canary in a plain environment value too: the control plane must never read it.
  await seedEcsServices(
    fleet,
    demoEcsSeeds(fleet).map((s) => ({ ...s, environment: [...(s.environment ?? []), { name: "X", value: CANARY }] })),
  );
  await createTables(new DynamoDBClient({}));
  Object.assign(process.env, {
    ...handlerEnv(fleet),
    DCP_DRY_RUN: "false",
    DCP_AUDIT_REMEDIATION: "imds+restart",
    // Maximum surface: every log level, the incoming event logged, metrics flushed to stdout.
    POWERTOOLS_LOG_LEVEL: "DEBUG",
    POWERTOOLS_LOGGER_LOG_EVENT: "true",
    POWERTOOLS_METRICS_DISABLED: "false",
  });
  launch = (await import("../../functions/instance-launch/index.ts")).handler as Handler;
  rotation = (await import("../../functions/secret-rotation/index.ts")).handler as Handler;
  tracker = (await import("../../functions/restart-tracker/index.ts")).handler as Handler;
  audit = (await import("../../functions/drift-audit/index.ts")).handler as Handler;
  ecsTracker = (await import("../../functions/ecs-deployment-tracker/index.ts")).handler as Handler;
}, 120_000);

describe("no secret value, key or token in any output", () => {
  it("instance-launch remediating an IMDSv1 host", async () => {
    const web2 = fleet.hosts.filter((h) => h.service === "web")[1]?.instanceId ?? "";
    const r = await launch(
      envelope("aws.ec2", "EC2 Instance State-change Notification", { "instance-id": web2, state: "running" }),
      ctx("InstanceLaunchFunction"),
    );
    expect(r).toMatchObject({ status: "guarded", imds: { changed: true } });
    // The canary is real: the test itself (never the control plane) can read it in a secret value.
    const value = await new SecretsManagerClient({}).send(
      new GetSecretValueCommand({ SecretId: fleet.secrets[`${fleet.namespace}/web/secrets`] ?? "" }),
    );
    expect(value.SecretString).toContain(CANARY);
    // And the check bites: output carrying it would fail.
    expect(() => assertClean(`{"level":"INFO","value":"${CANARY}"}`, "self-check")).toThrow(/canary leaked/);
    const out = [...captured, text(r)].join("\n");
    expect(out).toContain("launch guarded"); // the capture works: the handler's own log line is in it
    expect(out).toContain('"LaunchGuarded"'); // and so is its metric flush
    assertClean(out, "instance-launch");
  });

  it("secret-rotation of a service bundle, then the tracker's events", async () => {
    const arn = fleet.secrets[`${fleet.namespace}/api/secrets`] ?? "";
    const version = await rotate(arn);
    const r = (await rotation(
      envelope("aws.secretsmanager", "Secret Label Updated", { labelUpdated: "AWSCURRENT", versionId: version }, [arn]),
      ctx("SecretRotationFunction"),
    )) as { action: string; commands: Cmd[] };
    expect(r.action).toBe("restart");
    const tracked = await trackToCompletion(r.commands);
    expect(tracked.length).toBe(3); // one event per api host
    const out = [...captured, text(r), text(tracked)].join("\n");
    expect(out).toContain("rotation handled");
    expect(out).toContain("restart tracked");
    assertClean(out, "bundle rotation");
  });

  it("secret-rotation of the shared RDS master secret, wave after wave", async () => {
    const arn = fleet.sharedSecretArn ?? "";
    const version = await rotate(arn);
    const r = (await rotation(
      envelope("aws.secretsmanager", "AWS API Call via CloudTrail", {
        eventSource: "secretsmanager.amazonaws.com",
        eventName: "PutSecretValue",
        requestParameters: { secretId: arn, secretString: "HIDDEN_DUE_TO_SECURITY_REASONS" },
        responseElements: { arn, versionId: version },
      }),
      ctx("SecretRotationFunction"),
    )) as { action: string; commands: Cmd[]; rolloutId: string };
    expect(r.action).toBe("restart");
    sharedRolloutId = r.rolloutId;
    const tracked = (await trackToCompletion(r.commands)) as { nextWave?: unknown }[];
    expect(tracked.some((t) => t.nextWave)).toBe(true); // the rollout really moved past wave 0
    assertClean([...captured, text(r), text(tracked)].join("\n"), "shared-secret rotation");
  });

  it("ecs-deployment-tracker completing the ECS service's deployment of that rollout", async () => {
    const { DynamoRolloutStore } = await import("#core/adapters/rollout-store");
    const rollout = await new DynamoRolloutStore(new DynamoDBClient({}), ROLLOUT_TABLE).get(sharedRolloutId);
    const step = rollout?.steps.find((x) => x.kind === "ecs-service");
    const [serviceArn, deploymentId] = [step?.targetIds[0], step?.commandIds[0]];
    expect(deploymentId).toMatch(/^ecs-svc\//); // dispatched with the voice wave
    const r = await ecsTracker(
      envelope(
        "aws.ecs",
        "ECS Deployment State Change",
        { eventType: "INFO", eventName: "SERVICE_DEPLOYMENT_COMPLETED", deploymentId },
        [serviceArn ?? ""],
      ),
      ctx("EcsDeploymentTrackerFunction"),
    );
    expect(r).toMatchObject({ recorded: [{ serviceArn, status: "Success" }] });
    const out = [...captured, text(r)].join("\n");
    expect(out).toContain("ECS deployment tracked");
    assertClean(out, "ecs-deployment-tracker");
  });

  it("drift-audit with imds+restart remediation (the full report is logged)", async () => {
    await rotate(fleet.secrets[`${fleet.namespace}/telpro/secrets`] ?? "");
    const r = await audit({ source: "dcp.schedule", action: "audit" }, ctx("DriftAuditFunction"));
    expect(r).toMatchObject({ namespace: fleet.namespace });
    const out = [...captured, text(r)].join("\n");
    expect(out).toContain("drift report");
    expect(out).toContain("stale-credentials");
    assertClean(out, "drift-audit");
  });

  describe("the dcp CLI (child process)", () => {
    const dcp = async (...args: string[]) => {
      const env = {
        ...process.env,
        DCP_NAMESPACE: fleet.namespace,
        DCP_ROLLOUT_TABLE: ROLLOUT_TABLE,
        DCP_DEBUG: "1",
        NODE_NO_WARNINGS: "1",
      };
      const argv = ["--import", "tsx", join(ROOT, "bin/dcp.ts"), ...args];
      const r = await spawnCollect(process.execPath, argv, { cwd: ROOT, env }, 40_000);
      return { status: r.code, stdout: r.stdout, out: `${r.stdout}\n${r.stderr}` };
    };

    it("audit --json, restart plan --json, and an error path with DCP_DEBUG stack traces", async () => {
      const runs = await Promise.all([
        dcp("audit", "--json"),
        dcp("restart", "plan", fleet.sharedSecretArn ?? "", "--json"),
        // An error path with DCP_DEBUG=1: the stack trace goes out too, and must be clean as well.
        dcp("restart", "plan", "no-such-secret-anywhere"),
      ]);
      const [auditJson] = runs;
      expect(auditJson?.status, auditJson?.out).toBe(1); // the demo fleet has findings
      expect(JSON.parse(auditJson?.stdout ?? "").namespace).toBe(fleet.namespace);
      for (const r of runs) expect(r.status, r.out).not.toBeNull();
      assertClean(runs.map((r) => r.out).join("\n"), "dcp CLI");
    });
  });
});
