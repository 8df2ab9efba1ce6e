import type { Manifest } from "./manifest.ts";
import { serviceByName } from "./manifest.ts";
import type { Host } from "./model.ts";

/** Where a host stands relative to the fleet manifest. */
export type Placement =
  | { kind: "fleet"; service: string }
  | { kind: "not-in-fleet"; reason: string }
  | { kind: "unknown-service"; service: string; reason: string };

export function placeHost(host: Host, m: Manifest): Placement {
  const ns = host.tags[m.tags.namespace];
  if (ns === undefined) return { kind: "not-in-fleet", reason: `no '${m.tags.namespace}' tag` };
  if (ns !== m.namespace)
    return { kind: "not-in-fleet", reason: `tag ${m.tags.namespace}='${ns}' is another namespace` };
  const service = host.tags[m.tags.service];
  if (service === undefined) return { kind: "unknown-service", service: "", reason: `no '${m.tags.service}' tag` };
  if (!serviceByName(m, service))
    return { kind: "unknown-service", service, reason: `service '${service}' is not in the manifest` };
  return { kind: "fleet", service };
}

/** Account, partition of a host from its instance profile ARN (arn:aws:iam::123456789012:instance-profile/x). */
export function accountOfArn(arn: string): { partition: string; account: string } | undefined {
  const m = /^arn:([a-z-]+):[a-z0-9-]*:[a-z0-9-]*:(\d{12}):/.exec(arn);
  return m ? { partition: m[1]!, account: m[2]! } : undefined;
}
