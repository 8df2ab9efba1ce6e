// CommandRunner (SSM Run Command, our restart document only) and ParameterStore over SSM (SDK v3).
import {
  GetCommandInvocationCommand,
  GetParameterCommand,
  ListCommandInvocationsCommand,
  ListCommandsCommand,
  PutParameterCommand,
  SendCommandCommand,
  type SSMClient,
} from "@aws-sdk/client-ssm";
import { InvalidInputError } from "../domain/errors.ts";
import type { TriggeredAlarm } from "../domain/gates.ts";
import { SERVICE_NAME_PATTERN } from "../domain/manifest.ts";
import { MAX_COMMENT_CHARS, MAX_IDS_PER_COMMAND } from "../domain/ssm.ts";
import {
  type CommandRunner,
  type HostCheckInvocation,
  type HostChecks,
  InvalidInstanceIdError,
  type InvocationStatus,
  type ParameterStore,
  type RestartRequest,
} from "../ports/index.ts";

const STANDARD_TIER_MAX = 4096;

export interface SsmCommandRunnerOptions {
  /** Per-invocation timeout (SendCommand TimeoutSeconds). Default 600. */
  timeoutSeconds?: number;
}

export class SsmCommandRunner implements CommandRunner {
  private readonly timeoutSeconds: number;

  constructor(
    private readonly ssm: SSMClient,
    opts: SsmCommandRunnerOptions = {},
  ) {
    this.timeoutSeconds = opts.timeoutSeconds ?? 600;
  }

  async sendRestart(req: RestartRequest): Promise<{ commandId: string }> {
    if (req.instanceIds.length === 0) throw new InvalidInputError("no instances to restart", "instanceIds");
    if (req.instanceIds.length > MAX_IDS_PER_COMMAND)
      throw new InvalidInputError(
        `${req.instanceIds.length} instances in one command; SSM accepts at most ${MAX_IDS_PER_COMMAND}`,
        "instanceIds",
      );
    if (!SERVICE_NAME_PATTERN.test(req.service)) throw new InvalidInputError("not a service name", "service");
    const out = await this.ssm
      .send(
        new SendCommandCommand({
          DocumentName: req.documentName,
          InstanceIds: req.instanceIds,
          Parameters: { Service: [req.service] },
          MaxConcurrency: req.maxConcurrency,
          MaxErrors: req.maxErrors,
          Comment: [...req.comment].slice(0, MAX_COMMENT_CHARS).join(""),
          TimeoutSeconds: this.timeoutSeconds,
          ...(req.alarm
            ? { AlarmConfiguration: { Alarms: [{ Name: req.alarm }], IgnorePollAlarmFailure: false } }
            : {}),
        }),
      )
      .catch((err: unknown) => {
        if (err instanceof Error && err.name === "InvalidInstanceId") throw new InvalidInstanceIdError(err.message);
        throw err;
      });
    const commandId = out.Command?.CommandId;
    if (!commandId) throw new Error("SendCommand answered without a CommandId");
    return { commandId };
  }

  /** GetCommandInvocation: the host's status plus the command's comment; undefined when there is no invocation. */
  async invocation(
    commandId: string,
    instanceId: string,
  ): Promise<{ status: InvocationStatus; comment: string } | undefined> {
    try {
      const out = await this.ssm.send(
        new GetCommandInvocationCommand({ CommandId: commandId, InstanceId: instanceId }),
      );
      if (!out.Status) return undefined;
      return { status: out.Status as InvocationStatus, comment: out.Comment ?? "" };
    } catch (err) {
      // Not registered yet (just sent) or never targeted this instance. moto answers InvalidCommandId for an unknown id.
      if (err instanceof Error && (err.name === "InvocationDoesNotExist" || err.name === "InvalidCommandId"))
        return undefined;
      throw err;
    }
  }

  /** ListCommands for one id: its comment (which names our rollout); undefined for an unknown command. */
  async commandComment(commandId: string): Promise<string | undefined> {
    const cmd = await listOne(this.ssm, commandId);
    return cmd ? (cmd.Comment ?? "") : undefined;
  }

  /** ListCommands for one id: the alarm it carried and the alarms SSM stopped it on (TriggeredAlarms). */
  async commandAlarms(commandId: string): Promise<{ alarm?: string; triggered: TriggeredAlarm[] }> {
    const cmd = await listOne(this.ssm, commandId);
    const alarm = cmd?.AlarmConfiguration?.Alarms?.[0]?.Name;
    return {
      ...(alarm ? { alarm } : {}),
      triggered: (cmd?.TriggeredAlarms ?? []).map((a) => ({ name: a.Name ?? "", state: a.State ?? "" })),
    };
  }

  /** Set once ListCommandInvocations answered "not implemented" (the local emulator): ask per host from then on. */
  private listUnavailable = false;

  async invocations(commandId: string, instanceIds: string[]): Promise<Map<string, InvocationStatus>> {
    const out = new Map<string, InvocationStatus>();
    if (!this.listUnavailable) {
      try {
        let token: string | undefined;
        do {
          const page = await this.ssm.send(
            new ListCommandInvocationsCommand({ CommandId: commandId, MaxResults: 50, NextToken: token }),
          );
          for (const inv of page.CommandInvocations ?? [])
            if (inv.InstanceId && inv.Status) out.set(inv.InstanceId, inv.Status as InvocationStatus);
          token = page.NextToken;
        } while (token);
        return out;
      } catch (err) {
        if (!notImplemented(err)) throw err;
        this.listUnavailable = true;
      }
    }
    for (const id of instanceIds) {
      const inv = await this.invocation(commandId, id);
      if (inv) out.set(id, inv.status);
    }
    return out;
  }

  async commandsWithComment(instanceId: string, documentName: string, comment: string): Promise<string[]> {
    const want = [...comment].slice(0, MAX_COMMENT_CHARS).join("");
    const ids: string[] = [];
    let token: string | undefined;
    do {
      const page = await this.ssm.send(
        new ListCommandsCommand({
          InstanceId: instanceId,
          Filters: [{ key: "DocumentName", value: documentName }],
          NextToken: token,
        }),
      );
      for (const c of page.Commands ?? []) if (c.CommandId && c.Comment === want) ids.push(c.CommandId);
      token = page.NextToken;
    } while (token);
    return ids;
  }
}

/** ListCommands for one id; undefined for an unknown command. */
async function listOne(ssm: SSMClient, commandId: string) {
  try {
    const out = await ssm.send(new ListCommandsCommand({ CommandId: commandId }));
    return out.Commands?.find((c) => c.CommandId === commandId);
  } catch (err) {
    if (err instanceof Error && err.name === "InvalidCommandId") return undefined;
    throw err;
  }
}

/**
 * An API the endpoint does not implement: moto answers ListCommandInvocations with an HTML error page (a
 * deserialization error carrying the raw response), others with a NotImplemented-style error.
 */
function notImplemented(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  const raw = (err as { $response?: { statusCode?: number } }).$response?.statusCode;
  if (err.name === "SyntaxError" && /<!doctype|<html/i.test(err.message)) return true;
  return (
    /not.?implemented|unknownoperation|InvalidAction/i.test(`${err.name} ${err.message}`) ||
    status === 501 ||
    raw === 501
  );
}

/**
 * The host credential check (our read-only document) through Run Command: one command targeting the namespace tag,
 * paced by SSM itself; results collected later (ListCommandInvocations keeps them 30 days).
 */
export class SsmHostChecks implements HostChecks {
  constructor(
    private readonly ssm: SSMClient,
    private readonly documentName: string,
  ) {}

  async send(tagKey: string, namespace: string): Promise<{ commandId: string }> {
    const out = await this.ssm.send(
      new SendCommandCommand({
        DocumentName: this.documentName,
        Targets: [{ Key: `tag:${tagKey}`, Values: [namespace] }],
        // Read-only and cheap: a tenth of the fleet at a time; one host's failure must not stop the others.
        MaxConcurrency: "10%",
        MaxErrors: "100%",
        TimeoutSeconds: 600,
        Comment: "dcp host credential check (read-only)",
      }),
    );
    const commandId = out.Command?.CommandId;
    if (!commandId) throw new Error("SendCommand answered without a CommandId");
    return { commandId };
  }

  async results(commandId: string): Promise<HostCheckInvocation[] | undefined> {
    const found: HostCheckInvocation[] = [];
    let token: string | undefined;
    try {
      do {
        const out = await this.ssm.send(
          new ListCommandInvocationsCommand({ CommandId: commandId, Details: true, NextToken: token }),
        );
        for (const inv of out.CommandInvocations ?? []) {
          if (!inv.InstanceId) continue;
          const output = inv.CommandPlugins?.[0]?.Output;
          found.push({
            instanceId: inv.InstanceId,
            status: inv.Status ?? "Pending",
            ...(inv.Status === "Success" && output !== undefined ? { output } : {}),
          });
        }
        token = out.NextToken || undefined;
      } while (token);
    } catch (err) {
      if (notImplemented(err)) return undefined;
      if (err instanceof Error && err.name === "InvalidCommandId") return [];
      throw err;
    }
    return found;
  }
}

export class SsmParameterStore implements ParameterStore {
  constructor(private readonly ssm: SSMClient) {}

  async get(name: string): Promise<string | undefined> {
    try {
      const out = await this.ssm.send(new GetParameterCommand({ Name: name }));
      return out.Parameter?.Value;
    } catch (err) {
      if (err instanceof Error && err.name === "ParameterNotFound") return undefined;
      throw err;
    }
  }

  async put(name: string, value: string, overwrite: boolean): Promise<void> {
    await this.ssm.send(
      new PutParameterCommand({
        Name: name,
        Value: value,
        Type: "String",
        Overwrite: overwrite,
        Tier: Buffer.byteLength(value, "utf8") > STANDARD_TIER_MAX ? "Advanced" : "Standard",
      }),
    );
  }
}
