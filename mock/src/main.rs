//! `kbwatch-mock` command line: run the mock Defender API (and optionally the built app).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use kbwatch_mock::idp::{DEFAULT_AUDIENCE, DEFAULT_CLIENT_ID, DEFAULT_TENANT_ID};
use kbwatch_mock::{spawn, DemoUser, FaultRule, IdpOptions, MockOptions};

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
  At run time: POST/GET/DELETE /_mock/faults, GET /_mock/stats, POST /_mock/reset.

RATE LIMITS:
  Per bearer token, sliding windows, nested: every /api call counts against the global
  --rate-per-minute/--rate-per-hour and against its endpoint's own budget:
  SoftwareVulnerabilitiesByMachine --export-rate-per-minute/-hour (documented 30/1000), each
  other endpoint --endpoint-rate-per-minute/-hour (default: the global values).
  --time-scale 60 makes a minute last 1 s and an hour 60 s (Retry-After: whole seconds,
  rounded up, at least 1). GET /_mock/stats reports, per budget (global, each endpoint) and
  token, the most calls seen in any window and the calls over the limit (answered 429), and
  per endpoint the calls and statuses.

ENTRA ID STAND-IN (--idp-port):
  HTTPS on 127.0.0.1 with a certificate made at start (Chrome: --ignore-certificate-errors,
  or trust the CA from GET /_mock/idp/cert). /authorize signs the --user in without a form.
  The API then accepts only its tokens: 401 expired/invalid, 403 without the permission
  (Machine.Read for /api/machines, Software.Read for getmissingkbs, Vulnerability.Read for
  machinesVulnerabilities and SoftwareVulnerabilitiesByMachine).
  App-only tokens (roles, no user): GET /_mock/idp/token?roles=Software.Read.All,Machine.Read.All
  Example:
    kbwatch-mock --cors --idp-port 8443 --token-lifetime 20 --scopes Machine.Read
  A token for curl: curl http://127.0.0.1:8787/_mock/idp/token

PERMISSIONS:
  --missing-kbs-app-only makes GET /api/machines/{id}/getmissingkbs application-only, as its
  page documents (only Software.Read.All): users' tokens (scp) get 403 \"Missing application
  roles. API required roles: Software.Read.All. Application roles: .\"; app-only tokens with
  that role pass. Without --idp-port the claims of a JWT bearer are read unverified and any
  other token counts as a user's. At run time: GET /_mock/settings,
  POST /_mock/settings '{\"missing_kbs_app_only\": true}'; POST /_mock/reset restores the flag.";

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
    /// Calls per minute per token to SoftwareVulnerabilitiesByMachine, its own budget (0 = unlimited).
    #[arg(long, default_value_t = 30)]
    export_rate_per_minute: u32,
    /// Calls per hour per token to SoftwareVulnerabilitiesByMachine (0 = unlimited).
    #[arg(long, default_value_t = 1000)]
    export_rate_per_hour: u32,
    /// Calls per minute per token to each other endpoint, inside the global budget (default:
    /// --rate-per-minute; 0 = unlimited).
    #[arg(long)]
    endpoint_rate_per_minute: Option<u32>,
    /// Calls per hour per token to each other endpoint (default: --rate-per-hour; 0 = unlimited).
    #[arg(long)]
    endpoint_rate_per_hour: Option<u32>,
    /// Divide the rate-limit windows and Retry-After by this (60: a "minute" lasts 1 s).
    #[arg(long, default_value_t = 1.0, value_parser = parse_time_scale)]
    time_scale: f64,
    /// A fault active from the start; see FAULTS below.
    #[arg(long = "fault", value_name = "FAULT")]
    faults: Vec<FaultRule>,
    /// Also serve this directory (the built app) on a second listener.
    #[arg(long)]
    app_dir: Option<PathBuf>,
    /// Port of the app listener (0 = any free).
    #[arg(long, default_value_t = 8080)]
    app_port: u16,
    /// Also run the Entra ID stand-in over HTTPS on this port (e.g. 8443; 0 = any free).
    #[arg(long, help_heading = "Entra ID stand-in")]
    idp_port: Option<u16>,
    /// The one registered SPA client id.
    #[arg(long, default_value = DEFAULT_CLIENT_ID, requires = "idp_port", help_heading = "Entra ID stand-in")]
    client_id: String,
    /// Directory (tenant) id, the authority's path.
    #[arg(long, default_value = DEFAULT_TENANT_ID, requires = "idp_port", help_heading = "Entra ID stand-in")]
    tenant_id: String,
    /// Access and ID token lifetime in seconds (short values exercise renewal).
    #[arg(long, default_value_t = 3600, value_parser = clap::value_parser!(u64).range(1..), requires = "idp_port", help_heading = "Entra ID stand-in")]
    token_lifetime: u64,
    /// Refresh token lifetime in seconds.
    #[arg(long, default_value_t = 86_400, value_parser = clap::value_parser!(u64).range(1..), requires = "idp_port", help_heading = "Entra ID stand-in")]
    refresh_token_lifetime: u64,
    /// Delegated permissions granted (token `scp`), comma- or space-separated; "" grants none.
    #[arg(
        long,
        default_value = "Machine.Read,Software.Read,Vulnerability.Read",
        requires = "idp_port",
        help_heading = "Entra ID stand-in"
    )]
    scopes: String,
    /// The signed-in user: 'Name <upn>' or a bare upn.
    #[arg(long, value_parser = DemoUser::from_spec, requires = "idp_port", help_heading = "Entra ID stand-in")]
    user: Option<DemoUser>,
    /// A registered redirect URI, repeatable (none: any http(s) URI on 127.0.0.1/localhost).
    #[arg(
        long = "redirect-uri",
        value_name = "URI",
        requires = "idp_port",
        help_heading = "Entra ID stand-in"
    )]
    redirect_uris: Vec<String>,
    /// Make GET /api/machines/{id}/getmissingkbs application-only, as documented: users' tokens
    /// get 403 "Missing application roles" (flip at run time: POST /_mock/settings).
    #[arg(long)]
    missing_kbs_app_only: bool,
    /// The `aud` of access tokens for '.default' requests.
    #[arg(long, default_value = DEFAULT_AUDIENCE, requires = "idp_port", help_heading = "Entra ID stand-in")]
    audience: String,
}

/// A finite number > 0.
fn parse_time_scale(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(scale) if scale.is_finite() && scale > 0.0 => Ok(scale),
        _ => Err(format!("'{text}' is not a positive number")),
    }
}

impl Cli {
    fn idp_options(&self) -> Option<IdpOptions> {
        let port = self.idp_port?;
        Some(IdpOptions {
            port,
            tenant_id: self.tenant_id.clone(),
            client_id: self.client_id.clone(),
            redirect_uris: self.redirect_uris.clone(),
            user: self.user.clone().unwrap_or_default(),
            access_token_lifetime_secs: self.token_lifetime,
            refresh_token_lifetime_secs: self.refresh_token_lifetime,
            granted_scopes: self
                .scopes
                .split([',', ' '])
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            audience: self.audience.clone(),
        })
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let idp = cli.idp_options();
    let options = MockOptions {
        seed: cli.seed,
        devices: cli.devices,
        cors: cli.cors,
        page_size: usize::try_from(cli.page_size).unwrap_or(usize::MAX),
        next_link: !cli.no_next_link,
        rate_per_minute: cli.rate_per_minute,
        rate_per_hour: cli.rate_per_hour,
        export_rate_per_minute: cli.export_rate_per_minute,
        export_rate_per_hour: cli.export_rate_per_hour,
        endpoint_rate_per_minute: cli.endpoint_rate_per_minute,
        endpoint_rate_per_hour: cli.endpoint_rate_per_hour,
        time_scale: cli.time_scale,
        faults: cli.faults,
        app_dir: cli.app_dir,
        app_port: cli.app_port,
        idp,
        missing_kbs_app_only: cli.missing_kbs_app_only,
        // For the e2e proxy test (a proxy verifying the API's certificate), not the CLI.
        api_tls: false,
    };
    let running = match spawn(options.clone(), cli.port).await {
        Ok(running) => running,
        Err(error) => {
            eprintln!(
                "kbwatch-mock: cannot start: {error} (ports: API {}, app {}, IdP {}; pick others with --port/--app-port/--idp-port)",
                cli.port,
                options.app_port,
                cli.idp_port.map_or_else(|| "off".to_owned(), |p| p.to_string())
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
    if options.time_scale != 1.0 {
        println!(
            "kbwatch-mock: time scale {}: a rate-limit minute lasts {:.3} s, an hour {:.3} s",
            options.time_scale,
            60.0 / options.time_scale,
            3600.0 / options.time_scale
        );
    }
    if let (Some(addr), Some(dir)) = (running.app_addr, &options.app_dir) {
        println!(
            "kbwatch-mock: app on http://{addr} (serving {})",
            dir.display()
        );
    }
    if let (Some(authority), Some(idp)) = (running.authority(), &options.idp) {
        println!(
            "kbwatch-mock: Entra ID stand-in, authority {authority} (client id {}, user {}, scp '{}', tokens live {} s)",
            idp.client_id,
            idp.user.preferred_username,
            idp.granted_scopes.join(" "),
            idp.access_token_lifetime_secs
        );
        if let Some(addr) = running.idp_addr {
            println!(
                "kbwatch-mock: MSAL: testOnlyAllowAnyAuthority true (this is not the cloud's sign-in host), knownAuthorities [\"{addr}\"], authorityMetadata from {authority}/v2.0/.well-known/openid-configuration; CA at http://{}/_mock/idp/cert",
                running.api_addr
            );
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_kbs_app_only_flag() {
        let off = Cli::try_parse_from(["kbwatch-mock"]).expect("defaults");
        assert!(!off.missing_kbs_app_only);
        let on = Cli::try_parse_from(["kbwatch-mock", "--missing-kbs-app-only"]).expect("flag");
        assert!(on.missing_kbs_app_only);
    }
}
