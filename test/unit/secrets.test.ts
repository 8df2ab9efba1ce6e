import { describe, expect, it } from "vitest";
import { listPrefixes } from "#core/adapters/secrets";
import { validateManifest } from "#core/domain/manifest";
import {
  bundleSecretName,
  consumedSecretIds,
  consumersOf,
  isSecretArn,
  mayBeFleetSecret,
  rolloutIdFor,
  type SecretRef,
  secretIdMatches,
  versionTagKey,
} from "#core/domain/secrets";
import { testManifest } from "../support/fixtures.ts";

const PREFIX = "arn:aws:secretsmanager:eu-central-1:123456789012:secret:";
const ref = (name: string, suffix: string): SecretRef => ({ name, arn: `${PREFIX}${name}-${suffix}` });

const api = ref("voiceai/prod/api/secrets", "Xy12Ab");
const apiOld = ref("voiceai/prod/api/secrets-old", "Pq98Zz");
const db = ref("rds!cluster-2b7f3c1e-9d4a", "Lm56No");

const manifest = testManifest({
  services: [
    { name: "api", wave: 1 },
    { name: "web", wave: 2 },
    { name: "tasker", wave: 3 },
  ],
  sharedSecrets: [{ bootstrapVar: "DB_MASTER_SECRET_ARN", arn: db.arn, consumers: ["api", "web"] }],
});

describe("secretIdMatches", () => {
  it("matches the name, the full ARN and the partial ARN (no suffix)", () => {
    expect(secretIdMatches(api.name, api)).toBe(true);
    expect(secretIdMatches(api.arn, api)).toBe(true);
    expect(secretIdMatches(`${PREFIX}${api.name}`, api)).toBe(true);
  });

  it("never matches a different secret whose name extends this one's", () => {
    // ns/api/secrets-old is not ns/api/secrets, in any id form
    expect(secretIdMatches(`${PREFIX}${api.name}`, apiOld)).toBe(false);
    expect(secretIdMatches(api.name, apiOld)).toBe(false);
    expect(secretIdMatches(api.arn, apiOld)).toBe(false);
    expect(secretIdMatches(`${PREFIX}${apiOld.name}`, api)).toBe(false);
    expect(secretIdMatches(apiOld.arn, api)).toBe(false);
  });

  it("does not match another account's or region's ARN of the same name", () => {
    const other = `arn:aws:secretsmanager:eu-central-1:210987654321:secret:${api.name}-Xy12Ab`;
    expect(secretIdMatches(other, api)).toBe(false);
    expect(secretIdMatches(`arn:aws:secretsmanager:us-east-1:123456789012:secret:${api.name}`, api)).toBe(false);
  });

  it("does not take a name as a prefix of the ARN", () => {
    expect(secretIdMatches("voiceai/prod/api", api)).toBe(false);
    expect(secretIdMatches("", api)).toBe(false);
  });

  it("isSecretArn recognises every partition", () => {
    expect(isSecretArn(api.arn)).toBe(true);
    expect(isSecretArn("arn:aws-us-gov:secretsmanager:us-gov-west-1:123456789012:secret:x")).toBe(true);
    expect(isSecretArn("arn:aws:ssm:eu-central-1:123456789012:parameter/x")).toBe(false);
    expect(isSecretArn(api.name)).toBe(false);
  });
});

describe("mayBeFleetSecret (pre-filter before DescribeSecret)", () => {
  it("accepts every form of a service bundle", () => {
    expect(bundleSecretName("voiceai/prod", "api")).toBe(api.name);
    expect(mayBeFleetSecret(manifest, api.name)).toBe(true);
    expect(mayBeFleetSecret(manifest, api.arn)).toBe(true);
    expect(mayBeFleetSecret(manifest, `${PREFIX}${api.name}`)).toBe(true);
    expect(mayBeFleetSecret(manifest, "voiceai/prod/tasker/secrets")).toBe(true);
  });

  it("accepts every form of a shared secret", () => {
    expect(mayBeFleetSecret(manifest, db.arn)).toBe(true);
    expect(mayBeFleetSecret(manifest, `${PREFIX}${db.name}`)).toBe(true);
    expect(mayBeFleetSecret(manifest, db.name)).toBe(true);
  });

  it("accepts a shared secret listed in the manifest by partial ARN", () => {
    const m = validateManifest({
      ...manifest,
      sharedSecrets: [{ bootstrapVar: "DB", arn: `${PREFIX}${db.name}`, consumers: ["api"] }],
    });
    expect(mayBeFleetSecret(m, db.arn)).toBe(true);
    expect(mayBeFleetSecret(m, db.name)).toBe(true);
  });

  it("refuses foreign secrets: other namespaces, non-services, unrelated names", () => {
    expect(mayBeFleetSecret(manifest, "voiceai/staging/api/secrets")).toBe(false);
    expect(mayBeFleetSecret(manifest, "voiceai/prod/billing/secrets")).toBe(false);
    expect(mayBeFleetSecret(manifest, `${PREFIX}voiceai/prod/api/other-Xy12Ab`)).toBe(false);
    expect(mayBeFleetSecret(manifest, ref("rds!cluster-ffff", "Aa11Bb").arn)).toBe(false);
    expect(mayBeFleetSecret(manifest, "voiceai/prod/api/secrets-old")).toBe(false);
    expect(mayBeFleetSecret(manifest, apiOld.arn)).toBe(false);
  });
});

describe("consumersOf", () => {
  it("a bundle is read by its one service", () => {
    expect(consumersOf(manifest, api)).toEqual({ secret: api, services: ["api"], via: "bundle" });
  });

  it("a shared secret is read by its consumers, with the bootstrap variable", () => {
    expect(consumersOf(manifest, db)).toEqual({
      secret: db,
      services: ["api", "web"],
      via: "shared",
      bootstrapVar: "DB_MASTER_SECRET_ARN",
    });
  });

  it("a shared secret listed by partial ARN still resolves its consumers", () => {
    const m = validateManifest({
      ...manifest,
      sharedSecrets: [{ bootstrapVar: "DB", arn: `${PREFIX}${db.name}`, consumers: ["web"] }],
    });
    expect(consumersOf(m, db)?.services).toEqual(["web"]);
  });

  it("nobody consumes a look-alike secret", () => {
    expect(consumersOf(manifest, apiOld)).toBeUndefined();
    expect(consumersOf(manifest, ref("voiceai/staging/api/secrets", "Xy12Ab"))).toBeUndefined();
    expect(consumersOf(manifest, ref("rds!cluster-2b7f3c1e-9d4a-extra", "Lm56No"))).toBeUndefined();
  });

  it("the returned consumer list is a copy (the manifest is not mutated through it)", () => {
    consumersOf(manifest, db)?.services.push("tasker");
    expect(manifest.sharedSecrets[0]?.consumers).toEqual(["api", "web"]);
  });

  it("consumedSecretIds lists every bundle by name and every shared secret by ARN", () => {
    expect(consumedSecretIds(manifest)).toEqual([
      { id: "voiceai/prod/api/secrets", services: ["api"], via: "bundle" },
      { id: "voiceai/prod/web/secrets", services: ["web"], via: "bundle" },
      { id: "voiceai/prod/tasker/secrets", services: ["tasker"], via: "bundle" },
      { id: db.arn, services: ["api", "web"], via: "shared" },
    ]);
  });
});

describe("versionTagKey / rolloutIdFor", () => {
  it("fits EC2's tag key limits and is stable per secret name", () => {
    const long = "a/".repeat(250);
    for (const name of [api.name, db.name, long]) {
      const key = versionTagKey(name);
      expect(key.length).toBeLessThanOrEqual(128);
      expect(key).toMatch(/^dcp:sv:[0-9a-f]{16}$/);
      expect(versionTagKey(name)).toBe(key);
    }
    expect(versionTagKey(api.name)).not.toBe(versionTagKey(apiOld.name));
  });

  it("is keyed by the name, so every ARN form of an event records under one key", () => {
    // The tracker passes the DescribeSecret name; the name is the same whichever id form the event used.
    const forms = [api.name, api.arn, `${PREFIX}${api.name}`];
    const resolved = forms.map((id) => [api].find((s) => secretIdMatches(id, s))?.name);
    expect(new Set(resolved.map((n) => versionTagKey(n ?? "")))).toEqual(new Set([versionTagKey(api.name)]));
  });

  it("one rollout id per (secret, version), deterministic", () => {
    const v1 = "c4d5e6f7-0a1b-4c2d-9e3f-4a5b6c7d8e9f";
    const v2 = "d4d5e6f7-0a1b-4c2d-9e3f-4a5b6c7d8e9f";
    const id = rolloutIdFor(api.arn, v1);
    expect(id).toMatch(/^ro-[0-9a-f]{16}$/);
    expect(rolloutIdFor(api.arn, v1)).toBe(id);
    expect(rolloutIdFor(api.arn, v2)).not.toBe(id);
    expect(rolloutIdFor(apiOld.arn, v1)).not.toBe(id);
    // The separator keeps (arn, version) pairs from colliding by concatenation.
    expect(rolloutIdFor("ab", "c")).not.toBe(rolloutIdFor("a", "bc"));
  });
});

describe("listPrefixes (ListSecrets name filter values)", () => {
  const bundles = (n: number) => Array.from({ length: n }, (_, i) => `voiceai/prod/svc${i}/secrets`);

  it("keeps up to 10 names exact", () => {
    expect(listPrefixes(bundles(9))).toEqual([...bundles(9)].sort());
  });

  it("folds twelve service bundles and a master secret into one filter: calls stay constant in services", () => {
    const p = listPrefixes([...bundles(12), "rds!db-1a2b3c"]);
    expect(p).toEqual(["rds!db-1a2b3c", "voiceai/prod/"]);
    for (const name of bundles(12)) expect(p.some((x) => name.startsWith(x))).toBe(true);
  });

  it("goes only as shallow as needed and never drops a name it cannot cover", () => {
    const names = [...bundles(6).map((n) => n.replace("prod", "staging")), ...bundles(6), "flat-a", "flat-b"];
    const p = listPrefixes(names);
    expect(p.length).toBeLessThanOrEqual(10);
    for (const n of names) expect(p.some((x) => n.startsWith(x))).toBe(true);
    expect(p).toContain("voiceai/prod/");
    expect(p).toContain("voiceai/staging/");
  });

  it("gives up shortening when only flat names are left (several filters then)", () => {
    const flat = Array.from({ length: 12 }, (_, i) => `secret-${i}`);
    expect(listPrefixes(flat)).toHaveLength(12);
  });
});
