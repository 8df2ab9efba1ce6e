// Malformed and hostile inputs for the five handlers. Every entry names its handler, the event (an object, or the
// raw JSON text EventBridge would deliver when keys are duplicated) and the outcome an operator should see:
// `rejected` (schema/origin: recorded with a reason, never retried), `ignored` (valid shape, nothing to do),
// `flagged` (a launch guarded with findings and no change), or `throws` (EventBridge retries).

export type HandlerName =
  | "instance-launch"
  | "secret-rotation"
  | "restart-tracker"
  | "ecs-deployment-tracker"
  | "drift-audit";

export type Expected =
  | { outcome: "rejected" | "ignored" | "flagged"; reason: RegExp }
  | { outcome: "throws"; error: RegExp };

export interface CorpusEntry {
  name: string;
  handler: HandlerName;
  /** The event as the handler receives it; `raw` entries are JSON text parsed the way Lambda's runtime does. */
  event: unknown;
  raw?: string;
  expect: Expected;
}

/** Facts about the seeded fleet the corpus refers to. */
export interface CorpusContext {
  account: string;
  region: string;
  namespace: string;
  documentName: string;
  /** A real bundle secret of the fleet (ARN). */
  fleetSecretArn: string;
  /** Hosts of the namespace whose Service tag is hostile, by label. */
  hostileHosts: { semicolon: string; newline: string; subshell: string };
}

export const KB100 = "A".repeat(100 * 1024);
const ZWSP = "\u200b";
const RLO = "\u202e";
const OTHER_ACCOUNT = "210987654321";
const OTHER_REGION = "us-east-1";
const UNKNOWN_INSTANCE = "i-0fedcba9876543210";
const UNKNOWN_COMMAND = "0b0e7f3c-1111-4222-8333-944455556666";
const VERSION = "c4d5e6f7-0a1b-4c2d-9e3f-4a5b6c7d8e9f";

export function hostileCorpus(ctx: CorpusContext): CorpusEntry[] {
  const envelope = (source: string, detailType: string, detail: unknown, extra: Record<string, unknown> = {}) => ({
    version: "0",
    id: "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
    "detail-type": detailType,
    source,
    account: ctx.account,
    time: "2025-11-20T10:02:11Z",
    region: ctx.region,
    resources: [],
    detail,
    ...extra,
  });
  const launch = (detail: unknown, extra?: Record<string, unknown>) =>
    envelope("aws.ec2", "EC2 Instance State-change Notification", detail, extra);
  const label = (detail: Record<string, unknown>, resources: string[] = [], extra?: Record<string, unknown>) =>
    envelope("aws.secretsmanager", "Secret Label Updated", detail, { resources, ...extra });
  const apiCall = (eventName: string, requestParameters: unknown, more: Record<string, unknown> = {}) =>
    envelope("aws.secretsmanager", "AWS API Call via CloudTrail", {
      eventSource: "secretsmanager.amazonaws.com",
      eventName,
      requestParameters,
      responseElements: null,
      ...more,
    });
  const serviceEvent = (eventName: string, secretId: unknown) =>
    envelope("aws.secretsmanager", "AWS Service Event via CloudTrail", {
      eventSource: "secretsmanager.amazonaws.com",
      eventName,
      additionalEventData: { SecretId: secretId },
    });
  const ssm = (detail: Record<string, unknown>, extra?: Record<string, unknown>) =>
    envelope("aws.ssm", "EC2 Command Invocation Status-change Notification", detail, extra);
  const ssmCommand = (detail: Record<string, unknown>) =>
    envelope("aws.ssm", "EC2 Command Status-change Notification", detail);
  const ns = ctx.namespace;

  const notLaunch = /^not an EC2 state-change event: /;
  const notSecret = /^not a Secrets Manager event: /;
  const notSsm = /^not an SSM command status event: /;
  const notAudit = /^not an audit request: /;
  const outside = /outside fleet/;

  const il = (name: string, event: unknown, expect: Expected): CorpusEntry => ({
    name,
    handler: "instance-launch",
    event,
    expect,
  });
  const sr = (name: string, event: unknown, expect: Expected): CorpusEntry => ({
    name,
    handler: "secret-rotation",
    event,
    expect,
  });
  const rt = (name: string, event: unknown, expect: Expected): CorpusEntry => ({
    name,
    handler: "restart-tracker",
    event,
    expect,
  });
  const et = (name: string, event: unknown, expect: Expected): CorpusEntry => ({
    name,
    handler: "ecs-deployment-tracker",
    event,
    expect,
  });
  const serviceArn = `arn:aws:ecs:${ctx.region}:${ctx.account}:service/${ns.replace("/", "-")}/voice`;
  const ecsEvent = (
    detail: Record<string, unknown>,
    resources: unknown = [serviceArn],
    extra?: Record<string, unknown>,
  ) => envelope("aws.ecs", "ECS Deployment State Change", detail, { resources, ...extra });
  const completed = { eventType: "INFO", eventName: "SERVICE_DEPLOYMENT_COMPLETED", deploymentId: "ecs-svc/123" };
  const notEcs = /^not an ECS deployment state change: /;
  const da = (name: string, event: unknown, expect: Expected): CorpusEntry => ({
    name,
    handler: "drift-audit",
    event,
    expect,
  });
  const rejected = (reason: RegExp): Expected => ({ outcome: "rejected", reason });
  const ignored = (reason: RegExp): Expected => ({ outcome: "ignored", reason });
  const raw = (entry: CorpusEntry, text: string): CorpusEntry => ({ ...entry, raw: text, event: JSON.parse(text) });

  const launchText = (detailJson: string, envelopeExtra = "") =>
    `{"version":"0","id":"x","detail-type":"EC2 Instance State-change Notification","source":"aws.ec2",` +
    `"account":"${ctx.account}","time":"2025-11-20T10:02:11Z","region":"${ctx.region}",${envelopeExtra}` +
    `"resources":[],"detail":${detailJson}}`;

  return [
    // ── instance-launch: not events at all ──────────────────────────────────────────────────────────────
    il("null event", null, rejected(notLaunch)),
    il("array event", [launch({ "instance-id": UNKNOWN_INSTANCE, state: "pending" })], rejected(notLaunch)),
    il("number event", 42, rejected(notLaunch)),
    il("string event", "; rm -rf /", rejected(notLaunch)),
    il("empty object", {}, rejected(/version: .*id: .*source: /)),
    // ── wrong envelope ──────────────────────────────────────────────────────────────────────────────────
    il("missing detail", { ...launch(undefined), detail: undefined }, rejected(/detail: /)),
    il(
      "other source",
      { ...launch({ "instance-id": UNKNOWN_INSTANCE, state: "pending" }), source: "custom.ec2" },
      rejected(/source: /),
    ),
    il(
      "other detail-type",
      {
        ...launch({ "instance-id": UNKNOWN_INSTANCE, state: "pending" }),
        "detail-type": "EC2 Spot Instance Interruption Warning",
      },
      rejected(/detail-type: /),
    ),
    il(
      "time is not a date",
      launch({ "instance-id": UNKNOWN_INSTANCE, state: "pending" }, { time: "$(date)" }),
      rejected(/time: /),
    ),
    il(
      "resources is a string",
      launch({ "instance-id": UNKNOWN_INSTANCE, state: "pending" }, { resources: "*" }),
      rejected(/resources: /),
    ),
    il(
      "account is a number",
      launch({ "instance-id": UNKNOWN_INSTANCE, state: "pending" }, { account: 123456789012 }),
      rejected(/account: /),
    ),
    // ── instance ids that are not ids ───────────────────────────────────────────────────────────────────
    il(
      "instance id with subshell",
      launch({ "instance-id": "i-$(reboot)", state: "pending" }),
      rejected(/detail\.instance-id: /),
    ),
    il(
      "instance id with shell chain",
      launch({ "instance-id": "i-0123456789abcdef0; rm -rf /", state: "pending" }),
      rejected(/detail\.instance-id: /),
    ),
    il(
      "instance id with backticks",
      launch({ "instance-id": "i-`reboot`", state: "running" }),
      rejected(/detail\.instance-id: /),
    ),
    il(
      "instance id path traversal",
      launch({ "instance-id": "../../etc/passwd", state: "pending" }),
      rejected(/detail\.instance-id: /),
    ),
    il(
      "instance id 100 KB",
      launch({ "instance-id": `i-${KB100}`, state: "pending" }),
      rejected(/detail\.instance-id: /),
    ),
    il(
      "instance id is a number",
      launch({ "instance-id": 1234567890, state: "pending" }),
      rejected(/detail\.instance-id: /),
    ),
    il(
      "instance id is an array",
      launch({ "instance-id": [UNKNOWN_INSTANCE], state: "pending" }),
      rejected(/detail\.instance-id: /),
    ),
    il(
      "instance id with zero-width space",
      launch({ "instance-id": `i-0123${ZWSP}456789abcdef0`, state: "pending" }),
      rejected(/detail\.instance-id: /),
    ),
    il(
      "instance id with Cyrillic і homoglyph",
      launch({ "instance-id": "\u0456-0123456789abcdef0", state: "pending" }),
      rejected(/detail\.instance-id: /),
    ),
    il(
      "instance id with trailing newline",
      launch({ "instance-id": `${UNKNOWN_INSTANCE}\n`, state: "pending" }),
      rejected(/detail\.instance-id: /),
    ),
    il(
      "state with newline",
      launch({ "instance-id": UNKNOWN_INSTANCE, state: "running\n" }),
      rejected(/detail\.state: /),
    ),
    il(
      "state that is not a launch",
      launch({ "instance-id": UNKNOWN_INSTANCE, state: "stopped" }),
      rejected(/state stopped is not a launch/),
    ),
    // ── someone else's event ────────────────────────────────────────────────────────────────────────────
    il(
      "other account",
      launch({ "instance-id": UNKNOWN_INSTANCE, state: "pending" }, { account: OTHER_ACCOUNT }),
      rejected(new RegExp(`account ${OTHER_ACCOUNT}`)),
    ),
    il(
      "other region",
      launch({ "instance-id": UNKNOWN_INSTANCE, state: "pending" }, { region: OTHER_REGION }),
      rejected(new RegExp(`region ${OTHER_REGION}`)),
    ),
    il(
      "region 100 KB",
      launch({ "instance-id": UNKNOWN_INSTANCE, state: "pending" }, { region: KB100 }),
      rejected(/^event is for region "A{64}…\(102400 chars\)", this control plane runs in /),
    ),
    il(
      "region with RTL override and newline",
      launch(
        { "instance-id": UNKNOWN_INSTANCE, state: "pending" },
        { region: `${RLO}1-lartnec-ue\nINFO forged log line` },
      ),
      rejected(/^event is for region "\\u\{202e\}1-lartnec-ue\\u\{a\}INFO forged log line"/),
    ),
    // ── duplicated keys (raw JSON: the last one wins, as in JSON.parse) ─────────────────────────────────
    raw(
      il("duplicated instance-id, hostile last", null, rejected(/detail\.instance-id: /)),
      launchText(`{"instance-id":"${UNKNOWN_INSTANCE}","state":"pending","instance-id":"i-$(reboot)"}`),
    ),
    raw(
      il("duplicated region, foreign last", null, rejected(new RegExp(`region ${OTHER_REGION}`))),
      launchText(`{"instance-id":"${UNKNOWN_INSTANCE}","state":"pending"}`, `"region":"${OTHER_REGION}",`),
    ),
    // ── schema-valid launches that must change nothing ──────────────────────────────────────────────────
    il(
      "instance EC2 does not know",
      launch({ "instance-id": UNKNOWN_INSTANCE, state: "pending" }),
      ignored(/EC2 does not know this instance/),
    ),
    il("host tagged Service='api; rm -rf /'", launch({ "instance-id": ctx.hostileHosts.semicolon, state: "running" }), {
      outcome: "flagged",
      reason: /service 'api; rm -rf \/' is not in the manifest/,
    }),
    il("host tagged Service with a newline", launch({ "instance-id": ctx.hostileHosts.newline, state: "pending" }), {
      outcome: "flagged",
      reason: /service 'api\nreboot' is not in the manifest/,
    }),
    il("host tagged Service='$(reboot)'", launch({ "instance-id": ctx.hostileHosts.subshell, state: "running" }), {
      outcome: "flagged",
      reason: /service '\$\(reboot\)' is not in the manifest/,
    }),

    // ── secret-rotation ─────────────────────────────────────────────────────────────────────────────────
    sr("null event", null, rejected(notSecret)),
    sr("array event", [], rejected(notSecret)),
    sr(
      "SSM source with a secrets detail",
      { ...label({ labelUpdated: "AWSCURRENT" }, [ctx.fleetSecretArn]), source: "aws.ssm" },
      rejected(/source: /),
    ),
    sr(
      "unknown detail-type",
      { ...label({ labelUpdated: "AWSCURRENT" }, [ctx.fleetSecretArn]), "detail-type": "Secret Rotation Started" },
      rejected(/detail-type: /),
    ),
    sr(
      "detail is an array",
      { ...label({}, [ctx.fleetSecretArn]), detail: [ctx.fleetSecretArn] },
      rejected(/detail: /),
    ),
    sr(
      "real fleet secret, other account",
      label({ labelUpdated: "AWSCURRENT", versionId: VERSION }, [ctx.fleetSecretArn], { account: OTHER_ACCOUNT }),
      rejected(new RegExp(`account ${OTHER_ACCOUNT}`)),
    ),
    sr(
      "real fleet secret, other region",
      label({ labelUpdated: "AWSCURRENT", versionId: VERSION }, [ctx.fleetSecretArn], { region: OTHER_REGION }),
      rejected(new RegExp(`region ${OTHER_REGION}`)),
    ),
    sr(
      "same-named secret in another account",
      label({ labelUpdated: "AWSCURRENT", versionId: VERSION }, [
        `arn:aws:secretsmanager:${ctx.region}:${OTHER_ACCOUNT}:secret:${ns}/api/secrets-AbCdEf`,
      ]),
      ignored(/does not exist|another account/),
    ),
    sr(
      "secret id with path traversal",
      label({ labelUpdated: "AWSCURRENT" }, [`${ns}/api/../../../etc/secrets`]),
      ignored(outside),
    ),
    sr(
      "secret id climbing out of the namespace",
      serviceEvent("RotationSucceeded", `${ns}/../other/api/secrets`),
      ignored(outside),
    ),
    sr("secret id with a subshell", label({ name: "$(reboot)", labelUpdated: "AWSCURRENT" }), ignored(outside)),
    sr(
      "secret id with shell chain in the service part",
      apiCall("PutSecretValue", { secretId: `${ns}/api; rm -rf //secrets` }),
      ignored(outside),
    ),
    sr(
      "secret id with RTL override",
      label({ labelUpdated: "AWSCURRENT" }, [`${ns}/${RLO}ipa/secrets`]),
      ignored(outside),
    ),
    sr(
      "secret id with zero-width space",
      label({ labelUpdated: "AWSCURRENT" }, [`${ns}/a${ZWSP}pi/secrets`]),
      ignored(outside),
    ),
    sr(
      "secret id 100 KB",
      apiCall("PutSecretValue", { secretId: KB100 }),
      rejected(/malformed detail: requestParameters\.secretId/),
    ),
    sr(
      "secret id is a number",
      apiCall("PutSecretValue", { secretId: 42 }),
      rejected(/malformed detail: requestParameters\.secretId/),
    ),
    sr(
      "label with a newline",
      label({ labelUpdated: "AWSCURRENT\n", versionId: VERSION }, [ctx.fleetSecretArn]),
      ignored(/is not AWSCURRENT/),
    ),
    sr(
      "label with a zero-width space",
      label({ labelUpdated: `AWS${ZWSP}CURRENT`, versionId: VERSION }, [ctx.fleetSecretArn]),
      ignored(/is not AWSCURRENT/),
    ),
    sr(
      "label 100 KB",
      label({ labelUpdated: KB100 }, [ctx.fleetSecretArn]),
      rejected(/malformed detail: labelUpdated/),
    ),
    ...[
      ["clientRequestToken with a backtick", `${VERSION.slice(0, 30)}\`reboot\``],
      ["clientRequestToken with a semicolon", `${VERSION};rm -rf /`],
      ["clientRequestToken with a space", `${VERSION.slice(0, 20)} ${VERSION.slice(0, 20)}`],
      ["clientRequestToken with a newline", `${VERSION}\n`],
      ["clientRequestToken of 31 characters", VERSION.slice(0, 31)],
      ["clientRequestToken of 65 characters", `${VERSION}${VERSION}`.slice(0, 65)],
      ["clientRequestToken with $( )", `${VERSION.slice(0, 28)}$(id)`],
    ].map(([name, token]) =>
      sr(
        name!,
        apiCall("PutSecretValue", { secretId: ctx.fleetSecretArn, clientRequestToken: token }),
        rejected(/malformed detail: requestParameters\.clientRequestToken/),
      ),
    ),
    sr(
      "versionId with a pipe",
      label({ labelUpdated: "AWSCURRENT", versionId: `${VERSION}|x` }, [ctx.fleetSecretArn]),
      rejected(/malformed detail: versionId/),
    ),
    sr(
      "secret id with a control character",
      apiCall("PutSecretValue", { secretId: `${ctx.namespace}/api/secrets\u0007` }),
      rejected(/malformed detail: requestParameters\.secretId/),
    ),
    sr(
      "CloudTrail event from another service",
      apiCall("Decrypt", { secretId: ctx.fleetSecretArn }, { eventSource: "kms.amazonaws.com" }),
      rejected(/malformed detail: eventSource/),
    ),
    sr(
      "a failed call on a fleet secret",
      apiCall("PutSecretValue", { secretId: ctx.fleetSecretArn }, { errorCode: "AccessDenied" }),
      ignored(/the call failed \(AccessDenied\)/),
    ),
    sr(
      "eventName with shell metacharacters",
      apiCall("`reboot`;$(id)", { secretId: ctx.fleetSecretArn }),
      ignored(/does not make a new version current/),
    ),
    raw(
      sr("duplicated labelUpdated, AWSPENDING last", null, ignored(/label AWSPENDING is not AWSCURRENT/)),
      `{"version":"0","id":"x","detail-type":"Secret Label Updated","source":"aws.secretsmanager","account":"${ctx.account}",` +
        `"time":"2025-11-20T10:02:11Z","region":"${ctx.region}","resources":["${ctx.fleetSecretArn}"],` +
        `"detail":{"labelUpdated":"AWSCURRENT","versionId":"${VERSION}","labelUpdated":"AWSPENDING"}}`,
    ),

    // ── restart-tracker ─────────────────────────────────────────────────────────────────────────────────
    rt("null event", null, rejected(notSsm)),
    rt("number event", -1, rejected(notSsm)),
    rt(
      "command id with a subshell",
      ssm({
        "command-id": "$(reboot)",
        "document-name": ctx.documentName,
        "instance-id": UNKNOWN_INSTANCE,
        status: "Success",
      }),
      rejected(/detail\.command-id: /),
    ),
    rt(
      "instance id with backticks",
      ssm({
        "command-id": UNKNOWN_COMMAND,
        "document-name": ctx.documentName,
        "instance-id": "i-`reboot`",
        status: "Success",
      }),
      rejected(/detail\.instance-id: /),
    ),
    rt(
      "document name 100 KB",
      ssm({
        "command-id": UNKNOWN_COMMAND,
        "document-name": KB100,
        "instance-id": UNKNOWN_INSTANCE,
        status: "Success",
      }),
      rejected(/detail\.document-name: /),
    ),
    rt(
      "status 100 KB",
      ssm({
        "command-id": UNKNOWN_COMMAND,
        "document-name": ctx.documentName,
        "instance-id": UNKNOWN_INSTANCE,
        status: KB100,
      }),
      rejected(/detail\.status: /),
    ),
    rt(
      "other account",
      ssm(
        {
          "command-id": UNKNOWN_COMMAND,
          "document-name": ctx.documentName,
          "instance-id": UNKNOWN_INSTANCE,
          status: "Failed",
        },
        { account: OTHER_ACCOUNT },
      ),
      rejected(new RegExp(`account ${OTHER_ACCOUNT}`)),
    ),
    rt(
      "another document",
      ssm({
        "command-id": UNKNOWN_COMMAND,
        "document-name": "AWS-RunShellScript",
        "instance-id": UNKNOWN_INSTANCE,
        status: "Success",
      }),
      ignored(/document AWS-RunShellScript is not the control plane's restart document/),
    ),
    rt(
      "our document name plus a newline",
      ssm({
        "command-id": UNKNOWN_COMMAND,
        "document-name": `${ctx.documentName}\n`,
        "instance-id": UNKNOWN_INSTANCE,
        status: "Success",
      }),
      ignored(/is not the control plane's restart document/),
    ),
    rt(
      "our document, a command SSM never ran",
      ssm({
        "command-id": UNKNOWN_COMMAND,
        "document-name": ctx.documentName,
        "instance-id": UNKNOWN_INSTANCE,
        status: "Failed",
      }),
      ignored(/SSM knows no such invocation/),
    ),
    rt(
      "command-level status that is not final",
      ssmCommand({ "command-id": UNKNOWN_COMMAND, "document-name": ctx.documentName, status: "InProgress" }),
      ignored(/command status InProgress is not final/),
    ),
    rt(
      "command-level Success for a command SSM never ran",
      ssmCommand({ "command-id": UNKNOWN_COMMAND, "document-name": ctx.documentName, status: "Success" }),
      ignored(/not part of a control-plane rollout/),
    ),

    // ── ecs-deployment-tracker ──────────────────────────────────────────────────────────────────────────
    et("empty object", {}, rejected(notEcs)),
    et("an SSM event", ssm({ status: "Success" }), rejected(notEcs)),
    et("service ARN with a shell chain", ecsEvent(completed, [`${serviceArn};reboot`]), rejected(/resources\.0: /)),
    et("service ARN with a newline", ecsEvent(completed, [`${serviceArn}\nforged`]), rejected(/resources\.0: /)),
    et("two services in one event", ecsEvent(completed, [serviceArn, serviceArn]), rejected(/resources: /)),
    et("no service", ecsEvent(completed, []), rejected(/resources: /)),
    et(
      "deployment id with a subshell",
      ecsEvent({ ...completed, deploymentId: "ecs-svc/$(reboot)" }),
      rejected(/deploymentId: /),
    ),
    et(
      "100 KB deployment id",
      ecsEvent({ ...completed, deploymentId: `ecs-svc/${KB100}` }),
      rejected(/deploymentId: /),
    ),
    et("100 KB reason", ecsEvent({ ...completed, reason: KB100 }), rejected(/reason: /)),
    et("unknown event name", ecsEvent({ ...completed, eventName: "SERVICE_DEPLOYMENT_DONE" }), rejected(/eventName: /)),
    et(
      "another account",
      ecsEvent(completed, [serviceArn], { account: OTHER_ACCOUNT }),
      rejected(new RegExp(`account ${OTHER_ACCOUNT}`)),
    ),
    et("not final", ecsEvent({ ...completed, eventName: "SERVICE_DEPLOYMENT_IN_PROGRESS" }), ignored(/not final/)),
    et(
      "a deployment no rollout started",
      ecsEvent({ ...completed, eventName: "SERVICE_DEPLOYMENT_FAILED" }),
      ignored(/no rollout started deployment ecs-svc\/123/),
    ),

    // ── drift-audit ─────────────────────────────────────────────────────────────────────────────────────
    da("array event", [], rejected(notAudit)),
    da("number event", 7, rejected(notAudit)),
    da("string event", "audit", rejected(notAudit)),
    da("action with shell chain", { action: "audit; rm -rf /" }, rejected(/action: /)),
    da("remediation not a mode", { remediation: "all" }, rejected(/remediation: /)),
    da("remediation with newline", { remediation: "imds+restart\n" }, rejected(/remediation: /)),
    da("dryRun as a string", { dryRun: "false" }, rejected(/dryRun: /)),
    da("a plain EventBridge scheduled event", envelope("aws.events", "Scheduled Event", {}), rejected(/source: /)),
  ];
}

/** What an operator reads off a handler's answer: the outcome and its reason. */
export function outcomeOf(result: unknown): { outcome: string; reason: string } {
  const r = (result ?? {}) as Record<string, unknown>;
  if (r.action === "rejected") return { outcome: "rejected", reason: String(r.reason) };
  // secret-rotation
  if (typeof r.action === "string") return { outcome: r.action, reason: String(r.reason ?? "") };
  // restart-tracker, ecs-deployment-tracker
  if (("commandId" in r || "deploymentId" in r) && "recorded" in r)
    return typeof r.ignored === "string"
      ? { outcome: "ignored", reason: r.ignored }
      : { outcome: "tracked", reason: String(r.halted ?? r.rolloutStatus ?? "") };
  // instance-launch
  if (r.status === "skipped" || r.status === "not-visible")
    return { outcome: "ignored", reason: String(r.reason ?? "") };
  if (r.status === "guarded") {
    const imds = r.imds as { changed?: boolean } | undefined;
    const tags = r.tags as Record<string, string> | undefined;
    const changed = Boolean(imds?.changed) || Object.keys(tags ?? {}).length > 0;
    const details = ((r.findings as { detail?: string }[] | undefined) ?? []).map((f) => f.detail ?? "").join("; ");
    return { outcome: changed ? "changed" : "flagged", reason: details };
  }
  return { outcome: "unknown", reason: JSON.stringify(result)?.slice(0, 200) ?? "" };
}
