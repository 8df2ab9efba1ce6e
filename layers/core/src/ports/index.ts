// Ports: the only way the core talks to AWS. Adapters in ../adapters implement them with SDK v3;
// tests may implement them with plain objects. Nothing here imports the SDK.

import type { EcsService } from "../domain/ecs.ts";
import type { Hold } from "../domain/gates.ts";
import type { PolicyDocument } from "../domain/iam/policy.ts";
import type { DesiredImds } from "../domain/imds.ts";
import type { AccountImdsDefaults, LaunchTemplateFact } from "../domain/imds-sources.ts";
import type { Host, ImdsOptions } from "../domain/model.ts";
import type { Rollout, RolloutHead, StepRecord, StepRef, Verdict } from "../domain/rollout.ts";
import type { InvocationStatus } from "../domain/ssm.ts";
import type { TrailFacts } from "../domain/trigger-health.ts";

/** EC2: the fleet's hosts. */
export interface FleetInventory {
  /** One DescribeInstances for one id; undefined when EC2 does not know it. */
  describeHost(instanceId: string): Promise<Host | undefined>;
  /**
   * Every host carrying tag `tagKey=namespace`, server-side filtered, MaxResults 1000 per page,
   * states pending/running/stopping/stopped (terminated hosts are not fleet).
   */
  scanNamespace(tagKey: string, namespace: string, onPage?: (hostsSoFar: number) => void): Promise<Host[]>;
  /** ONE ModifyInstanceMetadataOptions carrying every field; returns the state EC2 answered. */
  modifyImds(instanceId: string, desired: Omit<ImdsOptions, "state">): Promise<ImdsOptions>;
  /** CreateTags on up to 1000 instances per call. */
  tagHosts(instanceIds: string[], tags: Record<string, string>): Promise<void>;
  /** Account-level IMDS defaults for new launches (and who manages them); undefined when the API is unavailable. */
  imdsDefaults(): Promise<AccountImdsDefaults | undefined>;
}

/** EC2: the sources new instances take their IMDS options from (account defaults, launch templates, AMIs). */
export interface ImdsSources {
  /** ONE ModifyInstanceMetadataDefaults carrying every field (account-wide, this region). */
  setAccountDefaults(desired: DesiredImds): Promise<void>;
  /** The given templates and those tagged `tagKey=namespace`, each with its default version's MetadataOptions. */
  launchTemplates(ids: string[], tagKey: string, namespace: string): Promise<LaunchTemplateFact[]>;
  /**
   * A new version of the template from the full data of `fromVersion` with `desired` MetadataOptions, made the
   * default; returns the new version number.
   */
  fixLaunchTemplate(templateId: string, fromVersion: number, desired: DesiredImds): Promise<number>;
  /** `ImdsSupport` per AMI (undefined when unset); AMIs EC2 no longer knows are absent. */
  imageImdsSupport(imageIds: string[]): Promise<Map<string, string | undefined>>;
}

/** CloudWatch: IMDSv1 use per instance (`AWS/EC2 MetadataNoToken`). */
export interface ImdsUsage {
  /** Sum of MetadataNoToken per instance over the last `days` days (0 when no datapoint); ≤ 500 metrics per call. */
  noTokenCalls(instanceIds: string[], days: number, now: Date): Promise<Map<string, number>>;
}

/** One host's answer to the host credential check document. */
export interface HostCheckInvocation {
  instanceId: string;
  status: string;
  /** The document's stdout (one JSON line); absent unless the invocation succeeded. */
  output?: string;
}

/** SSM Run Command with the control plane's read-only host credential check document. */
export interface HostChecks {
  /** ONE SendCommand targeting every instance tagged `tagKey=namespace` (SSM paces it: MaxConcurrency/MaxErrors). */
  send(tagKey: string, namespace: string): Promise<{ commandId: string }>;
  /** Every invocation of the command with its output (ListCommandInvocations, Details); undefined if unavailable. */
  results(commandId: string): Promise<HostCheckInvocation[] | undefined>;
}

export type PolicySource = "inline" | "managed" | "aws-managed" | "boundary";

export interface NamedPolicy {
  /** Inline policy name, or managed policy name. */
  name: string;
  /** Managed policies only. */
  arn?: string;
  source: PolicySource;
  document: PolicyDocument;
}

export interface RolePolicies {
  roleName: string;
  roleArn: string;
  /** Identity policies (inline + attached managed). */
  policies: NamedPolicy[];
  boundary?: NamedPolicy;
}

/** IAM: instance profile → role → policies. Implementations memoise per role for one invocation. */
export interface PolicyStore {
  /** Resolves the role of an instance profile by the profile's name (never by list position). */
  roleOfInstanceProfile(instanceProfileArn: string): Promise<{ roleName: string; roleArn: string } | undefined>;
  /** Every policy of a role, decoded. Throws NotFoundError when the role is gone. */
  rolePolicies(roleName: string): Promise<RolePolicies>;
}

export interface SecretDescription {
  arn: string;
  name: string;
  /** Version holding AWSCURRENT. */
  currentVersionId?: string;
  /** Last change of the secret (value or metadata): at or after the current version's creation. */
  lastChangedDate?: string;
  deletedDate?: string;
  /** The AWS service that manages the secret (e.g. `rds` for an RDS master user secret); absent for our own. */
  owningService?: string;
}

/** Secrets Manager: metadata only. There is deliberately no way to read a value through this port. */
export interface SecretCatalog {
  /** DescribeSecret; undefined when the secret does not exist. */
  describe(secretId: string): Promise<SecretDescription | undefined>;
  /**
   * Many secrets at once (ListSecrets filtered by name prefix: one call per 100 secrets instead of one per
   * secret), keyed by the ids given; undefined for an id that matches no secret.
   */
  describeMany(secretIds: string[]): Promise<Map<string, SecretDescription | undefined>>;
}

export type { InvocationStatus } from "../domain/ssm.ts";

export interface RestartRequest {
  documentName: string;
  service: string;
  instanceIds: string[];
  maxConcurrency: string;
  maxErrors: string;
  comment: string;
  /** SendCommand AlarmConfiguration: SSM stops the command when this CloudWatch alarm fires (exactly one). */
  alarm?: string;
}

/** SendCommand refused the batch because SSM does not consider one of its instances registered and online. */
export class InvalidInstanceIdError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "InvalidInstanceIdError";
  }
}

/** SSM Run Command, restricted to the control plane's own restart document. */
export interface CommandRunner {
  /** SendCommand (≤ 50 ids); throws InvalidInstanceIdError when SSM refuses the batch for an unregistered instance. */
  sendRestart(req: RestartRequest): Promise<{ commandId: string }>;
  /** GetCommandInvocation: the host's status and the command's comment (which names our rollout). */
  invocation(commandId: string, instanceId: string): Promise<{ status: InvocationStatus; comment: string } | undefined>;
  /** The comment of a command (ListCommands), for command-level status events. */
  commandComment(commandId: string): Promise<string | undefined>;
  /**
   * Every invocation of one command, by instance id: ListCommandInvocations (50 per page); where the API is missing
   * (the local emulator), GetCommandInvocation for each of `instanceIds`. Hosts without an invocation are absent.
   */
  invocations(commandId: string, instanceIds: string[]): Promise<Map<string, InvocationStatus>>;
  /**
   * The ids of our document's commands that target `instanceId` with exactly this comment (ListCommands filtered by
   * instance): the check before an unattended re-send.
   */
  commandsWithComment(instanceId: string, documentName: string, comment: string): Promise<string[]>;
}

/** ECS: a new deployment of one service (CONTRACT-consumers.md): the part of EcsDeployments the engine sends with. */
export type EcsDispatch = Pick<EcsDeployments, "forceNewDeployment">;

/** SSM Parameter Store: where the manifest and audit summaries live. */
export interface ParameterStore {
  get(name: string): Promise<string | undefined>;
  put(name: string, value: string, overwrite: boolean): Promise<void>;
}

/**
 * Rollout state (DynamoDB), one small item per rollout (the head), one per step (≤ 50 targets), and a running-set
 * item. Every write is conditional on the item's own key and state, so concurrent deliveries never retry each other.
 */
export interface RolloutStore {
  /** Writes the steps (each only if absent), then the head (only if absent) and adds it to the running set. */
  create(head: RolloutHead, steps: StepRecord[]): Promise<boolean>;
  head(rolloutId: string): Promise<RolloutHead | undefined>;
  /** The step records, by index (BatchGetItem, 100 keys per call). */
  steps(rolloutId: string, indices: number[]): Promise<StepRecord[]>;
  /** Head and every step, for operators. */
  get(rolloutId: string): Promise<Rollout | undefined>;
  /** planned → claimed (or an expired claim `claimedAt` → a new one); the claimed step, or undefined if another won. */
  claimStep(rolloutId: string, index: number, now: string, expiredClaimAt?: string): Promise<StepRecord | undefined>;
  /** claimed → sent with the commands that carry it; false if the claim was lost. */
  markSent(rolloutId: string, index: number, attempt: number, commandIds: string[], now: string): Promise<boolean>;
  /** claimed → planned (nothing was sent). */
  releaseStep(rolloutId: string, index: number, attempt: number): Promise<void>;
  /**
   * Records one target's outcome in its step, once per attempt: the step after the write, `applied` false when the
   * target already had an outcome this attempt (a duplicate) or the attempt is not the step's.
   */
  recordOutcome(
    ref: StepRef,
    targetId: string,
    verdict: Verdict,
    why: string,
  ): Promise<{ applied: boolean; step: StepRecord | undefined }>;
  /** Sets `closed` (and `closedAt`) once per attempt; true for the one caller that did. */
  closeStep(rolloutId: string, index: number, attempt: number, now: string): Promise<boolean>;
  markTagged(rolloutId: string, index: number): Promise<void>;
  /** ADD n to the wave's done counter; the head after the write. */
  addDone(rolloutId: string, waveIndex: number, n: number): Promise<RolloutHead>;
  /** SET the wave's done counter to a recount, if it still holds `expected`. */
  setDone(rolloutId: string, waveIndex: number, expected: number, value: number): Promise<boolean>;
  /** current = to (held by `hold` when given, in the same write), if current = from and the rollout runs. */
  advance(rolloutId: string, from: number, to: number, now: string, hold?: Hold): Promise<boolean>;
  /** Sets (or updates) the current wave's hold, if the rollout runs that wave and any hold it has is this one. */
  setHold(rolloutId: string, hold: Hold, now: string): Promise<boolean>;
  /** Removes the hold, if it is still this one; true for the one caller that released it (it dispatches). */
  release(rolloutId: string, hold: Hold, now: string): Promise<boolean>;
  /** running → succeeded (and out of the running set), if current = waveIndex. */
  succeed(rolloutId: string, waveIndex: number, now: string): Promise<boolean>;
  /** running → halted with a reason; true for the one caller that halted it. */
  halt(rolloutId: string, reason: string, now: string): Promise<boolean>;
  /**
   * Operator resume of a halted rollout: the current wave's failed targets get a new attempt of their step (done
   * counters lowered by them), the rollout runs again and rejoins the running set.
   */
  resume(head: RolloutHead, steps: StepRecord[], now: string): Promise<boolean>;
  /** Rollouts with work the reconciler may have to finish (running, or halted with commands still out). */
  openRollouts(): Promise<string[]>;
  /** Leaves the running set (a halted rollout whose commands all reported). */
  forget(rolloutId: string): Promise<void>;
  /** Operator listing (CLI): newest first. */
  list(limit: number): Promise<RolloutHead[]>;
}

/**
 * SSM fleet manager: which instances run a reachable SSM agent. PingStatus is Online, ConnectionLost or Inactive;
 * undefined answers mean the API is unavailable (e.g. the local emulator).
 */
export interface ManagedInstances {
  /** PingStatus of those of the given ids SSM knows (absent = never registered): ⌈ids/50⌉ calls. */
  pingStatus(instanceIds: string[]): Promise<Map<string, string> | undefined>;
  /** Every registered node whose agent is not reachable (ConnectionLost, Inactive): ⌈such nodes/50⌉ calls, at least 1. */
  unreachable(): Promise<Map<string, string> | undefined>;
}

/**
 * At-most-once execution per business fact (the instance and state of a launch, the secret and version of a rotation):
 * concurrent and repeated deliveries of one fact run `work` once; the others get the first run's result back with
 * `duplicate: true`. A run that throws leaves no record, so a retry runs again. The key's fields are the fact itself
 * (hashed whole), never an event id: every event that states the same fact agrees.
 */
export interface Idempotency {
  once<T>(key: Record<string, string>, work: () => Promise<T>): Promise<{ result: T; duplicate: boolean }>;
}

/** What the rollout gates are judged on (domain/gates.ts): CloudWatch alarm states and an SSM Change Calendar. */
export interface GateSignals {
  /** DescribeAlarms by name (≤ 100 names per call): StateValue per alarm that exists; missing ones are absent. */
  alarmStates(names: string[]): Promise<Map<string, string>>;
  /** GetCalendarState now: OPEN or CLOSED, and when it next changes. */
  calendarState(calendar: string): Promise<{ state: string; nextTransition?: string }>;
}

/** CloudTrail: the trails that could deliver API-call events to this region (domain/trigger-health.ts). */
export interface TrailCatalog {
  /**
   * DescribeTrails (shadow trails included: multi-region and organization trails of other home regions), then
   * GetTrailStatus and GetEventSelectors per trail; a trail whose details are refused keeps a `problem`. Listing
   * refused or failed: `{ unavailable }`, never a throw (trigger health must not cost the rest of the audit).
   */
  trails(): Promise<TrailFacts>;
}

/**
 * A one-time wake-up of the reconciler for one rollout at `at` (ISO time): ends a short wait (bake, coalescing window)
 * on time instead of at the next scheduled reconcile. Best effort: the reconciler ends any overdue wait anyway.
 */
export interface Wakeups {
  wakeAt(rolloutId: string, at: string): Promise<void>;
}

/** What ECS says about one deployment of a service (DescribeServices). */
export interface EcsDeploymentState {
  /**
   * `IN_PROGRESS` / `COMPLETED` / `FAILED`: the deployment's rolloutState; `superseded`: gone from the service, and a
   * later deployment (which reads the secret afresh too) has completed; `gone`: neither the deployment nor a later
   * completed one is there (e.g. rolled back); `service-missing`: the service no longer exists.
   */
  state: "IN_PROGRESS" | "COMPLETED" | "FAILED" | "superseded" | "gone" | "service-missing";
  reason?: string;
}

/** ECS services of the fleet: read-only discovery. */
export interface EcsInventory {
  /**
   * Every ACTIVE service carrying tag `tagKey=namespace`, with its current task definition's `secrets[]` (names and
   * valueFrom only). ListClusters → ListServices → DescribeServices (≤ 10 per call, tags included) →
   * DescribeTaskDefinition once per distinct task definition. Memoised per adapter instance (one invocation).
   */
  scanNamespace(tagKey: string, namespace: string): Promise<EcsService[]>;
}

/** ECS deployments: the contract's dispatcher port (CONTRACT-consumers.md). */
export interface EcsDeployments {
  /** UpdateService(forceNewDeployment): the PRIMARY deployment ECS answers is the one we started. */
  forceNewDeployment(clusterArn: string, serviceArn: string): Promise<{ deploymentId: string }>;
  deploymentState(clusterArn: string, serviceArn: string, deploymentId: string): Promise<EcsDeploymentState>;
  /**
   * The deployments ECS lists on the service that it created at or after `since` (ISO; compared in whole seconds, the
   * precision ECS's createdAt is trusted to), oldest first. A claim that crashed after UpdateService shows here.
   */
  deploymentsSince(clusterArn: string, serviceArn: string, since: string): Promise<string[]>;
  /** TagResource on one service (the secret version it now runs). */
  tagService(serviceArn: string, tags: Record<string, string>): Promise<void>;
}

/** Which rollout step (and attempt) started an ECS deployment: ECS events name the deployment, not our rollout. */
export interface DeploymentLinks {
  link(deploymentId: string, ref: { rolloutId: string; step: number; attempt: number }): Promise<void>;
  stepOf(deploymentId: string): Promise<{ rolloutId: string; step: number; attempt: number } | undefined>;
}
