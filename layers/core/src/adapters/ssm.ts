// CommandRunner (SSM Run Command, our restart document only) and ParameterStore over SSM (SDK v3).
import {
  GetCommandInvocationCommand,
  GetParameterCommand,
  ListCommandsCommand,
  PutParameterCommand,
  SendCommandCommand,
  type SSMClient,
} from "@aws-sdk/client-ssm";
import { InvalidInputError } from "../domain/errors.ts";
import { SERVICE_NAME_PATTERN } from "../domain/manifest.ts";
import { MAX_COMMENT_CHARS, MAX_IDS_PER_COMMAND } from "../domain/ssm.ts";
import type { CommandRunner, InvocationStatus, ParameterStore, RestartRequest } from "../ports/index.ts";

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
    const out = await this.ssm.send(
      new SendCommandCommand({
        DocumentName: req.documentName,
        InstanceIds: req.instanceIds,
        Parameters: { Service: [req.service] },
        MaxConcurrency: req.maxConcurrency,
        MaxErrors: req.maxErrors,
        Comment: [...req.comment].slice(0, MAX_COMMENT_CHARS).join(""),
        TimeoutSeconds: this.timeoutSeconds,
      }),
    );
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
    try {
      const out = await this.ssm.send(new ListCommandsCommand({ CommandId: commandId }));
      const cmd = out.Commands?.find((c) => c.CommandId === commandId);
      return cmd ? (cmd.Comment ?? "") : undefined;
    } catch (err) {
      if (err instanceof Error && err.name === "InvalidCommandId") return undefined;
      throw err;
    }
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
