// ECS consumers, pure parts: valueFrom forms, pinning, placement, the consumer judgement, deployment outcomes,
// the audit's judgement and the event schema's refusals.
import { describe, expect, it } from "vitest";
import {
  type EcsService,
  ecsOutcome,
  judgeEcsConsumer,
  mayBeReferenced,
  parseValueFrom,
  pinnedBy,
} from "#core/domain/ecs";
import { judgeEcsServices } from "#core/domain/ecs-audit";
import { EcsDeploymentEvent } from "#core/domain/events";
import { validateManifest } from "#core/domain/manifest";
import { planRollout } from "#core/domain/rollout";
import { versionTagKey } from "#core/domain/secrets";

const ARN = "arn:aws:secretsmanager:eu-central-1:123456789012:secret:rds!cluster-1a2b-AbCdEf";
const SECRET = { arn: ARN, name: "rds!cluster-1a2b" };
const SERVICE_ARN = "arn:aws:ecs:eu-central-1:123456789012:service/voiceai-prod/pipecat-voice";
const m = validateManifest({
  namespace: "voiceai/prod",
  configBucket: "voiceai-prod-config",
  services: [
    { name: "api", wave: 1 },
    { name: "voice", wave: 2 },
  ],
});

function service(valueFrom: string, over: Partial<EcsService> = {}): EcsService {
  return {
    serviceArn: SERVICE_ARN,
    clusterArn: "arn:aws:ecs:eu-central-1:123456789012:cluster/voiceai-prod",
    serviceName: "pipecat-voice",
    tags: { Namespace: "voiceai/prod", Service: "voice" },
    controller: "ECS",
    circuitBreaker: true,
    executionRoleArn: "arn:aws:iam::123456789012:role/pipecat-exec",
    primaryDeployment: { id: "ecs-svc/1", createdAt: "2026-01-01T00:00:00.000Z" },
    secretRefs: [{ container: "app", name: "DB_PASSWORD", valueFrom }],
    ...over,
  };
}

const judge = (s: EcsService, roleDecision: "allow" | "implicit-deny" = "allow", confirmed = new Set<string>()) =>
  judgeEcsConsumer({ service: s, manifest: m, secret: SECRET, confirmed, roleDecision });

describe("valueFrom", () => {
  it.each([
    [ARN, { secretId: ARN }],
    [`${ARN}:password::`, { secretId: ARN, jsonKey: "password" }],
    [`${ARN}:password:AWSPREVIOUS:`, { secretId: ARN, jsonKey: "password", versionStage: "AWSPREVIOUS" }],
    [`${ARN}::AWSCURRENT:`, { secretId: ARN, versionStage: "AWSCURRENT" }],
    [`${ARN}:::0123-abcd`, { secretId: ARN, versionId: "0123-abcd" }],
    [ARN.slice(0, -7), { secretId: ARN.slice(0, -7) }],
    ["/aws/reference/secretsmanager/rds!cluster-1a2b", { secretId: "rds!cluster-1a2b", via: "parameter-reference" }],
    [
      "arn:aws:ssm:eu-central-1:123456789012:parameter/aws/reference/secretsmanager/rds!cluster-1a2b",
      { secretId: "rds!cluster-1a2b", via: "parameter-reference" },
    ],
  ])("%s", (valueFrom, expected) => {
    expect(parseValueFrom(valueFrom)).toMatchObject({ kind: "secret", ...expected });
  });

  it("a bare name or another parameter is not parsed as a secret (matched by exact name later)", () => {
    expect(parseValueFrom("rds!cluster-1a2b")).toEqual({ kind: "parameter", name: "rds!cluster-1a2b" });
    expect(parseValueFrom("/voiceai/prod/voice/LOG_LEVEL")).toEqual({
      kind: "parameter",
      name: "/voiceai/prod/voice/LOG_LEVEL",
    });
  });

  it("a version id or a stage other than AWSCURRENT pins the reference", () => {
    expect(pinnedBy(parseValueFrom(`${ARN}:password:AWSPREVIOUS:`))).toBe("version stage AWSPREVIOUS");
    expect(pinnedBy(parseValueFrom(`${ARN}:::0123`))).toBe("version id 0123");
    expect(pinnedBy(parseValueFrom(`${ARN}::AWSCURRENT:`))).toBeUndefined();
    expect(pinnedBy(parseValueFrom("/aws/reference/secretsmanager/rds!cluster-1a2b:v7"))).toBe("version id v7");
  });
});

describe("which ECS services take a new deployment", () => {
  it("full ARN with a JSON key, name, parameter reference: targets in their service's wave", () => {
    for (const ref of [`${ARN}:password::`, "rds!cluster-1a2b", "/aws/reference/secretsmanager/rds!cluster-1a2b"]) {
      const d = judge(service(ref));
      expect(d, ref).toEqual({
        kind: "target",
        target: expect.objectContaining({ kind: "ecs-service", serviceArn: SERVICE_ARN, service: "voice" }),
      });
    }
  });

  it("a partial ARN only once Secrets Manager confirmed it (a name may itself end in -xxxxxx)", () => {
    const partial = service(`${ARN.slice(0, -7)}:password::`);
    expect(judge(partial).kind).toBe("not-consumer");
    expect(judge(partial, "allow", new Set([ARN.slice(0, -7)])).kind).toBe("target");
  });

  it("another secret, another namespace: not a consumer", () => {
    expect(judge(service(`${ARN.slice(0, -7)}x-AbCdEf:password::`)).kind).toBe("not-consumer");
    expect(judge(service(ARN, { tags: { Namespace: "voiceai/other", Service: "voice" } })).kind).toBe("not-consumer");
  });

  it("a service already on the version (tag, or deployed after the change) is reported, not redeployed", () => {
    const version = { versionId: "v2", changedAt: "2026-02-01T00:00:00.000Z" };
    const decide = (s: EcsService) =>
      judgeEcsConsumer({
        service: s,
        manifest: m,
        secret: SECRET,
        confirmed: new Set(),
        roleDecision: "allow",
        version,
      });
    expect(decide(service(ARN)).kind).toBe("target"); // deployed 2026-01-01, before the change
    const tagged = service(ARN, {
      tags: { Namespace: "voiceai/prod", Service: "voice", [versionTagKey(SECRET.name)]: "v2" },
    });
    expect(decide(tagged)).toMatchObject({ kind: "skipped", skipped: { reason: expect.stringMatching(/recorded/) } });
    const later = service(ARN, { primaryDeployment: { id: "ecs-svc/2", createdAt: "2026-02-02T00:00:00.000Z" } });
    expect(decide(later)).toMatchObject({
      kind: "skipped",
      skipped: { reason: expect.stringMatching(/deployed-after/) },
    });
  });

  it.each([
    ["pinned", service(`${ARN}:password:AWSPREVIOUS:`), "allow", /pinned/],
    ["CODE_DEPLOY", service(ARN, { controller: "CODE_DEPLOY" }), "allow", /CODE_DEPLOY/],
    ["EXTERNAL", service(ARN, { controller: "EXTERNAL" }), "allow", /EXTERNAL/],
    ["role cannot read", service(ARN), "implicit-deny", /cannot read/],
    ["unknown service tag", service(ARN, { tags: { Namespace: "voiceai/prod", Service: "bogus" } }), "allow", /bogus/],
  ] as const)("%s: reported, not restarted", (_label, s, role, reason) => {
    const d = judge(s, role);
    expect(d.kind).toBe("skipped");
    expect(d.kind === "skipped" && d.skipped.reason).toMatch(reason);
  });

  it("hostile container and variable names reach a reason only escaped", () => {
    const s = service(`${ARN}:k:AWSPREVIOUS:`, {
      secretRefs: [{ container: "a\n$(reboot)", name: "X\u202eY", valueFrom: `${ARN}:k:AWSPREVIOUS:` }],
    });
    const d = judge(s);
    const reason = d.kind === "skipped" ? d.skipped.reason : "";
    expect(reason).not.toMatch(/[\n\u202e]/);
    expect(reason).toContain("\\u{a}$(reboot)");
  });

  it("the cheap pre-filter knows the ids an event may use, and nothing else", () => {
    const s = [service(`${ARN}:password::`)];
    for (const id of [ARN, ARN.slice(0, -7), "rds!cluster-1a2b"]) expect(mayBeReferenced(s, id), id).toBe(true);
    expect(mayBeReferenced(s, "someone-else/app/secrets")).toBe(false);
  });
});

describe("ECS targets in the rollout", () => {
  it("one step per service, in its service's wave beside the hosts' steps", () => {
    const plan = planRollout({
      rolloutId: "ro-0123456789abcdef",
      secret: SECRET,
      versionId: "v2",
      manifest: m,
      targets: [
        { kind: "host", instanceId: "i-0123456789abcdef0", service: "api" },
        { kind: "ecs-service", serviceArn: SERVICE_ARN, clusterArn: "c", service: "voice" },
      ],
    });
    expect(plan.waves.map((s) => [s.wave, s.kind, s.targetIds, s.clusterArn])).toEqual([
      [1, "host", ["i-0123456789abcdef0"], undefined],
      [2, "ecs-service", [SERVICE_ARN], "c"],
    ]);
  });

  it("deployment states map to outcomes; IN_PROGRESS is left to the step's deadline", () => {
    expect(ecsOutcome({ state: "COMPLETED" })?.verdict).toBe("ok");
    expect(ecsOutcome({ state: "superseded" })?.verdict).toBe("ok");
    expect(ecsOutcome({ state: "FAILED", reason: "circuit breaker" })).toEqual({
      verdict: "bad",
      why: "deployment FAILED: circuit breaker",
    });
    expect(ecsOutcome({ state: "gone" })?.verdict).toBe("bad");
    expect(ecsOutcome({ state: "service-missing" })?.verdict).toBe("bad");
    expect(ecsOutcome({ state: "IN_PROGRESS" })).toBeUndefined();
  });
});

describe("the audit's ECS judgement", () => {
  const described = {
    arn: ARN,
    name: SECRET.name,
    currentVersionId: "v2",
    lastChangedDate: "2026-02-01T00:00:00.000Z",
  };
  const run = (s: EcsService) =>
    judgeEcsServices({
      manifest: m,
      services: [s],
      secrets: new Map([[ARN, described]]),
      now: new Date("2026-02-01T01:00:00.000Z"),
    });

  it("a deployment started before the current version, without a recorded version: stale, with the service ARN", () => {
    const { findings, stale } = run(service(`${ARN}:password::`));
    expect(findings).toEqual([
      expect.objectContaining({ kind: "stale-credentials", resource: SERVICE_ARN, service: "voice", severity: "high" }),
    ]);
    expect(findings[0]!.instanceId).toBeUndefined();
    expect(stale.map((x) => x.serviceArn)).toEqual([SERVICE_ARN]);
  });

  it("recorded version, a later deployment, or a pinned reference: not stale", () => {
    expect(
      run(service(ARN, { tags: { Namespace: "voiceai/prod", Service: "voice", [versionTagKey(SECRET.name)]: "v2" } }))
        .findings,
    ).toEqual([]);
    expect(
      run(service(ARN, { primaryDeployment: { id: "ecs-svc/2", createdAt: "2026-02-01T00:05:00.000Z" } })).findings,
    ).toEqual([]);
    expect(run(service(`${ARN}:password:AWSPREVIOUS:`)).findings).toEqual([]);
  });
});

describe("ECS Deployment State Change schema", () => {
  const valid = {
    version: "0",
    id: "x",
    "detail-type": "ECS Deployment State Change",
    source: "aws.ecs",
    account: "123456789012",
    time: "2026-01-01T00:00:00Z",
    region: "eu-central-1",
    resources: [SERVICE_ARN],
    detail: { eventType: "INFO", eventName: "SERVICE_DEPLOYMENT_COMPLETED", deploymentId: "ecs-svc/123" },
  };
  it("accepts the documented shape and refuses hostile ids", () => {
    expect(EcsDeploymentEvent.safeParse(valid).success).toBe(true);
    for (const bad of [
      { ...valid, resources: [`${SERVICE_ARN};rm -rf /`] },
      { ...valid, resources: [SERVICE_ARN, SERVICE_ARN] },
      { ...valid, detail: { ...valid.detail, deploymentId: "ecs-svc/1\n[ERROR] forged" } },
      { ...valid, detail: { ...valid.detail, deploymentId: `ecs-svc/${"9".repeat(100_000)}` } },
      { ...valid, detail: { ...valid.detail, eventName: "SERVICE_DEPLOYMENT_EXPLODED" } },
      { ...valid, source: "aws.ecs.fake" },
    ])
      expect(EcsDeploymentEvent.safeParse(bad).success).toBe(false);
  });
});
