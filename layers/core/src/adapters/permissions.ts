// The IAM actions each adapter method needs (Cloud Custodian style). The SAM template's policies are held to this.
export const PERMISSIONS = {
  "FleetInventory.describeHost": ["ec2:DescribeInstances"],
  "FleetInventory.scanNamespace": ["ec2:DescribeInstances"],
  "FleetInventory.modifyImds": ["ec2:ModifyInstanceMetadataOptions"],
  "FleetInventory.tagHosts": ["ec2:CreateTags"],
  "FleetInventory.imdsDefaults": ["ec2:GetInstanceMetadataDefaults"],
  "ImdsSources.setAccountDefaults": ["ec2:ModifyInstanceMetadataDefaults"],
  "ImdsSources.launchTemplates": ["ec2:DescribeLaunchTemplates", "ec2:DescribeLaunchTemplateVersions"],
  "ImdsSources.fixLaunchTemplate": [
    "ec2:DescribeLaunchTemplateVersions",
    "ec2:CreateLaunchTemplateVersion",
    "ec2:ModifyLaunchTemplate",
  ],
  "ImdsSources.imageImdsSupport": ["ec2:DescribeImages"],
  "ImdsUsage.noTokenCalls": ["cloudwatch:GetMetricData"],
  "HostChecks.send": ["ssm:SendCommand"],
  "HostChecks.results": ["ssm:ListCommandInvocations"],
  "PolicyStore.roleOfInstanceProfile": ["iam:GetInstanceProfile"],
  "PolicyStore.rolePolicies": [
    "iam:GetRole",
    "iam:ListRolePolicies",
    "iam:GetRolePolicy",
    "iam:ListAttachedRolePolicies",
    "iam:GetPolicy",
    "iam:GetPolicyVersion",
  ],
  "BulkPolicyStore.roleOfInstanceProfile": ["iam:GetAccountAuthorizationDetails"],
  /** The bulk store falls back to GetPolicy/GetPolicyVersion for a managed policy the bulk answer lacked. */
  "BulkPolicyStore.rolePolicies": ["iam:GetAccountAuthorizationDetails", "iam:GetPolicy", "iam:GetPolicyVersion"],
  "SecretCatalog.describe": ["secretsmanager:DescribeSecret"],
  "SecretCatalog.describeMany": ["secretsmanager:ListSecrets"],
  "CommandRunner.sendRestart": ["ssm:SendCommand"],
  "CommandRunner.invocation": ["ssm:GetCommandInvocation"],
  "CommandRunner.commandComment": ["ssm:ListCommands"],
  "CommandRunner.commandAlarms": ["ssm:ListCommands"],
  /** ListCommandInvocations; GetCommandInvocation per host where the API is missing (the local emulator). */
  "CommandRunner.invocations": ["ssm:ListCommandInvocations", "ssm:GetCommandInvocation"],
  "CommandRunner.commandsWithComment": ["ssm:ListCommands"],
  /** Trigger health: the region's trails (DescribeTrails takes `*`), their status and selectors (any trail ARN). */
  "TrailCatalog.trails": ["cloudtrail:DescribeTrails", "cloudtrail:GetTrailStatus", "cloudtrail:GetEventSelectors"],
  "GateSignals.alarmStates": ["cloudwatch:DescribeAlarms"],
  "GateSignals.calendarState": ["ssm:GetCalendarState"],
  /** CreateSchedule in the wake-up group, passing the role Scheduler invokes the reconciler with. */
  "Wakeups.wakeAt": ["scheduler:CreateSchedule", "iam:PassRole"],
  "ParameterStore.get": ["ssm:GetParameter"],
  "ParameterStore.put": ["ssm:PutParameter"],
  /** ParameterStore.get on the audit summary parameter: the previous audit's unmanaged-host check state. */
  "AuditState.read": ["ssm:GetParameter"],
  "ManagedInstances.pingStatus": ["ssm:DescribeInstanceInformation"],
  "ManagedInstances.unreachable": ["ssm:DescribeInstanceInformation"],
  "RolloutStore.*": ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:BatchGetItem"],
  /** Operator listing (CLI only, operator credentials): not granted to any function. */
  "RolloutStore.list": ["dynamodb:Scan"],
  Idempotency: ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"],
  "EcsInventory.scanNamespace": [
    "ecs:ListClusters",
    "ecs:ListServices",
    "ecs:DescribeServices",
    "ecs:DescribeTaskDefinition",
  ],
  /** Only on services carrying the namespace tag (template: tag-scoped policies). */
  "EcsDeployments.forceNewDeployment": ["ecs:UpdateService"],
  "EcsDeployments.deploymentState": ["ecs:DescribeServices"],
  "EcsDeployments.deploymentsSince": ["ecs:DescribeServices"],
  /** Only `dcp:*` tag keys, only on services carrying the namespace tag. */
  "EcsDeployments.tagService": ["ecs:TagResource"],
  /** On the rollout table. */
  "DeploymentLinks.*": ["dynamodb:GetItem", "dynamodb:PutItem"],
} as const satisfies Record<string, readonly string[]>;

export type AdapterMethod = keyof typeof PERMISSIONS;

/** Union of the actions the given methods need, sorted and de-duplicated. */
export function actionsFor(methods: readonly AdapterMethod[]): string[] {
  return [...new Set(methods.flatMap((m) => PERMISSIONS[m]))].sort();
}

/**
 * What each deployed function calls, by adapter method: one export per function, so that a bundle carries its own
 * list only (the handler passes it to portsFor), and FUNCTION_USES gathers them for the tests and the CLI. The
 * template's policies are held to exactly this (test/unit/least-privilege.test.ts): every listed action allowed,
 * nothing else of consequence.
 */
export const INSTANCE_LAUNCH_USES = [
  "FleetInventory.describeHost",
  "FleetInventory.modifyImds",
  "ImdsUsage.noTokenCalls",
  "FleetInventory.tagHosts",
  "PolicyStore.roleOfInstanceProfile",
  "PolicyStore.rolePolicies",
  "ParameterStore.get",
  "Idempotency",
] as const satisfies readonly AdapterMethod[];

export const SECRET_ROTATION_USES = [
  "Wakeups.wakeAt",
  "GateSignals.alarmStates",
  "GateSignals.calendarState",
  "FleetInventory.scanNamespace",
  "BulkPolicyStore.roleOfInstanceProfile",
  "BulkPolicyStore.rolePolicies",
  "SecretCatalog.describe",
  "CommandRunner.sendRestart",
  "EcsInventory.scanNamespace",
  "EcsDeployments.forceNewDeployment",
  "DeploymentLinks.*",
  "ParameterStore.get",
  "AuditState.read",
  "RolloutStore.*",
  "Idempotency",
] as const satisfies readonly AdapterMethod[];

export const RESTART_TRACKER_USES = [
  "Wakeups.wakeAt",
  "GateSignals.alarmStates",
  "GateSignals.calendarState",
  "FleetInventory.tagHosts",
  "CommandRunner.sendRestart",
  "CommandRunner.invocation",
  "CommandRunner.commandComment",
  "CommandRunner.commandAlarms",
  "CommandRunner.invocations",
  "EcsDeployments.forceNewDeployment",
  "DeploymentLinks.*",
  "RolloutStore.*",
] as const satisfies readonly AdapterMethod[];

export const ROLLOUT_RECONCILER_USES = [
  "Wakeups.wakeAt",
  "GateSignals.alarmStates",
  "GateSignals.calendarState",
  "FleetInventory.tagHosts",
  "CommandRunner.sendRestart",
  "CommandRunner.invocations",
  "CommandRunner.commandAlarms",
  "CommandRunner.commandsWithComment",
  "EcsDeployments.forceNewDeployment",
  "EcsDeployments.deploymentState",
  "EcsDeployments.deploymentsSince",
  "EcsDeployments.tagService",
  "DeploymentLinks.*",
  "RolloutStore.*",
] as const satisfies readonly AdapterMethod[];

export const ECS_DEPLOYMENT_TRACKER_USES = [
  "Wakeups.wakeAt",
  "GateSignals.alarmStates",
  "GateSignals.calendarState",
  "EcsDeployments.deploymentState",
  "EcsDeployments.forceNewDeployment",
  "EcsDeployments.tagService",
  "DeploymentLinks.*",
  "CommandRunner.sendRestart",
  "RolloutStore.*",
] as const satisfies readonly AdapterMethod[];

export const DRIFT_AUDIT_USES = [
  "GateSignals.alarmStates",
  "GateSignals.calendarState",
  "FleetInventory.scanNamespace",
  "FleetInventory.modifyImds",
  "FleetInventory.imdsDefaults",
  "ImdsSources.setAccountDefaults",
  "ImdsSources.launchTemplates",
  "ImdsSources.fixLaunchTemplate",
  "ImdsSources.imageImdsSupport",
  "ImdsUsage.noTokenCalls",
  "TrailCatalog.trails",
  "HostChecks.send",
  "HostChecks.results",
  "BulkPolicyStore.roleOfInstanceProfile",
  "BulkPolicyStore.rolePolicies",
  "SecretCatalog.describe",
  "SecretCatalog.describeMany",
  "CommandRunner.sendRestart",
  "EcsInventory.scanNamespace",
  "EcsDeployments.forceNewDeployment",
  "DeploymentLinks.*",
  "ManagedInstances.pingStatus",
  "ManagedInstances.unreachable",
  "ParameterStore.get",
  "ParameterStore.put",
  "AuditState.read",
  "RolloutStore.*",
] as const satisfies readonly AdapterMethod[];

export const FUNCTION_USES = {
  InstanceLaunchFunction: INSTANCE_LAUNCH_USES,
  SecretRotationFunction: SECRET_ROTATION_USES,
  RestartTrackerFunction: RESTART_TRACKER_USES,
  RolloutReconcilerFunction: ROLLOUT_RECONCILER_USES,
  EcsDeploymentTrackerFunction: ECS_DEPLOYMENT_TRACKER_USES,
  DriftAuditFunction: DRIFT_AUDIT_USES,
} as const;
