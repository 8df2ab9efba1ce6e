import { SSMProvider } from "@aws-lambda-powertools/parameters/ssm";
import type { SSMClient } from "@aws-sdk/client-ssm";
import { SsmParameterStore } from "./ssm.ts";

/**
 * Parameter Store through Powertools Parameters: reads are cached for `maxAgeSeconds` across warm
 * invocations (the manifest changes rarely; a launch must not pay a GetParameter each time). Writes as SsmParameterStore.
 */
export class CachedParameterStore extends SsmParameterStore {
  private readonly provider: SSMProvider;
  constructor(
    client: SSMClient,
    private readonly maxAgeSeconds = 300,
  ) {
    super(client);
    this.provider = new SSMProvider({ awsSdkV3Client: client });
  }

  override async get(name: string): Promise<string | undefined> {
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
}
