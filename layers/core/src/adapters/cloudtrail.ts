// TrailCatalog over CloudTrail's AWS JSON 1.1 API, called through a thin signed caller instead of the SDK client.
//
// WHY NOT @aws-sdk/client-cloudtrail: the project pins every SDK client at 3.806.0 and that version of the CloudTrail
// client does not exist in the registry (3.787.0, then 3.859.0+); another version would bring its own @aws-sdk/core
// and smithy packages into the drift audit's bundle, which has ~4 KB left of its 650 KB budget
// (test/unit/bundle-contents.test.ts). Three read-only calls need none of the client's machinery beyond what the
// bundle already carries: SigV4 (@smithy/signature-v4), the SHA-256, credentials, region and HTTP handler of a client
// the audit already built (SSM), so the caller signs with the same identity, honours the same endpoint override (AWS_ENDPOINT_URL_CLOUDTRAIL, else AWS_ENDPOINT_URL: moto in tests) and counts its calls on the
// same ApiCallCounter (`CloudTrail.<Operation>`).
import { HttpRequest } from "@smithy/protocol-http";
import { SignatureV4 } from "@smithy/signature-v4";
import type {
  AwsCredentialIdentityProvider,
  ChecksumConstructor,
  HashConstructor,
  HttpResponse,
  Provider,
  RequestHandler,
} from "@smithy/types";
import type { TrailFact, TrailFacts } from "../domain/trigger-health.ts";
import type { TrailCatalog } from "../ports/index.ts";
import type { ApiCallCounter } from "./clients.ts";

/** The parts of a resolved SDK v3 client configuration the caller borrows (any client of the project has them). */
export interface BorrowedClientConfig {
  credentials: AwsCredentialIdentityProvider;
  region: Provider<string>;
  sha256: ChecksumConstructor | HashConstructor;
  requestHandler: unknown;
}

const TARGET_PREFIX = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101";

/** CloudTrail's endpoint: the standard override environment first, else the region's public endpoint. */
export function cloudTrailEndpoint(region: string, env: Record<string, string | undefined> = process.env): URL {
  return new URL(
    env.AWS_ENDPOINT_URL_CLOUDTRAIL ?? env.AWS_ENDPOINT_URL ?? `https://cloudtrail.${region}.amazonaws.com`,
  );
}

async function readBody(response: HttpResponse): Promise<string> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of (response.body ?? []) as AsyncIterable<Uint8Array>) chunks.push(chunk);
  return Buffer.concat(chunks).toString("utf8");
}

/**
 * Signs and sends CloudTrail JSON 1.1 calls with a borrowed client configuration. No retry loop: trigger health is
 * judged on every scheduled audit, and a failed call leaves the trail's health unknown (a finding), never healthy.
 */
export class CloudTrailCaller {
  constructor(
    private readonly config: BorrowedClientConfig,
    private readonly counter?: ApiCallCounter,
  ) {}

  /**
   * One call, counted as `CloudTrail.<operation>`, in `region` (default: the client's): the parsed JSON answer; an
   * Error named by the answer's `__type` otherwise.
   */
  async call<T>(operation: string, input: object, region?: string): Promise<T> {
    this.counter?.record(`CloudTrail.${operation}`);
    region ??= await this.config.region();
    const url = cloudTrailEndpoint(region);
    const { sha256, credentials } = this.config;
    const request = await new SignatureV4({ service: "cloudtrail", region, credentials, sha256 }).sign(
      new HttpRequest({
        method: "POST",
        protocol: url.protocol,
        hostname: url.hostname,
        ...(url.port ? { port: Number(url.port) } : {}),
        path: url.pathname,
        headers: {
          host: url.host,
          "content-type": "application/x-amz-json-1.1",
          "x-amz-target": `${TARGET_PREFIX}.${operation}`,
        },
        body: JSON.stringify(input),
      }),
    );
    const handler = this.config.requestHandler as RequestHandler<HttpRequest, HttpResponse>;
    const { response } = await handler.handle(request as HttpRequest);
    const text = await readBody(response);
    const body = text ? JSON.parse(text) : {};
    if (response.statusCode < 300) return body as T;
    // JSON 1.1 errors: `__type` is "<namespace>#<Name>", the message in `message` (or `Message`).
    const name = String(body.__type ?? response.statusCode)
      .split("#")
      .pop()!;
    throw Object.assign(new Error(`CloudTrail.${operation}: ${body.message ?? body.Message ?? name}`), { name });
  }
}

/** The region's trails with their status and selectors: 1 + 2 calls per trail (a region holds at most 5 trails). */
export class CloudTrailTrails implements TrailCatalog {
  constructor(private readonly ct: CloudTrailCaller) {}

  async trails(): Promise<TrailFacts> {
    let list: TrailFact[];
    try {
      list =
        (await this.ct.call<{ trailList?: TrailFact[] }>("DescribeTrails", { includeShadowTrails: true })).trailList ??
        [];
    } catch (err) {
      return { unavailable: (err as Error).message.slice(0, 300) };
    }
    // A trail's status and selectors are asked in its home region, by ARN (a shadow trail's name is not known here).
    const trails = list.map(async (t): Promise<TrailFact> => {
      try {
        const [status, selectors] = await Promise.all([
          this.ct.call<TrailFact>("GetTrailStatus", { Name: t.TrailARN }, t.HomeRegion),
          this.ct.call<TrailFact>("GetEventSelectors", { TrailName: t.TrailARN }, t.HomeRegion),
        ]);
        const { EventSelectors = [], AdvancedEventSelectors = [] } = selectors;
        return { ...t, IsLogging: status.IsLogging === true, EventSelectors, AdvancedEventSelectors };
      } catch (err) {
        return { ...t, problem: (err as Error).message.slice(0, 300) };
      }
    });
    return { trails: await Promise.all(trails) };
  }
}

/** The catalog over an existing client's configuration (its credentials, region, hash and HTTP handler). */
export function cloudTrailTrails(client: { config: BorrowedClientConfig }, counter?: ApiCallCounter): CloudTrailTrails {
  return new CloudTrailTrails(new CloudTrailCaller(client.config, counter));
}
