//! `kbwatch-mock` command line: run the mock Defender API (and optionally the built app).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use kbwatch_mock::{spawn, FaultRule, MockOptions};

const FAULT_HELP: &str = "\
FAULTS (--fault, repeatable):
  KIND[;retry_after=SECS][;ms=MILLIS][:PATH_SUBSTRING][:COUNT]
  KIND is one of: unauthorized, forbidden, not_found, throttle, server_error,
    bad_gateway_html, service_unavailable_html, empty_body, slow, malformed_json,
    truncated_json, extra_fields, nulls, value_null, wrong_shape, bad_request
  PATH_SUBSTRING limits the fault to /api paths containing it (empty = all paths).
  COUNT limits how many requests it hits (empty = until cleared).
  Quote the value in a shell: ';' ends a command there.
  Examples:
    --fault 'throttle;retry_after=3:getmissingkbs:2'   two throttled KB calls
    --fault server_error::1                            the first /api call fails
    --fault 'slow;ms=1500'                             every call takes 1.5 s
  Per request: header 'X-Mock-Fault: throttle;retry_after=3' or query '?mock_fault=nulls'.
  At run time: POST/GET/DELETE /_mock/faults, GET /_mock/stats, POST /_mock/reset.";

/// Local stand-in for the Microsoft Defender for Endpoint API.
#[derive(Debug, Parser)]
#[command(name = "kbwatch-mock", version, about, after_help = FAULT_HELP)]
struct Cli {
    /// Port of the API listener on 127.0.0.1 (0 = any free).
    #[arg(long, default_value_t = 8787)]
    port: u16,
    /// Seed of the generated fleet.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Number of devices in the fleet.
    #[arg(long, default_value_t = 300)]
    devices: usize,
    /// Send CORS headers and answer preflights (for direct browser calls).
    #[arg(long)]
    cors: bool,
    /// Maximum rows per /api/machines page.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    page_size: u64,
    /// Never send @odata.nextLink (clients must page with $skip).
    #[arg(long)]
    no_next_link: bool,
    /// Calls per minute per token (0 = unlimited).
    #[arg(long, default_value_t = 100)]
    rate_per_minute: u32,
    /// Calls per hour per token (0 = unlimited).
    #[arg(long, default_value_t = 1500)]
    rate_per_hour: u32,
    /// A fault active from the start; see FAULTS below.
    #[arg(long = "fault", value_name = "FAULT")]
    faults: Vec<FaultRule>,
    /// Also serve this directory (the built app) on a second listener.
    #[arg(long)]
    app_dir: Option<PathBuf>,
    /// Port of the app listener (0 = any free).
    #[arg(long, default_value_t = 8080)]
    app_port: u16,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let options = MockOptions {
        seed: cli.seed,
        devices: cli.devices,
        cors: cli.cors,
        page_size: usize::try_from(cli.page_size).unwrap_or(usize::MAX),
        next_link: !cli.no_next_link,
        rate_per_minute: cli.rate_per_minute,
        rate_per_hour: cli.rate_per_hour,
        faults: cli.faults,
        app_dir: cli.app_dir,
        app_port: cli.app_port,
    };
    let running = match spawn(options.clone(), cli.port).await {
        Ok(running) => running,
        Err(error) => {
            eprintln!(
                "kbwatch-mock: cannot start: {error} (ports: API {}, app {}; pick others with --port/--app-port)",
                cli.port, options.app_port
            );
            return ExitCode::FAILURE;
        }
    };
    println!(
        "kbwatch-mock: API on http://{} ({} devices, seed {}, CORS {})",
        running.api_addr,
        options.devices,
        options.seed,
        if options.cors { "on" } else { "off" }
    );
    if let (Some(addr), Some(dir)) = (running.app_addr, &options.app_dir) {
        println!(
            "kbwatch-mock: app on http://{addr} (serving {})",
            dir.display()
        );
    }
    for fault in &options.faults {
        eprintln!("kbwatch-mock: fault active: {fault}");
    }
    wait_for_signal().await;
    running.shutdown().await;
    ExitCode::SUCCESS
}

/// Ctrl-C, or SIGTERM on Unix.
async fn wait_for_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
}
