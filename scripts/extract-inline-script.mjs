// Trunk post-build hook: moves the inline module script Trunk writes into index.html into its
// own file (loader-<hash>.js), so the Content-Security-Policy can say `script-src 'self'`
// without 'unsafe-inline', and loads it with its sha384 integrity (a changed loader is refused,
// like the modules Trunk preloads). Runs on the staging directory before Trunk publishes dist/.
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { integrity } from "./sri.mjs";

const staging = process.env.TRUNK_STAGING_DIR;
if (!staging) {
  console.error("extract-inline-script: TRUNK_STAGING_DIR is not set (run me as a Trunk hook)");
  process.exit(1);
}
const indexPath = join(staging, "index.html");
const html = readFileSync(indexPath, "utf8");
const inline = /<script type="module">([\s\S]*?)<\/script>/g;
const matches = [...html.matchAll(inline)];
if (matches.length !== 1) {
  console.error(`extract-inline-script: expected one inline module script in index.html, found ${matches.length}`);
  process.exit(1);
}
// Trunk preloads the main wasm with an integrity attribute, but Chromium ignores integrity on
// `as="fetch"` preloads (crbug.com/981419) and the loader fetches the module by its path, so
// nothing checked it: the loader now fetches it with its sha384 integrity itself.
const code = withWasmIntegrity(matches[0][1].trim() + "\n");
const name = `loader-${createHash("sha256").update(code).digest("hex").slice(0, 16)}.js`;
writeFileSync(join(staging, name), code);
const tag = `<script type="module" src="./${name}" crossorigin="anonymous" integrity="${integrity(code)}"></script>`;
writeFileSync(indexPath, html.replace(matches[0][0], tag));
console.log(`extract-inline-script: index.html now loads ${name}`);

/// `code` (Trunk's loader) with its `init({ module_or_path: './x_bg.wasm' })` fetching the
/// module with its sha384 integrity.
function withWasmIntegrity(code) {
  const call = /module_or_path: '(\.\/[^']+_bg\.wasm)'/;
  const found = code.match(call);
  if (!found || code.split(found[0]).length !== 2) {
    console.error("extract-inline-script: expected one `module_or_path: './…_bg.wasm'` in Trunk's loader");
    process.exit(1);
  }
  const wasm = readFileSync(join(staging, found[1]));
  return code.replace(found[0], `module_or_path: fetch('${found[1]}', { integrity: '${integrity(wasm)}' })`);
}
