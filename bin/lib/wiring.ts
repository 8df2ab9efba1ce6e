// Wires the core's ports for the CLI the same way the Lambda handlers do: SDK v3 adapters over the standard
// credential chain; the endpoint comes from AWS_ENDPOINT_URL (emulator) or the real AWS endpoints.

import { ApiCallCounter, type AwsClients, createClients } from "#core/adapters/clients";
import { DynamoRolloutStore } from "#core/adapters/rollout-store";
import { type Config, loadConfig } from "#core/app/config";
import type { Deps } from "#core/app/deps";
import { loadManifest } from "#core/app/manifest-source";
import type { Manifest } from "#core/domain/manifest";
import type { RolloutStore } from "#core/ports/index";
import { auditDeps, type FullAuditDeps } from "#core/shell/fleet-deps";

/** An operator error: one line on stderr, exit code `code` (2 = error, 1 = refused). */
export class CliError extends Error {
  override readonly name = "CliError";
  constructor(
    message: string,
    readonly code: 1 | 2 = 2,
  ) {
    super(message);
  }
}

export interface GlobalOptions {
  namespace?: string;
  manifestParam?: string;
  region?: string;
  rolloutTable?: string;
}

export interface CliContext {
  config: Config;
  counter: ApiCallCounter;
  clients: AwsClients;
}

/**
 * Configuration from flags over the environment contract (DCP_NAMESPACE, DCP_MANIFEST_PARAM, DCP_ROLLOUT_TABLE,
 * DCP_RESTART_DOCUMENT, AWS_REGION). `--region` is exported to AWS_REGION so the SDK clients agree with the ARNs
 * the IAM checks build; without either, the region of the credential chain's profile is used.
 */
export async function cliContext(
  opts: GlobalOptions,
  env: NodeJS.ProcessEnv = process.env,
  fallbackNamespace?: string,
): Promise<CliContext> {
  if (opts.region) env.AWS_REGION = opts.region;
  const namespace = opts.namespace ?? env.DCP_NAMESPACE ?? fallbackNamespace;
  if (!namespace) throw new CliError("no namespace: pass --namespace (e.g. voiceai/prod) or set DCP_NAMESPACE");
  const counter = new ApiCallCounter();
  const clients = createClients({ counter });
  let region = env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
  if (!region) {
    try {
      region = await clients.ec2.config.region();
    } catch {
      throw new CliError("no AWS region: pass --region or set AWS_REGION");
    }
  }
  let config: Config;
  try {
    config = loadConfig(
      { ...env, DCP_NAMESPACE: namespace, AWS_REGION: region },
      {
        namespace,
        ...(opts.manifestParam ? { manifestParam: opts.manifestParam } : {}),
        ...(opts.rolloutTable ? { rolloutTable: opts.rolloutTable } : {}),
      },
    );
  } catch (err) {
    throw new CliError((err as Error).message);
  }
  return { config, counter, clients };
}

/** A rollout store that explains itself when the operator did not name the table. */
function missingRolloutTable(): RolloutStore {
  return new Proxy({} as RolloutStore, {
    get: () => () => {
      throw new CliError("no rollout table: pass --rollout-table NAME or set DCP_ROLLOUT_TABLE");
    },
  });
}

export function rolloutStore(ctx: CliContext): RolloutStore {
  return ctx.config.rolloutTable
    ? new DynamoRolloutStore(ctx.clients.dynamodb, ctx.config.rolloutTable)
    : missingRolloutTable();
}

/**
 * Every port, as the handlers wire them. `bulk` policies (one GetAccountAuthorizationDetails) for fleet-wide
 * commands, `targeted` (per role) for one host.
 */
export function cliDeps(ctx: CliContext, policies: "bulk" | "targeted"): FullAuditDeps {
  return {
    ...auditDeps(ctx.config, { clients: ctx.clients, counter: ctx.counter, policies }),
    rollouts: rolloutStore(ctx),
  };
}

export function cliManifest(ctx: CliContext, deps: Pick<Deps, "params">): Promise<Manifest> {
  return loadManifest(deps.params, ctx.config);
}
