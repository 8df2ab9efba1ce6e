// Trigger health against moto's CloudTrail, through the audit's own signed JSON caller: no trail, a trail not
// logging, or selectors that leave out management write events → `trigger-trail-missing`; a logging multi-region
// trail of another home region with the default selectors → none. The calls are counted like the SDK clients'.
import { describe, expect, it } from "vitest";
import { ApiCallCounter, createClients } from "#core/adapters/clients";
import { cloudTrailCaller, cloudTrailTrails } from "#core/adapters/cloudtrail";
import { judgeTriggerHealth } from "#core/domain/trigger-health";
import { useMoto } from "../support/moto.ts";

const moto = useMoto({ resetBetweenTests: true });
const REGION = "eu-central-1";
const BUCKET = "dcp-trail-logs";

const caller = (counter?: ApiCallCounter) => cloudTrailCaller(createClients().ssm.config, counter);

/** A trail as an operator would create it (moto checks the bucket exists; its S3 takes an unsigned path-style PUT). */
async function trail(name: string, opts: { multiRegion?: boolean; logging?: boolean; region?: string } = {}) {
  await fetch(`${moto.endpoint()}/${BUCKET}`, { method: "PUT" });
  const ct = caller();
  const home = opts.region ?? REGION;
  await ct("CreateTrail", { Name: name, S3BucketName: BUCKET, IsMultiRegionTrail: opts.multiRegion ?? true }, home);
  if (opts.logging ?? true) await ct("StartLogging", { Name: name }, home);
}

async function judge(counter?: ApiCallCounter) {
  return judgeTriggerHealth(REGION, await cloudTrailTrails(createClients().ssm, counter).trails());
}

describe("trigger health (moto CloudTrail)", () => {
  it("no trail: a finding that says API-call rotation events are not delivered", async () => {
    const findings = await judge();
    expect(findings).toHaveLength(1);
    expect(findings[0]).toMatchObject({ kind: "trigger-trail-missing", severity: "medium" });
    expect(findings[0]!.detail).toMatch(/API-call rotation events are not delivered/);
    expect(findings[0]!.detail).toMatch(/Secret Label Updated/);
  });

  it("a logging multi-region trail of another home region with default selectors: no finding, 3 calls counted", async () => {
    await trail("org-wide", { region: "us-east-1" });
    const counter = new ApiCallCounter();
    expect(await judge(counter)).toEqual([]);
    expect(counter.snapshot()).toEqual({
      "CloudTrail.DescribeTrails": 1,
      "CloudTrail.GetEventSelectors": 1,
      "CloudTrail.GetTrailStatus": 1,
    });
  });

  it("a trail that exists but is not logging: a finding naming it", async () => {
    await trail("stopped", { logging: false });
    const [f] = await judge();
    expect(f?.kind).toBe("trigger-trail-missing");
    expect(f?.detail).toMatch(/stopped: not logging/);
  });

  it("a single-region trail of another region does not count", async () => {
    await trail("elsewhere", { region: "us-east-1", multiRegion: false });
    expect((await judge())[0]?.kind).toBe("trigger-trail-missing");
  });

  it("selectors that log read-only management events only: a finding; write events included again: none", async () => {
    await trail("reads-only");
    const ct = caller();
    await ct("PutEventSelectors", {
      TrailName: "reads-only",
      EventSelectors: [{ ReadWriteType: "ReadOnly", IncludeManagementEvents: true }],
    });
    const [f] = await judge();
    expect(f?.detail).toMatch(/reads-only: event selectors exclude management write events \(PutSecretValue/);

    await ct("PutEventSelectors", {
      TrailName: "reads-only",
      AdvancedEventSelectors: [
        { Name: "management", FieldSelectors: [{ Field: "eventCategory", Equals: ["Management"] }] },
      ],
    });
    expect(await judge()).toEqual([]);
  });

  it("advanced selectors keeping only readOnly=true management events: a finding", async () => {
    await trail("advanced-reads");
    await caller()("PutEventSelectors", {
      TrailName: "advanced-reads",
      AdvancedEventSelectors: [
        {
          Name: "reads",
          FieldSelectors: [
            { Field: "eventCategory", Equals: ["Management"] },
            { Field: "readOnly", Equals: ["true"] },
          ],
        },
      ],
    });
    expect((await judge())[0]?.detail).toMatch(/advanced-reads: event selectors exclude/);
  });

  it("an API error is named with its call and type", async () => {
    await expect(caller()("GetTrailStatus", { Name: "no-such-trail" })).rejects.toMatchObject({
      name: "TrailNotFoundException",
      message: expect.stringMatching(/^CloudTrail\.GetTrailStatus: /),
    });
  });
});
