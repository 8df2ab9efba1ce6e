import { readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { SecretEvent } from "#core/domain/events";
import { classifyRotationEvent, type RotationIntent } from "#core/domain/rotation";

const EVENTS_DIR = new URL("../../events/", import.meta.url);
const eventFiles = readdirSync(EVENTS_DIR).filter((f) => f.endsWith(".json"));

const SM = "arn:aws:secretsmanager:eu-central-1:123456789012:secret:";
const API_ARN = `${SM}voiceai/staging/api/secrets-Xy12Ab`;
const V1 = "c4d5e6f7-0a1b-4c2d-9e3f-4a5b6c7d8e9f";
const V2 = "9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a";
const HUGE = "x".repeat(100 * 1024);

function envelope(detailType: string, detail: unknown, resources: string[] = []): SecretEvent {
  return SecretEvent.parse({
    version: "0",
    id: "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
    "detail-type": detailType,
    source: "aws.secretsmanager",
    account: "123456789012",
    time: "2025-11-20T10:02:11Z",
    region: "eu-central-1",
    resources,
    detail,
  });
}
const labelEvent = (detail: unknown, resources: string[] = [API_ARN]) =>
  envelope("Secret Label Updated", detail, resources);
const serviceEvent = (detail: Record<string, unknown>) =>
  envelope("AWS Service Event via CloudTrail", { eventSource: "secretsmanager.amazonaws.com", ...detail });
const apiCall = (detail: Record<string, unknown>) =>
  envelope("AWS API Call via CloudTrail", { eventSource: "secretsmanager.amazonaws.com", ...detail });

function fromFile(name: string): SecretEvent {
  return SecretEvent.parse(JSON.parse(readFileSync(new URL(name, EVENTS_DIR), "utf8")));
}

/** Classification never throws and an ignore always says why. */
function classify(e: SecretEvent): RotationIntent {
  const intent = classifyRotationEvent(e);
  if (intent.kind === "ignore") expect(intent.reason.length).toBeGreaterThan(0);
  return intent;
}

describe("sample events in events/", () => {
  const expected: Record<string, Partial<RotationIntent>> = {
    "secret-label-updated-current.json": {
      kind: "act",
      trigger: "SecretLabelUpdated",
      secretId: API_ARN,
      versionHint: V1,
    },
    "secret-label-updated-pending.json": { kind: "ignore", trigger: "SecretLabelUpdated" },
    "rotation-succeeded.json": { kind: "act", trigger: "RotationSucceeded" },
    "rotation-started.json": { kind: "ignore", trigger: "RotationStarted" },
    "rotation-failed.json": { kind: "ignore", trigger: "RotationFailed" },
    "put-secret-value-current.json": {
      kind: "act",
      trigger: "PutSecretValue",
      // a partial ARN (no suffix): passed on as is, DescribeSecret resolves it
      secretId: expect.stringMatching(/^arn:aws:secretsmanager:[^:]+:\d{12}:secret:[a-z0-9/-]+\/secrets$/),
      versionHint: "5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d",
    },
    "put-secret-value-pending.json": { kind: "ignore", trigger: "PutSecretValue" },
    "update-secret-version-stage-current.json": {
      kind: "act",
      trigger: "UpdateSecretVersionStage",
      secretId: "voiceai/staging/api/secrets",
      versionHint: V1,
    },
    "update-secret-version-stage-other.json": { kind: "ignore", trigger: "UpdateSecretVersionStage" },
    "update-secret-value.json": {
      kind: "act",
      trigger: "UpdateSecret",
      versionHint: "8e9f0a1b-2c3d-4e4f-9a5b-6c7d8e9f0a1b",
    },
    "update-secret-metadata.json": { kind: "ignore", trigger: "UpdateSecret" },
  };

  const secretFiles = eventFiles.filter((f) => f in expected);
  it.skipIf(secretFiles.length === 0)("every Secrets Manager sample is covered here", () => {
    const smFiles = eventFiles.filter(
      (f) => JSON.parse(readFileSync(new URL(f, EVENTS_DIR), "utf8")).source === "aws.secretsmanager",
    );
    expect(smFiles.sort()).toEqual(secretFiles.sort());
  });

  for (const [file, want] of Object.entries(expected)) {
    it.skipIf(!eventFiles.includes(file))(`${file} → ${want.kind}`, () => {
      expect(classify(fromFile(file))).toMatchObject(want);
    });
  }

  it.skipIf(!eventFiles.includes("rotation-succeeded.json"))(
    "RotationSucceeded acts on the SecretId, with no version hint",
    () => {
      const intent = classify(fromFile("rotation-succeeded.json"));
      expect(intent).toMatchObject({ kind: "act", secretId: expect.stringMatching(/:secret:rds!cluster-/) });
      expect(intent).not.toHaveProperty("versionHint");
    },
  );
});

describe("Secret Label Updated", () => {
  it("AWSCURRENT acts on resources[0] with the version as a hint", () => {
    expect(
      classify(labelEvent({ name: "voiceai/staging/api/secrets", labelUpdated: "AWSCURRENT", versionId: V1 })),
    ).toEqual({
      kind: "act",
      trigger: "SecretLabelUpdated",
      secretId: API_ARN,
      versionHint: V1,
    });
  });

  it("falls back to detail.name when resources is empty; no version → no hint", () => {
    const intent = classify(labelEvent({ name: "voiceai/staging/api/secrets", labelUpdated: "AWSCURRENT" }, []));
    expect(intent).toEqual({ kind: "act", trigger: "SecretLabelUpdated", secretId: "voiceai/staging/api/secrets" });
  });

  it("ignores other labels (AWSPENDING, AWSPREVIOUS, custom), naming the label", () => {
    for (const label of ["AWSPENDING", "AWSPREVIOUS", "canary", "awscurrent"]) {
      const intent = classify(labelEvent({ labelUpdated: label, versionId: V1 }));
      expect(intent).toMatchObject({ kind: "ignore", secretId: API_ARN });
      if (intent.kind === "ignore") expect(intent.reason).toContain(label);
    }
  });

  it("ignores an event naming no secret at all", () => {
    expect(classify(labelEvent({ labelUpdated: "AWSCURRENT" }, []))).toMatchObject({
      kind: "ignore",
      reason: expect.stringMatching(/no secret/),
    });
  });
});

describe("AWS Service Event via CloudTrail", () => {
  it("RotationSucceeded acts on additionalEventData.SecretId", () => {
    expect(
      classify(serviceEvent({ eventName: "RotationSucceeded", additionalEventData: { SecretId: API_ARN } })),
    ).toEqual({
      kind: "act",
      trigger: "RotationSucceeded",
      secretId: API_ARN,
    });
  });

  it("RotationFailed / RotationStarted / others are ignored with the reason and the secret", () => {
    for (const name of ["RotationFailed", "RotationStarted", "RotationAbandoned", "CancelRotateSecret"]) {
      const intent = classify(serviceEvent({ eventName: name, additionalEventData: { SecretId: API_ARN } }));
      expect(intent).toEqual({
        kind: "ignore",
        trigger: name,
        secretId: API_ARN,
        reason: `${name} does not make a new version current`,
      });
    }
  });

  it("RotationSucceeded without a SecretId is ignored", () => {
    for (const extra of [{}, { additionalEventData: null }, { additionalEventData: {} }]) {
      expect(classify(serviceEvent({ eventName: "RotationSucceeded", ...extra }))).toMatchObject({
        kind: "ignore",
        reason: expect.stringMatching(/SecretId/),
      });
    }
  });
});

describe("AWS API Call via CloudTrail", () => {
  it("PutSecretValue without stages (defaults to AWSCURRENT) acts, with the new version", () => {
    expect(
      classify(
        apiCall({
          eventName: "PutSecretValue",
          requestParameters: { secretId: API_ARN },
          responseElements: { versionId: V1 },
        }),
      ),
    ).toEqual({ kind: "act", trigger: "PutSecretValue", secretId: API_ARN, versionHint: V1 });
  });

  it("PutSecretValue with AWSCURRENT among its stages acts", () => {
    expect(
      classify(
        apiCall({
          eventName: "PutSecretValue",
          requestParameters: { secretId: API_ARN, versionStages: ["canary", "AWSCURRENT"] },
          responseElements: { versionId: V1 },
        }),
      ),
    ).toMatchObject({ kind: "act", versionHint: V1 });
  });

  it("PutSecretValue with only AWSPENDING (a rotation's setSecret) is ignored", () => {
    const intent = classify(
      apiCall({
        eventName: "PutSecretValue",
        requestParameters: { secretId: API_ARN, versionStages: ["AWSPENDING"] },
        responseElements: { versionId: V1 },
      }),
    );
    expect(intent).toMatchObject({ kind: "ignore", secretId: API_ARN, reason: expect.stringContaining("AWSPENDING") });
  });

  it("UpdateSecretVersionStage moving AWSCURRENT onto a version acts on that version", () => {
    expect(
      classify(
        apiCall({
          eventName: "UpdateSecretVersionStage",
          requestParameters: {
            secretId: API_ARN,
            versionStage: "AWSCURRENT",
            moveToVersionId: V1,
            removeFromVersionId: V2,
          },
        }),
      ),
    ).toEqual({ kind: "act", trigger: "UpdateSecretVersionStage", secretId: API_ARN, versionHint: V1 });
  });

  it("UpdateSecretVersionStage of another stage, or only removing AWSCURRENT, is ignored", () => {
    for (const req of [
      { versionStage: "canary", moveToVersionId: V1 },
      { versionStage: "AWSPENDING", moveToVersionId: V1 },
      { versionStage: "AWSCURRENT", removeFromVersionId: V2 },
    ]) {
      expect(
        classify(apiCall({ eventName: "UpdateSecretVersionStage", requestParameters: { secretId: API_ARN, ...req } })),
      ).toMatchObject({ kind: "ignore", secretId: API_ARN });
    }
  });

  it("UpdateSecret with a new version acts; metadata-only is ignored", () => {
    expect(
      classify(
        apiCall({
          eventName: "UpdateSecret",
          requestParameters: { secretId: API_ARN },
          responseElements: { versionId: V2 },
        }),
      ),
    ).toEqual({ kind: "act", trigger: "UpdateSecret", secretId: API_ARN, versionHint: V2 });
    expect(
      classify(
        apiCall({
          eventName: "UpdateSecret",
          requestParameters: { secretId: API_ARN, description: "new text" },
          responseElements: { arn: API_ARN, name: "voiceai/staging/api/secrets" },
        }),
      ),
    ).toMatchObject({ kind: "ignore", reason: expect.stringMatching(/metadata-only/) });
  });

  it("a failed call (errorCode) is ignored whatever it would have done", () => {
    const intent = classify(
      apiCall({
        eventName: "PutSecretValue",
        errorCode: "AccessDenied",
        errorMessage: "User is not authorized",
        requestParameters: { secretId: API_ARN },
        responseElements: null,
      }),
    );
    expect(intent).toMatchObject({
      kind: "ignore",
      secretId: API_ARN,
      reason: expect.stringContaining("AccessDenied"),
    });
  });

  it("other API calls are ignored (DeleteSecret, TagResource, RotateSecret…)", () => {
    for (const name of ["DeleteSecret", "TagResource", "RotateSecret", "CreateSecret"]) {
      expect(classify(apiCall({ eventName: name, requestParameters: { secretId: API_ARN } }))).toMatchObject({
        kind: "ignore",
        trigger: name,
      });
    }
  });

  it("a call without a secretId is ignored", () => {
    expect(classify(apiCall({ eventName: "PutSecretValue", requestParameters: null }))).toMatchObject({
      kind: "ignore",
      reason: expect.stringMatching(/secretId/),
    });
  });
});

describe("malformed details are rejected with a short reason, never thrown", () => {
  const cases: [string, SecretEvent][] = [
    ["label: labelUpdated a number", labelEvent({ labelUpdated: 7 })],
    ["label: labelUpdated missing", labelEvent({ name: "x" })],
    ["label: 100 KB label", labelEvent({ labelUpdated: HUGE })],
    ["label: 100 KB name", labelEvent({ labelUpdated: "AWSCURRENT", name: HUGE }, [])],
    ["label: short versionId", labelEvent({ labelUpdated: "AWSCURRENT", versionId: "v1" })],
    ["label: 100 KB secret in resources[0]", labelEvent({ labelUpdated: "AWSCURRENT", versionId: V1 }, [HUGE])],
    [
      "service: wrong eventSource",
      envelope("AWS Service Event via CloudTrail", {
        eventSource: "ec2.amazonaws.com",
        eventName: "RotationSucceeded",
      }),
    ],
    ["service: eventName an object", serviceEvent({ eventName: { a: 1 } })],
    [
      "service: 100 KB SecretId",
      serviceEvent({ eventName: "RotationSucceeded", additionalEventData: { SecretId: HUGE } }),
    ],
    ["service: 100 KB eventName", serviceEvent({ eventName: HUGE })],
    ["api: requestParameters a string", apiCall({ eventName: "PutSecretValue", requestParameters: "secretId=x" })],
    ["api: secretId a number", apiCall({ eventName: "PutSecretValue", requestParameters: { secretId: 42 } })],
    [
      "api: versionStages a string",
      apiCall({ eventName: "PutSecretValue", requestParameters: { secretId: API_ARN, versionStages: "AWSCURRENT" } }),
    ],
    ["api: 100 KB secretId", apiCall({ eventName: "PutSecretValue", requestParameters: { secretId: HUGE } })],
    [
      "api: 100 KB versionId",
      apiCall({
        eventName: "UpdateSecret",
        requestParameters: { secretId: API_ARN },
        responseElements: { versionId: HUGE },
      }),
    ],
    [
      "api: 10 000 stages",
      apiCall({
        eventName: "PutSecretValue",
        requestParameters: { secretId: API_ARN, versionStages: Array(10_000).fill("AWSCURRENT") },
      }),
    ],
    ["api: empty detail", envelope("AWS API Call via CloudTrail", {})],
    [
      "api: clientRequestToken with shell characters (no side effect even for a real secret)",
      apiCall({
        eventName: "PutSecretValue",
        requestParameters: { secretId: API_ARN, clientRequestToken: `${V1.slice(0, 30)};reboot` },
      }),
    ],
    [
      "api: clientRequestToken of 31 characters",
      apiCall({
        eventName: "PutSecretValue",
        requestParameters: { secretId: API_ARN, clientRequestToken: V1.slice(0, 31) },
      }),
    ],
    [
      "api: versionId with whitespace",
      apiCall({
        eventName: "UpdateSecret",
        requestParameters: { secretId: API_ARN },
        responseElements: { versionId: `${V1} ` },
      }),
    ],
    [
      "label: secret id with a control character",
      labelEvent({ labelUpdated: "AWSCURRENT", versionId: V1 }, ["a\u0000b"]),
    ],
  ];
  for (const [name, event] of cases) {
    it(name, () => {
      let intent: RotationIntent | undefined;
      expect(() => {
        intent = classifyRotationEvent(event);
      }).not.toThrow();
      expect(intent?.kind).toBe("reject");
      if (intent?.kind !== "reject") return;
      expect(intent.reason.length).toBeLessThan(600);
      expect(intent.reason).not.toContain("xxxxxxxxxx");
      expect(intent.trigger.length).toBeLessThanOrEqual(128);
    });
  }

  it("the reason names the offending field path", () => {
    const intent = classifyRotationEvent(apiCall({ eventName: "PutSecretValue", requestParameters: { secretId: 42 } }));
    expect(intent).toMatchObject({ kind: "reject", reason: expect.stringContaining("requestParameters.secretId") });
  });
});

describe("event values in reasons", () => {
  it("are bounded and escaped: a hostile label or eventName cannot forge a log line", () => {
    const base = {
      version: "0",
      id: "x",
      account: "123456789012",
      time: "2026-01-01T00:00:00Z",
      region: "eu-central-1",
    };
    const label = classifyRotationEvent({
      ...base,
      source: "aws.secretsmanager",
      "detail-type": "Secret Label Updated",
      resources: ["voiceai/prod/api/secrets"],
      detail: { labelUpdated: `X\n{"level":"INFO","msg":"forged"}\u202e${"y".repeat(200)}` },
    });
    expect(label.kind).toBe("ignore");
    const reason = label.kind === "ignore" ? label.reason : "";
    expect(reason).not.toMatch(/[\n\u202e]/);
    expect(reason.length).toBeLessThan(200);

    const api = classifyRotationEvent({
      ...base,
      source: "aws.secretsmanager",
      "detail-type": "AWS API Call via CloudTrail",
      resources: [],
      detail: {
        eventSource: "secretsmanager.amazonaws.com",
        eventName: "Evil\nName",
        requestParameters: { secretId: "s" },
      },
    });
    expect(api.trigger).not.toContain("\n");
  });
});
