import { describe, expect, it } from "vitest";
import { InvalidInputError } from "#core/domain/errors";
import { amazonSsmManagedInstanceCore } from "#core/domain/iam/aws-managed";
import type { PolicyStatement } from "#core/domain/iam/policy";
import {
  canReadSecret,
  evaluateScope,
  requiredProbes,
  type ScopeFinding,
  scopeFindingsForHost,
} from "#core/domain/iam/scope";
import { validateManifest } from "#core/domain/manifest";
import type { AwsScope } from "#core/domain/model";
import type { NamedPolicy, RolePolicies } from "#core/ports/index";
import { testManifest } from "../support/fixtures.ts";

const ACCT = "123456789012";
const REGION = "eu-central-1";
const aws: AwsScope = { partition: "aws", region: REGION, account: ACCT };
const DB_SECRET = `arn:aws:secretsmanager:${REGION}:${ACCT}:secret:rds!cluster-abcdef-Q1w2E3`;
const SES_IDENTITY = `arn:aws:ses:${REGION}:${ACCT}:identity/example.com`;

const manifest = testManifest({
  services: [
    { name: "api", wave: 1 },
    { name: "web", wave: 2 },
    {
      name: "tasker",
      wave: 3,
      extraGrants: [{ actions: ["ses:SendEmail", "ses:SendRawEmail"], resources: [SES_IDENTITY] }],
    },
  ],
  sharedSecrets: [{ bootstrapVar: "DB_MASTER_SECRET_ARN", arn: DB_SECRET, consumers: ["api", "web"] }],
});

const ssmArn = (path: string) => `arn:aws:ssm:${REGION}:${ACCT}:parameter/${path}`;
const smArn = (name: string) => `arn:aws:secretsmanager:${REGION}:${ACCT}:secret:${name}`;

/** The role seeds doc 000 describes, for `service`, split into named statements. */
function goodStatements(service: string, shared: string[] = []): PolicyStatement[] {
  return [
    {
      Sid: "Params",
      Effect: "Allow",
      Action: ["ssm:GetParameter", "ssm:GetParameters"],
      Resource: ssmArn(`voiceai/prod/${service}/*`),
    },
    { Sid: "Describe", Effect: "Allow", Action: "ssm:DescribeParameters", Resource: "*" },
    {
      Sid: "Secret",
      Effect: "Allow",
      Action: "secretsmanager:GetSecretValue",
      Resource: [smArn(`voiceai/prod/${service}/*`), ...shared],
    },
    { Sid: "EcrLogin", Effect: "Allow", Action: "ecr:GetAuthorizationToken", Resource: "*" },
    {
      Sid: "EcrPull",
      Effect: "Allow",
      Action: ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
      Resource: `arn:aws:ecr:${REGION}:${ACCT}:repository/voiceai-*`,
    },
    {
      Sid: "Config",
      Effect: "Allow",
      Action: "s3:GetObject",
      Resource: `arn:aws:s3:::voiceai-prod-config/${service}/*`,
    },
  ];
}

function role(policies: NamedPolicy[], boundary?: NamedPolicy): RolePolicies {
  return {
    roleName: "api-host",
    roleArn: `arn:aws:iam::${ACCT}:role/api-host`,
    policies,
    ...(boundary ? { boundary } : {}),
  };
}
const inline = (name: string, st: PolicyStatement[]): NamedPolicy => ({
  name,
  source: "inline",
  document: { Version: "2012-10-17", Statement: st },
});
const goodApi = () => inline("api-host", goodStatements("api", [DB_SECRET]));

const ofKind = (fs: ScopeFinding[], kind: ScopeFinding["kind"]) => fs.filter((f) => f.kind === kind);
const probeIds = (fs: ScopeFinding[]) => fs.map((f) => f.probe?.id).sort();
/** Containment findings as `statement risk action resource`. */
const excessOf = (fs: ScopeFinding[]) =>
  ofKind(fs, "iam-excess-grant").map(
    (f) => `${f.statement?.sid ?? `#${f.statement?.index}`} ${f.risk} ${f.witness?.action} ${f.witness?.resource}`,
  );
const byPath = (path: string): PolicyStatement => ({
  Sid: "ByPath",
  Effect: "Allow",
  Action: "ssm:GetParametersByPath",
  Resource: ssmArn(path),
});

describe("probes", () => {
  it("probes a concrete parameter under /NS/S with no leading slash in the ARN path", () => {
    const req = requiredProbes(manifest, "api", aws);
    const get = req.find((p) => p.action === "ssm:GetParameter");
    expect(get?.resource).toBe(ssmArn("voiceai/prod/api/SOME_VAR"));
    expect(req.find((p) => p.action === "ssm:DescribeParameters")?.resource).toBe("*");
    expect(req.find((p) => p.action === "s3:GetObject")?.resource).toBe("arn:aws:s3:::voiceai-prod-config/api/config");
    expect(req.filter((p) => p.resource === DB_SECRET).map((p) => p.action)).toEqual(["secretsmanager:GetSecretValue"]);
  });

  it("a narrowed scope (ecrRepositories, configKeys) is probed inside the narrowing", () => {
    const m = validateManifest({
      namespace: "voiceai/prod",
      configBucket: "voiceai-prod-config",
      services: [{ name: "api", wave: 1, ecrRepositories: ["voiceai-telapi"], configKeys: ["shared/api/*"] }],
    });
    const req = requiredProbes(m, "api", aws);
    expect(req.find((p) => p.action === "ecr:BatchGetImage")?.resource).toBe(
      `arn:aws:ecr:${REGION}:${ACCT}:repository/voiceai-telapi`,
    );
    expect(req.find((p) => p.action === "s3:GetObject")?.resource).toBe(
      "arn:aws:s3:::voiceai-prod-config/shared/api/config",
    );
  });

  it("turns every extraGrant action x resource into a required probe", () => {
    const extra = requiredProbes(manifest, "tasker", aws).filter((p) => p.resource === SES_IDENTITY);
    expect(extra.map((p) => p.action).sort()).toEqual(["ses:SendEmail", "ses:SendRawEmail"]);
  });

  it("rejects a service that is not in the manifest", () => {
    expect(() => requiredProbes(manifest, "ghost", aws)).toThrow(InvalidInputError);
  });
});

describe("evaluateScope", () => {
  it("a role exactly as documented is ok with zero findings", () => {
    const v = evaluateScope(role([goodApi()]), manifest, "api", aws);
    expect(v.findings).toEqual([]);
    expect(v.verdict).toBe("ok");
  });

  it("secret:NS/* is excess: one finding for the statement, with a witness in another service's scope", () => {
    const st = goodStatements("api", [DB_SECRET]).map((s) =>
      s.Sid === "Secret" ? { ...s, Resource: [smArn("voiceai/prod/*"), DB_SECRET] } : s,
    );
    const v = evaluateScope(role([inline("api-host", st)]), manifest, "api", aws);
    expect(v.verdict).toBe("violation");
    expect(excessOf(v.findings)).toEqual([
      `Secret read-beyond-scope secretsmanager:GetSecretValue ${smArn("voiceai/prod/x")}`,
    ]);
    const f = ofKind(v.findings, "iam-excess-grant")[0];
    expect(f?.statement).toMatchObject({ policy: "api-host", sid: "Secret", source: "inline" });
    expect(f?.detail).toContain('"api-host"');
    expect(f?.detail).toContain('statement "Secret"');
    expect(ofKind(v.findings, "iam-missing-grant")).toEqual([]);
  });

  it("a NotResource allow leaks everything outside the excluded ARN", () => {
    const leak: PolicyStatement = {
      Effect: "Allow",
      Action: "secretsmanager:GetSecretValue",
      NotResource: smArn("voiceai/prod/web/*"),
    };
    const v = evaluateScope(
      role([inline("api-host", [...goodStatements("api", [DB_SECRET]), leak])]),
      manifest,
      "api",
      aws,
    );
    const excess = ofKind(v.findings, "iam-excess-grant");
    expect(excess).toHaveLength(1);
    expect(excess[0]?.statement).toEqual({ policy: "api-host", source: "inline", index: 6 });
    expect(excess[0]?.witness?.resource).not.toMatch(/voiceai\/prod\/(web|api)\//);
    expect(excess[0]?.detail).toContain("statement #6");
  });

  it("AmazonSSMManagedInstanceCore is excess through its GetParameter(s) on *, and only through that", () => {
    const core = amazonSsmManagedInstanceCore();
    const v = evaluateScope(role([goodApi(), core]), manifest, "api", aws);
    expect(v.verdict).toBe("violation");
    expect(excessOf(v.findings)).toEqual([`#0 read-beyond-scope ssm:GetParameter ${ssmArn("x")}`]);
    const f = ofKind(v.findings, "iam-excess-grant")[0];
    expect(f?.statement).toEqual({
      policy: "AmazonSSMManagedInstanceCore",
      policyArn: "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore",
      source: "aws-managed",
      index: 0,
    });
    expect(f?.detail).toContain("arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore");
  });

  it("by path: every ancestor of /NS/S (down to the root) is excess, /NS/S itself and below are not", () => {
    for (const path of ["voiceai/prod", "voiceai", "", "voiceai/prod/web"]) {
      const v = evaluateScope(role([goodApi(), inline("extra", [byPath(path)])]), manifest, "api", aws);
      expect(excessOf(v.findings), path).toEqual([`ByPath read-beyond-scope ssm:GetParametersByPath ${ssmArn(path)}`]);
    }
    for (const path of ["voiceai/prod/api", "voiceai/prod/api/sub"]) {
      const v = evaluateScope(role([goodApi(), inline("extra", [byPath(path)])]), manifest, "api", aws);
      expect(v.verdict, path).toBe("ok");
    }
  });

  it("missing grants name the probe", () => {
    const st = goodStatements("api", [DB_SECRET]).filter((s) => s.Sid !== "EcrLogin" && s.Sid !== "Config");
    const v = evaluateScope(role([inline("api-host", st)]), manifest, "api", aws);
    expect(v.verdict).toBe("violation");
    const missing = ofKind(v.findings, "iam-missing-grant");
    expect(probeIds(missing)).toEqual([
      "allow:config-object:s3:GetObject",
      "allow:ecr-login:ecr:GetAuthorizationToken",
    ]);
    expect(missing.every((f) => f.statement === undefined)).toBe(true);
    expect(missing.find((f) => f.probe?.action === "s3:GetObject")?.detail).toContain(
      "arn:aws:s3:::voiceai-prod-config/api/config",
    );
  });

  it("DescribeParameters scoped to the parameter prefix (as the seeds table suggests) is missing: it needs *", () => {
    const st = goodStatements("api", [DB_SECRET]).map((s) =>
      s.Sid === "Describe" ? { ...s, Resource: ssmArn("voiceai/prod/api/*") } : s,
    );
    const v = evaluateScope(role([inline("api-host", st)]), manifest, "api", aws);
    expect(probeIds(v.findings)).toEqual(["allow:describe-parameters:ssm:DescribeParameters"]);
  });

  it("shared secret: a consumer without the grant is missing it; a non-consumer with it is excess", () => {
    const web = evaluateScope(role([inline("web-host", goodStatements("web"))]), manifest, "web", aws);
    expect(probeIds(web.findings)).toEqual(["allow:shared-secret:DB_MASTER_SECRET_ARN:secretsmanager:GetSecretValue"]);
    expect(web.findings[0]?.kind).toBe("iam-missing-grant");

    const tasker = evaluateScope(
      role([inline("tasker-host", [...goodStatements("tasker", [DB_SECRET])])], undefined),
      manifest,
      "tasker",
      aws,
    );
    expect(excessOf(tasker.findings)).toEqual([`Secret read-beyond-scope secretsmanager:GetSecretValue ${DB_SECRET}`]);
  });

  it("extraGrants are required, and a role carrying them is ok", () => {
    const without = evaluateScope(role([inline("t", goodStatements("tasker"))]), manifest, "tasker", aws);
    expect(probeIds(without.findings)).toEqual([
      `allow:extra-grant:0:${SES_IDENTITY}:ses:SendEmail`,
      `allow:extra-grant:0:${SES_IDENTITY}:ses:SendRawEmail`,
    ]);
    const ses: PolicyStatement = {
      Effect: "Allow",
      Action: ["ses:SendEmail", "ses:SendRawEmail"],
      Resource: SES_IDENTITY,
    };
    const withIt = evaluateScope(role([inline("t", [...goodStatements("tasker"), ses])]), manifest, "tasker", aws);
    expect(withIt.verdict).toBe("ok");
  });

  it("an extraGrant that reaches into another service's scope is not reported as excess", () => {
    const m = validateManifest({
      namespace: "voiceai/prod",
      configBucket: "voiceai-prod-config",
      services: [
        {
          name: "api",
          wave: 1,
          extraGrants: [{ actions: ["secretsmanager:GetSecretValue"], resources: [smArn("voiceai/prod/web/*")] }],
        },
        { name: "web", wave: 2 },
      ],
    });
    const st = [
      ...goodStatements("api"),
      { Effect: "Allow" as const, Action: "secretsmanager:GetSecretValue", Resource: smArn("voiceai/prod/web/*") },
    ];
    const v = evaluateScope(role([inline("api-host", st)]), m, "api", aws);
    expect(v.findings).toEqual([]);
  });

  it("an explicit deny of a required grant is a missing grant naming the deny", () => {
    const d: PolicyStatement = { Sid: "NoS3", Effect: "Deny", Action: "s3:*", Resource: "*" };
    const v = evaluateScope(role([goodApi(), inline("guard", [d])]), manifest, "api", aws);
    const missing = ofKind(v.findings, "iam-missing-grant");
    expect(probeIds(missing)).toEqual(["allow:config-object:s3:GetObject"]);
    expect(missing[0]?.statement).toMatchObject({ policy: "guard", sid: "NoS3" });
  });

  it("a boundary that omits a required service is a missing grant that says so", () => {
    const boundary: NamedPolicy = {
      name: "fleet-boundary",
      source: "boundary",
      document: { Statement: [{ Effect: "Allow", NotAction: "s3:*", Resource: "*" }] },
    };
    const v = evaluateScope(role([goodApi()], boundary), manifest, "api", aws);
    const missing = ofKind(v.findings, "iam-missing-grant");
    expect(probeIds(missing)).toEqual(["allow:config-object:s3:GetObject"]);
    expect(missing[0]?.detail).toContain('permission boundary "fleet-boundary"');
  });

  it("a boundary can neutralise an over-wide identity grant", () => {
    const wide = inline("wide", [{ Effect: "Allow", Action: "ssm:GetParameter*", Resource: "*" }]);
    const boundary: NamedPolicy = {
      name: "fleet-boundary",
      source: "boundary",
      document: {
        Statement: [
          { Effect: "Allow", NotAction: "ssm:*", Resource: "*" },
          { Effect: "Allow", Action: "ssm:*", Resource: ssmArn("voiceai/prod/api/*") },
          { Effect: "Allow", Action: "ssm:DescribeParameters", Resource: "*" },
        ],
      },
    };
    const v = evaluateScope(role([goodApi(), wide], boundary), manifest, "api", aws);
    expect(v.findings).toEqual([]);
  });

  it("a grant that depends on request context is unknown, never ok", () => {
    const st = goodStatements("api", [DB_SECRET]).map((s) =>
      s.Sid === "Secret" ? { ...s, Condition: { StringEquals: { "aws:SourceVpc": "vpc-1" } } } : s,
    );
    const v = evaluateScope(role([inline("api-host", st)]), manifest, "api", aws);
    expect(v.verdict).toBe("unknown");
    expect(v.findings.map((f) => f.kind)).toEqual(["iam-unknown", "iam-unknown"]);
    expect(v.findings.every((f) => f.statement?.sid === "Secret")).toBe(true);
  });
});

describe("scopeFindingsForHost", () => {
  it("fans findings out to one host with severities and evidence an operator can act on", () => {
    const st = goodStatements("api", [DB_SECRET]).filter((s) => s.Sid !== "EcrLogin");
    const v = evaluateScope(role([inline("api-host", st), amazonSsmManagedInstanceCore()]), manifest, "api", aws);
    const fs = scopeFindingsForHost(v, "i-0abc");
    expect(fs).toHaveLength(v.findings.length);
    expect(fs.every((f) => f.instanceId === "i-0abc" && f.service === "api")).toBe(true);
    const missing = fs.find((f) => f.kind === "iam-missing-grant");
    expect(missing?.severity).toBe("medium");
    expect(missing?.evidence).toMatchObject({
      probe: "allow:ecr-login:ecr:GetAuthorizationToken",
      roleName: "api-host",
    });
    const excess = fs.filter((f) => f.kind === "iam-excess-grant");
    expect(excess.length).toBeGreaterThan(0);
    for (const f of excess) {
      expect(f.severity).toBe("high");
      expect(f.evidence).toMatchObject({
        policy: "AmazonSSMManagedInstanceCore",
        policyArn: "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore",
        statement: "#0",
      });
      expect(f.detail).toContain("i-0abc");
    }
  });
});

describe("canReadSecret", () => {
  it("answers from the role's policies", () => {
    const r = role([goodApi()]);
    expect(canReadSecret(r, DB_SECRET)).toBe("allow");
    expect(canReadSecret(r, smArn("voiceai/prod/web/secrets-AbCdEf"))).toBe("implicit-deny");
    expect(canReadSecret(role([inline("w", goodStatements("web"))]), DB_SECRET)).toBe("implicit-deny");
  });
});
