import { type ResultEffect, type Rollout, recordResult } from "../domain/rollout.ts";
import { versionTags } from "../domain/secrets.ts";
import { FINAL_STATUSES } from "../domain/ssm.ts";
import type { Deps } from "./deps.ts";
import { dispatchNextWave, mutateRollout, type NextWave, rolloutIdFromComment } from "./rollout-runner.ts";

export interface TrackInput {
  commandId: string;
  documentName: string;
  instanceId?: string;
  status: string;
}

export interface TrackResult {
  rolloutId?: string;
  commandId: string;
  instanceId?: string;
  status: string;
  recorded: { instanceId: string; status: string }[];
  nextWave?: NextWave;
  rolloutStatus?: Rollout["status"];
  halted?: string;
  ignored?: string;
}

/**
 * One SSM status change of our restart document: confirm with GetCommandInvocation, record per host,
 * tag the version each successful host now runs, halt on failure, send the next wave when one completes.
 */
export async function trackRestart(input: TrackInput, deps: Deps): Promise<TrackResult> {
  const out: TrackResult = {
    commandId: input.commandId,
    status: input.status,
    recorded: [],
    ...(input.instanceId ? { instanceId: input.instanceId } : {}),
  };
  if (input.documentName !== deps.config.restartDocument)
    return { ...out, ignored: `document ${input.documentName} is not the control plane's restart document` };

  // Which hosts to confirm: the one named, or (command-level terminal status) every host of the command.
  let rolloutId: string | undefined;
  let ids: string[];
  const confirmed = new Map<string, string>();
  if (input.instanceId) {
    const inv = await deps.commands.invocation(input.commandId, input.instanceId);
    if (!inv) return { ...out, ignored: "SSM knows no such invocation" };
    rolloutId = rolloutIdFromComment(inv.comment);
    confirmed.set(input.instanceId, inv.status);
    ids = [input.instanceId];
  } else {
    if (!FINAL_STATUSES.has(input.status)) return { ...out, ignored: `command status ${input.status} is not final` };
    rolloutId = rolloutIdFromComment(await deps.commands.commandComment(input.commandId));
    ids = [];
  }
  if (!rolloutId) return { ...out, ignored: "command is not part of a control-plane rollout" };
  out.rolloutId = rolloutId;
  const rollout = await deps.rollouts.get(rolloutId);
  if (!rollout) return { ...out, ignored: `rollout ${rolloutId} not found (expired?)` };
  if (!input.instanceId) {
    ids = rollout.commands.find((c) => c.commandId === input.commandId)?.instanceIds ?? [];
    for (const id of ids) {
      const inv = await deps.commands.invocation(input.commandId, id);
      if (inv) confirmed.set(id, inv.status);
    }
  }

  const now = deps.now().toISOString();
  const effects: { id: string; status: string; effect: ResultEffect }[] = [];
  const saved = await mutateRollout(deps, rolloutId, (cur) => {
    effects.length = 0;
    let next = cur;
    for (const [id, status] of confirmed) {
      if (next.hosts[id]?.commandId !== input.commandId) continue; // an older command for this host: not ours to record
      const r = recordResult(next, id, status, now);
      next = r.rollout;
      if (r.effect !== "unchanged") effects.push({ id, status, effect: r.effect });
    }
    return effects.length > 0 ? next : undefined;
  });
  const final = saved ?? rollout;
  out.recorded = effects.map(({ id, status }) => ({ instanceId: id, status }));
  out.rolloutStatus = final.status;

  const succeeded = effects.filter((e) => e.status === "Success").map((e) => e.id);
  if (succeeded.length > 0)
    await deps.inventory.tagHosts(succeeded, versionTags(final.plan.secretName, final.plan.versionId, now));

  if (effects.some((e) => e.effect === "halted")) out.halted = final.haltReason ?? "rollout halted";
  if (effects.some((e) => e.effect === "wave-complete")) {
    out.nextWave = await dispatchNextWave(deps, final);
  }
  return out;
}
