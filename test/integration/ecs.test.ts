// ECS services as secret consumers, against moto (ECS, EC2, SSM, Secrets Manager, IAM, DynamoDB real). moto emits
// no ECS events: the tests synthesize `ECS Deployment State Change` events for the deployments moto reports.
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DescribeServicesCommand, ECSClient, ListTagsForResourceCommand } from "@aws-sdk/client-ecs";
import { CreateSecretCommand, PutSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { beforeAll, describe, expect, it } from "vitest";
import { ApiCallCounter } from "#core/adapters/clients";
import { auditFleet } from "#core/app/audit-fleet";
import { reconcileRollout } from "#core/app/rollout-engine";
import { confirmRotation, isFact, type RotationResult, startRollout } from "#core/app/rotate-secret";
import { type EcsDeploymentEventName, trackEcsDeployment } from "#core/app/track-ecs-deployment";
import { EcsDeploymentEvent, type SecretEvent } from "#core/domain/events";
import type { StepRecord, WaveStep } from "#core/domain/rollout";
import { classifyRotationEvent } from "#core/domain/rotation";
import { versionTagKey } from "#core/domain/secrets";
import { type SeededEcsService, type SeededFleet, seedEcsServices, seedFleet } from "../../scripts/lib/fleet.ts";
import { secretLabelEvent } from "../support/fixtures.ts";
import { useMoto } from "../support/moto.ts";
import { createTables, succeedSent, type Wired, wire } from "../support/wiring.ts";

useMoto();
const NS = "voiceai/ecs";
const CANARY_ENV = "ENV-CANARY-91c2-never-read";
let fleet: SeededFleet;
let ecs: Record<string, SeededEcsService>;
let dailyKeyArn: string;
const ecsClient = () => new ECSClient({});

const labelEvent = (arn: string, versionId: string) => secretLabelEvent(arn, versionId, fleet);

/** What ECS would send; parsed with the handler's own schema so the test feeds only valid events. */
function deploymentEvent(serviceArn: string, deploymentId: string, eventName: EcsDeploymentEventName) {
  const ev = EcsDeploymentEvent.parse({
    version: "0",
    id: `ecs-${Math.random()}`,
    "detail-type": "ECS Deployment State Change",
    source: "aws.ecs",
    account: fleet.account,
    time: new Date().toISOString(),
    region: fleet.region,
    resources: [serviceArn],
    detail: { eventType: eventName.endsWith("FAILED") ? "ERROR" : "INFO", eventName, deploymentId },
  });
  return { serviceArn: ev.resources[0]!, deploymentId: ev.detail.deploymentId, eventName: ev.detail.eventName };
}

async function rotate(secretId: string): Promise<string> {
  // The freshness rule compares a deployment's start with the secret's last change, which moto reports to the whole
  // second: a rotation in the same second as the services' creation would make them look deployed after it.
  await new Promise((r) => setTimeout(r, 1100));
  const out = await new SecretsManagerClient({}).send(
    new PutSecretValueCommand({ SecretId: secretId, SecretString: JSON.stringify({ password: `pw-${Date.now()}` }) }),
  );
  return out.VersionId!;
}

async function handle(ev: SecretEvent, w: Wired): Promise<RotationResult> {
  const fact = await confirmRotation(classifyRotationEvent(ev), fleet.manifest, w.deps);
  return isFact(fact) ? startRollout(fact, fleet.manifest, w.deps, { dryRun: false }) : fact;
}

async function primaryDeployment(name: string): Promise<string | undefined> {
  const s = ecs[name]!;
  const out = await ecsClient().send(new DescribeServicesCommand({ cluster: s.clusterArn, services: [s.serviceArn] }));
  return out.services?.[0]?.deployments?.find((d) => d.status === "PRIMARY")?.id;
}

/** Every host of every command sent so far reports Success to the SSM tracker. */
const hostsSucceed = (w: Wired) => succeedSent(w, fleet.documentName);

const ecsSteps = (waves: WaveStep[]) => waves.filter((s) => s.kind === "ecs-service");
const deploymentOf = (s: StepRecord) => s.commandIds[s.commandIds.length - 1] ?? "";
async function ecsStepOf(w: Wired, rolloutId: string, name: string): Promise<StepRecord> {
  const r = await w.deps.rollouts.get(rolloutId);
  const step = r?.steps.find((s) => s.kind === "ecs-service" && s.targetIds[0] === ecs[name]?.serviceArn);
  if (!step) throw new Error(`no ECS step for ${name} in ${rolloutId}`);
  return step;
}

const hostsOf = (service: string) => fleet.hosts.filter((h) => h.service === service).map((h) => h.instanceId);

beforeAll(async () => {
  fleet = await seedFleet({
    namespace: NS,
    sharedSecret: { consumers: ["database", "api", "voice"] },
    services: [
      { name: "database", wave: 0, hosts: 1 },
      { name: "api", wave: 1, hosts: 2 },
      { name: "voice", wave: 2, hosts: 1 },
    ],
  });
  await createTables(new DynamoDBClient({}));
  const rds = fleet.sharedSecretArn!;
  const rdsName = rds.slice(rds.indexOf(":secret:") + 8, -7);
  const voiceBundle = fleet.secrets[`${NS}/voice/secrets`]!;
  const daily = await new SecretsManagerClient({}).send(
    new CreateSecretCommand({ Name: "pipecat/daily-api-key", SecretString: '{"DAILY_API_KEY":"k"}' }),
  );
  dailyKeyArn = daily.ARN!;
  ecs = await seedEcsServices(fleet, [
    // The two consumers of the issue: a full ARN with a JSON key (…-AbCdEf:password::), and the secret's name.
    {
      name: "api-worker",
      service: "api",
      secrets: [{ name: "DB_PASSWORD", valueFrom: `${rds}:password::` }],
      executionRoleReads: [rds],
    },
    {
      name: "pipecat-voice",
      service: "voice",
      secrets: [{ name: "DB_PASSWORD", valueFrom: rdsName }],
      environment: [{ name: "NOT_A_SECRET", value: CANARY_ENV }],
      executionRoleReads: [rds],
    },
    // A partial ARN (no random suffix): Secrets Manager confirms it is this secret.
    {
      name: "voice-partial",
      service: "voice",
      secrets: [{ name: "DB_USER", valueFrom: `${rds.slice(0, -7)}:username::` }],
      executionRoleReads: [rds],
    },
    // Does not reference the master secret: untouched.
    {
      name: "voice-unrelated",
      service: "voice",
      secrets: [{ name: "API_TOKEN", valueFrom: voiceBundle }],
      // …and its execution role reads every secret of the namespace: excess scope, like a host role's.
      executionRoleReads: [voiceBundle, `arn:aws:secretsmanager:*:*:secret:${NS}/*`],
    },
    // Reported, not restarted: pinned to a stage (with hostile container and variable names), CODE_DEPLOY, no read.
    {
      name: "voice-pinned",
      service: "voice",
      container: "app;$(reboot)`id`",
      secrets: [{ name: "DB\n[ERROR] forged log line", valueFrom: `${rds}:password:AWSPREVIOUS:` }],
      executionRoleReads: [rds],
    },
    {
      name: "voice-codedeploy",
      service: "voice",
      controller: "CODE_DEPLOY",
      secrets: [{ name: "DB", valueFrom: rds }],
      executionRoleReads: [rds],
    },
    { name: "voice-noread", service: "voice", secrets: [{ name: "DB", valueFrom: rds }], executionRoleReads: [] },
    // Pipecat: the Daily key is in no manifest, only in this task definition.
    {
      name: "pipecat-daily",
      service: "voice",
      secrets: [{ name: "DAILY_API_KEY", valueFrom: `${dailyKeyArn}:DAILY_API_KEY::` }],
      executionRoleReads: [dailyKeyArn],
    },
    // Another namespace: not the fleet's, whatever it references.
    {
      name: "other-ns",
      service: "voice",
      namespace: "voiceai/other",
      secrets: [{ name: "DB", valueFrom: rds }],
      executionRoleReads: [rds],
    },
  ]);
}, 180_000);

describe("rotation → new ECS deployments, in wave order with the hosts", () => {
  it("one UpdateService(forceNewDeployment) per consuming service, however many deliveries; others untouched", async () => {
    const untouched = {
      unrelated: await primaryDeployment("voice-unrelated"),
      pinned: await primaryDeployment("voice-pinned"),
      other: await primaryDeployment("other-ns"),
    };
    const version = await rotate(fleet.sharedSecretArn!);
    const ev = labelEvent(fleet.sharedSecretArn!, version);
    const counter = new ApiCallCounter(); // shared by every delivery below
    const ws = [wire(fleet, { counter }), wire(fleet, { counter }), wire(fleet, { counter })];
    const results = await Promise.all(ws.map((w) => handle(ev, w))); // duplicate deliveries, side by side
    const first = results.find((r) => r.action === "restart")!;
    expect(results.filter((r) => r.action === "restart")).toHaveLength(1);
    const w = ws[results.indexOf(first)]!; // the delivery that started the rollout (its harness saw wave 0)

    // One step per ECS service, in its service's wave beside the hosts' steps.
    expect(ecsSteps(first.plan.waves).map((t) => [t.wave, t.targetIds])).toEqual([
      [1, [ecs["api-worker"]!.serviceArn]],
      [2, [ecs["pipecat-voice"]!.serviceArn]],
      [2, [ecs["voice-partial"]!.serviceArn]],
    ]);
    const skipped = new Map(
      first.plan.skipped.filter((s) => s.targetId.startsWith("arn:aws:ecs:")).map((s) => [s.targetId, s.reason]),
    );
    expect(skipped.get(ecs["voice-pinned"]!.serviceArn)).toMatch(/pinned.*AWSPREVIOUS/);
    expect(skipped.get(ecs["voice-codedeploy"]!.serviceArn)).toMatch(/CODE_DEPLOY/);
    expect(skipped.get(ecs["voice-noread"]!.serviceArn)).toMatch(/cannot read/);
    expect(skipped.size).toBe(3);
    // Hostile task-definition names appear only escaped: no raw newline, quoted metacharacters.
    const pinnedReason = skipped.get(ecs["voice-pinned"]!.serviceArn)!;
    expect(pinnedReason).not.toMatch(/\n/);
    expect(pinnedReason).toContain('"app;$(reboot)`id`"');
    expect(pinnedReason).toContain("\\u{a}[ERROR]");
    expect(JSON.stringify(results)).not.toContain(CANARY_ENV); // environment values are never read

    // Wave 0 is hosts only: no deployment yet.
    expect(counter.count("ECS.UpdateService")).toBe(0);
    const rolloutId = first.rolloutId!;

    await hostsSucceed(w);
    const sendsAfterWave0 = ws.flatMap((x) => x.harness.sent().map((c) => c.parameters["Service"]?.[0]));
    expect(sendsAfterWave0).toEqual(["database", "api"]); // wave 1's hosts…
    const apiWorker = await ecsStepOf(w, rolloutId, "api-worker");
    expect(apiWorker.state).toBe("sent"); // …and wave 1's ECS service, with the deployment ECS answered
    expect(deploymentOf(apiWorker)).toBe(await primaryDeployment("api-worker"));
    expect((await ecsStepOf(w, rolloutId, "pipecat-voice")).state).toBe("planned");

    // Wave 1 completes only when both its hosts and its ECS service have.
    await hostsSucceed(w);
    const atWave1 = (await w.deps.rollouts.get(rolloutId))!;
    expect(atWave1.waves[atWave1.current]?.wave).toBe(1);
    const done = await trackEcsDeployment(
      deploymentEvent(ecs["api-worker"]!.serviceArn, deploymentOf(apiWorker), "SERVICE_DEPLOYMENT_COMPLETED"),
      w.deps,
    );
    expect(done.recorded).toEqual([
      { serviceArn: ecs["api-worker"]!.serviceArn, status: "Success", reason: "SERVICE_DEPLOYMENT_COMPLETED" },
    ]);
    expect(done.nextWave?.wave).toBe(2);
    expect(
      done.nextWave?.commands.map((c) => (c.targetIds[0]?.startsWith("i-") ? c.service : c.targetIds[0])).sort(),
    ).toEqual([ecs["pipecat-voice"]!.serviceArn, ecs["voice-partial"]!.serviceArn, "voice"].sort());

    // Duplicated and reordered deliveries of wave 2's events: each outcome recorded once, nothing sent twice.
    const wave2: Record<string, string> = {};
    for (const name of ["pipecat-voice", "voice-partial"])
      wave2[name] = deploymentOf(await ecsStepOf(w, rolloutId, name));
    const events = ["pipecat-voice", "voice-partial"].flatMap((name) => {
      const arn = ecs[name]!.serviceArn;
      const id = wave2[name]!;
      return [
        deploymentEvent(arn, id, "SERVICE_DEPLOYMENT_COMPLETED"),
        deploymentEvent(arn, id, "SERVICE_DEPLOYMENT_COMPLETED"),
        deploymentEvent(arn, id, "SERVICE_DEPLOYMENT_IN_PROGRESS"),
      ];
    });
    const tracked = await Promise.all(
      events.reverse().map((e) => trackEcsDeployment(e, wire(fleet, { counter }).deps)),
    );
    expect(tracked.flatMap((t) => t.recorded)).toHaveLength(2);
    await hostsSucceed(w);
    const rollout = (await w.deps.rollouts.get(rolloutId))!;
    expect(rollout.status).toBe("succeeded");

    // Exactly one deployment per consuming service over every delivery; the others keep their deployment.
    expect(counter.count("ECS.UpdateService")).toBe(3);
    for (const name of ["api-worker", "pipecat-voice", "voice-partial"]) {
      const arn = ecs[name]!.serviceArn;
      const step = await ecsStepOf(w, rolloutId, name);
      expect(step.ok, name).toEqual([arn]);
      expect(deploymentOf(step)).toBe(await primaryDeployment(name)); // no later deployment replaced it
      const tags = await ecsClient().send(new ListTagsForResourceCommand({ resourceArn: arn }));
      const tagMap = Object.fromEntries((tags.tags ?? []).map((t) => [t.key, t.value]));
      expect(tagMap[versionTagKey(rollout.secretName)], name).toBe(version); // the version it now runs
    }
    expect(await primaryDeployment("voice-unrelated")).toBe(untouched.unrelated);
    expect(await primaryDeployment("voice-pinned")).toBe(untouched.pinned);
    expect(await primaryDeployment("other-ns")).toBe(untouched.other);
  });
});

/** A fresh rotation of the master secret driven up to wave 1 (api hosts and api-worker sent). */
async function rolloutAtWave1(): Promise<{ w: Wired; rolloutId: string; counter: ApiCallCounter }> {
  const counter = new ApiCallCounter();
  const w = wire(fleet, { counter });
  const version = await rotate(fleet.sharedSecretArn!);
  const r = await handle(labelEvent(fleet.sharedSecretArn!, version), w);
  expect(r.action).toBe("restart");
  await hostsSucceed(w);
  expect(w.harness.sent().map((c) => c.instanceIds)).toEqual([hostsOf("database"), hostsOf("api").sort()]);
  expect(counter.count("ECS.UpdateService")).toBe(1);
  return { w, rolloutId: r.rolloutId!, counter };
}

describe("a failed, rolled-back or overdue deployment halts the rollout like a failed host", () => {
  it("SERVICE_DEPLOYMENT_FAILED halts: wave 2 (hosts and services) is never sent", async () => {
    const { w, rolloutId, counter } = await rolloutAtWave1();
    const arn = ecs["api-worker"]!.serviceArn;
    const id = deploymentOf(await ecsStepOf(w, rolloutId, "api-worker"));
    const failed = deploymentEvent(arn, id, "SERVICE_DEPLOYMENT_FAILED");
    const [a, b] = await Promise.all([
      trackEcsDeployment(failed, w.deps),
      trackEcsDeployment(failed, wire(fleet).deps),
    ]);
    expect([a.halted, b.halted].filter(Boolean)).toHaveLength(1);
    expect(a.halted ?? b.halted).toContain(arn);
    // A COMPLETED arriving late (the circuit breaker's rollback deployment has another id) changes nothing.
    const late = await trackEcsDeployment(deploymentEvent(arn, "ecs-svc/1234", "SERVICE_DEPLOYMENT_COMPLETED"), w.deps);
    expect(late.ignored).toMatch(/no rollout started/);
    await hostsSucceed(w);
    const r = (await w.deps.rollouts.get(rolloutId))!;
    expect(r.status).toBe("halted");
    expect((await ecsStepOf(w, rolloutId, "api-worker")).bad).toEqual([arn]);
    expect((await ecsStepOf(w, rolloutId, "pipecat-voice")).state).toBe("planned");
    expect(w.harness.sent()).toHaveLength(2); // database, api: never voice
    expect(counter.count("ECS.UpdateService")).toBe(1);
  });

  it("the reconciler asks ECS about a deployment no event settled; without a circuit breaker, its deadline fails it", async () => {
    const { w, rolloutId } = await rolloutAtWave1();
    const arn = ecs["api-worker"]!.serviceArn;
    await reconcileRollout(w.deps, rolloutId, { dryRun: false });
    expect((await ecsStepOf(w, rolloutId, "api-worker")).bad).toEqual([]); // moto says IN_PROGRESS: still in flight
    const later = { ...w.deps, now: () => new Date(Date.now() + 31 * 60 * 1000) };
    const dry = await reconcileRollout(later, rolloutId, { dryRun: true });
    expect(dry.actions.join("\n")).toMatch(
      new RegExp(`would record ${arn}: no report by the deadline .*DeadlineExceeded`),
    );
    expect((await w.deps.rollouts.get(rolloutId))!.status).toBe("running"); // the dry run wrote nothing
    await reconcileRollout(later, rolloutId, { dryRun: false });
    expect((await ecsStepOf(w, rolloutId, "api-worker")).bad).toEqual([arn]);
    const r = (await w.deps.rollouts.get(rolloutId))!;
    expect(r.status).toBe("halted");
    expect(r.haltReason).toContain("DeadlineExceeded");
  });
});

describe("plan and dry run", () => {
  it("a dry run lists the ECS services beside the hosts and writes nothing", async () => {
    const counter = new ApiCallCounter();
    const w = wire(fleet, { counter, dryRun: true });
    const version = await rotate(fleet.sharedSecretArn!);
    const fact = await confirmRotation(
      classifyRotationEvent(labelEvent(fleet.sharedSecretArn!, version)),
      fleet.manifest,
      w.deps,
    );
    if (!isFact(fact)) throw new Error(fact.reason);
    const r = await startRollout(fact, fleet.manifest, w.deps, { dryRun: true });
    expect(r.action).toBe("planned");
    expect(ecsSteps(r.plan.waves)).toHaveLength(3);
    expect(r.plan.skipped.filter((x) => x.targetId.startsWith("arn:aws:ecs:"))).toHaveLength(3);
    // Discovery cost, once per invocation (confirm and plan share it): 1 cluster, 9 services, 8 in the namespace.
    const calls = counter.snapshot();
    expect(calls["ECS.ListClusters"]).toBe(1);
    expect(calls["ECS.ListServices"]).toBe(1);
    expect(calls["ECS.DescribeServices"]).toBe(1); // ≤ 10 services per call
    expect(calls["ECS.DescribeTaskDefinition"]).toBe(8); // one per distinct task definition of the namespace
    expect(calls["SecretsManager.DescribeSecret"]).toBe(2); // the event's secret + the one partial ARN
    const writes = Object.keys(counter.snapshot()).filter((k) =>
      /\.(UpdateService|TagResource|SendCommand|PutItem|UpdateItem|CreateTags)$/.test(k),
    );
    expect(writes).toEqual([]);
  });

  it("a secret only an ECS service references is in scope; a foreign one costs no Secrets Manager call", async () => {
    const w = wire(fleet);
    const foreign = await confirmRotation(
      { kind: "act", trigger: "PutSecretValue", secretId: "someone-else/app/secrets" },
      fleet.manifest,
      w.deps,
    );
    expect(isFact(foreign)).toBe(false);
    expect(w.counter.count("SecretsManager.DescribeSecret")).toBe(0);

    // The Pipecat pattern: a secret outside the manifest, referenced by an ECS task definition.
    const version = await rotate(dailyKeyArn);
    const r = await handle(labelEvent(dailyKeyArn, version), w);
    expect(r.action).toBe("restart");
    expect(r.plan.waves.map((x) => [x.kind, x.targetIds])).toEqual([
      ["ecs-service", [ecs["pipecat-daily"]!.serviceArn]],
    ]);
    expect(r.commands.map((c) => c.targetIds)).toEqual([[ecs["pipecat-daily"]!.serviceArn]]);
  });
});

describe("drift audit", () => {
  it("finds a stale ECS service (event lost), its over-scoped execution role, and catches it up with one deployment", async () => {
    const bundle = fleet.secrets[`${NS}/voice/secrets`]!;
    const before = await primaryDeployment("voice-unrelated");
    await rotate(bundle); // its event never arrives
    const counter = new ApiCallCounter();
    const w = wire(fleet, { counter });
    const report = await auditFleet(fleet.manifest, w.deps, { remediation: "imds+restart", dryRun: false });
    const arn = ecs["voice-unrelated"]!.serviceArn;
    const staleOf = (secret: string) =>
      report.findings.filter((f) => f.kind === "stale-credentials" && f.resource && f.evidence?.["secret"] === secret);
    const stale = staleOf(`${NS}/voice/secrets`);
    expect(stale.map((f) => f.resource)).toEqual([arn]);
    // The dry run above rotated the master secret and nothing redeployed: its consumers are stale too, but never a
    // pinned reference (a redeploy would not change it) nor the one redeployed since.
    const rdsName = fleet.sharedSecretArn!.slice(fleet.sharedSecretArn!.indexOf(":secret:") + 8, -7);
    const rdsStale = staleOf(rdsName).map((f) => f.resource);
    expect(rdsStale).toContain(ecs["pipecat-voice"]!.serviceArn);
    expect(rdsStale).not.toContain(ecs["voice-pinned"]!.serviceArn);
    expect(stale[0]!.instanceId).toBeUndefined();
    expect(stale[0]!.detail).toContain(`${NS}/voice/secrets`);
    const excess = report.findings.filter((f) => f.kind === "iam-excess-grant" && f.resource === arn);
    expect(excess.length).toBeGreaterThan(0);
    // Containment (issue 13): one finding per (statement, risk), with a witness secret outside voice's scope.
    expect(excess.map((f) => f.evidence?.["risk"])).toContain("read-beyond-scope");
    expect(excess.map((f) => String(f.evidence?.["action"]))).toContain("secretsmanager:GetSecretValue");
    // Execution roles are held to their own envelope: reading exactly what the task definition references (the Daily
    // key, in no manifest and outside voice's host scope) is not excess.
    const daily = ecs["pipecat-daily"]!.serviceArn;
    expect(report.findings.filter((f) => f.kind === "iam-excess-grant" && f.resource === daily)).toEqual([]);
    // Catch-up: the stale voice hosts and the stale ECS service share wave 2: one new deployment for the service.
    const catchUp = report.remediation.restarts.find((r) => r.secretName === `${NS}/voice/secrets`)!;
    expect(ecsSteps(catchUp.plan.waves).map((t) => t.targetIds[0])).toEqual([arn]);
    expect(await primaryDeployment("voice-unrelated")).not.toBe(before);
    expect(JSON.stringify(report)).not.toContain(CANARY_ENV);
  });
});

describe("a delivery that dies around UpdateService: the reconciler asks ECS before it re-sends", () => {
  /** The process dies `when` UpdateService has reached ECS ("after") or not ("before"); the claim is never released. */
  function dying(w: Wired, when: "before" | "after"): void {
    const crash = Object.assign(new Error("Runtime exited"), { name: "Crash" });
    const port = w.deps.ecs!;
    const real = port.forceNewDeployment.bind(port);
    port.forceNewDeployment = async (cluster, service) => {
      if (when === "after") await real(cluster, service);
      throw crash;
    };
    w.deps.rollouts.releaseStep = async () => {
      throw crash;
    };
  }

  async function crashedAtWave1(when: "before" | "after") {
    const counter = new ApiCallCounter();
    const w = wire(fleet, { counter });
    dying(w, when);
    const version = await rotate(fleet.sharedSecretArn!);
    const r = await handle(labelEvent(fleet.sharedSecretArn!, version), w);
    await expect(hostsSucceed(w)).rejects.toThrow("Runtime exited"); // the delivery dispatching wave 1 dies
    const rolloutId = r.rolloutId!;
    expect((await ecsStepOf(w, rolloutId, "api-worker")).state).toBe("claimed");
    const fresh = wire(fleet, { counter });
    // Within the claim's lease a slow delivery may still be sending: the reconciler leaves the step alone.
    await reconcileRollout(fresh.deps, rolloutId, { dryRun: false });
    expect((await ecsStepOf(fresh, rolloutId, "api-worker")).state).toBe("claimed");
    const later = { ...fresh.deps, now: () => new Date(Date.now() + 10 * 60 * 1000) };
    return { counter, fresh, later, rolloutId, sentBefore: counter.count("ECS.UpdateService") };
  }

  it("UpdateService had reached ECS: the step is recorded with that deployment and linked, never deployed twice", async () => {
    const { counter, fresh, later, rolloutId, sentBefore } = await crashedAtWave1("after");
    expect(sentBefore).toBe(1);
    const started = (await primaryDeployment("api-worker"))!;
    // Two reconcilers race on the same expired claim: both find the deployment, neither deploys again.
    const other = { ...wire(fleet, { counter }).deps, now: later.now };
    const reports = await Promise.all([
      reconcileRollout(later, rolloutId, { dryRun: false }),
      reconcileRollout(other, rolloutId, { dryRun: false }),
    ]);
    expect(reports[0]?.actions.join("\n")).toMatch(new RegExp(`record step \\d+ as sent \\(ECS has ${started}\\)`));
    await reconcileRollout(later, rolloutId, { dryRun: false }); // a later run changes nothing
    expect(counter.count("ECS.UpdateService")).toBe(1);
    const step = await ecsStepOf(fresh, rolloutId, "api-worker");
    expect([step.state, deploymentOf(step)]).toEqual(["sent", started]);
    // The deployment's own event now leads back to the step.
    const arn = ecs["api-worker"]!.serviceArn;
    const done = await trackEcsDeployment(deploymentEvent(arn, started, "SERVICE_DEPLOYMENT_COMPLETED"), fresh.deps);
    expect(done.recorded.map((x) => x.status)).toEqual(["Success"]);
  });

  it("UpdateService never reached ECS: the reconciler deploys the service once", async () => {
    const { counter, fresh, later, rolloutId, sentBefore } = await crashedAtWave1("before");
    expect(sentBefore).toBe(0); // the delivery died before its UpdateService
    const before = await primaryDeployment("api-worker");
    // Two reconcilers (the schedule and an operator's `dcp rollout reconcile`) race on the same expired claim.
    const other = { ...wire(fleet, { counter }).deps, now: later.now };
    const reports = await Promise.all([
      reconcileRollout(later, rolloutId, { dryRun: false }),
      reconcileRollout(other, rolloutId, { dryRun: false }),
    ]);
    expect(reports.map((r) => r.actions.join("\n")).join("\n")).toMatch(
      /re-send step \d+: claimed at .*, never reached ECS/,
    );
    await reconcileRollout(later, rolloutId, { dryRun: false });
    const step = await ecsStepOf(fresh, rolloutId, "api-worker");
    const now = await primaryDeployment("api-worker");
    expect(now).not.toBe(before);
    expect([step.state, deploymentOf(step)]).toEqual(["sent", now]);
    expect(counter.count("ECS.UpdateService")).toBe(1);
  });
});
