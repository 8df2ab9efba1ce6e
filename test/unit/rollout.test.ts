import { describe, expect, it } from "vitest";
import { claimWave, commentFor, rolloutIdFromComment } from "#core/app/rollout-runner";
import { validateManifest } from "#core/domain/manifest";
import {
  isTerminalFailure,
  MAX_IDS_PER_COMMAND,
  newRollout,
  pendingDispatch,
  planRollout,
  type Rollout,
  type RolloutTarget,
  recordDispatch,
  recordResult,
  resumeRollout,
} from "#core/domain/rollout";
import { rolloutIdFor } from "#core/domain/secrets";

const T0 = "2025-11-20T12:00:00.000Z";
const T1 = "2025-11-20T12:01:00.000Z";
const SECRET = {
  arn: "arn:aws:secretsmanager:eu-central-1:123456789012:secret:rds!cluster-abc-Q1w2E3",
  name: "rds!cluster-abc",
};
const VERSION = "c4d5e6f7-0a1b-4c2d-9e3f-4a5b6c7d8e9f";
const ROLLOUT_ID = rolloutIdFor(SECRET.arn, VERSION);

const manifest = validateManifest({
  namespace: "voiceai/prod",
  configBucket: "voiceai-prod-config",
  // declared out of order on purpose: the plan orders by wave, then name
  services: [
    { name: "web", wave: 2 },
    { name: "tasker", wave: 1 },
    { name: "api", wave: 1 },
    { name: "worker", wave: 5 },
  ],
  restart: { maxConcurrency: "25%", maxErrors: 1 },
});

const id = (n: number) => `i-${n.toString(16).padStart(17, "0")}`;
const plan = (targets: RolloutTarget[]) =>
  planRollout({ rolloutId: ROLLOUT_ID, secret: SECRET, versionId: VERSION, manifest, targets });

/** api+tasker in wave 1 (hosts 1,2 / 3), web in wave 2 (host 4). */
function twoWaveRollout(): Rollout {
  return newRollout(
    plan([
      { instanceId: id(4), service: "web" },
      { instanceId: id(2), service: "api" },
      { instanceId: id(3), service: "tasker" },
      { instanceId: id(1), service: "api" },
    ]),
    T0,
  );
}

/** Sends the current wave as one command per step. */
function sendCurrent(r: Rollout, prefix = "cmd"): Rollout {
  const sent = pendingDispatch(r).map((s, i) => ({
    commandId: `${prefix}-${s.wave}-${i}`,
    wave: s.wave,
    service: s.service,
    instanceIds: s.instanceIds,
  }));
  return recordDispatch(r, sent, T1);
}

function apply(r: Rollout, results: [string, string][]): Rollout {
  for (const [host, status] of results) r = recordResult(r, host, status, T1).rollout;
  return r;
}

describe("planRollout", () => {
  it("orders steps by manifest wave, then service name, and sorts ids", () => {
    const p = plan([
      { instanceId: id(9), service: "worker" },
      { instanceId: id(5), service: "web" },
      { instanceId: id(3), service: "tasker" },
      { instanceId: id(2), service: "api" },
      { instanceId: id(1), service: "api" },
    ]);
    expect(p.waves.map((w) => [w.wave, w.service, w.instanceIds])).toEqual([
      [1, "api", [id(1), id(2)]],
      [1, "tasker", [id(3)]],
      [2, "web", [id(5)]],
      [5, "worker", [id(9)]],
    ]);
    expect(p).toMatchObject({
      rolloutId: ROLLOUT_ID,
      secretArn: SECRET.arn,
      secretName: SECRET.name,
      versionId: VERSION,
      maxConcurrency: "25%",
      maxErrors: "1",
      skipped: [],
    });
  });

  it("chunks a service at 50 ids per SendCommand, every host exactly once", () => {
    const targets = Array.from({ length: 123 }, (_, i) => ({ instanceId: id(i + 1), service: "api" }));
    const p = plan(targets);
    expect(MAX_IDS_PER_COMMAND).toBe(50);
    expect(p.waves.map((w) => w.instanceIds.length)).toEqual([50, 50, 23]);
    expect(p.waves.every((w) => w.service === "api" && w.wave === 1)).toBe(true);
    const all = p.waves.flatMap((w) => w.instanceIds);
    expect(new Set(all).size).toBe(123);
    expect(all).toHaveLength(123);
  });

  it("exactly 50 hosts is one command", () => {
    const p = plan(Array.from({ length: 50 }, (_, i) => ({ instanceId: id(i + 1), service: "web" })));
    expect(p.waves).toHaveLength(1);
  });

  it("deduplicates a host listed twice", () => {
    const p = plan([
      { instanceId: id(1), service: "api" },
      { instanceId: id(1), service: "api" },
    ]);
    expect(p.waves.flatMap((w) => w.instanceIds)).toEqual([id(1)]);
    expect(p.skipped).toEqual([]);
  });

  it("a host listed under two services is planned once and the second listing is skipped", () => {
    const p = plan([
      { instanceId: id(1), service: "web" },
      { instanceId: id(1), service: "api" },
    ]);
    expect(p.waves.flatMap((w) => w.instanceIds)).toEqual([id(1)]);
    expect(p.waves[0]?.service).toBe("web");
    expect(p.skipped).toEqual([
      { instanceId: id(1), service: "api", reason: expect.stringMatching(/already planned/) },
    ]);
    // …so the rollout's record of the host agrees with the one step that will send it.
    const r = newRollout(p, T0);
    expect(r.hosts[id(1)]).toMatchObject({ service: "web", wave: 2 });
  });

  it("refuses service names outside the manifest or the pattern into skipped, keeping given skips", () => {
    const p = planRollout({
      rolloutId: ROLLOUT_ID,
      secret: SECRET,
      versionId: VERSION,
      manifest,
      targets: [
        { instanceId: id(1), service: "api" },
        { instanceId: id(2), service: "billing" },
        { instanceId: id(3), service: "api; reboot" },
        { instanceId: id(4), service: "API" },
      ],
      skipped: [{ instanceId: id(5), service: "web", reason: "no instance profile" }],
    });
    expect(p.waves.flatMap((w) => w.instanceIds)).toEqual([id(1)]);
    expect(p.skipped.map((s) => s.instanceId)).toEqual([id(5), id(2), id(3), id(4)]);
    expect(p.skipped[1]?.reason).toMatch(/service name refused/);
  });

  it("no targets → no steps, and the rollout is born finished", () => {
    const p = plan([]);
    expect(p.waves).toEqual([]);
    const r = newRollout(p, T0);
    expect(r.status).toBe("succeeded");
    expect(pendingDispatch(r)).toEqual([]);
  });
});

describe("newRollout / pendingDispatch", () => {
  it("starts at the lowest wave with every host pending", () => {
    const r = twoWaveRollout();
    expect(r).toMatchObject({ rolloutId: ROLLOUT_ID, status: "running", currentWave: 1, rev: 0, commands: [] });
    expect(r.createdAt).toBe(T0);
    expect(Object.keys(r.hosts).sort()).toEqual([id(1), id(2), id(3), id(4)]);
    expect(Object.values(r.hosts).every((h) => h.status === "pending")).toBe(true);
    expect(r.hosts[id(4)]).toEqual({ service: "web", wave: 2, status: "pending" });
  });

  it("only the current wave is dispatched, and only its pending hosts", () => {
    const r = twoWaveRollout();
    expect(pendingDispatch(r).map((s) => [s.service, s.instanceIds])).toEqual([
      ["api", [id(1), id(2)]],
      ["tasker", [id(3)]],
    ]);
    const sent = sendCurrent(r);
    expect(pendingDispatch(sent)).toEqual([]);
    expect(sent.hosts[id(1)]).toMatchObject({ status: "sent", commandId: "cmd-1-0", at: T1 });
    expect(sent.hosts[id(4)]?.status).toBe("pending");
    expect(sent.commands.map((c) => c.commandId)).toEqual(["cmd-1-0", "cmd-1-1"]);
  });

  it("a halted rollout dispatches nothing", () => {
    const r = apply(sendCurrent(twoWaveRollout()), [[id(1), "Failed"]]);
    expect(r.status).toBe("halted");
    expect(pendingDispatch(r)).toEqual([]);
  });
});

describe("recordResult", () => {
  it("successes advance wave by wave until the rollout succeeds", () => {
    let r = sendCurrent(twoWaveRollout());
    let step = recordResult(r, id(1), "Success", T1);
    expect(step.effect).toBe("recorded");
    step = recordResult(step.rollout, id(2), "InProgress", T1);
    expect(step.effect).toBe("recorded");
    step = recordResult(step.rollout, id(2), "Success", T1);
    expect(step.effect).toBe("recorded");
    expect(step.rollout.currentWave).toBe(1);
    step = recordResult(step.rollout, id(3), "Success", T1);
    expect(step.effect).toBe("wave-complete");
    expect(step.rollout.currentWave).toBe(2);
    expect(step.rollout.status).toBe("running");
    r = step.rollout;
    expect(pendingDispatch(r).map((s) => s.instanceIds)).toEqual([[id(4)]]);

    r = sendCurrent(r, "next");
    step = recordResult(r, id(4), "Success", T1);
    expect(step.effect).toBe("succeeded");
    expect(step.rollout.status).toBe("succeeded");
    expect(step.rollout.updatedAt).toBe(T1);
  });

  it("skips wave numbers that have no hosts", () => {
    let r = newRollout(
      plan([
        { instanceId: id(1), service: "api" },
        { instanceId: id(9), service: "worker" },
      ]),
      T0,
    );
    r = sendCurrent(r);
    const step = recordResult(r, id(1), "Success", T1);
    expect(step.effect).toBe("wave-complete");
    expect(step.rollout.currentWave).toBe(5);
  });

  it("a failure halts, naming the host, its service and the status", () => {
    for (const status of ["Failed", "TimedOut", "Cancelled", "DeliveryTimedOut", "Undeliverable", "AccessDenied"]) {
      const r = sendCurrent(twoWaveRollout());
      const step = recordResult(r, id(3), status, T1);
      expect(step.effect).toBe("halted");
      expect(step.rollout.status).toBe("halted");
      expect(step.rollout.haltReason).toBe(`${id(3)} (tasker) ended ${status}`);
      expect(step.rollout.hosts[id(3)]?.status).toBe(status);
    }
  });

  it("in-flight statuses are not failures", () => {
    for (const s of ["Pending", "InProgress", "Delayed", "Cancelling", "sent", "pending", "dispatching"])
      expect(isTerminalFailure(s)).toBe(false);
    expect(isTerminalFailure("Success")).toBe(false);
    expect(isTerminalFailure("Failed")).toBe(true);
  });

  it("after a halt, statuses are recorded but nothing advances and the first reason stays", () => {
    let r = apply(sendCurrent(twoWaveRollout()), [[id(1), "Failed"]]);
    const reason = r.haltReason;
    let step = recordResult(r, id(2), "Success", T1);
    expect(step.effect).toBe("recorded");
    step = recordResult(step.rollout, id(3), "Success", T1);
    expect(step.effect).toBe("recorded");
    r = step.rollout;
    expect(r.hosts[id(3)]?.status).toBe("Success");
    expect(r.status).toBe("halted");
    expect(r.currentWave).toBe(1);
    step = recordResult(r, id(2), "TimedOut", T1);
    expect(step.effect).toBe("unchanged"); // Success is final
    const other = apply(sendCurrent(twoWaveRollout()), [
      [id(1), "Failed"],
      [id(3), "TimedOut"],
    ]);
    expect(other.haltReason).toBe(`${id(1)} (api) ended Failed`);
    expect(other.hosts[id(3)]?.status).toBe("TimedOut");
    expect(reason).toBe(`${id(1)} (api) ended Failed`);
  });

  it("a repeated status, a status after Success, or an unknown host changes nothing", () => {
    const r = apply(sendCurrent(twoWaveRollout()), [[id(1), "Success"]]);
    for (const [host, status] of [
      [id(1), "Success"],
      [id(1), "Failed"],
      [id(1), "InProgress"],
      ["i-00000000000000bad", "Success"],
    ] as const) {
      const step = recordResult(r, host, status, "2030-01-01T00:00:00.000Z");
      expect(step.effect).toBe("unchanged");
      expect(step.rollout).toBe(r);
    }
  });

  it("a stale in-flight status never overwrites a failure (deliveries saved out of order)", () => {
    const r = apply(sendCurrent(twoWaveRollout()), [[id(1), "Failed"]]);
    const step = recordResult(r, id(1), "InProgress", T1);
    expect(step.effect).toBe("unchanged");
    expect(step.rollout.hosts[id(1)]?.status).toBe("Failed");
  });

  it("a success of a host outside the current wave is recorded without advancing", () => {
    const r = sendCurrent(twoWaveRollout());
    const step = recordResult(r, id(4), "Success", T1);
    expect(step.effect).toBe("recorded");
    expect(step.rollout.currentWave).toBe(1);
  });
});

describe("resumeRollout", () => {
  it("resets only the non-success hosts of the current wave, clearing their command", () => {
    let r = apply(sendCurrent(twoWaveRollout()), [
      [id(1), "Success"],
      [id(2), "Failed"],
    ]);
    r = resumeRollout(r, "2025-11-20T13:00:00.000Z");
    expect(r.status).toBe("running");
    expect(r).not.toHaveProperty("haltReason");
    expect(r.updatedAt).toBe("2025-11-20T13:00:00.000Z");
    expect(r.hosts[id(1)]?.status).toBe("Success");
    expect(r.hosts[id(2)]).toEqual({ service: "api", wave: 1, status: "pending" });
    // tasker was still in flight: it is sent again too (the operator resumed the whole wave)
    expect(r.hosts[id(3)]?.status).toBe("pending");
    expect(r.hosts[id(4)]?.status).toBe("pending");
    expect(pendingDispatch(r).flatMap((s) => s.instanceIds)).toEqual([id(2), id(3)]);
  });

  it("the resumed wave then completes and advances normally", () => {
    let r = apply(sendCurrent(twoWaveRollout()), [
      [id(1), "Success"],
      [id(2), "Failed"],
      [id(3), "Success"],
    ]);
    r = sendCurrent(resumeRollout(r, T1), "retry");
    const step = recordResult(r, id(2), "Success", T1);
    expect(step.effect).toBe("wave-complete");
    expect(step.rollout.currentWave).toBe(2);
  });

  it("a succeeded rollout, or a running one with nothing stuck, is returned unchanged", () => {
    const running = sendCurrent(twoWaveRollout());
    expect(resumeRollout(running, T1)).toBe(running);
    const done = newRollout(plan([]), T0);
    expect(resumeRollout(done, T1)).toBe(done);
  });

  it("hosts left `dispatching` by a crash after the claim go back to pending", () => {
    const claimed = claimWave(twoWaveRollout());
    expect(claimed).toBeDefined();
    if (!claimed) return;
    expect(pendingDispatch(claimed)).toEqual([]); // never re-sent automatically
    const resumed = resumeRollout(claimed, T1);
    expect(resumed.status).toBe("running");
    expect(pendingDispatch(resumed).flatMap((s) => s.instanceIds)).toEqual([id(1), id(2), id(3)]);
    expect(resumed.hosts[id(4)]?.status).toBe("pending");
  });
});

describe("claimWave / rollout comments", () => {
  it("claims exactly the current wave's pending hosts; nothing to claim → undefined", () => {
    const r = twoWaveRollout();
    const claimed = claimWave(r);
    expect(claimed && Object.entries(claimed.hosts).map(([k, h]) => [k, h.status])).toEqual([
      [id(1), "dispatching"],
      [id(2), "dispatching"],
      [id(3), "dispatching"],
      [id(4), "pending"],
    ]);
    expect(r.hosts[id(1)]?.status).toBe("pending"); // the input is not mutated
    expect(claimed && claimWave(claimed)).toBeUndefined();
    expect(claimWave(sendCurrent(r))).toBeUndefined();
  });

  it("a command comment names its rollout, and only ours are recognised", () => {
    const r = twoWaveRollout();
    const comment = commentFor(r, 1);
    expect(comment.length).toBeLessThanOrEqual(100);
    expect(rolloutIdFromComment(comment)).toBe(ROLLOUT_ID);
    const long = newRollout({ ...r.plan, secretName: "n".repeat(300) }, T0);
    expect(rolloutIdFromComment(commentFor(long, 1))).toBe(ROLLOUT_ID);
    for (const c of [
      undefined,
      "",
      "manual restart",
      `ops ${ROLLOUT_ID} wave 1`,
      "dcp ro-XYZ wave 1",
      `dcp ${ROLLOUT_ID}`,
      `dcp ro-${"a".repeat(17)} wave 1`,
    ])
      expect(rolloutIdFromComment(c)).toBeUndefined();
  });
});
