import { describe, expect, it } from "vitest";
import { InvalidInputError } from "#core/domain/errors";
import { defaultManifestParam, parseManifest, serviceByName, validateManifest } from "#core/domain/manifest";
import { parseManifestFile } from "#core/domain/manifest-yaml";

const DB_ARN = "arn:aws:secretsmanager:eu-central-1:123456789012:secret:rds!cluster-abc-Q1w2E3";

const minimal = () => ({
  namespace: "voiceai/prod",
  configBucket: "voiceai-prod-config",
  services: [
    { name: "api", wave: 1 },
    { name: "web", wave: 2 },
  ],
});

/** The validation message, for asserting which field it names. */
function refusal(input: unknown): string {
  try {
    validateManifest(input);
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidInputError);
    return (err as Error).message;
  }
  throw new Error("manifest was accepted");
}

describe("validateManifest defaults", () => {
  it("fills tags, IMDS, restart rate, ECR prefix and empty lists", () => {
    const m = validateManifest(minimal());
    expect(m.tags).toEqual({ namespace: "Namespace", service: "Service" });
    expect(m.imds).toMatchObject({ httpTokens: "required", hopLimit: 2, httpEndpoint: "enabled" });
    // Account defaults are not written, readiness looks back two weeks, the drain leaves EC2's bucket some room.
    expect([m.imds.manageAccountDefaults, m.imds.readinessDays, m.imds.enforceWhenNotReady]).toEqual([
      false,
      14,
      false,
    ]);
    expect(m.imds.drain).toEqual({ burst: 80, refillPerSecond: 4 });
    expect(m.restart).toEqual({
      maxConcurrency: "1",
      maxErrors: "0",
      bakeSeconds: 0,
      coalesceSeconds: 60,
      profile: "safe",
      parameterStoreTps: 40, // Parameter Store's default throughput
      mode: "restart",
    });
    expect(m.services.map((s) => [s.alarms, s.readsPerRestart])).toEqual([
      [[], 10],
      [[], 10],
    ]);
    expect(m.ecrRepositoryPrefix).toBe("voiceai-");
    expect(m.sharedSecrets).toEqual([]);
    expect(m.services.map((s) => s.extraGrants)).toEqual([[], []]);
  });

  it("keeps explicit values and fills only the missing half of a partial object", () => {
    const m = validateManifest({
      ...minimal(),
      tags: { service: "App" },
      imds: { hopLimit: 3 },
      restart: { maxConcurrency: 5, maxErrors: "10%" },
      ecrRepositoryPrefix: "acme/",
    });
    expect(m.tags).toEqual({ namespace: "Namespace", service: "App" });
    expect(m.imds).toMatchObject({ httpTokens: "required", hopLimit: 3, httpEndpoint: "enabled", readinessDays: 14 });
    // SSM takes strings: a number in the manifest reaches SendCommand as its decimal text.
    expect(m.restart).toMatchObject({ maxConcurrency: "5", maxErrors: "10%", coalesceSeconds: 60 });
    expect(m.ecrRepositoryPrefix).toBe("acme/");
  });

  it("finds services by exact name", () => {
    const m = validateManifest(minimal());
    expect(serviceByName(m, "web")?.wave).toBe(2);
    expect(serviceByName(m, "WEB")).toBeUndefined();
  });

  it("derives the manifest parameter from the namespace", () => {
    expect(defaultManifestParam("voiceai/prod")).toBe("/voiceai/prod/control-plane/manifest");
  });
});

describe("the IAM envelope's manifest fields", () => {
  it("platformGrants default to what the SSM agent needs: AmazonSSMManagedInstanceCore without GetParameter(s)", () => {
    const m = validateManifest(minimal());
    const actions = m.platformGrants.flatMap((g) => g.actions);
    expect(actions).toContain("ssm:UpdateInstanceInformation");
    expect(actions).toContain("ssmmessages:OpenDataChannel");
    expect(actions).not.toContain("ssm:GetParameter");
    expect(actions).not.toContain("ssm:GetParameters");
    // Each manifest gets its own copy (a caller editing one cannot change another's default).
    expect(validateManifest(minimal()).platformGrants).not.toBe(m.platformGrants);
    expect(validateManifest({ ...minimal(), platformGrants: [] }).platformGrants).toEqual([]);
  });

  it("ecrRepositories narrow the seed's repository/<prefix>*: a name outside the prefix is refused", () => {
    const narrowed = (repos: string[]) => ({
      ...minimal(),
      services: [{ name: "api", wave: 1, ecrRepositories: repos }],
    });
    expect(validateManifest(narrowed(["voiceai-telapi"])).services[0]?.ecrRepositories).toEqual(["voiceai-telapi"]);
    expect(refusal(narrowed(["other-telapi"]))).toMatch(
      /services\.0\.ecrRepositories\.0: .*must start with 'voiceai-'/,
    );
    expect(refusal({ ...minimal(), services: [{ name: "api", wave: 1, configKeys: [] }] })).toMatch(
      /services\.0\.configKeys/,
    );
  });
});

describe("validateManifest refusals name the bad field", () => {
  it("an upper-case service name: services.1.name", () => {
    const input = minimal();
    input.services[1] = { name: "Web", wave: 2 };
    expect(refusal(input)).toMatch(/services\.1\.name: lower-case/);
  });

  it("a shell-ish service name never passes (it reaches SSM as a document parameter)", () => {
    for (const name of ["api;reboot", "api web", "-api", "a".repeat(33), ""]) {
      const input = minimal();
      input.services[0] = { name, wave: 1 };
      expect(refusal(input)).toMatch(/services\.0\.name/);
    }
  });

  it("a duplicate service at its second position", () => {
    const input = minimal();
    input.services.push({ name: "api", wave: 3 });
    expect(refusal(input)).toMatch(/services\.2\.name: duplicate service 'api'/);
  });

  it("a shared secret consumer that is not a service", () => {
    const msg = refusal({
      ...minimal(),
      sharedSecrets: [{ bootstrapVar: "DB_MASTER_SECRET_ARN", arn: DB_ARN, consumers: ["api", "tasker"] }],
    });
    expect(msg).toMatch(/sharedSecrets\.0\.consumers\.1: unknown service 'tasker'/);
    expect(msg).not.toMatch(/consumers\.0/);
  });

  it("a shared secret whose ARN is not a Secrets Manager secret ARN", () => {
    for (const arn of [
      "rds!cluster-abc",
      "arn:aws:ssm:eu-central-1:123456789012:parameter/x",
      "arn:aws:secretsmanager:eu-central-1:12345:secret:x",
    ]) {
      expect(refusal({ ...minimal(), sharedSecrets: [{ bootstrapVar: "DB", arn, consumers: ["api"] }] })).toMatch(
        /sharedSecrets\.0\.arn: a Secrets Manager secret ARN/,
      );
    }
  });

  it("a lower-case bootstrap variable", () => {
    expect(
      refusal({ ...minimal(), sharedSecrets: [{ bootstrapVar: "db_arn", arn: DB_ARN, consumers: ["api"] }] }),
    ).toMatch(/sharedSecrets\.0\.bootstrapVar/);
  });

  it("namespace, bucket, wave, IMDS values", () => {
    expect(refusal({ ...minimal(), namespace: "VoiceAI/Prod" })).toMatch(/^invalid fleet manifest: namespace:/);
    expect(refusal({ ...minimal(), namespace: "/voiceai" })).toMatch(/namespace:/);
    expect(refusal({ ...minimal(), configBucket: "Bad_Bucket" })).toMatch(/configBucket: an S3 bucket name/);
    expect(refusal({ ...minimal(), services: [{ name: "api", wave: 1.5 }] })).toMatch(/services\.0\.wave/);
    expect(refusal({ ...minimal(), services: [] })).toMatch(/services:/);
    expect(refusal({ ...minimal(), imds: { hopLimit: 0 } })).toMatch(/imds\.hopLimit/);
    expect(refusal({ ...minimal(), imds: { httpTokens: "v1" } })).toMatch(/imds\.httpTokens/);
  });

  it("restart rates SSM would refuse at SendCommand time", () => {
    // MaxConcurrency must be ≥ 1 (0 would let the manifest validate, then fail every rollout at SendCommand).
    expect(refusal({ ...minimal(), restart: { maxConcurrency: 0 } })).toMatch(/restart\.maxConcurrency/);
    expect(refusal({ ...minimal(), restart: { maxConcurrency: "0%" } })).toMatch(/restart\.maxConcurrency/);
    expect(refusal({ ...minimal(), restart: { maxConcurrency: "101%" } })).toMatch(/restart\.maxConcurrency/);
    expect(refusal({ ...minimal(), restart: { maxConcurrency: 123456789 } })).toMatch(/restart\.maxConcurrency/);
    expect(refusal({ ...minimal(), restart: { maxErrors: "-1" } })).toMatch(/restart\.maxErrors/);
    expect(refusal({ ...minimal(), restart: { maxErrors: "1.5" } })).toMatch(/restart\.maxErrors/);
    // …while the forms SSM accepts pass.
    expect(
      validateManifest({ ...minimal(), restart: { maxConcurrency: "100%", maxErrors: "0%" } }).restart,
    ).toMatchObject({
      maxConcurrency: "100%",
      maxErrors: "0%",
    });
    expect(validateManifest({ ...minimal(), restart: { maxConcurrency: "5%", maxErrors: 0 } }).restart).toMatchObject({
      maxConcurrency: "5%",
      maxErrors: "0",
    });
  });

  it("a non-object input is refused at the root", () => {
    expect(refusal(null)).toMatch(/\(root\)/);
    expect(refusal("services: []")).toMatch(/\(root\)/);
  });
});

describe("parseManifestFile (the CLI's YAML/JSON files)", () => {
  it("reads YAML", () => {
    const m = parseManifestFile(`
namespace: voiceai/staging
configBucket: voiceai-staging-config
services:
  - name: api
    wave: 1
  - name: telphi
    wave: 2
sharedSecrets:
  - bootstrapVar: DB_MASTER_SECRET_ARN
    arn: ${DB_ARN}
    consumers: [api, telphi]
restart:
  maxConcurrency: 25%
`);
    expect(m.namespace).toBe("voiceai/staging");
    expect(m.services.map((s) => s.name)).toEqual(["api", "telphi"]);
    expect(m.sharedSecrets[0]?.consumers).toEqual(["api", "telphi"]);
    expect(m.restart.maxConcurrency).toBe("25%");
  });

  it("reads JSON too (JSON is YAML)", () => {
    const m = validateManifest(minimal());
    expect(parseManifestFile(JSON.stringify(m))).toEqual(m);
  });

  it("refuses invalid YAML with a one-line message", () => {
    let msg = "";
    try {
      parseManifestFile("namespace: [unclosed\nservices: {");
    } catch (err) {
      expect(err).toBeInstanceOf(InvalidInputError);
      msg = (err as Error).message;
    }
    expect(msg).toMatch(/^fleet manifest is not valid YAML\/JSON: /);
    expect(msg).not.toContain("\n");
  });

  it("a valid YAML document with a bad field names the field", () => {
    expect(() =>
      parseManifestFile("namespace: voiceai/prod\nconfigBucket: b-bucket\nservices:\n  - name: API\n    wave: 1\n"),
    ).toThrow(/services\.0\.name/);
  });
});

describe("parseManifest (the Parameter Store form, JSON only)", () => {
  it("reads the JSON `dcp manifest push` stores and round-trips", () => {
    const m = validateManifest(minimal());
    expect(parseManifest(JSON.stringify(m))).toEqual(m);
  });

  it("refuses YAML with a one-line hint to publish through the CLI", () => {
    expect(() => parseManifest("namespace: voiceai/prod\nservices: []\n")).toThrow(
      /^fleet manifest parameter is not JSON: it looks like YAML; publish it with `dcp manifest push <file>`/,
    );
  });

  it("refuses broken JSON with the parser's one-line reason", () => {
    let msg = "";
    try {
      parseManifest('{"namespace": "voiceai/prod",');
    } catch (err) {
      expect(err).toBeInstanceOf(InvalidInputError);
      msg = (err as Error).message;
    }
    expect(msg).toMatch(/^fleet manifest parameter is not JSON: /);
    expect(msg).not.toMatch(/YAML/);
    expect(msg).not.toContain("\n");
  });

  it("a valid JSON document with a bad field names the field", () => {
    const bad = { ...minimal(), services: [{ name: "API", wave: 1 }] };
    expect(() => parseManifest(JSON.stringify(bad))).toThrow(/services\.0\.name/);
  });
});
