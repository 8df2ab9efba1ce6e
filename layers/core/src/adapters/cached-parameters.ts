import { SSMProvider } from "@aws-lambda-powertools/parameters/ssm";
import { PutParameterCommand, type SSMClient } from "@aws-sdk/client-ssm";
import type { ParameterStore } from "../ports/index.ts";

/**
 * Parameter Store through Powertools Parameters: reads are cached for `maxAgeSeconds` across warm
 * invocations (the manifest changes rarely; a launch must not pay a GetParameter each time).
 */
export class CachedParameterStore implements ParameterStore {
  private readonly provider: SSMProvider;
  constructor(
    private readonly client: SSMClient,
    private readonly maxAgeSeconds = 300,
  ) {
    this.provider = new SSMProvider({ awsSdkV3Client: client });
  }

  async get(name: string): Promise<string | undefined> {
    try {
      const value = await this.provider.get(name, { maxAge: this.maxAgeSeconds });
      return typeof value === "string" ? value : undefined;
    } catch (err) {
      // Powertools wraps the SDK's ParameterNotFound; absence is an answer, not a fault.
      const cause = (err as { cause?: { name?: string } }).cause;
      if (cause?.name === "ParameterNotFound" || /not found/i.test((err as Error).message)) return undefined;
      throw err;
    }
  }

  async put(name: string, value: string, overwrite: boolean): Promise<void> {
    await this.client.send(
      new PutParameterCommand({
        Name: name,
        Value: value,
        Type: "String",
        Overwrite: overwrite,
        Tier: value.length > 4096 ? "Advanced" : "Standard",
      }),
    );
  }
}
