// IAM findings in the CLI's tables: one row per (role, statement, risk) with the hosts it affects.
import { describe, expect, it } from "vitest";
import { evaluateScope, scopeFindingsForHost } from "#core/domain/iam/scope";
import { validateManifest } from "#core/domain/manifest";
import type { Finding } from "#core/domain/model";
import { findingsTable, groupFindings } from "../../bin/lib/render.ts";
import { correctRolePolicy } from "../../scripts/lib/fleet.ts";

const aws = { partition: "aws", region: "eu-central-1", account: "123456789012" };
const m = validateManifest({
  namespace: "voiceai/prod",
  configBucket: "voiceai-prod-config",
  services: [
    { name: "api", wave: 1 },
    { name: "web", wave: 2 },
  ],
});
const seed = correctRolePolicy(m, "api", aws);
const verdict = evaluateScope(
  {
    roleName: "api-host",
    roleArn: "arn:aws:iam::123456789012:role/api-host",
    policies: [
      {
        name: "api-host",
        source: "inline",
        document: {
          Statement: [
            ...(Array.isArray(seed.Statement) ? seed.Statement : [seed.Statement]),
            { Sid: "AllSecrets", Effect: "Allow", Action: "secretsmanager:*", Resource: "*" },
          ],
        },
      },
    ],
  },
  m,
  "api",
  aws,
);
const hosts = Array.from({ length: 12 }, (_, i) => `i-${String(i).padStart(17, "0")}`);
const findings: Finding[] = [
  ...hosts.flatMap((h) => scopeFindingsForHost(verdict, h)),
  { kind: "imds-hop-limit", severity: "medium", instanceId: hosts[0], service: "api", detail: "hop limit 1" },
];

describe("IAM findings grouped by cause", () => {
  it("12 hosts sharing one role are one row per (statement, risk); other findings stay per host", () => {
    const risks = verdict.findings.map((f) => f.risk).sort();
    expect(risks).toEqual(["escalation", "read-beyond-scope", "write-beyond-scope"]);
    const rows = groupFindings(findings);
    expect(rows).toHaveLength(4);
    for (const r of rows.filter((x) => x.finding.kind === "iam-excess-grant")) expect(r.hosts).toEqual(hosts);
    const text = findingsTable(findings);
    expect(text.split("\n").filter((l) => l.includes("iam-excess-grant"))).toHaveLength(3);
    expect(text).toContain("+10 more (12 hosts)");
    expect(text).toMatch(
      /role api-host \[api-host \/ AllSecrets\] read-beyond-scope: can secretsmanager:GetSecretValue/,
    );
  });
});
