// The entry-point tail of the project's scripts: run `main` when the file is executed (not imported), exit with its
// code, and turn an error into one `<name>: …` line on stderr with exit code 2 (expected errors without a stack).
import { pathToFileURL } from "node:url";

export function runAsScript(
  moduleUrl: string,
  name: string,
  main: (argv: string[]) => Promise<number>,
  expected: (err: unknown) => boolean,
): void {
  if (!process.argv[1] || moduleUrl !== pathToFileURL(process.argv[1]).href) return;
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      const msg = expected(err) ? (err as Error).message : String((err as Error)?.stack ?? err);
      process.stderr.write(`${name}: ${msg.split("\n")[0]}\n`);
      process.exitCode = 2;
    },
  );
}
