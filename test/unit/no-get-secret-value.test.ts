// "Never call GetSecretValue": the control plane reads secret METADATA only (DescribeSecret). This scans the
// shipped code and the template for the three ways the value could be read (SDK command, a getSecretValue(…)
// call, Powertools' secrets provider) and for any grant of the action to the control plane's own functions.
// Host policies are a different matter: domain/iam/scope.ts evaluates whether HOSTS may read their secrets and
// scripts/lib/fleet.ts grants it to seeded host roles; both mention the action as data, never as a call.
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { type CfnTemplate, loadTemplate } from "../../scripts/lib/template.ts";

const ROOT = join(import.meta.dirname, "..", "..");
const SCANNED_DIRS = ["functions", "layers", "bin", "scripts"];
const SKIP_DIRS = new Set(["node_modules", "dist", ".aws-sam", "coverage"]);

/** What reading a secret value looks like in TypeScript source. */
const VALUE_READS: { what: string; re: RegExp }[] = [
  { what: "SDK command GetSecretValueCommand / BatchGetSecretValueCommand", re: /\b(?:Batch)?GetSecretValueCommand\b/ },
  { what: "a getSecretValue(…) / batchGetSecretValue(…) call", re: /\b(?:batchG|g)etSecretValue\s*\(/ },
  { what: "Powertools secrets provider import", re: /@aws-lambda-powertools\/parameters\/secrets/ },
  { what: "Powertools getSecret(…) helper", re: /\bgetSecret\s*\(/ },
];

function valueReadsIn(source: string): { line: number; what: string; text: string }[] {
  const hits: { line: number; what: string; text: string }[] = [];
  source.split("\n").forEach((text, i) => {
    for (const { what, re } of VALUE_READS) if (re.test(text)) hits.push({ line: i + 1, what, text: text.trim() });
  });
  return hits;
}

function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    if (SKIP_DIRS.has(name)) continue;
    const p = join(dir, name);
    const st = statSync(p);
    if (st.isDirectory()) out.push(...tsFiles(p));
    else if (/\.(?:ts|mts|cts)$/.test(name) && !name.endsWith(".d.ts")) out.push(p);
  }
  return out;
}

/** Actions that would let the principal read a secret value (wildcards included). */
const GRANTS_VALUE = /^secretsmanager:(?:\*|(?:Batch)?Get\*?|(?:Batch)?GetSecret\*?|(?:Batch)?GetSecretValue)$/i;
/** SAM policy templates / AWS managed policies that include GetSecretValue. */
const VALUE_POLICY_NAMES = /AWSSecretsManagerGetSecretValuePolicy|SecretsManagerReadWrite|AdministratorAccess/;

/** Every action string granted (Effect Allow) in a policy document given as an object or a (Fn::Sub) JSON string. */
function allowedActions(doc: unknown): string[] {
  let d = doc;
  if (d && typeof d === "object" && "Fn::Sub" in d) {
    const sub = (d as { "Fn::Sub": unknown })["Fn::Sub"];
    d = Array.isArray(sub) ? sub[0] : sub;
  }
  if (typeof d === "string") d = JSON.parse(d);
  const stmts = (d as { Statement?: unknown })?.Statement;
  const list = Array.isArray(stmts) ? stmts : stmts ? [stmts] : [];
  const out: string[] = [];
  for (const s of list as { Effect?: string; Action?: unknown; NotAction?: unknown }[]) {
    if (s.Effect !== "Allow") continue;
    // NotAction with Allow grants everything not listed: treat as "*" unless it excludes secretsmanager.
    if (s.NotAction !== undefined) {
      const not = ([] as unknown[]).concat(s.NotAction).map(String);
      if (!not.some((a) => GRANTS_VALUE.test(a) || a === "secretsmanager:*")) out.push("*");
    }
    out.push(...([] as unknown[]).concat(s.Action ?? []).map(String));
  }
  return out;
}

interface Grant {
  resource: string;
  detail: string;
}

/** Grants of the secret value to the control plane's own principals (function roles and policies). */
function valueGrantsIn(t: CfnTemplate): Grant[] {
  const grants: Grant[] = [];
  const check = (resource: string, where: string, doc: unknown) => {
    for (const a of allowedActions(doc))
      if (a === "*" || GRANTS_VALUE.test(a)) grants.push({ resource, detail: `${where}: ${a}` });
  };
  for (const [id, r] of Object.entries(t.Resources)) {
    const p = r.Properties ?? {};
    if (r.Type === "AWS::Serverless::Function") {
      const policies = ([] as unknown[]).concat(p.Policies ?? []);
      for (const [i, pol] of policies.entries()) {
        if (typeof pol === "string") {
          if (VALUE_POLICY_NAMES.test(pol)) grants.push({ resource: id, detail: `Policies[${i}]: ${pol}` });
        } else if (pol && typeof pol === "object") {
          if ("Statement" in pol) check(id, `Policies[${i}]`, pol);
          for (const k of Object.keys(pol))
            if (VALUE_POLICY_NAMES.test(k)) grants.push({ resource: id, detail: `Policies[${i}]: ${k}` });
        }
      }
    }
    if (r.Type === "AWS::IAM::Policy" || r.Type === "AWS::IAM::ManagedPolicy")
      check(id, "PolicyDocument", p.PolicyDocument);
    if (r.Type === "AWS::IAM::Role") {
      for (const [i, pol] of ([] as { PolicyDocument?: unknown }[]).concat((p.Policies as never) ?? []).entries())
        check(id, `Policies[${i}]`, pol.PolicyDocument);
      for (const arn of ([] as unknown[]).concat(p.ManagedPolicyArns ?? []))
        if (VALUE_POLICY_NAMES.test(JSON.stringify(arn)))
          grants.push({ resource: id, detail: `ManagedPolicyArns: ${JSON.stringify(arn)}` });
    }
  }
  return grants;
}

describe("the control plane never reads a secret value", () => {
  const files = SCANNED_DIRS.flatMap((d) => tsFiles(join(ROOT, d)));

  it("scans the real tree (functions, core layer, CLI, scripts)", () => {
    const rel = files.map((f) => relative(ROOT, f));
    expect(rel).toContain("functions/secret-rotation/index.ts");
    expect(rel).toContain("layers/core/src/adapters/secrets.ts");
    expect(rel).toContain("bin/dcp.ts");
    expect(rel).toContain("scripts/lib/fleet.ts");
  });

  it("no .ts file calls GetSecretValue or imports the Powertools secrets provider", () => {
    const offenders = files.flatMap((f) =>
      valueReadsIn(readFileSync(f, "utf8")).map((h) => `${relative(ROOT, f)}:${h.line} ${h.what}: ${h.text}`),
    );
    expect(offenders).toEqual([]);
  });

  it("the detector catches each form of a value read, and not host-policy evaluation", () => {
    expect(valueReadsIn('import { GetSecretValueCommand } from "@aws-sdk/client-secrets-manager";')).toHaveLength(1);
    expect(valueReadsIn("await sm.send(new BatchGetSecretValueCommand({}))")).toHaveLength(1);
    expect(valueReadsIn("const v = await client.getSecretValue({ SecretId })")).toHaveLength(1);
    expect(
      valueReadsIn('import { getSecret } from "@aws-lambda-powertools/parameters/secrets";\nawait getSecret("x");'),
    ).toHaveLength(2);
    // What scope.ts and fleet.ts legitimately contain: the action as data about host roles.
    expect(valueReadsIn('const GET_SECRET = "secretsmanager:GetSecretValue";')).toEqual([]);
    expect(valueReadsIn('Action: ["secretsmanager:GetSecretValue"],')).toEqual([]);
  });

  it("template.yaml grants no control-plane function secretsmanager:GetSecretValue (nor a wildcard covering it)", () => {
    const t = loadTemplate(join(ROOT, "template.yaml"));
    const functions = Object.entries(t.Resources).filter(([, r]) => r.Type === "AWS::Serverless::Function");
    expect(functions.length).toBeGreaterThanOrEqual(4);
    expect(valueGrantsIn(t)).toEqual([]);
  });

  it("the template check would catch a grant in function Policies, an IAM::Policy, or a SAM policy template", () => {
    const bad: CfnTemplate = {
      Resources: {
        F: {
          Type: "AWS::Serverless::Function",
          Properties: {
            Policies: [
              { Statement: [{ Effect: "Allow", Action: ["secretsmanager:GetSecretValue"], Resource: "*" }] },
              { AWSSecretsManagerGetSecretValuePolicy: { SecretArn: "x" } },
            ],
          },
        },
        P: {
          Type: "AWS::IAM::Policy",
          Properties: {
            PolicyDocument: {
              "Fn::Sub": '{"Statement":[{"Effect":"Allow","Action":"secretsmanager:*","Resource":"*"}]}',
            },
          },
        },
        Ok: {
          Type: "AWS::IAM::Policy",
          Properties: {
            PolicyDocument: {
              Statement: [{ Effect: "Allow", Action: "secretsmanager:DescribeSecret", Resource: "*" }],
            },
          },
        },
      },
    };
    expect(valueGrantsIn(bad).map((g) => g.resource)).toEqual(["F", "F", "P"]);
  });
});
