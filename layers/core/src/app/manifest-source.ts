import { InvalidInputError } from "../domain/errors.ts";
import { type Manifest, parseManifest } from "../domain/manifest.ts";
import type { ParameterStore } from "../ports/index.ts";

/** Loads the fleet manifest from Parameter Store; validated once per fetched text. */
export async function loadManifest(params: ParameterStore, name: string, namespace: string): Promise<Manifest> {
  const text = await params.get(name);
  if (text === undefined)
    throw new InvalidInputError(`fleet manifest parameter ${name} does not exist`, "DCP_MANIFEST_PARAM");
  const m = parseManifest(text);
  if (m.namespace !== namespace)
    throw new InvalidInputError(`manifest is for namespace '${m.namespace}', not '${namespace}'`, "namespace");
  return m;
}
