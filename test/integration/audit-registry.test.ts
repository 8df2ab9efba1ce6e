// The drift-audit function carries the unmanaged-host check's state from one run to the next in its summary
// parameter: moto for everything but SSM DescribeInstanceInformation (moto lacks it; aws-sdk-client-mock answers it
// and every other SSM call goes through to moto).
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import {
  DescribeInstanceInformationCommand,
  type DescribeInstanceInformationCommandInput,
  GetParameterCommand,
  PutParameterCommand,
  SSMClient,
} from "@aws-sdk/client-ssm";
import type { Context } from "aws-lambda";
import { mockClient } from "aws-sdk-client-mock";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AuditSummary } from "#core/app/run-audit";
import { type SeededFleet, seedFleet } from "../../scripts/lib/fleet.ts";
import { handlerEnv } from "../support/fixtures.ts";
import { useMoto } from "../support/moto.ts";
import { createTables } from "../support/wiring.ts";

useMoto();
const NS = "voiceai/registry";
const SUMMARY = `/${NS}/control-plane/audit/summary`;
let fleet: SeededFleet;
let audit: (event: unknown, context: Context) => Promise<AuditSummary>;
const mockSsm = () => mockClient(SSMClient);
let ssmMock: ReturnType<typeof mockSsm>;
const asked: DescribeInstanceInformationCommandInput[] = [];
let lostHost = "";

const ctx = { functionName: "DriftAuditFunction", awsRequestId: "r-1" } as Context;

beforeAll(async () => {
  fleet = await seedFleet({ namespace: NS, services: [{ name: "api", wave: 0, hosts: 3 }] });
  await createTables(new DynamoDBClient({}));
  lostHost = fleet.hosts[1]!.instanceId;
  Object.assign(process.env, handlerEnv(fleet, { DCP_DRY_RUN: "false", DCP_AUDIT_REMEDIATION: "none" }));
  ssmMock = mockSsm();
  ssmMock.send.callThrough();
  // Every seeded host is registered; one of them has lost its agent.
  ssmMock.on(DescribeInstanceInformationCommand).callsFake((input: DescribeInstanceInformationCommandInput) => {
    asked.push(input);
    const ping = (id: string) => (id === lostHost ? "ConnectionLost" : "Online");
    const filter = input.Filters?.[0];
    const ids = filter?.Key === "InstanceIds" ? (filter.Values ?? []) : [lostHost];
    return { InstanceInformationList: ids.map((InstanceId) => ({ InstanceId, PingStatus: ping(InstanceId) })) };
  });
  audit = (await import("../../functions/drift-audit/index.ts")).handler as typeof audit;
}, 120_000);

afterAll(() => ssmMock?.restore());

const stored = async (): Promise<Record<string, unknown>> => {
  const out = await new SSMClient({}).send(new GetParameterCommand({ Name: SUMMARY }));
  return JSON.parse(out.Parameter?.Value ?? "{}") as Record<string, unknown>;
};
const sweeps = () => asked.filter((i) => i.Filters?.[0]?.Key === "PingStatus").length;

describe("drift-audit: registry state across runs", () => {
  it("first run: full check, the state lands in the summary parameter", async () => {
    const r = await audit({ source: "dcp.schedule", action: "audit" }, ctx);
    expect(sweeps()).toBe(0); // full mode asks by id and reads PingStatus from the answer
    expect(r.summary["unmanaged-host"]).toBe(1);
    expect(r.registry?.unmanaged).toEqual([lostHost]);
    expect(r.registry?.fullCheckAt).toBe(r.registry?.checkedAt);
    // Manifest + previous summary (absent): one GetParameter each.
    expect(r.apiCalls["SSM.GetParameter"]).toBe(2);
    expect((await stored())["registry"]).toEqual(r.registry);
  });

  it("second run: reads it back and checks incrementally; the lost agent is still reported", async () => {
    asked.length = 0;
    const first = (await stored())["registry"] as AuditSummary["registry"];
    const r = await audit({ source: "dcp.schedule", action: "audit" }, ctx);
    expect(sweeps()).toBe(1);
    expect(r.summary["unmanaged-host"]).toBe(1);
    expect(r.registry?.fullCheckAt).toBe(first?.fullCheckAt);
    expect(r.registry?.checkedAt).not.toBe(first?.checkedAt);
    expect(Buffer.byteLength(JSON.stringify(await stored()))).toBeLessThan(4096);
  });

  it("an unparsable summary means a full check, never a crash", async () => {
    await new SSMClient({}).send(
      new PutParameterCommand({ Name: SUMMARY, Value: "{ not json", Type: "String", Overwrite: true }),
    );
    asked.length = 0;
    const r = await audit({ source: "dcp.schedule", action: "audit" }, ctx);
    expect(sweeps()).toBe(0);
    expect(r.registry?.fullCheckAt).toBe(r.registry?.checkedAt);
  });

  it("a dry run reads the state but writes nothing", async () => {
    const before = await stored();
    await audit({ source: "dcp.schedule", action: "audit", dryRun: true }, ctx);
    expect(await stored()).toEqual(before);
  });
});
