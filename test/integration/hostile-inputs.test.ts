// Hostile and malformed events through the four deployed handlers against moto: each gets a clear answer
// (rejected / ignored / flagged with a reason), nothing throws, and nothing in AWS changes — no tag, no IMDS
// change, no command, no rollout, no parameter, no secret version.
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { PutSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { ListCommandsCommand, type SendCommandCommandInput, SSMClient } from "@aws-sdk/client-ssm";
import type { Context } from "aws-lambda";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { SERVICE_NAME_PATTERN } from "#core/domain/manifest";
import { type SeededFleet, seedFleet } from "../../scripts/lib/fleet.ts";
import { type CorpusContext, type CorpusEntry, type HandlerName, hostileCorpus, outcomeOf } from "../hostile/corpus.ts";
import { awsState, handlerEnv, lambdaContext } from "../support/fixtures.ts";
import { useMoto } from "../support/moto.ts";
import { createTables } from "../support/wiring.ts";

const moto = useMoto();
const NS = "voiceai/hostile";
const SEMICOLON = "api; rm -rf /";
const NEWLINE = "api\nreboot";
const SUBSHELL = "$(reboot)";

let fleet: SeededFleet;
let ctx: CorpusContext;
type Handler = (event: unknown, context: Context) => Promise<unknown>;
const handlers = {} as Record<HandlerName, Handler>;

/** Every SendCommand any SSM client makes in this process (the handlers' own clients included). */
const sendCommands: SendCommandCommandInput[] = [];
const origSend = SSMClient.prototype.send;
const sendSpy = vi.spyOn(SSMClient.prototype, "send").mockImplementation(function (
  this: SSMClient,
  ...args: unknown[]
) {
  const command = args[0] as { constructor: { name: string }; input: unknown };
  if (command.constructor.name === "SendCommandCommand") sendCommands.push(command.input as SendCommandCommandInput);
  // biome-ignore lint/suspicious/noExplicitAny: forwards the overloaded send() unchanged
  return (origSend as (...a: any[]) => Promise<any>).apply(this, args);
});

const context = (fn: string, i: number): Context => lambdaContext(fn, `req-${fn}-${i}`, fleet.region, fleet.account);

beforeAll(async () => {
  void moto;
  fleet = await seedFleet({
    namespace: NS,
    services: [
      { name: "api", wave: 0, hosts: 2 },
      { name: "web", wave: 1, hosts: 1 },
    ],
    // Hosts of the namespace with hostile Service tags; already marked as unknown scope and IMDS-compliant, so a
    // correct guard has nothing to write for them.
    extraHosts: [SEMICOLON, NEWLINE, SUBSHELL].map((service) => ({
      tags: { Namespace: NS, Service: service, Name: "hostile", "dcp:iam-scope": "unknown" },
    })),
  });
  await createTables(new DynamoDBClient({}));
  const hostile = (service: string) => fleet.hosts.find((h) => h.service === service)?.instanceId ?? "";
  ctx = {
    account: fleet.account,
    region: fleet.region,
    namespace: NS,
    documentName: fleet.documentName,
    fleetSecretArn: fleet.secrets[`${NS}/api/secrets`] ?? "",
    hostileHosts: { semicolon: hostile(SEMICOLON), newline: hostile(NEWLINE), subshell: hostile(SUBSHELL) },
  };
  Object.assign(
    process.env,
    handlerEnv(fleet, { DCP_DRY_RUN: "false", DCP_IAM_MODE: "quarantine", DCP_AUDIT_REMEDIATION: "imds+restart" }),
  );
  handlers["instance-launch"] = (await import("../../functions/instance-launch/index.ts")).handler as Handler;
  handlers["secret-rotation"] = (await import("../../functions/secret-rotation/index.ts")).handler as Handler;
  handlers["restart-tracker"] = (await import("../../functions/restart-tracker/index.ts")).handler as Handler;
  handlers["ecs-deployment-tracker"] = (await import("../../functions/ecs-deployment-tracker/index.ts"))
    .handler as Handler;
  handlers["drift-audit"] = (await import("../../functions/drift-audit/index.ts")).handler as Handler;
}, 120_000);

afterAll(() => {
  sendSpy.mockRestore();
});

function corpus(): CorpusEntry[] {
  return hostileCorpus(ctx);
}

describe("hostile and malformed events", () => {
  it("the corpus covers every handler with at least 40 entries, the hostile hosts exist", () => {
    const entries = corpus();
    expect(entries.length).toBeGreaterThanOrEqual(40);
    for (const h of [
      "instance-launch",
      "secret-rotation",
      "restart-tracker",
      "ecs-deployment-tracker",
      "drift-audit",
    ] as const)
      expect(entries.filter((e) => e.handler === h).length, h).toBeGreaterThanOrEqual(5);
    expect(Object.values(ctx.hostileHosts).every((id) => /^i-[0-9a-f]+$/.test(id))).toBe(true);
    expect(ctx.fleetSecretArn).toMatch(/^arn:aws:secretsmanager:/);
  });

  it("every entry gets its expected, bounded answer and AWS is left exactly as it was", async () => {
    const before = await awsState();
    expect(before.instances.length).toBe(6);
    const failures: string[] = [];
    for (const [i, entry] of corpus().entries()) {
      const label = `${entry.handler} / ${entry.name}`;
      let result: unknown;
      let error: unknown;
      try {
        result = await handlers[entry.handler](entry.event, context(entry.handler, i));
      } catch (err) {
        error = err;
      }
      if (entry.expect.outcome === "throws") {
        if (!error) failures.push(`${label}: expected a throw, got ${JSON.stringify(outcomeOf(result))}`);
        else if (!entry.expect.error.test(String(error))) failures.push(`${label}: threw ${String(error)}`);
        continue;
      }
      if (error) {
        failures.push(`${label}: threw ${String(error).slice(0, 300)}`);
        continue;
      }
      const { outcome, reason } = outcomeOf(result);
      if (outcome !== entry.expect.outcome || !entry.expect.reason.test(reason))
        failures.push(
          `${label}: got ${outcome} "${reason.slice(0, 300)}", expected ${entry.expect.outcome} ${entry.expect.reason}`,
        );
      // A reason is for a log line and an operator: it never replays a 100 KB attacker string.
      if (reason.length > 1024) failures.push(`${label}: reason is ${reason.length} characters long`);
      // A rejection reason quotes the event's values escaped: no raw control or bidi characters to forge with.
      // biome-ignore lint/suspicious/noControlCharactersInRegex: that is the point of the check
      if (outcome === "rejected" && /[\u0000-\u001f\u007f\u200b-\u200f\u202a-\u202e\u2066-\u2069]/.test(reason))
        failures.push(`${label}: rejection reason carries raw control characters: ${JSON.stringify(reason)}`);
    }
    expect(failures).toEqual([]);
    expect(await awsState()).toEqual(before);
    expect(sendCommands).toEqual([]);
  });

  it("a real rotation restarts only the api hosts: the 'api; rm -rf /' host is never a target nor a Service value", async () => {
    const sm = new SecretsManagerClient({});
    const put = await sm.send(new PutSecretValueCommand({ SecretId: ctx.fleetSecretArn, SecretString: '{"v":2}' }));
    const event = {
      version: "0",
      id: "real-rotation",
      "detail-type": "Secret Label Updated",
      source: "aws.secretsmanager",
      account: fleet.account,
      time: new Date().toISOString(),
      region: fleet.region,
      resources: [ctx.fleetSecretArn],
      detail: { name: `${NS}/api/secrets`, labelUpdated: "AWSCURRENT", versionId: put.VersionId },
    };
    const result = outcomeOf(await handlers["secret-rotation"](event, context("secret-rotation", 1000)));
    expect(result.outcome, result.reason).toBe("restart");

    expect(sendCommands).toHaveLength(1);
    const apiHosts = fleet.hosts.filter((h) => h.service === "api").map((h) => h.instanceId);
    expect(new Set(sendCommands[0]?.InstanceIds)).toEqual(new Set(apiHosts));
    for (const id of Object.values(ctx.hostileHosts)) expect(sendCommands[0]?.InstanceIds).not.toContain(id);
    // The same rule holds for every SendCommand moto recorded, not only the ones this process saw.
    const listed = (await new SSMClient({}).send(new ListCommandsCommand({}))).Commands ?? [];
    expect(listed).toHaveLength(1);
    for (const c of [...sendCommands.map((s) => s.Parameters), ...listed.map((l) => l.Parameters)])
      for (const service of c?.Service ?? []) expect(service).toMatch(SERVICE_NAME_PATTERN);
    expect(listed[0]?.Parameters?.Service).toEqual(["api"]);
  });
});
