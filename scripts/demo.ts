// npm run demo: the whole control plane on a local moto_server, end to end, in about a minute.
//   0. seed the voiceai/staging demo fleet (+ the tables and document the template names)
//   1. a new IMDSv1 host is guarded by InstanceLaunchFunction
//   2. the RDS master secret rotates: SecretRotationFunction plans and starts the rolling restart of the hosts and
//      of the ECS service (the Pipecat voice agent, one new deployment in the voice wave); RestartTrackerFunction and
//      EcsDeploymentTrackerFunction follow it wave by wave (we play EventBridge, feeding SSM status events and the
//      ECS Deployment State Change events moto does not emit)
//      — api's CloudWatch alarm is in ALARM, so the api wave is held until it is OK and `dcp rollout reconcile` runs
//   3. `dcp audit`, `dcp audit --fix`, `dcp audit` again
// The functions run through the docker-free invoker (bundled from template.yaml exactly as SAM would).
// moto's Run Command traps: SendCommand with InstanceIds is recorded as targeting every instance, and every
// invocation is Success at once; the tracker still confirms each host through GetCommandInvocation.
import { spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { resolve } from "node:path";
import { PutMetricAlarmCommand, SetAlarmStateCommand } from "@aws-sdk/client-cloudwatch";
import { DescribeServicesCommand } from "@aws-sdk/client-ecs";
import { PutSecretValueCommand } from "@aws-sdk/client-secrets-manager";
import { type AwsClients, createClients } from "#core/adapters/clients";
import { DynamoRolloutStore } from "#core/adapters/rollout-store";
import type { GuardResult } from "#core/app/guard-host";
import type { SentStep } from "#core/app/rollout-engine";
import type { RotationResult } from "#core/app/rotate-secret";
import type { EcsTrackResult } from "#core/app/track-ecs-deployment";
import type { TrackResult } from "#core/app/track-restart";
import { progressOf } from "#core/domain/rollout";
import { versionTagKey } from "#core/domain/secrets";
import { imdsText, wavesTable } from "../bin/lib/render.ts";
import { demoEcsSeeds, demoFleetSpec, launchHosts, type SeededFleet, seedEcsServices, seedFleet } from "./lib/fleet.ts";
import { createStackResources } from "./lib/local-stack.ts";
import { localAwsEnv, type MotoServer, startMoto } from "./lib/moto.ts";
import { buildFunction, type FunctionConfig, functionConfig, invokeBundle } from "./lib/template.ts";

const ROOT = resolve(import.meta.dirname, "..");
const ACCOUNT = "123456789012";
const started = Date.now();

const say = (s = "") => process.stdout.write(`${s}\n`);
const section = (title: string) => {
  say();
  say(`${"=".repeat(100)}`);
  say(`== ${title}   [+${((Date.now() - started) / 1000).toFixed(1)}s]`);
  say(`${"=".repeat(100)}`);
};
const indent = (text: string, pad = "   ") =>
  text
    .split("\n")
    .map((l) => pad + l)
    .join("\n");

interface Fn {
  cfg: FunctionConfig;
  bundle: string;
}

async function build(logicalId: string, namespace: string, region: string): Promise<Fn> {
  const opts = {
    templatePath: resolve(ROOT, "template.yaml"),
    parameterOverrides: { Namespace: namespace, LogLevel: "WARN" },
    region,
    accountId: ACCOUNT,
  };
  const cfg = functionConfig(logicalId, opts);
  // The same build as `npm run build`: .aws-sam/build/<LogicalId>/index.mjs.
  const bundle = await buildFunction(logicalId, opts, cfg);
  return { cfg, bundle };
}

async function invoke<T>(fn: Fn, event: unknown): Promise<T> {
  const out = await invokeBundle(fn.bundle, fn.cfg, event, {
    callerEnv: { ...process.env, POWERTOOLS_METRICS_DISABLED: "true" },
  });
  if (!out.ok) throw new Error(`${fn.cfg.logicalId} failed: ${out.error.type}: ${out.error.message}`);
  return out.result as T;
}

function eventOf(source: string, detailType: string, resources: string[], detail: Record<string, unknown>) {
  return {
    version: "0",
    id: randomUUID(),
    "detail-type": detailType,
    source,
    account: ACCOUNT,
    time: new Date().toISOString().replace(/\.\d{3}Z$/, "Z"),
    region: process.env.AWS_REGION,
    resources,
    detail,
  };
}

type Sent = Pick<SentStep, "commandIds" | "service" | "targetIds">;
/** An ECS step's target is a service ARN (and its one command id the deployment); a host step's are instance ids. */
const isEcsStep = (s: Sent) => s.targetIds[0]?.startsWith("arn:aws:ecs:") === true;

/**
 * Plays EventBridge for a rollout, wave after wave: one Success per host of each command (to RestartTrackerFunction)
 * and one SERVICE_DEPLOYMENT_COMPLETED per ECS deployment (to EcsDeploymentTrackerFunction), all concurrently, as SSM
 * and ECS would send them; the trackers' conditional writes keep every result and start the next wave once.
 */
async function driveRollout(trackers: { ssm: Fn; ecs: Fn }, document: string, first: Sent[], region: string) {
  let steps = first;
  while (steps.length > 0) {
    let next: Sent[] = [];
    const startNext = (nw: { wave: number; commands: SentStep[] } | null, by: string) => {
      if (!nw || nw.commands.length === 0) return;
      next = nw.commands;
      say(`   wave ${nw.wave} starts (sent by the ${by}):`);
      for (const n of next)
        say(
          isEcsStep(n)
            ? `     ECS UpdateService(forceNewDeployment) ${n.targetIds[0]}: ${n.commandIds[0]}`
            : `     command ${n.commandIds.join(",")} ${n.service}: ${n.targetIds.join(", ")}`,
        );
    };
    // A step split after InvalidInstanceId has one command per host; the demo's steps have one command each.
    const hosts = steps
      .filter((s) => !isEcsStep(s))
      .flatMap((c) => c.targetIds.map((instanceId) => ({ c, commandId: c.commandIds[0]!, instanceId })));
    await Promise.all([
      ...hosts.map(async ({ c, commandId, instanceId }) => {
        const r = await invoke<TrackResult>(
          trackers.ssm,
          eventOf(
            "aws.ssm",
            "EC2 Command Invocation Status-change Notification",
            [`arn:aws:ec2:${region}:${ACCOUNT}:instance/${instanceId}`],
            { "command-id": commandId, "document-name": document, "instance-id": instanceId, status: "Success" },
          ),
        );
        if (r.ignored) throw new Error(`tracker ignored ${commandId}/${instanceId}: ${r.ignored}`);
        if (r.halted) throw new Error(`rollout halted: ${r.halted}`);
        say(
          `     ${instanceId} (${c.service}): ${r.recorded.map((x) => x.status).join(",") || "already recorded"} → rollout ${r.rolloutStatus}`,
        );
        startNext(r.nextWave, "SSM tracker");
      }),
      ...steps.filter(isEcsStep).map(async (d) => {
        const [serviceArn = "", deploymentId = ""] = [d.targetIds[0], d.commandIds[0]];
        const r = await invoke<EcsTrackResult>(
          trackers.ecs,
          eventOf("aws.ecs", "ECS Deployment State Change", [serviceArn], {
            eventType: "INFO",
            eventName: "SERVICE_DEPLOYMENT_COMPLETED",
            deploymentId,
            reason: `ECS deployment ${deploymentId} completed.`,
          }),
        );
        if (r.ignored) throw new Error(`ECS tracker ignored ${deploymentId}: ${r.ignored}`);
        if (r.halted) throw new Error(`rollout halted: ${r.halted}`);
        say(
          `     ${serviceArn.split("/").slice(-1)[0]} (ECS ${deploymentId}): ${r.recorded.map((x) => x.status).join(",") || "already recorded"} → rollout ${r.rolloutStatus}`,
        );
        startNext(r.nextWave, "ECS tracker");
      }),
    ]);
    steps = next;
  }
}

function dcp(args: string[], env: NodeJS.ProcessEnv): number {
  say(`$ dcp ${args.join(" ")}`);
  const r = spawnSync(process.execPath, [resolve(ROOT, "bin/dcp.mjs"), ...args], {
    cwd: ROOT,
    env,
    stdio: ["ignore", "inherit", "inherit"],
  });
  if (r.status === null || r.status === 2) throw new Error(`dcp ${args.join(" ")} failed (${r.signal ?? r.status})`);
  say(`(exit ${r.status}${r.status === 1 ? ": findings remain" : ": clean"})`);
  return r.status;
}

/** The shared secret's ARN, shortened for display (name + suffix). */
function secretIdOf(fleet: SeededFleet): string {
  return `…:secret:${fleet.sharedSecretArn?.split(":secret:")[1] ?? ""}`;
}

async function primaryDeployment(clients: AwsClients, s: { clusterArn: string; serviceArn: string }) {
  const out = await clients.ecs.send(
    new DescribeServicesCommand({ cluster: s.clusterArn, services: [s.serviceArn], include: ["TAGS"] }),
  );
  const svc = out.services?.[0];
  return {
    id: svc?.deployments?.find((d) => d.status === "PRIMARY")?.id,
    tags: Object.fromEntries((svc?.tags ?? []).map((t) => [t.key ?? "", t.value ?? ""])),
  };
}

async function demo(server: MotoServer): Promise<void> {
  Object.assign(process.env, localAwsEnv(server.endpoint));
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
  const region = process.env.AWS_REGION ?? "eu-central-1";
  const clients = createClients();
  const spec = demoFleetSpec();
  const ns = spec.namespace;
  // A health gate for the demo: api's waves wait while this CloudWatch alarm is in ALARM (manifest services[].alarms).
  const apiAlarm = `${ns.replace(/\//g, "-")}-api-5xx`;
  for (const s of spec.services) if (s.name === "api") s.alarms = [apiAlarm];

  section(`0. Setup: moto on ${server.endpoint}, fleet ${ns}`);
  const fleet: SeededFleet = await seedFleet(spec, clients);
  const counts = new Map<string, number>();
  for (const h of fleet.hosts) counts.set(h.service || "(none)", (counts.get(h.service || "(none)") ?? 0) + 1);
  say(`   ${fleet.hosts.length} hosts: ${[...counts].map(([s, n]) => `${s}×${n}`).join(", ")}`);
  say(`   shared secret ${fleet.sharedSecretArn}`);
  say(`   consumers: ${spec.sharedSecret?.consumers.join(", ")}; manifest in ${fleet.manifestParam}`);
  const ecsServices = await seedEcsServices(fleet, demoEcsSeeds(fleet), clients);
  const pipecat = ecsServices["pipecat-voice"]!;
  say(`   ECS service ${pipecat.serviceArn} (Service=voice): DATABASE_PASSWORD from ${secretIdOf(fleet)}:password::`);
  const [launch, rotation, tracker, ecsTracker] = await Promise.all([
    build("InstanceLaunchFunction", ns, region),
    build("SecretRotationFunction", ns, region),
    build("RestartTrackerFunction", ns, region),
    build("EcsDeploymentTrackerFunction", ns, region),
  ]);
  const trackers = { ssm: tracker, ecs: ecsTracker };
  // The invoker resolves !Ref of resources to their logical ids: create what the functions' environment names.
  const env = launch.cfg.environment;
  const { idempotencyTable: idemTable, rolloutTable, document } = await createStackResources(clients, env);
  const store = new DynamoRolloutStore(clients.dynamodb, rolloutTable);
  say(`   tables ${idemTable} (pk id), ${rolloutTable} (pk pk); SSM document ${document}`);
  say(`   functions bundled from template.yaml into .aws-sam/build/ (as npm run build and sam build write them)`);

  // ------------------------------------------------------------------ 1
  section("1. A new api host launches with IMDSv1: InstanceLaunchFunction guards it");
  const apiProfile = fleet.hosts.find((h) => h.service === "api")?.profileArn;
  const [run] = await launchHosts(clients.ec2, [
    {
      tags: { Namespace: ns, Service: "api", Name: "api-4" },
      imds: { httpTokens: "optional", hopLimit: 1, httpEndpoint: "enabled" },
      ...(apiProfile ? { profileArn: apiProfile } : {}),
    },
  ]);
  const newId = run?.instance.InstanceId;
  if (!newId) throw new Error("RunInstances answered without an instance");
  say(`   launched ${newId} (api, tokens optional, hop limit 1)`);
  const guard = await invoke<GuardResult>(
    launch,
    eventOf(
      "aws.ec2",
      "EC2 Instance State-change Notification",
      [`arn:aws:ec2:${region}:${ACCOUNT}:instance/${newId}`],
      {
        "instance-id": newId,
        state: "pending",
      },
    ),
  );
  say(`   status:      ${guard.status}${guard.reason ? ` (${guard.reason})` : ""}`);
  say(`   IMDS before: ${imdsText(guard.imds.before)}`);
  say(
    `   IMDS after:  ${imdsText(guard.imds.after)}   (${guard.imds.action}${guard.imds.changed ? ", one call" : ""})`,
  );
  say(`   IAM verdict: ${guard.iam.verdict} (role ${guard.iam.role ?? "-"}, ${guard.iam.findings.length} finding(s))`);
  say(
    `   tags:        ${
      Object.entries(guard.tags)
        .map(([k, v]) => `${k}=${v}`)
        .join(", ") || "(none)"
    }`,
  );

  // ------------------------------------------------------------------ 2
  section(
    "2. The RDS master secret rotates: SecretRotationFunction + RestartTrackerFunction + EcsDeploymentTrackerFunction",
  );
  const secretArn = fleet.sharedSecretArn!;
  const deploymentBefore = await primaryDeployment(clients, pipecat);
  const put = await clients.secrets.send(
    new PutSecretValueCommand({
      SecretId: secretArn,
      SecretString: JSON.stringify({ username: "postgres", password: `pw-${randomUUID()}` }),
    }),
  );
  say(`   PutSecretValue: version ${put.VersionId} now holds AWSCURRENT`);
  const secretName = secretArn.split(":secret:")[1]!.replace(/-[A-Za-z0-9]{6}$/, "");
  const rot = await invoke<RotationResult>(
    rotation,
    eventOf("aws.secretsmanager", "Secret Label Updated", [secretArn], {
      name: secretName,
      labelUpdated: "AWSCURRENT",
      ...(put.VersionId ? { versionId: put.VersionId } : {}),
    }),
  );
  say(`   action: ${rot.action} — ${rot.reason}`);
  say(`   rollout ${rot.rolloutId}; plan (waves × hosts):`);
  say(indent(wavesTable(rot.plan.waves), "     "));
  for (const s of rot.plan.skipped) say(`     skipped ${s.targetId} (${s.service}): ${s.reason}`);
  for (const t of rot.plan.waves.filter((w) => w.kind === "ecs-service"))
    say(`     wave ${t.wave} also: ECS service ${t.targetIds[0]} (${t.service}), one new deployment`);
  if (rot.action !== "restart") throw new Error(`expected a restart, got ${rot.action}: ${rot.reason}`);
  say(`   wave ${rot.plan.waves[0]?.wave} starts (sent by the rotation):`);
  for (const c of rot.commands) say(`     command ${c.commandIds.join(",")} ${c.service}: ${c.targetIds.join(", ")}`);
  // api's 5xx alarm fires while the database wave runs: the tracker will hold the api wave instead of sending it.
  await clients.cloudwatch.send(
    new PutMetricAlarmCommand({
      AlarmName: apiAlarm,
      Namespace: "VoiceAI",
      MetricName: "5xx",
      Dimensions: [{ Name: "Service", Value: "api" }],
      Statistic: "Sum",
      Period: 60,
      EvaluationPeriods: 1,
      Threshold: 5,
      ComparisonOperator: "GreaterThanOrEqualToThreshold",
    }),
  );
  const setAlarm = (StateValue: "OK" | "ALARM") =>
    clients.cloudwatch.send(new SetAlarmStateCommand({ AlarmName: apiAlarm, StateValue, StateReason: "demo" }));
  await setAlarm("ALARM");
  say(`   (CloudWatch alarm ${apiAlarm} is in ALARM: the api wave must wait for it)`);
  say("   SSM reports each host, ECS each deployment (we feed both trackers the events):");
  await driveRollout(trackers, document, rot.commands, region);
  const cliEnv: NodeJS.ProcessEnv = {
    ...process.env,
    DCP_NAMESPACE: ns,
    DCP_ROLLOUT_TABLE: rolloutTable,
    DCP_RESTART_DOCUMENT: document,
    DCP_PROGRESS: "",
  };
  const held = await store.head(rot.rolloutId ?? "");
  if (!held?.hold) throw new Error(`expected the api wave to be held by ${apiAlarm}`);
  say(`   the next wave is held, durably, on the rollout: ${held.hold.reason}`);
  say();
  dcp(["rollout", "reconcile", rot.rolloutId ?? ""], cliEnv);
  say();
  await setAlarm("OK");
  say(`   (${apiAlarm} is OK again: the next reconcile — the schedule, or an operator — releases the wave)`);
  dcp(["rollout", "reconcile", rot.rolloutId ?? ""], cliEnv);
  const released = (await store.get(rot.rolloutId ?? ""))?.steps.filter((st) => st.state === "sent" && !st.closed);
  if (!released?.length) throw new Error("the reconciler did not release the held wave");
  say(`   wave ${released[0]?.wave} starts (sent by the reconciler):`);
  await driveRollout(trackers, document, released, region);
  const final = await store.get(rot.rolloutId ?? "");
  const ecsCount = rot.plan.waves.filter((w) => w.kind === "ecs-service").length;
  say(
    `   rollout ${rot.rolloutId}: ${final?.status} (${final ? progressOf(final).succeeded - ecsCount : 0} hosts restarted, ${ecsCount} ECS service redeployed)`,
  );
  if (final?.status !== "succeeded") throw new Error(`rollout ${rot.rolloutId} ended ${final?.status}`);
  const deploymentAfter = await primaryDeployment(clients, pipecat);
  const recorded = deploymentAfter.tags[versionTagKey(final.secretName)];
  say(
    `   ECS service pipecat-voice: deployment ${deploymentBefore.id} → ${deploymentAfter.id}; records version ${recorded}`,
  );
  if (deploymentAfter.id === deploymentBefore.id || recorded !== put.VersionId)
    throw new Error("the ECS service was not redeployed for the new version");

  // ------------------------------------------------------------------ 3
  section("3. Drift audit from the CLI: dcp audit, dcp audit --fix, dcp audit");
  // A rotation whose event never arrived: telpro hosts keep running the old version of their bundle.
  const telproSecret = `${ns}/telpro/secrets`;
  await clients.secrets.send(
    new PutSecretValueCommand({ SecretId: telproSecret, SecretString: JSON.stringify({ API_TOKEN: randomUUID() }) }),
  );
  say(`   (meanwhile ${telproSecret} was rotated and its event was lost: telpro hosts are stale)`);
  say();
  dcp(["audit"], cliEnv);
  say();
  dcp(["audit", "--fix"], cliEnv);
  const catchUps = (await store.list(50)).filter((r) => r.status === "running");
  for (const r of catchUps) {
    say();
    say(`   catch-up rollout ${r.rolloutId} (${r.secretName}): the tracker records each restart`);
    const sent = (await store.get(r.rolloutId))?.steps.filter((st) => st.state === "sent") ?? [];
    await driveRollout(trackers, document, sent, region);
    const done = await store.get(r.rolloutId);
    say(`   rollout ${r.rolloutId}: ${done?.status}`);
    if (done?.status !== "succeeded") throw new Error(`catch-up rollout ${r.rolloutId} ended ${done?.status}`);
  }
  say();
  dcp(["audit"], cliEnv);
  say();
  say("   IMDS findings are gone (the exempt media host stays as info), stale credentials are gone;");
  say("   what remains needs a human: the ops role's over-broad statement, the legacy-cron host, and the account's");
  say("   missing CloudTrail trail (trigger-trail-missing: the API-call rotation rule gets no events).");
}

async function main(): Promise<number> {
  let server: MotoServer | undefined;
  try {
    server = await startMoto();
    await demo(server);
    section(`Done in ${((Date.now() - started) / 1000).toFixed(1)}s`);
    return 0;
  } catch (err) {
    process.stderr.write(`demo failed: ${(err as Error).message}\n`);
    if (process.env.DCP_DEBUG === "1") process.stderr.write(`${(err as Error).stack}\n`);
    if (server) process.stderr.write(`moto log: ${server.logFile}\n`);
    return 1;
  } finally {
    await server?.stop();
  }
}

process.exitCode = await main();
