import { describe, expect, it } from "vitest";
import { desiredImds, IMDS_EXEMPT_TAG, imdsDrift, planImds } from "#core/domain/imds";
import { validateManifest } from "#core/domain/manifest";
import type { Host, ImdsOptions } from "#core/domain/model";
import { accountOfArn, placeHost } from "#core/domain/placement";
import { testHost, testManifest } from "../support/fixtures.ts";

const manifest = testManifest();
const desired = desiredImds(manifest);

function host(imds: Partial<ImdsOptions> = {}, tags: Record<string, string> = {}): Host {
  const { instanceProfileArn: _profile, ...h } = testHost(0, "api", { instanceId: "i-0123456789abcdef0", imds });
  return { ...h, tags: { ...h.tags, ...tags } };
}

describe("imdsDrift", () => {
  it("reports nothing for a compliant host (the propagation state does not count)", () => {
    expect(imdsDrift(host(), desired)).toEqual([]);
    expect(imdsDrift(host({ state: "pending" }), desired)).toEqual([]);
  });

  it("one finding per drifted field, with actual and desired as evidence", () => {
    const tokens = imdsDrift(host({ httpTokens: "optional" }), desired, "api");
    expect(tokens).toHaveLength(1);
    expect(tokens[0]).toMatchObject({
      kind: "imds-tokens-optional",
      severity: "high",
      instanceId: "i-0123456789abcdef0",
      service: "api",
      evidence: { actual: "optional", desired: "required" },
    });

    const hop = imdsDrift(host({ hopLimit: 1 }), desired);
    expect(hop.map((f) => f.kind)).toEqual(["imds-hop-limit"]);
    expect(hop[0]?.evidence).toEqual({ actual: 1, desired: 2 });
    expect(hop[0]?.detail).toMatch(/hop limit is 1, want 2/);
    expect(hop[0]).not.toHaveProperty("service");

    const endpoint = imdsDrift(host({ httpEndpoint: "disabled" }), desired);
    expect(endpoint.map((f) => [f.kind, f.severity])).toEqual([["imds-endpoint-disabled", "high"]]);

    const all = imdsDrift(host({ httpTokens: "optional", hopLimit: 1, httpEndpoint: "disabled" }), desired);
    expect(all.map((f) => f.kind).sort()).toEqual(["imds-endpoint-disabled", "imds-hop-limit", "imds-tokens-optional"]);
  });

  it("follows the manifest's desired state, not a hard-coded one", () => {
    const m = validateManifest({ ...manifest, imds: { hopLimit: 1 } });
    expect(imdsDrift(host({ hopLimit: 1 }), desiredImds(m))).toEqual([]);
    expect(imdsDrift(host({ hopLimit: 2 }), desiredImds(m)).map((f) => f.kind)).toEqual(["imds-hop-limit"]);
  });
});

describe("planImds", () => {
  it("compliant → none", () => {
    expect(planImds(host(), desired)).toEqual({ action: "none", findings: [] });
  });

  it("a single drifted field → one modification carrying all three fields", () => {
    const d = planImds(host({ hopLimit: 1 }), desired, "api");
    expect(d.action).toBe("modify");
    if (d.action !== "modify") return;
    // EC2 resets omitted fields: every field must be in the call, even the compliant ones.
    expect(d.desired).toEqual({ httpTokens: "required", hopLimit: 2, httpEndpoint: "enabled" });
    expect(d.desired).not.toHaveProperty("state");
    expect(d.findings.map((f) => f.kind)).toEqual(["imds-hop-limit"]);
  });

  it("exempt tag → report only, with the reason, at info severity", () => {
    const d = planImds(host({ httpTokens: "optional" }, { [IMDS_EXEMPT_TAG]: "legacy sdk, ticket OPS-12" }), desired);
    expect(d.action).toBe("exempt");
    if (d.action !== "exempt") return;
    expect(d.reason).toBe("legacy sdk, ticket OPS-12");
    expect(d.findings).toHaveLength(1);
    expect(d.findings[0]?.severity).toBe("info");
    expect(d.findings[0]?.kind).toBe("imds-tokens-optional");
    expect(d.findings[0]?.detail).toContain("exempt: legacy sdk, ticket OPS-12");
    expect(d).not.toHaveProperty("desired");
  });

  it("an exempt but compliant host needs nothing", () => {
    expect(planImds(host({}, { [IMDS_EXEMPT_TAG]: "x" }), desired).action).toBe("none");
  });

  it("an empty exemption value still exempts (the tag's presence is the decision)", () => {
    expect(planImds(host({ hopLimit: 1 }, { [IMDS_EXEMPT_TAG]: "" }), desired).action).toBe("exempt");
  });
});

describe("placeHost", () => {
  it("places a tagged host in its service", () => {
    expect(placeHost(host(), manifest)).toEqual({ kind: "fleet", service: "api" });
  });

  it("a host of another namespace or without the tag is not fleet", () => {
    expect(placeHost(host({}, { Namespace: "voiceai/staging" }), manifest)).toMatchObject({ kind: "not-in-fleet" });
    const h = host();
    delete h.tags.Namespace;
    expect(placeHost(h, manifest)).toMatchObject({ kind: "not-in-fleet", reason: "no 'Namespace' tag" });
  });

  it("an unknown or missing service tag is reported as such", () => {
    expect(placeHost(host({}, { Service: "billing" }), manifest)).toMatchObject({
      kind: "unknown-service",
      service: "billing",
    });
    const h = host();
    delete h.tags.Service;
    expect(placeHost(h, manifest)).toMatchObject({ kind: "unknown-service", service: "" });
  });

  it("uses the manifest's tag keys", () => {
    const m = validateManifest({ ...manifest, tags: { namespace: "dcp:ns", service: "dcp:svc" } });
    expect(placeHost(host(), m).kind).toBe("not-in-fleet");
    expect(placeHost(host({}, { "dcp:ns": "voiceai/prod", "dcp:svc": "api" }), m)).toEqual({
      kind: "fleet",
      service: "api",
    });
  });

  it("reads the account and partition of an instance profile ARN", () => {
    expect(accountOfArn("arn:aws:iam::123456789012:instance-profile/voiceai/api")).toEqual({
      partition: "aws",
      account: "123456789012",
    });
    expect(accountOfArn("arn:aws-cn:iam::123456789012:instance-profile/x")?.partition).toBe("aws-cn");
    expect(accountOfArn("not-an-arn")).toBeUndefined();
  });
});
