import { claimEcs, ecsTargetsIn, recordEcsDispatch } from "../domain/ecs-rollout.ts";
import { SERVICE_NAME_PATTERN } from "../domain/manifest.ts";
import { type CommandRecord, pendingDispatch, type Rollout, recordDispatch, type WaveStep } from "../domain/rollout.ts";
import type { Deps } from "./deps.ts";
import { dispatchEcs } from "./ecs-consumers.ts";

const MAX_CONFLICT_RETRIES = 8;

/**
 * Read-modify-write of one rollout under optimistic locking: `change` is re-applied to a fresh read
 * whenever another delivery saved first. Returns the saved rollout, or undefined if `change` declined.
 */
export async function mutateRollout(
  deps: Pick<Deps, "rollouts">,
  rolloutId: string,
  change: (r: Rollout) => Rollout | undefined,
): Promise<Rollout | undefined> {
  for (let attempt = 0; attempt < MAX_CONFLICT_RETRIES; attempt++) {
    const current = await deps.rollouts.get(rolloutId);
    if (!current) throw new Error(`rollout ${rolloutId} not found`);
    const next = change(current);
    if (!next) return undefined;
    const saved = await deps.rollouts.save(next);
    if (saved) return saved;
  }
  throw new Error(`rollout ${rolloutId}: too many concurrent writes, giving up (the event will be retried)`);
}

/** SSM status events do not name our rollout; the command's comment does (read back by the tracker). */
export function commentFor(r: Rollout, wave: number): string {
  return `dcp ${r.rolloutId} wave ${wave} ${r.plan.secretName}`.slice(0, 100);
}

export function rolloutIdFromComment(comment: string | undefined): string | undefined {
  return /^dcp (ro-[0-9a-f]{16}) /.exec(comment ?? "")?.[1];
}

/**
 * Marks the current wave's pending targets `dispatching` (the claim that precedes any SendCommand or
 * UpdateService): hosts, and ECS services (domain/ecs-rollout.ts).
 */
export function claimWave(r: Rollout): Rollout | undefined {
  const steps = pendingDispatch(r);
  const withEcs = claimEcs(r);
  if (steps.length === 0) return withEcs;
  const hosts = { ...(withEcs ?? r).hosts };
  for (const s of steps) for (const id of s.instanceIds) hosts[id] = { ...hosts[id]!, status: "dispatching" };
  return { ...r, hosts };
}

/**
 * Sends the current wave's pending hosts. Hosts are first claimed (`dispatching`) under the lock, so two
 * deliveries never both send; a crash after the claim leaves them `dispatching` for an operator's
 * `dcp rollout resume`, never re-sent automatically.
 */
export async function dispatchWave(
  deps: Deps,
  r: Rollout,
  alreadyClaimed = false,
): Promise<{ rollout: Rollout; sent: CommandRecord[]; deployments: Map<string, string> }> {
  let claimed: Rollout | undefined = r;
  if (!alreadyClaimed) {
    claimed = await mutateRollout(deps, r.rolloutId, (cur) =>
      cur.currentWave === r.currentWave ? claimWave(cur) : undefined,
    );
    if (!claimed) return { rollout: (await deps.rollouts.get(r.rolloutId)) ?? r, sent: [], deployments: new Map() };
  }
  const steps = claimedSteps(claimed);
  const ecsClaimed = ecsTargetsIn(claimed, "dispatching");

  const sent: CommandRecord[] = [];
  const deployments = new Map<string, string>();
  let recorded: Rollout | undefined;
  try {
    for (const step of steps) {
      if (!SERVICE_NAME_PATTERN.test(step.service))
        throw new Error(`refusing to send service name ${JSON.stringify(step.service)}`);
      const { commandId } = await deps.commands.sendRestart({
        documentName: deps.config.restartDocument,
        service: step.service,
        instanceIds: step.instanceIds,
        maxConcurrency: r.plan.maxConcurrency,
        maxErrors: r.plan.maxErrors,
        comment: commentFor(r, step.wave),
      });
      sent.push({ commandId, wave: step.wave, service: step.service, instanceIds: step.instanceIds });
    }
    await dispatchEcs(deps, r.rolloutId, ecsClaimed, deployments);
  } finally {
    // Record what was sent; release claims on what was not (e.g. SendCommand throttled past its retries).
    const sentIds = new Set(sent.flatMap((c) => c.instanceIds));
    recorded = await mutateRollout(deps, r.rolloutId, (cur) => {
      const hosts = { ...cur.hosts };
      for (const s of steps)
        for (const id of s.instanceIds)
          if (!sentIds.has(id) && hosts[id]) hosts[id] = { ...hosts[id], status: "pending" };
      const ecs = recordEcsDispatch(
        { ...cur, hosts },
        ecsClaimed.map((t) => t.serviceArn),
        deployments,
        deps.now(),
      );
      return recordDispatch(ecs, sent, deps.now().toISOString());
    });
  }
  return { rollout: recorded ?? claimed, sent, deployments };
}

/** What a wave's dispatch sent: SSM commands (hosts) and ECS deployments (services). */
export interface NextWave {
  wave: number;
  commands: { commandId: string; service: string; instanceIds: string[] }[];
  deployments: { serviceArn: string; deploymentId: string }[];
}

/** After a wave completed (the rollout now names the next one): dispatches it and reports what was sent. */
export async function dispatchNextWave(deps: Deps, r: Rollout): Promise<NextWave> {
  const { sent, deployments } = await dispatchWave(deps, r);
  return {
    wave: r.currentWave,
    commands: sent.map(({ commandId, service, instanceIds }) => ({ commandId, service, instanceIds })),
    deployments: [...deployments].map(([serviceArn, deploymentId]) => ({ serviceArn, deploymentId })),
  };
}

/** The claimed hosts of the current wave grouped back into their plan steps (≤50 ids each). */
function claimedSteps(r: Rollout): WaveStep[] {
  return r.plan.waves
    .filter((s) => s.wave === r.currentWave)
    .map((s) => ({ ...s, instanceIds: s.instanceIds.filter((id) => r.hosts[id]?.status === "dispatching") }))
    .filter((s) => s.instanceIds.length > 0);
}
