// Seeds a realistic fleet into (local) AWS with the real SDK: roles + instance profiles, hosts, parameters, secrets,
// the manifest parameter and the restart document. Used by integration tests, the demo and the benchmark, so it
// batches what the API allows and runs requests concurrently with a small limit.
import { randomUUID } from "node:crypto";
import { resolve } from "node:path";
import { type EC2Client, type Instance, RunInstancesCommand } from "@aws-sdk/client-ec2";
import {
  CreateClusterCommand,
  CreateServiceCommand,
  type DeploymentControllerType,
  RegisterTaskDefinitionCommand,
} from "@aws-sdk/client-ecs";
import {
  AddRoleToInstanceProfileCommand,
  AttachRolePolicyCommand,
  CreateInstanceProfileCommand,
  CreatePolicyCommand,
  CreateRoleCommand,
  PutRolePermissionsBoundaryCommand,
  PutRolePolicyCommand,
} from "@aws-sdk/client-iam";
import { CreateSecretCommand } from "@aws-sdk/client-secrets-manager";
import { CreateDocumentCommand, PutParameterCommand, type SSMClient } from "@aws-sdk/client-ssm";
import { GetCallerIdentityCommand, STSClient } from "@aws-sdk/client-sts";
import { type AwsClients, createClients } from "#core/adapters/clients";
import { toHost } from "#core/adapters/ec2";
import { mapLimit } from "#core/app/concurrency";
import type { PolicyDocument, PolicyStatement } from "#core/domain/iam/policy";
import { defaultManifestParam, type Grant, type Manifest, validateManifest } from "#core/domain/manifest";
import type { AwsScope, ImdsOptions } from "#core/domain/model";
import { resourceProperties } from "./template.ts";

export interface HostSeed {
  imds?: Partial<ImdsOptions>;
  tags?: Record<string, string>;
  noProfile?: boolean;
  /** Informational only (EC2 sets LaunchTime itself). */
  launchedAt?: string;
}
export interface RoleSeed {
  /** `"correct"`: start from correctRolePolicy (as inline policy `<role>-service`) and add the rest. */
  base?: "correct";
  inline?: Record<string, PolicyDocument>;
  managedArns?: string[];
  boundary?: PolicyDocument;
}
export interface ServiceSeed {
  name: string;
  wave: number;
  hosts: number | HostSeed[];
  /** Default "correct". */
  role?: "correct" | RoleSeed;
  extraGrants?: Grant[];
  /** CloudWatch alarms gating the service's waves (manifest services[].alarms). */
  alarms?: string[];
  readsPerRestart?: number;
}
export interface FleetSpec {
  namespace: string;
  region?: string;
  configBucket?: string;
  services: ServiceSeed[];
  sharedSecret?: { name?: string; bootstrapVar?: string; consumers: string[]; profile?: "fast" | "safe" };
  /** Manifest `restart` fields; the seeded fleet rolls without a coalescing window unless it asks for one. */
  restart?: Record<string, unknown>;
  extraHosts?: { tags: Record<string, string>; imds?: Partial<ImdsOptions> }[];
  /** A marker string placed inside every secret value: tests assert it never shows up anywhere else. */
  canary?: string;
}
export interface SeededHost {
  instanceId: string;
  /** "" for extra hosts without a Service tag. */
  service: string;
  roleName?: string;
  profileArn?: string;
  imds: ImdsOptions;
}
export interface SeededFleet {
  namespace: string;
  region: string;
  account: string;
  manifest: Manifest;
  manifestParam: string;
  hosts: SeededHost[];
  roles: string[];
  /** name → ARN, per-service secrets and the shared secret. */
  secrets: Record<string, string>;
  sharedSecretArn?: string;
  documentName: string;
}

export type SeedClients = Pick<AwsClients, "ec2" | "iam" | "ssm" | "secrets">;

export const RESTART_DOCUMENT_NAME = "dcp-restart-service";
export const DEMO_AMI = "ami-12c6146b";
export const DEFAULT_BOOTSTRAP_VAR = "DB_MASTER_SECRET_ARN";
const COMPLIANT_IMDS: Omit<ImdsOptions, "state"> = { httpTokens: "required", hopLimit: 2, httpEndpoint: "enabled" };
const CONCURRENCY = 16;
const STANDARD_TIER_MAX = 4096;

const TEMPLATE = resolve(import.meta.dirname, "..", "..", "template.yaml");

/**
 * The restart document as the stack creates it: template.yaml's RestartServiceDocument content with the template's
 * parameters resolved (`ServicesRoot`; `{{Service}}` is left for SSM). The one home of the document; the demo and the
 * tests create it from here, so they run what is deployed.
 */
export function restartDocumentContent(parameterOverrides: Record<string, string> = {}): unknown {
  return resourceProperties("RestartServiceDocument", { templatePath: TEMPLATE, parameterOverrides })["Content"];
}

/** Creates the template's restart document under `name` (a document that already exists is kept). */
export async function createRestartDocument(ssm: SSMClient, name: string): Promise<void> {
  try {
    await ssm.send(
      new CreateDocumentCommand({
        Name: name,
        DocumentType: "Command",
        DocumentFormat: "JSON",
        Content: JSON.stringify(restartDocumentContent()),
      }),
    );
  } catch (err) {
    if (!(err instanceof Error && err.name === "DocumentAlreadyExists")) throw err;
  }
}

/** `voiceai/staging` → `voiceai-staging`. */
export function sanitizeNamespace(ns: string): string {
  return ns.replace(/[^a-zA-Z0-9+=,.@-]+/g, "-");
}

export function roleNameFor(namespace: string, service: string): string {
  return `dcp-${sanitizeNamespace(namespace)}-${service}`.slice(0, 64);
}

/** The role a host of `service` should have: seeds doc 000 per-host grants + consumed shared secrets + extraGrants. */
export function correctRolePolicy(m: Manifest, service: string, aws: AwsScope): PolicyDocument {
  const ns = m.namespace;
  const base = (svc: string) => `arn:${aws.partition}:${svc}:${aws.region}:${aws.account}`;
  const spec = m.services.find((s) => s.name === service);
  if (!spec) throw new Error(`service '${service}' is not in the manifest`);
  const statements: PolicyStatement[] = [
    {
      Sid: "OwnParameters",
      Effect: "Allow",
      Action: ["ssm:GetParameter*"],
      Resource: [`${base("ssm")}:parameter/${ns}/${service}/*`],
    },
    // DescribeParameters takes no resource ARN.
    { Sid: "DescribeParameters", Effect: "Allow", Action: ["ssm:DescribeParameters"], Resource: ["*"] },
    {
      Sid: "OwnSecrets",
      Effect: "Allow",
      Action: ["secretsmanager:GetSecretValue"],
      Resource: [`${base("secretsmanager")}:secret:${ns}/${service}/*`],
    },
    { Sid: "EcrLogin", Effect: "Allow", Action: ["ecr:GetAuthorizationToken"], Resource: ["*"] },
    {
      Sid: "EcrPull",
      Effect: "Allow",
      Action: ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
      Resource: (spec.ecrRepositories ?? [`${m.ecrRepositoryPrefix}${service}`]).map(
        (r) => `${base("ecr")}:repository/${r}`,
      ),
    },
    {
      Sid: "ConfigBucket",
      Effect: "Allow",
      Action: ["s3:GetObject"],
      Resource: (spec.configKeys ?? [`${service}/*`]).map((k) => `arn:${aws.partition}:s3:::${m.configBucket}/${k}`),
    },
  ];
  const shared = m.sharedSecrets.filter((s) => s.consumers.includes(service)).map((s) => s.arn);
  if (shared.length)
    statements.push({
      Sid: "SharedSecrets",
      Effect: "Allow",
      Action: ["secretsmanager:GetSecretValue"],
      Resource: shared,
    });
  for (const [i, g] of spec.extraGrants.entries())
    statements.push({ Sid: `ExtraGrant${i}`, Effect: "Allow", Action: [...g.actions], Resource: [...g.resources] });
  return { Version: "2012-10-17", Statement: statements };
}

/** One host to launch: its tags, IMDS settings (every field), instance profile and, optionally, its AZ. */
export interface HostLaunch {
  tags: Record<string, string>;
  imds: Omit<ImdsOptions, "state">;
  profileArn?: string;
  availabilityZone?: string;
}

/**
 * Launches `launches` with one RunInstances each (moto attaches an instance profile only to the first instance of a
 * multi-count launch), at most `concurrency` in flight. IMDS goes in with the launch, every field set, so no
 * follow-up modification is needed. Answers each launch with its instance, in input order.
 */
export async function launchHosts<L extends HostLaunch>(
  ec2: EC2Client,
  launches: readonly L[],
  opts: { concurrency?: number; onLaunched?: (done: number) => void } = {},
): Promise<{ launch: L; instance: Instance }[]> {
  let done = 0;
  return mapLimit(launches, opts.concurrency ?? CONCURRENCY, async (l) => {
    const out = await ec2.send(
      new RunInstancesCommand({
        ImageId: DEMO_AMI,
        InstanceType: "t3.small",
        MinCount: 1,
        MaxCount: 1,
        IamInstanceProfile: l.profileArn ? { Arn: l.profileArn } : undefined,
        Placement: l.availabilityZone ? { AvailabilityZone: l.availabilityZone } : undefined,
        MetadataOptions: {
          HttpTokens: l.imds.httpTokens,
          HttpPutResponseHopLimit: l.imds.hopLimit,
          HttpEndpoint: l.imds.httpEndpoint,
        },
        TagSpecifications: [
          { ResourceType: "instance", Tags: Object.entries(l.tags).map(([Key, Value]) => ({ Key, Value })) },
        ],
      }),
    );
    const inst = out.Instances?.[0];
    if (!inst?.InstanceId) throw new Error("RunInstances answered without an instance");
    opts.onLaunched?.(++done);
    return { launch: l, instance: inst };
  });
}

const ASSUME_EC2 = JSON.stringify({
  Version: "2012-10-17",
  Statement: [{ Effect: "Allow", Principal: { Service: "ec2.amazonaws.com" }, Action: "sts:AssumeRole" }],
});

function imdsOf(partial: Partial<ImdsOptions> | undefined): Omit<ImdsOptions, "state"> {
  return {
    httpTokens: partial?.httpTokens ?? COMPLIANT_IMDS.httpTokens,
    hopLimit: partial?.hopLimit ?? COMPLIANT_IMDS.hopLimit,
    httpEndpoint: partial?.httpEndpoint ?? COMPLIANT_IMDS.httpEndpoint,
  };
}

export async function seedFleet(spec: FleetSpec, clients: SeedClients = createClients()): Promise<SeededFleet> {
  const ns = spec.namespace;
  const region = spec.region ?? process.env.AWS_REGION ?? "eu-central-1";
  const ident = await new STSClient({}).send(new GetCallerIdentityCommand({}));
  const account = ident.Account ?? "123456789012";
  const partition = ident.Arn?.split(":")[1] ?? "aws";
  const aws: AwsScope = { partition, region, account };
  const canary = spec.canary ? { canary: spec.canary } : {};
  const secrets: Record<string, string> = {};

  // 1. The AWS-managed database master secret (its ARN goes into the manifest).
  let sharedSecretArn: string | undefined;
  const bootstrapVar = spec.sharedSecret?.bootstrapVar ?? DEFAULT_BOOTSTRAP_VAR;
  if (spec.sharedSecret) {
    const name = spec.sharedSecret.name ?? `rds!cluster-${randomUUID()}`;
    const out = await clients.secrets.send(
      new CreateSecretCommand({
        Name: name,
        Description: "Master user secret of an RDS cluster (managed by RDS)",
        SecretString: JSON.stringify({ username: "postgres", password: `pw-${randomUUID()}`, ...canary }),
      }),
    );
    sharedSecretArn = out.ARN ?? "";
    secrets[name] = sharedSecretArn;
  }

  const manifest = validateManifest({
    namespace: ns,
    configBucket: spec.configBucket ?? `${sanitizeNamespace(ns)}-config`.toLowerCase(),
    services: spec.services.map((s) => ({
      name: s.name,
      wave: s.wave,
      extraGrants: s.extraGrants ?? [],
      ...(s.alarms ? { alarms: s.alarms } : {}),
      ...(s.readsPerRestart ? { readsPerRestart: s.readsPerRestart } : {}),
    })),
    sharedSecrets:
      spec.sharedSecret && sharedSecretArn
        ? [
            {
              bootstrapVar,
              arn: sharedSecretArn,
              consumers: spec.sharedSecret.consumers,
              ...(spec.sharedSecret.profile ? { profile: spec.sharedSecret.profile } : {}),
            },
          ]
        : [],
    restart: { coalesceSeconds: 0, ...spec.restart },
  });
  const manifestParam = defaultManifestParam(ns);

  // 2. Per service: role + instance profile, secret, parameters (services concurrently).
  const profiles = new Map<string, { roleName: string; profileArn: string }>();
  await mapLimit(spec.services, 4, async (svc) => {
    const roleName = roleNameFor(ns, svc.name);
    await clients.iam.send(
      new CreateRoleCommand({
        RoleName: roleName,
        AssumeRolePolicyDocument: ASSUME_EC2,
        Description: `${ns} ${svc.name}`,
      }),
    );
    const role: RoleSeed = svc.role === undefined || svc.role === "correct" ? { base: "correct" } : svc.role;
    const inline: Record<string, PolicyDocument> = {
      ...(role.base === "correct" ? { [`${roleName}-service`]: correctRolePolicy(manifest, svc.name, aws) } : {}),
      ...(role.inline ?? {}),
    };
    for (const [PolicyName, doc] of Object.entries(inline))
      await clients.iam.send(
        new PutRolePolicyCommand({ RoleName: roleName, PolicyName, PolicyDocument: JSON.stringify(doc) }),
      );
    for (const PolicyArn of role.managedArns ?? [])
      await clients.iam.send(new AttachRolePolicyCommand({ RoleName: roleName, PolicyArn }));
    if (role.boundary) {
      const pol = await clients.iam.send(
        new CreatePolicyCommand({ PolicyName: `${roleName}-boundary`, PolicyDocument: JSON.stringify(role.boundary) }),
      );
      await clients.iam.send(
        new PutRolePermissionsBoundaryCommand({ RoleName: roleName, PermissionsBoundary: pol.Policy?.Arn }),
      );
    }
    const ip = await clients.iam.send(new CreateInstanceProfileCommand({ InstanceProfileName: roleName }));
    await clients.iam.send(new AddRoleToInstanceProfileCommand({ InstanceProfileName: roleName, RoleName: roleName }));
    profiles.set(svc.name, { roleName, profileArn: ip.InstanceProfile?.Arn ?? "" });

    const secretName = `${ns}/${svc.name}/secrets`;
    const sec = await clients.secrets.send(
      new CreateSecretCommand({
        Name: secretName,
        SecretString: JSON.stringify({ API_TOKEN: `tok-${randomUUID()}`, ...canary }),
      }),
    );
    secrets[secretName] = sec.ARN ?? "";

    const params: Record<string, string> = { LOG_LEVEL: "info", ECR_TAG: "v0.9.11" };
    if (spec.sharedSecret?.consumers.includes(svc.name)) {
      params.DATABASE_HOST = `${sanitizeNamespace(ns)}.cluster-abc.${region}.rds.amazonaws.com`;
      params.DATABASE_NAME = svc.name;
    }
    for (const [k, v] of Object.entries(params))
      await clients.ssm.send(
        new PutParameterCommand({ Name: `/${ns}/${svc.name}/${k}`, Value: v, Type: "String", Overwrite: true }),
      );
  });

  // 3. Manifest parameter and restart document.
  const manifestText = JSON.stringify(manifest, null, 2);
  await clients.ssm.send(
    new PutParameterCommand({
      Name: manifestParam,
      Value: manifestText,
      Type: "String",
      Overwrite: true,
      Tier: Buffer.byteLength(manifestText) > STANDARD_TIER_MAX ? "Advanced" : "Standard",
    }),
  );
  await createRestartDocument(clients.ssm, RESTART_DOCUMENT_NAME);

  // 4. Hosts.
  interface Launch extends HostLaunch {
    service: string;
    profile?: { roleName: string; profileArn: string };
  }
  const launches: Launch[] = [];
  for (const svc of spec.services) {
    const seeds: HostSeed[] = typeof svc.hosts === "number" ? Array.from({ length: svc.hosts }, () => ({})) : svc.hosts;
    for (const [i, h] of seeds.entries()) {
      const profile = h.noProfile ? undefined : profiles.get(svc.name);
      launches.push({
        service: svc.name,
        tags: {
          [manifest.tags.namespace]: ns,
          [manifest.tags.service]: svc.name,
          Name: `${svc.name}-${i + 1}`,
          ...(h.tags ?? {}),
        },
        imds: imdsOf(h.imds),
        profile,
        profileArn: profile?.profileArn,
      });
    }
  }
  for (const x of spec.extraHosts ?? [])
    launches.push({ service: x.tags[manifest.tags.service] ?? "", tags: x.tags, imds: imdsOf(x.imds) });

  const launched = await launchHosts(clients.ec2, launches);
  const hosts = launched.map(({ launch: l, instance }): SeededHost => {
    const host = toHost(instance);
    const seeded: SeededHost = { instanceId: host.instanceId, service: l.service, imds: host.imds };
    if (l.profile) {
      seeded.roleName = l.profile.roleName;
      seeded.profileArn = host.instanceProfileArn ?? l.profile.profileArn;
    }
    return seeded;
  });

  return {
    namespace: ns,
    region,
    account,
    manifest,
    manifestParam,
    hosts,
    roles: spec.services.map((s) => roleNameFor(ns, s.name)),
    secrets,
    sharedSecretArn,
    documentName: RESTART_DOCUMENT_NAME,
  };
}

/** An over-broad grant seen in real fleets: every secret of the namespace, not just the service's own. */
export function allNamespaceSecrets(ns: string, sid = "AllNs"): PolicyDocument {
  return {
    Version: "2012-10-17",
    Statement: [
      {
        Sid: sid,
        Effect: "Allow",
        Action: "secretsmanager:GetSecretValue",
        Resource: `arn:aws:secretsmanager:*:*:secret:${ns}/*`,
      },
    ],
  };
}

/** The demo fleet: voiceai/staging with a few realistic defects to find. */
export function demoFleetSpec(ns = "voiceai/staging"): FleetSpec {
  return {
    namespace: ns,
    configBucket: `${sanitizeNamespace(ns)}-config`,
    canary: "CANARY-7f3a9c1e-do-not-leak",
    sharedSecret: { bootstrapVar: DEFAULT_BOOTSTRAP_VAR, consumers: ["database", "api", "web", "voice", "ops"] },
    services: [
      { name: "database", wave: 0, hosts: 2 },
      { name: "api", wave: 1, hosts: 3 },
      // One web host still allows IMDSv1.
      { name: "web", wave: 2, hosts: [{}, { imds: { httpTokens: "optional" } }] },
      // One voice host has hop limit 1: containers on the Docker bridge cannot reach IMDS.
      { name: "voice", wave: 2, hosts: [{}, {}, { imds: { hopLimit: 1 } }] },
      {
        name: "ops",
        wave: 3,
        hosts: 2,
        extraGrants: [
          { actions: ["ses:SendEmail", "ses:SendRawEmail"], resources: ["arn:aws:ses:*:*:identity/voiceai.example"] },
        ],
        // Over-broad: every secret of the namespace, not just its own.
        role: { base: "correct", inline: { "ops-debug-all-secrets": allNamespaceSecrets(ns, "DebugAllSecrets") } },
      },
      // One media host is IMDSv1 with hop limit 1, exempted by the operator.
      {
        name: "media",
        wave: 3,
        hosts: [
          {},
          { imds: { httpTokens: "optional", hopLimit: 1 }, tags: { "dcp:imds-exempt": "legacy-transcoder" } },
        ],
      },
      { name: "telpro", wave: 3, hosts: 2 },
    ],
    // A host in the namespace whose Service is not in the manifest.
    extraHosts: [{ tags: { Namespace: ns, Service: "legacy-cron", Name: "legacy-cron-1" } }],
  };
}

/** One ECS service of a seeded fleet: its task definition's `secrets[]`, execution role and deployment controller. */
export interface EcsServiceSeed {
  /** ECS service name (also the task definition family and container name unless `container` is given). */
  name: string;
  /** Manifest service named by the service tag; absent = no service tag. */
  service?: string;
  /** Namespace tag value; default the fleet's namespace. */
  namespace?: string;
  container?: string;
  secrets: { name: string; valueFrom: string }[];
  /** Plain environment values (the control plane must never read them). */
  environment?: { name: string; value: string }[];
  /** Secret ARNs the execution role may read (GetSecretValue); "none" = no execution role. */
  executionRoleReads: string[] | "none";
  controller?: DeploymentControllerType;
}

export interface SeededEcsService {
  serviceArn: string;
  clusterArn: string;
  taskDefinitionArn: string;
  executionRoleArn?: string;
}

const ASSUME_ECS_TASKS = JSON.stringify({
  Version: "2012-10-17",
  Statement: [{ Effect: "Allow", Principal: { Service: "ecs-tasks.amazonaws.com" }, Action: "sts:AssumeRole" }],
});

/** Creates the fleet's ECS cluster (named after the namespace) and one service per seed, keyed by seed name. */
export async function seedEcsServices(
  fleet: Pick<SeededFleet, "namespace" | "manifest">,
  seeds: EcsServiceSeed[],
  clients: Pick<AwsClients, "ecs" | "iam"> = createClients(),
): Promise<Record<string, SeededEcsService>> {
  const cluster = await clients.ecs.send(new CreateClusterCommand({ clusterName: sanitizeNamespace(fleet.namespace) }));
  const clusterArn = cluster.cluster?.clusterArn ?? "";
  const out: Record<string, SeededEcsService> = {};
  for (const seed of seeds) {
    let executionRoleArn: string | undefined;
    if (seed.executionRoleReads !== "none") {
      const roleName = `${sanitizeNamespace(fleet.namespace)}-${seed.name}-exec`.slice(0, 64);
      const role = await clients.iam.send(
        new CreateRoleCommand({ RoleName: roleName, AssumeRolePolicyDocument: ASSUME_ECS_TASKS }),
      );
      executionRoleArn = role.Role?.Arn;
      if (seed.executionRoleReads.length > 0)
        await clients.iam.send(
          new PutRolePolicyCommand({
            RoleName: roleName,
            PolicyName: "task-secrets",
            PolicyDocument: JSON.stringify({
              Version: "2012-10-17",
              Statement: [
                { Effect: "Allow", Action: "secretsmanager:GetSecretValue", Resource: seed.executionRoleReads },
              ],
            }),
          }),
        );
    }
    const td = await clients.ecs.send(
      new RegisterTaskDefinitionCommand({
        family: seed.name,
        ...(executionRoleArn ? { executionRoleArn } : {}),
        containerDefinitions: [
          {
            name: seed.container ?? seed.name,
            image: "public.ecr.aws/docker/library/python:3.12-slim",
            memory: 512,
            secrets: seed.secrets,
            environment: seed.environment ?? [],
          },
        ],
      }),
    );
    const tags = [
      { key: fleet.manifest.tags.namespace, value: seed.namespace ?? fleet.namespace },
      ...(seed.service ? [{ key: fleet.manifest.tags.service, value: seed.service }] : []),
    ];
    const svc = await clients.ecs.send(
      new CreateServiceCommand({
        cluster: clusterArn,
        serviceName: seed.name,
        taskDefinition: td.taskDefinition?.taskDefinitionArn,
        desiredCount: 2,
        tags,
        ...(seed.controller ? { deploymentController: { type: seed.controller } } : {}),
      }),
    );
    out[seed.name] = {
      serviceArn: svc.service?.serviceArn ?? "",
      clusterArn,
      taskDefinitionArn: td.taskDefinition?.taskDefinitionArn ?? "",
      ...(executionRoleArn ? { executionRoleArn } : {}),
    };
  }
  return out;
}

/**
 * The demo fleet's ECS service, after the seed "AWS Secrets Manager Integration" (the Pipecat ECS deployment): the
 * voice agent on ECS, reading the RDS master secret's password by ARN + JSON key through its task execution role.
 */
export function demoEcsSeeds(fleet: Pick<SeededFleet, "sharedSecretArn">): EcsServiceSeed[] {
  const rds = fleet.sharedSecretArn;
  if (!rds) throw new Error("the demo ECS service reads the shared database secret: seed the fleet with one");
  return [
    {
      name: "pipecat-voice",
      service: "voice",
      secrets: [{ name: "DATABASE_PASSWORD", valueFrom: `${rds}:password::` }],
      environment: [
        { name: "HOST", value: "0.0.0.0" },
        { name: "FAST_API_PORT", value: "7860" },
      ],
      executionRoleReads: [rds],
    },
  ];
}
