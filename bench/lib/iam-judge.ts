// The IAM judge's CPU cost, in a fresh process: 12 distinct roles (one per bench service; half as the seed table
// grants them, half with one of issue 13's over-wide statements) judged for 2,000 hosts — required grants +
// containment once per role, fanned out to every host, then grouped into table rows. No AWS: the bulk IAM read's cost is
// the audit rows' (one GetAccountAuthorizationDetails). Prints one JSON line:
// { roles, hosts, findings, rows, coldCpuMs, warmCpuMs (median of 5, fresh statement objects), perRoleMs }.
import { resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import type { PolicyStatement } from "#core/domain/iam/policy";
import { evaluateScope, scopeFindingsForHost } from "#core/domain/iam/scope";
import { validateManifest } from "#core/domain/manifest";
import type { AwsScope, Finding } from "#core/domain/model";
import type { RolePolicies } from "#core/ports/index";
import { groupFindings } from "../../bin/lib/render.ts";
import { correctRolePolicy } from "../../scripts/lib/fleet.ts";
import { BENCH_SERVICES } from "./fleet.ts";

export const JUDGE_HOSTS = 2000;
const aws: AwsScope = { partition: "aws", region: "eu-central-1", account: "123456789012" };
const ns = "bench/fleet";
const m = validateManifest({
  namespace: ns,
  configBucket: "bench-fleet-config",
  services: BENCH_SERVICES.map((name, i) => ({ name, wave: i % 4 })),
});
const param = (path: string) => `arn:aws:ssm:${aws.region}:${aws.account}:parameter/${path}`;
/** Issue 13's statements (and two more of the kind) for the first six roles; the other six are the seed table's. */
const EXTRA: PolicyStatement[] = [
  { Sid: "RunAnything", Effect: "Allow", Action: "ssm:SendCommand", Resource: "*" },
  { Sid: "PassAny", Effect: "Allow", Action: "iam:PassRole", Resource: "*" },
  { Sid: "History", Effect: "Allow", Action: "ssm:GetParameterHistory", Resource: param(`${ns}/*`) },
  { Sid: "Prefix", Effect: "Allow", Action: "ssm:GetParameter*", Resource: param(`${ns}/voice*`) },
  { Sid: "Admin", Effect: "Allow", Action: "*", Resource: "*" },
  {
    Sid: "Tagged",
    Effect: "Allow",
    Action: "secretsmanager:GetSecretValue",
    Resource: "*",
    Condition: { StringEquals: { "aws:ResourceTag/service": "x" } },
  },
];

/** Fresh role objects each time (the engine caches compiled statements per object: no carry-over between passes). */
function roles(): { service: string; role: RolePolicies }[] {
  return BENCH_SERVICES.map((service, i) => {
    const doc = correctRolePolicy(m, service, aws);
    const extra = EXTRA[i];
    const st = [...(doc.Statement as PolicyStatement[]), ...(extra ? [structuredClone(extra)] : [])];
    return {
      service,
      role: {
        roleName: `bench-${service}`,
        roleArn: `arn:aws:iam::${aws.account}:role/bench-${service}`,
        policies: [{ name: `bench-${service}`, source: "inline", document: { Statement: structuredClone(st) } }],
      },
    };
  });
}

export function judge(): { findings: number; rows: number } {
  const all: Finding[] = [];
  const verdicts = roles().map(({ service, role }) => evaluateScope(role, m, service, aws));
  for (let h = 0; h < JUDGE_HOSTS; h++) {
    const v = verdicts[h % verdicts.length]!;
    all.push(...scopeFindingsForHost(v, `i-${h.toString(16).padStart(17, "0")}`));
  }
  return { findings: all.length, rows: groupFindings(all).length };
}

function cpuMs(fn: () => unknown): number {
  const before = process.cpuUsage();
  fn();
  const d = process.cpuUsage(before);
  return (d.user + d.system) / 1000;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  let shape = { findings: 0, rows: 0 };
  const t = performance.now();
  const coldCpuMs = cpuMs(() => {
    shape = judge();
  });
  const coldWallMs = performance.now() - t;
  const warm = Array.from({ length: 5 }, () => cpuMs(judge)).sort((a, b) => a - b);
  const perRole = roles().map(({ service, role }) => cpuMs(() => evaluateScope(role, m, service, aws)));
  process.stdout.write(
    `${JSON.stringify({
      roles: BENCH_SERVICES.length,
      hosts: JUDGE_HOSTS,
      ...shape,
      coldCpuMs: Math.round(coldCpuMs),
      coldWallMs: Math.round(coldWallMs),
      warmCpuMs: Math.round(warm[2]!),
      perRoleMs: perRole.map((x) => Math.round(x * 10) / 10),
    })}\n`,
  );
}
