// SDK v3 clients. Endpoint and region come from the standard environment (AWS_ENDPOINT_URL, AWS_REGION):
// no custom flags. Every @aws-sdk package is `sideEffects: false`, so a handler that imports only `ec2Client`
// bundles only EC2; `createClients()` builds each client lazily on first access.
import { CloudWatchClient } from "@aws-sdk/client-cloudwatch";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { EC2Client } from "@aws-sdk/client-ec2";
import { ECSClient } from "@aws-sdk/client-ecs";
import { IAMClient } from "@aws-sdk/client-iam";
import { SchedulerClient } from "@aws-sdk/client-scheduler";
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { SSMClient } from "@aws-sdk/client-ssm";
import type { AbsoluteLocation, InitializeHandlerOptions, InitializeMiddleware } from "@smithy/types";

/** Counts logical API calls as `"<Service>.<Operation>"` (e.g. `EC2.DescribeInstances`), once per call, not per retry. */
export class ApiCallCounter {
  private readonly counts = new Map<string, number>();

  record(key: string): void {
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }

  count(key: string): number {
    return this.counts.get(key) ?? 0;
  }

  snapshot(): Record<string, number> {
    return Object.fromEntries([...this.counts.entries()].sort(([a], [b]) => a.localeCompare(b)));
  }

  total(): number {
    let n = 0;
    for (const v of this.counts.values()) n += v;
    return n;
  }

  reset(): void {
    this.counts.clear();
  }
}

export interface ClientOptions {
  counter?: ApiCallCounter;
  /** Bounded attempts per call (first try included); default 4. */
  maxAttempts?: number;
}

const SERVICE_LABEL: Record<string, string> = {
  EC2Client: "EC2",
  ECSClient: "ECS",
  IAMClient: "IAM",
  SSMClient: "SSM",
  SecretsManagerClient: "SecretsManager",
  DynamoDBClient: "DynamoDB",
  STSClient: "STS",
  CloudWatchClient: "CloudWatch",
  SchedulerClient: "Scheduler",
};

/** `EC2Client` + `DescribeInstancesCommand` → `EC2.DescribeInstances`. */
export function apiCallName(clientName: string | undefined, commandName: string | undefined): string {
  const service = (clientName && SERVICE_LABEL[clientName]) ?? (clientName ?? "Unknown").replace(/Client$/, "");
  const op = (commandName ?? "Unknown").replace(/Command$/, "");
  return `${service}.${op}`;
}

const COUNTER_MW: InitializeHandlerOptions & AbsoluteLocation & { name: string } = {
  step: "initialize",
  name: "dcpApiCallCounter",
  // First in the stack, so a call short-circuited by a later middleware (test harness) still counts.
  priority: "high",
  override: true,
};

interface HasMiddleware {
  middlewareStack: {
    add(mw: InitializeMiddleware<object, object>, opts: InitializeHandlerOptions & AbsoluteLocation): void;
  };
}

/** Adds the counting middleware to any SDK v3 client (initialize step: once per logical call). */
export function attachCounter<C extends HasMiddleware>(client: C, counter: ApiCallCounter): C {
  const mw: InitializeMiddleware<object, object> = (next, context) => async (args) => {
    counter.record(apiCallName(context.clientName, context.commandName));
    return next(args);
  };
  client.middlewareStack.add(mw, COUNTER_MW);
  return client;
}

const NAMING_MW: InitializeHandlerOptions & AbsoluteLocation & { name: string } = {
  step: "initialize",
  name: "dcpNameFailedCall",
  // Outside the retry loop: runs once, after the last attempt failed.
  priority: "high",
  override: true,
};

/**
 * A call that fails after its retries says which call it was and how often it was tried: a bare "Rate exceeded"
 * or "socket hang up" in a log names neither the service nor the operation. The error keeps its name and
 * `$metadata` (callers branch on `err.name`); only the message gains a `Service.Operation (n attempts): ` prefix.
 */
export function attachCallNaming<C extends HasMiddleware>(client: C): C {
  const mw: InitializeMiddleware<object, object> = (next, context) => async (args) => {
    try {
      return await next(args);
    } catch (err) {
      if (err instanceof Error) {
        const call = apiCallName(context.clientName, context.commandName);
        const attempts = (err as { $metadata?: { attempts?: number } }).$metadata?.attempts;
        if (!err.message.startsWith(call))
          err.message = `${call}${attempts ? ` (${attempts} attempt${attempts === 1 ? "" : "s"})` : ""}: ${err.message}`;
      }
      throw err;
    }
  };
  client.middlewareStack.add(mw, NAMING_MW);
  return client;
}

function config(opts: ClientOptions) {
  return { maxAttempts: opts.maxAttempts ?? 4, retryMode: "adaptive" };
}

function finish<C extends HasMiddleware>(client: C, opts: ClientOptions): C {
  attachCallNaming(client);
  return opts.counter ? attachCounter(client, opts.counter) : client;
}

export const ec2Client = (opts: ClientOptions = {}): EC2Client => finish(new EC2Client(config(opts)), opts);
export const iamClient = (opts: ClientOptions = {}): IAMClient => finish(new IAMClient(config(opts)), opts);
export const ssmClient = (opts: ClientOptions = {}): SSMClient => finish(new SSMClient(config(opts)), opts);
export const secretsClient = (opts: ClientOptions = {}): SecretsManagerClient =>
  finish(new SecretsManagerClient(config(opts)), opts);
export const ecsClient = (opts: ClientOptions = {}): ECSClient => finish(new ECSClient(config(opts)), opts);
export const dynamodbClient = (opts: ClientOptions = {}): DynamoDBClient =>
  finish(new DynamoDBClient(config(opts)), opts);
/**
 * One CloudWatch client serves both readers: the rollout gates (DescribeAlarms) and the IMDS readiness
 * (MetadataNoToken). `createClients` builds it lazily, so a function that never reads CloudWatch never constructs it.
 */
export const cloudwatchClient = (opts: ClientOptions = {}): CloudWatchClient =>
  finish(new CloudWatchClient(config(opts)), opts);

export const schedulerClient = (opts: ClientOptions = {}): SchedulerClient =>
  finish(new SchedulerClient(config(opts)), opts);

export interface AwsClients {
  readonly ec2: EC2Client;
  readonly iam: IAMClient;
  readonly ssm: SSMClient;
  readonly secrets: SecretsManagerClient;
  readonly dynamodb: DynamoDBClient;
  readonly cloudwatch: CloudWatchClient;
  readonly ecs: ECSClient;
}

/** Every client, each constructed on first access only. */
export function createClients(opts: ClientOptions = {}): AwsClients {
  const cache: Partial<{ -readonly [K in keyof AwsClients]: AwsClients[K] }> = {};
  return {
    get ec2() {
      cache.ec2 ??= ec2Client(opts);
      return cache.ec2;
    },
    get iam() {
      cache.iam ??= iamClient(opts);
      return cache.iam;
    },
    get ssm() {
      cache.ssm ??= ssmClient(opts);
      return cache.ssm;
    },
    get secrets() {
      cache.secrets ??= secretsClient(opts);
      return cache.secrets;
    },
    get dynamodb() {
      cache.dynamodb ??= dynamodbClient(opts);
      return cache.dynamodb;
    },
    get cloudwatch() {
      cache.cloudwatch ??= cloudwatchClient(opts);
      return cache.cloudwatch;
    },
    get ecs() {
      cache.ecs ??= ecsClient(opts);
      return cache.ecs;
    },
  };
}
