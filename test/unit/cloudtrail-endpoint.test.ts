// The thin CloudTrail caller's endpoint outside the commercial partition: a trail check in China or GovCloud must go
// to that partition's CloudTrail, not to an amazonaws.com host that does not exist there.
import { SSMClient } from "@aws-sdk/client-ssm";
import type { HttpRequest } from "@smithy/protocol-http";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { cloudTrailCaller } from "#core/adapters/cloudtrail";

/** A client configuration (an SSM client's, as the audit borrows it) whose handler answers `{}` and records hosts. */
function recordingConfig(hosts: string[]) {
  const { config } = new SSMClient({
    region: "eu-central-1",
    credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "example" },
  });
  return {
    ...config,
    requestHandler: {
      handle: async (req: HttpRequest) => {
        hosts.push(`${req.protocol}//${req.hostname}`);
        return { response: { statusCode: 200, headers: {}, body: "{}" } };
      },
    },
    streamCollector: async (body: unknown) => new TextEncoder().encode(String(body)),
  };
}

describe("CloudTrail endpoint by partition", () => {
  beforeEach(() => {
    vi.stubEnv("AWS_ENDPOINT_URL", undefined);
    vi.stubEnv("AWS_ENDPOINT_URL_CLOUDTRAIL", undefined);
  });
  afterEach(() => vi.unstubAllEnvs());

  it("uses the region's partition DNS suffix: commercial, China, GovCloud", async () => {
    const hosts: string[] = [];
    const call = cloudTrailCaller(recordingConfig(hosts));
    for (const region of ["eu-central-1", "cn-north-1", "us-gov-west-1"]) await call("DescribeTrails", {}, region);
    await call("DescribeTrails", {}); // the client's region
    expect(hosts).toEqual([
      "https://cloudtrail.eu-central-1.amazonaws.com",
      "https://cloudtrail.cn-north-1.amazonaws.com.cn",
      "https://cloudtrail.us-gov-west-1.amazonaws.com",
      "https://cloudtrail.eu-central-1.amazonaws.com",
    ]);
  });

  it("honours AWS_ENDPOINT_URL_CLOUDTRAIL over AWS_ENDPOINT_URL", async () => {
    const hosts: string[] = [];
    vi.stubEnv("AWS_ENDPOINT_URL", "http://127.0.0.1:5000");
    vi.stubEnv("AWS_ENDPOINT_URL_CLOUDTRAIL", "http://localhost:5001");
    await cloudTrailCaller(recordingConfig(hosts))("DescribeTrails", {}, "cn-north-1");
    expect(hosts).toEqual(["http://localhost"]);
  });
});
