import { NotFoundError } from "../domain/errors.ts";
import { type ReadAccess, type ReadTarget, readAccess, readRequests } from "../domain/iam/who-can.ts";
import type { Manifest } from "../domain/manifest.ts";
import type { AwsScope } from "../domain/model.ts";
import { accountOfArn, placeHost } from "../domain/placement.ts";
import type { RolePolicies } from "../ports/index.ts";
import type { Deps } from "./deps.ts";

export interface Reader extends ReadAccess {
  roleName: string;
  roleArn: string;
  services: string[];
  hosts: string[];
}

export interface WhoCanReport {
  target: ReadTarget;
  namespace: string;
  scannedHosts: number;
  roles: number;
  readers: Reader[];
  apiCalls: Record<string, number>;
}

/**
 * The fleet roles (and their hosts) that can read `target`: one namespace scan, one bulk IAM read (the policy store
 * the audit uses), each distinct role evaluated once. Hosts without a profile cannot read anything and are skipped.
 */
export async function whoCan(
  target: ReadTarget,
  m: Manifest,
  deps: Pick<Deps, "inventory" | "policies" | "config">,
  apiCalls?: () => Record<string, number>,
): Promise<WhoCanReport> {
  const hosts = await deps.inventory.scanNamespace(m.tags.namespace, m.namespace);
  const byProfile = new Map<string, { services: Set<string>; hosts: string[] }>();
  for (const h of hosts) {
    if (!h.instanceProfileArn || (h.state !== "running" && h.state !== "pending")) continue;
    const place = placeHost(h, m);
    const g = byProfile.get(h.instanceProfileArn) ?? { services: new Set<string>(), hosts: [] };
    if (place.kind === "fleet") g.services.add(place.service);
    g.hosts.push(h.instanceId);
    byProfile.set(h.instanceProfileArn, g);
  }
  // Each distinct role evaluated once (null: it cannot read the target); its profiles' hosts are merged.
  const byRole = new Map<string, Reader | null>();
  for (const [profile, g] of byProfile) {
    const role = await deps.policies.roleOfInstanceProfile(profile);
    if (!role) continue;
    const known = byRole.get(role.roleArn);
    if (known !== undefined) {
      if (known) {
        known.hosts.push(...g.hosts);
        known.services = [...new Set([...known.services, ...g.services])].sort();
      }
      continue;
    }
    const acct = accountOfArn(profile);
    const aws: AwsScope = {
      partition: acct?.partition ?? "aws",
      account: acct?.account ?? "000000000000",
      region: deps.config.region,
    };
    let policies: RolePolicies;
    try {
      policies = await deps.policies.rolePolicies(role.roleName);
    } catch (err) {
      if (err instanceof NotFoundError) continue; // deleted meanwhile: it reads nothing
      throw err;
    }
    const access = readAccess(policies, readRequests(target, aws));
    byRole.set(role.roleArn, access ? { ...role, ...access, services: [...g.services].sort(), hosts: g.hosts } : null);
  }
  const readers = [...byRole.values()]
    .filter((r): r is Reader => r !== null)
    .sort((a, b) => a.decision.localeCompare(b.decision) || a.roleName.localeCompare(b.roleName));
  return {
    target,
    namespace: m.namespace,
    scannedHosts: hosts.length,
    roles: byRole.size,
    readers,
    apiCalls: apiCalls?.() ?? {},
  };
}
