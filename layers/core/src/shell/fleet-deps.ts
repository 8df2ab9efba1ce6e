// Fleet-wide wiring shared by the functions that touch every port (rotation, audit), the CLI, the bench and the tests.

import { CachedParameterStore } from "../adapters/cached-parameters.ts";
import {
  type ApiCallCounter,
  type AwsClients,
  cloudwatchClient,
  createClients,
  dynamodbClient,
  ec2Client,
  ecsClient,
  schedulerClient,
  ssmClient,
} from "../adapters/clients.ts";
import { cloudTrailTrails } from "../adapters/cloudtrail.ts";
import { CloudWatchImdsUsage } from "../adapters/cloudwatch.ts";
import { DynamoDeploymentLinks } from "../adapters/deployment-links.ts";
import { Ec2FleetInventory, Ec2ImdsSources } from "../adapters/ec2.ts";
import { EcsServiceAdapter } from "../adapters/ecs.ts";
import { AwsGateSignals } from "../adapters/gates.ts";
import { BulkPolicyStore, TargetedPolicyStore } from "../adapters/iam.ts";
import { CoalescingRolloutStore, DynamoRolloutStore } from "../adapters/rollout-store.ts";
import { SecretsManagerCatalog } from "../adapters/secrets.ts";
import { SsmCommandRunner, SsmHostChecks } from "../adapters/ssm.ts";
import { SsmManagedInstances } from "../adapters/ssm-managed.ts";
import { SchedulerWakeups } from "../adapters/wakeups.ts";
import type { AuditDeps } from "../app/audit-fleet.ts";
import type { Config } from "../app/config.ts";
import type { Deps } from "../app/deps.ts";
import { unavailable } from "../app/deps.ts";
import type { ManagedInstances, ParameterStore, RolloutStore } from "../ports/index.ts";

export interface FleetDepsOptions {
  /** Counts every call of every client (the audit's apiCalls). */
  counter?: ApiCallCounter;
  /** Fleet-wide work reads IAM in bulk; one host's guard reads its role only. */
  policies?: "bulk" | "targeted";
  /** Existing clients (e.g. with a test harness attached); created lazily otherwise. */
  clients?: AwsClients;
  params?: ParameterStore;
  /** ECS services as consumers (default on): off for callers that see hosts only. */
  ecs?: boolean;
  /** The rollout store (default: without coalescing batches, as the drift audit wants it). */
  rollouts?: RolloutStore;
}

export type FleetDeps = Deps & { managed: ManagedInstances; clients: AwsClients };

export function fleetDeps(config: Config, opts: FleetDepsOptions = {}): FleetDeps {
  const clients = opts.clients ?? createClients(opts.counter ? { counter: opts.counter } : {});
  const rollouts: RolloutStore =
    opts.rollouts ??
    (config.rolloutTable
      ? new DynamoRolloutStore(clients.dynamodb, config.rolloutTable)
      : unavailable("RolloutStore (no rollout table configured)"));
  return {
    config,
    clients,
    inventory: new Ec2FleetInventory(clients.ec2),
    policies: opts.policies === "targeted" ? new TargetedPolicyStore(clients.iam) : new BulkPolicyStore(clients.iam),
    secrets: new SecretsManagerCatalog(clients.secrets),
    commands: new SsmCommandRunner(clients.ssm, { timeoutSeconds: config.timings.deliveryTimeoutSeconds }),
    rollouts,
    params: opts.params ?? new CachedParameterStore(clients.ssm),
    managed: new SsmManagedInstances(clients.ssm),
    signals: new AwsGateSignals(clients.cloudwatch, clients.ssm),
    now: () => new Date(),
    ...(opts.ecs === false ? {} : ecsDeps(clients, config)),
  };
}

export type FullAuditDeps = FleetDeps & Required<Pick<AuditDeps, "sources" | "usage" | "hostChecks" | "trails">>;

/**
 * The audit's wiring: every fleet port plus the IMDS sources, CloudWatch readiness and the host credential check.
 * Readiness reads CloudWatch through the same (lazily built) client as the rollout gates: `clients.cloudwatch`.
 * Trigger health calls CloudTrail with the SSM client's credentials, region and HTTP handler (adapters/cloudtrail.ts).
 */
export function auditDeps(config: Config, opts: FleetDepsOptions = {}): FullAuditDeps {
  const base = fleetDeps(config, opts);
  return {
    ...base,
    sources: new Ec2ImdsSources(base.clients.ec2),
    usage: new CloudWatchImdsUsage(base.clients.cloudwatch),
    hostChecks: new SsmHostChecks(base.clients.ssm, config.hostCheckDocument),
    trails: cloudTrailTrails(base.clients.ssm, opts.counter),
  };
}

/** The ECS port and the deployment links (on the rollout table) for the functions that dispatch or track ECS targets. */
export function ecsDeps(
  clients: Pick<AwsClients, "ecs" | "dynamodb">,
  config: Config,
): Required<Pick<Deps, "ecs" | "links">> {
  return {
    ecs: new EcsServiceAdapter(clients.ecs),
    links: config.rolloutTable
      ? new DynamoDeploymentLinks(clients.dynamodb, config.rolloutTable)
      : unavailable("DeploymentLinks (no rollout table configured)"),
  };
}

/**
 * One-time wake-ups when the template configured them (EventBridge Scheduler); none otherwise. The functions that hold
 * a rollout set them: the rotation (a first wave's coalescing window), both trackers and the reconciler (bake). The
 * drift audit's bundle stays within budget without the Scheduler client: its catch-up rollouts are not held by time.
 */
export function wakeupsFor(config: Config): Pick<Deps, "wakeups"> {
  return config.wakeup ? { wakeups: new SchedulerWakeups(schedulerClient(), config.wakeup) } : {};
}

/**
 * The rollout engine's adapters (tracker, reconciler): EC2 for version tags, SSM Run Command, the rollout table.
 * Clients are built here once per cold start; the caller narrows them with portsFor.
 */
export function rolloutAdapters(
  config: Config,
): Pick<Deps, "inventory" | "commands" | "rollouts" | "signals" | "wakeups"> & Required<Pick<Deps, "ecs" | "links">> {
  if (!config.rolloutTable) throw new Error("configuration error: DCP_ROLLOUT_TABLE is not set");
  const dynamodb = dynamodbClient();
  const ssm = ssmClient();
  return {
    inventory: new Ec2FleetInventory(ec2Client()),
    commands: new SsmCommandRunner(ssm, { timeoutSeconds: config.timings.deliveryTimeoutSeconds }),
    rollouts: new CoalescingRolloutStore(dynamodb, config.rolloutTable),
    signals: new AwsGateSignals(cloudwatchClient(), ssm),
    ...wakeupsFor(config),
    // ECS targets: the next wave's deployments, their state (events and reconciler), their version tags.
    ...ecsDeps({ ecs: ecsClient(), dynamodb }, config),
  };
}
