// Shared test fixture builders: hosts, manifests, the handlers' environment, Lambda contexts, and a snapshot of the
// local AWS for "nothing changed" assertions. One copy here instead of one per test file.
import { type SpawnOptions, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { DynamoDBClient, ScanCommand } from "@aws-sdk/client-dynamodb";
import { DescribeInstancesCommand, EC2Client } from "@aws-sdk/client-ec2";
import { ListSecretsCommand, PutSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { GetParametersByPathCommand, ListCommandsCommand, SSMClient } from "@aws-sdk/client-ssm";
import type { Context } from "aws-lambda";
import type { RotationFact } from "#core/app/rotate-secret";
import type { SecretEvent } from "#core/domain/events";
import { type Manifest, validateManifest } from "#core/domain/manifest";
import type { Host, ImdsOptions } from "#core/domain/model";
import { rolloutIdFor } from "#core/domain/secrets";
import type { RolePolicies } from "#core/ports/index";
import type { RoleSeed, SeededFleet, ServiceSeed } from "../../scripts/lib/fleet.ts";
import { type FakeWorld, fakeWorld } from "./fakes.ts";

export const TEST_NAMESPACE = "voiceai/prod";
export const TEST_ACCOUNT = "123456789012";
export const TEST_REGION = "eu-central-1";
export const ROLLOUT_TABLE = "dcp-rollouts";
export const IDEMPOTENCY_TABLE = "dcp-idempotency";

/** A well-formed 17-hex-digit instance id for host number `n`. */
/** A one-host service whose role is the correct one plus `extra` (inline policies, managed ARNs, a boundary). */
export const oneHostService = (name: string, wave: number, extra: Omit<RoleSeed, "base">): ServiceSeed => ({
  name,
  wave,
  hosts: 1,
  role: { base: "correct", ...extra },
});

export const instanceId = (n: number): string => `i-${n.toString(16).padStart(17, "0")}`;

export const COMPLIANT_IMDS: ImdsOptions = {
  httpTokens: "required",
  hopLimit: 2,
  httpEndpoint: "enabled",
  state: "applied",
};

/**
 * Host number `n` of `service` in the namespace: running, compliant IMDS, the default placement tags, an instance
 * profile named after the service. `extra` overrides any field (`imds` is merged over the compliant options).
 */
export function testHost(
  n: number,
  service: string,
  extra: Omit<Partial<Host>, "imds"> & { imds?: Partial<ImdsOptions> } = {},
  namespace = TEST_NAMESPACE,
): Host {
  const { imds, ...rest } = extra;
  return {
    instanceId: instanceId(n),
    state: "running",
    launchTime: "2025-11-01T00:00:00Z",
    tags: { Namespace: namespace, Service: service },
    instanceProfileArn: `arn:aws:iam::${TEST_ACCOUNT}:instance-profile/voiceai/${service}`,
    ...rest,
    imds: { ...COMPLIANT_IMDS, ...imds },
  };
}

/** A validated manifest: namespace voiceai/prod, bucket voiceai-prod-config, service api (wave 1); `over` wins. */
export function testManifest(over: Record<string, unknown> = {}): Manifest {
  return validateManifest({
    namespace: TEST_NAMESPACE,
    configBucket: "voiceai-prod-config",
    services: [{ name: "api", wave: 1 }],
    ...over,
  });
}

/** The environment a deployed handler gets from the template, pointed at a seeded fleet and the test tables. */
export function handlerEnv(fleet: SeededFleet, over: Record<string, string> = {}): Record<string, string> {
  return {
    DCP_NAMESPACE: fleet.namespace,
    DCP_MANIFEST_PARAM: fleet.manifestParam,
    DCP_RESTART_DOCUMENT: fleet.documentName,
    DCP_ROLLOUT_TABLE: ROLLOUT_TABLE,
    DCP_IDEMPOTENCY_TABLE: IDEMPOTENCY_TABLE,
    AWS_REGION: fleet.region,
    ...over,
  };
}

/** A Lambda context as the runtime hands it to `fn` (its ARN names the account the origin check compares). */
export function lambdaContext(fn: string, requestId: string, region = TEST_REGION, account = TEST_ACCOUNT): Context {
  return {
    awsRequestId: requestId,
    functionName: fn,
    invokedFunctionArn: `arn:aws:lambda:${region}:${account}:function:${fn}`,
    getRemainingTimeInMillis: () => 60_000,
  } as unknown as Context;
}

export interface AwsState {
  instances: unknown[];
  commands: string[];
  rollouts: number;
  parameters: unknown[];
  secrets: unknown[];
}

/**
 * What the local AWS holds that a control-plane write could change: instances (tags, IMDS), commands, rollouts,
 * parameters (with versions) and secret versions. Equal snapshots before and after = nothing was written.
 */
export async function awsState(rolloutTable = ROLLOUT_TABLE): Promise<AwsState> {
  const ssm = new SSMClient({});
  const res = await new EC2Client({}).send(new DescribeInstancesCommand({}));
  const instances = (res.Reservations ?? [])
    .flatMap((r) => r.Instances ?? [])
    .map((i) => ({
      id: i.InstanceId,
      state: i.State?.Name,
      tags: Object.fromEntries((i.Tags ?? []).map((t) => [t.Key, t.Value]).sort()),
      imds: {
        tokens: i.MetadataOptions?.HttpTokens,
        hops: i.MetadataOptions?.HttpPutResponseHopLimit,
        endpoint: i.MetadataOptions?.HttpEndpoint,
      },
    }))
    .sort((a, b) => String(a.id).localeCompare(String(b.id)));
  const commands = ((await ssm.send(new ListCommandsCommand({}))).Commands ?? []).map((c) => c.CommandId ?? "");
  const rollouts =
    (await new DynamoDBClient({}).send(new ScanCommand({ TableName: rolloutTable, Select: "COUNT" }))).Count ?? -1;
  const parameters: unknown[] = [];
  let token: string | undefined;
  do {
    const p = await ssm.send(new GetParametersByPathCommand({ Path: "/", Recursive: true, NextToken: token }));
    parameters.push(...(p.Parameters ?? []).map((x) => ({ name: x.Name, version: x.Version, value: x.Value })));
    token = p.NextToken;
  } while (token);
  parameters.sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
  const secrets = ((await new SecretsManagerClient({}).send(new ListSecretsCommand({}))).SecretList ?? [])
    .map((s) => ({ name: s.Name, versions: s.SecretVersionsToStages }))
    .sort((a, b) => String(a.name).localeCompare(String(b.name)));
  return { instances, commands, rollouts, parameters, secrets };
}

/** An EventBridge envelope as AWS delivers it (`time` without milliseconds), for `account` and `region`. */
export function eventBridgeEvent(
  source: string,
  detailType: string,
  detail: Record<string, unknown>,
  where: { account: string; region: string; resources?: string[] },
) {
  return {
    version: "0",
    id: randomUUID(),
    "detail-type": detailType,
    source,
    account: where.account,
    time: new Date().toISOString().replace(/\.\d{3}Z$/, "Z"),
    region: where.region,
    resources: where.resources ?? [],
    detail,
  };
}

const DB_SECRET = {
  arn: `arn:aws:secretsmanager:${TEST_REGION}:${TEST_ACCOUNT}:secret:rds!cluster-abc-Q1w2E3`,
  name: "rds!cluster-abc",
};
const DB_VERSION = "c4d5e6f7-0a1b-4c2d-9e3f-4a5b6c7d8e9f";

/** The rotation scenario of the use-case tests: the shared database secret, its new version, the confirmed fact. */
export const ROTATION = {
  NS: TEST_NAMESPACE,
  DB: DB_SECRET,
  VERSION: DB_VERSION,
  manifest: testManifest({
    services: [
      { name: "api", wave: 1 },
      { name: "web", wave: 2 },
    ],
    sharedSecrets: [{ bootstrapVar: "DB_MASTER_SECRET_ARN", arn: DB_SECRET.arn, consumers: ["api", "web"] }],
    restart: { coalesceSeconds: 0 }, // the engine's own behaviour; the gates are tested in rollout-gates tests
  }),
  fact: {
    secretArn: DB_SECRET.arn,
    secretName: DB_SECRET.name,
    versionId: DB_VERSION,
    services: ["api", "web"],
    trigger: "RotationSucceeded",
  } satisfies RotationFact as RotationFact,
  ROLLOUT_ID: rolloutIdFor(DB_SECRET.arn, DB_VERSION),
};

/** A role that can read the database secret (and nothing else matters to the rollout). */
export function dbReader(roleName: string): RolePolicies {
  return {
    roleName,
    roleArn: `arn:aws:iam::${TEST_ACCOUNT}:role/${roleName}`,
    policies: [
      {
        name: "db",
        source: "inline",
        document: {
          Version: "2012-10-17",
          Statement: [{ Effect: "Allow", Action: "secretsmanager:GetSecretValue", Resource: DB_SECRET.arn }],
        },
      },
    ],
  };
}

/** api: hosts 1,2 (wave 1); web: host 3 (wave 2). Both roles read the DB secret, whose current version is VERSION. */
export function rotationWorld(): FakeWorld {
  const w = fakeWorld(TEST_NAMESPACE, {
    hosts: [testHost(1, "api"), testHost(2, "api"), testHost(3, "web")],
    secrets: [{ ...DB_SECRET, currentVersionId: DB_VERSION, lastChangedDate: "2025-11-20T11:00:00Z" }],
  });
  for (const svc of ["api", "web"]) {
    w.policies.profiles.set(testHost(0, svc).instanceProfileArn!, `voiceai-${svc}`);
    w.policies.roles.set(`voiceai-${svc}`, dbReader(`voiceai-${svc}`));
  }
  return w;
}

/** Secrets Manager's `Secret Label Updated` event for `versionId` of the secret `arn` (its name without the suffix). */
export function secretLabelEvent(
  arn: string,
  versionId: string,
  where: { account: string; region: string },
  label = "AWSCURRENT",
): SecretEvent {
  const name = arn.split(":secret:")[1]?.slice(0, -7);
  return eventBridgeEvent(
    "aws.secretsmanager",
    "Secret Label Updated",
    { name, labelUpdated: label, versionId },
    { ...where, resources: [arn] },
  ) as SecretEvent;
}

/** A new AWSCURRENT version of a secret (PutSecretValue with a fresh value); its version id. */
export async function putNewVersion(arn: string): Promise<string> {
  const out = await new SecretsManagerClient({}).send(
    new PutSecretValueCommand({ SecretId: arn, SecretString: JSON.stringify({ v: randomUUID() }) }),
  );
  return out.VersionId ?? "";
}

export interface Collected {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a child process to its end, collecting stdout and stderr apart; killed after `killAfterMs` when given. */
export function spawnCollect(
  cmd: string,
  args: string[],
  opts: SpawnOptions,
  killAfterMs?: number,
): Promise<Collected> {
  return new Promise((done, fail) => {
    const child = spawn(cmd, args, opts);
    let stdout = "";
    let stderr = "";
    child.stdout?.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr?.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    const timer = killAfterMs ? setTimeout(() => child.kill("SIGKILL"), killAfterMs) : undefined;
    child.on("error", fail);
    child.on("close", (code) => {
      clearTimeout(timer);
      done({ code, stdout, stderr });
    });
  });
}
