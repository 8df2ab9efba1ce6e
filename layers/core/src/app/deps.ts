import type {
  CommandRunner,
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
}
