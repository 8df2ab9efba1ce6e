// Who can read a secret or a parameter: the requests that read it, evaluated against a role's identity policies and
// permission boundary (no resource policies, no KMS key policies: those can only narrow what is shown here).
//
// Rules:
//  W1  A secret is read by secretsmanager:GetSecretValue on its ARN (with Secrets Manager's 6-character suffix).
//  W2  A parameter /a/b/C is read by ssm:GetParameter, ssm:GetParameters and ssm:GetParameterHistory on
//      `parameter/a/b/C`, and by ssm:GetParametersByPath on every ancestor path (`parameter/a/b`, `parameter/a`, and
//      the root `parameter/`): by-path reads are authorised against the path, and a recursive read of an ancestor
//      returns every child (field notes, IAM). The by-path requests carry `ssm:Recursive=Recursive`.
//  W3  A role reads it when any request is "allow"; "unknown" when none is allowed and one is undecidable.
import type { RolePolicies } from "../../ports/index.ts";
import { InvalidInputError } from "../errors.ts";
import type { AwsScope } from "../model.ts";
import { type AccessRequest, evaluate, type StatementRef } from "./evaluator.ts";

export type ReadTarget = { kind: "secret"; arn: string } | { kind: "parameter"; path: string };

const SECRET_ARN = /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[\w/+=.@!-]+$/;
const PARAMETER_PATH = /^(\/[\w.-]+)+$/;

/** `arn:…:secret:…` or `/a/b/C`; a bare secret name is returned as `name` for the caller to resolve to its ARN. */
export function parseReadTarget(text: string): ReadTarget | { kind: "secret-name"; name: string } {
  if (text.startsWith("arn:")) {
    if (!SECRET_ARN.test(text)) throw new InvalidInputError(`'${text}' is not a Secrets Manager secret ARN`);
    return { kind: "secret", arn: text };
  }
  if (text.startsWith("/")) {
    if (!PARAMETER_PATH.test(text) || text.length > 2048)
      throw new InvalidInputError(`'${text}' is not a parameter path (/a/b/NAME: letters, digits, . _ -)`);
    return { kind: "parameter", path: text };
  }
  if (!/^[\w/+=.@!-]{1,512}$/.test(text))
    throw new InvalidInputError(`'${text}' is neither a secret ARN or name nor a parameter path`);
  return { kind: "secret-name", name: text };
}

/** The requests that read `target` (W1, W2), with ARNs in `aws`. */
export function readRequests(target: ReadTarget, aws: AwsScope): AccessRequest[] {
  if (target.kind === "secret") return [{ action: "secretsmanager:GetSecretValue", resource: target.arn }];
  const param = (path: string) => `arn:${aws.partition}:ssm:${aws.region}:${aws.account}:parameter/${path}`;
  const segments = target.path.slice(1).split("/");
  const own = param(segments.join("/"));
  const out: AccessRequest[] = ["ssm:GetParameter", "ssm:GetParameters", "ssm:GetParameterHistory"].map((action) => ({
    action,
    resource: own,
  }));
  for (let n = segments.length - 1; n >= 0; n--)
    out.push({
      action: "ssm:GetParametersByPath",
      resource: param(segments.slice(0, n).join("/")),
      context: { "ssm:Recursive": "Recursive" },
    });
  return out;
}

export interface ReadAccess {
  decision: "allow" | "unknown";
  /** Each request that reads it (or might), and the statements that allow it or leave it undecided. */
  via: { action: string; resource: string; statements: StatementRef[] }[];
}

/** Can `role` read through any of `requests`? (W3) undefined = no. */
export function readAccess(role: RolePolicies, requests: AccessRequest[]): ReadAccess | undefined {
  const allowed: ReadAccess["via"] = [];
  const undecided: ReadAccess["via"] = [];
  for (const req of requests) {
    const e = evaluate(req, role.policies, role.boundary);
    if (e.decision === "allow")
      allowed.push({
        action: req.action,
        resource: req.resource,
        statements: e.allowedBy.filter((r) => r.source !== "boundary"),
      });
    else if (e.decision === "unknown")
      undecided.push({ action: req.action, resource: req.resource, statements: e.undecided });
  }
  if (allowed.length) return { decision: "allow", via: allowed };
  if (undecided.length) return { decision: "unknown", via: undecided };
  return undefined;
}
