// TrailCatalog over CloudTrail's AWS JSON 1.1 API, called through a thin signed caller instead of the SDK client.
//
// WHY NOT @aws-sdk/client-cloudtrail: the project pins every SDK client at 3.806.0 and that version of the CloudTrail
// client does not exist in the registry (3.787.0, then 3.859.0+); another version would bring its own @aws-sdk/core
// and smithy packages into the drift audit's bundle, which has ~4 KB left of its 650 KB budget
// (test/unit/bundle-contents.test.ts). Three read-only calls need none of the client's machinery beyond what the
// bundle already carries: SigV4 (@smithy/signature-v4), the SHA-256, credentials, region and HTTP handler of a client
// the audit already built (SSM), so the caller signs with the same identity, honours the same endpoint override
// (AWS_ENDPOINT_URL_CLOUDTRAIL, else AWS_ENDPOINT_URL: moto in tests) and counts its calls on the same ApiCallCounter
// (`CloudTrail.<Operation>`).
import { partition } from "@aws-sdk/util-endpoints";
import { HttpRequest } from "@smithy/protocol-http";
import { SignatureV4 } from "@smithy/signature-v4";
import type {
  AwsCredentialIdentityProvider,
  ChecksumConstructor,
  HashConstructor,
  HttpResponse,
  Provider,
  RequestHandler,
  StreamCollector,
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
  streamCollector: StreamCollector;
}

/**
 * One CloudTrail JSON 1.1 call, counted as `CloudTrail.<operation>`, in `region` (default: the client's): the parsed
 * answer, or an Error named by the answer's `__type`. No retry loop: trigger health is judged on every scheduled
 * audit, and a failed call leaves the trail's health unknown (a finding), never healthy.
 */
export type CloudTrailCall = <T>(operation: string, input: object, region?: string) => Promise<T>;

/**
 * Signs with the borrowed configuration; the endpoint is AWS_ENDPOINT_URL_CLOUDTRAIL, else AWS_ENDPOINT_URL, else the
 * region's own: `cloudtrail.<region>.<the partition's DNS suffix>` (amazonaws.com, amazonaws.com.cn in China), from
 * the SDK's partition table (@aws-sdk/util-endpoints, the table the clients resolve their endpoints with).
 */
export function cloudTrailCaller(config: BorrowedClientConfig, counter?: ApiCallCounter): CloudTrailCall {
  return async <T>(operation: string, input: object, region?: string): Promise<T> => {
    counter?.record(`CloudTrail.${operation}`);
    region ??= await config.region();
    const { env } = process;
    const url = new URL(
      env.AWS_ENDPOINT_URL_CLOUDTRAIL ??
        env.AWS_ENDPOINT_URL ??
        `https://cloudtrail.${region}.${partition(region).dnsSuffix}`,
    );
    const { sha256, credentials } = config;
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
          "x-amz-target": `com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.${operation}`,
        },
        body: JSON.stringify(input),
      }),
    );
    const handler = config.requestHandler as RequestHandler<HttpRequest, HttpResponse>;
    const { response } = await handler.handle(request as HttpRequest);
    const text = Buffer.from(await config.streamCollector(response.body)).toString();
    const body = text ? JSON.parse(text) : {};
    if (response.statusCode < 300) return body as T;
    // JSON 1.1 errors: `__type` is "<namespace>#<Name>", the message in `message` (or `Message`).
    const name = String(body.__type ?? response.statusCode)
      .split("#")
      .pop()!;
    throw Object.assign(new Error(`CloudTrail.${operation}: ${body.message ?? body.Message ?? name}`), { name });
  };
}

/**
 * The region's trails with their status and selectors (1 + 2 calls per trail; a region holds at most 5 trails). A
 * trail's status and selectors are asked in its home region, by ARN (a shadow trail's name is not known here).
 */
export function cloudTrailTrails(client: { config: BorrowedClientConfig }, counter?: ApiCallCounter): TrailCatalog {
  const call = cloudTrailCaller(client.config, counter);
  const problem = (err: unknown) => (err as Error).message.slice(0, 300);
  return {
    async trails(): Promise<TrailFacts> {
      let list: TrailFact[];
      try {
        list =
          (await call<{ trailList?: TrailFact[] }>("DescribeTrails", { includeShadowTrails: true })).trailList ?? [];
      } catch (err) {
        return { unavailable: problem(err) };
      }
      const trails = list.map(async (t): Promise<TrailFact> => {
        try {
          const [status, selectors] = await Promise.all([
            call<TrailFact>("GetTrailStatus", { Name: t.TrailARN }, t.HomeRegion),
            call<TrailFact>("GetEventSelectors", { TrailName: t.TrailARN }, t.HomeRegion),
          ]);
          const { EventSelectors = [], AdvancedEventSelectors = [] } = selectors;
          return { ...t, IsLogging: status.IsLogging === true, EventSelectors, AdvancedEventSelectors };
        } catch (err) {
          return { ...t, problem: problem(err) };
        }
      });
      return { trails: await Promise.all(trails) };
    },
  };
}
