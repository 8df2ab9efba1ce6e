// The operator CLI, run as operators run it (node bin/dcp.mjs …) against a seeded fleet in moto.
import { execFile } from "node:child_process";
import { resolve } from "node:path";
import { CreateTableCommand } from "@aws-sdk/client-dynamodb";
import { CreateTagsCommand, DescribeInstancesCommand } from "@aws-sdk/client-ec2";
import { PutSecretValueCommand } from "@aws-sdk/client-secrets-manager";
import { ListCommandsCommand } from "@aws-sdk/client-ssm";
import { beforeAll, describe, expect, it } from "vitest";
import { type AwsClients, createClients } from "#core/adapters/clients";
import { toHost } from "#core/adapters/ec2";
import { DynamoRolloutStore } from "#core/adapters/rollout-store";
import type { DriftReport } from "#core/app/audit-fleet";
import { loadConfig } from "#core/app/config";
import { contractViolation, GuardResultContract } from "#core/app/contracts";
import { recordTargetOutcome } from "#core/app/rollout-engine";
import type { WhoCanReport } from "#core/app/who-can";
import { asArray } from "#core/domain/iam/policy";
import type { Finding } from "#core/domain/model";
import type { Rollout, RolloutPlan } from "#core/domain/rollout";
import { versionTagKey } from "#core/domain/secrets";
import { fleetDeps } from "#core/shell/fleet-deps";
import {
  demoEcsSeeds,
  demoFleetSpec,
  type HostSeed,
  launchHosts,
  type SeededEcsService,
  type SeededFleet,
  seedEcsServices,
  seedFleet,
} from "../../scripts/lib/fleet.ts";
import { COMPLIANT_IMDS } from "../support/fixtures.ts";

const { state: _state, ...COMPLIANT } = COMPLIANT_IMDS;

import { useMoto } from "../support/moto.ts";

useMoto();

const ROOT = resolve(import.meta.dirname, "../..");
const EXAMPLE = resolve(ROOT, "examples/manifest.voiceai-prod.yaml");
const ROLLOUT_TABLE = "cli-test-rollouts";

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function dcp(args: string[], env: Record<string, string | undefined> = {}): Promise<Run> {
  return new Promise((done) => {
    const merged: NodeJS.ProcessEnv = { ...process.env, DCP_PROGRESS: "", ...env };
    for (const [k, v] of Object.entries(merged)) if (v === undefined) delete merged[k];
    execFile(
      process.execPath,
      [resolve(ROOT, "bin/dcp.mjs"), ...args],
      { cwd: ROOT, env: merged },
      (err, stdout, stderr) => done({ code: err ? Number((err as { code?: number }).code ?? 99) : 0, stdout, stderr }),
    );
  });
}

describe("dcp manifest validate", () => {
  it("accepts the documented example and prints it normalised (exit 0)", async () => {
    const r = await dcp(["manifest", "validate", EXAMPLE, "--json"]);
    expect(r.code, r.stderr).toBe(0);
    const m = JSON.parse(r.stdout);
    expect(m.namespace).toBe("voiceai/prod");
    expect(m.services.map((s: { name: string }) => s.name)).toEqual([
      "database",
      "api",
      "web",
      "voice",
      "ops",
      "media",
      "telpro",
    ]);
    expect(m.sharedSecrets[0].consumers).toEqual(["database", "api", "web", "voice", "ops"]);
    expect(m.sharedSecrets[0].arn).toContain(":secret:rds!cluster-");
    expect(m.imds).toMatchObject({ httpTokens: "required", hopLimit: 2, httpEndpoint: "enabled" });
  });

  it("rejects an invalid manifest with exit 2 and names the bad field on one stderr line", async () => {
    const bad = resolve(ROOT, "test/integration/fixtures-cli-bad.tmp.yaml");
    const { writeFileSync, rmSync } = await import("node:fs");
    writeFileSync(
      bad,
      "namespace: voiceai/prod\nconfigBucket: voiceai-prod-config\nservices:\n  - name: api\n    wave: first\n",
    );
    try {
      const r = await dcp(["manifest", "validate", bad]);
      expect(r.code).toBe(2);
      expect(r.stdout).toBe("");
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(r.stderr).toContain("services.0.wave");
    } finally {
      rmSync(bad, { force: true });
    }
  });

  it("fails with exit 2 and one line when no namespace is given", async () => {
    const r = await dcp(["audit"], { DCP_NAMESPACE: undefined });
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toMatch(/^dcp: no namespace/);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
  });
});

describe("dcp against a seeded fleet with known drift", () => {
  const spec = demoFleetSpec();
  let fleet: SeededFleet;
  let ecs: Record<string, SeededEcsService>;
  let clients: AwsClients;
  let env: Record<string, string>;

  beforeAll(async () => {
    clients = createClients();
    fleet = await seedFleet(spec, clients);
    ecs = await seedEcsServices(fleet, demoEcsSeeds(fleet), clients);
    await clients.dynamodb.send(
      new CreateTableCommand({
        TableName: ROLLOUT_TABLE,
        AttributeDefinitions: [{ AttributeName: "pk", AttributeType: "S" }],
        KeySchema: [{ AttributeName: "pk", KeyType: "HASH" }],
        BillingMode: "PAY_PER_REQUEST",
      }),
    );
    env = { DCP_NAMESPACE: spec.namespace, DCP_ROLLOUT_TABLE: ROLLOUT_TABLE };
  }, 90_000);

  /** Seeds of each service's hosts zipped with the seeded hosts (seedFleet keeps the spec's order). */
  function hostSeeds(): { instanceId: string; service: string; seed: HostSeed }[] {
    const out: { instanceId: string; service: string; seed: HostSeed }[] = [];
    let i = 0;
    for (const s of spec.services) {
      const seeds = typeof s.hosts === "number" ? Array.from({ length: s.hosts }, () => ({})) : s.hosts;
      for (const seed of seeds) out.push({ instanceId: fleet.hosts[i++]!.instanceId, service: s.name, seed });
    }
    return out;
  }

  /** The findings the spec's defects must produce: instance|kind|severity|what. */
  function expectedFindings(): string[] {
    const keys: string[] = [];
    const ns = spec.namespace;
    for (const { instanceId, service, seed } of hostSeeds()) {
      const exempt = seed.tags?.["dcp:imds-exempt"] !== undefined;
      const tokens = seed.imds?.httpTokens ?? "required";
      const hop = seed.imds?.hopLimit ?? 2;
      const endpoint = seed.imds?.httpEndpoint ?? "enabled";
      if (tokens !== "required") keys.push(`${instanceId}|imds-tokens-optional|${exempt ? "info" : "high"}|`);
      if (hop !== 2) keys.push(`${instanceId}|imds-hop-limit|${exempt ? "info" : "medium"}|`);
      if (endpoint !== "enabled") keys.push(`${instanceId}|imds-endpoint-disabled|${exempt ? "info" : "high"}|`);
      const svc = spec.services.find((s) => s.name === service)!;
      // An extra inline policy granting every secret of the namespace: one excess finding (statement, risk) per host.
      const inline = typeof svc.role === "object" ? Object.values(svc.role.inline ?? {}) : [];
      const broad = inline
        .flatMap((doc) => asArray(doc.Statement))
        .find((st) => JSON.stringify(st).includes(`:secret:${ns}/*`));
      if (broad) keys.push(`${instanceId}|iam-excess-grant|high|${broad.Sid} read-beyond-scope`);
      if (seed.noProfile) keys.push(`${instanceId}|no-instance-profile|high|`);
    }
    // Every seeded host runs one AMI, and moto registers no image with ImdsSupport v2.0.
    keys.push("-|imds-ami|info|");
    // The seeded account has no CloudTrail trail: the API-call rotation triggers get no events.
    keys.push("-|trigger-trail-missing|medium|");
    const known = new Set(spec.services.map((s) => s.name));
    const extras = fleet.hosts.slice(hostSeeds().length);
    for (const [i, x] of (spec.extraHosts ?? []).entries())
      if (!known.has(x.tags.Service ?? "")) keys.push(`${extras[i]!.instanceId}|unknown-service|medium|`);
    return keys.sort();
  }

  function findingKey(f: Finding): string {
    const what = f.kind === "iam-excess-grant" ? `${f.evidence?.statement} ${f.evidence?.risk}` : "";
    return `${f.instanceId ?? "-"}|${f.kind}|${f.severity}|${what}`;
  }

  async function listCommandCount(): Promise<number> {
    const out = await clients.ssm.send(new ListCommandsCommand({}));
    return out.Commands?.length ?? 0;
  }

  async function describe(id: string) {
    const out = await clients.ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }));
    return toHost(out.Reservations![0]!.Instances![0]!);
  }

  it("audit --json reports exactly the seeded drift and exits 1", async () => {
    const r = await dcp(["audit", "--json"], env);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toBe("");
    const report = JSON.parse(r.stdout) as DriftReport;
    expect(report.namespace).toBe(spec.namespace);
    expect(report.scannedHosts).toBe(fleet.hosts.length);
    expect(report.findings.map(findingKey).sort()).toEqual(expectedFindings());
    // The fleet-wide audit reads IAM in bulk: one call, not one per role.
    expect(report.apiCalls["IAM.GetAccountAuthorizationDetails"]).toBe(1);
    // Trigger health: one DescribeTrails (no trail, so no per-trail call), counted like the SDK clients' calls.
    expect(report.apiCalls["CloudTrail.DescribeTrails"]).toBe(1);
    expect(report.remediation.mode).toBe("none");
    // moto lacks DescribeInstanceInformation: the check says it was skipped; the previous summary was read (absent).
    expect(report.registry).toMatchObject({ mode: "unavailable" });
    expect(report.apiCalls["SSM.GetParameter"]).toBe(2);
  });

  const hostIds = (service: string) =>
    fleet.hosts
      .filter((h) => h.service === service)
      .map((h) => h.instanceId)
      .sort();

  it("iam who-can lists the roles (and hosts) that can read a secret or a parameter, naming the statements", async () => {
    const ns = spec.namespace;
    const byName = await dcp(["iam", "who-can", `${ns}/api/secrets`, "--json"], env);
    expect(byName.code, byName.stderr).toBe(0);
    const report = JSON.parse(byName.stdout) as WhoCanReport;
    expect(report.target).toEqual({ kind: "secret", arn: fleet.secrets[`${ns}/api/secrets`] });
    expect(report.apiCalls["IAM.GetAccountAuthorizationDetails"]).toBe(1);
    const readers = Object.fromEntries(report.readers.map((r) => [r.services.join(","), r]));
    expect(Object.keys(readers).sort()).toEqual(["api", "ops"]);
    expect(readers["api"]?.hosts.sort()).toEqual(hostIds("api"));
    expect(readers["ops"]?.hosts.sort()).toEqual(hostIds("ops"));
    expect(readers["ops"]?.via[0]?.statements.map((s) => s.sid)).toEqual(["DebugAllSecrets"]);

    const param = await dcp(["iam", "who-can", `/${ns}/web/LOG_LEVEL`], env);
    expect(param.code, param.stderr).toBe(0);
    expect(param.stdout).toMatch(/ROLE\s+DECISION\s+SERVICES\s+HOSTS\s+VIA/);
    const rows = param.stdout.split("\n").filter((l) => / allow /.test(l));
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatch(
      / web .*ssm:GetParameter on .*parameter\/voiceai\/staging\/web\/LOG_LEVEL \[.* \/ OwnParameters\]/,
    );

    const bad = await dcp(["iam", "who-can", "arn:aws:s3:::bucket/x"], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/not a Secrets Manager secret ARN/);
  });

  it("audit (readable) prints the table, the summary and what to do next", async () => {
    const r = await dcp(["audit"], env);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/HOSTS\s+SERVICE\s+KIND\s+SEVERITY\s+DETAIL/);
    expect(r.stdout).toContain("Summary by kind:");
    expect(r.stdout).toMatch(/statement DebugAllSecrets/);
    // One row per (role, statement, risk), naming the hosts, however many hosts share the role.
    const excessRows = r.stdout.split("\n").filter((l) => /iam-excess-grant\s+high\s/.test(l));
    expect(excessRows).toHaveLength(1);
    expect(excessRows[0]).toMatch(/DebugAllSecrets\] read-beyond-scope: can secretsmanager:GetSecretValue/);
    expect(r.stdout).toContain("dcp audit --fix imds");
    expect(r.stdout).toContain("Unmanaged-host check: skipped (SSM DescribeInstanceInformation is unavailable)");
    // Trigger health: the row, its count in the summary, and what to do.
    expect(r.stdout).toMatch(
      /-\s+-\s+trigger-trail-missing\s+medium\s+no CloudTrail trail logs management write events/,
    );
    expect(r.stdout).toMatch(/trigger-trail-missing\s+1/);
    expect(r.stdout).toContain("rotation triggers: create a logging multi-region CloudTrail trail");

    // --full-registry skips reading the previous state; the CLI never writes it.
    const full = await dcp(["audit", "--json", "--full-registry"], env);
    const fullReport = JSON.parse(full.stdout) as DriftReport;
    expect(fullReport.apiCalls["SSM.GetParameter"]).toBe(1);
    expect(fullReport.apiCalls["SSM.PutParameter"]).toBeUndefined();

    // Progress goes to stderr only: --json output stays parseable.
    const withProgress = await dcp(["audit", "--json"], { ...env, DCP_PROGRESS: "1" });
    expect(withProgress.stderr).toMatch(/auditing voiceai\/staging: scan \d+/);
    expect((JSON.parse(withProgress.stdout) as DriftReport).namespace).toBe(spec.namespace);
  });

  it("restart plan lists the consumers once each, in manifest wave order, and sends nothing", async () => {
    // A new version: the seeded hosts booted after the first one (so they read it at boot: nothing to restart).
    const put = await clients.secrets.send(
      new PutSecretValueCommand({ SecretId: fleet.sharedSecretArn!, SecretString: '{"password":"rotated"}' }),
    );
    const before = await listCommandCount();
    const r = await dcp(["restart", "plan", fleet.sharedSecretArn!, "--json"], env);
    expect(r.code, r.stderr).toBe(0);
    const plan = JSON.parse(r.stdout) as RolloutPlan;
    const waveOf = new Map(spec.services.map((s) => [s.name, s.wave]));
    const waves = plan.waves.map((w) => w.wave);
    expect(waves).toEqual([...waves].sort((a, b) => a - b));
    for (const w of plan.waves) expect(w.wave).toBe(waveOf.get(w.service));
    const consumers = new Set(spec.sharedSecret!.consumers);
    const expectedHosts = fleet.hosts.filter((h) => consumers.has(h.service)).map((h) => h.instanceId);
    const planned = plan.waves.filter((w) => w.kind === "host").flatMap((w) => w.targetIds);
    expect(planned.sort()).toEqual(expectedHosts.sort());
    expect(new Set(planned).size).toBe(planned.length);
    expect(await listCommandCount()).toBe(before);
    // The ECS service beside the hosts, in its service's wave: one step, one new deployment.
    expect(
      plan.waves.filter((w) => w.kind === "ecs-service").map((w) => [w.wave, w.service, w.targetIds, w.clusterArn]),
    ).toEqual([[waveOf.get("voice"), "voice", [ecs["pipecat-voice"]!.serviceArn], ecs["pipecat-voice"]!.clusterArn]]);

    const readable = await dcp(["restart", "plan", fleet.sharedSecretArn!], env);
    expect(readable.stdout).toContain("nothing was sent");
    // The gates and the Parameter Store cap are part of the plan an operator reads.
    expect(readable.stdout).toContain("Parameter Store budget 40 reads/s");
    expect(readable.stdout).toMatch(/WAVE +SERVICE +TARGETS +CONCURRENCY +WAITS FOR/);
    expect(readable.stdout).toContain("1 ECS service(s)");
    expect(readable.stdout).toContain(ecs["pipecat-voice"]!.serviceArn);
    // The consumers restart out of band here: record the version on them, as the tracker would.
    const name = fleet.sharedSecretArn!.split(":secret:")[1]!.slice(0, -7);
    await clients.ec2.send(
      new CreateTagsCommand({ Resources: expectedHosts, Tags: [{ Key: versionTagKey(name), Value: put.VersionId! }] }),
    );
  });

  it("guard --dry-run reports the IMDSv1 host but changes nothing", async () => {
    const web = hostSeeds().find((h) => h.service === "web" && h.seed.imds?.httpTokens === "optional")!;
    const before = await describe(web.instanceId);
    const r = await dcp(["guard", web.instanceId, "--dry-run", "--json"], env);
    expect(r.code, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout);
    expect(result.imds.action).toBe("modify");
    expect(result.imds.changed).toBe(false);
    expect(result.findings.map((f: Finding) => f.kind)).toContain("imds-tokens-optional");
    const after = await describe(web.instanceId);
    expect(after.imds).toEqual(before.imds);
    expect(after.tags).toEqual(before.tags);

    const badId = await dcp(["guard", "web-1"], env);
    expect(badId.code).toBe(2);
    expect(badId.stderr).toContain("not an EC2 instance id");
  });

  it("guard --json holds the output contract on a host without an instance profile: iam.role is null", async () => {
    const [launched] = await launchHosts(clients.ec2, [
      { tags: { Namespace: spec.namespace, Service: "api", Name: "api-no-profile" }, imds: COMPLIANT },
    ]);
    const r = await dcp(["guard", launched!.instance.InstanceId!, "--dry-run", "--json"], env);
    expect(r.code).toBe(1); // no profile: a violation
    const result = JSON.parse(r.stdout);
    expect(contractViolation(GuardResultContract, result)).toBeUndefined();
    expect(result.iam).toMatchObject({ role: null, verdict: "violation" });
    expect(result.reason).toBeNull();
  });

  it("audit --fix repairs IMDS (not exempt hosts); a second audit has no actionable IMDS finding", async () => {
    const fix = await dcp(["audit", "--fix", "--json"], env);
    expect(fix.code, fix.stderr).toBe(1); // IAM findings remain: never auto-fixed
    const fixed = JSON.parse(fix.stdout) as DriftReport;
    expect(fixed.remediation.mode).toBe("imds+restart");
    const seeds = hostSeeds();
    const drifted = seeds
      .filter((h) => h.seed.imds && h.seed.tags?.["dcp:imds-exempt"] === undefined)
      .map((h) => h.instanceId);
    expect(fixed.remediation.imds.map((i) => i.instanceId).sort()).toEqual(drifted.sort());

    const again = await dcp(["audit", "--json"], env);
    const report = JSON.parse(again.stdout) as DriftReport;
    // Host findings only: the AMI finding (moto registers no image with ImdsSupport v2.0) is about a source.
    const imds = report.findings.filter((f) => f.kind.startsWith("imds-") && f.kind !== "imds-ami");
    expect(imds.filter((f) => f.severity !== "info")).toEqual([]);
    // The exempt host is still reported (info) and was left alone.
    const exempt = seeds.find((h) => h.seed.tags?.["dcp:imds-exempt"] !== undefined)!;
    expect(imds.every((f) => f.instanceId === exempt.instanceId)).toBe(true);
    expect((await describe(exempt.instanceId)).imds.httpTokens).toBe("optional");
    expect(report.findings.filter((f) => f.kind === "stale-credentials")).toEqual([]);
  });

  // Six CLI runs, each a fresh node + tsx: slow on a loaded machine.
  it("a missed rotation: audit --fix starts a catch-up rollout; rollout status/list/resume drive it", {
    timeout: 180_000,
  }, async () => {
    const telpro = fleet.hosts.filter((h) => h.service === "telpro").map((h) => h.instanceId);
    await clients.secrets.send(
      new PutSecretValueCommand({ SecretId: `${spec.namespace}/telpro/secrets`, SecretString: '{"API_TOKEN":"x"}' }),
    );
    const fix = await dcp(["audit", "--fix", "--json"], env);
    const report = JSON.parse(fix.stdout) as DriftReport;
    const stale = report.findings.filter((f) => f.kind === "stale-credentials").map((f) => f.instanceId);
    expect(stale.sort()).toEqual([...telpro].sort());
    const restart = report.remediation.restarts.find((r) => r.action === "restart");
    expect(restart?.commands.flatMap((c) => c.targetIds).sort()).toEqual([...telpro].sort());
    const id = restart!.rolloutId!;

    const list = await dcp(["rollout", "list"], env);
    expect(list.code).toBe(0);
    expect(list.stdout).toContain(id);
    const status = await dcp(["rollout", "status", id, "--json"], env);
    expect(status.code).toBe(0);
    expect((JSON.parse(status.stdout) as Rollout).status).toBe("running");
    const refused = await dcp(["rollout", "resume", id], env);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toContain("only a halted rollout");

    // One host succeeds, the other fails: the rollout halts; status says so (exit 1), resume re-sends only the failed one.
    const store = new DynamoRolloutStore(clients.dynamodb, ROLLOUT_TABLE);
    const current = (await store.get(id))!;
    const config = loadConfig({
      DCP_NAMESPACE: spec.namespace,
      DCP_ROLLOUT_TABLE: ROLLOUT_TABLE,
      DCP_RESTART_DOCUMENT: fleet.documentName,
    });
    const deps = fleetDeps(config, { clients });
    const ref = (t: string) => {
      const s = current.steps.find((x) => x.targetIds.includes(t))!;
      return { rolloutId: id, step: s.index, attempt: s.attempt };
    };
    await recordTargetOutcome(deps, ref(telpro[1]!), telpro[1]!, "ok", "Success");
    const failed = await recordTargetOutcome(deps, ref(telpro[0]!), telpro[0]!, "bad", "Failed");
    expect(failed.halted).toContain(telpro[0]);
    expect((await dcp(["rollout", "status", id], env)).code).toBe(1);

    const before = await listCommandCount();
    const dry = await dcp(["rollout", "resume", id, "--dry-run", "--json"], env);
    expect(dry.code, dry.stderr).toBe(0);
    expect(JSON.parse(dry.stdout).wouldSend.flatMap((s: { targetIds: string[] }) => s.targetIds)).toEqual([telpro[0]]);
    expect(await listCommandCount()).toBe(before);

    const resumed = await dcp(["rollout", "resume", id, "--json"], env);
    expect(resumed.code, resumed.stderr).toBe(0);
    const out = JSON.parse(resumed.stdout);
    expect(out.status).toBe("running");
    expect(out.sent.flatMap((c: { targetIds: string[] }) => c.targetIds)).toEqual([telpro[0]]);
    expect(await listCommandCount()).toBe(before + 1);

    // The reconciler (dry run, then for real) finds the resumed step sent and its hosts' outcomes in SSM.
    const dryReconcile = await dcp(["rollout", "reconcile", id, "--dry-run", "--json"], env);
    expect(dryReconcile.code, dryReconcile.stderr).toBe(0);
    const planned = JSON.parse(dryReconcile.stdout) as { rollouts: { rolloutId: string; actions: string[] }[] };
    expect(planned.rollouts[0]?.actions.join("\n")).toMatch(new RegExp(`would record ${telpro[0]}: Success`));
    expect(await listCommandCount()).toBe(before + 1);
    const reconciled = await dcp(["rollout", "reconcile", "--json"], env);
    expect(reconciled.code, reconciled.stderr).toBe(0);
    const watched = await dcp(["rollout", "watch", id, "--json", "--interval", "0.1"], env);
    expect(watched.code, watched.stderr).toBe(0);
    expect(JSON.parse(watched.stdout.trim().split("\n").at(-1)!)).toMatchObject({
      status: "succeeded",
      succeeded: telpro.length,
      failed: 0,
    });
    const done = await dcp(["rollout", "status", id], env);
    expect(done.stdout).toContain(`${telpro.length}/${telpro.length} done`);
  });
});
