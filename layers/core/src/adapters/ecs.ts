// ECS adapter (SDK v3): fleet service discovery, forced deployments and their state. Reads only the `secrets[]`
// names and valueFrom of task definitions — never `environment` values.
import {
  type Deployment,
  DescribeServicesCommand,
  DescribeTaskDefinitionCommand,
  type ECSClient,
  paginateListClusters,
  paginateListServices,
  type Service,
  TagResourceCommand,
  UpdateServiceCommand,
} from "@aws-sdk/client-ecs";
import type { DeploymentController, EcsSecretReference, EcsService } from "../domain/ecs.ts";
import type { EcsDeploymentState, EcsDeployments, EcsInventory } from "../ports/index.ts";

/** DescribeServices takes at most 10 services per call. */
const SERVICES_PER_DESCRIBE = 10;

const iso = (d: Date | string | undefined): string | undefined => (d ? new Date(d).toISOString() : undefined);

type TaskDefinitionFacts = Pick<EcsService, "taskRoleArn" | "executionRoleArn" | "secretRefs">;

function primaryOf(deployments: Deployment[] | undefined): EcsService["primaryDeployment"] {
  const p = deployments?.find((d) => d.status === "PRIMARY");
  if (!p?.id) return undefined;
  return {
    id: p.id,
    createdAt: iso(p.createdAt) ?? "",
    ...(p.rolloutState ? { rolloutState: p.rolloutState } : {}),
  };
}

export class EcsServiceAdapter implements EcsInventory, EcsDeployments {
  private scan?: Promise<EcsService[]>;
  private readonly taskDefinitions = new Map<string, Promise<TaskDefinitionFacts>>();

  constructor(private readonly ecs: ECSClient) {}

  scanNamespace(tagKey: string, namespace: string): Promise<EcsService[]> {
    if (!this.scan) {
      this.scan = this.scanAll(tagKey, namespace);
      this.scan.catch(() => {
        this.scan = undefined;
      });
    }
    return this.scan;
  }

  private async scanAll(tagKey: string, namespace: string): Promise<EcsService[]> {
    const out: EcsService[] = [];
    for await (const clusters of paginateListClusters({ client: this.ecs }, {})) {
      for (const clusterArn of clusters.clusterArns ?? []) {
        for await (const page of paginateListServices({ client: this.ecs }, { cluster: clusterArn, maxResults: 100 })) {
          const arns = page.serviceArns ?? [];
          for (let i = 0; i < arns.length; i += SERVICES_PER_DESCRIBE) {
            const described = await this.ecs.send(
              new DescribeServicesCommand({
                cluster: clusterArn,
                services: arns.slice(i, i + SERVICES_PER_DESCRIBE),
                include: ["TAGS"],
              }),
            );
            for (const s of described.services ?? []) {
              const tags = Object.fromEntries((s.tags ?? []).map((t) => [t.key ?? "", t.value ?? ""]));
              if (s.status !== "ACTIVE" || tags[tagKey] !== namespace || !s.serviceArn) continue;
              out.push(await this.toService(s, clusterArn, tags));
            }
          }
        }
      }
    }
    return out;
  }

  private async toService(s: Service, clusterArn: string, tags: Record<string, string>): Promise<EcsService> {
    const td = s.taskDefinition ? await this.taskDefinition(s.taskDefinition) : { secretRefs: [] };
    const primary = primaryOf(s.deployments);
    return {
      serviceArn: s.serviceArn ?? "",
      clusterArn: s.clusterArn ?? clusterArn,
      serviceName: s.serviceName ?? "",
      tags,
      controller: (s.deploymentController?.type ?? "ECS") as DeploymentController,
      circuitBreaker: s.deploymentConfiguration?.deploymentCircuitBreaker?.enable === true,
      ...(s.taskDefinition ? { taskDefinitionArn: s.taskDefinition } : {}),
      ...(primary ? { primaryDeployment: primary } : {}),
      ...td,
    };
  }

  /** One DescribeTaskDefinition per distinct revision; keeps the role ARNs and `secrets[]`, drops everything else. */
  private taskDefinition(arn: string): Promise<TaskDefinitionFacts> {
    let p = this.taskDefinitions.get(arn);
    if (!p) {
      p = (async () => {
        const out = await this.ecs.send(new DescribeTaskDefinitionCommand({ taskDefinition: arn }));
        const td = out.taskDefinition;
        const secretRefs: EcsSecretReference[] = [];
        for (const c of td?.containerDefinitions ?? [])
          for (const s of c.secrets ?? [])
            if (s.name && s.valueFrom)
              secretRefs.push({ container: c.name ?? "", name: s.name, valueFrom: s.valueFrom });
        return {
          ...(td?.taskRoleArn ? { taskRoleArn: td.taskRoleArn } : {}),
          ...(td?.executionRoleArn ? { executionRoleArn: td.executionRoleArn } : {}),
          secretRefs,
        };
      })();
      this.taskDefinitions.set(arn, p);
    }
    return p;
  }

  async forceNewDeployment(clusterArn: string, serviceArn: string): Promise<{ deploymentId: string }> {
    const out = await this.ecs.send(
      new UpdateServiceCommand({ cluster: clusterArn, service: serviceArn, forceNewDeployment: true }),
    );
    const id = primaryOf(out.service?.deployments)?.id;
    if (!id) throw new Error(`ECS.UpdateService: no PRIMARY deployment in the answer for ${serviceArn}`);
    return { deploymentId: id };
  }

  async deploymentState(clusterArn: string, serviceArn: string, deploymentId: string): Promise<EcsDeploymentState> {
    const out = await this.ecs.send(new DescribeServicesCommand({ cluster: clusterArn, services: [serviceArn] }));
    const s = out.services?.[0];
    if (s?.status !== "ACTIVE") return { state: "service-missing" };
    const ours = s.deployments?.find((d) => d.id === deploymentId);
    if (ours) {
      const state =
        ours.rolloutState === "COMPLETED" || ours.rolloutState === "FAILED" ? ours.rolloutState : "IN_PROGRESS";
      return { state, ...(ours.rolloutStateReason ? { reason: ours.rolloutStateReason } : {}) };
    }
    const primary = s.deployments?.find((d) => d.status === "PRIMARY");
    // A circuit-breaker rollback is also a later deployment: it says so in its reason, and it is a failure of ours.
    const rollback = /roll(ing|ed)? ?back|circuit breaker/i.test(primary?.rolloutStateReason ?? "");
    if (primary?.rolloutState === "COMPLETED" && !rollback)
      return { state: "superseded", reason: `deployment ${primary.id} completed` };
    return { state: "gone", reason: `deployment ${deploymentId} is no longer on the service` };
  }

  async deploymentsSince(clusterArn: string, serviceArn: string, since: string): Promise<string[]> {
    const out = await this.ecs.send(new DescribeServicesCommand({ cluster: clusterArn, services: [serviceArn] }));
    const from = Math.floor(Date.parse(since) / 1000) * 1000;
    return (out.services?.[0]?.deployments ?? [])
      .filter((d) => d.id && d.createdAt && d.createdAt.getTime() >= from)
      .sort((a, b) => (a.createdAt?.getTime() ?? 0) - (b.createdAt?.getTime() ?? 0))
      .map((d) => d.id as string);
  }

  async tagService(serviceArn: string, tags: Record<string, string>): Promise<void> {
    await this.ecs.send(
      new TagResourceCommand({
        resourceArn: serviceArn,
        tags: Object.entries(tags).map(([key, value]) => ({ key, value })),
      }),
    );
  }
}
