// Rollout policies, pure: the gates between waves (bake time, CloudWatch alarms, SSM Change Calendar, coalescing
// window), the per-secret profile, and the Parameter Store budget a wave is sized to. The engine (app/rollout-gates.ts)
// fetches the facts and stores a hold on the rollout's head; the reconciler and a one-time wake-up release it.
// Anchors: Auto Scaling instance refresh (bake, alarms), ECS deployments (bake time, alarms), SSM Run Command
// (AlarmConfiguration: one alarm per command) and Change Calendar (GetCalendarState OPEN/CLOSED).
import type { Manifest } from "./manifest.ts";
import { parseMaxConcurrency, STOPPED_STATUSES } from "./ssm.ts";

export type Profile = "fast" | "safe";
export type GateName = "coalesce" | "bake" | "calendar" | "alarm";

/** Concurrency of the fast profile (capped by the Parameter Store budget like any other). */
export const FAST_MAX_CONCURRENCY = "50%";

/**
 * The gates a rollout carries, fixed when it is planned (the tracker and the reconciler read no manifest).
 * `alarms` maps a manifest wave number to the alarm names of its services in this rollout.
 */
export interface RolloutPolicy {
  profile: Profile;
  /** Why this profile (manifest field, or the secret's OwningService). */
  profileWhy: string;
  bakeSeconds: number;
  coalesceSeconds: number;
  changeCalendar?: string;
  alarms: Record<string, string[]>;
  parameterStoreTps: number;
  mode: "restart" | "notify";
  /** `services[].readsPerRestart` of the rollout's services (a coalesced rollout is re-planned from it). */
  readsPerRestart?: Record<string, number>;
}

/** A wave held by its gates: durable state on the rollout head, never a sleep. */
export interface Hold {
  /** Index (in the head's `waves`) of the held wave. */
  wave: number;
  by: GateName[];
  reason: string;
  since: string;
  /** The earliest the timed gates (bake, coalescing window) end; a one-time wake-up is set for it. */
  until?: string;
  /**
   * The wave was already running when SSM stopped its restart on this alarm (the command's AlarmConfiguration): the
   * hold ends when the alarm gates open again (no bake or window: this is not a wave boundary), and then the hosts
   * SSM stopped are sent again — they did not restart.
   */
  stopped?: string;
}

/** What the gates are judged on, asked fresh at every evaluation. */
export interface GateFacts {
  /** StateValue per alarm name (OK, ALARM, INSUFFICIENT_DATA); an alarm absent from the map does not exist. */
  alarms: ReadonlyMap<string, string>;
  calendar?: { state: string; nextTransition?: string };
}

export type GateDecision = { open: true } | { open: false; hold: Hold };

/** The secret facts a profile is chosen from. */
export interface SecretTraits {
  /** DescribeSecret OwningService (e.g. `rds`): AWS rotates it; its old password stops working as rotation ends. */
  owningService?: string;
  /** The shared-secret entry's own profile, when the manifest names one. */
  profile?: Profile;
}

/**
 * The rollout's policy from the manifest and the secret: `fast` for a secret AWS manages (unless the manifest says
 * otherwise) — larger concurrency, no coalescing wait, no bake, no calendar hold; `safe` otherwise. Alarms always apply.
 */
export function policyFor(m: Manifest, secret: SecretTraits, services: string[]): RolloutPolicy {
  const profile: Profile = secret.profile ?? (secret.owningService ? "fast" : m.restart.profile);
  const profileWhy = secret.profile
    ? "sharedSecrets[].profile"
    : secret.owningService
      ? `managed by ${secret.owningService} (OwningService): its old value stops working when rotation ends`
      : "restart.profile";
  const alarms: Record<string, string[]> = {};
  for (const spec of m.services) {
    if (!services.includes(spec.name) || spec.alarms.length === 0) continue;
    const list = alarms[String(spec.wave)] ?? [];
    for (const n of spec.alarms) if (!list.includes(n)) list.push(n);
    alarms[String(spec.wave)] = list;
  }
  const fast = profile === "fast";
  return {
    profile,
    profileWhy,
    bakeSeconds: fast ? 0 : m.restart.bakeSeconds,
    coalesceSeconds: fast ? 0 : m.restart.coalesceSeconds,
    ...(!fast && m.restart.changeCalendar ? { changeCalendar: m.restart.changeCalendar } : {}),
    alarms,
    parameterStoreTps: m.restart.parameterStoreTps,
    mode: m.restart.mode,
    readsPerRestart: Object.fromEntries(
      m.services.filter((s) => services.includes(s.name)).map((s) => [s.name, s.readsPerRestart]),
    ),
  };
}

/** The MaxConcurrency a rollout's commands ask for before the Parameter Store cap. */
export function baseConcurrency(m: Manifest, profile: Profile): string {
  return profile === "fast" ? FAST_MAX_CONCURRENCY : m.restart.maxConcurrency;
}

/** The head fields the gates read (kept structural so the engine's head satisfies it). */
export interface GatedHead {
  createdAt: string;
  waves: { wave: number }[];
  policy?: RolloutPolicy;
  hold?: Hold;
}

/** Alarms that gate wave index `i`: those of every wave up to and including it (what was restarted, and what is next). */
export function alarmsGating(head: GatedHead, i: number): string[] {
  const upTo = head.waves[i]?.wave ?? Number.POSITIVE_INFINITY;
  const out = new Set<string>();
  for (const [wave, names] of Object.entries(head.policy?.alarms ?? {}))
    if (Number(wave) <= upTo) for (const n of names) out.add(n);
  return [...out].sort();
}

/**
 * When the timed gates of wave index `i` end (ms since the epoch), undefined when none applies: the first wave waits
 * out the coalescing window from the rollout's creation, a later one the bake time from its predecessor's completion
 * (the moment it is first evaluated, kept in the hold so later evaluations agree).
 */
export function timedGate(head: GatedHead, i: number, now: number): { by: GateName; until: number } | undefined {
  const p = head.policy;
  if (!p || (head.hold?.wave === i && head.hold.stopped)) return undefined;
  if (head.hold?.wave === i && head.hold.until && head.hold.by.some((g) => g === "bake" || g === "coalesce"))
    return { by: head.hold.by.includes("bake") ? "bake" : "coalesce", until: Date.parse(head.hold.until) };
  if (i === 0)
    return p.coalesceSeconds > 0
      ? { by: "coalesce", until: Date.parse(head.createdAt) + p.coalesceSeconds * 1000 }
      : undefined;
  return p.bakeSeconds > 0 ? { by: "bake", until: now + p.bakeSeconds * 1000 } : undefined;
}

/** Which facts an evaluation of wave index `i` needs (none while a timed gate still holds: no call is made). */
export function factsNeeded(head: GatedHead, i: number, now: number): { alarms: string[]; calendar?: string } {
  const timed = timedGate(head, i, now);
  if (timed && timed.until > now) return { alarms: [] };
  return {
    alarms: alarmsGating(head, i),
    ...(head.policy?.changeCalendar ? { calendar: head.policy.changeCalendar } : {}),
  };
}

/**
 * May wave index `i` be dispatched now? Pure: the rollout's policy, the facts asked just before, the clock (ms).
 * Holds: a timed gate not yet over (bake, coalescing window), a CLOSED change calendar, any gating alarm in ALARM
 * or missing (a misspelt alarm must not silently open the gate). Open when none holds.
 */
export function nextWaveGate(head: GatedHead, i: number, facts: GateFacts, now: number): GateDecision {
  const by: GateName[] = [];
  const why: string[] = [];
  const timed = timedGate(head, i, now);
  let until: string | undefined;
  if (timed && timed.until > now) {
    by.push(timed.by);
    until = new Date(timed.until).toISOString();
    why.push(`${timed.by === "bake" ? "bake time" : "coalescing window"} until ${until}`);
  } else {
    const cal = head.policy?.changeCalendar;
    if (cal && facts.calendar?.state !== "OPEN") {
      by.push("calendar");
      const next = facts.calendar?.nextTransition ? ` (next change ${facts.calendar.nextTransition})` : "";
      why.push(`change calendar ${cal} is ${facts.calendar?.state ?? "unknown (not asked)"}${next}`);
    }
    const firing = alarmsGating(head, i).filter(
      (n) => facts.alarms.get(n) !== "OK" && facts.alarms.get(n) !== "INSUFFICIENT_DATA",
    );
    if (firing.length > 0) {
      by.push("alarm");
      why.push(`alarm ${firing.map((n) => `${n} ${facts.alarms.get(n) ?? "missing"}`).join(", ")}`);
    }
  }
  if (by.length === 0) return { open: true };
  const held = head.hold?.wave === i ? head.hold : undefined;
  if (held?.stopped) why.unshift(stoppedWhy(held.stopped));
  return {
    open: false,
    hold: {
      wave: i,
      by,
      reason: `wave ${head.waves[i]?.wave ?? i} held: ${why.join("; ")}`,
      since: held?.since ?? new Date(now).toISOString(),
      ...(until ? { until } : {}),
      ...(held?.stopped ? { stopped: held.stopped } : {}),
    },
  };
}

const stoppedWhy = (alarm: string) => `SSM stopped its restart on alarm ${alarm} (the stopped hosts are sent again)`;

/** One entry of a command's `TriggeredAlarms` (ListCommands): SSM's AlarmStateInformation. */
export interface TriggeredAlarm {
  name: string;
  /** `ALARM` or `UNKNOWN` (SSM could not read the alarm). */
  state: string;
}

/**
 * Did SSM stop this host's invocation on the command's alarm? Pure. `status` is the host's own final invocation
 * status, `triggered` the command's TriggeredAlarms, `commandAlarm` the alarm the command carried (commandAlarm).
 * Returns that alarm's name when the invocation ended stopped (Cancelled/Terminated, ssm.ts STOPPED_STATUSES) and
 * the command's TriggeredAlarms has it in ALARM; undefined otherwise — a plain failure (Failed, TimedOut, a Cancelled
 * no alarm explains) stays a failure. Source: SSM API Reference, AlarmConfiguration and Command.TriggeredAlarms.
 */
export function alarmStop(
  status: string,
  triggered: readonly TriggeredAlarm[],
  commandAlarm: string | undefined,
): string | undefined {
  if (!commandAlarm || !STOPPED_STATUSES.has(status)) return undefined;
  return triggered.some((a) => a.name === commandAlarm && a.state === "ALARM") ? commandAlarm : undefined;
}

/**
 * The hold a running wave gets when SSM stopped one of its commands on `alarm`: the alarm gate's held state
 * (by `alarm`, durable on the head, released by the reconciler when the wave's alarms are OK), marked `stopped` so
 * the release sends the stopped hosts again. `waveIndex` indexes the head's waves; `now` in ms.
 */
export function stopHold(head: Pick<GatedHead, "waves">, waveIndex: number, alarm: string, now: number): Hold {
  return {
    wave: waveIndex,
    by: ["alarm"],
    reason: `wave ${head.waves[waveIndex]?.wave ?? waveIndex} held: ${stoppedWhy(alarm)}; alarm ${alarm} ALARM`,
    since: new Date(now).toISOString(),
    stopped: alarm,
  };
}

/** The one alarm a SendCommand carries (SSM takes exactly one; point it at a composite alarm for several). */
export function commandAlarm(head: GatedHead, waveNumber: number): string | undefined {
  return head.policy?.alarms[String(waveNumber)]?.[0];
}

// ---------------------------------------------------------------- Parameter Store budget

/** One command of a wave as the budget sees it. */
export interface BudgetedCommand {
  hosts: number;
  readsPerRestart: number;
}

/**
 * Sizes a wave's commands to Parameter Store: hosts restarting at once, summed over the wave's concurrent commands
 * and weighted by each service's reads, stay within `tps` (restarts read within a second). Each command's
 * MaxConcurrency is at most ⌊tps / readsPerRestart⌋ (at least 1); commands are packed in order into parts whose
 * concurrency fits the budget together, and each part is dispatched as its own sub-wave. Returns, per command, its
 * MaxConcurrency (a number) and part index.
 */
export function budgetWave(
  commands: BudgetedCommand[],
  baseMaxConcurrency: string,
  tps: number,
): { maxConcurrency: number; part: number; capped: boolean }[] {
  let part = 0;
  let used = 0;
  return commands.map((c) => {
    const wanted = Math.min(c.hosts, parseMaxConcurrency(baseMaxConcurrency, c.hosts));
    const cap = Math.max(1, Math.floor(tps / c.readsPerRestart));
    const mc = Math.min(wanted, cap);
    const cost = mc * c.readsPerRestart;
    if (used > 0 && used + cost > tps) {
      part++;
      used = 0;
    }
    used += cost;
    return { maxConcurrency: mc, part, capped: mc < wanted };
  });
}

/** ⌊tps / readsPerRestart⌋: the hosts of one service a wave may restart at once. */
export function parameterStoreCap(tps: number, readsPerRestart: number): number {
  return Math.max(1, Math.floor(tps / readsPerRestart));
}

/**
 * The plan's steps sized to the Parameter Store budget, wave by wave (budgetWave): each host step gets its
 * MaxConcurrency and, when its wave had to be split, the part (sub-wave) it is dispatched in. ECS steps read nothing
 * from Parameter Store at restart here and pass through.
 */
export function applyBudget<S extends { wave: number; service: string; kind: string; targetIds: string[] }>(
  steps: S[],
  m: { services: readonly { name: string; readsPerRestart?: number }[] },
  baseMaxConcurrency: string,
  tps: number,
): (S & { maxConcurrency?: string; part?: number })[] {
  const reads = (service: string) => m.services.find((s) => s.name === service)?.readsPerRestart ?? 10;
  const out: (S & { maxConcurrency?: string; part?: number })[] = [];
  for (let i = 0; i < steps.length; ) {
    let j = i;
    while (j < steps.length && steps[j]!.wave === steps[i]!.wave) j++;
    const wave = steps.slice(i, j);
    const hosts = wave.filter((s) => s.kind === "host");
    const sized = budgetWave(
      hosts.map((s) => ({ hosts: s.targetIds.length, readsPerRestart: reads(s.service) })),
      baseMaxConcurrency,
      tps,
    );
    const lastPart = sized.reduce((n, s) => Math.max(n, s.part), 0);
    let k = 0;
    for (const s of wave) {
      if (s.kind !== "host") {
        out.push(s);
        continue;
      }
      const b = sized[k++]!;
      out.push({ ...s, maxConcurrency: String(b.maxConcurrency), ...(lastPart > 0 ? { part: b.part } : {}) });
    }
    i = j;
  }
  // Parts of a wave run one after another: order by (wave, part), keeping the plan's order within a part.
  return out
    .map((s, n) => ({ s, n }))
    .sort((a, b) => a.s.wave - b.s.wave || (a.s.part ?? 0) - (b.s.part ?? 0) || a.n - b.n)
    .map(({ s }) => s);
}

/**
 * What an operator reads in `dcp restart plan` before each step's wave: the gates that must open first (coalescing
 * window or bake, change calendar, alarms), and for a later part of a split wave, the Parameter Store budget.
 */
export function gatesBefore(policy: RolloutPolicy, steps: { wave: number; part?: number }[], index: number): string {
  const s = steps[index];
  if (!s) return "";
  const prev = steps[index - 1];
  if (prev && prev.wave === s.wave && (prev.part ?? 0) === (s.part ?? 0)) return "(with the step above)";
  const out: string[] = [];
  if ((s.part ?? 0) > 0) out.push(`after part ${s.part} of wave ${s.wave} (Parameter Store budget)`);
  else if (index === 0) {
    if (policy.coalesceSeconds > 0) out.push(`coalescing window ${policy.coalesceSeconds} s`);
  } else if (policy.bakeSeconds > 0) out.push(`bake ${policy.bakeSeconds} s`);
  if (policy.changeCalendar) out.push(`calendar ${policy.changeCalendar} OPEN`);
  const alarms = Object.entries(policy.alarms)
    .filter(([w]) => Number(w) <= s.wave)
    .flatMap(([, names]) => names);
  if (alarms.length > 0) out.push(`alarms OK: ${[...new Set(alarms)].join(", ")}`);
  return out.length > 0 ? out.join("; ") : "none";
}

/** The plan's header lines about its policy: profile and why, mode, coalescing window, the Parameter Store budget. */
export function policyLines(policy: RolloutPolicy, reads: { service: string; readsPerRestart: number }[]): string[] {
  const caps = reads.map(
    (r) =>
      `${r.service} ${parameterStoreCap(policy.parameterStoreTps, r.readsPerRestart)} (${r.readsPerRestart} reads)`,
  );
  return [
    `Profile ${policy.profile} (${policy.profileWhy}); mode ${policy.mode}${policy.mode === "notify" ? ": nothing will be restarted" : ""}.`,
    policy.coalesceSeconds > 0
      ? `Coalescing window ${policy.coalesceSeconds} s: secrets of the namespace that change within it restart each host once (one rollout recording every version).`
      : "No coalescing window: the first wave is sent at once.",
    `Parameter Store budget ${policy.parameterStoreTps} reads/s: at most ⌊TPS / reads per restart⌋ hosts restarting at once per wave — ${caps.join(", ")}.`,
  ];
}
