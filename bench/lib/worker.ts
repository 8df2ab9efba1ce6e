// One measured run in a fresh process, so its peak RSS is its own: `node --import tsx bench/lib/worker.ts '<job json>'`.
// Prints one JSON line (RunResult) on stdout; AWS_* (endpoint, region, credentials) come from the environment.
import { mkdirSync, writeFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { type RunResult, runAudit, runNaive, runRotation, type Target } from "./audit.ts";

export type Job =
  | { kind: "audit"; target: Target; remediation: "none" | "imds" }
  | { kind: "naive"; target: Target; hostIds: string[] }
  | { kind: "rotation"; target: Target; secretArn: string; account: string };

/** Prefix of the worker's last stderr line when a job fails: `<ErrorName>: <message>` on one line. */
export const WORKER_ERROR = "worker-error: ";

export function runJob(job: Job): Promise<RunResult> {
  switch (job.kind) {
    case "audit":
      return runAudit(job.target, job.remediation);
    case "naive":
      return runNaive(job.target, job.hostIds);
    case "rotation":
      return runRotation(job.target, job.secretArn, job.account);
  }
}

const arg = process.argv[2];
if (arg && process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  try {
    const job = JSON.parse(arg) as Job;
    const result = await runJob(job);
    process.stdout.write(`${JSON.stringify(result)}\n`);
    // Also kept on disk, so a run stopped part-way still leaves every finished measurement.
    mkdirSync("bench/.work/results", { recursive: true });
    writeFileSync(
      `bench/.work/results/${Date.now()}-${job.kind}.json`,
      JSON.stringify({ job: { ...job, hostIds: undefined }, result }),
    );
  } catch (err) {
    const e = err instanceof Error ? err : new Error(String(err));
    // The stack for the log, then one line the runner reports (the SDK's stack tail says nothing about the cause).
    process.stderr.write(
      `${e.stack ?? e}\n${WORKER_ERROR}${`${e.name}: ${e.message}`.replace(/\s+/g, " ").slice(0, 400)}\n`,
    );
    process.exitCode = 1;
  }
}
