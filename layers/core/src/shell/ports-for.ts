// Per-function wiring derived from the permission declarations (adapters/permissions.ts): a function's ports expose
// only the adapter methods its FUNCTION_USES entry declares, which are exactly the ones its IAM role is held to
// (test/unit/least-privilege.test.ts). A call to anything else fails loudly in every environment, before any AWS call,
// instead of as AccessDenied in production only.
import type { AdapterMethod, FUNCTION_USES } from "../adapters/permissions.ts";
import type { Deps } from "../app/deps.ts";
import type {
  HostChecks,
  Idempotency,
  ImdsSources,
  ImdsUsage,
  ManagedInstances,
  TrailCatalog,
} from "../ports/index.ts";

export type FunctionId = keyof typeof FUNCTION_USES;
/** A function's own list of adapter methods (adapters/permissions.ts: INSTANCE_LAUNCH_USES, …). */
export type FunctionUses<F extends FunctionId> = (typeof FUNCTION_USES)[F];

/** Every port a function may be wired with, by its key in the use cases' dependencies. */
export interface AllPorts extends Omit<Deps, "config" | "now" | "ecs" | "links"> {
  managed: ManagedInstances;
  idempotency: Idempotency;
  sources: ImdsSources;
  usage: ImdsUsage;
  hostChecks: HostChecks;
  trails: TrailCatalog;
  ecs: NonNullable<Deps["ecs"]>;
  links: NonNullable<Deps["links"]>;
}
export type PortKey = keyof AllPorts;

/** Declaration prefix → the port it names (PolicyStore and BulkPolicyStore are two adapters of one port). */
export const PORT_OF: Record<string, PortKey> = {
  FleetInventory: "inventory",
  PolicyStore: "policies",
  BulkPolicyStore: "policies",
  SecretCatalog: "secrets",
  CommandRunner: "commands",
  ParameterStore: "params",
  AuditState: "params",
  RolloutStore: "rollouts",
  ManagedInstances: "managed",
  Idempotency: "idempotency",
  ImdsSources: "sources",
  ImdsUsage: "usage",
  HostChecks: "hostChecks",
  TrailCatalog: "trails",
  GateSignals: "signals",
  Wakeups: "wakeups",
  EcsInventory: "ecs",
  EcsDeployments: "ecs",
  DeploymentLinks: "links",
};
/** Declarations whose method name differs from the port's (AuditState.read is ParameterStore.get on one name). */
const METHOD_OF: Partial<Record<AdapterMethod, string>> = { "AuditState.read": "get", Idempotency: "once" };

/** Port → the methods a function with these `uses` may call (`*`: every method without a declaration of its own). */
export function allowedMethods(uses: readonly AdapterMethod[]): Map<PortKey, Set<string>> {
  const out = new Map<PortKey, Set<string>>();
  for (const use of uses) {
    const [prefix, method] = use.split(".") as [string, string | undefined];
    const port = PORT_OF[prefix];
    if (!port) throw new Error(`permissions.ts: '${use}' names no port`);
    const set = out.get(port) ?? new Set<string>();
    set.add(METHOD_OF[use] ?? method ?? "*");
    out.set(port, set);
  }
  return out;
}

/**
 * Methods declared on their own under a port some function holds with `*` (RolloutStore.list, the operator's
 * listing, granted to no function): never covered by the `*`. A literal, held equal to what PERMISSIONS declares by
 * test/unit/least-privilege.test.ts, so that no bundle carries PERMISSIONS' action lists (≈ 2.8 KB each).
 */
export const OWN_DECLARATIONS: ReadonlySet<string> = new Set(["rollouts.list"]);

function refuse(fn: FunctionId, port: PortKey, method: string): () => never {
  return () => {
    throw new Error(`${fn} may not call ${port}.${method}: its role does not allow it (adapters/permissions.ts)`);
  };
}

function guarded<T extends object>(fn: FunctionId, port: PortKey, adapter: T, allowed: Set<string>): T {
  return new Proxy(adapter, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== "function" || typeof prop !== "string") return value;
      const ok = allowed.has(prop) || (allowed.has("*") && !OWN_DECLARATIONS.has(`${port}.${prop}`));
      return ok ? value.bind(target) : refuse(fn, port, prop);
    },
  });
}

/** Ports the use cases treat as optional (`deps.ecs?`): left undefined, not refused, where undeclared. */
const OPTIONAL_PORTS = new Set<PortKey>(["ecs", "links", "trails"]);

/** A port the function does not use at all: any call is a wiring bug, loudly. */
function absent<T extends object>(fn: FunctionId, port: PortKey): T {
  return new Proxy({} as T, {
    get(_t, prop) {
      return prop === "then" ? undefined : refuse(fn, port, String(prop));
    },
  });
}

/**
 * The ports of `fn`, from the adapters given: each port in `uses` (the function's own list, FUNCTION_USES[fn]) guarded
 * down to its declared methods, every other port absent. Throws at cold start when a declared port has no adapter (a wiring bug, not a run-time surprise).
 */
export function portsFor<F extends FunctionId>(
  fn: F,
  uses: FunctionUses<F>,
  adapters: Partial<AllPorts>,
  base: Pick<Deps, "config" | "now">,
): Deps & Omit<AllPorts, keyof Deps> {
  const allowed = allowedMethods(uses);
  const ports = {} as Record<PortKey, object>;
  for (const key of [
    "inventory",
    "policies",
    "secrets",
    "commands",
    "rollouts",
    "params",
    "managed",
    "idempotency",
    "sources",
    "usage",
    "hostChecks",
    "trails",
    "signals",
    "ecs",
    "links",
  ] as const) {
    const methods = allowed.get(key);
    const adapter = adapters[key] as object | undefined;
    if (methods && !adapter) throw new Error(`${fn} declares ${key} in adapters/permissions.ts but none is wired`);
    if (!methods && OPTIONAL_PORTS.has(key)) continue; // absent means "not this function's job" (use cases test it)
    ports[key] = methods && adapter ? guarded(fn, key, adapter, methods) : absent(fn, key);
  }
  // Optional: without wake-ups (not declared, or not configured) the reconciler's schedule ends every wait.
  const wakeups = allowed.get("wakeups") && adapters.wakeups;
  if (wakeups) ports.wakeups = guarded(fn, "wakeups", wakeups, allowed.get("wakeups")!);
  return { ...base, ...(ports as unknown as AllPorts) };
}
