// Per-host IAM scope: what the instance-profile role of a host of service S in namespace NS must be able to do
// (required probes) and that it can do nothing beyond its envelope (containment over the whole policy).
//
// Rules:
//  S1  Required (seeds doc 000 + manifest): ssm:GetParameter(s) on a parameter under /NS/S/, ssm:DescribeParameters
//      on "*" (the action takes no resource ARN), secretsmanager:GetSecretValue on NS/S/secrets,
//      ecr:GetAuthorizationToken on "*", ecr image pulls on the service's repository, s3:GetObject on the service's
//      config object, GetSecretValue on every shared secret S consumes, and every extraGrant (each action × each
//      resource, wildcards probed literally).
//  S2  Nothing beyond: every (action, resource) the role can effectively do lies inside envelopeFor(m, S)
//      (envelope.ts, containment.ts); each statement reaching beyond is one finding per risk class with a witness.
//  S3  Verdict: any missing or excess grant → "violation"; otherwise anything undecidable → "unknown"; else "ok".
//  S4  Each finding names the policy + statement responsible (Sid, else #index), so one edit fixes it.
import type { RolePolicies } from "../../ports/index.ts";
import { InvalidInputError } from "../errors.ts";
import type { Manifest } from "../manifest.ts";
import type { AwsScope, Finding, Severity } from "../model.ts";
import { checkRoleScope, type RiskClass } from "./containment.ts";
import { type Envelope, envelopeFor } from "./envelope.ts";
import { type Decision, describeStatement, type Evaluation, evaluate, type StatementRef } from "./evaluator.ts";

export interface ScopeProbe {
  /** Stable id, e.g. `allow:own-secret:secretsmanager:GetSecretValue`. */
  id: string;
  action: string;
  resource: string;
  expect: "allow" | "deny";
  /** Why the probe exists, in words an operator understands. */
  why: string;
}

export interface ScopeFinding {
  kind: "iam-missing-grant" | "iam-excess-grant" | "iam-unknown";
  /** Required-grant findings: the probe that failed. */
  probe?: ScopeProbe;
  /** Containment findings: one concrete request outside the envelope, and its risk class. */
  witness?: { action: string; resource: string };
  risk?: RiskClass;
  /** The statement responsible (allowing an excess, denying a required grant, or undecidable). */
  statement?: StatementRef;
  /** iam-unknown from containment: the conditional statement(s) it depends on. */
  undecidedBy?: StatementRef[];
  detail: string;
}

export interface ScopeVerdict {
  roleName: string;
  roleArn: string;
  service: string;
  verdict: "ok" | "violation" | "unknown";
  findings: ScopeFinding[];
}

/** A concrete parameter name probed under a prefix. */
export const PROBE_VARIABLE = "SOME_VAR";
/** Secrets Manager appends "-" + 6 random characters to a secret's name in its ARN. */
export const PROBE_SECRET_SUFFIX = "-AbCdEf";

const GET_SECRET = "secretsmanager:GetSecretValue";

function arnsOf(aws: AwsScope) {
  const base = (svc: string) => `arn:${aws.partition}:${svc}:${aws.region}:${aws.account}`;
  return {
    /** `path` without leading slash: ARN form `parameter/voiceai/prod/api/X`. */
    parameter: (path: string) => `${base("ssm")}:parameter/${path}`,
    secret: (name: string) => `${base("secretsmanager")}:secret:${name}${PROBE_SECRET_SUFFIX}`,
    repository: (name: string) => `${base("ecr")}:repository/${name}`,
    object: (bucket: string, key: string) => `arn:${aws.partition}:s3:::${bucket}/${key}`,
  };
}

/** A concrete name inside `pattern` (`*` → `fill`, `?` → `x`), or `fallback` without a pattern. */
function instantiate(pattern: string | undefined, fallback: string, fill: string): string {
  return pattern === undefined ? fallback : pattern.replaceAll("*", fill).replaceAll("?", "x");
}

function requireService(m: Manifest, service: string) {
  const spec = m.services.find((s) => s.name === service);
  if (!spec) throw new InvalidInputError(`service '${service}' is not in the fleet manifest`, "service");
  return spec;
}

/** What a host of `service` must be able to do (S1). Throws InvalidInputError for a service not in the manifest. */
export function requiredProbes(m: Manifest, service: string, aws: AwsScope): ScopeProbe[] {
  const spec = requireService(m, service);
  const arn = arnsOf(aws);
  const ns = m.namespace;
  const probes: ScopeProbe[] = [];
  const add = (label: string, action: string, resource: string, why: string) =>
    probes.push({ id: `allow:${label}:${action}`, action, resource, expect: "allow", why });

  const ownParam = arn.parameter(`${ns}/${service}/${PROBE_VARIABLE}`);
  add("own-parameter", "ssm:GetParameter", ownParam, `fetch-env.sh reads /${ns}/${service}/* parameters`);
  add("own-parameter", "ssm:GetParameters", ownParam, `fetch-env.sh reads /${ns}/${service}/* parameters`);
  add("describe-parameters", "ssm:DescribeParameters", "*", 'DescribeParameters only accepts Resource "*"');
  add(
    "own-secret",
    GET_SECRET,
    arn.secret(`${ns}/${service}/secrets`),
    `the service's secret ${ns}/${service}/secrets`,
  );
  add("ecr-login", "ecr:GetAuthorizationToken", "*", 'ECR login (GetAuthorizationToken only accepts Resource "*")');
  // A narrowed scope (manifest ecrRepositories / configKeys) is probed at its first pattern, wildcards filled in.
  const repoName = instantiate(spec.ecrRepositories?.[0], `${m.ecrRepositoryPrefix}${service}`, service);
  const repo = arn.repository(repoName);
  add("own-repository", "ecr:BatchGetImage", repo, `pulling ${repoName} images`);
  add("own-repository", "ecr:GetDownloadUrlForLayer", repo, `pulling ${repoName} images`);
  const key = instantiate(spec.configKeys?.[0], `${service}/config`, "config");
  add(
    "config-object",
    "s3:GetObject",
    arn.object(m.configBucket, key),
    `reading its config s3://${m.configBucket}/${key}`,
  );
  for (const s of m.sharedSecrets) {
    if (s.consumers.includes(service))
      add(`shared-secret:${s.bootstrapVar}`, GET_SECRET, s.arn, `shared secret ${s.bootstrapVar} lists ${service}`);
  }
  spec.extraGrants.forEach((g, i) => {
    for (const action of g.actions)
      for (const resource of g.resources)
        add(`extra-grant:${i}:${resource}`, action, resource, `manifest extraGrants[${i}] of ${service}`);
  });
  return probes;
}

function statementLabel(ref: StatementRef): string {
  return ref.sid ?? `#${ref.index}`;
}

function missingDetail(role: RolePolicies, p: ScopeProbe, e: Evaluation): { detail: string; statement?: StatementRef } {
  const head = `role ${role.roleName} cannot ${p.action} on ${p.resource}, needed for ${p.why} (probe ${p.id})`;
  const deny = e.deniedBy[0];
  if (deny) return { detail: `${head}: denied by ${describeStatement(deny)}.`, statement: deny };
  const identityAllows = e.allowedBy.find((r) => r.source !== "boundary");
  if (identityAllows && role.boundary)
    return {
      detail: `${head}: ${describeStatement(identityAllows)} allows it but the permission boundary "${role.boundary.name}" does not.`,
      statement: identityAllows,
    };
  return { detail: `${head}: no identity policy allows it; add the grant.` };
}

/**
 * Checks one role against the scope of `service` (S1–S4): required grants by probe, nothing beyond by containment.
 * Throws InvalidInputError for a service not in the manifest.
 */
export function evaluateScope(role: RolePolicies, m: Manifest, service: string, aws: AwsScope): ScopeVerdict {
  const { required, envelope } = scopeOf(m, service, aws);
  const findings: ScopeFinding[] = [];
  for (const p of required) {
    const e = evaluate({ action: p.action, resource: p.resource }, role.policies, role.boundary);
    if (e.decision === "allow") continue;
    if (e.decision === "unknown") {
      const ref = e.undecided[0];
      const by = ref ? `${describeStatement(ref)} depends on request context or policy variables` : "undecidable";
      findings.push({
        kind: "iam-unknown",
        probe: p,
        ...(ref ? { statement: ref } : {}),
        detail: `cannot decide whether role ${role.roleName} can ${p.action} on ${p.resource} (${p.why}; probe ${p.id}): ${by}.`,
      });
    } else findings.push({ kind: "iam-missing-grant", probe: p, ...missingDetail(role, p, e) });
  }
  findings.push(...checkRoleScope(role, envelope).findings);
  const verdict = findings.some((f) => f.kind !== "iam-unknown") ? "violation" : findings.length > 0 ? "unknown" : "ok";
  return { roleName: role.roleName, roleArn: role.roleArn, service, verdict, findings };
}

// Required probes and the envelope depend only on (manifest, service, scope): built once per manifest object.
const scopeCache = new WeakMap<Manifest, Map<string, { required: ScopeProbe[]; envelope: Envelope }>>();

/** The required probes and the envelope of `service`, memoised per manifest object. */
export function scopeOf(m: Manifest, service: string, aws: AwsScope) {
  let perManifest = scopeCache.get(m);
  if (!perManifest) {
    perManifest = new Map();
    scopeCache.set(m, perManifest);
  }
  const key = `${service}|${aws.partition}|${aws.region}|${aws.account}`;
  let hit = perManifest.get(key);
  if (!hit) {
    hit = { required: requiredProbes(m, service, aws), envelope: envelopeFor(m, service, aws) };
    perManifest.set(key, hit);
  }
  return hit;
}

const SEVERITY: Record<ScopeFinding["kind"], Severity> = {
  "iam-excess-grant": "high",
  "iam-missing-grant": "medium",
  "iam-unknown": "medium",
};

/** Fans a role's verdict out to one host as model Findings (excess=high, missing=medium, unknown=medium). */
export function scopeFindingsForHost(v: ScopeVerdict, instanceId: string): Finding[] {
  return v.findings.map((f) => {
    const evidence: Record<string, string> = { roleName: v.roleName, roleArn: v.roleArn };
    if (f.probe) {
      evidence["probe"] = f.probe.id;
      evidence["action"] = f.probe.action;
      evidence["resource"] = f.probe.resource;
      evidence["expect"] = f.probe.expect;
    }
    if (f.witness) {
      evidence["action"] = f.witness.action;
      evidence["resource"] = f.witness.resource;
    }
    if (f.risk) evidence["risk"] = f.risk;
    if (f.statement) {
      evidence["policy"] = f.statement.policy;
      evidence["policySource"] = f.statement.source;
      evidence["statement"] = statementLabel(f.statement);
      if (f.statement.policyArn) evidence["policyArn"] = f.statement.policyArn;
    }
    if (f.undecidedBy?.length)
      evidence["undecidedBy"] = f.undecidedBy.map((r) => `${r.policy}/${statementLabel(r)}`).join(", ");
    return {
      kind: f.kind,
      severity: SEVERITY[f.kind],
      instanceId,
      service: v.service,
      detail: `${instanceId}: ${f.detail}`,
      evidence,
    };
  });
}

/** Can the role read this secret's value? (e.g. to learn which services consume a rotated secret) */
export function canReadSecret(role: RolePolicies, secretArn: string): Decision {
  return evaluate({ action: GET_SECRET, resource: secretArn }, role.policies, role.boundary).decision;
}
