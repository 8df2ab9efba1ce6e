import {
  ApiCallDetail,
  describeIssues,
  LabelUpdatedDetail,
  SECRET_ID,
  type SecretEvent,
  ServiceEventDetail,
  shown,
} from "./events.ts";

/** What a Secrets Manager event asks of the control plane, before any AWS call. */
export type RotationIntent =
  | { kind: "act"; trigger: string; secretId: string; versionHint?: string }
  | { kind: "ignore"; trigger: string; reason: string; secretId?: string }
  /** A field the real API could never produce: rejected with the reason, before any AWS call. */
  | { kind: "reject"; trigger: string; reason: string };

const reject = (trigger: string, reason: string): RotationIntent => ({ kind: "reject", trigger, reason });

const ignore = (trigger: string, reason: string, secretId?: string): RotationIntent => ({
  kind: "ignore",
  trigger,
  reason,
  ...(secretId ? { secretId } : {}),
});

/**
 * Classifies a (schema-valid) Secrets Manager event. Only "a new version now holds AWSCURRENT"
 * leads to a restart; the version is always re-confirmed with DescribeSecret afterwards.
 */
export function classifyRotationEvent(event: SecretEvent): RotationIntent {
  const type = event["detail-type"];
  if (type === "Secret Label Updated") {
    const d = LabelUpdatedDetail.safeParse(event.detail);
    const trigger = "SecretLabelUpdated";
    if (!d.success) return reject(trigger, `malformed detail: ${describeIssues(d.error)}`);
    // The envelope's resources are any strings: bound the id like every other one before it reaches a result or log.
    const resource = event.resources[0];
    if (resource !== undefined && !SECRET_ID.safeParse(resource).success)
      return reject(
        trigger,
        "malformed resources.0: not a secret id (empty, over 2048 characters or control characters)",
      );
    const secretId = resource ?? d.data.name;
    if (!secretId) return ignore(trigger, "no secret in resources[0] or detail.name");
    if (d.data.labelUpdated !== "AWSCURRENT")
      return ignore(trigger, `label ${shown(d.data.labelUpdated)} is not AWSCURRENT`, secretId);
    return { kind: "act", trigger, secretId, ...(d.data.versionId ? { versionHint: d.data.versionId } : {}) };
  }
  if (type === "AWS Service Event via CloudTrail") {
    const d = ServiceEventDetail.safeParse(event.detail);
    if (!d.success) return reject("ServiceEvent", `malformed detail: ${describeIssues(d.error)}`);
    const trigger = shown(d.data.eventName);
    const secretId = d.data.additionalEventData?.SecretId;
    if (trigger !== "RotationSucceeded")
      return ignore(trigger, `${trigger} does not make a new version current`, secretId);
    if (!secretId) return ignore(trigger, "no detail.additionalEventData.SecretId");
    return { kind: "act", trigger, secretId };
  }
  const d = ApiCallDetail.safeParse(event.detail);
  if (!d.success) return reject("ApiCall", `malformed detail: ${describeIssues(d.error)}`);
  const { eventName, requestParameters: req, responseElements: res, errorCode } = d.data;
  // Event values reach results and logs only through shown(): bounded, control/bidi characters escaped.
  const trigger = shown(eventName);
  const secretId = req?.secretId;
  if (errorCode) return ignore(trigger, `the call failed (${shown(errorCode)})`, secretId);
  if (!secretId) return ignore(trigger, "no detail.requestParameters.secretId");
  switch (trigger) {
    case "PutSecretValue": {
      // Rotation functions write AWSPENDING first; only a put that lands on AWSCURRENT is a new live value.
      const stages = req?.versionStages;
      if (stages && !stages.includes("AWSCURRENT"))
        return ignore(trigger, `version staged as ${stages.map(shown).join(",")}, not AWSCURRENT`, secretId);
      return { kind: "act", trigger, secretId, ...(res?.versionId ? { versionHint: res.versionId } : {}) };
    }
    case "UpdateSecretVersionStage": {
      if (req?.versionStage !== "AWSCURRENT" || !req.moveToVersionId)
        return ignore(
          trigger,
          `stage ${req?.versionStage ? shown(req.versionStage) : "(none)"} moved, not AWSCURRENT onto a version`,
          secretId,
        );
      return { kind: "act", trigger, secretId, versionHint: req.moveToVersionId };
    }
    case "UpdateSecret": {
      if (!res?.versionId) return ignore(trigger, "metadata-only update (no new version)", secretId);
      return { kind: "act", trigger, secretId, versionHint: res.versionId };
    }
    default:
      return ignore(trigger, `${trigger} does not make a new version current`, secretId);
  }
}
