#!/usr/bin/env node
// Entry point of `npx dcp`: registers tsx so the TypeScript CLI (and the `#core/*` imports) load without a build.
import { register } from "tsx/esm/api";

// stderr carries progress and one clear error line; the SDK's multi-line Node 20 support notice would drown them.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
register();
const { run } = await import("./dcp.ts");
process.exitCode = await run(process.argv.slice(2));
