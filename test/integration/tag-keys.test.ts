// Tag keys have one home: the template parameters NamespaceTagKey / ServiceTagKey, which the IAM conditions were
// deployed with, reach the functions as DCP_NAMESPACE_TAG_KEY / DCP_SERVICE_TAG_KEY. A manifest naming other keys
// would make every tag-scoped write fail at run time; every function that reads it refuses it with one clear line
// before any write, and `dcp manifest push` takes the keys from the same variables.
import { execFile } from "node:child_process";
import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { PutSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { GetParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { Client } from "@smithy/smithy-client";
import type { Context } from "aws-lambda";
import { beforeAll, describe, expect, it, vi } from "vitest";
import { type SeededFleet, seedFleet } from "../../scripts/lib/fleet.ts";
import { awsState, eventBridgeEvent, handlerEnv, lambdaContext } from "../support/fixtures.ts";
import { useMoto } from "../support/moto.ts";
import { createTables } from "../support/wiring.ts";

useMoto();
const ROOT = resolve(import.meta.dirname, "../..");
const NS = "voiceai/tagkeys";
const DEPLOYED = { DCP_NAMESPACE_TAG_KEY: "fleet:namespace", DCP_SERVICE_TAG_KEY: "fleet:service" };
const REFUSAL =
  /^manifest tags \(namespace: 'Namespace', service: 'Service'\) differ from the deployed tag keys \(namespace: 'fleet:namespace', service: 'fleet:service'/;

type Handler = (event: unknown, context: Context) => Promise<unknown>;

/** Every write any SDK client of this process attempts (the handlers' own clients included), by command name. */
const writes: string[] = [];
const send = Client.prototype.send;
vi.spyOn(Client.prototype, "send").mockImplementation(function (
  this: Client<never, never, never, never>,
  ...args: unknown[]
) {
  const name = (args[0] as { constructor: { name: string } }).constructor.name;
  if (/^(Put|Update|Delete|Modify|Create|Send|Tag|Run)/.test(name)) writes.push(name);
  // biome-ignore lint/suspicious/noExplicitAny: forwards the overloaded send() unchanged
  return (send as (...a: any[]) => Promise<any>).apply(this, args);
});
let fleet: SeededFleet;
let handlers: Record<"launch" | "rotation" | "audit", Handler>;

beforeAll(async () => {
  // The manifest as pushed before the stack was redeployed with other tag keys: tags Namespace / Service.
  fleet = await seedFleet({
    namespace: NS,
    services: [{ name: "api", wave: 0, hosts: [{ imds: { httpTokens: "optional" } }, {}] }],
  });
  await createTables(new DynamoDBClient({}));
  Object.assign(process.env, handlerEnv(fleet, { ...DEPLOYED, DCP_AUDIT_REMEDIATION: "imds+restart" }));
  handlers = {
    launch: (await import("../../functions/instance-launch/index.ts")).handler as Handler,
    rotation: (await import("../../functions/secret-rotation/index.ts")).handler as Handler,
    audit: (await import("../../functions/drift-audit/index.ts")).handler as Handler,
  };
}, 120_000);

describe("a manifest whose tags differ from the deployed tag keys", () => {
  it("is refused by every function that reads it: one line, nothing written", async () => {
    const where = { account: fleet.account, region: fleet.region };
    const imdsV1 = fleet.hosts[0]!.instanceId;
    const secret = fleet.secrets[`${NS}/api/secrets`]!;
    const { VersionId } = await new SecretsManagerClient({}).send(
      new PutSecretValueCommand({ SecretId: secret, SecretString: JSON.stringify({ API_TOKEN: "rotated" }) }),
    );
    const runs: [keyof typeof handlers, unknown][] = [
      [
        "launch",
        eventBridgeEvent(
          "aws.ec2",
          "EC2 Instance State-change Notification",
          { "instance-id": imdsV1, state: "running" },
          where,
        ),
      ],
      [
        "rotation",
        eventBridgeEvent(
          "aws.secretsmanager",
          "Secret Label Updated",
          { labelUpdated: "AWSCURRENT", versionId: VersionId },
          { ...where, resources: [secret] },
        ),
      ],
      ["audit", { source: "dcp.schedule", action: "audit" }],
    ];
    const before = await awsState();
    writes.length = 0;
    for (const [name, event] of runs) {
      const err = await handlers[name](event, lambdaContext(name, `req-${name}`, fleet.region, fleet.account)).then(
        () => undefined,
        (e: unknown) => e as Error,
      );
      expect(err?.message, name).toMatch(REFUSAL);
      expect(err?.message.includes("\n"), name).toBe(false);
    }
    expect(writes).toEqual([]);
    expect(await awsState()).toEqual(before);
  });
});

describe("dcp manifest push", () => {
  const push = async (file: string) => {
    const env = { ...process.env, ...DEPLOYED, DCP_NAMESPACE: NS };
    try {
      const r = await promisify(execFile)(process.execPath, [join(ROOT, "bin/dcp.mjs"), "manifest", "push", file], {
        cwd: ROOT,
        env,
      });
      return { code: 0, ...r };
    } catch (e) {
      const x = e as { code: number; stdout: string; stderr: string };
      return { code: x.code, stdout: x.stdout, stderr: x.stderr };
    }
  };
  const stored = async () =>
    JSON.parse(
      (await new SSMClient({}).send(new GetParameterCommand({ Name: fleet.manifestParam }))).Parameter?.Value ?? "{}",
    );
  const file = (name: string, tags?: object) => {
    const path = join(tmpdir(), `dcp-tag-keys-${name}-${process.pid}.json`);
    const { tags: _t, ...rest } = fleet.manifest;
    writeFileSync(path, JSON.stringify({ ...rest, ...(tags ? { tags } : {}) }));
    return path;
  };

  it("refuses a file naming other keys than the deployment's, with one line and no write", async () => {
    const before = await stored();
    const r = await push(file("other", { namespace: "Namespace", service: "Service" }));
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(/^dcp: manifest tags .* differ from the deployed tag keys/);
    expect(await stored()).toEqual(before);
  });

  it("fills the deployment's keys into a file without tags, so the functions accept what it stores", async () => {
    const r = await push(file("none"));
    expect(r.code, r.stderr).toBe(0);
    expect((await stored()).tags).toEqual({ namespace: "fleet:namespace", service: "fleet:service" });
  });
});
