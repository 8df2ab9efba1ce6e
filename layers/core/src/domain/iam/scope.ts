// Per-host IAM scope: what the instance-profile role of a host of service S in namespace NS must be able
// to do (required probes) and must not be able to do (forbidden probes), checked with the evaluator.
//
// Rules:
//  S1  Required (seeds doc 000 + manifest): ssm:GetParameter(s) on a parameter under /NS/S/, ssm:DescribeParameters
//      on "*" (the action takes no resource ARN, so a "*" grant for it is expected, never excess),
//      secretsmanager:GetSecretValue on NS/S/secrets, ecr:GetAuthorizationToken on "*", ecr image pulls on the
//      service's repository, s3:GetObject under configBucket/S/, GetSecretValue on every shared secret S
//      consumes, and every extraGrant (each action × each resource, wildcards probed literally).
//  S2  Forbidden: other services' parameters, secrets and by-path reads in NS; the same service in another
//      namespace; ssm:GetParametersByPath on every ancestor of /NS/S (up to the root "/"); shared secrets S
//      does not consume; and wildcard probes (an unrelated secret, parameter and bucket).
//  S3  A forbidden probe the manifest itself grants (extraGrants, consumed shared secrets) is dropped.
//  S4  Verdict: any missing or excess grant → "violation"; otherwise any undecidable probe → "unknown"; else "ok".
//  S5  Each finding names the probe, and the policy + statement responsible (Sid, else #index), so one edit fixes it.
import type { NamedPolicy, RolePolicies } from "../../ports/index.ts";
import { InvalidInputError } from "../errors.ts";
import type { Manifest } from "../manifest.ts";
import type { AwsScope, Finding, Severity } from "../model.ts";
import { type Decision, describeStatement, type Evaluation, evaluate, type StatementRef } from "./evaluator.ts";
import type { PolicyStatement } from "./policy.ts";

export interface ScopeProbe {
  /** Stable id, e.g. `deny:other-service-secret:web:secretsmanager:GetSecretValue`. */
  id: string;
  action: string;
  resource: string;
  expect: "allow" | "deny";
  /** Why the probe exists, in words an operator understands. */
  why: string;
}

export interface ScopeFinding {
  kind: "iam-missing-grant" | "iam-excess-grant" | "iam-unknown";
  probe: ScopeProbe;
  /** The statement responsible (allowing an excess, denying a required grant, or undecidable). */
  statement?: StatementRef;
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
const OTHER_NAMESPACE_LEAF = "other-ns";
const UNRELATED_BUCKET = "dcp-scope-probe-unrelated";

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

function requireService(m: Manifest, service: string) {
  const spec = m.services.find((s) => s.name === service);
  if (!spec) throw new InvalidInputError(`service '${service}' is not in the fleet manifest`, "service");
  return spec;
}

/** A sibling namespace of NS that is certainly not NS: `voiceai/prod` → `voiceai/other-ns`. */
function otherNamespace(ns: string): string {
  const parts = ns.split("/");
  const leaf = parts[parts.length - 1] === OTHER_NAMESPACE_LEAF ? `${OTHER_NAMESPACE_LEAF}-2` : OTHER_NAMESPACE_LEAF;
  parts[parts.length - 1] = leaf;
  return parts.join("/");
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
  const repo = arn.repository(`${m.ecrRepositoryPrefix}${service}`);
  add("own-repository", "ecr:BatchGetImage", repo, `pulling ${m.ecrRepositoryPrefix}${service} images`);
  add("own-repository", "ecr:GetDownloadUrlForLayer", repo, `pulling ${m.ecrRepositoryPrefix}${service} images`);
  add(
    "config-object",
    "s3:GetObject",
    arn.object(m.configBucket, `${service}/config`),
    `reading the service's config in s3://${m.configBucket}/${service}/`,
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

/** What a host of `service` must not be able to do (S2), minus what the manifest grants it (S3). */
export function forbiddenProbes(m: Manifest, service: string, aws: AwsScope): ScopeProbe[] {
  requireService(m, service);
  const arn = arnsOf(aws);
  const ns = m.namespace;
  const probes: ScopeProbe[] = [];
  const add = (label: string, action: string, resource: string, why: string) =>
    probes.push({ id: `deny:${label}:${action}`, action, resource, expect: "deny", why });

  for (const other of m.services) {
    if (other.name === service) continue;
    const o = other.name;
    const param = arn.parameter(`${ns}/${o}/${PROBE_VARIABLE}`);
    add(`other-service-parameter:${o}`, "ssm:GetParameter", param, `service ${o}'s parameters in ${ns}`);
    add(`other-service-parameter:${o}`, "ssm:GetParameters", param, `service ${o}'s parameters in ${ns}`);
    add(
      `other-service-path:${o}`,
      "ssm:GetParametersByPath",
      arn.parameter(`${ns}/${o}`),
      `reading /${ns}/${o} by path`,
    );
    add(`other-service-secret:${o}`, GET_SECRET, arn.secret(`${ns}/${o}/secrets`), `service ${o}'s secret in ${ns}`);
  }

  const otherNs = otherNamespace(ns);
  const foreignParam = arn.parameter(`${otherNs}/${service}/${PROBE_VARIABLE}`);
  add("other-namespace-parameter", "ssm:GetParameter", foreignParam, `another namespace (${otherNs})`);
  add("other-namespace-parameter", "ssm:GetParameters", foreignParam, `another namespace (${otherNs})`);
  add(
    "other-namespace-secret",
    GET_SECRET,
    arn.secret(`${otherNs}/${service}/secrets`),
    `another namespace (${otherNs})`,
  );

  // Every ancestor of /NS/S: /voiceai/prod, /voiceai, and the root "/" (ARN "parameter/").
  const segments = ns.split("/");
  for (let n = segments.length; n >= 0; n--) {
    const path = segments.slice(0, n).join("/");
    add(
      `ancestor-path:/${path}`,
      "ssm:GetParametersByPath",
      arn.parameter(path),
      `reading every parameter under /${path} by path`,
    );
  }

  for (const s of m.sharedSecrets) {
    if (!s.consumers.includes(service))
      add(
        `unconsumed-shared-secret:${s.bootstrapVar}`,
        GET_SECRET,
        s.arn,
        `shared secret ${s.bootstrapVar} is not for ${service}`,
      );
  }

  add(
    "unrelated-secret",
    GET_SECRET,
    arn.secret("dcp-scope-probe/unrelated/secrets"),
    "a secret outside every known scope",
  );
  const unrelatedParam = arn.parameter("unrelated/x");
  add("unrelated-parameter", "ssm:GetParameter", unrelatedParam, "a parameter outside every known scope");
  add("unrelated-parameter", "ssm:GetParameters", unrelatedParam, "a parameter outside every known scope");
  const bucket = m.configBucket === UNRELATED_BUCKET ? `${UNRELATED_BUCKET}-2` : UNRELATED_BUCKET;
  add("other-bucket", "s3:GetObject", arn.object(bucket, "x"), "an object in a bucket other than the config bucket");

  // S3: drop what the manifest grants (extraGrants, consumed shared secrets, the required probes themselves).
  const granted = grantedByManifest(requiredProbes(m, service, aws));
  return probes.filter((p) => evaluate({ action: p.action, resource: p.resource }, [granted]).decision !== "allow");
}

function grantedByManifest(required: ScopeProbe[]): NamedPolicy {
  const statement: PolicyStatement[] = required.map((p) => ({
    Effect: "Allow",
    Action: p.action,
    Resource: p.resource,
  }));
  return { name: "manifest", source: "inline", document: { Statement: statement } };
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

/** Checks one role against the scope of `service` (S1–S5). */
export function evaluateScope(role: RolePolicies, m: Manifest, service: string, aws: AwsScope): ScopeVerdict {
  const { required, forbidden } = probesFor(m, service, aws);
  const findings: ScopeFinding[] = [];
  const check = (p: ScopeProbe) => evaluate({ action: p.action, resource: p.resource }, role.policies, role.boundary);
  const undecidable = (p: ScopeProbe, e: Evaluation) => {
    const ref = e.undecided[0];
    const by = ref ? `${describeStatement(ref)} depends on request context or policy variables` : "undecidable";
    findings.push({
      kind: "iam-unknown",
      probe: p,
      ...(ref ? { statement: ref } : {}),
      detail: `cannot decide whether role ${role.roleName} can ${p.action} on ${p.resource} (${p.why}; probe ${p.id}): ${by}.`,
    });
  };

  for (const p of required) {
    const e = check(p);
    if (e.decision === "allow") continue;
    if (e.decision === "unknown") undecidable(p, e);
    else findings.push({ kind: "iam-missing-grant", probe: p, ...missingDetail(role, p, e) });
  }
  for (const p of forbidden) {
    const e = check(p);
    if (e.decision === "allow") {
      for (const ref of e.allowedBy) {
        if (ref.source === "boundary") continue;
        findings.push({
          kind: "iam-excess-grant",
          probe: p,
          statement: ref,
          detail:
            `role ${role.roleName} can ${p.action} on ${p.resource}, which a ${service} host must not (${p.why}; probe ${p.id}): ` +
            `allowed by ${describeStatement(ref)}; remove or narrow that statement.`,
        });
      }
    } else if (e.decision === "unknown") undecidable(p, e);
  }
  const verdict = findings.some((f) => f.kind !== "iam-unknown") ? "violation" : findings.length > 0 ? "unknown" : "ok";
  return { roleName: role.roleName, roleArn: role.roleArn, service, verdict, findings };
}

// Probe lists depend only on (manifest, service, scope): built once per manifest object.
const probeCache = new WeakMap<Manifest, Map<string, { required: ScopeProbe[]; forbidden: ScopeProbe[] }>>();

function probesFor(m: Manifest, service: string, aws: AwsScope) {
  let perManifest = probeCache.get(m);
  if (!perManifest) {
    perManifest = new Map();
    probeCache.set(m, perManifest);
  }
  const key = `${service}|${aws.partition}|${aws.region}|${aws.account}`;
  let hit = perManifest.get(key);
  if (!hit) {
    hit = { required: requiredProbes(m, service, aws), forbidden: forbiddenProbes(m, service, aws) };
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
    const evidence: Record<string, string> = {
      roleName: v.roleName,
      roleArn: v.roleArn,
      probe: f.probe.id,
      action: f.probe.action,
      resource: f.probe.resource,
      expect: f.probe.expect,
    };
    if (f.statement) {
      evidence["policy"] = f.statement.policy;
      evidence["policySource"] = f.statement.source;
      evidence["statement"] = statementLabel(f.statement);
      if (f.statement.policyArn) evidence["policyArn"] = f.statement.policyArn;
    }
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
