// In-memory fakes of the ports, for the paths moto cannot produce (unmanaged hosts, account IMDS defaults,
// a role deleted mid-flight, throttling after retries, concurrent writes, crashes). Test-only.
import { type Config, loadConfig } from "#core/app/config";
import type { Deps } from "#core/app/deps";
import type { Batch } from "#core/domain/coalesce";
import { NotFoundError } from "#core/domain/errors";
import type { Hold, TriggeredAlarm } from "#core/domain/gates";
import type { Host, ImdsOptions } from "#core/domain/model";
import type { Rollout, RolloutHead, StepRecord, StepRef, Verdict } from "#core/domain/rollout";
import { allStepIndices, resetForResume } from "#core/domain/rollout";
import { secretIdMatches } from "#core/domain/secrets";
import type {
  CommandRunner,
  FleetInventory,
  Idempotency,
  InvocationStatus,
  ManagedInstances,
  ParameterStore,
  PolicyStore,
  RestartRequest,
  RolePolicies,
  RolloutStore,
  SecretCatalog,
  SecretDescription,
} from "#core/ports/index";

const clone = <T>(v: T): T => structuredClone(v);

export class FakeInventory implements FleetInventory {
  readonly hosts = new Map<string, Host>();
  readonly modifyCalls: { instanceId: string; desired: Omit<ImdsOptions, "state"> }[] = [];
  readonly tagCalls: { instanceIds: string[]; tags: Record<string, string> }[] = [];
  defaults: Partial<ImdsOptions> | undefined = undefined;

  constructor(hosts: Host[] = []) {
    for (const h of hosts) this.hosts.set(h.instanceId, clone(h));
  }
  async describeHost(instanceId: string): Promise<Host | undefined> {
    const h = this.hosts.get(instanceId);
    return h && clone(h);
  }
  async scanNamespace(tagKey: string, namespace: string): Promise<Host[]> {
    return [...this.hosts.values()]
      .filter((h) => h.tags[tagKey] === namespace && h.state !== "terminated" && h.state !== "shutting-down")
      .map(clone);
  }
  async modifyImds(instanceId: string, desired: Omit<ImdsOptions, "state">): Promise<ImdsOptions> {
    this.modifyCalls.push({ instanceId, desired: { ...desired } });
    const h = this.hosts.get(instanceId);
    if (!h) throw new NotFoundError(`instance ${instanceId}`);
    h.imds = { ...desired, state: "applied" };
    return { ...h.imds };
  }
  async tagHosts(instanceIds: string[], tags: Record<string, string>): Promise<void> {
    this.tagCalls.push({ instanceIds: [...instanceIds], tags: { ...tags } });
    for (const id of instanceIds) {
      const h = this.hosts.get(id);
      if (h) h.tags = { ...h.tags, ...tags };
    }
  }
  async imdsDefaults(): Promise<Partial<ImdsOptions> | undefined> {
    return this.defaults && { ...this.defaults };
  }
}

/** Instance profiles → roles → policies; a role set to `"deleted"` throws NotFoundError when loaded. */
export class FakePolicies implements PolicyStore {
  readonly profiles = new Map<string, string>();
  readonly roles = new Map<string, RolePolicies | "deleted">();
  loads = 0;

  async roleOfInstanceProfile(arn: string): Promise<{ roleName: string; roleArn: string } | undefined> {
    const roleName = this.profiles.get(arn);
    return roleName ? { roleName, roleArn: `arn:aws:iam::123456789012:role/${roleName}` } : undefined;
  }
  async rolePolicies(roleName: string): Promise<RolePolicies> {
    this.loads++;
    const r = this.roles.get(roleName);
    if (!r || r === "deleted") throw new NotFoundError(`role ${roleName} does not exist`);
    return clone(r);
  }
}

export class FakeSecrets implements SecretCatalog {
  readonly calls: string[] = [];
  constructor(readonly secrets: SecretDescription[] = []) {}
  async describe(secretId: string): Promise<SecretDescription | undefined> {
    this.calls.push(secretId);
    const s = this.secrets.find((x) => secretIdMatches(secretId, x));
    return s && { ...s };
  }
  async describeMany(secretIds: string[]): Promise<Map<string, SecretDescription | undefined>> {
    this.calls.push(`many:${secretIds.length}`);
    const out = new Map<string, SecretDescription | undefined>();
    for (const id of secretIds) {
      const s = this.secrets.find((x) => secretIdMatches(id, x));
      out.set(id, s && { ...s });
    }
    return out;
  }
}

/** Run Command: records every SendCommand; `failOn(n, err)` makes the n-th call (1-based) throw. */
export class FakeCommands implements CommandRunner {
  readonly sent: (RestartRequest & { commandId: string })[] = [];
  readonly statuses = new Map<string, InvocationStatus>();
  private failures = new Map<number, Error>();
  private calls = 0;

  failOn(call: number, err: Error): void {
    this.failures.set(call, err);
  }
  async sendRestart(req: RestartRequest): Promise<{ commandId: string }> {
    this.calls++;
    const err = this.failures.get(this.calls);
    if (err) throw err;
    const commandId = `0000000${this.calls}-aaaa-bbbb-cccc-000000000000`.slice(-36);
    this.sent.push({ ...req, instanceIds: [...req.instanceIds], commandId });
    return { commandId };
  }
  /** Sets what GetCommandInvocation answers for every host of a command. */
  finish(commandId: string, status: InvocationStatus, only?: string[]): void {
    const cmd = this.sent.find((c) => c.commandId === commandId);
    if (!cmd) throw new Error(`no command ${commandId}`);
    for (const id of only ?? cmd.instanceIds) this.statuses.set(`${commandId}|${id}`, status);
  }
  async invocation(commandId: string, instanceId: string) {
    const cmd = this.sent.find((c) => c.commandId === commandId);
    if (!cmd?.instanceIds.includes(instanceId)) return undefined;
    return { status: this.statuses.get(`${commandId}|${instanceId}`) ?? "InProgress", comment: cmd.comment };
  }
  async commandComment(commandId: string): Promise<string | undefined> {
    return this.sent.find((c) => c.commandId === commandId)?.comment;
  }
  /** Commands SSM stopped on their alarm (`stop`): what ListCommands' TriggeredAlarms answers. */
  readonly triggered = new Map<string, TriggeredAlarm[]>();
  /** SSM stops a command on its alarm: the given hosts' invocations end Cancelled, TriggeredAlarms names the alarm. */
  stop(commandId: string, only?: string[]): void {
    const cmd = this.sent.find((c) => c.commandId === commandId);
    if (!cmd?.alarm) throw new Error(`command ${commandId} carries no alarm`);
    this.triggered.set(commandId, [{ name: cmd.alarm, state: "ALARM" }]);
    this.finish(commandId, "Cancelled", only);
  }
  async commandAlarms(commandId: string): Promise<{ alarm?: string; triggered: TriggeredAlarm[] }> {
    const cmd = this.sent.find((c) => c.commandId === commandId);
    return { ...(cmd?.alarm ? { alarm: cmd.alarm } : {}), triggered: this.triggered.get(commandId) ?? [] };
  }
  async invocations(commandId: string, instanceIds: string[]): Promise<Map<string, InvocationStatus>> {
    const out = new Map<string, InvocationStatus>();
    for (const id of instanceIds) {
      const inv = await this.invocation(commandId, id);
      if (inv) out.set(id, inv.status);
    }
    return out;
  }
  async commandsWithComment(instanceId: string, documentName: string, comment: string): Promise<string[]> {
    return this.sent
      .filter((c) => c.instanceIds.includes(instanceId) && c.documentName === documentName && c.comment === comment)
      .map((c) => c.commandId);
  }
}

/**
 * The rollout table's items in memory with the DynamoDB adapter's conditional-write semantics: each method reads and
 * writes with no await in between, as one conditional UpdateItem is atomic on its item. `writes` counts calls.
 */
export class FakeRolloutStore implements RolloutStore {
  readonly heads = new Map<string, RolloutHead>();
  readonly stepItems = new Map<string, StepRecord>();
  readonly running = new Set<string>();
  writes = 0;

  private key = (id: string, i: number) => `${id}#${i}`;
  private step(id: string, i: number): StepRecord | undefined {
    return this.stepItems.get(this.key(id, i));
  }
  async create(head: RolloutHead, steps: StepRecord[]): Promise<boolean> {
    this.writes++;
    for (const s of steps)
      if (!this.step(s.rolloutId, s.index)) this.stepItems.set(this.key(s.rolloutId, s.index), clone(s));
    if (this.heads.has(head.rolloutId)) return false;
    this.heads.set(head.rolloutId, clone(head));
    if (head.status !== "succeeded") this.running.add(head.rolloutId);
    return true;
  }
  async head(id: string): Promise<RolloutHead | undefined> {
    const h = this.heads.get(id);
    return h && clone(h);
  }
  async steps(id: string, indices: number[]): Promise<StepRecord[]> {
    return indices.flatMap((i) => {
      const s = this.step(id, i);
      return s ? [clone(s)] : [];
    });
  }
  async get(id: string): Promise<Rollout | undefined> {
    const h = await this.head(id);
    if (!h) return undefined;
    return { ...h, steps: await this.steps(id, allStepIndices(h)) };
  }
  async claimStep(id: string, i: number, now: string, expiredClaimAt?: string): Promise<StepRecord | undefined> {
    this.writes++;
    const s = this.step(id, i);
    if (!s || (expiredClaimAt ? s.state !== "claimed" || s.claimedAt !== expiredClaimAt : s.state !== "planned"))
      return undefined;
    Object.assign(s, { state: "claimed", claimedAt: now });
    return clone(s);
  }
  async markSent(id: string, i: number, attempt: number, commandIds: string[], now: string): Promise<boolean> {
    this.writes++;
    const s = this.step(id, i);
    if (s?.state !== "claimed" || s.attempt !== attempt) return false;
    Object.assign(s, { state: "sent", commandIds: [...commandIds], sentAt: now });
    return true;
  }
  async releaseStep(id: string, i: number, attempt: number): Promise<void> {
    this.writes++;
    const s = this.step(id, i);
    if (s && s.state === "claimed" && s.attempt === attempt) {
      s.state = "planned";
      delete s.claimedAt;
    }
  }
  async recordOutcome({ rolloutId: id, step: i, attempt }: StepRef, targetId: string, verdict: Verdict, why: string) {
    this.writes++;
    const s = this.open(id, i, attempt, targetId);
    if (!s) return { applied: false, step: this.snapshot(id, i) };
    s[verdict] = [...s[verdict], targetId].sort();
    s.done++;
    if (verdict !== "ok") s.why[targetId] = why;
    return { applied: true, step: clone(s) };
  }
  private snapshot(id: string, i: number): StepRecord | undefined {
    const s = this.step(id, i);
    return s && clone(s);
  }
  /** The step, when `targetId` is one of its targets with no outcome and no stop in this attempt. */
  private open(id: string, i: number, attempt: number, targetId: string): StepRecord | undefined {
    const s = this.step(id, i);
    const seen = s && [...s.ok, ...s.bad, ...s.skip, ...s.stopped].includes(targetId);
    return s && s.attempt === attempt && s.targetIds.includes(targetId) && !seen ? s : undefined;
  }
  async recordStop({ rolloutId: id, step: i, attempt }: StepRef, targetId: string, why: string) {
    this.writes++;
    const s = this.open(id, i, attempt, targetId);
    if (!s) return { applied: false, step: this.snapshot(id, i) };
    s.stopped = [...s.stopped, targetId].sort();
    s.why[targetId] = why;
    return { applied: true, step: clone(s) };
  }
  async resendStopped(id: string, i: number, attempt: number, why: Record<string, string>) {
    this.writes++;
    const s = this.step(id, i);
    if (!s || s.attempt !== attempt || s.state !== "sent" || s.stopped.length === 0) return undefined;
    Object.assign(s, { state: "planned", attempt: attempt + 1, why: { ...why }, commandIds: [], stopped: [] });
    delete s.claimedAt;
    delete s.sentAt;
    return clone(s);
  }
  async closeStep(id: string, i: number, attempt: number, now: string): Promise<boolean> {
    this.writes++;
    const s = this.step(id, i);
    if (!s || s.closed || s.attempt !== attempt) return false;
    Object.assign(s, { closed: true, closedAt: now });
    return true;
  }
  async markTagged(id: string, i: number): Promise<void> {
    this.writes++;
    const s = this.step(id, i);
    if (s) s.tagged = true;
  }
  async addDone(id: string, wi: number, n: number): Promise<RolloutHead> {
    this.writes++;
    const h = this.heads.get(id);
    if (!h) throw new Error(`rollout ${id} not found`);
    h.done[wi] = (h.done[wi] ?? 0) + n;
    return clone(h);
  }
  async setDone(id: string, wi: number, expected: number, value: number): Promise<boolean> {
    this.writes++;
    const h = this.heads.get(id);
    if (!h || h.done[wi] !== expected) return false;
    h.done[wi] = value;
    return true;
  }
  async advance(id: string, from: number, to: number, now: string, hold?: Hold): Promise<boolean> {
    this.writes++;
    const h = this.heads.get(id);
    if (!h || h.current !== from || h.status !== "running") return false;
    Object.assign(h, { current: to, updatedAt: now }, hold ? { hold: clone(hold) } : {});
    return true;
  }
  async setHold(id: string, hold: Hold, now: string): Promise<boolean> {
    this.writes++;
    const h = this.heads.get(id);
    if (!h || h.current !== hold.wave || h.status !== "running" || (h.hold && h.hold.since !== hold.since))
      return false;
    Object.assign(h, { hold: clone(hold), updatedAt: now });
    return true;
  }
  async release(id: string, hold: Hold, now: string): Promise<boolean> {
    this.writes++;
    const h = this.heads.get(id);
    if (!h?.hold || h.hold.since !== hold.since || h.hold.wave !== hold.wave) return false;
    Object.assign(h, { lastHold: { ...clone(h.hold), releasedAt: now }, updatedAt: now });
    delete h.hold;
    return true;
  }
  async succeed(id: string, wi: number, now: string): Promise<boolean> {
    this.writes++;
    const h = this.heads.get(id);
    if (!h || h.current !== wi || h.status !== "running") return false;
    Object.assign(h, { status: "succeeded", updatedAt: now });
    this.running.delete(id);
    return true;
  }
  async halt(id: string, reason: string, now: string): Promise<boolean> {
    this.writes++;
    const h = this.heads.get(id);
    if (h?.status !== "running") return false;
    Object.assign(h, { status: "halted", haltReason: reason, updatedAt: now });
    return true;
  }
  async resume(head: RolloutHead, steps: StepRecord[], now: string): Promise<boolean> {
    this.writes++;
    const h = this.heads.get(head.rolloutId);
    if (h?.status !== "halted") return false;
    const plan = resetForResume(head, steps);
    Object.assign(h, { status: "running", updatedAt: now });
    delete h.haltReason;
    h.done[h.current] = (h.done[h.current] ?? 0) - plan.lowerDone;
    for (const r of plan.steps) {
      const s = this.step(head.rolloutId, r.index);
      if (!s || s.attempt !== r.attempt) continue;
      Object.assign(s, {
        state: "planned",
        attempt: r.attempt + 1,
        done: s.done - r.bad,
        closed: false,
        tagged: false,
      });
      Object.assign(s, { why: r.why, commandIds: [], bad: [], stopped: [] });
      delete s.claimedAt;
      delete s.sentAt;
      delete s.closedAt;
    }
    this.running.add(head.rolloutId);
    return true;
  }
  async openRollouts(): Promise<string[]> {
    return [...this.running].sort();
  }
  readonly pointers = new Map<string, { leader: string; deadline: string }>();
  readonly batches = new Map<string, Batch>();
  async currentBatch(ns: string) {
    const p = this.pointers.get(ns);
    return p && { ...p };
  }
  async openBatch(b: Pick<Batch, "leader" | "namespace" | "openedAt" | "deadline">, now: string) {
    this.writes++;
    if (!this.batches.has(b.leader)) this.batches.set(b.leader, { ...b, members: [b.leader] });
    const p = this.pointers.get(b.namespace);
    if (p && p.deadline > now && p.leader !== b.leader) return false;
    this.pointers.set(b.namespace, { leader: b.leader, deadline: b.deadline });
    return true;
  }
  async joinBatch(leader: string, member: string, now: string) {
    this.writes++;
    const b = this.batches.get(leader);
    if (!b || b.closed || b.deadline <= now) return false;
    if (!b.members.includes(member)) b.members = [...b.members, member].sort();
    return true;
  }
  async batch(leader: string) {
    const b = this.batches.get(leader);
    return b && clone(b);
  }
  async closeBatch(leader: string, now: string) {
    this.writes++;
    const b = this.batches.get(leader);
    if (b && !b.closed && b.deadline <= now) b.closed = [...b.members];
    return this.batch(leader);
  }
  async setMerged(leader: string, merged: string[]) {
    this.writes++;
    const b = this.batches.get(leader);
    if (b?.closed && !b.merged) b.merged = [...merged];
    return this.batch(leader);
  }
  async markCoalesced(id: string, into: string, reason: string, now: string) {
    this.writes++;
    const h = this.heads.get(id);
    this.running.delete(id);
    if (!h?.hold || h.coalescedInto || h.status !== "running") return false;
    Object.assign(h, { coalescedInto: into, hold: { ...h.hold, reason }, updatedAt: now });
    return true;
  }
  async forget(id: string): Promise<void> {
    this.running.delete(id);
  }
  async list(limit: number): Promise<RolloutHead[]> {
    return [...this.heads.values()].slice(0, limit).map(clone);
  }
}

export class FakeParams implements ParameterStore {
  readonly values = new Map<string, string>();
  async get(name: string): Promise<string | undefined> {
    return this.values.get(name);
  }
  async put(name: string, value: string, overwrite: boolean): Promise<void> {
    if (!overwrite && this.values.has(name)) throw new Error(`parameter ${name} exists`);
    this.values.set(name, value);
  }
}

/**
 * SSM fleet manager: `online` undefined = the API is unavailable; otherwise the online instance ids, plus
 * `lost` (registered, agent not reachable: id → PingStatus). Any other id is not registered.
 */
export class FakeManaged implements ManagedInstances {
  readonly lost = new Map<string, string>();
  constructor(public online: Set<string> | undefined) {}
  async pingStatus(instanceIds: string[]): Promise<Map<string, string> | undefined> {
    const online = this.online;
    if (!online) return undefined;
    const out = new Map<string, string>();
    for (const id of instanceIds) {
      const ping = online.has(id) ? "Online" : this.lost.get(id);
      if (ping) out.set(id, ping);
    }
    return out;
  }
  async unreachable(): Promise<Map<string, string> | undefined> {
    return this.online && new Map(this.lost);
  }
}

/**
 * Powertools' semantics in memory: the first delivery of a key runs, a concurrent one fails as in progress (the
 * event is retried), a later one gets the stored result as a duplicate; a run that throws leaves no record.
 */
export class FakeIdempotency implements Idempotency {
  readonly records = new Map<string, { status: "INPROGRESS" } | { status: "COMPLETED"; result: unknown }>();

  async once<T>(key: Record<string, string>, work: () => Promise<T>): Promise<{ result: T; duplicate: boolean }> {
    const k = JSON.stringify(Object.entries(key).sort());
    const rec = this.records.get(k);
    if (rec?.status === "COMPLETED") return { result: clone(rec.result) as T, duplicate: true };
    if (rec)
      throw Object.assign(new Error(`record ${k} is in progress`), { name: "IdempotencyAlreadyInProgressError" });
    this.records.set(k, { status: "INPROGRESS" });
    try {
      const result = await work();
      this.records.set(k, { status: "COMPLETED", result: clone(result) });
      return { result, duplicate: false };
    } catch (err) {
      this.records.delete(k);
      throw err;
    }
  }
}

export interface FakeWorld {
  deps: Deps & { managed: FakeManaged };
  inventory: FakeInventory;
  policies: FakePolicies;
  secrets: FakeSecrets;
  commands: FakeCommands;
  rollouts: FakeRolloutStore;
  params: FakeParams;
}

export const FAKE_RESTART_DOCUMENT = "dcp-restart-service";

export function fakeWorld(
  namespace: string,
  opts: { hosts?: Host[]; secrets?: SecretDescription[]; config?: Partial<Config>; now?: Date } = {},
): FakeWorld {
  const inventory = new FakeInventory(opts.hosts);
  const policies = new FakePolicies();
  const secrets = new FakeSecrets(opts.secrets);
  const commands = new FakeCommands();
  const rollouts = new FakeRolloutStore();
  const params = new FakeParams();
  const config = loadConfig(
    { DCP_NAMESPACE: namespace, DCP_RESTART_DOCUMENT: FAKE_RESTART_DOCUMENT, AWS_REGION: "eu-central-1" },
    opts.config,
  );
  const now = opts.now ?? new Date("2025-11-20T12:00:00.000Z");
  const ports = { inventory, policies, secrets, commands, rollouts, params };
  return { deps: { config, ...ports, managed: new FakeManaged(undefined), now: () => now }, ...ports };
}
