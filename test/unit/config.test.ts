import { describe, expect, it } from "vitest";
import { CONFIG_VARIABLES, loadConfig } from "#core/app/config";
import { functionConfig, listFunctions, loadTemplate } from "../../scripts/lib/template.ts";

const NS = { DCP_NAMESPACE: "voiceai/prod" };

describe("loadConfig", () => {
  it("defaults everything but the namespace", () => {
    expect(loadConfig({ ...NS })).toEqual({
      namespace: "voiceai/prod",
      manifestParam: "/voiceai/prod/control-plane/manifest",
      dryRun: false,
      restartDocument: "dcp-restart-service",
      hostCheckDocument: "dcp-host-credential-check",
      iamMode: "report",
      auditRemediation: "none",
      auditSummaryParam: "/voiceai/prod/control-plane/audit/summary",
      region: "us-east-1",
      tagKeys: { namespace: "Namespace", service: "Service" },
      timings: {
        executionTimeoutSeconds: 900,
        deliveryTimeoutSeconds: 600,
        deadlineMarginSeconds: 300,
        claimLeaseSeconds: 180,
      },
    });
  });

  it("reads every variable of the contract", () => {
    const c = loadConfig({
      DCP_NAMESPACE: "voiceai/staging",
      DCP_MANIFEST_PARAM: "/custom/manifest",
      DCP_DRY_RUN: "true",
      DCP_RESTART_DOCUMENT: "stack-RestartServiceDocument-AbC123",
      DCP_HOST_CHECK_DOCUMENT: "stack-HostCredentialCheckDocument-AbC123",
      DCP_IDEMPOTENCY_TABLE: "idem",
      DCP_ROLLOUT_TABLE: "rollouts",
      DCP_IAM_MODE: "quarantine",
      DCP_AUDIT_REMEDIATION: "imds+restart",
      DCP_AUDIT_SUMMARY_PARAM: "/custom/summary",
      DCP_NAMESPACE_TAG_KEY: "fleet:namespace",
      DCP_SERVICE_TAG_KEY: "fleet:service",
      AWS_REGION: "eu-central-1",
      DCP_EXECUTION_TIMEOUT_SECONDS: "600",
      DCP_DELIVERY_TIMEOUT_SECONDS: "120",
      DCP_DEADLINE_MARGIN_SECONDS: "60",
      DCP_CLAIM_LEASE_SECONDS: "240",
    });
    expect(c).toEqual({
      namespace: "voiceai/staging",
      manifestParam: "/custom/manifest",
      dryRun: true,
      restartDocument: "stack-RestartServiceDocument-AbC123",
      hostCheckDocument: "stack-HostCredentialCheckDocument-AbC123",
      idempotencyTable: "idem",
      rolloutTable: "rollouts",
      iamMode: "quarantine",
      auditRemediation: "imds+restart",
      auditSummaryParam: "/custom/summary",
      region: "eu-central-1",
      tagKeys: { namespace: "fleet:namespace", service: "fleet:service" },
      timings: {
        executionTimeoutSeconds: 600,
        deliveryTimeoutSeconds: 120,
        deadlineMarginSeconds: 60,
        claimLeaseSeconds: 240,
      },
    });
  });

  it("reads every DCP_ setting the template gives a function, and the template sets every one it reads", () => {
    const set = new Set(
      listFunctions(loadTemplate()).flatMap((id) =>
        Object.keys(functionConfig(id).environment).filter((k) => k.startsWith("DCP_")),
      ),
    );
    const read = CONFIG_VARIABLES.filter((k) => k.startsWith("DCP_"));
    expect([...set].sort()).toEqual([...read].sort());
  });

  it("DCP_DRY_RUN is true only for 'true'", () => {
    expect(loadConfig({ ...NS, DCP_DRY_RUN: "false" }).dryRun).toBe(false);
    expect(loadConfig({ ...NS, DCP_DRY_RUN: "" }).dryRun).toBe(false);
    expect(loadConfig({ ...NS, DCP_DRY_RUN: "true" }).dryRun).toBe(true);
  });

  it("empty optional names fall back to the defaults", () => {
    const c = loadConfig({ ...NS, DCP_MANIFEST_PARAM: "", DCP_AUDIT_SUMMARY_PARAM: "", DCP_ROLLOUT_TABLE: "" });
    expect(c.manifestParam).toBe("/voiceai/prod/control-plane/manifest");
    expect(c.auditSummaryParam).toBe("/voiceai/prod/control-plane/audit/summary");
    expect(c).not.toHaveProperty("rolloutTable");
  });

  it("fails loudly at cold start on a bad value, naming the variable", () => {
    expect(() => loadConfig({})).toThrow(/configuration error: DCP_NAMESPACE/);
    expect(() => loadConfig({ DCP_NAMESPACE: "VoiceAI" })).toThrow(/DCP_NAMESPACE/);
    // a typo must not silently mean "not a dry run": plan-only was asked for
    expect(() => loadConfig({ ...NS, DCP_DRY_RUN: "yes" })).toThrow(/DCP_DRY_RUN/);
    expect(() => loadConfig({ ...NS, DCP_DRY_RUN: "TRUE" })).toThrow(/DCP_DRY_RUN/);
    expect(() => loadConfig({ ...NS, DCP_IAM_MODE: "enforce" })).toThrow(/DCP_IAM_MODE/);
    expect(() => loadConfig({ ...NS, DCP_AUDIT_REMEDIATION: "all" })).toThrow(/DCP_AUDIT_REMEDIATION/);
    expect(() => loadConfig({ ...NS, DCP_RESTART_DOCUMENT: "x" })).toThrow(/DCP_RESTART_DOCUMENT/);
  });

  it("an overridden namespace re-derives the default parameters", () => {
    const c = loadConfig({ DCP_NAMESPACE: "voiceai/prod" }, { namespace: "voiceai/staging" });
    expect(c.namespace).toBe("voiceai/staging");
    expect(c.manifestParam).toBe("/voiceai/staging/control-plane/manifest");
    expect(c.auditSummaryParam).toBe("/voiceai/staging/control-plane/audit/summary");
  });

  it("an overridden namespace alone is enough (CLI without DCP_NAMESPACE), and is validated", () => {
    expect(loadConfig({}, { namespace: "voiceai/dev" }).manifestParam).toBe("/voiceai/dev/control-plane/manifest");
    expect(() => loadConfig({}, { namespace: "Voice AI" })).toThrow(/DCP_NAMESPACE/);
  });

  it("an explicit manifest parameter wins over the derived one", () => {
    expect(
      loadConfig({ ...NS, DCP_MANIFEST_PARAM: "/env/manifest" }, { namespace: "voiceai/staging" }).manifestParam,
    ).toBe("/env/manifest");
    expect(loadConfig({ ...NS }, { namespace: "voiceai/staging", manifestParam: "/cli/manifest" }).manifestParam).toBe(
      "/cli/manifest",
    );
  });

  it("other overrides win over the environment", () => {
    const c = loadConfig(
      { ...NS, DCP_DRY_RUN: "false", DCP_IAM_MODE: "report" },
      { dryRun: true, iamMode: "quarantine" },
    );
    expect(c.dryRun).toBe(true);
    expect(c.iamMode).toBe("quarantine");
  });

  it("reads process.env by default", () => {
    const saved = process.env.DCP_NAMESPACE;
    process.env.DCP_NAMESPACE = "voiceai/from-env";
    try {
      expect(loadConfig().namespace).toBe("voiceai/from-env");
    } finally {
      if (saved === undefined) delete process.env.DCP_NAMESPACE;
      else process.env.DCP_NAMESPACE = saved;
    }
  });
});
