//! `kbwatch-bench`: the steps of `make bench` (scripts/bench.sh runs them in order).
//!
//! ```text
//! kbwatch-bench payload --release DIR --noopt DIR --debug DIR --out FILE
//!     [--cargo-default DIR --cargo-default-noopt DIR]
//! kbwatch-bench browser --dist DIR --mock target/release/kbwatch-mock --out FILE [--loads 15] [--kbs 2000]
//! kbwatch-bench scan --out FILE [--devices 5000] [--seed 2024]
//! kbwatch-bench fleet-paths --mock target/release/kbwatch-mock --out FILE [--devices 100000]
//!     [--bulk-sample-pages 32]
//! kbwatch-bench report --dir DIR --out bench/results.json
//! ```

#[cfg(not(target_arch = "wasm32"))]
mod scan;

/// Counts heap bytes, for the memory of the models the fleet-paths step builds.
#[cfg(not(target_arch = "wasm32"))]
#[global_allocator]
static ALLOCATOR: kbwatch_bench::native::alloc::Counting = kbwatch_bench::native::alloc::Counting;

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    if let Err(e) = cli::run(std::env::args().skip(1).collect()) {
        eprintln!("kbwatch-bench: {e}");
        std::process::exit(1);
    }
}

#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
mod cli {
    use std::collections::HashMap;
    use std::path::PathBuf;

    use kbwatch_bench::native::{browser, fleet_paths, payload, report};
    use kbwatch_e2e::BoxError;

    use crate::scan;

    const USAGE: &str =
        "usage: kbwatch-bench payload|browser|scan|fleet-paths|report [--flag value]… \
                         (see bench/README.md; scripts/bench.sh runs them all)";

    /// `--name value` pairs.
    fn flags(args: &[String]) -> Result<HashMap<String, String>, BoxError> {
        let mut out = HashMap::new();
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            let name = flag
                .strip_prefix("--")
                .ok_or_else(|| format!("unexpected argument {flag:?}; {USAGE}"))?;
            let value = it.next().ok_or_else(|| format!("--{name} needs a value"))?;
            out.insert(name.to_owned(), value.clone());
        }
        Ok(out)
    }

    fn path(f: &HashMap<String, String>, name: &str) -> Result<PathBuf, BoxError> {
        f.get(name)
            .map(PathBuf::from)
            .ok_or_else(|| format!("--{name} is required; {USAGE}").into())
    }

    fn number<T: std::str::FromStr>(
        f: &HashMap<String, String>,
        name: &str,
        default: T,
    ) -> Result<T, BoxError> {
        match f.get(name) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| format!("--{name} {v:?} is not a number").into()),
        }
    }

    pub fn run(args: Vec<String>) -> Result<(), BoxError> {
        let (command, rest) = args.split_first().ok_or(USAGE)?;
        let f = flags(rest)?;
        match command.as_str() {
            "payload" => payload::run(payload::PayloadArgs {
                release: path(&f, "release")?,
                noopt: path(&f, "noopt")?,
                debug: path(&f, "debug")?,
                cargo_default: f.get("cargo-default").map(PathBuf::from),
                cargo_default_noopt: f.get("cargo-default-noopt").map(PathBuf::from),
                out: path(&f, "out")?,
            }),
            "browser" => {
                let args = browser::BrowserArgs {
                    dist: path(&f, "dist")?,
                    out: path(&f, "out")?,
                    loads: number(&f, "loads", 15)?,
                    big_kbs: number(&f, "kbs", 2_000)?,
                    mock: path(&f, "mock")?,
                };
                tokio::runtime::Runtime::new()?.block_on(browser::run(args))
            }
            "scan" => scan::run(scan::ScanArgs {
                devices: number(&f, "devices", 5_000)?,
                seed: number(&f, "seed", 2_024)?,
                out: path(&f, "out")?,
            }),
            "fleet-paths" => {
                let args = fleet_paths::FleetPathsArgs {
                    mock: path(&f, "mock")?,
                    devices: number(&f, "devices", 100_000)?,
                    bulk_sample_pages: number(&f, "bulk-sample-pages", 32)?,
                    out: path(&f, "out")?,
                };
                // One thread: the heap counted while the models are built is theirs alone.
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?
                    .block_on(fleet_paths::run(args))
            }
            "report" => report::run(report::ReportArgs {
                dir: path(&f, "dir")?,
                out: path(&f, "out")?,
            }),
            other => Err(format!("unknown command {other:?}; {USAGE}").into()),
        }
    }
}
