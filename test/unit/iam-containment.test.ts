// The containment engine: "nothing beyond its own service" proven over the whole policy (issue 13's cases first).
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { amazonSsmManagedInstanceCore, DEFAULT_PLATFORM_GRANTS } from "#core/domain/iam/aws-managed";
import { catalogAction, catalogActions } from "#core/domain/iam/catalog";
import { type ContainmentFinding, checkRoleScope } from "#core/domain/iam/containment";
import { envelopeFor, secretArnPatterns } from "#core/domain/iam/envelope";
import { and, findWitness, globMatches, globSubset, not, parseGlob } from "#core/domain/iam/glob";
import type { PolicyStatement } from "#core/domain/iam/policy";
import { evaluateScope } from "#core/domain/iam/scope";
import { validateManifest } from "#core/domain/manifest";
import { parseManifestFile } from "#core/domain/manifest-yaml";
import type { AwsScope } from "#core/domain/model";
import type { NamedPolicy, RolePolicies } from "#core/ports/index";
import { correctRolePolicy } from "../../scripts/lib/fleet.ts";

const ACCT = "123456789012";
const REGION = "eu-central-1";
const aws: AwsScope = { partition: "aws", region: REGION, account: ACCT };
const ssmArn = (path: string) => `arn:aws:ssm:${REGION}:${ACCT}:parameter/${path}`;
const smArn = (name: string) => `arn:aws:secretsmanager:${REGION}:${ACCT}:secret:${name}`;
const DB_SECRET = smArn("rds!cluster-abcdef-Q1w2E3");
const KEY = `arn:aws:kms:${REGION}:${ACCT}:key/1111-2222`;

const manifest = validateManifest({
  namespace: "voiceai/prod",
  configBucket: "voiceai-prod-config",
  services: [
    { name: "api", wave: 1 },
    { name: "web", wave: 2, extraGrants: [{ actions: ["kms:Decrypt"], resources: [KEY] }] },
  ],
  sharedSecrets: [{ bootstrapVar: "DB_MASTER_SECRET_ARN", arn: DB_SECRET, consumers: ["api"] }],
});
const envelope = envelopeFor(manifest, "api", aws);
const seedRole = (service = "api") => correctRolePolicy(manifest, service, aws).Statement as PolicyStatement[];

const inline = (name: string, st: PolicyStatement[]): NamedPolicy => ({
  name,
  source: "inline",
  document: { Version: "2012-10-17", Statement: st },
});
const role = (st: PolicyStatement[], boundary?: PolicyStatement[]): RolePolicies => ({
  roleName: "api-host",
  roleArn: `arn:aws:iam::${ACCT}:role/api-host`,
  policies: [inline("api-host", st)],
  ...(boundary ? { boundary: { name: "fence", source: "boundary", document: { Statement: boundary } } } : {}),
});
const line = (f: ContainmentFinding) =>
  `${f.kind} ${f.statement.sid ?? `#${f.statement.index}`} ${f.risk} ${f.witness.action} ${f.witness.resource}`;
const check = (st: PolicyStatement[], boundary?: PolicyStatement[]) => checkRoleScope(role(st, boundary), envelope);

describe("glob sets", () => {
  it("`*` spans / and :, `?` is exactly one character, the variable `*` in braces is a literal star", () => {
    expect(globMatches(parseGlob("arn:*:x"), "arn:a/b:c:x")).toBe(true);
    expect(globMatches(parseGlob("a?c"), "abc")).toBe(true);
    expect(globMatches(parseGlob("a?c"), "ac")).toBe(false);
    expect(globMatches(parseGlob(`a\${*}`), "a*")).toBe(true);
    expect(globMatches(parseGlob(`a\${*}`), "ab")).toBe(false);
    expect(parseGlob(`home/\${aws:username}/*`).hasVariable).toBe(true);
  });

  it("containment and shortest witnesses", () => {
    expect(globSubset(parseGlob("p/api/*"), parseGlob("p/*"))).toBe(true);
    expect(globSubset(parseGlob("p/api*"), parseGlob("p/api/*"))).toBe(false);
    expect(globSubset(parseGlob("a-??????"), parseGlob("a-*"))).toBe(true);
    expect(globSubset(parseGlob("a-*"), parseGlob("a-??????"))).toBe(false);
    const w = findWitness([parseGlob("p/*"), parseGlob("p/api/*")], and({ atom: 0 }, not({ atom: 1 })));
    expect(w).toEqual({ found: "p/x" });
  });
});

describe("catalog", () => {
  it("expands from the committed catalog, with access levels and resource types", () => {
    expect(catalogAction("SSM:getparameterhistory")?.name).toBe("ssm:GetParameterHistory");
    expect(catalogAction("ssm:DescribeParameters")?.resourceTypes).toEqual([]);
    expect(catalogAction("secretsmanager:PutSecretValue")?.level).toBe("write");
    expect(catalogActions("iam").some((a) => a.name === "iam:PassRole")).toBe(true);
    expect(catalogActions("dynamodb")).toEqual([]);
    for (const svc of ["ec2", "lambda", "cloudformation", "ecs", "organizations"])
      expect(catalogActions(svc), svc).toEqual([]); // left out: escalation by service (containment.ts)
  });
});

describe("checkRoleScope: the statements of issue 13, each added to the seed table's role", () => {
  it("the seed table's role itself is ok", () => {
    expect(check(seedRole())).toEqual({ verdict: "ok", findings: [] });
  });

  const cases: [string, PolicyStatement, string][] = [
    [
      "ssm:SendCommand on * runs any command as root on every host",
      { Sid: "RunAnything", Effect: "Allow", Action: "ssm:SendCommand", Resource: "*" },
      `iam-excess-grant RunAnything escalation ssm:SendCommand arn:aws:ssm:${REGION}:${ACCT}:document/x`,
    ],
    [
      "iam:PassRole on *",
      { Sid: "PassAny", Effect: "Allow", Action: "iam:PassRole", Resource: "*" },
      `iam-excess-grant PassAny escalation iam:PassRole arn:aws:iam::${ACCT}:role/x`,
    ],
    [
      "ssm:GetParameterHistory on parameter/voiceai/prod/* reads every service's parameters, every version",
      { Sid: "History", Effect: "Allow", Action: "ssm:GetParameterHistory", Resource: ssmArn("voiceai/prod/*") },
      `iam-excess-grant History read-beyond-scope ssm:GetParameterHistory ${ssmArn("voiceai/prod/x")}`,
    ],
    [
      "ssm:GetParameter* on parameter/voiceai/prod/api* also reaches /voiceai/prod/api-internal/…",
      { Sid: "Prefix", Effect: "Allow", Action: "ssm:GetParameter*", Resource: ssmArn("voiceai/prod/api*") },
      `iam-excess-grant Prefix sibling-prefix ssm:GetParameter ${ssmArn("voiceai/prod/apix")}`,
    ],
    [
      "ssm:PutParameter on its own parameters",
      { Sid: "Write", Effect: "Allow", Action: "ssm:PutParameter", Resource: ssmArn("voiceai/prod/api/*") },
      `iam-excess-grant Write write-own-scope ssm:PutParameter ${ssmArn("voiceai/prod/api/x")}`,
    ],
    [
      "kms:Decrypt on a key no extraGrants entry names",
      { Sid: "Kms", Effect: "Allow", Action: "kms:Decrypt", Resource: KEY },
      `iam-excess-grant Kms decrypt-beyond-scope kms:Decrypt ${KEY}`,
    ],
    [
      "an action of a service outside the catalog",
      { Sid: "Dynamo", Effect: "Allow", Action: "dynamodb:GetItem", Resource: "*" },
      "iam-excess-grant Dynamo other-service dynamodb:GetItem x",
    ],
    [
      "ec2 actions (outside the catalog for the bundle's weight) are escalation by their service, with a known witness",
      { Sid: "Ec2", Effect: "Allow", Action: ["ec2:*"], Resource: "*" },
      "iam-excess-grant Ec2 escalation ec2:RunInstances x",
    ],
    [
      "an ec2 pattern no known witness matches is reported through the pattern itself",
      { Sid: "Ec2Read", Effect: "Allow", Action: "ec2:Describe*", Resource: "*" },
      "iam-excess-grant Ec2Read escalation ec2:Describe* x",
    ],
    [
      "lambda, cloudformation, ecs and organizations likewise, literal or wildcard",
      {
        Sid: "Esc",
        Effect: "Allow",
        Action: ["lambda:*", "cloudformation:CreateStack", "ecs:*", "organizations:*"],
        Resource: "*",
      },
      "iam-excess-grant Esc escalation lambda:CreateFunction x",
    ],
  ];
  it.each(cases)("%s", (_, statement, expected) => {
    const r = check([...seedRole(), statement]);
    expect(r.verdict).toBe("violation");
    expect(r.findings.map(line)).toEqual([expected]);
    expect(r.findings[0]?.detail).toContain(`statement "${statement.Sid}"`);
  });

  it('"Action": "*" on "*" names every risk class once, through recognisable witnesses', () => {
    const r = check([...seedRole(), { Sid: "Admin", Effect: "Allow", Action: "*", Resource: "*" }]);
    expect(r.findings.map((f) => `${f.risk} ${f.witness.action}`)).toEqual([
      "escalation iam:PassRole",
      "read-beyond-scope secretsmanager:GetSecretValue",
      "decrypt-beyond-scope kms:Decrypt",
      "write-beyond-scope ssm:PutParameter",
      "other-service <a service outside the catalog>:*",
    ]);
  });

  it("NotAction allows everything not listed", () => {
    const r = check([...seedRole(), { Sid: "AllButIam", Effect: "Allow", NotAction: "iam:*", Resource: "*" }]);
    expect(r.findings.map((f) => f.witness.action)).toContain("sts:AssumeRole");
  });
});

describe("checkRoleScope: fences", () => {
  const envelopeAsPolicy = (): PolicyStatement[] =>
    envelope.grants.map((g) => ({ Effect: "Allow", Action: g.actions, Resource: g.resources }));

  it('"Action": "*" on "*" fenced by a permission boundary equal to the envelope is ok', () => {
    expect(check([{ Effect: "Allow", Action: "*", Resource: "*" }], envelopeAsPolicy())).toEqual({
      verdict: "ok",
      findings: [],
    });
  });

  it("a wide read fenced by an explicit Deny with NotResource of the own scope is ok", () => {
    const r = check([
      ...seedRole(),
      { Sid: "Wide", Effect: "Allow", Action: "ssm:GetParameter*", Resource: "*" },
      { Sid: "Fence", Effect: "Deny", Action: "ssm:GetParameter*", NotResource: ssmArn("voiceai/prod/api/*") },
    ]);
    expect(r).toEqual({ verdict: "ok", findings: [] });
  });

  it("a Deny that leaves a gap does not fence: the witness is in the gap", () => {
    const r = check([
      ...seedRole(),
      { Sid: "Wide", Effect: "Allow", Action: "ssm:GetParameter", Resource: ssmArn("voiceai/*") },
      { Effect: "Deny", Action: "ssm:GetParameter", Resource: ssmArn("voiceai/prod/web/*") },
    ]);
    expect(r.findings.map(line)).toEqual([
      `iam-excess-grant Wide read-beyond-scope ssm:GetParameter ${ssmArn("voiceai/x")}`,
    ]);
  });

  it("AmazonSSMManagedInstanceCore: only its GetParameter(s) on * is beyond (the rest is the default platformGrants)", () => {
    const r = checkRoleScope(
      { ...role(seedRole()), policies: [inline("api-host", seedRole()), amazonSsmManagedInstanceCore()] },
      envelope,
    );
    expect(r.findings.map(line)).toEqual([`iam-excess-grant #0 read-beyond-scope ssm:GetParameter ${ssmArn("x")}`]);
  });

  it("shared secrets: the consumer may read the ARN and name-??????, not name-*", () => {
    expect(secretArnPatterns(DB_SECRET)).toEqual([DB_SECRET, smArn("rds!cluster-abcdef-??????")]);
    const exact = check([
      ...seedRole(),
      { Effect: "Allow", Action: "secretsmanager:GetSecretValue", Resource: smArn("rds!cluster-abcdef-??????") },
    ]);
    expect(exact.verdict).toBe("ok");
    const wide = check([
      ...seedRole(),
      { Effect: "Allow", Action: "secretsmanager:GetSecretValue", Resource: smArn("rds!cluster-abcdef-*") },
    ]);
    expect(wide.verdict).toBe("violation");
  });

  it("kms:Decrypt is inside only for the keys an extraGrants entry names", () => {
    const web = envelopeFor(manifest, "web", aws);
    const decrypt: PolicyStatement = { Effect: "Allow", Action: "kms:Decrypt", Resource: KEY };
    expect(checkRoleScope(role([...seedRole("web"), decrypt]), web).verdict).toBe("ok");
  });
});

describe("checkRoleScope: what cannot be decided", () => {
  it("an aws:ResourceTag condition on an Allow reaching beyond is unknown, naming the statement", () => {
    const r = check([
      ...seedRole(),
      {
        Sid: "Tagged",
        Effect: "Allow",
        Action: "secretsmanager:GetSecretValue",
        Resource: "*",
        Condition: { StringEquals: { "aws:ResourceTag/service": "api" } },
      },
    ]);
    expect(r.verdict).toBe("unknown");
    expect(r.findings.map(line)).toEqual([
      `iam-unknown Tagged read-beyond-scope secretsmanager:GetSecretValue ${smArn("x")}`,
    ]);
    expect(r.findings[0]?.detail).toContain("aws:ResourceTag/service");
  });

  it("a conditional Allow inside the envelope is ok", () => {
    const r = check([
      ...seedRole(),
      {
        Effect: "Allow",
        Action: "ssm:GetParameter",
        Resource: ssmArn("voiceai/prod/api/*"),
        Condition: { Bool: { "aws:SecureTransport": "true" } },
      },
    ]);
    expect(r.verdict).toBe("ok");
  });

  it("an undecidable Deny matters only where containment depends on it", () => {
    const wide: PolicyStatement = { Sid: "Wide", Effect: "Allow", Action: "ssm:GetParameter", Resource: "*" };
    const conditionalFence: PolicyStatement = {
      Sid: "MaybeFence",
      Effect: "Deny",
      Action: "ssm:GetParameter",
      NotResource: ssmArn("voiceai/prod/api/*"),
      Condition: { StringEquals: { "aws:SourceVpc": "vpc-1" } },
    };
    const depends = check([...seedRole(), wide, conditionalFence]);
    expect(depends.verdict).toBe("unknown");
    expect(depends.findings[0]?.undecidedBy?.map((r) => r.sid)).toEqual(["MaybeFence"]);
    // The same conditional Deny next to a role that is inside anyway changes nothing.
    expect(check([...seedRole(), conditionalFence]).verdict).toBe("ok");
    // A wide grant the conditional Deny does not cover is a violation whatever the condition.
    const other = check([
      ...seedRole(),
      { Sid: "Other", Effect: "Allow", Action: "secretsmanager:GetSecretValue", Resource: "*" },
      conditionalFence,
    ]);
    expect(other.verdict).toBe("violation");
  });

  it("a policy variable in an Allow's resource is unknown, not ok", () => {
    const r = check([
      ...seedRole(),
      { Sid: "Var", Effect: "Allow", Action: "ssm:GetParameter", Resource: ssmArn(`\${aws:PrincipalTag/path}/*`) },
    ]);
    expect(r.verdict).toBe("unknown");
  });
});

describe("the example manifest (examples/manifest.voiceai-prod.yaml)", () => {
  const example = parseManifestFile(readFileSync("examples/manifest.voiceai-prod.yaml", "utf8"));

  it("documents platformGrants as exactly the default", () => {
    expect(example.platformGrants).toEqual(DEFAULT_PLATFORM_GRANTS);
  });

  it.each(example.services.map((s) => s.name))(
    "%s: the role as the seed table grants it, with the platform grants, is ok",
    (service) => {
      const doc = correctRolePolicy(example, service, aws);
      const platform: PolicyStatement[] = example.platformGrants.map((g) => ({
        Effect: "Allow",
        Action: g.actions,
        Resource: g.resources,
      }));
      const r = { roleName: service, roleArn: `arn:aws:iam::${ACCT}:role/${service}` };
      const v = evaluateScope(
        { ...r, policies: [inline(service, doc.Statement as PolicyStatement[]), inline("platform", platform)] },
        example,
        service,
        aws,
      );
      expect(v.findings).toEqual([]);
      expect(v.verdict).toBe("ok");
    },
  );
});
