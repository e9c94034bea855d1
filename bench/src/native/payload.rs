//! Figure 1: what the app weighs, raw / gzip -9 / brotli 11 (Node's zlib, `bench/compress.mjs`).
//!
//! Three builds: the release `dist/` (wasm-opt -Oz, as shipped), the same release wasm through
//! wasm-bindgen only (no wasm-opt), and the debug `dist/`. Files are classified by name:
//! Trunk writes `kbwatch-<hash>_bg.wasm`, `kbwatch-<hash>.js` (wasm-bindgen's JS glue),
//! `loader-<hash>.js` (the loader moved out of index.html by scripts/extract-inline-script.mjs),
//! `snippets/**.js` (JS the Rust code imports; module-preloaded, so loaded in every mode),
//! `main-<hash>.css`, and copies `config.json`, the MSAL bundle and the redirect bridge files.
//! scripts/split-wasm.mjs adds `wasm-split-<hash>.js` (the chunk loader, imported by the glue)
//! and the chunks, `*-<hash>.wasm` (the fleet and wall views, fetched when one opens).

use std::path::{Path, PathBuf};
use std::process::Command;

use kbwatch_e2e::BoxError;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

pub struct PayloadArgs {
    pub release: PathBuf,
    pub noopt: PathBuf,
    pub debug: PathBuf,
    /// The app built with cargo's default release profile (opt-level 3, no LTO, 16 codegen
    /// units) through wasm-bindgen, with and without wasm-opt -Oz: the "before" of ours.
    pub cargo_default: Option<PathBuf>,
    pub cargo_default_noopt: Option<PathBuf>,
    pub out: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    IndexHtml,
    Css,
    Loader,
    Glue,
    Snippet,
    /// The main wasm module.
    Wasm,
    /// The loader of the wasm chunks (imported by the glue: part of every first visit).
    SplitLoader,
    /// A wasm chunk: fetched the first time the fleet or wall view opens.
    Chunk,
    Config,
    Msal,
    /// Only loaded by the sign-in redirect page (msal-redirect-bridge, redirect.html, …).
    Redirect,
    Other,
}

impl Role {
    pub fn of(rel: &str) -> Role {
        let name = rel.rsplit('/').next().unwrap_or(rel);
        if rel.starts_with("snippets/") && name.ends_with(".js") {
            Role::Snippet
        } else if name == "index.html" {
            Role::IndexHtml
        } else if name == "config.json" {
            Role::Config
        } else if name == "msal-browser.min.js" {
            Role::Msal
        } else if name.starts_with("redirect") || name.starts_with("msal-redirect") {
            Role::Redirect
        } else if name.ends_with(".wasm") && name.starts_with("kbwatch") {
            Role::Wasm
        } else if name.ends_with(".wasm") {
            Role::Chunk
        } else if name.starts_with("wasm-split") && name.ends_with(".js") {
            Role::SplitLoader
        } else if name.ends_with(".css") {
            Role::Css
        } else if name.starts_with("loader") && name.ends_with(".js") {
            Role::Loader
        } else if name.starts_with("kbwatch") && name.ends_with(".js") {
            Role::Glue
        } else {
            Role::Other
        }
    }

    /// Downloaded by every first visit (demo and token mode; msal mode adds [`Role::Msal`]).
    pub fn first_visit(self) -> bool {
        matches!(
            self,
            Role::IndexHtml
                | Role::Css
                | Role::Loader
                | Role::Glue
                | Role::Snippet
                | Role::Wasm
                | Role::SplitLoader
                | Role::Config
        )
    }

    /// The app's own code in the first download: what the 250 KiB brotli budget covers.
    pub fn app_code(self) -> bool {
        matches!(
            self,
            Role::Loader | Role::Glue | Role::Snippet | Role::Wasm | Role::SplitLoader
        )
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sizes {
    pub raw: u64,
    pub gzip: u64,
    pub brotli: u64,
}

impl std::ops::Add for Sizes {
    type Output = Sizes;
    fn add(self, o: Sizes) -> Sizes {
        Sizes {
            raw: self.raw + o.raw,
            gzip: self.gzip + o.gzip,
            brotli: self.brotli + o.brotli,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FileSizes {
    /// Path relative to the build's directory.
    pub file: String,
    pub role: Role,
    #[serde(flatten)]
    pub sizes: Sizes,
}

/// Every file under `dir`, relative paths, sorted.
fn files_under(dir: &Path) -> Result<Vec<String>, BoxError> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) -> std::io::Result<()> {
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            if path.is_dir() {
                // Trunk's staging directory, if a build was interrupted.
                if path.file_name().is_some_and(|n| n == ".stage") {
                    continue;
                }
                walk(root, &path, out)?;
            } else if let Ok(rel) = path.strip_prefix(root) {
                out.push(rel.to_string_lossy().replace('\\', "/"));
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    out.sort();
    Ok(out)
}

/// Raw, gzip -9 and brotli 11 sizes of `files` (relative to `dir`), via Node.
fn measure(dir: &Path, files: &[String]) -> Result<Vec<FileSizes>, BoxError> {
    if files.is_empty() {
        return Ok(Vec::new());
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("compress.mjs");
    let output = Command::new("node")
        .arg(&script)
        .args(files.iter().map(|f| dir.join(f)))
        .output()
        .map_err(|e| {
            format!(
                "cannot run node {} ({e}): is Node.js on PATH?",
                script.display()
            )
        })?;
    if !output.status.success() {
        return Err(format!(
            "node {} failed: {}",
            script.display(),
            String::from_utf8_lossy(&output.stderr)
        )
        .into());
    }
    #[derive(Deserialize)]
    struct Out {
        raw: u64,
        gzip: u64,
        brotli: u64,
    }
    let sizes: Vec<Out> = serde_json::from_slice(&output.stdout)?;
    Ok(files
        .iter()
        .zip(sizes)
        .map(|(file, s)| FileSizes {
            role: Role::of(file),
            file: file.clone(),
            sizes: Sizes {
                raw: s.raw,
                gzip: s.gzip,
                brotli: s.brotli,
            },
        })
        .collect())
}

fn total(files: &[FileSizes], pred: impl Fn(Role) -> bool) -> Sizes {
    files
        .iter()
        .filter(|f| pred(f.role))
        .fold(Sizes::default(), |acc, f| acc + f.sizes)
}

fn build(dir: &Path, keep: impl Fn(Role) -> bool) -> Result<Value, BoxError> {
    if !dir.is_dir() {
        return Err(format!("{} does not exist (build step skipped?)", dir.display()).into());
    }
    let files: Vec<String> = files_under(dir)?
        .into_iter()
        .filter(|f| keep(Role::of(f)))
        .collect();
    let files = measure(dir, &files)?;
    let demo = total(&files, Role::first_visit);
    let msal = demo + total(&files, |r| r == Role::Msal);
    let shown = std::env::current_dir()
        .ok()
        .and_then(|cwd| dir.strip_prefix(cwd).ok().map(Path::to_path_buf))
        .unwrap_or_else(|| dir.to_path_buf());
    Ok(json!({
        "dir": shown,
        "wasm": total(&files, |r| r == Role::Wasm),
        "js": total(&files, |r| r.app_code() && r != Role::Wasm),
        "app_code": total(&files, Role::app_code),
        "chunks": total(&files, |r| r == Role::Chunk),
        "app_code_with_chunks": total(&files, |r| r.app_code() || r == Role::Chunk),
        "css": total(&files, |r| r == Role::Css),
        "msal": total(&files, |r| r == Role::Msal),
        "first_visit_demo": demo,
        "first_visit_msal": msal,
        "files": files,
    }))
}

pub fn run(args: PayloadArgs) -> Result<(), BoxError> {
    // The comparison builds count their wasm (main and chunks) and glue only.
    let wasm_and_glue = |r: Role| matches!(r, Role::Wasm | Role::Chunk | Role::Glue);
    let release = build(&args.release, |r| r != Role::Other)?;
    let noopt = build(&args.noopt, wasm_and_glue)?;
    let debug = build(&args.debug, |r| r != Role::Other)?;
    let optional = |dir: &Option<PathBuf>| -> Result<Value, BoxError> {
        dir.as_deref()
            .map_or(Ok(Value::Null), |d| build(d, wasm_and_glue))
    };
    let out = json!({
        "release": release,
        "release_without_wasm_opt": noopt,
        "cargo_default_profile": optional(&args.cargo_default)?,
        "cargo_default_profile_without_wasm_opt": optional(&args.cargo_default_noopt)?,
        "debug": debug,
    });
    std::fs::write(&args.out, serde_json::to_string_pretty(&out)? + "\n")
        .map_err(|e| format!("cannot write {}: {e}", args.out.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trunk_file_names_get_their_roles() {
        let cases = [
            ("index.html", Role::IndexHtml),
            ("kbwatch-412010728f6f5e1_bg.wasm", Role::Wasm),
            ("kbwatch-412010728f6f5e1.js", Role::Glue),
            ("kbwatch_bg.wasm", Role::Wasm),
            ("kbwatch.js", Role::Glue),
            ("loader-932c6276b2e0991b.js", Role::Loader),
            ("wasm-split-faf34d7b14ba8231.js", Role::SplitLoader),
            ("chunk_3-249529266b6c1759.wasm", Role::Chunk),
            ("split_fleet_view-22a4be68b0a8eb6d.wasm", Role::Chunk),
            ("main-69e057f81516734e.css", Role::Css),
            ("config.json", Role::Config),
            ("msal-browser.min.js", Role::Msal),
            ("msal-redirect-bridge.min.js", Role::Redirect),
            ("redirect.html", Role::Redirect),
            ("redirect-bridge.js", Role::Redirect),
            (
                "snippets/kbwatch-215e9a44956d38f5/src/auth/msal_bridge.js",
                Role::Snippet,
            ),
        ];
        for (name, role) in cases {
            assert_eq!(Role::of(name), role, "{name}");
        }
        assert!(Role::Snippet.first_visit() && Role::Snippet.app_code());
        assert!(!Role::Msal.first_visit() && !Role::Css.app_code());
        assert!(Role::SplitLoader.first_visit() && Role::SplitLoader.app_code());
        assert!(!Role::Chunk.first_visit() && !Role::Chunk.app_code());
    }
}
