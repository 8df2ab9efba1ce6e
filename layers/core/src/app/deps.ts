import type {
  CommandRunner,
  DeploymentLinks,
  EcsDeployments,
  EcsInventory,
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
  /** Alarm and change-calendar facts for the rollout gates; a rollout that needs them and lacks them stays held. */
  signals?: GateSignals;
  /** One-time wake-ups that end short waits on time; without them the reconciler ends them on its next run. */
  wakeups?: Wakeups;
  /**
   * ECS services as consumers (issue 16): discovery, the targets' dispatcher and their deployments' state; without it,
   * no ECS target is planned and a plan with ECS targets is refused.
   */
  ecs?: EcsInventory & EcsDeployments;
  /** deploymentId → the rollout step that started it (ECS events name the deployment); wired wherever `ecs` is. */
  links?: DeploymentLinks;
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
