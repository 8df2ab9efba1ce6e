// Plain data shared by every capability. No SDK types cross this line.

export type InstanceState = "pending" | "running" | "stopping" | "stopped" | "shutting-down" | "terminated";

export interface ImdsOptions {
  httpTokens: "required" | "optional";
  hopLimit: number;
  httpEndpoint: "enabled" | "disabled";
  /** EC2 reports `pending` while a modification propagates, then `applied`. */
  state?: "pending" | "applied";
}

/** An EC2 instance as the control plane sees it (one DescribeInstances row). */
export interface Host {
  instanceId: string;
  state: InstanceState;
  /** ISO-8601 */
  launchTime: string;
  tags: Record<string, string>;
  /** arn:aws:iam::<account>:instance-profile/<path><name>; absent when none is attached. */
  instanceProfileArn?: string;
  /** The AMI the host was launched from. */
  imageId?: string;
  imds: ImdsOptions;
}

export type Severity = "critical" | "high" | "medium" | "low" | "info";

export type FindingKind =
  | "imds-tokens-optional"
  | "imds-hop-limit"
  | "imds-endpoint-disabled"
  | "imds-exempt"
  | "imds-exempt-expired"
  | "imds-launch-template"
  | "imds-asg-pinned"
  | "imds-ami"
  | "proxy-bypasses-imds"
  | "static-keys-shadow-profile"
  | "host-check-failed"
  | "iam-missing-grant"
  | "iam-excess-grant"
  | "iam-unknown"
  | "no-instance-profile"
  | "not-in-fleet"
  | "stale-credentials"
  | "unknown-service"
  | "service-without-hosts"
  | "secret-missing"
  | "unmanaged-host"
  | "imds-defaults"
  | "trigger-trail-missing";

export interface Finding {
  kind: FindingKind;
  severity: Severity;
  instanceId?: string;
  /** The resource a finding is about when it is not a host (an ECS service ARN). */
  resource?: string;
  service?: string;
  /** One sentence an operator can act on. */
  detail: string;
  /** Structured facts behind the sentence (policy, statement, probe, ages…). Never secret values. */
  evidence?: Record<string, string | number | boolean>;
}

/** Where the control plane runs: used to build the ARNs it probes. */
export interface AwsScope {
  partition: string;
  region: string;
  account: string;
}
