// The pure trigger-health judgement over trail facts: which trails deliver the rotation function's API-call events.
import { describe, expect, it } from "vitest";
import { judgeTriggerHealth, type TrailFact, trailGap } from "#core/domain/trigger-health";

const REGION = "eu-central-1";
const trail = (over: Partial<TrailFact> = {}): TrailFact => ({
  Name: "main",
  TrailARN: `arn:aws:cloudtrail:${REGION}:123456789012:trail/main`,
  HomeRegion: REGION,
  IsMultiRegionTrail: true,
  IsLogging: true,
  EventSelectors: [],
  AdvancedEventSelectors: [],
  ...over,
});

describe("trailGap", () => {
  it.each<[string, Partial<TrailFact>]>([
    ["default selectors", {}],
    ["a basic WriteOnly selector", { HasCustomEventSelectors: true, EventSelectors: [{ ReadWriteType: "WriteOnly" }] }],
    [
      "a basic selector excluding only KMS events",
      { HasCustomEventSelectors: true, EventSelectors: [{ ExcludeManagementEventSources: ["kms.amazonaws.com"] }] },
    ],
    ["a single-region trail of this region", { IsMultiRegionTrail: false }],
    ["an organization trail of another home region", { IsOrganizationTrail: true, HomeRegion: "us-east-1" }],
    [
      "advanced: management events but not from KMS",
      {
        HasCustomEventSelectors: true,
        AdvancedEventSelectors: [
          {
            FieldSelectors: [
              { Field: "eventCategory", Equals: ["Management"] },
              { Field: "eventSource", NotEquals: ["kms.amazonaws.com"] },
            ],
          },
        ],
      },
    ],
    [
      "advanced: a data-event selector and a management one (selectors are ORed)",
      {
        HasCustomEventSelectors: true,
        AdvancedEventSelectors: [
          {
            FieldSelectors: [
              { Field: "eventCategory", Equals: ["Data"] },
              { Field: "resources.type", Equals: ["AWS::S3::Object"] },
            ],
          },
          {
            FieldSelectors: [
              { Field: "eventCategory", Equals: ["Management"] },
              { Field: "readOnly", Equals: ["false"] },
            ],
          },
        ],
      },
    ],
  ])("delivers with %s", (_, over) => {
    expect(trailGap(trail(over), REGION)).toBeUndefined();
  });

  it.each<[string, Partial<TrailFact>, RegExp]>([
    [
      "a single-region trail of another region",
      { IsMultiRegionTrail: false, HomeRegion: "us-east-1" },
      /single-region trail of us-east-1/,
    ],
    ["a trail not logging", { IsLogging: false }, /not logging/],
    [
      "a trail whose status was refused",
      { IsLogging: undefined, problem: "AccessDeniedException" },
      /unreadable \(AccessDenied/,
    ],
    [
      "ReadOnly basic selectors",
      { HasCustomEventSelectors: true, EventSelectors: [{ ReadWriteType: "ReadOnly" }] },
      /exclude management write events \(PutSecretValue, UpdateSecretVersionStage, UpdateSecret\)/,
    ],
    [
      "basic selectors without management events (data events only)",
      { HasCustomEventSelectors: true, EventSelectors: [{ IncludeManagementEvents: false }] },
      /exclude management write events/,
    ],
    [
      "advanced selectors leaving out Secrets Manager",
      {
        HasCustomEventSelectors: true,
        AdvancedEventSelectors: [
          {
            FieldSelectors: [
              { Field: "eventCategory", Equals: ["Management"] },
              { Field: "eventSource", NotStartsWith: ["secretsmanager."] },
            ],
          },
        ],
      },
      /exclude management write events/,
    ],
    [
      "advanced selectors logging data events only",
      {
        HasCustomEventSelectors: true,
        AdvancedEventSelectors: [{ FieldSelectors: [{ Field: "eventCategory", Equals: ["Data"] }] }],
      },
      /exclude management write events/,
    ],
    [
      "custom selectors that are empty (nothing logged)",
      { HasCustomEventSelectors: true, EventSelectors: [], AdvancedEventSelectors: [] },
      /exclude management write events/,
    ],
  ])("does not deliver with %s", (_, over, why) => {
    expect(trailGap(trail(over), REGION)).toMatch(why);
  });

  it("advanced selectors naming the event names: only the ones listed are logged", () => {
    const t = trail({
      HasCustomEventSelectors: true,
      AdvancedEventSelectors: [
        {
          FieldSelectors: [
            { Field: "eventCategory", Equals: ["Management"] },
            { Field: "eventName", Equals: ["PutSecretValue"] },
          ],
        },
      ],
    });
    expect(trailGap(t, REGION)).toBe(
      "event selectors exclude management write events (UpdateSecretVersionStage, UpdateSecret)",
    );
  });
});

describe("judgeTriggerHealth", () => {
  it("one delivering trail among broken ones is enough", () => {
    expect(judgeTriggerHealth(REGION, { trails: [trail({ Name: "off", IsLogging: false }), trail()] })).toEqual([]);
  });

  it("no trail: one medium finding for the region, saying what still fires", () => {
    const [f, ...rest] = judgeTriggerHealth(REGION, { trails: [] });
    expect(rest).toEqual([]);
    expect(f).toMatchObject({ kind: "trigger-trail-missing", severity: "medium", resource: "cloudtrail:eu-central-1" });
    expect(f?.detail).toMatch(/\(none\): API-call rotation events are not delivered, only the Secret Label Updated/);
  });

  it("every trail broken: each is named with its reason", () => {
    const [f] = judgeTriggerHealth(REGION, {
      trails: [
        trail({ Name: "off", IsLogging: false }),
        trail({ Name: "far", IsMultiRegionTrail: false, HomeRegion: "us-west-2" }),
      ],
    });
    expect(f?.evidence?.["gaps"]).toBe("off: not logging; far: single-region trail of us-west-2");
  });

  it("trails that could not be listed: a low finding (health unknown), never silence", () => {
    const [f] = judgeTriggerHealth(REGION, { unavailable: "CloudTrail.DescribeTrails: AccessDeniedException" });
    expect(f).toMatchObject({ kind: "trigger-trail-missing", severity: "low" });
    expect(f?.detail).toMatch(/^maybe no CloudTrail trail/);
  });
});
