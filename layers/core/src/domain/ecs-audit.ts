// The drift audit's judgement of ECS services (pure: loaded facts in, findings out). Stale credentials as for a
// host: a service runs the secret's current version when it records it (service tag, written when its deployment
// completed) or when its PRIMARY deployment started after the secret last changed (its tasks read it at start).

import type { SecretDescription } from "../ports/index.ts";
import { type EcsService, parseValueFrom, pinnedBy, placeEcsService, runsCurrentVersionOf } from "./ecs.ts";
import { shown } from "./events.ts";
import type { Manifest } from "./manifest.ts";
import type { Finding } from "./model.ts";
import { versionTagKey } from "./secrets.ts";

export interface StaleEcsService {
  secret: SecretDescription & { currentVersionId: string };
  serviceArn: string;
  service: string;
}

/**
 * Findings about the fleet's ECS services: `unknown-service` (namespace tag, but the service tag names no manifest
 * service) and `stale-credentials` (a non-pinned reference to a secret whose AWSCURRENT the service does not run).
 * `secrets` maps every referenced id (referencedSecretIds) to its description (undefined: not a secret, or gone).
 * Every finding carries `resource` = the service ARN. Returns the stale pairs too, for catch-up deployments.
 */
export function judgeEcsServices(input: {
  manifest: Manifest;
  services: EcsService[];
  secrets: ReadonlyMap<string, SecretDescription | undefined>;
  now: Date;
}): { findings: Finding[]; stale: StaleEcsService[] } {
  const findings: Finding[] = [];
  const stale: StaleEcsService[] = [];
  for (const s of input.services) {
    const place = placeEcsService(s, input.manifest);
    if (place.kind === "not-in-fleet") continue;
    if (place.kind === "unknown-service") {
      findings.push({
        kind: "unknown-service",
        severity: "medium",
        resource: s.serviceArn,
        detail: `ECS service ${shown(s.serviceName)}: ${place.reason}`,
      });
      continue;
    }
    const seen = new Set<string>();
    for (const ref of s.secretRefs) {
      const parsed = parseValueFrom(ref.valueFrom);
      const id = parsed.kind === "secret" ? parsed.secretId : parsed.name;
      const secret = input.secrets.get(id);
      // No secret under that id: a Parameter Store parameter (not this check's business), or one reported as missing.
      if (!secret?.currentVersionId || pinnedBy(parsed)) continue;
      if (seen.has(secret.arn)) continue;
      seen.add(secret.arn);
      const version = { name: secret.name, versionId: secret.currentVersionId, changedAt: secret.lastChangedDate };
      if (runsCurrentVersionOf(s, version)) continue;
      const recorded = s.tags[versionTagKey(secret.name)];
      const since = secret.lastChangedDate ? Date.parse(secret.lastChangedDate) : undefined;
      const ageSeconds = since !== undefined ? Math.max(0, Math.round((input.now.getTime() - since) / 1000)) : -1;
      stale.push({
        secret: { ...secret, currentVersionId: secret.currentVersionId },
        serviceArn: s.serviceArn,
        service: place.service,
      });
      findings.push({
        kind: "stale-credentials",
        severity: "high",
        resource: s.serviceArn,
        service: place.service,
        detail:
          `ECS service ${shown(s.serviceName)} runs ${recorded ? `version ${recorded}` : "an unrecorded version"} of ${secret.name}` +
          ` (deployment ${s.primaryDeployment?.id ?? "none"} started ${s.primaryDeployment?.createdAt ?? "never"}); AWSCURRENT is ${secret.currentVersionId}`,
        evidence: {
          secret: secret.name,
          currentVersion: secret.currentVersionId,
          ageSeconds,
          ...(s.primaryDeployment
            ? { deploymentId: s.primaryDeployment.id, deploymentStartedAt: s.primaryDeployment.createdAt }
            : {}),
        },
      });
    }
  }
  return { findings, stale };
}
