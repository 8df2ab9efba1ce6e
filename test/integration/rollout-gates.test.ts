// The gates between waves against moto (EC2, SSM, Secrets Manager, IAM, DynamoDB and CloudWatch alarms real; moto's
// Run Command traps corrected by the SSM harness; GetCalendarState, which moto lacks, through aws-sdk-client-mock):
// an alarm in ALARM, a CLOSED change calendar and a bake time each hold the next wave as durable state that the
// reconciler releases; a secret AWS manages rolls on the fast profile; a wave over the Parameter Store budget is split.
import { CloudWatchClient, PutMetricAlarmCommand, SetAlarmStateCommand } from "@aws-sdk/client-cloudwatch";
import { CreateScheduleGroupCommand, GetScheduleCommand, SchedulerClient } from "@aws-sdk/client-scheduler";
import { PutSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { GetCalendarStateCommand, SSMClient } from "@aws-sdk/client-ssm";
import { mockClient } from "aws-sdk-client-mock";
import { beforeAll, describe, expect, it } from "vitest";
import { AwsGateSignals } from "#core/adapters/gates";
import { SchedulerWakeups } from "#core/adapters/wakeups";
import { reconcileRollouts } from "#core/app/rollout-engine";
import { confirmRotation, isFact, type RotationResult, startRollout } from "#core/app/rotate-secret";
import { trackRestart } from "#core/app/track-restart";
import { type Manifest, validateManifest } from "#core/domain/manifest";
import type { SeededFleet } from "../../scripts/lib/fleet.ts";
import { useMoto } from "../support/moto.ts";
import { seedTwoWaveFleet, succeedSent, type Wired, wire } from "../support/wiring.ts";

useMoto();
const NS = "voiceai/gates";
const ALARM = "voiceai-gates-api-5xx";
let fleet: SeededFleet;
let cloudwatch: CloudWatchClient;

const hostsOf = (service: string) => fleet.hosts.filter((h) => h.service === service).map((h) => h.instanceId);

/** The seeded manifest with restart fields and alarms changed for one test. */
function manifestWith(restart: Record<string, unknown>, alarms: Record<string, string[]> = {}): Manifest {
  return validateManifest({
    ...fleet.manifest,
    restart: { ...fleet.manifest.restart, ...restart },
    services: fleet.manifest.services.map((s) => ({ ...s, alarms: alarms[s.name] ?? [] })),
  });
}

async function start(w: Wired, m: Manifest, secret = fleet.sharedSecretArn!): Promise<RotationResult> {
  const out = await new SecretsManagerClient({}).send(
    new PutSecretValueCommand({ SecretId: secret, SecretString: JSON.stringify({ rotated: Math.random() }) }),
  );
  const fact = await confirmRotation({ kind: "act", trigger: "test", secretId: secret }, m, w.deps);
  if (!isFact(fact)) throw new Error(`not a fact: ${fact.reason}`);
  expect(fact.versionId).toBe(out.VersionId);
  return startRollout(fact, m, w.deps, { dryRun: false });
}

/** SSM's Success event for every host of every command sent so far (each once; the engine ignores repeats). */
const deliverAll = (w: Wired) => succeedSent(w, fleet.documentName);

const services = (w: Wired) => w.harness.sent().map((c) => c.parameters["Service"]?.[0]);

async function setAlarm(state: "OK" | "ALARM"): Promise<void> {
  await cloudwatch.send(new SetAlarmStateCommand({ AlarmName: ALARM, StateValue: state, StateReason: "test" }));
}

beforeAll(async () => {
  fleet = await seedTwoWaveFleet(NS);
  cloudwatch = new CloudWatchClient({});
  await cloudwatch.send(
    new PutMetricAlarmCommand({
      AlarmName: ALARM,
      Namespace: "VoiceAI",
      MetricName: "5xx",
      Statistic: "Sum",
      Period: 60,
      EvaluationPeriods: 1,
      Threshold: 1,
      ComparisonOperator: "GreaterThanOrEqualToThreshold",
    }),
  );
}, 120_000);

describe("alarm gate", () => {
  it("a service alarm in ALARM holds the next wave until the reconciler finds it OK; the command carries the alarm", async () => {
    const w = wire(fleet);
    const m = manifestWith({}, { api: [ALARM] });
    await setAlarm("OK");
    const first = await start(w, m);
    expect(first.held).toBeUndefined();
    expect(services(w)).toEqual(["database"]);

    await setAlarm("ALARM");
    await deliverAll(w);
    const held = await w.deps.rollouts.head(first.rolloutId!);
    expect(services(w)).toEqual(["database"]); // wave 0 done, wave 1 not sent
    expect(held).toMatchObject({ status: "running", current: 1, hold: { by: ["alarm"] } });
    expect(held?.hold?.reason).toContain(`${ALARM} ALARM`);

    // The reconciler asks again while the alarm fires: still held, nothing sent.
    const still = await reconcileRollouts(w.deps, { rolloutId: first.rolloutId!, dryRun: false });
    expect(still.rollouts[0]?.held?.by).toEqual(["alarm"]);
    expect(services(w)).toEqual(["database"]);

    await setAlarm("OK");
    const released = await reconcileRollouts(w.deps, { rolloutId: first.rolloutId!, dryRun: false });
    expect(released.rollouts[0]?.actions[0]).toMatch(/^release wave 1: gates open \(was held: alarm/);
    expect(services(w)).toEqual(["database", "api"]);
    const apiCommand = w.harness.sent()[1]!;
    expect(apiCommand.instanceIds.sort()).toEqual(hostsOf("api").sort());
    // SSM watches the service's alarm while the command runs (AlarmConfiguration takes exactly one alarm).
    expect(apiCommand.alarm).toBe(ALARM);
    expect(w.harness.sent()[0]?.alarm).toBeUndefined(); // database has no alarm of its own
    expect(w.counter.count("CloudWatch.DescribeAlarms")).toBe(3);
    const after = await w.deps.rollouts.head(first.rolloutId!);
    expect(after?.hold).toBeUndefined();
    expect(after?.lastHold).toMatchObject({ by: ["alarm"], releasedAt: expect.any(String) });

    await deliverAll(w);
    expect((await w.deps.rollouts.head(first.rolloutId!))?.status).toBe("succeeded");
  });

  it("a command SSM stopped on its alarm holds the rollout (not halted) until the alarm is OK, then the stopped hosts are sent again", async () => {
    const w = wire(fleet);
    await setAlarm("OK");
    const first = await start(w, manifestWith({}, { api: [ALARM] }));
    await deliverAll(w); // database done: the api wave goes out carrying the alarm
    const api = w.harness.sent()[1]!;
    expect(api.alarm).toBe(ALARM);
    const [h1, h2, h3] = [...api.instanceIds].sort();
    // The alarm fires while the command runs: SSM stops it; h1 had already restarted, h2 and h3 had not.
    await setAlarm("ALARM");
    w.harness.stopOnAlarm(api.commandId, [h2!, h3!]);
    const event = (instanceId: string | undefined, status: string) =>
      trackRestart(
        { commandId: api.commandId, documentName: fleet.documentName, status, ...(instanceId ? { instanceId } : {}) },
        w.deps,
      );
    // Lambda runs deliveries side by side: duplicated, reordered, plus the command-level event.
    const results = await Promise.all([
      event(h3, "Cancelled"),
      event(h1, "Success"),
      event(h2, "Cancelled"),
      event(undefined, "Cancelled"),
      event(h3, "Cancelled"),
      event(h2, "Cancelled"),
    ]);
    expect(results.every((r) => r.halted === null)).toBe(true);
    expect(results.some((r) => r.held?.includes(`SSM stopped its restart on alarm ${ALARM}`))).toBe(true);
    const held = await w.deps.rollouts.get(first.rolloutId!);
    expect(held).toMatchObject({ status: "running", current: 1, hold: { by: ["alarm"], stopped: ALARM } });
    expect(held?.steps[1]).toMatchObject({ ok: [h1], bad: [], stopped: [h2, h3], attempt: 1 });

    // While the alarm fires the reconciler keeps the hold and sends nothing.
    const still = await reconcileRollouts(w.deps, { rolloutId: first.rolloutId!, dryRun: false });
    expect(still.rollouts[0]?.held?.stopped).toBe(ALARM);
    expect(w.harness.sent()).toHaveLength(2);

    // OK again: released, and only the stopped hosts are sent, once, as the step's next attempt (two reconcilers race).
    await setAlarm("OK");
    await Promise.all([1, 2].map(() => reconcileRollouts(w.deps, { rolloutId: first.rolloutId!, dryRun: false })));
    expect(w.harness.sent()).toHaveLength(3);
    const again = w.harness.sent()[2]!;
    expect(again.instanceIds.sort()).toEqual([h2, h3]);
    expect(again.comment).toContain(" try 2 ");
    expect(again.alarm).toBe(ALARM);
    const released = await w.deps.rollouts.head(first.rolloutId!);
    expect(released?.hold).toBeUndefined();
    expect(released?.lastHold).toMatchObject({ stopped: ALARM, releasedAt: expect.any(String) });

    await deliverAll(w); // the old command's events are answered as stale; the new attempt's succeed
    const done = await w.deps.rollouts.get(first.rolloutId!);
    expect(done?.status).toBe("succeeded");
    expect(done?.steps[1]).toMatchObject({ ok: [h1, h2, h3], stopped: [], attempt: 2 });
  });

  it("a Cancelled host whose command no alarm stopped (an operator's CancelCommand) is a failure: the rollout halts", async () => {
    const w = wire(fleet);
    await setAlarm("OK");
    const first = await start(w, manifestWith({}, { database: [ALARM] }));
    const db = w.harness.sent()[0]!;
    w.harness.failInvocation(db.commandId, db.instanceIds[0]!, "Cancelled");
    const r = await trackRestart(
      {
        commandId: db.commandId,
        documentName: fleet.documentName,
        status: "Cancelled",
        instanceId: db.instanceIds[0]!,
      },
      w.deps,
    );
    expect(r.halted).toBe(`${db.instanceIds[0]} (database) ended Cancelled`);
    expect((await w.deps.rollouts.head(first.rolloutId!))?.hold).toBeUndefined();
  });

  it("an alarm name that does not exist holds the wave (a typo never opens the gate)", async () => {
    const w = wire(fleet);
    const first = await start(w, manifestWith({}, { database: ["no-such-alarm"] }));
    expect(first.held?.reason).toContain("no-such-alarm missing");
    expect(services(w)).toEqual([]);
  });
});

describe("change calendar", () => {
  it("a CLOSED calendar holds the next wave until GetCalendarState says OPEN", async () => {
    const w = wire(fleet);
    const calendarSsm = new SSMClient({});
    const calendar = mockClient(calendarSsm);
    calendar.on(GetCalendarStateCommand).resolves({ State: "OPEN" });
    w.deps.signals = new AwsGateSignals(new CloudWatchClient({}), calendarSsm);
    const first = await start(w, manifestWith({ changeCalendar: "voiceai-change-freeze" }));
    expect(services(w)).toEqual(["database"]);

    calendar.on(GetCalendarStateCommand).resolves({ State: "CLOSED", NextTransitionTime: "2026-12-01T06:00:00Z" });
    await deliverAll(w);
    const held = await w.deps.rollouts.head(first.rolloutId!);
    expect(held?.hold).toMatchObject({ by: ["calendar"] });
    expect(held?.hold?.reason).toContain("voiceai-change-freeze is CLOSED (next change 2026-12-01T06:00:00Z)");
    await reconcileRollouts(w.deps, { rolloutId: first.rolloutId!, dryRun: false });
    expect(services(w)).toEqual(["database"]);

    calendar.on(GetCalendarStateCommand).resolves({ State: "OPEN" });
    await reconcileRollouts(w.deps, { rolloutId: first.rolloutId!, dryRun: false });
    expect(services(w)).toEqual(["database", "api"]);
    expect(calendar.commandCalls(GetCalendarStateCommand)[0]?.args[0].input).toEqual({
      CalendarNames: ["voiceai-change-freeze"],
    });
  });
});

describe("bake time", () => {
  it("bakeSeconds delays the next wave by at least that much; a one-time schedule is set for its end, and the reconciler ends an overdue bake", async () => {
    const w = wire(fleet);
    let clock = Date.parse("2026-11-30T10:00:00Z");
    w.deps.now = () => new Date(clock);
    const scheduler = new SchedulerClient({});
    await scheduler.send(new CreateScheduleGroupCommand({ Name: "dcp-wakeups" }));
    const reconciler = `arn:aws:lambda:${fleet.region}:${fleet.account}:function:dcp-rollout-reconciler`;
    w.deps.wakeups = new SchedulerWakeups(scheduler, {
      functionArn: reconciler,
      roleArn: `arn:aws:iam::${fleet.account}:role/dcp-wakeup`,
      group: "dcp-wakeups",
    });
    const first = await start(w, manifestWith({ bakeSeconds: 300 }));
    const wave0Done = clock + 1000;
    clock = wave0Done;
    await deliverAll(w);
    const held = await w.deps.rollouts.head(first.rolloutId!);
    expect(held?.hold).toMatchObject({ by: ["bake"], until: new Date(wave0Done + 300_000).toISOString() });
    // The bake ends at 10:05:01; Scheduler runs within the minute it is set for, so the wake-up is set for 10:06:00.
    const wakeMinute = Date.parse("2026-11-30T10:06:00Z") / 1000;
    const wake = await scheduler.send(
      new GetScheduleCommand({ Name: `${first.rolloutId}-${wakeMinute}`, GroupName: "dcp-wakeups" }),
    );
    expect(wake.ScheduleExpression).toBe("at(2026-11-30T10:06:00)");
    expect(wake.Target?.Arn).toBe(reconciler);
    expect(JSON.parse(wake.Target?.Input ?? "{}")).toEqual({
      source: "dcp.schedule",
      action: "reconcile",
      rolloutId: first.rolloutId,
    });

    clock = wave0Done + 299_000; // one second early: still baking, and no AWS call is spent asking
    w.counter.reset();
    await reconcileRollouts(w.deps, { rolloutId: first.rolloutId!, dryRun: false });
    expect(services(w)).toEqual(["database"]);
    expect(Object.keys(w.counter.snapshot()).every((call) => call.startsWith("DynamoDB."))).toBe(true);

    clock = wave0Done + 300_000;
    await reconcileRollouts(w.deps, { rolloutId: first.rolloutId!, dryRun: false });
    expect(services(w)).toEqual(["database", "api"]);
    const steps = (await w.deps.rollouts.get(first.rolloutId!))!.steps;
    const gap = Date.parse(steps[1]!.sentAt!) - Date.parse(steps[0]!.closedAt!);
    expect(gap).toBeGreaterThanOrEqual(300_000);
  });

  it("a wake-up Scheduler refuses is reported on the held wave, and the reconciler still ends the bake", async () => {
    const w = wire(fleet);
    let clock = Date.parse("2026-11-30T12:00:00Z");
    w.deps.now = () => new Date(clock);
    w.deps.wakeups = {
      wakeAt: async () => {
        throw Object.assign(new Error("not authorized to perform: scheduler:CreateSchedule"), {
          name: "AccessDeniedException",
        });
      },
    };
    const first = await start(w, manifestWith({ bakeSeconds: 120 }));
    clock += 1000;
    const results = [];
    for (const c of w.harness.sent())
      for (const id of c.instanceIds)
        results.push(
          await trackRestart(
            { commandId: c.commandId, documentName: fleet.documentName, instanceId: id, status: "Success" },
            w.deps,
          ),
        );
    const held = results.map((r) => r.held).filter(Boolean);
    expect(held).toHaveLength(1); // the delivery that closed wave 0
    expect(held[0]).toMatch(
      /bake .*; wake-up at 2026-11-30T12:02:01.000Z not set \(not authorized .*\); the reconciler releases it/,
    );
    clock += 120_000;
    await reconcileRollouts(w.deps, { rolloutId: first.rolloutId!, dryRun: false });
    expect(services(w)).toEqual(["database", "api"]);
  });

  it("a coalescing window holds the first wave; the reconciler starts it once the window is over", async () => {
    const w = wire(fleet);
    let clock = Date.parse("2026-11-30T11:00:00Z");
    w.deps.now = () => new Date(clock);
    const first = await start(w, manifestWith({ coalesceSeconds: 60 }));
    expect(first.held).toMatchObject({ by: ["coalesce"], until: "2026-11-30T11:01:00.000Z" });
    expect(services(w)).toEqual([]);
    clock += 61_000;
    await reconcileRollouts(w.deps, { rolloutId: first.rolloutId!, dryRun: false });
    expect(services(w)).toEqual(["database"]);
  });
});

describe("per-secret profile", () => {
  it("an rds!… secret (OwningService rds) rolls on the fast profile: no bake, no calendar, larger concurrency", async () => {
    const w = wire(fleet);
    // moto does not return OwningService; real DescribeSecret does for an RDS-managed master secret.
    w.deps.clients.secrets.middlewareStack.add(
      (next) => async (args) => {
        const r = await next(args);
        const out = r.output as { Name?: string; OwningService?: string };
        if (out.Name?.startsWith("rds!")) out.OwningService = "rds";
        return r;
      },
      { step: "deserialize", name: "owningService" },
    );
    const calendarSsm = new SSMClient({});
    const calendar = mockClient(calendarSsm);
    calendar.on(GetCalendarStateCommand).resolves({ State: "CLOSED" });
    w.deps.signals = new AwsGateSignals(new CloudWatchClient({}), calendarSsm);
    const first = await start(
      w,
      manifestWith({ bakeSeconds: 3600, coalesceSeconds: 60, changeCalendar: "voiceai-change-freeze" }),
    );
    const head = await w.deps.rollouts.head(first.rolloutId!);
    expect(head?.policy).toMatchObject({ profile: "fast", bakeSeconds: 0, coalesceSeconds: 0 });
    expect(head?.policy?.profileWhy).toContain("OwningService");
    expect(w.harness.sent()[0]?.maxConcurrency).toBe("1"); // 50% of 2 hosts
    await deliverAll(w);
    expect(services(w)).toEqual(["database", "api"]); // no bake, no calendar hold
    expect(w.harness.sent()[1]?.maxConcurrency).toBe("1"); // 50% of 3 hosts
    expect(calendar.commandCalls(GetCalendarStateCommand)).toHaveLength(0);
  });
});

describe("Parameter Store budget", () => {
  it("a wave whose hosts would exceed the budget is split into parts sent one after another, as planned", async () => {
    const w = wire(fleet);
    // One wave of both services, 100% concurrency: 5 hosts × 10 reads = 50 reads/s > 20 TPS.
    const m = validateManifest({
      ...manifestWith({ maxConcurrency: "100%", parameterStoreTps: 20 }),
      services: fleet.manifest.services.map((s) => ({ ...s, wave: 0 })),
    });
    const first = await start(w, m);
    // api (3 hosts) first by name: capped at ⌊20/10⌋ = 2 at once; database (2 hosts) would exceed: next part.
    expect(first.plan.waves.map((s) => [s.service, s.maxConcurrency, s.part ?? 0])).toEqual([
      ["api", "2", 0],
      ["database", "2", 1],
    ]);
    expect(services(w)).toEqual(["api"]);
    expect(w.harness.sent()[0]?.maxConcurrency).toBe("2");
    await deliverAll(w);
    expect(services(w)).toEqual(["api", "database"]);
    await deliverAll(w);
    expect((await w.deps.rollouts.head(first.rolloutId!))?.status).toBe("succeeded");
  });
});
