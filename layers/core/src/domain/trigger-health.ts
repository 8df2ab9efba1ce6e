// Trigger health: the rotation function's "AWS API Call via CloudTrail" rule receives events only where a CloudTrail
// trail logs management write events for the region (EventBridge user guide, "Events from AWS services": API calls
// are delivered through CloudTrail). Without one, only the native `Secret Label Updated` and the `RotationSucceeded`
// service event fire, and the reconciler/audit catch the other changes late. Pure: a judgement over trail facts.
import type { Finding } from "./model.ts";

/**
 * The API calls the template's `SecretApiCall` rule listens for (template.yaml, SecretRotationFunction; held equal by
 * test/unit/template.test.ts). The judgement asks whether a trail logs each of them.
 */
export const API_CALL_TRIGGER = {
  eventSource: "secretsmanager.amazonaws.com",
  eventNames: ["PutSecretValue", "UpdateSecretVersionStage", "UpdateSecret"],
} as const;

/** One field condition of an advanced event selector (CloudTrail AdvancedFieldSelector): its operators are ANDed. */
export interface FieldSelector {
  Field: string;
  Equals?: string[];
  StartsWith?: string[];
  EndsWith?: string[];
  NotEquals?: string[];
  NotStartsWith?: string[];
  NotEndsWith?: string[];
}

/**
 * A trail as DescribeTrails, GetTrailStatus and GetEventSelectors describe it: plain data under the API's own field
 * names (CloudTrail API reference: Trail, GetTrailStatus, EventSelector, AdvancedEventSelector).
 */
export interface TrailFact {
  Name: string;
  TrailARN: string;
  HomeRegion: string;
  IsMultiRegionTrail?: boolean;
  IsOrganizationTrail?: boolean;
  /** False or absent: CloudTrail's default selectors (every management event, read and write). */
  HasCustomEventSelectors?: boolean;
  /** GetTrailStatus; undefined: the status could not be read (`problem` says why). */
  IsLogging?: boolean;
  /** `ReadWriteType` All | ReadOnly | WriteOnly (default All); `IncludeManagementEvents` default true. */
  EventSelectors?: {
    ReadWriteType?: string;
    IncludeManagementEvents?: boolean;
    ExcludeManagementEventSources?: string[];
  }[];
  /** Field conditions ANDed per selector, selectors ORed; when present they replace the basic ones. */
  AdvancedEventSelectors?: { FieldSelectors?: FieldSelector[] }[];
  /** Why part of this trail could not be read (AccessDenied on another account's trail…). */
  problem?: string;
}

/** The trails of the region, or why they could not be listed. */
export type TrailFacts = { trails: TrailFact[] } | { unavailable: string };

/** A management event record as CloudTrail's advanced selectors see it (field → value). */
type EventRecord = Record<string, string>;

const OPERATORS: ["Equals" | "StartsWith" | "EndsWith", (v: string, p: string) => boolean][] = [
  ["Equals", (v, p) => v === p],
  ["StartsWith", (v, p) => v.startsWith(p)],
  ["EndsWith", (v, p) => v.endsWith(p)],
];

/** A field the record does not carry (data-event fields: resources.type, resources.ARN…) never matches. */
function fieldMatches(s: FieldSelector, v: string | undefined): boolean {
  if (v === undefined) return false;
  return OPERATORS.every(([op, test]) => {
    const pos = s[op];
    return (!pos || pos.some((p) => test(v, p))) && !s[`Not${op}`]?.some((p) => test(v, p));
  });
}

/**
 * Whether the trail's selectors log one management event. Advanced selectors, when present, decide alone; no
 * custom selectors means CloudTrail's default: every management event, read and write.
 */
export function selectorsLog(t: TrailFact, record: EventRecord): boolean {
  const advanced = t.AdvancedEventSelectors ?? [];
  if (advanced.length > 0)
    return advanced.some((a) => (a.FieldSelectors ?? []).every((f) => fieldMatches(f, record[f.Field])));
  const basic = t.EventSelectors ?? [];
  if (basic.length === 0) return !t.HasCustomEventSelectors;
  const rw = record.readOnly === "true" ? "ReadOnly" : "WriteOnly";
  return basic.some(
    (s) =>
      s.IncludeManagementEvents !== false &&
      [undefined, "All", rw].includes(s.ReadWriteType) &&
      !s.ExcludeManagementEventSources?.includes(record.eventSource ?? ""),
  );
}

/** Why one trail does not deliver the API-call trigger's events to `region`; undefined: it does. */
export function trailGap(t: TrailFact, region: string): string | undefined {
  if (!t.IsMultiRegionTrail && t.HomeRegion !== region) return `single-region trail of ${t.HomeRegion}`;
  if (t.IsLogging === undefined) return `unreadable (${t.problem})`;
  if (!t.IsLogging) return "not logging";
  const missed = API_CALL_TRIGGER.eventNames.filter(
    (eventName) =>
      !selectorsLog(t, {
        eventCategory: "Management",
        readOnly: "false",
        eventSource: API_CALL_TRIGGER.eventSource,
        eventName,
      }),
  );
  if (missed.length > 0) return `event selectors exclude management write events (${missed.join(", ")})`;
  return undefined;
}

/**
 * Trigger health of one region: a `trigger-trail-missing` finding unless at least one trail (this region's, a
 * multi-region trail of any home region, or an organization trail) is logging and its selectors include the
 * trigger's management write events. Trails that could not be listed: a low finding saying the health is unknown.
 *
 * @param region the region the control plane's rules live in (AWS_REGION)
 * @param facts DescribeTrails (shadow trails included) with each trail's status and selectors
 * @returns [] when a trail delivers; otherwise one finding naming each trail and why it does not
 */
export function judgeTriggerHealth(region: string, facts: TrailFacts): Finding[] {
  const unknown = "unavailable" in facts;
  const why = unknown ? [] : facts.trails.map((t) => [t.Name, trailGap(t, region)]);
  if (why.some(([, gap]) => gap === undefined)) return [];
  const gaps = unknown ? `trails unreadable: ${facts.unavailable}` : why.map((w) => w.join(": ")).join("; ") || "none";
  return [
    {
      kind: "trigger-trail-missing",
      severity: unknown ? "low" : "medium",
      resource: `cloudtrail:${region}`,
      detail: `${unknown ? "maybe " : ""}no CloudTrail trail logs management write events in ${region} (${gaps}): API-call rotation events are not delivered, only the Secret Label Updated and RotationSucceeded rules fire; the reconciler catches the rest late`,
      evidence: { region, gaps },
    },
  ];
}
