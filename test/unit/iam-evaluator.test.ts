import { describe, expect, it } from "vitest";
import { InvalidInputError } from "#core/domain/errors";
import { type AccessRequest, type Decision, evaluate } from "#core/domain/iam/evaluator";
import { decodePolicyDocument, type PolicyStatement, statements } from "#core/domain/iam/policy";
import type { NamedPolicy } from "#core/ports/index";

const ACCT = "123456789012";
// IAM policy variables written out in policies (not JS templates).
const USERNAME_VAR = "$" + "{aws:username}";
const LITERAL_STAR = "$" + "{*}";
const PARAM = `arn:aws:ssm:eu-central-1:${ACCT}:parameter/voiceai/prod/api/DATABASE_HOST`;
const SECRET = `arn:aws:secretsmanager:eu-central-1:${ACCT}:secret:voiceai/prod/api/secrets-AbCdEf`;
const OTHER_SECRET = `arn:aws:secretsmanager:eu-central-1:${ACCT}:secret:voiceai/prod/web/secrets-XyZ123`;

type St = Omit<PolicyStatement, "Effect">;
const allow = (s: St): PolicyStatement => ({ Effect: "Allow", ...s });
const deny = (s: St): PolicyStatement => ({ Effect: "Deny", ...s });
const pol = (name: string, st: PolicyStatement[] | PolicyStatement, extra: Partial<NamedPolicy> = {}): NamedPolicy => ({
  name,
  source: "inline",
  document: { Version: "2012-10-17", Statement: st },
  ...extra,
});
const bnd = (st: PolicyStatement[]): NamedPolicy => pol("boundary", st, { source: "boundary" });
const req = (
  action: string,
  resource: string,
  context?: AccessRequest["context"],
  complete = false,
): AccessRequest => ({
  action,
  resource,
  ...(context ? { context } : {}),
  ...(complete ? { contextComplete: true } : {}),
});

interface Case {
  name: string;
  req: AccessRequest;
  identity: NamedPolicy[];
  boundary?: NamedPolicy;
  decision: Decision;
  /** Sids expected in allowedBy / deniedBy / undecided (when given). */
  allowedBy?: string[];
  deniedBy?: string[];
  undecided?: string[];
}

const getParam = allow({ Sid: "GetParam", Action: "ssm:GetParameter", Resource: PARAM });
/** One identity policy allowing ssm:GetParameter on PARAM under `condition`. */
const getParamWhen = (condition: Record<string, Record<string, string | string[]>>) => [
  pol("p", [allow({ Action: "ssm:GetParameter", Resource: PARAM, Condition: condition })]),
];
const sourceVpc = (op: string, value: string | string[]) => ({ [op]: { "aws:SourceVpc": value } });

const cases: Case[] = [
  // --- default and explicit deny
  { name: "no policies: implicit deny", req: req("ssm:GetParameter", PARAM), identity: [], decision: "implicit-deny" },
  {
    name: "exact allow",
    req: req("ssm:GetParameter", PARAM),
    identity: [pol("p", [getParam])],
    decision: "allow",
    allowedBy: ["GetParam"],
  },
  {
    name: "allow of another action leaves implicit deny",
    req: req("ssm:PutParameter", PARAM),
    identity: [pol("p", [getParam])],
    decision: "implicit-deny",
    allowedBy: [],
  },
  {
    name: "explicit deny in the same policy beats allow",
    req: req("ssm:GetParameter", PARAM),
    identity: [pol("p", [getParam, deny({ Sid: "No", Action: "ssm:*", Resource: "*" })])],
    decision: "explicit-deny",
    allowedBy: ["GetParam"],
    deniedBy: ["No"],
  },
  {
    name: "explicit deny in another policy beats allow",
    req: req("ssm:GetParameter", PARAM),
    identity: [pol("a", [getParam]), pol("b", [deny({ Sid: "No", Action: "ssm:GetParameter", Resource: PARAM })])],
    decision: "explicit-deny",
    deniedBy: ["No"],
  },
  {
    name: "deny on a different resource does not apply",
    req: req("ssm:GetParameter", PARAM),
    identity: [pol("p", [getParam, deny({ Sid: "No", Action: "ssm:GetParameter", Resource: `${PARAM}2` })])],
    decision: "allow",
    deniedBy: [],
  },
  {
    name: "explicit deny without any allow is still explicit",
    req: req("s3:DeleteObject", "arn:aws:s3:::b/k"),
    identity: [pol("p", [deny({ Sid: "No", Action: "s3:*", Resource: "*" })])],
    decision: "explicit-deny",
  },
  // --- Action forms and wildcards
  {
    name: "Action as an array",
    req: req("ssm:GetParameters", PARAM),
    identity: [pol("p", [allow({ Sid: "A", Action: ["ssm:GetParameter", "ssm:GetParameters"], Resource: PARAM })])],
    decision: "allow",
  },
  {
    name: "action prefix wildcard ssm:Get*",
    req: req("ssm:GetParametersByPath", PARAM),
    identity: [pol("p", [allow({ Action: "ssm:Get*", Resource: "*" })])],
    decision: "allow",
  },
  {
    name: "ssm:Get* does not match ssm:PutParameter",
    req: req("ssm:PutParameter", PARAM),
    identity: [pol("p", [allow({ Action: "ssm:Get*", Resource: "*" })])],
    decision: "implicit-deny",
  },
  {
    name: "action pattern is case-insensitive",
    req: req("ssm:GetParameter", PARAM),
    identity: [pol("p", [allow({ Action: "SSM:getparameter", Resource: PARAM })])],
    decision: "allow",
  },
  {
    name: "requested action is case-insensitive",
    req: req("SSM:GETPARAMETER", PARAM),
    identity: [pol("p", [getParam])],
    decision: "allow",
  },
  {
    name: "Action * matches every service",
    req: req("iam:CreateUser", "*"),
    identity: [pol("p", [allow({ Action: "*", Resource: "*" })])],
    decision: "allow",
  },
  {
    name: "? matches exactly one character in an action",
    req: req("ssm:GetParameters", PARAM),
    identity: [pol("p", [allow({ Action: "ssm:GetParameter?", Resource: PARAM })])],
    decision: "allow",
  },
  {
    name: "? does not match zero characters",
    req: req("ssm:GetParameter", PARAM),
    identity: [pol("p", [allow({ Action: "ssm:GetParameter?", Resource: PARAM })])],
    decision: "implicit-deny",
  },
  {
    name: "service wildcard does not cross services (ssm:* vs ssmmessages)",
    req: req("ssmmessages:OpenDataChannel", "*"),
    identity: [pol("p", [allow({ Action: "ssm:*", Resource: "*" })])],
    decision: "implicit-deny",
  },
  // --- NotAction
  {
    name: "Allow NotAction grants every other action",
    req: req("s3:GetObject", "arn:aws:s3:::b/k"),
    identity: [pol("p", [allow({ NotAction: "iam:*", Resource: "*" })])],
    decision: "allow",
  },
  {
    name: "Allow NotAction does not grant the listed action",
    req: req("iam:CreateUser", "*"),
    identity: [pol("p", [allow({ NotAction: ["iam:*", "organizations:*"], Resource: "*" })])],
    decision: "implicit-deny",
  },
  {
    name: "Deny NotAction denies everything else",
    req: req("s3:GetObject", "arn:aws:s3:::b/k"),
    identity: [
      pol("p", [
        allow({ Action: "*", Resource: "*" }),
        deny({ Sid: "Only", NotAction: "ssm:GetParameter", Resource: "*" }),
      ]),
    ],
    decision: "explicit-deny",
    deniedBy: ["Only"],
  },
  {
    name: "Deny NotAction leaves the listed action allowed",
    req: req("ssm:GetParameter", PARAM),
    identity: [
      pol("p", [allow({ Action: "*", Resource: "*" }), deny({ NotAction: "ssm:GetParameter", Resource: "*" })]),
    ],
    decision: "allow",
  },
  // --- Resources
  {
    name: "Allow NotResource grants every other resource",
    req: req("secretsmanager:GetSecretValue", OTHER_SECRET),
    identity: [pol("p", [allow({ Action: "secretsmanager:GetSecretValue", NotResource: SECRET })])],
    decision: "allow",
  },
  {
    name: "Allow NotResource does not grant the listed resource",
    req: req("secretsmanager:GetSecretValue", SECRET),
    identity: [pol("p", [allow({ Action: "secretsmanager:GetSecretValue", NotResource: SECRET })])],
    decision: "implicit-deny",
  },
  {
    name: "Deny NotResource fences everything outside the prefix",
    req: req("secretsmanager:GetSecretValue", OTHER_SECRET),
    identity: [
      pol("p", [
        allow({ Action: "secretsmanager:*", Resource: "*" }),
        deny({
          Sid: "Fence",
          Action: "secretsmanager:*",
          NotResource: `arn:aws:secretsmanager:*:*:secret:voiceai/prod/api/*`,
        }),
      ]),
    ],
    decision: "explicit-deny",
    deniedBy: ["Fence"],
  },
  {
    name: "resource matching is case-sensitive",
    req: req("ssm:GetParameter", PARAM),
    identity: [
      pol("p", [
        allow({ Action: "ssm:GetParameter", Resource: `arn:aws:ssm:eu-central-1:${ACCT}:parameter/VoiceAI/*` }),
      ]),
    ],
    decision: "implicit-deny",
  },
  {
    name: "resource * spans '/'",
    req: req("ssm:GetParameter", PARAM),
    identity: [
      pol("p", [
        allow({ Action: "ssm:GetParameter", Resource: `arn:aws:ssm:eu-central-1:${ACCT}:parameter/voiceai/*` }),
      ]),
    ],
    decision: "allow",
  },
  {
    name: "resource * spans ':'",
    req: req("ssm:GetParameter", PARAM),
    identity: [pol("p", [allow({ Action: "ssm:GetParameter", Resource: "arn:aws:ssm:*" })])],
    decision: "allow",
  },
  {
    name: "resource without wildcard does not match a longer ARN",
    req: req("ssm:GetParameter", PARAM),
    identity: [
      pol("p", [allow({ Action: "ssm:GetParameter", Resource: `arn:aws:ssm:eu-central-1:${ACCT}:parameter/voiceai` })]),
    ],
    decision: "implicit-deny",
  },
  {
    name: "? in a resource matches the 6-character secret suffix",
    req: req("secretsmanager:GetSecretValue", SECRET),
    identity: [
      pol("p", [allow({ Action: "secretsmanager:GetSecretValue", Resource: SECRET.replace("AbCdEf", "??????") })]),
    ],
    decision: "allow",
  },
  {
    name: "? in a resource does not match a shorter suffix",
    req: req("secretsmanager:GetSecretValue", SECRET.replace("AbCdEf", "AbCdE")),
    identity: [
      pol("p", [allow({ Action: "secretsmanager:GetSecretValue", Resource: SECRET.replace("AbCdEf", "??????") })]),
    ],
    decision: "implicit-deny",
  },
  {
    name: "regex metacharacters in a resource are literal",
    req: req("s3:GetObject", "arn:aws:s3:::myXbucket/a+b"),
    identity: [pol("p", [allow({ Action: "s3:GetObject", Resource: "arn:aws:s3:::my.bucket/a+b" })])],
    decision: "implicit-deny",
  },
  {
    name: "the literal-asterisk escape in a resource is not a wildcard",
    req: req("s3:GetObject", "arn:aws:s3:::b/anything"),
    identity: [pol("p", [allow({ Action: "s3:GetObject", Resource: `arn:aws:s3:::b/${LITERAL_STAR}` })])],
    decision: "implicit-deny",
  },
  {
    name: "the literal-asterisk escape matches a resource that contains '*'",
    req: req("s3:GetObject", "arn:aws:s3:::b/*"),
    identity: [pol("p", [allow({ Action: "s3:GetObject", Resource: `arn:aws:s3:::b/${LITERAL_STAR}` })])],
    decision: "allow",
  },
  {
    name: "policy variable that could match: unknown",
    req: req("s3:GetObject", "arn:aws:s3:::home/alice/file"),
    identity: [
      pol("p", [allow({ Sid: "Home", Action: "s3:GetObject", Resource: `arn:aws:s3:::home/${USERNAME_VAR}/*` })]),
    ],
    decision: "unknown",
    undecided: ["Home"],
  },
  {
    name: "policy variable that cannot match whatever its value: implicit deny",
    req: req("s3:GetObject", "arn:aws:s3:::other/alice/file"),
    identity: [pol("p", [allow({ Action: "s3:GetObject", Resource: `arn:aws:s3:::home/${USERNAME_VAR}/*` })])],
    decision: "implicit-deny",
    undecided: [],
  },
  // --- permission boundary
  {
    name: "boundary and identity both allow: allow",
    req: req("ssm:GetParameter", PARAM),
    identity: [pol("p", [getParam])],
    boundary: bnd([allow({ Sid: "B", Action: "ssm:*", Resource: "*" })]),
    decision: "allow",
    allowedBy: ["GetParam", "B"],
  },
  {
    name: "identity allows but boundary does not: implicit deny",
    req: req("ssm:GetParameter", PARAM),
    identity: [pol("p", [getParam])],
    boundary: bnd([allow({ Action: "s3:*", Resource: "*" })]),
    decision: "implicit-deny",
    allowedBy: ["GetParam"],
  },
  {
    name: "boundary allows but identity does not: implicit deny",
    req: req("ssm:GetParameter", PARAM),
    identity: [pol("p", [allow({ Action: "s3:*", Resource: "*" })])],
    boundary: bnd([allow({ Action: "*", Resource: "*" })]),
    decision: "implicit-deny",
  },
  {
    name: "deny in the boundary is an explicit deny",
    req: req("ssm:GetParameter", PARAM),
    identity: [pol("p", [getParam])],
    boundary: bnd([
      allow({ Action: "*", Resource: "*" }),
      deny({ Sid: "BD", Action: "ssm:GetParameter", Resource: "*" }),
    ]),
    decision: "explicit-deny",
    deniedBy: ["BD"],
  },
  {
    name: "empty boundary denies everything",
    req: req("ssm:GetParameter", PARAM),
    identity: [pol("p", [getParam])],
    boundary: bnd([]),
    decision: "implicit-deny",
  },
  // --- conditions
  {
    name: "StringEquals satisfied by the context: allow",
    req: req("ssm:GetParameter", PARAM, { "aws:SourceVpc": "vpc-1" }),
    identity: [
      pol("p", [allow({ Action: "ssm:GetParameter", Resource: PARAM, Condition: sourceVpc("StringEquals", "vpc-1") })]),
    ],
    decision: "allow",
  },
  {
    name: "StringEquals contradicted by the context: implicit deny",
    req: req("ssm:GetParameter", PARAM, { "aws:SourceVpc": "vpc-2" }),
    identity: [
      pol("p", [allow({ Action: "ssm:GetParameter", Resource: PARAM, Condition: sourceVpc("StringEquals", "vpc-1") })]),
    ],
    decision: "implicit-deny",
  },
  {
    name: "condition values of one key are ORed",
    req: req("ssm:GetParameter", PARAM, { "aws:SourceVpc": "vpc-2" }),
    identity: getParamWhen(sourceVpc("StringEquals", ["vpc-1", "vpc-2"])),
    decision: "allow",
  },
  {
    name: "condition key missing from the context: unknown, never allow",
    req: req("ssm:GetParameter", PARAM),
    identity: [
      pol("p", [
        allow({
          Sid: "Vpc",
          Action: "ssm:GetParameter",
          Resource: PARAM,
          Condition: sourceVpc("StringEquals", "vpc-1"),
        }),
      ]),
    ],
    decision: "unknown",
    undecided: ["Vpc"],
    allowedBy: [],
  },
  {
    name: "unimplemented operator (IpAddress): unknown",
    req: req("ssm:GetParameter", PARAM, { "aws:SourceIp": "10.0.0.1" }),
    identity: getParamWhen({ IpAddress: { "aws:SourceIp": "10.0.0.0/8" } }),
    decision: "unknown",
  },
  {
    name: "a definite false condition settles the statement even beside an unimplemented operator",
    req: req("ssm:GetParameter", PARAM, { "aws:SourceVpc": "vpc-9" }),
    identity: getParamWhen({ IpAddress: { "aws:SourceIp": "10.0.0.0/8" }, StringEquals: { "aws:SourceVpc": "vpc-1" } }),
    decision: "implicit-deny",
  },
  {
    name: "undecided Allow beside a definite Allow: allow",
    req: req("ssm:GetParameter", PARAM),
    identity: [
      pol("p", [
        getParam,
        allow({ Sid: "Cond", Action: "ssm:*", Resource: "*", Condition: sourceVpc("StringEquals", "v") }),
      ]),
    ],
    decision: "allow",
    undecided: ["Cond"],
  },
  {
    name: "undecided Deny turns an allow into unknown",
    req: req("ssm:GetParameter", PARAM),
    identity: [
      pol("p", [
        getParam,
        deny({ Sid: "D", Action: "*", Resource: "*", Condition: sourceVpc("StringNotEquals", "vpc-1") }),
      ]),
    ],
    decision: "unknown",
    undecided: ["D"],
  },
  {
    name: "undecided Deny without any allow: implicit deny",
    req: req("ssm:PutParameter", PARAM),
    identity: [
      pol("p", [getParam, deny({ Action: "*", Resource: "*", Condition: sourceVpc("StringNotEquals", "vpc-1") })]),
    ],
    decision: "implicit-deny",
  },
  {
    name: "undecided Deny beside a definite Deny: explicit deny",
    req: req("ssm:GetParameter", PARAM),
    identity: [
      pol("p", [
        getParam,
        deny({ Action: "*", Resource: "*", Condition: sourceVpc("StringNotEquals", "vpc-1") }),
        deny({ Sid: "Hard", Action: "ssm:GetParameter", Resource: "*" }),
      ]),
    ],
    decision: "explicit-deny",
    deniedBy: ["Hard"],
  },
  {
    name: "StringNotEquals with a matching value does not apply the deny",
    req: req("ssm:GetParameter", PARAM, { "aws:SourceVpc": "vpc-1" }),
    identity: [
      pol("p", [getParam, deny({ Action: "*", Resource: "*", Condition: sourceVpc("StringNotEquals", "vpc-1") })]),
    ],
    decision: "allow",
  },
  {
    name: "StringLike wildcard in a condition",
    req: req("ssm:GetParameter", PARAM, { "aws:PrincipalTag/team": "voice-core" }),
    identity: getParamWhen({ StringLike: { "aws:PrincipalTag/team": "voice-*" } }),
    decision: "allow",
  },
  {
    name: "StringNotLike matching the pattern denies nothing",
    req: req("ssm:GetParameter", PARAM, { "aws:PrincipalTag/team": "voice-core" }),
    identity: [
      pol("p", [
        getParam,
        deny({ Action: "*", Resource: "*", Condition: { StringNotLike: { "aws:PrincipalTag/team": "voice-*" } } }),
      ]),
    ],
    decision: "allow",
  },
  {
    name: "condition keys are case-insensitive",
    req: req("ssm:GetParameter", PARAM, { "AWS:SOURCEVPC": "vpc-1" }),
    identity: getParamWhen({ StringEquals: { "aws:sourcevpc": "vpc-1" } }),
    decision: "allow",
  },
  {
    name: "Bool aws:SecureTransport false triggers the deny",
    req: req("s3:GetObject", "arn:aws:s3:::b/k", { "aws:SecureTransport": "false" }),
    identity: [
      pol("p", [
        allow({ Action: "s3:GetObject", Resource: "*" }),
        deny({ Sid: "Tls", Action: "s3:*", Resource: "*", Condition: { Bool: { "aws:SecureTransport": false } } }),
      ]),
    ],
    decision: "explicit-deny",
    deniedBy: ["Tls"],
  },
  {
    name: "Bool aws:SecureTransport true: allow",
    req: req("s3:GetObject", "arn:aws:s3:::b/k", { "aws:SecureTransport": "TRUE" }),
    identity: [
      pol("p", [
        allow({ Action: "s3:GetObject", Resource: "*" }),
        deny({ Action: "s3:*", Resource: "*", Condition: { Bool: { "aws:SecureTransport": "false" } } }),
      ]),
    ],
    decision: "allow",
  },
  {
    name: "ArnLike matches per segment",
    req: req("ssm:GetParameter", PARAM, { "aws:SourceArn": `arn:aws:ec2:eu-central-1:${ACCT}:instance/i-1` }),
    identity: getParamWhen({ ArnLike: { "aws:SourceArn": `arn:aws:ec2:*:${ACCT}:instance/*` } }),
    decision: "allow",
  },
  {
    name: "ArnLike: * in the region segment does not swallow the account",
    req: req("ssm:GetParameter", PARAM, { "aws:SourceArn": `arn:aws:ec2:eu-central-1:999999999999:instance/i-1` }),
    identity: getParamWhen({ ArnLike: { "aws:SourceArn": `arn:aws:ec2:*:${ACCT}:instance/*` } }),
    decision: "implicit-deny",
  },
  {
    name: "IfExists with a complete context and the key absent: condition holds",
    req: req("ssm:GetParameter", PARAM, {}, true),
    identity: [
      pol("p", [
        allow({ Action: "ssm:GetParameter", Resource: PARAM, Condition: sourceVpc("StringEqualsIfExists", "vpc-1") }),
      ]),
    ],
    decision: "allow",
  },
  {
    name: "IfExists with an incomplete context and the key absent: unknown",
    req: req("ssm:GetParameter", PARAM),
    identity: [
      pol("p", [
        allow({ Action: "ssm:GetParameter", Resource: PARAM, Condition: sourceVpc("StringEqualsIfExists", "vpc-1") }),
      ]),
    ],
    decision: "unknown",
  },
  {
    name: "complete context, key absent, positive operator: condition false",
    req: req("ssm:GetParameter", PARAM, {}, true),
    identity: [
      pol("p", [allow({ Action: "ssm:GetParameter", Resource: PARAM, Condition: sourceVpc("StringEquals", "vpc-1") })]),
    ],
    decision: "implicit-deny",
  },
  {
    name: "complete context, key absent, negated operator: condition true",
    req: req("ssm:GetParameter", PARAM, {}, true),
    identity: [
      pol("p", [
        getParam,
        deny({ Sid: "D", Action: "*", Resource: "*", Condition: sourceVpc("StringNotEquals", "vpc-1") }),
      ]),
    ],
    decision: "explicit-deny",
  },
  {
    name: "Null true: key absent in a complete context",
    req: req("ssm:GetParameter", PARAM, {}, true),
    identity: [
      pol("p", [
        getParam,
        deny({ Sid: "NoTag", Action: "*", Resource: "*", Condition: { Null: { "aws:PrincipalTag/team": "true" } } }),
      ]),
    ],
    decision: "explicit-deny",
  },
  {
    name: "ForAnyValue:StringEquals over a multi-valued key",
    req: req("ssm:GetParameter", PARAM, { "aws:TagKeys": ["env", "team"] }),
    identity: getParamWhen({ "ForAnyValue:StringEquals": { "aws:TagKeys": "team" } }),
    decision: "allow",
  },
  {
    name: "ForAllValues:StringEquals with a value outside the set",
    req: req("ssm:GetParameter", PARAM, { "aws:TagKeys": ["env", "owner"] }),
    identity: getParamWhen({ "ForAllValues:StringEquals": { "aws:TagKeys": ["env", "team"] } }),
    decision: "implicit-deny",
  },
  {
    name: "single-valued operator over a multi-valued context value: unknown",
    req: req("ssm:GetParameter", PARAM, { "aws:TagKeys": ["env", "team"] }),
    identity: [
      pol("p", [
        allow({ Action: "ssm:GetParameter", Resource: PARAM, Condition: { StringEquals: { "aws:TagKeys": "env" } } }),
      ]),
    ],
    decision: "unknown",
  },
  {
    name: "policy variable in a condition value: unknown",
    req: req("s3:GetObject", "arn:aws:s3:::b/k", { "s3:prefix": "alice/" }),
    identity: [
      pol("p", [
        allow({
          Action: "s3:GetObject",
          Resource: "*",
          Condition: { StringEquals: { "s3:prefix": `${USERNAME_VAR}/` } },
        }),
      ]),
    ],
    decision: "unknown",
  },
  // --- document forms
  {
    name: "Statement as a single object",
    req: req("ssm:GetParameter", PARAM),
    identity: [pol("p", getParam)],
    decision: "allow",
    allowedBy: ["GetParam"],
  },
  {
    name: "multiple allowing statements are all reported",
    req: req("ssm:GetParameter", PARAM),
    identity: [pol("a", [getParam]), pol("b", [allow({ Sid: "Wide", Action: "ssm:*", Resource: "*" })])],
    decision: "allow",
    allowedBy: ["GetParam", "Wide"],
  },
  {
    name: "URL-encoded document as IAM returns it",
    req: req("ssm:GetParameter", PARAM),
    identity: [
      {
        name: "enc",
        source: "inline",
        document: decodePolicyDocument(
          encodeURIComponent(
            JSON.stringify({
              Version: "2012-10-17",
              Statement: [getParam, deny({ Action: "ssm:PutParameter", Resource: "*" })],
            }),
          ),
        ),
      },
    ],
    decision: "allow",
    allowedBy: ["GetParam"],
  },
];

describe("evaluate (table of AWS policy evaluation cases)", () => {
  it("has at least 40 cases", () => expect(cases.length).toBeGreaterThanOrEqual(40));

  it.each(cases)("$name", (c) => {
    const e = evaluate(c.req, c.identity, c.boundary);
    expect(e.decision).toBe(c.decision);
    const sids = (refs: { sid?: string }[]) => refs.map((r) => r.sid).filter((s) => s !== undefined);
    if (c.allowedBy) expect(sids(e.allowedBy)).toEqual(c.allowedBy);
    if (c.deniedBy) expect(sids(e.deniedBy)).toEqual(c.deniedBy);
    if (c.undecided) expect(sids(e.undecided)).toEqual(c.undecided);
  });
});

describe("evaluate: statement references", () => {
  it("names policy, ARN, source, Sid and index of the statement responsible", () => {
    const managed = pol("Wide", [allow({ Action: "s3:*", Resource: "*" }), allow({ Action: "ssm:*", Resource: "*" })], {
      source: "managed",
      arn: `arn:aws:iam::${ACCT}:policy/Wide`,
    });
    const e = evaluate(req("ssm:GetParameter", PARAM), [managed]);
    expect(e.allowedBy).toEqual([
      { policy: "Wide", policyArn: `arn:aws:iam::${ACCT}:policy/Wide`, source: "managed", index: 1 },
    ]);
  });

  it("gives the same answer when the same statements are evaluated again (compiled cache)", () => {
    const p = pol("p", [allow({ Action: "ssm:Get*", Resource: `arn:aws:ssm:*:*:parameter/voiceai/prod/api/*` })]);
    for (let i = 0; i < 3; i++) {
      expect(evaluate(req("ssm:GetParameter", PARAM), [p]).decision).toBe("allow");
      expect(evaluate(req("ssm:GetParameter", PARAM.replace("/api/", "/web/")), [p]).decision).toBe("implicit-deny");
    }
  });
});

describe("decodePolicyDocument", () => {
  const doc = {
    Version: "2012-10-17",
    Statement: { Effect: "Allow", Action: "s3:GetObject", Resource: "arn:aws:s3:::b/100%" },
  };

  it("decodes IAM's URL-encoded form", () => {
    const d = decodePolicyDocument(encodeURIComponent(JSON.stringify(doc)));
    expect(statements(d)).toEqual([doc.Statement]);
  });

  it("accepts plain JSON text without URL-decoding a literal %", () => {
    const d = decodePolicyDocument(JSON.stringify(doc));
    expect(statements(d)[0]?.Resource).toBe("arn:aws:s3:::b/100%");
  });

  it("accepts an already-parsed object and keeps statement arrays", () => {
    const d = decodePolicyDocument({ Statement: [doc.Statement, doc.Statement] });
    expect(statements(d)).toHaveLength(2);
  });

  it.each([
    ["not JSON", "%7Bnot json", /not valid JSON/],
    ["a bad escape", "%E0%A4%A", /neither JSON nor valid URL-encoded/],
    ["no Statement", { Version: "2012-10-17" }, /has no Statement/],
    [
      "a lower-case effect",
      { Statement: { Effect: "allow", Action: "s3:*", Resource: "*" } },
      /Statement\[0\]\.Effect/,
    ],
    [
      "both Action and NotAction",
      { Statement: [{ Effect: "Allow", Action: "a:b", NotAction: "c:d", Resource: "*" }] },
      /exactly one of Action/,
    ],
    ["no Resource", { Statement: [{ Effect: "Allow", Action: "a:b" }] }, /exactly one of Resource/],
    ["a numeric Action", { Statement: [{ Effect: "Deny", Action: 3, Resource: "*" }] }, /Action must be a string/],
    [
      "a malformed Condition",
      { Statement: [{ Effect: "Allow", Action: "a:b", Resource: "*", Condition: { StringEquals: "x" } }] },
      /Condition\.StringEquals/,
    ],
  ])("rejects %s with InvalidInputError", (_label, raw, message) => {
    expect(() => decodePolicyDocument(raw as string | object, "my-policy")).toThrow(InvalidInputError);
    expect(() => decodePolicyDocument(raw as string | object, "my-policy")).toThrow(message);
    expect(() => decodePolicyDocument(raw as string | object, "my-policy")).toThrow(/'my-policy'/);
  });
});
