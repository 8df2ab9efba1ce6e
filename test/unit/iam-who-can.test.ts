// Who can read a secret or a parameter: the requests that read it, and a role's answer.
import { describe, expect, it } from "vitest";
import { InvalidInputError } from "#core/domain/errors";
import type { PolicyStatement } from "#core/domain/iam/policy";
import { parseReadTarget, readAccess, readRequests } from "#core/domain/iam/who-can";
import type { RolePolicies } from "#core/ports/index";

const aws = { partition: "aws", region: "eu-central-1", account: "123456789012" };
const param = (path: string) => `arn:aws:ssm:eu-central-1:123456789012:parameter/${path}`;
const role = (st: PolicyStatement[]): RolePolicies => ({
  roleName: "r",
  roleArn: "arn:aws:iam::123456789012:role/r",
  policies: [{ name: "p", source: "inline", document: { Statement: st } }],
});

describe("parseReadTarget", () => {
  it("tells a secret ARN, a parameter path and a secret name apart; refuses anything else", () => {
    const arn = "arn:aws:secretsmanager:eu-central-1:123456789012:secret:voiceai/prod/api/secrets-AbC123";
    expect(parseReadTarget(arn)).toEqual({ kind: "secret", arn });
    expect(parseReadTarget("/voiceai/prod/api/X")).toEqual({ kind: "parameter", path: "/voiceai/prod/api/X" });
    expect(parseReadTarget("voiceai/prod/api/secrets")).toEqual({
      kind: "secret-name",
      name: "voiceai/prod/api/secrets",
    });
    for (const bad of ["arn:aws:s3:::b/k", "/a/$(id)", "a b", "x; rm -rf /", ""])
      expect(() => parseReadTarget(bad), bad).toThrow(InvalidInputError);
  });
});

describe("readRequests + readAccess", () => {
  it("a parameter is read directly or by path from any ancestor, down to the root", () => {
    const reqs = readRequests({ kind: "parameter", path: "/voiceai/prod/api/X" }, aws);
    expect(reqs.map((r) => `${r.action} ${r.resource}`)).toEqual([
      `ssm:GetParameter ${param("voiceai/prod/api/X")}`,
      `ssm:GetParameters ${param("voiceai/prod/api/X")}`,
      `ssm:GetParameterHistory ${param("voiceai/prod/api/X")}`,
      `ssm:GetParametersByPath ${param("voiceai/prod/api")}`,
      `ssm:GetParametersByPath ${param("voiceai/prod")}`,
      `ssm:GetParametersByPath ${param("voiceai")}`,
      `ssm:GetParametersByPath ${param("")}`,
    ]);
  });

  it("a by-path grant on an ancestor reads it; an unrelated role does not; a conditional grant may", () => {
    const reqs = readRequests({ kind: "parameter", path: "/voiceai/prod/api/X" }, aws);
    const ancestor = readAccess(
      role([{ Sid: "Tree", Effect: "Allow", Action: "ssm:GetParametersByPath", Resource: param("voiceai/prod") }]),
      reqs,
    );
    expect(ancestor?.decision).toBe("allow");
    expect(ancestor?.via.map((v) => [v.resource, v.statements.map((s) => s.sid)])).toEqual([
      [param("voiceai/prod"), ["Tree"]],
    ]);
    expect(readAccess(role([{ Effect: "Allow", Action: "ssm:GetParameter", Resource: param("other/*") }]), reqs)).toBe(
      undefined,
    );
    const maybe = readAccess(
      role([
        {
          Effect: "Allow",
          Action: "ssm:GetParameter",
          Resource: "*",
          Condition: { StringEquals: { "aws:SourceVpc": "vpc-1" } },
        },
      ]),
      reqs,
    );
    expect(maybe?.decision).toBe("unknown");
  });
});
