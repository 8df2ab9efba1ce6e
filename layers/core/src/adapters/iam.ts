// PolicyStore over IAM (SDK v3): a targeted loader (a few roles per invocation) and a bulk loader (whole account,
// one paginated GetAccountAuthorizationDetails) for audits. Both memoise within one store instance.
import {
  GetAccountAuthorizationDetailsCommand,
  type GetAccountAuthorizationDetailsCommandOutput,
  GetInstanceProfileCommand,
  GetPolicyCommand,
  GetPolicyVersionCommand,
  GetRoleCommand,
  GetRolePolicyCommand,
  type IAMClient,
  paginateListAttachedRolePolicies,
  paginateListRolePolicies,
  type Role,
  type RoleDetail,
} from "@aws-sdk/client-iam";
import { NotFoundError } from "../domain/errors.ts";
import { decodePolicyDocument, type PolicyDocument } from "../domain/iam/policy.ts";
import type { NamedPolicy, PolicySource, PolicyStore, RolePolicies } from "../ports/index.ts";

/** `arn:aws:iam::123:instance-profile/path/name` → `name`. */
export function instanceProfileName(arn: string): string {
  const resource = arn.split(":").slice(5).join(":");
  const rest = resource.startsWith("instance-profile/") ? resource.slice("instance-profile/".length) : resource;
  return rest.split("/").pop() ?? rest;
}

function policyNameFromArn(arn: string): string {
  return arn.split("/").pop() ?? arn;
}

function managedSource(arn: string): PolicySource {
  return /^arn:aws[a-z-]*:iam::aws:policy\//.test(arn) ? "aws-managed" : "managed";
}

function isNoSuchEntity(err: unknown): boolean {
  return err instanceof Error && (err.name === "NoSuchEntityException" || err.name === "NoSuchEntity");
}

type RoleRef = { roleName: string; roleArn: string };

/** Per-invocation loader: only the roles it is asked about. */
export class TargetedPolicyStore implements PolicyStore {
  private readonly profiles = new Map<string, Promise<RoleRef | undefined>>();
  private readonly roles = new Map<string, Promise<RolePolicies>>();
  private readonly managed = new Map<string, Promise<{ name: string; document: PolicyDocument }>>();

  private since = Date.now();

  /**
   * `maxAgeMs`: how long answers are kept (a warm launch guard keeps them a few minutes, so a burst of launches reads
   * each role once and a policy change is seen within that time); default: for the store's lifetime.
   */
  constructor(
    private readonly iam: IAMClient,
    private readonly maxAgeMs = Number.POSITIVE_INFINITY,
  ) {}

  /** Forgets every answer once they are older than maxAgeMs. */
  private expire(): void {
    if (Date.now() - this.since <= this.maxAgeMs) return;
    this.profiles.clear();
    this.roles.clear();
    this.managed.clear();
    this.since = Date.now();
  }

  roleOfInstanceProfile(instanceProfileArn: string): Promise<RoleRef | undefined> {
    this.expire();
    const name = instanceProfileName(instanceProfileArn);
    let p = this.profiles.get(name);
    if (!p) {
      p = this.loadProfile(name);
      this.profiles.set(name, p);
      p.catch(() => this.profiles.delete(name));
    }
    return p;
  }

  private async loadProfile(name: string): Promise<RoleRef | undefined> {
    try {
      const out = await this.iam.send(new GetInstanceProfileCommand({ InstanceProfileName: name }));
      // A profile holds at most one role.
      const role = out.InstanceProfile?.Roles?.[0];
      if (!role?.RoleName || !role.Arn) return undefined;
      return { roleName: role.RoleName, roleArn: role.Arn };
    } catch (err) {
      if (isNoSuchEntity(err)) return undefined;
      throw err;
    }
  }

  rolePolicies(roleName: string): Promise<RolePolicies> {
    this.expire();
    let p = this.roles.get(roleName);
    if (!p) {
      p = this.loadRole(roleName);
      this.roles.set(roleName, p);
      p.catch(() => this.roles.delete(roleName));
    }
    return p;
  }

  /** A managed policy's default version, memoised per ARN (shared by every role of this store). */
  managedPolicy(arn: string): Promise<{ name: string; document: PolicyDocument }> {
    let p = this.managed.get(arn);
    if (!p) {
      p = (async () => {
        const pol = await this.iam.send(new GetPolicyCommand({ PolicyArn: arn }));
        const versionId = pol.Policy?.DefaultVersionId;
        if (!versionId) throw new NotFoundError(`managed policy ${arn} has no default version`);
        const ver = await this.iam.send(new GetPolicyVersionCommand({ PolicyArn: arn, VersionId: versionId }));
        const raw = ver.PolicyVersion?.Document;
        if (!raw) throw new NotFoundError(`managed policy ${arn} version ${versionId} has no document`);
        return { name: pol.Policy?.PolicyName ?? policyNameFromArn(arn), document: decodePolicyDocument(raw, arn) };
      })();
      this.managed.set(arn, p);
      p.catch(() => this.managed.delete(arn));
    }
    return p;
  }

  private async loadRole(roleName: string): Promise<RolePolicies> {
    let role: Role;
    try {
      const out = await this.iam.send(new GetRoleCommand({ RoleName: roleName }));
      if (!out.Role) throw new NotFoundError(`IAM role ${roleName} does not exist`);
      role = out.Role;
    } catch (err) {
      if (isNoSuchEntity(err)) throw new NotFoundError(`IAM role ${roleName} does not exist`);
      throw err;
    }
    try {
      const inlineNames: string[] = [];
      for await (const page of paginateListRolePolicies({ client: this.iam }, { RoleName: roleName })) {
        inlineNames.push(...(page.PolicyNames ?? []));
      }
      const attached: { arn: string; name?: string }[] = [];
      for await (const page of paginateListAttachedRolePolicies({ client: this.iam }, { RoleName: roleName })) {
        for (const a of page.AttachedPolicies ?? [])
          if (a.PolicyArn) attached.push({ arn: a.PolicyArn, name: a.PolicyName });
      }
      const inline = Promise.all(
        inlineNames.map(async (name): Promise<NamedPolicy> => {
          const out = await this.iam.send(new GetRolePolicyCommand({ RoleName: roleName, PolicyName: name }));
          return { name, source: "inline", document: decodePolicyDocument(out.PolicyDocument ?? "", name) };
        }),
      );
      const managed = Promise.all(
        attached.map(async ({ arn, name }): Promise<NamedPolicy> => {
          const m = await this.managedPolicy(arn);
          return { name: name ?? m.name, arn, source: managedSource(arn), document: m.document };
        }),
      );
      const boundaryArn = role.PermissionsBoundary?.PermissionsBoundaryArn;
      const boundary = boundaryArn ? this.managedPolicy(boundaryArn) : undefined;
      const result: RolePolicies = {
        roleName,
        roleArn: role.Arn ?? "",
        policies: [...(await inline), ...(await managed)],
      };
      if (boundaryArn && boundary) {
        const b = await boundary;
        result.boundary = { name: b.name, arn: boundaryArn, source: "boundary", document: b.document };
      }
      return result;
    } catch (err) {
      // Deleted between GetRole and the policy reads.
      if (isNoSuchEntity(err)) throw new NotFoundError(`IAM role ${roleName} (or one of its policies) disappeared`);
      throw err;
    }
  }
}

interface BulkIndex {
  profiles: Map<string, RoleRef>;
  roles: Map<string, RoleDetail>;
  policies: Map<string, { name: string; document: PolicyDocument }>;
}

/** Whole-account loader: one paginated GetAccountAuthorizationDetails, then answers from memory. */
export class BulkPolicyStore implements PolicyStore {
  private index?: Promise<BulkIndex>;
  private readonly resolved = new Map<string, RolePolicies>();
  /** Used only for a managed policy the bulk answer did not include. */
  private readonly fallback: TargetedPolicyStore;

  constructor(
    private readonly iam: IAMClient,
    private readonly opts: { maxItems?: number } = {},
  ) {
    this.fallback = new TargetedPolicyStore(iam);
  }

  private load(): Promise<BulkIndex> {
    if (!this.index) {
      this.index = this.fetchAll();
      this.index.catch(() => {
        this.index = undefined;
      });
    }
    return this.index;
  }

  private async fetchAll(): Promise<BulkIndex> {
    const idx: BulkIndex = { profiles: new Map(), roles: new Map(), policies: new Map() };
    let marker: string | undefined;
    do {
      const page: GetAccountAuthorizationDetailsCommandOutput = await this.iam.send(
        new GetAccountAuthorizationDetailsCommand({
          Filter: ["Role", "LocalManagedPolicy", "AWSManagedPolicy"],
          MaxItems: this.opts.maxItems ?? 1000,
          Marker: marker,
        }),
      );
      for (const r of page.RoleDetailList ?? []) {
        if (!r.RoleName) continue;
        idx.roles.set(r.RoleName, r);
        for (const ip of r.InstanceProfileList ?? []) {
          const name = ip.InstanceProfileName ?? (ip.Arn ? instanceProfileName(ip.Arn) : undefined);
          if (name) idx.profiles.set(name, { roleName: r.RoleName, roleArn: r.Arn ?? "" });
        }
      }
      for (const p of page.Policies ?? []) {
        if (!p.Arn) continue;
        const v =
          p.PolicyVersionList?.find((x) => x.IsDefaultVersion) ??
          p.PolicyVersionList?.find((x) => x.VersionId === p.DefaultVersionId);
        if (!v?.Document) continue;
        // moto omits PolicyName here: fall back to the ARN's last segment.
        idx.policies.set(p.Arn, {
          name: p.PolicyName ?? policyNameFromArn(p.Arn),
          document: decodePolicyDocument(v.Document, p.Arn),
        });
      }
      marker = page.IsTruncated ? page.Marker : undefined;
    } while (marker);
    return idx;
  }

  async roleOfInstanceProfile(instanceProfileArn: string): Promise<RoleRef | undefined> {
    const idx = await this.load();
    return idx.profiles.get(instanceProfileName(instanceProfileArn));
  }

  async rolePolicies(roleName: string): Promise<RolePolicies> {
    const cached = this.resolved.get(roleName);
    if (cached) return cached;
    const idx = await this.load();
    const r = idx.roles.get(roleName);
    if (!r) throw new NotFoundError(`IAM role ${roleName} does not exist`);
    const managedDoc = async (arn: string) => idx.policies.get(arn) ?? this.fallbackManaged(arn);
    const policies: NamedPolicy[] = (r.RolePolicyList ?? []).map((p) => ({
      name: p.PolicyName ?? "",
      source: "inline",
      document: decodePolicyDocument(p.PolicyDocument ?? "", p.PolicyName),
    }));
    for (const a of r.AttachedManagedPolicies ?? []) {
      if (!a.PolicyArn) continue;
      const m = await managedDoc(a.PolicyArn);
      policies.push({
        name: a.PolicyName ?? m.name,
        arn: a.PolicyArn,
        source: managedSource(a.PolicyArn),
        document: m.document,
      });
    }
    const result: RolePolicies = { roleName, roleArn: r.Arn ?? "", policies };
    const bArn = r.PermissionsBoundary?.PermissionsBoundaryArn;
    if (bArn) {
      const b = await managedDoc(bArn);
      result.boundary = { name: b.name, arn: bArn, source: "boundary", document: b.document };
    }
    this.resolved.set(roleName, result);
    return result;
  }

  private async fallbackManaged(arn: string): Promise<{ name: string; document: PolicyDocument }> {
    return this.fallback.managedPolicy(arn);
  }
}
