// Trunk post-build hook: moves the inline module script Trunk writes into index.html into its
// own file (loader-<hash>.js), so the Content-Security-Policy can say `script-src 'self'`
// without 'unsafe-inline', and loads it with its sha384 integrity (a changed loader is refused,
// like the modules Trunk preloads). Runs on the staging directory before Trunk publishes dist/.
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

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
const code = matches[0][1].trim() + "\n";
const name = `loader-${createHash("sha256").update(code).digest("hex").slice(0, 16)}.js`;
writeFileSync(join(staging, name), code);
const integrity = `sha384-${createHash("sha384").update(code).digest("base64")}`;
const tag = `<script type="module" src="./${name}" crossorigin="anonymous" integrity="${integrity}"></script>`;
writeFileSync(indexPath, html.replace(matches[0][0], tag));
console.log(`extract-inline-script: index.html now loads ${name}`);
