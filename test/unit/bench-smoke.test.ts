// Keeps bench/ from rotting: the audit part of `npm run bench` on a tiny moto fleet (well under 20 s).
import { CreateTableCommand } from "@aws-sdk/client-dynamodb";
import { beforeAll, describe, expect, it } from "vitest";
import { createClients } from "#core/adapters/clients";
import { consumedSecretIds } from "#core/domain/secrets";
import { runAudit, runNaive, runRotation, type Target } from "../../bench/lib/audit.ts";
import { type BenchFleet, growFleet, redrift, seedBenchFleet } from "../../bench/lib/fleet.ts";
import { auditCallBudget, auditVerdict } from "../../bench/lib/report.ts";
import { useMoto } from "../support/moto.ts";

useMoto();
const HOSTS = 24;
let bf: BenchFleet;
let target: Target;

beforeAll(async () => {
  const clients = createClients();
  await clients.dynamodb.send(
    new CreateTableCommand({
      TableName: "bench-smoke-rollouts",
      BillingMode: "PAY_PER_REQUEST",
      AttributeDefinitions: [{ AttributeName: "pk", AttributeType: "S" }],
      KeySchema: [{ AttributeName: "pk", KeyType: "HASH" }],
    }),
  );
  bf = await seedBenchFleet("bench/smoke", clients);
  await growFleet(bf, HOSTS, clients);
  target = {
    namespace: "bench/smoke",
    manifestParam: bf.fleet.manifestParam,
    restartDocument: bf.fleet.documentName,
    rolloutTable: "bench-smoke-rollouts",
    region: bf.fleet.region,
  };
});

describe("bench audit part (tiny N)", () => {
  it("seeds 1 host in 4 with IMDS drift and the audit finds exactly those hosts with one scan call", async () => {
    expect(bf.hostIds).toHaveLength(HOSTS);
    expect(bf.drifted.size).toBe(HOSTS / 4);
    const r = await runAudit(target, "none");
    expect(r.hosts).toBe(HOSTS);
    expect(r.apiCalls["EC2.DescribeInstances"]).toBe(1);
    expect(r.apiCalls["EC2.ModifyInstanceMetadataOptions"]).toBeUndefined();
    // Each drifted host yields at least one IMDS finding; compliant hosts none.
    expect(r.imdsFindings).toBeGreaterThanOrEqual(bf.drifted.size);
    expect(r.totalCalls).toBe(Object.values(r.apiCalls).reduce((a, b) => a + b, 0));
  });

  it("audit --fix costs one ModifyInstanceMetadataOptions per drifted host and converges in one pass", async () => {
    const fix = await runAudit(target, "imds");
    expect(fix.imdsFixed).toBe(bf.drifted.size);
    expect(fix.apiCalls["EC2.ModifyInstanceMetadataOptions"]).toBe(bf.drifted.size);
    const after = await runAudit(target, "none");
    expect(after.imdsFindings).toBe(0);
    // The bench puts the drift back before the next size.
    await redrift(bf);
    expect((await runAudit(target, "none")).imdsFindings).toBeGreaterThanOrEqual(bf.drifted.size);
  });

  it("the naive baseline pays one DescribeInstances per host; the audit's verdict reflects the call budget", async () => {
    const naive = await runNaive(target, bf.hostIds);
    expect(naive.apiCalls["EC2.DescribeInstances"]).toBe(HOSTS);
    expect(naive.apiCalls["IAM.GetRole"]).toBe(12);
    const audit = await runAudit(target, "none");
    expect(naive.totalCalls).toBeGreaterThan(audit.totalCalls);
    const secrets = consumedSecretIds(bf.fleet.manifest).length;
    const budget = auditCallBudget(HOSTS, 0, secrets);
    expect(auditVerdict(audit, HOSTS, secrets, 0).met).toBe(audit.totalCalls <= budget);
  });

  it("a rotation of the shared secret dispatches wave 0 with a host-independent number of calls", async () => {
    const r = await runRotation(target, bf.fleet.sharedSecretArn!, bf.fleet.account);
    expect(r.planned).toBeGreaterThan(0);
    expect(r.commands).toBeGreaterThanOrEqual(1);
    expect(r.apiCalls["EC2.DescribeInstances"]).toBe(1);
    expect(r.apiCalls["SecretsManager.DescribeSecret"]).toBe(1);
  });
});
