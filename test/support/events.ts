// EventBridge events the tests play, in the documented shapes (one home instead of a copy per test file).
import type { SecretEvent } from "#core/domain/events";

/** Secrets Manager's native `Secret Label Updated` for `arn` (the label AWSCURRENT unless given). */
export function secretLabelUpdated(
  fleet: { account: string; region: string },
  arn: string,
  versionId: string,
  opts: { label?: string; id?: string } = {},
): SecretEvent {
  return {
    version: "0",
    id: opts.id ?? `ev-${Math.random()}`,
    "detail-type": "Secret Label Updated",
    source: "aws.secretsmanager",
    account: fleet.account,
    time: new Date().toISOString(),
    region: fleet.region,
    resources: [arn],
    detail: { name: arn.split(":secret:")[1]?.slice(0, -7), labelUpdated: opts.label ?? "AWSCURRENT", versionId },
  };
}
