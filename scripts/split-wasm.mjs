// Trunk post-build hook: cuts the fleet and wall views out of the app's wasm into chunks the
// browser fetches the first time one of them opens, so the first visit downloads less.
//
// The app marks those views `#[lazy]` (Leptos) when built with the `split` feature, which
// index.html asks Trunk for. The cut has to be made on the wasm as the linker wrote it (with its
// relocations: `--emit-relocs` in .cargo/config.toml), before wasm-bindgen, and Trunk has no
// step there. So this hook takes that wasm again, splits it with `wasm-split-cli`
// (wasm_split_cli_support, the splitter cargo-leptos uses), runs wasm-bindgen and wasm-opt as
// Trunk does (plus `--keep-lld-exports`: the chunks share the main module's function table),
// and puts the results in Trunk's staging directory in place of Trunk's own main module:
//
//   kbwatch-<hash>.js, kbwatch-<hash>_bg.wasm   same names, split main module
//   wasm-split-<hash>.js                       the chunk loader (imported by the main module)
//   <chunk>-<hash>.wasm                        the chunks, fetched on first use
//
// Every name carries a content hash, so a browser never mixes files of two builds, and the
// integrity attributes Trunk wrote in index.html are recomputed. The loader fetches each chunk
// with its sha384 `integrity`, so the browser refuses a chunk that is not this build's (the
// loader itself is covered by its modulepreload's integrity in index.html). Runs before
// extract-inline-script.mjs (Trunk.toml runs the hooks in order). KBWATCH_WASM_OPT=0 skips
// wasm-opt (the benchmark's comparison).
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { integrity } from "./sri.mjs";

const staging = process.env.TRUNK_STAGING_DIR;
const release = process.env.TRUNK_PROFILE === "release";
const optimise = release && process.env.KBWATCH_WASM_OPT !== "0";

try {
  main();
} catch (error) {
  console.error(`split-wasm: ${error.message}`);
  process.exitCode = 1;
}

function main() {
  if (!staging) {
    fail("TRUNK_STAGING_DIR is not set (run me as a Trunk hook)");
  }
  // Trunk's main module, which this hook replaces.
  const mainJs = readdirSync(staging).find((f) => /^kbwatch-[0-9a-f]+\.js$/.test(f));
  if (!mainJs) {
    fail(`no kbwatch-<hash>.js in ${staging}`);
  }
  const stem = mainJs.slice(0, -".js".length);
  const work = mkdtempSync(join(tmpdir(), "kbwatch-split-"));
  try {
    splitInto(work, mainJs, stem);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function splitInto(work, mainJs, stem) {
  const linked = linkedWasm();
  const split = join(work, "split");
  run("wasm-split-cli", [linked, split, "--target", "web", "--out-name", stem]);

  const bindgen = join(work, "bindgen");
  run("wasm-bindgen", [
    "--target=web",
    "--keep-lld-exports",
    "--no-typescript",
    `--out-dir=${bindgen}`,
    `--out-name=${stem}`,
    join(split, `${stem}.wasm`),
  ]);

  // The chunks, renamed with their content hash; the loader, then the main module, follow.
  let loader = readFileSync(join(split, "__wasm_split.js"), "utf8");
  const chunks = readdirSync(split).filter((f) => f.endsWith(".wasm") && f !== `${stem}.wasm`);
  if (chunks.length === 0) {
    fail("wasm-split-cli found no split points: is the `split` feature on in index.html?");
  }
  const written = [];
  for (const chunk of chunks) {
    const bytes = optimised(join(split, chunk));
    const name = `${chunk.slice(0, -".wasm".length)}-${hash(bytes)}.wasm`;
    loader = replaceOnce(
      loader,
      `fetch(new URL("./${chunk}", import.meta.url))`,
      `fetch(new URL("./${name}", import.meta.url), { integrity: "${integrity(bytes)}" })`,
      "__wasm_split.js",
    );
    writeFileSync(join(staging, name), bytes);
    written.push([name, bytes.length]);
  }
  const loaderName = `wasm-split-${hash(loader)}.js`;
  writeFileSync(join(staging, loaderName), loader);
  written.push([loaderName, loader.length]);

  // Only the module specifiers: the wasm's own imports still name "./__wasm_split.js".
  const js = replaceAll(
    readFileSync(join(bindgen, `${stem}.js`), "utf8"),
    `from "./__wasm_split.js"`,
    `from "./${loaderName}"`,
    `${stem}.js`,
  );
  writeFileSync(join(staging, mainJs), js);
  const wasm = optimised(join(bindgen, `${stem}_bg.wasm`));
  writeFileSync(join(staging, `${stem}_bg.wasm`), wasm);
  written.push([mainJs, js.length], [`${stem}_bg.wasm`, wasm.length]);
  rmSync(join(staging, "snippets"), { recursive: true, force: true });
  cpSync(join(bindgen, "snippets"), join(staging, "snippets"), { recursive: true });

  preloadNextTo(mainJs, loaderName);
  updateIntegrity();
  for (const [name, size] of written) {
    console.log(`split-wasm: ${name} ${size} B`);
  }
}

/// The wasm cargo linked for Trunk's build. Trunk built it a moment ago with these arguments,
/// so this cargo call builds nothing: it only says where the file is.
function linkedWasm() {
  const args = ["build", "--target=wasm32-unknown-unknown", "--bin", "kbwatch", "--features", "split"];
  if (release) {
    args.push("--release");
  }
  args.push("--message-format=json");
  const cwd = process.env.TRUNK_SOURCE_DIR || process.cwd();
  const out = execFileSync("cargo", args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
  for (const line of out.split("\n")) {
    if (!line.startsWith("{")) {
      continue;
    }
    const message = JSON.parse(line);
    if (message.reason === "compiler-artifact" && message.target?.name === "kbwatch" && message.target.kind.includes("bin")) {
      const wasm = message.filenames.find((f) => f.endsWith(".wasm"));
      if (wasm) {
        return wasm;
      }
    }
  }
  fail("cargo did not report the kbwatch wasm");
}

/// `file` after `wasm-opt -Oz` (as Trunk runs it for `data-wasm-opt="z"`), or as it is.
function optimised(file) {
  if (!optimise) {
    return readFileSync(file);
  }
  const out = `${file}.opt`;
  run("wasm-opt", ["-Oz", file, "-o", out]);
  return readFileSync(out);
}

/// A modulepreload link for `module` next to Trunk's for `mainJs`: the browser fetches the
/// chunk loader with the main module instead of discovering it only once that has arrived.
function preloadNextTo(mainJs, module) {
  const indexPath = join(staging, "index.html");
  const html = readFileSync(indexPath, "utf8");
  const start = html.indexOf(`<link rel="modulepreload" href="./${mainJs}"`);
  if (start < 0) {
    fail(`no modulepreload link for ${mainJs} in index.html`);
  }
  const end = html.indexOf(">", start) + 1;
  const preload = `<link rel="modulepreload" href="./${module}" crossorigin="anonymous" integrity="sha384-">`;
  writeFileSync(indexPath, html.slice(0, end) + preload + html.slice(end));
}

/// Trunk's `integrity` attributes in index.html, recomputed for the files as they are now.
function updateIntegrity() {
  const indexPath = join(staging, "index.html");
  const html = readFileSync(indexPath, "utf8").replace(
    /href="\.\/([^"]+)"([^>]*?) integrity="sha384-[^"]*"/g,
    (_, href, between) => {
      return `href="./${href}"${between} integrity="${integrity(readFileSync(join(staging, href)))}"`;
    },
  );
  writeFileSync(indexPath, html);
}

function replaceAll(text, from, to, what) {
  if (!text.includes(from)) {
    fail(`expected ${from} in ${what}`);
  }
  return text.replaceAll(from, to);
}

function replaceOnce(text, from, to, what) {
  const at = text.indexOf(from);
  if (at < 0 || text.indexOf(from, at + 1) >= 0) {
    fail(`expected ${from} exactly once in ${what}`);
  }
  return text.replace(from, to);
}

function hash(content) {
  return createHash("sha256").update(content).digest("hex").slice(0, 16);
}

function run(command, args) {
  try {
    execFileSync(command, args, { stdio: ["ignore", "inherit", "inherit"] });
  } catch (error) {
    fail(`${command} failed (${error.message}); scripts/bootstrap.sh installs the tools`);
  }
}

function fail(message) {
  throw new Error(message);
}
