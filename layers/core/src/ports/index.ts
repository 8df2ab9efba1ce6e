// Ports: the only way the core talks to AWS. Adapters in ../adapters implement them with SDK v3;
// tests may implement them with plain objects. Nothing here imports the SDK.
import type { EcsService } from "../domain/ecs.ts";
import type { PolicyDocument } from "../domain/iam/policy.ts";
import type { Host, ImdsOptions } from "../domain/model.ts";
import type { Rollout } from "../domain/rollout.ts";
import type { InvocationStatus } from "../domain/ssm.ts";

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
  /** Account-level IMDS defaults for new launches; undefined when the API is unavailable. */
  imdsDefaults(): Promise<Partial<ImdsOptions> | undefined>;
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
}

/** SSM Run Command, restricted to the control plane's own restart document. */
export interface CommandRunner {
  sendRestart(req: RestartRequest): Promise<{ commandId: string }>;
  /** GetCommandInvocation: the host's status and the command's comment (which names our rollout). */
  invocation(commandId: string, instanceId: string): Promise<{ status: InvocationStatus; comment: string } | undefined>;
  /** The comment of a command (ListCommands), for command-level status events. */
  commandComment(commandId: string): Promise<string | undefined>;
}

/** SSM Parameter Store: where the manifest and audit summaries live. */
export interface ParameterStore {
  get(name: string): Promise<string | undefined>;
  put(name: string, value: string, overwrite: boolean): Promise<void>;
}

/** Rollout state (DynamoDB): survives any single Lambda. Writes are conditional on the revision read. */
export interface RolloutStore {
  /** Creates the rollout unless one with the same id exists; false means a duplicate. */
  create(r: Rollout): Promise<boolean>;
  get(rolloutId: string): Promise<Rollout | undefined>;
  /** Saves `r` (rev incremented) if the stored revision is still `r.rev`; false on a concurrent write. */
  save(r: Rollout): Promise<Rollout | undefined>;
  list(limit: number): Promise<Rollout[]>;
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
  /** TagResource on one service (the secret version it now runs). */
  tagService(serviceArn: string, tags: Record<string, string>): Promise<void>;
}

/** Which rollout started an ECS deployment: ECS events name the deployment, not our rollout. */
export interface DeploymentLinks {
  link(deploymentId: string, rolloutId: string): Promise<void>;
  rolloutOf(deploymentId: string): Promise<string | undefined>;
}
