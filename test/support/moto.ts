// vitest helper: one moto_server per test file, AWS env pointed at it.
import { afterAll, beforeAll, beforeEach } from "vitest";
import { localAwsEnv, type MotoServer, startMoto } from "../../scripts/lib/moto.ts";

export interface UseMoto {
  endpoint(): string;
  server(): MotoServer;
}

export function useMoto(opts: { resetBetweenTests?: boolean; loadAwsManagedPolicies?: boolean } = {}): UseMoto {
  let server: MotoServer | undefined;
  const saved: Record<string, string | undefined> = {};

  beforeAll(async () => {
    server = await startMoto({ loadAwsManagedPolicies: opts.loadAwsManagedPolicies });
    for (const [k, v] of Object.entries(localAwsEnv(server.endpoint))) {
      saved[k] = process.env[k];
      process.env[k] = v;
    }
  }, 60_000);

  if (opts.resetBetweenTests) {
    beforeEach(async () => {
      await server?.reset();
    });
  }

  afterAll(async () => {
    await server?.stop();
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });

  const get = (): MotoServer => {
    if (!server) throw new Error("useMoto(): server not started yet (use inside tests/hooks)");
    return server;
  };
  return { endpoint: () => get().endpoint, server: get };
}
