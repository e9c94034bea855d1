// Trunk post-build hook: writes the Content-Security-Policy into index.html and redirect.html as
// a <meta http-equiv> tag, so the policy holds on static hosts that send no header (GitHub
// Pages, any bucket). The policy is the reference nginx configuration's
// (`$kbwatch_csp_common` in deploy/nginx/kbwatch.conf) with every Microsoft sign-in origin in
// place of its one `$kbwatch_login`, and every Microsoft API origin kbwatch can be configured
// for added to connect-src (deploy/microsoft-hosts.json, which a core test keeps equal to
// core::cloud). A meta policy cannot carry frame-ancestors (browsers ignore it there): the
// header policies (nginx, staticwebapp.config.json) add it. Both the meta and a header policy
// are enforced, so a host sending its own must allow at least what this one needs: an apiBase
// on a host of your own is added at build time, KBWATCH_CSP_CONNECT="https://gw.example" (https
// origins, space-separated).
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const staging = process.env.TRUNK_STAGING_DIR;
const source = process.env.TRUNK_SOURCE_DIR || process.cwd();

try {
  if (!staging) {
    throw new Error("TRUNK_STAGING_DIR is not set (run me as a Trunk hook)");
  }
  const policy = staticHostPolicy();
  for (const page of ["index.html", "redirect.html"]) {
    insertMeta(join(staging, page), policy);
  }
  console.log(`meta-csp: ${policy}`);
} catch (error) {
  console.error(`meta-csp: ${error.message}`);
  process.exitCode = 1;
}

/// `$kbwatch_csp_common` of the nginx configuration with every Microsoft host in it.
function staticHostPolicy() {
  const conf = readFileSync(join(source, "deploy/nginx/kbwatch.conf"), "utf8");
  const hosts = JSON.parse(readFileSync(join(source, "deploy/microsoft-hosts.json"), "utf8"));
  const common = conf.match(/^\s*set \$kbwatch_csp_common "([^"]*)";/m);
  if (!common) {
    throw new Error('deploy/nginx/kbwatch.conf has no `set $kbwatch_csp_common "…";` line');
  }
  let foundConnect = false;
  const directives = common[1]
    .replaceAll("$kbwatch_login", hosts.signIn.join(" "))
    .split(";")
    .map((d) => d.trim())
    .filter((d) => d !== "")
    .map((d) => {
      if (d.split(/\s+/)[0] !== "connect-src") {
        return d;
      }
      foundConnect = true;
      return [d, ...hosts.api, ...extraConnect()].join(" ");
    });
  const policy = directives.join("; ");
  if (!foundConnect || policy.includes("$") || policy.includes('"')) {
    throw new Error(`cannot use the nginx policy as a meta policy: ${policy}`);
  }
  return policy;
}

/// KBWATCH_CSP_CONNECT's origins: https only, an origin and nothing more.
function extraConnect() {
  const listed = (process.env.KBWATCH_CSP_CONNECT || "").split(/\s+/).filter((o) => o !== "");
  for (const origin of listed) {
    let url = null;
    try {
      url = new URL(origin);
    } catch {
      // reported below
    }
    if (!url || url.protocol !== "https:" || url.origin !== origin) {
      throw new Error(`KBWATCH_CSP_CONNECT: ${JSON.stringify(origin)} is not an https origin (https://host[:port])`);
    }
  }
  return listed;
}

/// The policy's meta tag right after `<meta charset>`, before anything it governs.
function insertMeta(path, policy) {
  const html = readFileSync(path, "utf8");
  if (html.includes('http-equiv="Content-Security-Policy"')) {
    throw new Error(`${path} already has a meta Content-Security-Policy`);
  }
  const charset = html.match(/<meta charset="utf-8"\s*\/?>/i);
  if (!charset) {
    throw new Error(`${path} has no <meta charset="utf-8"> to put the policy after`);
  }
  const at = charset.index + charset[0].length;
  const meta = `\n    <meta http-equiv="Content-Security-Policy" content="${policy}" />`;
  writeFileSync(path, html.slice(0, at) + meta + html.slice(at));
}
