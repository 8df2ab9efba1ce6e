// The unmanaged-host check, incrementally. SSM answers "which of these ids are registered" at most 50 ids per
// call, so asking about every host costs ⌈N/50⌉ calls. After the first (full) check an audit asks about the hosts
// that could have changed (new launches, hosts already found unmanaged) plus a rolling slice of everyone else sized
// so the whole fleet is asked again within a week at the audit's own cadence (no weekly ⌈N/50⌉ spike), and finds
// agents that stopped answering with one sweep of the unreachable nodes. The state travels in the audit summary.
import * as z from "zod/mini";
import "./zod-messages.ts";
import type { Host } from "./model.ts";
import { ONLINE_PING_STATUS } from "./ssm.ts";

/** The SSM agent takes minutes to register after boot: a younger unregistered host is not a finding yet. */
export const REGISTRATION_GRACE_MS = 15 * 60_000;
/** Launches this long before the previous check are asked about again (clock skew, an audit that ran long). */
export const LAUNCH_MARGIN_MS = 60 * 60_000;
/**
 * Every live host is asked about by id at least this often (a rolling pass): catches what the incremental check
 * cannot see (e.g. a node deregistered outright, which the unreachable sweep never lists).
 */
export const RECONCILE_EVERY_MS = 7 * 24 * 60 * 60_000;
/** Slices are sized for a pass in 6 days, so jitter in the cadence or a growing fleet still finishes within 7. */
const PASS_PLANNED_MS = 6 * 24 * 60 * 60_000;
/** Unmanaged ids remembered; beyond, `truncated` and the next audit checks everything. Keeps the summary < 4 KB. */
export const MAX_REMEMBERED = 100;

const INSTANCE_ID = /^i-[0-9a-f]{8,17}$/;

export const RegistryState = z.object({
  checkedAt: z.iso.datetime(),
  fullCheckAt: z.iso.datetime(),
  unmanaged: z
    .array(z.string().check(z.regex(INSTANCE_ID, "an EC2 instance id (i-…)")))
    .check(z.maxLength(MAX_REMEMBERED)),
  truncated: z.optional(z.boolean()),
  /** The rolling pass's position: the last instance id (in id order) asked about. */
  cursor: z.optional(z.string().check(z.regex(INSTANCE_ID, "an EC2 instance id (i-…)"))),
});
export type RegistryState = z.infer<typeof RegistryState>;

/** Only the registry part of a stored audit summary matters here; the rest is the operator's. */
const StoredSummary = z.object({ registry: RegistryState });

/** The state inside a stored audit summary; a missing, unparsable or invalid value is a reason to check everything. */
export function registryStateFromSummary(text: string | undefined): { state?: RegistryState; problem?: string } {
  if (text === undefined) return { problem: "no previous audit summary" };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { problem: "previous audit summary is not JSON" };
  }
  const parsed = StoredSummary.safeParse(json);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    return {
      problem: `previous registry state invalid (${first ? `${first.path.join(".")}: ${first.message}` : "?"})`,
    };
  }
  return { state: parsed.data.registry };
}

export type RegistryMode = "full" | "incremental";

export interface RegistryPlan {
  mode: RegistryMode;
  /** Why this mode, in words an operator reads in the report. */
  reason: string;
  /** Live hosts to ask SSM about by id. */
  candidates: string[];
  /** Incremental: where the rolling pass stops this time, and whether it came round to the start (a pass done). */
  cursor?: string;
  passCompleted?: boolean;
}

type Live = Pick<Host, "instanceId" | "launchTime">;

/** Which live hosts to ask SSM about: everyone (full), or what may have changed since the previous check. */
export function planRegistryCheck(
  live: readonly Live[],
  previous: RegistryState | undefined,
  now: Date,
  opts: { forceFull?: boolean; problem?: string } = {},
): RegistryPlan {
  const all = (reason: string): RegistryPlan => ({ mode: "full", reason, candidates: live.map((h) => h.instanceId) });
  if (opts.forceFull) return all("full check requested");
  if (!previous) return all(opts.problem ?? "no previous registry state");
  const t = now.getTime();
  const checkedAt = Date.parse(previous.checkedAt);
  const fullCheckAt = Date.parse(previous.fullCheckAt);
  // A state from the future would make the launch window empty: never trust it.
  if (checkedAt > t || fullCheckAt > t) return all("previous registry state is dated in the future");
  if (previous.truncated) return all(`over ${MAX_REMEMBERED} unmanaged hosts last time: their ids were not all kept`);

  const since = checkedAt - LAUNCH_MARGIN_MS;
  const remembered = new Set(previous.unmanaged);
  let launched = 0;
  let again = 0;
  const picked = new Set<string>();
  for (const h of live) {
    const launch = Date.parse(h.launchTime);
    // An unreadable launch time cannot prove the host was already checked.
    if (Number.isNaN(launch) || launch >= since) {
      launched++;
      picked.add(h.instanceId);
    } else if (remembered.has(h.instanceId)) {
      again++;
      picked.add(h.instanceId);
    }
  }
  const slice = rollingSlice(
    live.map((h) => h.instanceId),
    previous.cursor,
    t - checkedAt,
  );
  for (const id of slice.ids) picked.add(id);
  // A pass that has not come round within the period (audits paused, fleet grew) ends in a full check.
  if (t - fullCheckAt > RECONCILE_EVERY_MS && !slice.passCompleted)
    return all(`no complete pass since ${previous.fullCheckAt} (over 7 days)`);
  return {
    mode: "incremental",
    reason: `${launched} launched since ${new Date(since).toISOString()}, ${again} unmanaged last time, ${slice.ids.length} in the rolling pass`,
    candidates: [...picked],
    ...(slice.cursor ? { cursor: slice.cursor } : {}),
    ...(slice.passCompleted ? { passCompleted: true } : {}),
  };
}

/**
 * The next ids of the rolling pass, in id order after `cursor`: enough that at this cadence (the time since the
 * previous audit) every host is asked within RECONCILE_EVERY_MS — ⌈N/144⌉ for hourly audits. Reaching the end of
 * the id order completes a pass; the next one starts from the beginning.
 */
export function rollingSlice(
  liveIds: readonly string[],
  cursor: string | undefined,
  sincePreviousMs: number,
): { ids: string[]; cursor?: string; passCompleted: boolean } {
  const sorted = [...liveIds].sort();
  if (sorted.length === 0) return { ids: [], passCompleted: true };
  const share = Math.min(1, Math.max(sincePreviousMs, 0) / PASS_PLANNED_MS);
  const size = Math.min(sorted.length, Math.max(1, Math.ceil(sorted.length * share)));
  const start = cursor === undefined ? 0 : sorted.findIndex((id) => id > cursor);
  if (start === -1) return { ids: [], passCompleted: true }; // the cursor is past every id: the pass is done
  const ids = sorted.slice(start, start + size);
  const done = start + size >= sorted.length;
  return done ? { ids, passCompleted: true } : { ids, cursor: ids.at(-1) as string, passCompleted: false };
}

/** What SSM said: PingStatus of registered nodes (Online, ConnectionLost, Inactive); absent = not registered. */
export interface RegistryAnswers {
  /** Registered nodes whose agent is not reachable (the sweep, incremental mode only). */
  unreachable: ReadonlyMap<string, string>;
  /** PingStatus of the candidates SSM knows. */
  candidates: ReadonlyMap<string, string>;
}

export interface UnmanagedHost {
  instanceId: string;
  /** The agent's PingStatus when SSM knows the host; undefined = never registered. */
  pingStatus?: string;
  detail: string;
}

export interface RegistryVerdict {
  unmanaged: UnmanagedHost[];
  /** Candidates under the grace period, not registered yet: not reported; the launch margin asks again next time. */
  deferred: string[];
  state: RegistryState;
}

const UNREACHABLE = "restarts through Run Command cannot reach this host";

/** Unmanaged hosts among the live ones, and the state the next audit starts from. */
export function judgeRegistry(
  live: readonly Live[],
  plan: RegistryPlan,
  answers: RegistryAnswers,
  previous: RegistryState | undefined,
  now: Date,
): RegistryVerdict {
  const byId = new Map(live.map((h) => [h.instanceId, h]));
  const unmanaged = new Map<string, UnmanagedHost>();
  const deferred: string[] = [];
  const lost = (instanceId: string, pingStatus: string): UnmanagedHost => ({
    instanceId,
    pingStatus,
    detail: `SSM agent registered but ${pingStatus}: ${UNREACHABLE}`,
  });

  for (const [id, ping] of answers.unreachable)
    if (byId.has(id) && ping !== ONLINE_PING_STATUS) unmanaged.set(id, lost(id, ping));
  for (const id of plan.candidates) {
    if (unmanaged.has(id)) continue;
    const ping = answers.candidates.get(id);
    if (ping === ONLINE_PING_STATUS) continue;
    if (ping !== undefined) {
      unmanaged.set(id, lost(id, ping));
      continue;
    }
    const launch = Date.parse(byId.get(id)?.launchTime ?? "");
    if (!Number.isNaN(launch) && now.getTime() - launch < REGISTRATION_GRACE_MS) {
      deferred.push(id);
      continue;
    }
    unmanaged.set(id, {
      instanceId: id,
      detail: `not registered with SSM (agent missing or stopped, or no SSM permissions in its role): ${UNREACHABLE}`,
    });
  }

  // Never-registered hosts first: only the id check finds them; the sweep finds the others anyway.
  const remembered = [...unmanaged.values()]
    .sort((a, b) => Number(a.pingStatus !== undefined) - Number(b.pingStatus !== undefined))
    .map((u) => u.instanceId);
  const at = now.toISOString();
  const state: RegistryState = {
    checkedAt: at,
    // A full check, or a rolling pass that came round, has asked about every live host.
    fullCheckAt: plan.mode === "full" || plan.passCompleted || !previous ? at : previous.fullCheckAt,
    unmanaged: remembered.slice(0, MAX_REMEMBERED),
    ...(remembered.length > MAX_REMEMBERED ? { truncated: true } : {}),
    ...(plan.mode === "incremental" && plan.cursor ? { cursor: plan.cursor } : {}),
  };
  return { unmanaged: [...unmanaged.values()], deferred, state };
}

/** The registry part of the audit report: the check's mode and cost, and the state to persist. */
export type RegistryReport =
  | (RegistryState & {
      mode: RegistryMode;
      reason: string;
      /** Hosts asked about by id (the call cost is ⌈candidates/50⌉, plus the sweep in incremental mode). */
      candidates: number;
      deferred: number;
      /** Finding-less facts the operator should know (hosts still inside the registration grace period). */
      note?: string;
    })
  | { mode: "unavailable"; reason: string; candidates: number; deferred: number };

/** The state the next audit reads: this audit's, or the previous one when SSM could not answer. */
export function registryStateToKeep(
  report: RegistryReport,
  previous: RegistryState | undefined,
): RegistryState | undefined {
  if (report.mode === "unavailable") return previous;
  const { checkedAt, fullCheckAt, unmanaged, truncated, cursor } = report;
  return { checkedAt, fullCheckAt, unmanaged, ...(truncated ? { truncated } : {}), ...(cursor ? { cursor } : {}) };
}
