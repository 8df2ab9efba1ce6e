// moto's Run Command traps: SendCommand with InstanceIds is recorded as targeting every instance in the region, and
// every invocation is `Success` at once. This harness sits in the SSMClient's middleware stack and answers with the
// truth: what was really requested, and whatever invocation status a test injects.
import {
  type GetCommandInvocationCommandInput,
  type GetCommandInvocationCommandOutput,
  InvocationDoesNotExist,
  type ListCommandsCommandInput,
  type ListCommandsCommandOutput,
  type SendCommandCommandInput,
  type SendCommandCommandOutput,
  type ServiceInputTypes,
  type ServiceOutputTypes,
  type SSMClient,
} from "@aws-sdk/client-ssm";
import type { InitializeMiddleware } from "@smithy/types";
import type { InvocationStatus } from "#core/ports/index";

export interface SentCommand {
  commandId: string;
  documentName: string;
  instanceIds: string[];
  parameters: Record<string, string[]>;
  maxConcurrency?: string;
  maxErrors?: string;
  comment?: string;
  /** AlarmConfiguration's alarm (SSM stops the command when it fires). */
  alarm?: string;
}

export interface SsmHarness {
  /** Every SendCommand answered so far, in order, with what was really requested. */
  sent(): SentCommand[];
  /** The instances a command really targeted (undefined for a command the harness did not see). */
  targetsOf(commandId: string): string[] | undefined;
  /** GetCommandInvocation for (commandId, instanceId) answers `status` from now on. */
  failInvocation(commandId: string, instanceId: string, status: InvocationStatus): void;
  /**
   * SSM stops the command on its AlarmConfiguration alarm (which moto never does): the given hosts' invocations end
   * `Cancelled`, and ListCommands answers the command `Cancelled` with the alarm in its TriggeredAlarms.
   */
  stopOnAlarm(commandId: string, instanceIds: string[]): void;
  /** Removes the middleware. */
  detach(): void;
}

const NAME = "dcpSsmHarness";

export function attachSsmHarness(ssm: SSMClient): SsmHarness {
  const sent: SentCommand[] = [];
  const byId = new Map<string, SentCommand>();
  const injected = new Map<string, InvocationStatus>();
  const stopped = new Set<string>();
  const key = (c: string, i: string) => `${c}|${i}`;

  const mw: InitializeMiddleware<ServiceInputTypes, ServiceOutputTypes> = (next, context) => async (args) => {
    if (context.commandName === "SendCommandCommand") {
      const input = args.input as SendCommandCommandInput;
      const result = await next(args);
      const out = result.output as SendCommandCommandOutput;
      const commandId = out.Command?.CommandId;
      if (commandId) {
        const rec: SentCommand = {
          commandId,
          documentName: input.DocumentName ?? "",
          instanceIds: [...(input.InstanceIds ?? [])],
          parameters: structuredClone(input.Parameters ?? {}),
          maxConcurrency: input.MaxConcurrency,
          maxErrors: input.MaxErrors,
          comment: input.Comment,
          ...(input.AlarmConfiguration?.Alarms?.[0]?.Name ? { alarm: input.AlarmConfiguration.Alarms[0].Name } : {}),
        };
        sent.push(rec);
        byId.set(commandId, rec);
      }
      return result;
    }
    if (context.commandName === "ListCommandsCommand" && (args.input as ListCommandsCommandInput).CommandId) {
      const result = await next(args);
      for (const c of (result.output as ListCommandsCommandOutput).Commands ?? []) {
        const rec = c.CommandId ? byId.get(c.CommandId) : undefined;
        if (!rec?.alarm) continue;
        c.AlarmConfiguration = { Alarms: [{ Name: rec.alarm }], IgnorePollAlarmFailure: false };
        if (!stopped.has(rec.commandId)) continue;
        c.Status = "Cancelled";
        c.TriggeredAlarms = [{ Name: rec.alarm, State: "ALARM" }];
      }
      return result;
    }
    if (context.commandName === "GetCommandInvocationCommand") {
      const input = args.input as GetCommandInvocationCommandInput;
      const commandId = input.CommandId ?? "";
      const instanceId = input.InstanceId ?? "";
      const rec = byId.get(commandId);
      if (rec && !rec.instanceIds.includes(instanceId)) {
        // Real SSM has no invocation for an instance the command did not target.
        throw new InvocationDoesNotExist({ message: "Invocation does not exist", $metadata: { httpStatusCode: 400 } });
      }
      const status = injected.get(key(commandId, instanceId));
      if (status) {
        const output: GetCommandInvocationCommandOutput = {
          CommandId: commandId,
          InstanceId: instanceId,
          DocumentName: rec?.documentName,
          Comment: rec?.comment,
          // The SDK's enum lacks some statuses the port knows (AccessDenied): the wire value is a plain string.
          Status: status as GetCommandInvocationCommandOutput["Status"],
          StatusDetails: status,
          $metadata: { httpStatusCode: 200 },
        };
        return { output, response: {} };
      }
    }
    return next(args);
  };
  ssm.middlewareStack.add(mw, { step: "initialize", name: NAME, override: true });

  return {
    sent: () => sent.map((s) => ({ ...s, instanceIds: [...s.instanceIds] })),
    targetsOf: (commandId) => (byId.has(commandId) ? [...(byId.get(commandId)?.instanceIds ?? [])] : undefined),
    failInvocation: (commandId, instanceId, status) => injected.set(key(commandId, instanceId), status),
    stopOnAlarm: (commandId, instanceIds) => {
      stopped.add(commandId);
      for (const id of instanceIds) injected.set(key(commandId, id), "Cancelled");
    },
    detach: () => {
      ssm.middlewareStack.remove(NAME);
    },
  };
}
