import { InvalidInputError } from "../domain/errors.ts";
import { checkTagKeys, type Manifest, parseManifest } from "../domain/manifest.ts";
import type { ParameterStore } from "../ports/index.ts";
import type { Config } from "./config.ts";

/**
 * Loads the fleet manifest from Parameter Store (`config.manifestParam`), validated once per fetched text. Refuses,
 * with one line (InvalidInputError) and before anything else runs, a manifest for another namespace or one whose
 * `tags` differ from the deployment's tag keys (`config.tagKeys`, see checkTagKeys).
 */
export async function loadManifest(
  params: ParameterStore,
  config: Pick<Config, "manifestParam" | "namespace" | "tagKeys">,
): Promise<Manifest> {
  const text = await params.get(config.manifestParam);
  if (text === undefined)
    throw new InvalidInputError(
      `fleet manifest parameter ${config.manifestParam} does not exist`,
      "DCP_MANIFEST_PARAM",
    );
  const m = parseManifest(text);
  if (m.namespace !== config.namespace)
    throw new InvalidInputError(`manifest is for namespace '${m.namespace}', not '${config.namespace}'`, "namespace");
  checkTagKeys(m, config.tagKeys);
  return m;
}
