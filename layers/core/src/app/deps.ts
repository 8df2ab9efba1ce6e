import type {
  CommandRunner,
  EcsDispatch,
  FleetInventory,
  GateSignals,
  ParameterStore,
  PolicyStore,
  RolloutStore,
  SecretCatalog,
  Wakeups,
} from "../ports/index.ts";
import type { Config } from "./config.ts";

/** Everything a use case may touch, injected: handlers wire SDK adapters, tests wire moto or fakes. */
export interface Deps {
  config: Config;
  inventory: FleetInventory;
  policies: PolicyStore;
  secrets: SecretCatalog;
  commands: CommandRunner;
  rollouts: RolloutStore;
  params: ParameterStore;
  /** ECS targets' dispatcher (issue 16); without it, a plan with ECS targets is refused. */
  ecs?: EcsDispatch;
  /** Alarm and change-calendar facts for the rollout gates; a rollout that needs them and lacks them stays held. */
  signals?: GateSignals;
  /** One-time wake-ups that end short waits on time; without them the reconciler ends them on its next run. */
  wakeups?: Wakeups;
  now: () => Date;
}

/** A port a function does not use: any call is a wiring bug, loudly. */
export function unavailable<T extends object>(port: string): T {
  return new Proxy({} as T, {
    get(_t, prop) {
      if (prop === "then") return undefined;
      return () => {
        throw new Error(`${port}.${String(prop)} is not wired in this function`);
      };
    },
  });
}
