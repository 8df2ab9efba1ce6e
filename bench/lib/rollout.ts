// Rollout bench: a rotation of N hosts driven as production drives it. Every SSM invocation event (InProgress and
// Success, 10 % duplicated, shuffled, every event of a few hosts lost) goes to the BUILT RestartTrackerFunction bundle
// with 200 deliveries in flight; a delivery that throws is retried up to 8 times (the rule's RetryPolicy), then
// dead-lettered; when the queue is empty the BUILT RolloutReconcilerFunction runs, as its schedule would. A counting
// proxy in front of moto records every call and the bytes of every DynamoDB write request.
// moto's Run Command needs no EC2 instances here: a command with InstanceIds and no Targets records exactly those ids,
// GetCommandInvocation answers Success for them, CreateTags does not check that the instance exists.
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer, request } from "node:http";
import type { AddressInfo } from "node:net";
import { performance } from "node:perf_hooks";
import { pathToFileURL } from "node:url";
import { CreateTableCommand, DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { CreateDocumentCommand, ListCommandsCommand, SSMClient } from "@aws-sdk/client-ssm";
import { ApiCallCounter, createClients } from "#core/adapters/clients";
import { loadConfig } from "#core/app/config";
import { dispatchWave, recordTargetOutcome } from "#core/app/rollout-engine";
import { validateManifest } from "#core/domain/manifest";
import { newRollout, planRollout, type RolloutTarget } from "#core/domain/rollout";
import { fleetDeps } from "#core/shell/fleet-deps";
import { restartDocumentContent } from "../../scripts/lib/fleet.ts";
import { buildFunction, functionConfig, lambdaEnvironment } from "../../scripts/lib/template.ts";
import { BEFORE_COMMIT, buildBefore, oldEngine } from "./before.ts";

export const IN_FLIGHT = 200;
export const MAX_RETRIES = 8;
export const DUPLICATE_SHARE = 0.1;
export const LOST_HOSTS = 5;
const NAMESPACE = "bench/rollout";
const DOCUMENT = "dcp-bench-restart";
const SERVICES = ["db", "api", "web", "worker", "media", "ops", "voice", "edge"];
const WAVE_OF = (i: number) => Math.floor(i / 2) + 1; // 8 services in 4 waves
const DYNAMO_WRITES = new Set(["PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"]);

interface ProxyLog {
  calls: Map<string, number>;
  dynamoWriteBytes: number;
  /** Waves of SendCommand requests, in the order they reached SSM. */
  sendWaves: number[];
  /** Milliseconds moto took to answer, summed by `Service.Operation` (request sent → response ended). */
  motoMs: Map<string, number>;
  /** Milliseconds DynamoDB writes waited in the proxy's one-at-a-time queue, summed. */
  writeQueueMs: number;
  reset(): void;
}

/** A pass-through HTTP proxy in front of moto that counts calls by `Service.Operation` and DynamoDB write bytes. */
async function countingProxy(target: string): Promise<{ endpoint: string; log: ProxyLog; close(): Promise<void> }> {
  const up = new URL(target);
  const log: ProxyLog = {
    calls: new Map(),
    dynamoWriteBytes: 0,
    sendWaves: [],
    motoMs: new Map(),
    writeQueueMs: 0,
    reset() {
      this.calls.clear();
      this.dynamoWriteBytes = 0;
      this.sendWaves.length = 0;
      this.motoMs.clear();
      this.writeQueueMs = 0;
    },
  };
  let writes: Promise<void> = Promise.resolve();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      const amzTarget = String(req.headers["x-amz-target"] ?? "");
      const [svc, op] = amzTarget.includes(".") ? amzTarget.split(".") : ["Query", "unknown"];
      const service = svc?.startsWith("DynamoDB") ? "DynamoDB" : svc?.startsWith("AmazonSSM") ? "SSM" : "EC2";
      const operation = service === "EC2" ? (new URLSearchParams(body.toString()).get("Action") ?? "unknown") : op!;
      const key = `${service}.${operation}`;
      log.calls.set(key, (log.calls.get(key) ?? 0) + 1);
      if (service === "DynamoDB" && DYNAMO_WRITES.has(operation)) log.dynamoWriteBytes += body.byteLength;
      if (key === "SSM.SendCommand") {
        const comment = String((JSON.parse(body.toString()) as { Comment?: string }).Comment ?? "");
        log.sendWaves.push(Number(/ wave (\d+) /.exec(comment)?.[1] ?? -1));
      }
      // moto applies concurrent UpdateItems to one item without a lock (a lost ADD); DynamoDB applies each update
      // atomically. Writes go to moto one at a time, which is what DynamoDB guarantees per item.
      const arrived = performance.now();
      const forward = (done: () => void) => {
        const sent = performance.now();
        if (service === "DynamoDB" && DYNAMO_WRITES.has(operation)) log.writeQueueMs += sent - arrived;
        const fwd = request(
          { host: up.hostname, port: up.port, path: req.url, method: req.method, headers: req.headers },
          (r) => {
            res.writeHead(r.statusCode ?? 502, r.headers);
            r.pipe(res);
            r.on("end", () => {
              log.motoMs.set(key, (log.motoMs.get(key) ?? 0) + performance.now() - sent);
              done();
            });
          },
        );
        fwd.on("error", () => {
          res.writeHead(502);
          res.end();
          done();
        });
        fwd.end(body);
      };
      if (service === "DynamoDB" && DYNAMO_WRITES.has(operation)) {
        writes = writes.then(() => new Promise<void>((r) => forward(r)));
      } else forward(() => {});
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { endpoint, log, close: () => new Promise((r) => server.close(() => r())) };
}

type Handler = (event: unknown, context: unknown) => Promise<Record<string, unknown>>;

/** Builds a function of the template and imports it into this process with its template environment. */
async function loadBuilt(logicalId: string, env: Record<string, string>): Promise<Handler> {
  const cfg = functionConfig(logicalId, { envVars: { [logicalId]: env } });
  const file = await buildFunction(logicalId, { outRoot: "bench/.work/rollout" }, cfg);
  Object.assign(process.env, lambdaEnvironment(cfg, process.env), env);
  const mod = (await import(`${pathToFileURL(file).href}?t=${Date.now()}`)) as { handler: Handler };
  return mod.handler;
}

const ctx = (i: number, fn: string) => ({
  awsRequestId: `bench-${i}`,
  functionName: fn,
  invokedFunctionArn: `arn:aws:lambda:eu-central-1:123456789012:function:${fn}`,
  getRemainingTimeInMillis: () => 60_000,
});

function shuffle<T>(xs: T[]): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [xs[i], xs[j]] = [xs[j] as T, xs[i] as T];
  }
  return xs;
}

export interface RolloutBenchResult {
  /** `after`: this tree's engine; `before`: the single-item design at BEFORE_COMMIT (bench/lib/before.ts). */
  design: "before" | "after";
  hosts: number;
  deliveries: number;
  retries: number;
  deadLettered: number;
  reconcilerRuns: number;
  lostHosts: number;
  restarted: number;
  status: string;
  /** Wave the rollout was in when the bench stopped (1-based). */
  wave: number;
  sentOnce: boolean;
  wavesInOrder: boolean;
  wallMs: number;
  calls: Record<string, number>;
  callsPerEvent: number;
  dynamoWriteBytesPerHost: number;
  startCalls: number;
  /** Where the wall time went: this process's CPU, moto's CPU (from /proc, when known), moto's answer time by call. */
  nodeCpuMs: number;
  motoCpuMs?: number;
  motoMs: Record<string, number>;
  writeQueueMs: number;
  /** Set when the run hit BENCH_ROLLOUT_MAX_S: deliveries were stopped there. */
  stoppedAfterS?: number;
}

/** CPU milliseconds (user + system) of a Linux process so far, or undefined when /proc cannot tell. */
function procCpuMs(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime + stime, USER_HZ = 100
  } catch {
    return undefined;
  }
}

const manifestFor = () =>
  validateManifest({
    namespace: NAMESPACE,
    configBucket: "bench-config",
    services: SERVICES.map((name, i) => ({ name, wave: WAVE_OF(i) })),
    restart: { maxConcurrency: "50", maxErrors: 0 },
  });

/** A synthetic plan input of `n` hosts (8 services, 4 waves); the same shape the old and new `planRollout` take. */
function syntheticPlanInput(n: number): { ids: string[]; input: Parameters<typeof planRollout>[0] } {
  const ids = Array.from({ length: n }, () => `i-0${randomBytes(8).toString("hex")}`);
  const targets: RolloutTarget[] = ids.map((instanceId, i) => ({
    kind: "host",
    instanceId,
    service: SERVICES[i % SERVICES.length]!,
  }));
  return {
    ids,
    input: {
      rolloutId: `ro-${randomBytes(8).toString("hex")}`,
      secret: { arn: "arn:aws:secretsmanager:eu-central-1:123456789012:secret:bench-AbCdEf", name: "bench" },
      versionId: "c4d5e6f7-0a1b-4c2d-9e3f-4a5b6c7d8e9f",
      manifest: manifestFor(),
      targets,
    },
  };
}

/** Plans and starts (wave 1 sent) a rollout of `n` synthetic hosts through the engine, as the rotation function does. */
async function startSynthetic(
  n: number,
  deps: ReturnType<typeof fleetDeps>,
): Promise<{ rolloutId: string; ids: string[] }> {
  const { ids, input } = syntheticPlanInput(n);
  const { head, steps } = newRollout(planRollout(input), new Date().toISOString());
  await deps.rollouts.create(head, steps);
  await dispatchWave(deps, head);
  return { rolloutId: input.rolloutId, ids };
}

type Proxy = Awaited<ReturnType<typeof countingProxy>>;

/** One design under test: its built tracker, its reconciler (the old design has none), how to start and read a rollout. */
interface Design {
  name: RolloutBenchResult["design"];
  tracker: Handler;
  reconciler?: Handler;
  start(n: number): Promise<{ rolloutId: string; ids: string[] }>;
  state(rolloutId: string): Promise<{ status: string; restarted: number; wave: number }>;
}

async function ensureTable(dynamo: DynamoDBClient, name: string, key: string): Promise<void> {
  await dynamo
    .send(
      new CreateTableCommand({
        TableName: name,
        BillingMode: "PAY_PER_REQUEST",
        AttributeDefinitions: [{ AttributeName: key, AttributeType: "S" }],
        KeySchema: [{ AttributeName: key, KeyType: "HASH" }],
      }),
    )
    .catch((e: Error) => {
      if (e.name !== "ResourceInUseException") throw e;
    });
}

/**
 * Rollouts of each size in `sizes` through this tree's built tracker and reconciler; with `beforeHosts` > 0, first the
 * same-run baseline: the old single-item design (bench/lib/before.ts) and this design, both at `beforeHosts`.
 */
export async function benchRollout(
  motoEndpoint: string,
  sizes: number[],
  log: (m: string) => void,
  opts: { beforeHosts?: number; maxSeconds?: number; motoPid?: number } = {},
): Promise<{ runs: RolloutBenchResult[]; baseline: RolloutBenchResult[]; transition: TransitionResult }> {
  const beforeHosts = opts.beforeHosts ?? 0;
  const limits = { maxMs: (opts.maxSeconds ?? Number.POSITIVE_INFINITY) * 1000, motoPid: opts.motoPid };
  const proxy = await countingProxy(motoEndpoint);
  const direct = { endpoint: motoEndpoint, region: "eu-central-1" };
  const table = "dcp-bench-rollout-state";
  const idemTable = "dcp-bench-rollout-idem";
  const dynamo = new DynamoDBClient(direct);
  for (const name of [table, `${table}-before`]) await ensureTable(dynamo, name, "pk");
  for (const name of [idemTable, `${idemTable}-before`]) await ensureTable(dynamo, name, "id");
  const ssm = new SSMClient(direct);
  await ssm
    .send(
      new CreateDocumentCommand({
        Name: DOCUMENT,
        DocumentType: "Command",
        DocumentFormat: "JSON",
        Content: JSON.stringify(restartDocumentContent()),
      }),
    )
    .catch((e: Error) => {
      if (e.name !== "DocumentAlreadyExists") throw e;
    });

  const env = {
    DCP_NAMESPACE: NAMESPACE,
    DCP_ROLLOUT_TABLE: table,
    DCP_IDEMPOTENCY_TABLE: idemTable,
    DCP_RESTART_DOCUMENT: DOCUMENT,
    AWS_ENDPOINT_URL: proxy.endpoint,
    AWS_REGION: "eu-central-1",
    POWERTOOLS_LOG_LEVEL: "ERROR",
    POWERTOOLS_METRICS_DISABLED: "true",
  };
  const savedEnv = { ...process.env };
  const designs: Design[] = [];
  if (beforeHosts > 0) {
    log(`rollout baseline: building RestartTrackerFunction of ${BEFORE_COMMIT.slice(0, 7)} (the single-item design)`);
    const beforeEnv = { ...env, DCP_ROLLOUT_TABLE: `${table}-before`, DCP_IDEMPOTENCY_TABLE: `${idemTable}-before` };
    const built = await buildBefore("RestartTrackerFunction");
    Object.assign(process.env, built.env, beforeEnv);
    const old = await oldEngine(beforeEnv);
    const mod = (await import(`${pathToFileURL(built.file).href}?t=${Date.now()}`)) as { handler: Handler };
    designs.push({
      name: "before",
      tracker: mod.handler,
      start: async (n) => {
        const { ids, input } = syntheticPlanInput(n);
        // The old plan input names the secret the same way; its targets carry no `kind`.
        await old.start({
          ...input,
          targets: ids.map((instanceId, i) => ({ instanceId, service: SERVICES[i % SERVICES.length] })),
        });
        return { rolloutId: input.rolloutId, ids };
      },
      state: (id) => old.state(id),
    });
  }
  const tracker = await loadBuilt("RestartTrackerFunction", env);
  const reconciler = await loadBuilt("RolloutReconcilerFunction", env);
  const config = loadConfig({ ...env });
  const counter = new ApiCallCounter();
  const deps = fleetDeps(config, { clients: createClients({ counter }) });
  const after: Design = {
    name: "after",
    tracker,
    reconciler,
    start: (n) => startSynthetic(n, deps),
    state: async (id) => {
      const head = await deps.rollouts.head(id);
      const rollout = await deps.rollouts.get(id);
      const restarted = rollout?.steps.reduce((a, s) => a + s.ok.length, 0) ?? 0;
      return { status: head?.status ?? "missing", restarted, wave: (head?.current ?? -1) + 1 };
    },
  };

  const baseline: RolloutBenchResult[] = [];
  const runs: RolloutBenchResult[] = [];
  // Each design twice: with the lost hosts (the old design has no reconciler to finish them) and without (every
  // wave runs, so retries, bytes and calls compare over the whole rollout).
  for (const d of designs.length ? [...designs, after] : [])
    for (const lost of [LOST_HOSTS, 0])
      baseline.push(await driveRollout(d, beforeHosts, proxy, ssm, log, limits, lost));
  for (const n of sizes) runs.push(await driveRollout(after, n, proxy, ssm, log, limits));
  const transition = await benchTransition(deps, counter);
  for (const k of Object.keys(process.env)) if (!(k in savedEnv)) delete process.env[k];
  Object.assign(process.env, savedEnv);
  await proxy.close();
  return { runs, baseline, transition };
}

/**
 * Starts a rollout of `n` hosts with `d` and delivers every event of it (the stream the header describes) to
 * `d.tracker`, running `d.reconciler` whenever the queue is empty; a design without a reconciler stops there.
 */
async function driveRollout(
  d: Design,
  n: number,
  proxy: Proxy,
  ssm: SSMClient,
  log: (m: string) => void,
  limits: { maxMs: number; motoPid?: number | undefined },
  lostHosts = LOST_HOSTS,
): Promise<RolloutBenchResult> {
  log(`rollout ${n} hosts (${d.name}, ${lostHosts} lost): planning and sending wave 1`);
  proxy.log.reset();
  const { rolloutId, ids } = await d.start(n);
  const startCalls = [...proxy.log.calls.values()].reduce((a, b) => a + b, 0);
  proxy.log.reset();
  const lost = new Set(shuffle([...ids]).slice(0, lostHosts));
  const seen = new Set<string>();
  const sentTo = new Map<string, number>();
  const queue: { event: unknown; attempts: number }[] = [];
  let deliveries = 0;
  let retries = 0;
  let deadLettered = 0;
  let reconcilerRuns = 0;
  const discover = async () => {
    let token: string | undefined;
    const fresh: unknown[] = [];
    do {
      const page = await ssm.send(new ListCommandsCommand({ NextToken: token, MaxResults: 50 }));
      for (const c of page.Commands ?? []) {
        if (!c.CommandId || seen.has(c.CommandId) || !c.Comment?.includes(rolloutId)) continue;
        seen.add(c.CommandId);
        for (const id of c.InstanceIds ?? []) {
          sentTo.set(id, (sentTo.get(id) ?? 0) + 1);
          if (lost.has(id)) continue;
          for (const status of ["InProgress", "Success"]) {
            const event = {
              version: "0",
              id: randomBytes(8).toString("hex"),
              "detail-type": "EC2 Command Invocation Status-change Notification",
              source: "aws.ssm",
              account: "123456789012",
              time: new Date().toISOString().replace(/\.\d{3}Z$/, "Z"),
              region: "eu-central-1",
              resources: [],
              detail: { "command-id": c.CommandId, "document-name": DOCUMENT, "instance-id": id, status },
            };
            fresh.push(event);
            if (Math.random() < DUPLICATE_SHARE) fresh.push(event);
          }
        }
      }
      token = page.NextToken;
    } while (token);
    for (const event of shuffle(fresh)) queue.push({ event, attempts: 0 });
    return fresh.length;
  };
  const write = process.stdout.write.bind(process.stdout);
  const errWrite = process.stderr.write.bind(process.stderr);
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const moto0 = procCpuMs(limits.motoPid);
  let stopped = false;
  // Powertools writes EMF/log lines to stdout: keep the bench's stdout for its table.
  process.stdout.write = (() => true) as typeof process.stdout.write;
  // Powertools warns on stderr for every invocation without metrics: not the bench's to show.
  process.stderr.write = ((chunk: string | Uint8Array, ...rest: never[]) =>
    String(chunk).startsWith("No application metrics")
      ? true
      : errWrite(chunk, ...rest)) as typeof process.stderr.write;
  try {
    await discover();
    let idleRuns = 0;
    for (;;) {
      let k = 0;
      await Promise.all(
        Array.from({ length: IN_FLIGHT }, async () => {
          for (;;) {
            if (performance.now() - t0 > limits.maxMs) stopped = true;
            const item = stopped ? undefined : queue.shift();
            if (!item) return;
            deliveries++;
            try {
              await d.tracker(item.event, ctx(k++, "RestartTrackerFunction"));
            } catch {
              if (item.attempts < MAX_RETRIES) {
                retries++;
                queue.push({ event: item.event, attempts: item.attempts + 1 });
              } else deadLettered++;
            }
          }
        }),
      );
      if (stopped) break;
      if ((await discover()) > 0) continue;
      if (!d.reconciler || (await d.state(rolloutId)).status !== "running") break;
      reconcilerRuns++;
      await d.reconciler(
        { source: "dcp.schedule", action: "reconcile" },
        ctx(reconcilerRuns, "RolloutReconcilerFunction"),
      );
      if ((await discover()) === 0 && ++idleRuns > 3) break;
    }
  } finally {
    process.stdout.write = write;
    process.stderr.write = errWrite;
  }
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const moto1 = procCpuMs(limits.motoPid);
  const { status, restarted, wave } = await d.state(rolloutId);
  const calls = Object.fromEntries([...proxy.log.calls.entries()].sort(([a], [b]) => a.localeCompare(b)));
  const total = Object.values(calls).reduce((a, b) => a + b, 0);
  const waves = proxy.log.sendWaves;
  const result: RolloutBenchResult = {
    design: d.name,
    hosts: n,
    deliveries,
    retries,
    deadLettered,
    reconcilerRuns,
    lostHosts: lost.size,
    restarted,
    status,
    wave,
    sentOnce: ids.every((id) => sentTo.get(id) === 1),
    wavesInOrder: waves.every((w, i) => i === 0 || w >= (waves[i - 1] ?? 0)),
    wallMs,
    calls,
    callsPerEvent: total / Math.max(1, deliveries),
    dynamoWriteBytesPerHost: proxy.log.dynamoWriteBytes / Math.max(1, restarted),
    startCalls,
    nodeCpuMs: (cpu.user + cpu.system) / 1000,
    ...(moto0 !== undefined && moto1 !== undefined ? { motoCpuMs: moto1 - moto0 } : {}),
    motoMs: Object.fromEntries([...proxy.log.motoMs.entries()].map(([k, v]) => [k, Math.round(v)])),
    writeQueueMs: Math.round(proxy.log.writeQueueMs),
    ...(stopped ? { stoppedAfterS: Math.round(wallMs / 1000) } : {}),
  };
  log(
    `rollout ${n} hosts (${d.name}, ${lostHosts} lost): ${status} in ${(wallMs / 1000).toFixed(1)} s: ${JSON.stringify(result)}`,
  );
  return result;
}

export interface TransitionResult {
  samples: number;
  medianMs: number;
  maxMs: number;
  /** Calls from the wave's last completion (its step write included) to the next wave's first SendCommand. */
  calls: Record<string, number>;
}

/**
 * The control plane's own overhead per wave transition, in process against moto: a 2-wave rollout whose wave 1 has
 * all outcomes but one recorded; then the last outcome is timed up to the moment the next wave's first SendCommand
 * is issued (SendCommands not counted).
 */
async function benchTransition(deps: ReturnType<typeof fleetDeps>, counter: ApiCallCounter): Promise<TransitionResult> {
  const times: number[] = [];
  let calls: Record<string, number> = {};
  const real = deps.commands.sendRestart.bind(deps.commands);
  for (let i = 0; i < 15; i++) {
    const { rolloutId, ids } = await startSynthetic(4 * SERVICES.length, deps); // 4 hosts per service, 4 waves
    const wave1 = ids.filter((_, k) => WAVE_OF(k % SERVICES.length) === 1);
    const rollout = (await deps.rollouts.get(rolloutId))!;
    const stepOf = (id: string) => rollout.steps.find((s) => s.targetIds.includes(id))!;
    for (const id of wave1.slice(0, -1))
      await recordTargetOutcome(deps, { rolloutId, step: stepOf(id).index, attempt: 1 }, id, "ok", "Success");
    const last = wave1.at(-1)!;
    let at: number | undefined;
    let snapshot: Record<string, number> = {};
    deps.commands.sendRestart = async (req) => {
      if (at === undefined) {
        at = performance.now();
        snapshot = counter.snapshot();
      }
      return real(req);
    };
    counter.reset();
    const t = performance.now();
    const r = await recordTargetOutcome(
      deps,
      { rolloutId, step: stepOf(last).index, attempt: 1 },
      last,
      "ok",
      "Success",
    );
    deps.commands.sendRestart = real;
    if (!r.nextWave || at === undefined) throw new Error("the last outcome of wave 1 did not start wave 2");
    times.push(at - t);
    calls = snapshot;
  }
  times.sort((a, b) => a - b);
  return { samples: times.length, medianMs: times[Math.floor(times.length / 2)]!, maxMs: times.at(-1)!, calls };
}

/** Budgets of issue 12, checked on every run. */
export const ROLLOUT_BUDGET = { writeBytesPerHost: 2048, retryShare: 0.05, transitionMs: 1000, transitionCalls: 5 };

/** The rollout section of bench/RESULTS.md (between markers, so a rollout-only run can replace it in place). */
export function renderRolloutSection(r: {
  runs: RolloutBenchResult[];
  baseline: RolloutBenchResult[];
  transition: TransitionResult;
}): string {
  const yes = (b: boolean) => (b ? "met" : "NOT met");
  const rows = r.runs.map((x) => {
    const total = Object.values(x.calls).reduce((a, b) => a + b, 0);
    return [
      x.hosts.toLocaleString("en"),
      x.stoppedAfterS
        ? `stopped after ${x.stoppedAfterS} s (BENCH_ROLLOUT_MAX_S) in wave ${x.wave} of 4, ${x.deliveries.toLocaleString("en")} of ≈ ${Math.round(2 * (1 + DUPLICATE_SHARE) * x.hosts).toLocaleString("en")} deliveries`
        : x.status,
      `${x.deliveries.toLocaleString("en")}`,
      `${x.retries} (${((100 * x.retries) / Math.max(1, x.deliveries)).toFixed(2)} %)`,
      String(x.deadLettered),
      `${x.lostHosts} lost → ${x.reconcilerRuns} reconciler run(s)`,
      `${x.restarted}/${x.hosts}, once each: ${x.sentOnce ? "yes" : "NO"}, waves in order: ${x.wavesInOrder ? "yes" : "NO"}`,
      `${x.dynamoWriteBytesPerHost.toFixed(0)} B`,
      `${(x.wallMs / 1000).toFixed(1)} s`,
      `${x.callsPerEvent.toFixed(2)} (${total}: ${Object.entries(x.calls)
        .map(([k, v]) => `${k} ${v}`)
        .join(", ")})`,
    ];
  });
  const t = r.transition;
  const transitionCalls = Object.values(t.calls).reduce((a, b) => a + b, 0);
  const verdicts = [
    ...r.runs.map(
      (x) =>
        `${x.hosts} hosts: 0 dead-lettered ${yes(x.deadLettered === 0)}; every host exactly once ${yes(x.sentOnce && x.restarted === x.hosts)}; waves in order ${yes(x.wavesInOrder)}; lost hosts finished by the reconciler ${yes(x.status === "succeeded")}; ≤ 2 KB DynamoDB write bytes per restarted host ${yes(x.dynamoWriteBytesPerHost <= ROLLOUT_BUDGET.writeBytesPerHost)} (${x.dynamoWriteBytesPerHost.toFixed(0)} B); retries ≤ 5 % ${yes(x.retries <= ROLLOUT_BUDGET.retryShare * x.deliveries)}`,
    ),
    ...r.runs.map((x) => `${x.hosts} hosts, where the wall time went: ${timeSpent(x)}`),
    `wave transition (last completion → next wave's first SendCommand, in process against moto, ${t.samples} samples): median ${t.medianMs.toFixed(0)} ms, max ${t.maxMs.toFixed(0)} ms — ≤ 1 s ${yes(t.medianMs <= ROLLOUT_BUDGET.transitionMs)}; ${transitionCalls} calls (${Object.entries(
      t.calls,
    )
      .map(([k, v]) => `${k} ${v}`)
      .join(
        ", ",
      )}: the completing step write, close, wave counter, advance, claim of the first step — plus the concurrent claim of the wave's other step) — ≤ 5 on the path to the first SendCommand ${yes(transitionCalls - 1 <= ROLLOUT_BUDGET.transitionCalls)}`,
  ];
  return [
    "<!-- rollout -->",
    "## Rollouts under production concurrency",
    "",
    `Every SSM invocation event (InProgress + Success), ${DUPLICATE_SHARE * 100} % duplicated, shuffled, all events of ${LOST_HOSTS} hosts lost, delivered to the BUILT RestartTrackerFunction bundle with ${IN_FLIGHT} in flight; a throwing delivery retried ≤ ${MAX_RETRIES} times, then dead-lettered; the BUILT RolloutReconcilerFunction run whenever the queue is empty (as its schedule would). 8 services in 4 waves, MaxConcurrency 50. Calls and DynamoDB write-request bytes (rollout and idempotency tables together) are counted by a proxy in front of moto; the start (plan, steps, wave 1) is not in the per-event figures.`,
    "",
    "| hosts | outcome | deliveries | retries | dead-lettered | lost | restarted | DDB write bytes / restarted host | wall | calls per delivery |",
    "|---|---|---|---|---|---|---|---|---|---|",
    ...rows.map((c) => `| ${c.join(" | ")} |`),
    "",
    ...verdicts.map((v) => `- ${v}`),
    ...renderBaseline(r.baseline),
    "<!-- /rollout -->",
  ].join("\n");
}

/** The same-run before/after table: the old single-item design and this one at the same size, with ratios. */
function renderBaseline(b: RolloutBenchResult[]): string[] {
  const pick = (design: RolloutBenchResult["design"], lost: boolean) =>
    b.find((x) => x.design === design && x.lostHosts > 0 === lost);
  const [before, after] = [pick("before", false), pick("after", false)];
  if (!before || !after) return ["", "Before/after baseline: not measured in this run (BENCH_ROLLOUT_BEFORE=0)."];
  const share = (x: RolloutBenchResult) =>
    `${x.retries} (${((100 * x.retries) / Math.max(1, x.deliveries)).toFixed(1)} %)`;
  const outcome = (x: RolloutBenchResult) =>
    x.status === "running" ? `stalled in wave ${x.wave} of 4` : `${x.status} (${x.reconcilerRuns} reconciler runs)`;
  const row = (x: RolloutBenchResult) =>
    `| ${x.design === "before" ? "before (single item)" : "after (per-step items)"} | ${x.hosts.toLocaleString("en")} | ${x.lostHosts} | ${outcome(x)} | ${x.deliveries.toLocaleString("en")} | ${share(x)} | ${x.deadLettered} | ${x.restarted}/${x.hosts} | ${(x.dynamoWriteBytesPerHost / 1024).toFixed(1)} KB | ${x.callsPerEvent.toFixed(2)} | ${(x.wallMs / 1000).toFixed(1)} s |`;
  const ratio = (a: number, c: number) => (c === 0 ? (a === 0 ? "—" : `${a} vs 0`) : `${(a / c).toFixed(1)}×`);
  const calls = (x: RolloutBenchResult) =>
    Object.entries(x.calls)
      .map(([k, v]) => `${k} ${v}`)
      .join(", ");
  return [
    "",
    `### Before/after, same run, ${after.hosts.toLocaleString("en")} hosts`,
    "",
    `Before = the tree at ${BEFORE_COMMIT.slice(0, 7)} (744c142^, the last commit before the engine rewrite): one brotli-compressed DynamoDB item per rollout under an optimistic lock (≤ 8 immediate conflict retries inside a delivery), its RestartTrackerFunction built by that tree's own template and build code, the rollout started with that tree's plan/claim/dispatch code; it has no reconciler. Same harness, event stream, moto and counting proxy as the after rows; each design once with ${LOST_HOSTS} hosts' events lost and once with none. Measured at ${after.hosts.toLocaleString("en")} hosts (BENCH_ROLLOUT_BEFORE; default 268, the size of issue 12's own measurement), not at 2,000: every delivery of the old design reads and rewrites the whole rollout, so its bytes grow with hosts × deliveries.`,
    "",
    "| design | hosts | lost | outcome | deliveries | retries | dead-lettered | restarted | DDB write bytes / restarted host | calls per delivery | wall |",
    "|---|---|---|---|---|---|---|---|---|---|---|",
    ...b.map(row),
    `| before ÷ after (none lost) | | | | ${ratio(before.deliveries, after.deliveries)} | ${ratio(before.retries, after.retries)} | ${ratio(before.deadLettered, after.deadLettered)} | | ${ratio(before.dynamoWriteBytesPerHost, after.dynamoWriteBytesPerHost)} | ${ratio(before.callsPerEvent, after.callsPerEvent)} | ${ratio(before.wallMs, after.wallMs)} |`,
    "",
    `- calls, none lost — before: ${calls(before)}; after: ${calls(after)}`,
    "- A rollout that stalls is measured up to the stall; its bytes per restarted host divide by the hosts it did restart. Retries are whole redeliveries (the Lambda RetryPolicy), on top of the old design's in-delivery conflict retries.",
  ];
}

/** Wall, this process's CPU, moto's CPU and moto's answer time per call by operation (mean), for one run. */
function timeSpent(x: RolloutBenchResult): string {
  const sec = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  const perCall = Object.entries(x.motoMs)
    .sort(([, a], [, b]) => b - a)
    .map(([k, ms]) => `${k} ${(ms / Math.max(1, x.calls[k] ?? 1)).toFixed(0)} ms × ${x.calls[k] ?? 0}`)
    .join(", ");
  return `wall ${sec(x.wallMs)}; bench process CPU (tracker, reconciler, harness) ${sec(x.nodeCpuMs)}; moto CPU ${x.motoCpuMs === undefined ? "unknown" : sec(x.motoCpuMs)}; DynamoDB writes queued one at a time ${sec(x.writeQueueMs)} in total; moto's answer time per call (mean): ${perCall}`;
}
