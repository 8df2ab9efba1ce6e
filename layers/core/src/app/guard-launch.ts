import type { Idempotency, ImdsUsage } from "../ports/index.ts";
import type { Deps } from "./deps.ts";
import { type GuardResult, guardHost } from "./guard-host.ts";
import { loadManifest } from "./manifest-source.ts";

/** The business fact of a launch event: EC2 says this instance entered this state. */
export interface LaunchFact {
  instanceId: string;
  state: "pending" | "running";
}

/** The guard's result, and whether it is the stored answer of an earlier delivery of the same fact. */
export type LaunchResult = GuardResult & { duplicate: boolean };

/**
 * The launch guard's entry point (InstanceLaunchFunction): loads the manifest (refused with one line when it is for
 * another namespace or names other tag keys than the deployment, before any write) and guards the host once per
 * (instance, state) however many times EventBridge delivers it. A dry run (DCP_DRY_RUN) plans without writing,
 * not even an idempotency record, so a later real run still acts.
 */
export async function guardLaunch(
  fact: LaunchFact,
  deps: Deps & { idempotency: Idempotency; usage?: ImdsUsage },
): Promise<LaunchResult> {
  const dryRun = deps.config.dryRun;
  // Before the idempotency record: a refused manifest leaves nothing behind, not even an in-progress record.
  const manifest = await loadManifest(deps.params, deps.config);
  const opts = { dryRun, ...(deps.usage ? { usage: deps.usage } : {}) };
  const guard = () => guardHost(fact.instanceId, manifest, deps, opts);
  if (dryRun) return { ...(await guard()), duplicate: false };
  const { result, duplicate } = await deps.idempotency.once({ instanceId: fact.instanceId, state: fact.state }, guard);
  return { ...result, duplicate };
}
