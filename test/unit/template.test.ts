// template.yaml as CloudFormation will see it: cfn-lint, the SAM transform, and what the transformed stack grants.
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { FUNCTION_USES } from "#core/adapters/permissions";
import { SERVICE_NAME_PATTERN } from "#core/domain/manifest";
import { API_CALL_TRIGGER } from "#core/domain/trigger-health";
import {
  type CfnTemplate,
  functionConfig,
  loadTemplate,
  type ResolveContext,
  resolveParameters,
  resolveValue,
} from "../../scripts/lib/template.ts";

const ROOT = join(import.meta.dirname, "..", "..");
const TEMPLATE = join(ROOT, "template.yaml");

type Json = Record<string, unknown>;
interface Resource {
  Type: string;
  Properties: Json;
}
interface Statement {
  Sid?: string;
  Effect: string;
  Action: string | string[];
  NotAction?: unknown;
  Resource: unknown;
  Condition?: Record<string, Record<string, unknown>>;
}

function transform(overrides: string[] = []): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync("python3", [join(ROOT, "scripts/sam-transform.py"), TEMPLATE, ...overrides], {
    encoding: "utf8",
    env: { ...process.env, AWS_DEFAULT_REGION: "eu-central-1" },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

let cfn: { Resources: Record<string, Resource> };
let source: CfnTemplate;
const byType = (t: string) => Object.entries(cfn.Resources).filter(([, r]) => r.Type === t);
const getAtt = (v: unknown): string | undefined => {
  const ga = (v as Json | undefined)?.["Fn::GetAtt"];
  return Array.isArray(ga) ? ga.join(".") : undefined;
};

/** Resolves the transformed template's intrinsics with the given parameter values (resources → logical ids). */
function context(overrides: Record<string, string> = {}): ResolveContext {
  const template = { ...source, Resources: cfn.Resources } as unknown as CfnTemplate;
  return {
    template,
    parameters: resolveParameters(source, overrides),
    pseudo: {
      "AWS::Region": "eu-central-1",
      "AWS::AccountId": "123456789012",
      "AWS::Partition": "aws",
      "AWS::StackName": "dcp",
    },
  };
}

/** Every identity-policy statement per function role: SAM's inline Policies plus our AWS::IAM::Policy documents. */
function statementsByRole(ctx: ResolveContext): Map<string, Statement[]> {
  const out = new Map<string, Statement[]>();
  for (const [id, role] of byType("AWS::IAM::Role")) {
    const docs = ((role.Properties["Policies"] as Json[] | undefined) ?? []).map((p) => p["PolicyDocument"]);
    out.set(
      id,
      docs.flatMap((d) => (resolveValue(d, ctx) as { Statement: Statement[] }).Statement),
    );
  }
  for (const [, policy] of byType("AWS::IAM::Policy")) {
    const raw = resolveValue(policy.Properties["PolicyDocument"], ctx);
    const doc = (typeof raw === "string" ? JSON.parse(raw) : raw) as { Statement: Statement[] };
    for (const role of resolveValue(policy.Properties["Roles"], ctx) as string[]) {
      out.set(role, [...(out.get(role) ?? []), ...doc.Statement]);
    }
  }
  return out;
}

const actions = (s: Statement) => (Array.isArray(s.Action) ? s.Action : [s.Action]);
const resources = (s: Statement) => (Array.isArray(s.Resource) ? s.Resource : [s.Resource]) as string[];
const globMatch = (pattern: string, action: string) =>
  new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*")}$`, "i").test(action);

/** Minimal EventBridge matcher: exact values in arrays, nested objects (what our rules use). */
function matches(pattern: unknown, event: unknown): boolean {
  if (Array.isArray(pattern)) return pattern.some((p) => (Array.isArray(event) ? event.includes(p) : p === event));
  if (pattern && typeof pattern === "object") {
    if (!event || typeof event !== "object") return false;
    return Object.entries(pattern).every(([k, p]) => matches(p, (event as Json)[k]));
  }
  return pattern === event;
}

const FUNCTIONS = {
  InstanceLaunchFunction: "instance-launch",
  SecretRotationFunction: "secret-rotation",
  RestartTrackerFunction: "restart-tracker",
  EcsDeploymentTrackerFunction: "ecs-deployment-tracker",
  DriftAuditFunction: "drift-audit",
  RolloutReconcilerFunction: "rollout-reconciler",
} as const;

beforeAll(() => {
  const r = transform();
  if (r.status !== 0) throw new Error(`sam-transform failed: ${r.stderr}`);
  cfn = JSON.parse(r.stdout);
  source = loadTemplate(TEMPLATE);
}, 60_000);

describe("template.yaml validity", () => {
  it("passes cfn-lint with exit 0", () => {
    const r = spawnSync("cfn-lint", [TEMPLATE], { encoding: "utf8" });
    expect(r.stdout + r.stderr).toBe("");
    expect(r.status).toBe(0);
  }, 60_000);

  it("transforms with samtranslator into six arm64 nodejs22.x functions", () => {
    const fns = byType("AWS::Lambda::Function");
    expect(fns.map(([id]) => id).sort()).toEqual(Object.keys(FUNCTIONS).sort());
    for (const [id, fn] of fns) {
      expect(fn.Properties["Runtime"], id).toBe("nodejs22.x");
      expect(fn.Properties["Architectures"], id).toEqual(["arm64"]);
      expect(fn.Properties["Handler"], id).toBe("index.handler");
      expect((fn.Properties["TracingConfig"] as Json)["Mode"], id).toBe("Active");
    }
    expect(cfn.Resources["DriftAuditFunction"]!.Properties["Timeout"]).toBeGreaterThan(60);
  });

  it("a bad parameter override is rejected by the transform input checks", () => {
    expect(() => resolveParameters(source, { ServicesRoot: "/opt/../etc" })).toThrow(/ServicesRoot/);
    expect(() => resolveParameters(source, { ServicesRoot: "/opt/services; rm -rf /" })).toThrow(/ServicesRoot/);
    expect(() => resolveParameters(source, { ServicesRoot: "opt/services" })).toThrow(/ServicesRoot/);
    expect(() => resolveParameters(source, { Namespace: "VoiceAI/Prod" })).toThrow(/Namespace/);
    expect(resolveParameters(source, { ServicesRoot: "/srv/voice_ai/services" })["ServicesRoot"]).toBe(
      "/srv/voice_ai/services",
    );
  });
});

describe("functions as the invoker and sam build see them", () => {
  it.each(Object.entries(FUNCTIONS))("%s bundles functions/%s/index.ts with its service name", (id, name) => {
    const cfg = functionConfig(id, { templatePath: TEMPLATE });
    expect(cfg.entry).toBe(join(ROOT, "functions", name, "index.ts"));
    expect(cfg.handlerModule).toBe("index"); // esbuild writes index.mjs for the single entry point
    expect(cfg.buildProperties.OutExtension).toEqual([".js=.mjs"]);
    // The SDK travels inside the bundle (measured faster cold init than loading the runtime copy, bench/RESULTS.md);
    // only the credential providers Lambda never reaches stay out.
    expect(cfg.buildProperties.External).not.toContain("@aws-sdk/*");
    expect(cfg.buildProperties.External?.every((e) => /^@(aws-sdk|smithy)\/credential-provider-/.test(e))).toBe(true);
    expect(cfg.environment["POWERTOOLS_SERVICE_NAME"]).toBe(name);
    expect(cfg.environment["POWERTOOLS_METRICS_NAMESPACE"]).toBe("DelphiControlPlane");
    expect(cfg.environment["DCP_MANIFEST_PARAM"]).toBe("/voiceai/prod/control-plane/manifest");
    expect(cfg.environment["DCP_RESTART_DOCUMENT"]).toBe("RestartServiceDocument");
  });

  it("ManifestParameter overrides the derived manifest path", () => {
    const cfg = functionConfig("SecretRotationFunction", {
      templatePath: TEMPLATE,
      parameterOverrides: { ManifestParameter: "/custom/manifest", Namespace: "voiceai/staging" },
    });
    expect(cfg.environment["DCP_MANIFEST_PARAM"]).toBe("/custom/manifest");
    expect(cfg.environment["DCP_NAMESPACE"]).toBe("voiceai/staging");
  });
});

describe("triggers", () => {
  const rulesOf = (fn: string) =>
    byType("AWS::Events::Rule").filter(([, r]) =>
      (r.Properties["Targets"] as Json[]).some((t) => getAtt(t["Arn"]) === `${fn}.Arn`),
    );
  const sample = (file: string) => JSON.parse(readFileSync(join(ROOT, "events", file), "utf8")) as Json;

  it("every sample event reaches exactly the rule it documents (and filtered variants reach none)", () => {
    const ctx = context();
    const expected: Record<string, string | null> = {
      "instance-launch-pending.json": "InstanceLaunchFunction",
      "instance-launch-running.json": "InstanceLaunchFunction",
      "secret-label-updated-current.json": "SecretRotationFunction",
      "secret-label-updated-pending.json": null,
      "rotation-succeeded.json": "SecretRotationFunction",
      "rotation-started.json": null,
      "rotation-failed.json": null,
      "put-secret-value-current.json": "SecretRotationFunction",
      "put-secret-value-pending.json": "SecretRotationFunction",
      "update-secret-version-stage-current.json": "SecretRotationFunction",
      "update-secret-version-stage-other.json": "SecretRotationFunction",
      "update-secret-value.json": "SecretRotationFunction",
      "update-secret-metadata.json": "SecretRotationFunction",
      "command-status-success.json": "RestartTrackerFunction",
      "command-invocation-success.json": "RestartTrackerFunction",
      "command-invocation-failed.json": "RestartTrackerFunction",
      "ecs-deployment-completed.json": "EcsDeploymentTrackerFunction",
      "ecs-deployment-failed.json": "EcsDeploymentTrackerFunction",
      "ecs-deployment-in-progress.json": null,
    };
    const files = readdirSync(join(ROOT, "events")).filter((f) => f.endsWith(".json") && !f.endsWith("-schedule.json"));
    expect(files.sort()).toEqual(Object.keys(expected).sort());
    for (const file of files) {
      const event = sample(file);
      expect(event["account"], file).toBe("123456789012");
      expect(event["region"], file).toBe("eu-central-1");
      const hits = byType("AWS::Events::Rule")
        .filter(([, r]) => r.Properties["EventPattern"])
        .filter(([, r]) => matches(resolveValue(r.Properties["EventPattern"], ctx), event))
        .map(([, r]) => getAtt((r.Properties["Targets"] as Json[])[0]!["Arn"])!.replace(/\.Arn$/, ""));
      expect(hits, file).toEqual(expected[file] ? [expected[file]] : []);
    }
  });

  it("instance launch fires on pending and running EC2 state changes", () => {
    const [[, rule]] = rulesOf("InstanceLaunchFunction") as [[string, Resource]];
    expect(rule.Properties["EventPattern"]).toEqual({
      source: ["aws.ec2"],
      "detail-type": ["EC2 Instance State-change Notification"],
      detail: { state: ["pending", "running"] },
    });
  });

  it("secret rotation listens to the label event, RotationSucceeded and the three API calls", () => {
    const patterns = rulesOf("SecretRotationFunction").map(([, r]) => r.Properties["EventPattern"] as Json);
    expect(patterns).toHaveLength(3);
    expect(patterns).toContainEqual({
      source: ["aws.secretsmanager"],
      "detail-type": ["Secret Label Updated"],
      detail: { labelUpdated: ["AWSCURRENT"] },
    });
    expect(patterns).toContainEqual({
      source: ["aws.secretsmanager"],
      "detail-type": ["AWS Service Event via CloudTrail"],
      detail: { eventSource: ["secretsmanager.amazonaws.com"], eventName: ["RotationSucceeded"] },
    });
    const api = patterns.find((p) => (p["detail-type"] as string[])[0] === "AWS API Call via CloudTrail");
    expect(api).toBeDefined();
    expect(((api!["detail"] as Json)["eventName"] as string[]).sort()).toEqual([
      "PutSecretValue",
      "UpdateSecret",
      "UpdateSecretVersionStage",
    ]);
    // The audit's trigger health asks CloudTrail about exactly these calls (domain/trigger-health.ts).
    expect((api!["detail"] as Json)["eventSource"]).toEqual([API_CALL_TRIGGER.eventSource]);
    expect(((api!["detail"] as Json)["eventName"] as string[]).sort()).toEqual([...API_CALL_TRIGGER.eventNames].sort());
  });

  it("restart tracker only follows commands of our own document", () => {
    const [[, rule]] = rulesOf("RestartTrackerFunction") as [[string, Resource]];
    const p = rule.Properties["EventPattern"] as Json;
    expect(p["source"]).toEqual(["aws.ssm"]);
    expect((p["detail-type"] as string[]).sort()).toEqual([
      "EC2 Command Invocation Status-change Notification",
      "EC2 Command Status-change Notification",
    ]);
    expect((p["detail"] as Json)["document-name"]).toEqual([{ Ref: "RestartServiceDocument" }]);
  });

  it("the ECS deployment tracker follows final ECS deployment state changes only", () => {
    const [[, rule]] = rulesOf("EcsDeploymentTrackerFunction") as [[string, Resource]];
    expect(rule.Properties["EventPattern"]).toEqual({
      source: ["aws.ecs"],
      "detail-type": ["ECS Deployment State Change"],
      detail: { eventName: ["SERVICE_DEPLOYMENT_COMPLETED", "SERVICE_DEPLOYMENT_FAILED"] },
    });
  });

  it("the reconciler runs every few minutes with the constant input of events/rollout-reconcile-schedule.json", () => {
    const [[, rule]] = rulesOf("RolloutReconcilerFunction") as [[string, Resource]];
    expect(rule.Properties["ScheduleExpression"]).toEqual({ Ref: "ReconcileSchedule" });
    expect((cfn as unknown as { Parameters: Json }).Parameters["ReconcileSchedule"]).toMatchObject({
      Default: "rate(5 minutes)",
    });
    const target = (rule.Properties["Targets"] as Json[])[0]!;
    expect(JSON.parse(target["Input"] as string)).toEqual(sample("rollout-reconcile-schedule.json"));
  });

  it("the audit schedule sends exactly the constant input of events/drift-audit-schedule.json", () => {
    const [[, rule]] = rulesOf("DriftAuditFunction") as [[string, Resource]];
    expect(rule.Properties["ScheduleExpression"]).toEqual({ Ref: "AuditSchedule" });
    const target = (rule.Properties["Targets"] as Json[])[0]!;
    expect(JSON.parse(target["Input"] as string)).toEqual(sample("drift-audit-schedule.json"));
  });

  it("every rule target retries, dead-letters to EventDeadLetterQueue, and the queue admits only our rules", () => {
    const rules = byType("AWS::Events::Rule");
    expect(rules).toHaveLength(8);
    for (const [id, rule] of rules) {
      for (const t of rule.Properties["Targets"] as Json[]) {
        const retry = t["RetryPolicy"] as Json;
        expect(retry["MaximumRetryAttempts"], id).toBeGreaterThan(0);
        expect(retry["MaximumEventAgeInSeconds"], id).toBeGreaterThan(0);
        expect(getAtt((t["DeadLetterConfig"] as Json)["Arn"]), id).toBe("EventDeadLetterQueue.Arn");
      }
    }
    const [[, policy]] = byType("AWS::SQS::QueuePolicy") as [[string, Resource]];
    const [stmt] = (policy.Properties["PolicyDocument"] as { Statement: Json[] }).Statement;
    expect(stmt!["Principal"]).toEqual({ Service: "events.amazonaws.com" });
    expect(stmt!["Action"]).toBe("sqs:SendMessage");
    const sources = ((stmt!["Condition"] as Json)["ArnEquals"] as Json)["aws:SourceArn"] as unknown[];
    expect(sources.map(getAtt).sort()).toEqual(rules.map(([id]) => `${id}.Arn`).sort());
  });

  it("every function sends failed async invocations to FailedInvocationQueue and may write there", () => {
    const configs = byType("AWS::Lambda::EventInvokeConfig");
    const covered = configs.map(([, c]) => (c.Properties["FunctionName"] as Json)["Ref"]).sort();
    expect(covered).toEqual(Object.keys(FUNCTIONS).sort());
    const ctx = context();
    const roles = statementsByRole(ctx);
    for (const [id, c] of configs) {
      expect(c.Properties["MaximumRetryAttempts"], id).toBeTypeOf("number");
      const onFailure = (c.Properties["DestinationConfig"] as Json)["OnFailure"] as Json;
      expect(getAtt(onFailure["Destination"]), id).toBe("FailedInvocationQueue.Arn");
      const fn = (c.Properties["FunctionName"] as Json)["Ref"] as string;
      const canSend = roles
        .get(`${fn}Role`)!
        .some((s) => actions(s).includes("sqs:SendMessage") && resources(s).includes("FailedInvocationQueue.Arn"));
      expect(canSend, fn).toBe(true);
    }
  });
});

describe("one-time wake-ups", () => {
  it("invoke the reconciler by the name it is deployed under; every function that holds rollouts may set them", () => {
    const ctx = context();
    const props = (id: string) => cfn.Resources[id]?.Properties as Json;
    const name = resolveValue(props("RolloutReconcilerFunction")["FunctionName"], ctx);
    expect(name).toBe("dcp-rollout-reconciler");
    const arn = `arn:aws:lambda:eu-central-1:123456789012:function:${name}`;
    const setters = Object.entries(FUNCTION_USES)
      .filter(([, uses]) => (uses as readonly string[]).includes("Wakeups.wakeAt"))
      .map(([fn]) => fn);
    expect(setters.sort()).toEqual([
      "EcsDeploymentTrackerFunction",
      "RestartTrackerFunction",
      "RolloutReconcilerFunction",
      "SecretRotationFunction",
    ]);
    for (const fn of setters) {
      const env = resolveValue((props(fn)["Environment"] as Json)["Variables"], ctx) as Record<string, string>;
      expect(env["DCP_WAKEUP_FUNCTION_ARN"], fn).toBe(arn);
      expect(env["DCP_WAKEUP_GROUP"], fn).toBe("RolloutWakeupGroup");
    }
    // The role Scheduler assumes may invoke that function and nothing else.
    const role = props("RolloutWakeupRole")["Policies"] as { PolicyDocument: { Statement: Statement[] } }[];
    const granted = role.flatMap((p) => (resolveValue(p.PolicyDocument, ctx) as { Statement: Statement[] }).Statement);
    expect(granted.map((st) => [actions(st), resources(st)])).toEqual([[["lambda:InvokeFunction"], [arn]]]);
    // Only the setters' roles carry the wake-up policy.
    const roles = resolveValue(props("RolloutWakeupPolicy")["Roles"], ctx) as string[];
    expect(roles.sort()).toEqual(setters.map((fn) => `${fn}Role`).sort());
  });
});

describe("restart document", () => {
  it("the reconciler's execution timeout is the document's own timeoutSeconds", () => {
    const doc = cfn.Resources["RestartServiceDocument"]!.Properties["Content"] as {
      mainSteps: { inputs: { timeoutSeconds: string } }[];
    };
    const env = functionConfig("RolloutReconcilerFunction").environment;
    expect(env["DCP_EXECUTION_TIMEOUT_SECONDS"]).toBe(doc.mainSteps[0]!.inputs.timeoutSeconds);
  });

  it("accepts only service names the manifest accepts and runs update.sh under ServicesRoot", () => {
    const doc = cfn.Resources["RestartServiceDocument"]!.Properties;
    expect(doc["DocumentType"]).toBe("Command");
    const content = doc["Content"] as Json;
    expect(content["schemaVersion"]).toBe("2.2");
    const service = (content["parameters"] as Json)["Service"] as Json;
    expect(service["type"]).toBe("String");
    expect(service["allowedPattern"]).toBe(SERVICE_NAME_PATTERN.source);

    const ctx = context({ ServicesRoot: "/srv/fleet" });
    const steps = resolveValue(content["mainSteps"], ctx) as Array<{
      action: string;
      inputs: { runCommand: string[] };
    }>;
    expect(steps).toHaveLength(1);
    expect(steps[0]!.action).toBe("aws:runShellScript");
    expect(steps[0]!.inputs.runCommand).toEqual(["cd /srv/fleet/{{Service}} && ./update.sh --restart-only"]);
  });
});

describe("least privilege", () => {
  const READ_ONLY_STAR = new Set([
    "cloudwatch:DescribeAlarms",
    "ec2:DescribeInstances",
    "ec2:GetInstanceMetadataDefaults",
    "ec2:DescribeLaunchTemplates",
    "ec2:DescribeLaunchTemplateVersions",
    "ec2:DescribeImages",
    "cloudwatch:GetMetricData",
    "ssm:ListCommandInvocations",
    "iam:GetAccountAuthorizationDetails",
    "ssm:DescribeInstanceInformation",
    "ssm:GetCalendarState",
    "ssm:GetCommandInvocation",
    "ssm:ListCommandInvocations",
    "ssm:ListCommands",
    "secretsmanager:ListSecrets",
    "cloudtrail:DescribeTrails", // no resource type
    "ecs:ListClusters",
    "ecs:ListServices",
    "ecs:DescribeTaskDefinition",
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
  ]);

  it("no statement allows '*', a service wildcard or anything that matches GetSecretValue", () => {
    for (const [role, statements] of statementsByRole(context())) {
      for (const s of statements) {
        expect(s.NotAction, role).toBeUndefined();
        for (const a of actions(s)) {
          expect(a, role).not.toBe("*");
          expect(a.endsWith(":*"), `${role} ${a}`).toBe(false);
          expect(globMatch(a, "secretsmanager:GetSecretValue"), `${role} ${a}`).toBe(false);
        }
        if (resources(s).includes("*")) {
          for (const a of actions(s)) {
            // The one write on '*': account IMDS defaults have no resource type; only the audit holds it.
            if (a === "ec2:ModifyInstanceMetadataDefaults" && role === "DriftAuditFunctionRole") continue;
            expect(READ_ONLY_STAR.has(a), `${role}: ${a} on *`).toBe(true);
          }
        }
      }
    }
  });

  it.each([
    [{}, "Namespace", "voiceai/prod"],
    [{ NamespaceTagKey: "Env", Namespace: "voiceai/staging" }, "Env", "voiceai/staging"],
  ])("instance writes are scoped to the namespace tag (%o)", (overrides, tagKey, namespace) => {
    const roles = statementsByRole(context(overrides));
    let scoped = 0;
    for (const [role, statements] of roles) {
      for (const s of statements) {
        const writes = actions(s).filter((a) =>
          ["ec2:ModifyInstanceMetadataOptions", "ec2:CreateTags", "ssm:SendCommand"].includes(a),
        );
        if (writes.length === 0) continue;
        const onInstances = resources(s).some((r) => r.includes(":instance/"));
        if (!onInstances) {
          // The only other resources a write may name are our documents (the audit also sends the host check).
          expect(writes, role).toEqual(["ssm:SendCommand"]);
          const docs = ["arn:aws:ssm:eu-central-1:123456789012:document/RestartServiceDocument"];
          if (role === "DriftAuditFunctionRole")
            docs.push("arn:aws:ssm:eu-central-1:123456789012:document/HostCredentialCheckDocument");
          expect(resources(s), role).toHaveLength(1);
          expect(docs, role).toContain(resources(s)[0]);
          continue;
        }
        expect(resources(s), role).toEqual(["arn:aws:ec2:eu-central-1:123456789012:instance/*"]);
        const key = writes.includes("ssm:SendCommand") ? `ssm:resourceTag/${tagKey}` : `aws:ResourceTag/${tagKey}`;
        expect(s.Condition?.["StringEquals"]?.[key], `${role} ${writes}`).toBe(namespace);
        scoped++;
      }
    }
    expect(scoped).toBeGreaterThanOrEqual(5);
  });

  it.each([
    [{}, "Namespace", "voiceai/prod"],
    [{ NamespaceTagKey: "Env", Namespace: "voiceai/staging" }, "Env", "voiceai/staging"],
  ])("ECS writes are scoped to services carrying the namespace tag (%o)", (overrides, tagKey, namespace) => {
    let scoped = 0;
    for (const [role, statements] of statementsByRole(context(overrides)))
      for (const s of statements) {
        if (!actions(s).some((a) => a.startsWith("ecs:") && !/^ecs:(List|Describe)/.test(a))) continue;
        expect(resources(s), role).toEqual(["arn:aws:ecs:eu-central-1:123456789012:service/*"]);
        expect(s.Condition?.["StringEquals"]?.[`aws:ResourceTag/${tagKey}`], role).toBe(namespace);
        scoped++;
      }
    // UpdateService in rotation, both trackers, the reconciler and the audit; TagResource in the ECS tracker and reconciler.
    expect(scoped).toBe(7);
  });

  it("each function gets the writes its job needs and no others", () => {
    const roles = statementsByRole(context());
    const writes = (fn: string) =>
      [
        ...new Set(
          roles
            .get(`${fn}Role`)!
            .flatMap(actions)
            .filter((a) => /:(Modify|Create|Send|Put|Update|Delete)/.test(a) && !a.startsWith("xray:")),
        ),
      ].sort();
    expect(writes("InstanceLaunchFunction")).toEqual([
      "dynamodb:DeleteItem",
      "dynamodb:PutItem",
      "dynamodb:UpdateItem",
      "ec2:CreateTags",
      "ec2:ModifyInstanceMetadataOptions",
      "sqs:SendMessage",
    ]);
    expect(writes("SecretRotationFunction")).not.toContain("ec2:ModifyInstanceMetadataOptions");
    expect(writes("SecretRotationFunction")).toContain("ssm:SendCommand");
    expect(writes("RestartTrackerFunction")).toContain("ec2:CreateTags");
    expect(writes("DriftAuditFunction")).toContain("ssm:PutParameter");
    const put = roles.get("DriftAuditFunctionRole")!.find((s) => actions(s).includes("ssm:PutParameter"))!;
    expect(resources(put)).toEqual([
      "arn:aws:ssm:eu-central-1:123456789012:parameter/voiceai/prod/control-plane/audit/summary",
    ]);
  });
});

describe("blocks repeated per function stay identical where they must", () => {
  // SAM has no Globals for Metadata and IAM has no shared statements across roles: the template repeats them, and
  // these tests keep the copies from drifting apart.
  const fns = Object.keys(FUNCTIONS) as (keyof typeof FUNCTIONS)[];
  const resource = (id: string) => source.Resources[id]!;

  it("every function's esbuild BuildProperties are the same but for its entry point", () => {
    const [first, ...rest] = fns.map((id) => {
      const { BuildMethod, BuildProperties } = resource(id).Metadata as { BuildMethod: string; BuildProperties: Json };
      expect(BuildMethod, id).toBe("esbuild");
      const { EntryPoints, ...shared } = BuildProperties;
      expect(EntryPoints, id).toEqual([`functions/${FUNCTIONS[id]}/index.ts`]);
      return shared;
    });
    for (const [i, other] of rest.entries()) expect(other, fns[i + 1]).toEqual(first);
  });

  it("every tag-scoped policy has the same name, role wiring and namespace condition on the same instance ARNs", () => {
    const statements = new Map<string, { fn: string; s: Statement }[]>();
    for (const fn of fns) {
      const id = `${fn.replace(/Function$/, "")}TagScopedPolicy`;
      expect([(resource(fn) as unknown as { DependsOn: string | string[] }).DependsOn].flat(), fn).toContain(id);
      const props = resource(id).Properties as { PolicyName: string; Roles: unknown; PolicyDocument: Json };
      expect(props.PolicyName).toBe("tag-scoped-instance-writes");
      expect(props.Roles).toEqual([{ Ref: `${fn}Role` }]);
      // The document is a JSON string rendered by Fn::Sub (a condition KEY cannot be an intrinsic): its ${…} sit in strings.
      const doc = JSON.parse(props.PolicyDocument["Fn::Sub"] as string) as { Statement: Statement[] };
      for (const s of doc.Statement) {
        // Instances for EC2/SSM writes, the launch templates for the audit's IMDS source fix (tagged with the namespace
        // too), and the namespace's ECS services for ECS writes.
        const ecs = actions(s).every((a) => a.startsWith("ecs:"));
        const type = ecs
          ? "service"
          : actions(s).every((a) => /LaunchTemplate/.test(a))
            ? "launch-template"
            : "instance";
        const arn = `arn:\${AWS::Partition}:${ecs ? "ecs" : "ec2"}:\${AWS::Region}:\${AWS::AccountId}:`;
        expect(s.Resource, `${id} ${s.Sid}`).toBe(`${arn}${type}/*`);
        const prefix = actions(s).every((a) => a.startsWith("ssm:")) ? "ssm:resourceTag" : "aws:ResourceTag";
        // Tag writes may narrow further to the control plane's own keys; nothing may loosen the namespace condition.
        const { "ForAllValues:StringLike": tagKeys, ...namespaced } = (s.Condition ?? {}) as Record<string, unknown>;
        expect(namespaced, `${id} ${s.Sid}`).toEqual({
          // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation Fn::Sub placeholders, literally
          StringEquals: { [`${prefix}/\${NamespaceTagKey}`]: "${Namespace}" },
        });
        if (tagKeys !== undefined) expect(tagKeys, `${id} ${s.Sid}`).toEqual({ "aws:TagKeys": ["dcp:*"] });
        statements.set(s.Sid!, [...(statements.get(s.Sid!) ?? []), { fn, s }]);
      }
    }
    // One Sid, one statement: a grant repeated for several functions is the same grant in each.
    for (const [sid, copies] of statements)
      for (const c of copies) expect(c.s, `${sid} in ${c.fn}`).toEqual(copies[0]!.s);
    expect(statements.get("SendCommandToNamespaceInstances")?.map((c) => c.fn)).toEqual(
      expect.arrayContaining(["SecretRotationFunction", "RestartTrackerFunction", "DriftAuditFunction"]),
    );
  });

  it("inline statements with the same Sid in several functions grant the same thing", () => {
    const bySid = new Map<string, { fn: string; s: Statement }[]>();
    for (const fn of fns) {
      const policies = (resource(fn).Properties as { Policies: { Statement: Statement[] }[] }).Policies;
      for (const s of policies.flatMap((p) => p.Statement))
        bySid.set(s.Sid!, [...(bySid.get(s.Sid!) ?? []), { fn, s }]);
    }
    const shared = [...bySid].filter(([, copies]) => copies.length > 1);
    expect(shared.map(([sid]) => sid)).toEqual(
      expect.arrayContaining(["ReadManifest", "SendRestartDocument", "RolloutState", "DescribeSecrets"]),
    );
    for (const [sid, copies] of shared) for (const c of copies) expect(c.s, `${sid} in ${c.fn}`).toEqual(copies[0]!.s);
  });
});

describe("state and alarms", () => {
  it("tables use the Powertools idempotency layout and the rollout layout, with PITR and SSE", () => {
    const idem = cfn.Resources["IdempotencyTable"]!.Properties;
    expect(idem["KeySchema"]).toEqual([{ AttributeName: "id", KeyType: "HASH" }]);
    expect(idem["TimeToLiveSpecification"]).toEqual({ AttributeName: "expiration", Enabled: true });
    const roll = cfn.Resources["RolloutTable"]!.Properties;
    expect(roll["KeySchema"]).toEqual([{ AttributeName: "pk", KeyType: "HASH" }]);
    expect(roll["TimeToLiveSpecification"]).toEqual({ AttributeName: "ttl", Enabled: true });
    for (const t of [idem, roll]) {
      expect(t["BillingMode"]).toBe("PAY_PER_REQUEST");
      expect(t["PointInTimeRecoverySpecification"]).toEqual({ PointInTimeRecoveryEnabled: true });
      expect(t["SSESpecification"]).toEqual({ SSEEnabled: true });
    }
  });

  it("alarms watch the queues, every function's errors and throttles, halted rollouts and IAM violations", () => {
    const alarms = byType("AWS::CloudWatch::Alarm").map(([, a]) => a.Properties);
    const watched = (metric: string, dim: string, value: unknown) =>
      alarms.some(
        (a) =>
          a["MetricName"] === metric &&
          (a["Dimensions"] as Json[]).some(
            (d) => d["Name"] === dim && JSON.stringify(d["Value"]) === JSON.stringify(value),
          ),
      );
    for (const q of ["EventDeadLetterQueue", "FailedInvocationQueue"])
      expect(watched("ApproximateNumberOfMessagesVisible", "QueueName", { "Fn::GetAtt": [q, "QueueName"] }), q).toBe(
        true,
      );
    for (const fn of Object.keys(FUNCTIONS)) {
      expect(watched("Errors", "FunctionName", { Ref: fn }), fn).toBe(true);
      expect(watched("Throttles", "FunctionName", { Ref: fn }), fn).toBe(true);
    }
    expect(watched("RolloutHalted", "service", "restart-tracker")).toBe(true);
    expect(watched("RolloutHalted", "service", "ecs-deployment-tracker")).toBe(true);
    expect(watched("IamScopeViolation", "service", "instance-launch")).toBe(true);
    for (const a of alarms) {
      expect(a["Threshold"]).toBe(0);
      expect(a["ComparisonOperator"]).toBe("GreaterThanThreshold");
      expect(a["AlarmActions"]).toHaveLength(1);
    }
  });

  it("the alarm topic exists only without AlarmTopicArn, and uses a key CloudWatch may use", () => {
    const topic = cfn.Resources["AlarmTopic"] as Resource & { Condition?: string };
    expect(topic.Condition).toBe("CreateAlarmTopic");
    expect(topic.Properties["KmsMasterKeyId"]).toEqual({ Ref: "AlarmTopicKey" });
    const key = cfn.Resources["AlarmTopicKey"]!.Properties["KeyPolicy"] as { Statement: Statement[] };
    expect(
      key.Statement.some(
        (s) =>
          JSON.stringify((s as unknown as Json)["Principal"]).includes("cloudwatch.amazonaws.com") &&
          actions(s).includes("kms:Decrypt"),
      ),
    ).toBe(true);
    expect(cfn.Resources["AlarmEmailSubscription"]).toMatchObject({ Condition: "HasAlarmEmail" });
  });
});
