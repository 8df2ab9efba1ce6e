// One fresh node process per measurement (cold init, audit workers): its stdout, stderr and exit code.
import { spawn } from "node:child_process";

export interface ChildOutput {
  code: number | null;
  out: string;
  err: string;
}

export function runNode(args: string[], opts: { env: NodeJS.ProcessEnv; cwd?: string }): Promise<ChildOutput> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, {
      env: opts.env,
      ...(opts.cwd ? { cwd: opts.cwd } : {}),
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => {
      out += d;
    });
    child.stderr.on("data", (d) => {
      err += d;
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, out, err }));
  });
}
