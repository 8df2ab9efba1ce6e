// Rotation → rolling restart against moto (EC2, SSM, Secrets Manager, IAM, DynamoDB real). moto's traps are
// corrected by the SSM harness: targets are what we REQUESTED, failures are injected per invocation.

import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DescribeInstancesCommand, EC2Client, StopInstancesCommand } from "@aws-sdk/client-ec2";
import {
  PutSecretValueCommand,
  SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from "@aws-sdk/client-secrets-manager";
import { ListCommandsCommand, SSMClient } from "@aws-sdk/client-ssm";
import { beforeAll, describe, expect, it } from "vitest";
import { confirmRotation, isFact, type RotationResult, startRollout } from "#core/app/rotate-secret";
import { trackRestart } from "#core/app/track-restart";
import type { SecretEvent } from "#core/domain/events";
import { classifyRotationEvent } from "#core/domain/rotation";
import { versionTagKey } from "#core/domain/secrets";
import { allNamespaceSecrets, type SeededFleet, seedFleet } from "../../scripts/lib/fleet.ts";
import { oneHostService, secretLabelEvent } from "../support/fixtures.ts";
import { useMoto } from "../support/moto.ts";
import { createTables, IDEMPOTENCY_TABLE, ROLLOUT_TABLE, wire } from "../support/wiring.ts";

const moto = useMoto();
const NS = "voiceai/rot";
let fleet: SeededFleet;
let stoppedApiHost: string;

const labelEvent = (arn: string, versionId: string, label?: string) => secretLabelEvent(arn, versionId, fleet, label);

const apiCallEvent = (
  eventName: string,
  requestParameters: Record<string, unknown>,
  responseElements?: Record<string, unknown>,
): SecretEvent => ({
  version: "0",
  id: `ev-${Math.random()}`,
  "detail-type": "AWS API Call via CloudTrail",
  source: "aws.secretsmanager",
  account: fleet.account,
  time: new Date().toISOString(),
  region: fleet.region,
  resources: [],
  detail: {
    eventSource: "secretsmanager.amazonaws.com",
    eventName,
    requestParameters,
    responseElements: responseElements ?? null,
  },
});

async function rotate(secretId: string, stages?: string[]): Promise<string> {
  const sm = new SecretsManagerClient({});
  const out = await sm.send(
    new PutSecretValueCommand({
      SecretId: secretId,
      SecretString: JSON.stringify({ rotated: Date.now() }),
      ...(stages ? { VersionStages: stages } : {}),
    }),
  );
  return out.VersionId!;
}

async function handle(ev: SecretEvent, w = wire(fleet)): Promise<RotationResult> {
  const fact = await confirmRotation(classifyRotationEvent(ev), fleet.manifest, w.deps);
  return isFact(fact) ? startRollout(fact, fleet.manifest, w.deps, { dryRun: false }) : fact;
}

const hostsOf = (...services: string[]) =>
  fleet.hosts.filter((h) => services.includes(h.service)).map((h) => h.instanceId);

beforeAll(async () => {
  void moto;
  fleet = await seedFleet({
    namespace: NS,
    sharedSecret: { consumers: ["database", "api", "web", "voice", "ops"] },
    services: [
      { name: "database", wave: 0, hosts: 2 },
      { name: "api", wave: 1, hosts: 4 },
      { name: "web", wave: 2, hosts: 2 },
      // voice consumes the master secret but a boundary denies it: its restart would fail to fetch.
      oneHostService("voice", 2, {
        boundary: {
          Version: "2012-10-17",
          Statement: [
            { Effect: "Allow", Action: "*", Resource: "*" },
            {
              Effect: "Deny",
              Action: "secretsmanager:GetSecretValue",
              Resource: "arn:aws:secretsmanager:*:*:secret:rds!*",
            },
          ],
        },
      }),
      { name: "ops", wave: 3, hosts: 1 },
      // media can read every secret of the namespace: excess scope, never a restart target of api's bundle.
      oneHostService("media", 3, {
        inline: {
          wide: allNamespaceSecrets(NS),
        },
      }),
    ],
  });
  await createTables(new DynamoDBClient({}));
  stoppedApiHost = hostsOf("api")[3]!;
  await new EC2Client({}).send(new StopInstancesCommand({ InstanceIds: [stoppedApiHost] }));
}, 120_000);

describe("rotation of a service bundle", () => {
  it("sends exactly one restart command, targeting exactly the running api hosts, with our document", async () => {
    const arn = fleet.secrets[`${NS}/api/secrets`]!;
    const version = await rotate(arn);
    const w = wire(fleet);
    const result = await handle(labelEvent(arn, version), w);

    expect(result.action).toBe("restart");
    expect(result.versionId).toBe(version);
    const sent = w.harness.sent();
    expect(sent).toHaveLength(1);
    expect(sent[0]!.documentName).toBe(fleet.documentName);
    expect(sent[0]!.parameters).toEqual({ Service: ["api"] });
    expect(new Set(sent[0]!.instanceIds)).toEqual(new Set(hostsOf("api").filter((id) => id !== stoppedApiHost)));
    expect(result.commands).toEqual([
      { step: 0, commandIds: [sent[0]!.commandId], service: "api", targetIds: sent[0]!.instanceIds, unmanaged: [] },
    ]);
    // media's role can read api's bundle without declaring it: reported, not restarted.
    const media = hostsOf("media")[0]!;
    expect(result.plan.skipped).toContainEqual(
      expect.objectContaining({ targetId: media, reason: expect.stringContaining("excess scope") }),
    );
    expect(sent[0]!.instanceIds).not.toContain(media);
  });

  it("costs one scan, one DescribeSecret, bulk IAM reads, ⌈hosts/50⌉ SendCommand — nothing per host", async () => {
    const arn = fleet.secrets[`${NS}/web/secrets`]!;
    const version = await rotate(arn);
    const w = wire(fleet);
    await handle(labelEvent(arn, version), w);
    const calls = w.counter.snapshot();
    expect(calls["EC2.DescribeInstances"]).toBe(1);
    expect(calls["SecretsManager.DescribeSecret"]).toBe(1);
    expect(calls["SSM.SendCommand"]).toBe(1);
    expect(calls["SecretsManager.GetSecretValue"]).toBeUndefined();
    const iamCalls = Object.entries(calls)
      .filter(([k]) => k.startsWith("IAM."))
      .reduce((n, [, v]) => n + v, 0);
    expect(iamCalls).toBeLessThanOrEqual(3); // one paginated bulk read, never per host or per role
    // head + one item per step (≤ 50 hosts) + running set; the claim and the sent record per step of wave 1
    expect(calls["DynamoDB.PutItem"]).toBeLessThanOrEqual(3);
    expect(calls["DynamoDB.UpdateItem"]).toBeLessThanOrEqual(3);
  });
});

describe("rotation of the shared master secret", () => {
  it("rolls wave by wave in manifest order, each consuming host exactly once, recording the version it runs", async () => {
    const arn = fleet.sharedSecretArn!;
    const version = await rotate(arn);
    const w = wire(fleet);
    const first = await handle(labelEvent(arn, version), w);
    expect(first.action).toBe("restart");
    const waveServices = first.plan.waves.map((s) => `${s.wave}:${s.service}`);
    expect(waveServices).toEqual(["0:database", "1:api", "2:web", "3:ops"]);
    // voice cannot read the secret: skipped with the reason, never sent.
    expect(first.plan.skipped).toContainEqual(
      expect.objectContaining({ targetId: hostsOf("voice")[0], reason: expect.stringContaining("cannot read") }),
    );
    // Only wave 0 goes out before anything succeeded.
    expect(w.harness.sent().map((c) => c.parameters["Service"]?.[0])).toEqual(["database"]);

    // Feed the tracker what SSM would emit, host by host, wave after wave.
    for (let guard = 0; guard < 10; guard++) {
      const pending = w.harness.sent().flatMap((c) => c.instanceIds.map((id) => ({ c, id })));
      let progressed = false;
      for (const { c, id } of pending) {
        const r = await trackRestart(
          { commandId: c.commandId, documentName: fleet.documentName, instanceId: id, status: "Success" },
          w.deps,
        );
        if (r.recorded.length > 0) progressed = true;
      }
      if (!progressed) break;
    }
    const restarted = w.harness.sent().flatMap((c) => c.instanceIds);
    const expected = [
      ...hostsOf("database"),
      ...hostsOf("api").filter((id) => id !== stoppedApiHost),
      ...hostsOf("web"),
      ...hostsOf("ops"),
    ];
    expect(restarted.sort()).toEqual(expected.sort()); // each exactly once, nobody else
    const order = w.harness.sent().map((c) => c.parameters["Service"]?.[0]);
    expect(order).toEqual(["database", "api", "web", "ops"]);

    const rollout = await w.deps.rollouts.get(first.rolloutId!);
    expect(rollout?.status).toBe("succeeded");
    const tags = await new EC2Client({}).send(new DescribeInstancesCommand({ InstanceIds: [hostsOf("database")[0]!] }));
    const tagMap = Object.fromEntries(
      (tags.Reservations?.[0]?.Instances?.[0]?.Tags ?? []).map((t) => [t.Key, t.Value]),
    );
    expect(tagMap[versionTagKey(rollout!.secretName)]).toBe(version);
  });

  it("halts on a failed host: no further wave, the result names the host and status", async () => {
    const arn = fleet.sharedSecretArn!;
    const version = await rotate(arn);
    const w = wire(fleet);
    const first = await handle(labelEvent(arn, version), w);
    const cmd = w.harness.sent()[0]!;
    const [bad, good] = cmd.instanceIds;
    w.harness.failInvocation(cmd.commandId, bad!, "Failed");
    const r1 = await trackRestart(
      { commandId: cmd.commandId, documentName: fleet.documentName, instanceId: bad!, status: "Failed" },
      w.deps,
    );
    expect(r1.halted).toContain(bad);
    expect(r1.halted).toContain("Failed");
    const r2 = await trackRestart(
      { commandId: cmd.commandId, documentName: fleet.documentName, instanceId: good!, status: "Success" },
      w.deps,
    );
    expect(r2.nextWave).toBeNull();
    expect(w.harness.sent()).toHaveLength(1);
    expect((await w.deps.rollouts.get(first.rolloutId!))?.status).toBe("halted");
  });
});

describe("events that must not restart anything", () => {
  it("an AWSPENDING put, a RotationFailed, a non-current label, a metadata-only update, a foreign secret", async () => {
    const arn = fleet.secrets[`${NS}/ops/secrets`]!;
    const pendingVersion = await rotate(arn, ["AWSPENDING"]);
    const w = wire(fleet);
    const results = [
      await handle(
        apiCallEvent("PutSecretValue", { secretId: arn, versionStages: ["AWSPENDING"] }, { versionId: pendingVersion }),
        w,
      ),
      await handle(
        {
          ...apiCallEvent("RotationFailed", {}),
          "detail-type": "AWS Service Event via CloudTrail",
          detail: {
            eventSource: "secretsmanager.amazonaws.com",
            eventName: "RotationFailed",
            additionalEventData: { SecretId: arn },
          },
        },
        w,
      ),
      await handle(labelEvent(arn, pendingVersion, "AWSPENDING"), w),
      await handle(apiCallEvent("UpdateSecret", { secretId: arn, description: "x" }, { arn }), w),
      await handle(apiCallEvent("PutSecretValue", { secretId: "someone-else/app/secrets" }), w),
    ];
    for (const r of results) expect(r.action, r.reason).toBe("ignored");
    expect(results.map((r) => r.reason).join("|")).toMatch(
      /AWSPENDING.*RotationFailed.*not AWSCURRENT.*metadata-only.*outside fleet/,
    );
    expect(w.harness.sent()).toHaveLength(0);
    expect(w.counter.snapshot()["SecretsManager.DescribeSecret"]).toBeUndefined(); // foreign ids cost no call
  });

  it("UpdateSecretVersionStage moving AWSCURRENT restarts for the version DescribeSecret confirms", async () => {
    const arn = fleet.secrets[`${NS}/database/secrets`]!;
    const v = await rotate(arn, ["AWSPENDING"]);
    const sm = new SecretsManagerClient({});
    const before = await sm.send(
      new (await import("@aws-sdk/client-secrets-manager")).DescribeSecretCommand({ SecretId: arn }),
    );
    const old = Object.entries(before.VersionIdsToStages ?? {}).find(([, s]) => s.includes("AWSCURRENT"))![0];
    await sm.send(
      new UpdateSecretVersionStageCommand({
        SecretId: arn,
        VersionStage: "AWSCURRENT",
        MoveToVersionId: v,
        RemoveFromVersionId: old,
      }),
    );
    const partialArn = arn.slice(0, -7);
    const r = await handle(
      apiCallEvent("UpdateSecretVersionStage", {
        secretId: partialArn,
        versionStage: "AWSCURRENT",
        moveToVersionId: v,
        removeFromVersionId: old,
      }),
    );
    expect(r.action).toBe("restart");
    expect(r.versionId).toBe(v);
    expect(r.commands.flatMap((c) => c.targetIds).sort()).toEqual(hostsOf("database").sort());
  });
});

describe("the deployed handler under duplicate delivery", () => {
  it("the same event delivered 10 times, concurrently, produces one rollout and one command", async () => {
    process.env.DCP_NAMESPACE = NS;
    process.env.DCP_MANIFEST_PARAM = fleet.manifestParam;
    process.env.DCP_RESTART_DOCUMENT = fleet.documentName;
    process.env.DCP_ROLLOUT_TABLE = ROLLOUT_TABLE;
    process.env.DCP_IDEMPOTENCY_TABLE = IDEMPOTENCY_TABLE;
    process.env.POWERTOOLS_LOG_LEVEL = "ERROR";
    const { handler } = await import("../../functions/secret-rotation/index.ts");
    const arn = fleet.secrets[`${NS}/telpro/secrets`] ?? fleet.secrets[`${NS}/api/secrets`]!;
    const version = await rotate(arn);
    const event = labelEvent(arn, version);
    const ctx = (i: number) =>
      ({
        awsRequestId: `req-${i}`,
        functionName: "SecretRotationFunction",
        invokedFunctionArn: `arn:aws:lambda:${fleet.region}:${fleet.account}:function:SecretRotationFunction`,
        getRemainingTimeInMillis: () => 60_000,
      }) as never;
    const outcomes = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => handler(event, ctx(i))));
    // Losers of the race either see the stored result (duplicate) or "in progress" (EventBridge retries them).
    const done = outcomes
      .filter((o) => o.status === "fulfilled")
      .map((o) => (o as PromiseFulfilledResult<RotationResult>).value);
    expect(done.filter((r) => r.action === "restart")).toHaveLength(1);
    for (const o of outcomes) if (o.status === "rejected") expect(String(o.reason)).toMatch(/in progress|InProgress/i);
    const again = (await handler(event, ctx(99))) as RotationResult;
    expect(again.action).toBe("duplicate");
    const list = await new SSMClient({}).send(new ListCommandsCommand({}));
    const ours = (list.Commands ?? []).filter((c) => c.Comment?.includes(done[0]!.rolloutId!));
    expect(ours).toHaveLength(1);
  });
});
