// Trunk post-build hook: Subresource Integrity for the MSAL bundle. src/auth/msal_bridge.js loads
// msal-browser.min.js with a script element whose `integrity` is the constant this hook writes
// into the bridge as built (dist/snippets/…/msal_bridge.js): the browser then runs the bundle
// only if it is byte for byte the one this build shipped. The source carries a well-formed digest
// of 48 zero bytes, which matches no file, so a bridge this hook did not see refuses the bundle
// (a malformed placeholder would not: browsers skip integrity metadata they cannot parse).
// The bridge itself is modulepreloaded with an integrity of its own, recomputed here. Runs
// after split-wasm.mjs, which writes the snippets.
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { integrity } from "./sri.mjs";

const PLACEHOLDER = `"sha384-${"A".repeat(64)}"`;
const staging = process.env.TRUNK_STAGING_DIR;

try {
  if (!staging) {
    throw new Error("TRUNK_STAGING_DIR is not set (run me as a Trunk hook)");
  }
  const bridges = readdirSync(join(staging, "snippets"), { recursive: true })
    .filter((f) => f.endsWith("msal_bridge.js"))
    .map((f) => join(staging, "snippets", f));
  if (bridges.length !== 1) {
    throw new Error(`expected one msal_bridge.js under snippets/, found ${bridges.length}`);
  }
  const digest = integrity(readFileSync(join(staging, "msal-browser.min.js")));
  const bridge = readFileSync(bridges[0], "utf8");
  if (bridge.split(PLACEHOLDER).length !== 2) {
    throw new Error(`expected the integrity placeholder exactly once in ${bridges[0]}`);
  }
  const built = bridge.replace(PLACEHOLDER, `"${digest}"`);
  writeFileSync(bridges[0], built);
  const indexPath = join(staging, "index.html");
  const href = `./${relative(staging, bridges[0])}`;
  const preload = `href="${href}" crossorigin="anonymous" integrity="`;
  const html = readFileSync(indexPath, "utf8");
  const start = html.indexOf(preload);
  if (start < 0) {
    throw new Error(`no modulepreload with integrity for ${href} in index.html`);
  }
  const end = html.indexOf('"', start + preload.length);
  writeFileSync(indexPath, `${html.slice(0, start + preload.length)}${integrity(built)}${html.slice(end)}`);
  console.log(`msal-integrity: msal-browser.min.js is ${digest}`);
} catch (error) {
  console.error(`msal-integrity: ${error.message}`);
  process.exitCode = 1;
}
