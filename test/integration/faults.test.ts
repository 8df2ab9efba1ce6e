// Faults moto cannot produce, injected by a small HTTP proxy on 127.0.0.1 in front of it: throttling per service,
// the emulator going away mid-audit, DynamoDB unavailable. The real SDK retry stack runs against it, so attempt
// counts are what production would do. Plus one host's restart failing mid-rollout.
import { createServer, type IncomingMessage, request, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DescribeInstancesCommand, EC2Client } from "@aws-sdk/client-ec2";
import { ListCommandsCommand, SSMClient } from "@aws-sdk/client-ssm";
import type { Context } from "aws-lambda";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ApiCallCounter, createClients, dynamodbClient, ec2Client, ssmClient } from "#core/adapters/clients";
import { Ec2FleetInventory } from "#core/adapters/ec2";
import { BulkPolicyStore } from "#core/adapters/iam";
import { DynamoRolloutStore } from "#core/adapters/rollout-store";
import { SecretsManagerCatalog } from "#core/adapters/secrets";
import { SsmCommandRunner, SsmParameterStore } from "#core/adapters/ssm";
import { auditFleet } from "#core/app/audit-fleet";
import { loadConfig } from "#core/app/config";
import type { Deps } from "#core/app/deps";
import { confirmRotation, isFact, type RotationResult, startRollout } from "#core/app/rotate-secret";
import { trackRestart } from "#core/app/track-restart";
import { classifyRotationEvent } from "#core/domain/rotation";
import type { ManagedInstances } from "#core/ports/index";
import { type SeededFleet, seedFleet } from "../../scripts/lib/fleet.ts";
import { handlerEnv, lambdaContext, putNewVersion, ROLLOUT_TABLE, secretLabelEvent } from "../support/fixtures.ts";
import { useMoto } from "../support/moto.ts";
import { createTables, wire } from "../support/wiring.ts";

const moto = useMoto();
const NS = "voiceai/faults";

// ── the fault proxy ───────────────────────────────────────────────────────────────────────────────────────────
type Fault = "pass" | "throttle" | "refuse";
interface Seen {
  service: string;
  op: string;
  fault: Fault;
}

/** Service (from the SigV4 credential scope) and operation (X-Amz-Target, or Action= of a query body). */
function identify(req: IncomingMessage, body: string): { service: string; op: string } {
  const service = /Credential=[^/]+\/[^/]+\/[^/]+\/([^/]+)\//.exec(req.headers.authorization ?? "")?.[1] ?? "?";
  const target = req.headers["x-amz-target"];
  const op =
    typeof target === "string" ? (target.split(".").pop() ?? "?") : (/(?:^|&)Action=([^&]+)/.exec(body)?.[1] ?? "?");
  return { service, op };
}

function throttle(res: ServerResponse, service: string): void {
  if (service === "ec2") {
    res.writeHead(503, { "content-type": "text/xml" });
    res.end(
      "<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message></Error></Errors><RequestID>r</RequestID></Response>",
    );
  } else if (service === "iam" || service === "sts") {
    res.writeHead(400, { "content-type": "text/xml" });
    res.end(
      "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>r</RequestId></ErrorResponse>",
    );
  } else {
    res.writeHead(400, { "content-type": "application/x-amz-json-1.1", "x-amzn-errortype": "ThrottlingException" });
    res.end(JSON.stringify({ __type: "ThrottlingException", message: "Rate exceeded" }));
  }
}

interface FaultProxy {
  endpoint: string;
  seen: Seen[];
  decide: (call: { service: string; op: string }) => Fault;
  close(): Promise<void>;
}

async function startProxy(upstream: string): Promise<FaultProxy> {
  const target = new URL(upstream);
  const proxy: FaultProxy = { endpoint: "", seen: [], decide: () => "pass", close: async () => {} };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      const call = identify(req, body.toString());
      const fault = proxy.decide(call);
      proxy.seen.push({ ...call, fault });
      if (fault === "refuse") {
        req.socket.destroy(); // what a dead emulator looks like to the client: the connection drops
        return;
      }
      if (fault === "throttle") {
        throttle(res, call.service);
        return;
      }
      const up = request(
        {
          host: target.hostname,
          port: target.port,
          method: req.method,
          path: req.url,
          headers: { ...req.headers, host: target.host },
        },
        (r) => {
          res.writeHead(r.statusCode ?? 502, r.headers);
          r.pipe(res);
        },
      );
      up.on("error", () => req.socket.destroy());
      up.end(body);
    });
  });
  server.keepAliveTimeout = 1000;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  proxy.endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  proxy.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return proxy;
}

const WRITES = new Set([
  "ModifyInstanceMetadataOptions",
  "CreateTags",
  "SendCommand",
  "PutParameter",
  "PutItem",
  "UpdateItem",
  "DeleteItem",
]);

// ── fixture ───────────────────────────────────────────────────────────────────────────────────────────────────
let proxy: FaultProxy;
let fleet: SeededFleet;
let motoEndpoint: string;

/** Deps like the handlers wire them, through the proxy, with a chosen retry budget. */
function depsVia(maxAttempts?: number): Deps & { managed: ManagedInstances } {
  const clients = createClients({ counter: new ApiCallCounter(), ...(maxAttempts ? { maxAttempts } : {}) });
  return {
    config: loadConfig(handlerEnv(fleet)),
    inventory: new Ec2FleetInventory(clients.ec2),
    policies: new BulkPolicyStore(clients.iam),
    secrets: new SecretsManagerCatalog(clients.secrets),
    commands: new SsmCommandRunner(clients.ssm),
    rollouts: new DynamoRolloutStore(clients.dynamodb, ROLLOUT_TABLE),
    params: new SsmParameterStore(clients.ssm),
    managed: { pingStatus: async () => undefined, unreachable: async () => undefined },
    now: () => new Date(),
  };
}

const seenOp = (op: string) => proxy.seen.filter((s) => s.op === op);

/** Direct to moto, bypassing the proxy: the ground truth. */
const direct = {
  ec2: () => new EC2Client({ endpoint: motoEndpoint }),
  ssm: () => new SSMClient({ endpoint: motoEndpoint }),
};

async function imdsTokensOf(instanceId: string): Promise<string | undefined> {
  const out = await direct.ec2().send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
  return out.Reservations?.[0]?.Instances?.[0]?.MetadataOptions?.HttpTokens;
}

const commandCount = async () => ((await direct.ssm().send(new ListCommandsCommand({}))).Commands ?? []).length;

const labelEvent = (arn: string, versionId: string) => secretLabelEvent(arn, versionId, fleet);

const rotate = putNewVersion;

beforeAll(async () => {
  motoEndpoint = moto.endpoint();
  proxy = await startProxy(motoEndpoint);
  process.env.AWS_ENDPOINT_URL = proxy.endpoint; // every client from here on goes through the proxy
  fleet = await seedFleet({
    namespace: NS,
    sharedSecret: { consumers: ["database", "api"] },
    services: [
      { name: "database", wave: 0, hosts: 2 },
      { name: "api", wave: 1, hosts: [{}, { imds: { httpTokens: "optional" } }] },
    ],
  });
  await createTables(new DynamoDBClient({}));
}, 120_000);

afterAll(async () => {
  await proxy?.close();
});

beforeEach(() => {
  proxy.decide = () => "pass";
  proxy.seen.length = 0;
});

// ── tests ─────────────────────────────────────────────────────────────────────────────────────────────────────
describe("throttling: bounded adaptive retries, then a failure that names the call", () => {
  it("the production client factory is adaptive with a finite attempt budget", async () => {
    for (const client of [ec2Client(), ssmClient(), dynamodbClient()]) {
      expect(await client.config.retryStrategy()).toMatchObject({ mode: "adaptive" });
      expect(await client.config.maxAttempts()).toBe(4);
    }
  });

  const cases: { service: string; op: string; call: (d: Deps) => Promise<unknown>; label: string }[] = [
    {
      service: "ec2",
      op: "DescribeInstances",
      label: "EC2.DescribeInstances",
      call: (d) => d.inventory.scanNamespace("Namespace", NS),
    },
    {
      service: "iam",
      op: "*",
      label: "IAM.",
      call: (d) => d.policies.roleOfInstanceProfile(fleet.hosts[0]?.profileArn ?? ""),
    },
    { service: "ssm", op: "GetParameter", label: "SSM.GetParameter", call: (d) => d.params.get(fleet.manifestParam) },
    {
      service: "secretsmanager",
      op: "DescribeSecret",
      label: "SecretsManager.DescribeSecret",
      call: (d) => d.secrets.describe(fleet.sharedSecretArn ?? ""),
    },
    {
      service: "dynamodb",
      op: "GetItem",
      label: "DynamoDB.GetItem",
      call: (d) => d.rollouts.get("ro-0000000000000000"),
    },
  ];
  // The adaptive limiter's minimum refill rate makes each throttled retry wait ~2 s, so the five services run at
  // once (each with its own client and limiter, each service throttled on its own operation).
  it("EC2, IAM, SSM, Secrets Manager, DynamoDB throttled → exactly maxAttempts tries each, then a named error", async () => {
    proxy.decide = ({ service, op }) =>
      cases.some((c) => c.service === service && (c.op === "*" || c.op === op)) ? "throttle" : "pass";
    const maxAttempts = 3;
    const errors = await Promise.all(
      cases.map((c) =>
        c.call(depsVia(maxAttempts)).then(
          () => undefined,
          (e: unknown) => e as Error & { $metadata?: { attempts?: number } },
        ),
      ),
    );
    for (const [i, c] of cases.entries()) {
      const err = errors[i];
      expect(err, `${c.service}: the call must fail, not hang or succeed`).toBeDefined();
      expect(err?.name, c.service).toMatch(/Throttl|RequestLimitExceeded/);
      expect(err?.message, c.service).toContain(c.label);
      expect(err?.message, c.service).toContain(`(${maxAttempts} attempts)`);
      const throttled = proxy.seen.filter((s) => s.service === c.service && s.fault === "throttle");
      expect(throttled.length, c.service).toBe(maxAttempts); // bounded: not one more
      expect(new Set(throttled.map((s) => s.op)).size, c.service).toBe(1); // one logical call, retried
    }
  });

  it("a throttled SendCommand gives up after its attempts and releases its claim (no host stuck dispatching)", async () => {
    const arn = fleet.secrets[`${NS}/database/secrets`] ?? "";
    const version = await rotate(arn);
    const d = depsVia(2);
    const fact = await confirmRotation(classifyRotationEvent(labelEvent(arn, version)), fleet.manifest, d);
    if (!isFact(fact)) throw new Error(`not a fact: ${fact.reason}`);
    const before = await commandCount();
    proxy.decide = ({ op }) => (op === "SendCommand" ? "throttle" : "pass");
    await expect(startRollout(fact, fleet.manifest, d, { dryRun: false })).rejects.toThrow(
      /SSM\.SendCommand \(2 attempts\)/,
    );
    expect(seenOp("SendCommand")).toHaveLength(2);
    expect(await commandCount()).toBe(before);
    // The claim was released: the step is planned again, ready for a retry of the event, not stuck claimed.
    const mine = (await d.rollouts.list(50)).find((r) => r.versionId === version);
    const steps = mine ? ((await d.rollouts.get(mine.rolloutId))?.steps ?? []) : [];
    expect(steps.map((st) => [st.state, st.targetIds.length])).toEqual([["planned", 2]]);
  });
});

describe("the emulator goes away mid-audit", () => {
  it("the audit fails with a named error and no remediation write; a rerun against a working endpoint completes", async () => {
    const v1 = fleet.hosts.find((h) => h.imds.httpTokens === "optional")?.instanceId ?? "";
    expect(await imdsTokensOf(v1)).toBe("optional");

    // Reads of EC2 succeed, then at the first IAM call everything drops, for good.
    let dead = false;
    proxy.decide = ({ service }) => {
      if (service === "iam") dead = true;
      return dead ? "refuse" : "pass";
    };
    const err = await auditFleet(fleet.manifest, depsVia(2), { remediation: "imds+restart", dryRun: false }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err).toBeDefined();
    expect(err?.message).toMatch(/^IAM\.\w+ \(2 attempts\): /);
    expect(proxy.seen.some((s) => s.op === "DescribeInstances" && s.fault === "pass")).toBe(true); // it was mid-audit
    expect(proxy.seen.filter((s) => WRITES.has(s.op))).toEqual([]); // no write was even attempted
    expect(await imdsTokensOf(v1)).toBe("optional");

    proxy.decide = () => "pass";
    proxy.seen.length = 0;
    const report = await auditFleet(fleet.manifest, depsVia(2), { remediation: "imds", dryRun: false });
    expect(report.scannedHosts).toBe(4);
    expect(report.remediation.imds).toEqual([{ instanceId: v1, applied: true }]);
    expect(await imdsTokensOf(v1)).toBe("required");
  });
});

describe("one host's restart fails", () => {
  it("the rollout halts: no further wave, no further SendCommand, later hosts untouched", async () => {
    const arn = fleet.sharedSecretArn ?? "";
    const version = await rotate(arn);
    const w = wire(fleet);
    const fact = await confirmRotation(classifyRotationEvent(labelEvent(arn, version)), fleet.manifest, w.deps);
    if (!isFact(fact)) throw new Error(`not a fact: ${fact.reason}`);
    const started = (await startRollout(fact, fleet.manifest, w.deps, { dryRun: false })) as RotationResult;
    expect(started.action).toBe("restart");
    const [cmd] = w.harness.sent();
    expect(cmd?.parameters).toEqual({ Service: ["database"] });
    const [bad, good] = cmd?.instanceIds ?? [];
    const commandsBefore = await commandCount();

    w.harness.failInvocation(cmd?.commandId ?? "", bad ?? "", "Failed");
    const r1 = await trackRestart(
      { commandId: cmd?.commandId ?? "", documentName: fleet.documentName, instanceId: bad ?? "", status: "Failed" },
      w.deps,
    );
    expect(r1.halted).toMatch(new RegExp(`${bad}.*Failed`));
    const r2 = await trackRestart(
      { commandId: cmd?.commandId ?? "", documentName: fleet.documentName, instanceId: good ?? "", status: "Success" },
      w.deps,
    );
    expect(r2.nextWave).toBeNull();
    // The command-level terminal event after the halt changes nothing either.
    await trackRestart({ commandId: cmd?.commandId ?? "", documentName: fleet.documentName, status: "Failed" }, w.deps);

    expect(w.harness.sent()).toHaveLength(1);
    expect(seenOp("SendCommand")).toHaveLength(1);
    expect(seenOp("CancelCommand")).toEqual([]);
    expect(await commandCount()).toBe(commandsBefore);
    const rollout = await w.deps.rollouts.get(started.rolloutId ?? "");
    expect(rollout?.status).toBe("halted");
    const apiHosts = fleet.hosts.filter((h) => h.service === "api").map((h) => h.instanceId);
    const apiSteps = rollout?.steps.filter((st) => st.targetIds.some((t) => apiHosts.includes(t))) ?? [];
    expect(apiSteps.map((st) => st.state)).toEqual(apiSteps.map(() => "planned"));
  });
});

describe("DynamoDB unavailable", () => {
  it("the rotation handler throws (EventBridge retries) and sends no command without its idempotency record", async () => {
    Object.assign(process.env, handlerEnv(fleet, { DCP_DRY_RUN: "false" }));
    const { handler } = await import("../../functions/secret-rotation/index.ts");
    const arn = fleet.secrets[`${NS}/api/secrets`] ?? "";
    const version = await rotate(arn);
    const before = await commandCount();
    proxy.decide = ({ service }) => (service === "dynamodb" ? "refuse" : "pass");
    const context = lambdaContext("SecretRotationFunction", "req-ddb-down", fleet.region, fleet.account);
    const event = labelEvent(arn, version);
    const failure = await handler(event, context).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(failure?.name).toBe("IdempotencyPersistenceLayerError");
    // The handler's own clients: the production budget of 4 attempts, then a message naming the call.
    expect((failure as Error & { cause?: Error })?.cause?.message).toMatch(/^DynamoDB\.PutItem \(4 attempts\): /);
    expect(proxy.seen.some((s) => s.service === "dynamodb")).toBe(true);
    expect(seenOp("SendCommand")).toEqual([]);
    expect(await commandCount()).toBe(before);

    // Back up: the retried event does the work exactly once.
    proxy.decide = () => "pass";
    const retried = (await handler(event, { ...context, awsRequestId: "req-ddb-back" } as Context)) as RotationResult;
    expect(retried.action).toBe("restart");
    expect(await commandCount()).toBe(before + 1);
  });
});
