// Manifest files as people write them (YAML; JSON is YAML too). Only the CLI and scripts import this module: a
// YAML parser is 113 KB of every Lambda bundle that would carry it, and Parameter Store holds JSON.
import { parse as parseYaml } from "yaml";
import { InvalidInputError } from "./errors.ts";
import { type Manifest, type TagKeys, validateManifest } from "./manifest.ts";

/**
 * Parses YAML or JSON text and validates it; a syntax error is one line. `tagKeys`, when given, fills a file that
 * names no `tags` (the deployment's keys are the source; `dcp manifest push` passes them).
 */
export function parseManifestFile(text: string, tagKeys?: TagKeys): Manifest {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    throw new InvalidInputError(`fleet manifest is not valid YAML/JSON: ${(err as Error).message.split("\n")[0]}`);
  }
  if (tagKeys && typeof raw === "object" && raw !== null && !("tags" in raw)) raw = { ...raw, tags: tagKeys };
  return validateManifest(raw);
}
