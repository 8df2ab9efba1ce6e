import type {
  CommandRunner,
  DeploymentLinks,
  EcsDeployments,
  EcsInventory,
  FleetInventory,
  ParameterStore,
  PolicyStore,
  RolloutStore,
  SecretCatalog,
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
  now: () => Date;
  /** ECS services as consumers (issue 16): absent in functions and tests that see hosts only. */
  ecs?: EcsInventory & EcsDeployments;
  /** deploymentId → rollout, for ECS deployment events; wired wherever `ecs` is. */
  links?: DeploymentLinks;
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
