//! `kbwatch-mock`: a faithful local stand-in for the Microsoft Defender for Endpoint API.
//!
//! It serves a deterministic generated fleet (devices and their missing KBs) with the documented
//! JSON, status codes and error bodies, enforces the documented rate limits, and injects the
//! failures real clients meet (throttling, HTML gateway pages, truncated JSON, …) on demand.
//! It is written from `docs/defender-api.md`, never from the client's types, so a contract
//! mistake cannot hide on both sides.
//!
//! With [`MockOptions::idp`] set it also runs a local Microsoft Entra ID stand-in over HTTPS
//! (see [`idp`]), and the API then accepts only the tokens that IdP issued.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let mock = kbwatch_mock::spawn(kbwatch_mock::MockOptions::default(), 0).await?;
//! println!("API at http://{}", mock.api_addr);
//! mock.shutdown().await;
//! # Ok(()) }
//! ```

pub mod admin;
pub mod app_csp;
pub mod auth;
pub mod catalog;
pub mod endpoint;
pub mod errors;
pub mod faults;
pub mod fleet;
pub mod idp;
pub mod odata;
mod query;
pub mod rate_limit;
mod routes;
pub mod software;
pub mod stats;
pub mod tls;
pub mod vulns;

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::http::{header, HeaderName, Method};
use axum::middleware::from_fn_with_state;
use axum::response::Html;
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tower_http::cors::{Any, CorsLayer};
use tower_http::services::ServeDir;

pub use errors::ApiError;
pub use faults::{FaultKind, FaultRule, REDIRECT_TARGET};
pub use fleet::Fleet;
pub use idp::{DemoUser, Idp, IdpOptions};

/// How a mock instance behaves.
///
/// Build it with `..Default::default()`: fields are added over time.
#[derive(Debug, Clone, PartialEq)]
pub struct MockOptions {
    /// Seed of the generated fleet; the same seed gives the same fleet (on the same day).
    pub seed: u64,
    /// Number of devices.
    pub devices: usize,
    /// Send CORS headers and answer preflights (any origin, `Authorization`, exposes `Retry-After`).
    pub cors: bool,
    /// Server-side maximum rows per `/api/machines` and `machinesVulnerabilities` page.
    pub page_size: usize,
    /// Send `@odata.nextLink` when more rows remain; `false` forces paging by `$skip` alone.
    pub next_link: bool,
    /// Calls per minute per bearer token to all of `/api`, the global (per-application) budget
    /// every endpoint's own budget nests in; 0 = unlimited.
    pub rate_per_minute: u32,
    /// Calls per hour per bearer token to all of `/api`; 0 = unlimited.
    pub rate_per_hour: u32,
    /// Calls per minute per bearer token to `SoftwareVulnerabilitiesByMachine`, its own budget
    /// inside the global one (documented: 30); 0 = unlimited.
    pub export_rate_per_minute: u32,
    /// Calls per hour per bearer token to `SoftwareVulnerabilitiesByMachine` (documented:
    /// 1,000); 0 = unlimited.
    pub export_rate_per_hour: u32,
    /// Calls per minute per bearer token to each other endpoint, each its own budget inside the
    /// global one (`/api/machines` and `/api/machines/{id}` document 100); `None` = the same as
    /// [`Self::rate_per_minute`], 0 = unlimited.
    pub endpoint_rate_per_minute: Option<u32>,
    /// Calls per hour per bearer token to each other endpoint (documented for the machine
    /// endpoints: 1,500); `None` = the same as [`Self::rate_per_hour`], 0 = unlimited.
    pub endpoint_rate_per_hour: Option<u32>,
    /// Divides the rate-limit windows (60 s, 3600 s) and so the `Retry-After` values: at 60 a
    /// "minute" lasts 1 s and an "hour" 60 s. `Retry-After` stays whole seconds, rounded up,
    /// at least 1. Not finite or ≤ 0 counts as 1. Injected `throttle` faults are not scaled.
    pub time_scale: f64,
    /// Faults active from the start.
    pub faults: Vec<FaultRule>,
    /// If set, also serve this directory statically on a second listener.
    pub app_dir: Option<PathBuf>,
    /// Port of that second listener (0 = any free).
    pub app_port: u16,
    /// Also run the Entra ID stand-in (HTTPS, its own port); the API then validates its tokens.
    /// `None`: any non-empty bearer token is accepted.
    pub idp: Option<IdpOptions>,
    /// Start with `GET /api/machines/{id}/getmissingkbs` application-only, as its page
    /// documents: users' (delegated) tokens get 403 "Missing application roles", app-only
    /// tokens with `Software.Read.All` pass (see [`auth::AccessPolicy`]). Flip it at run time
    /// with `POST /_mock/settings` `{"missing_kbs_app_only": true}`; `POST /_mock/reset` puts
    /// this start value back. Off by default: `Software.Read` suffices.
    pub missing_kbs_app_only: bool,
    /// Also serve the API — the same routes, counters, faults and rate windows — over HTTPS on
    /// a second listener ([`RunningMock::api_tls_addr`]), with a certificate for 127.0.0.1 and
    /// [`tls::DNS_NAME`] from a throwaway CA made at start ([`RunningMock::api_ca_pem`]): for a
    /// proxy that verifies the API's certificate, as the reference nginx configuration does.
    pub api_tls: bool,
}

impl Default for MockOptions {
    fn default() -> Self {
        Self {
            seed: 42,
            devices: 300,
            cors: false,
            page_size: odata::MAX_TOP,
            next_link: true,
            rate_per_minute: 100,
            rate_per_hour: 1500,
            export_rate_per_minute: 30,
            export_rate_per_hour: 1000,
            endpoint_rate_per_minute: None,
            endpoint_rate_per_hour: None,
            time_scale: 1.0,
            faults: Vec::new(),
            app_dir: None,
            app_port: 8080,
            idp: None,
            missing_kbs_app_only: false,
            api_tls: false,
        }
    }
}

/// State shared by all handlers of one router.
#[derive(Debug)]
pub(crate) struct MockState {
    pub(crate) options: MockOptions,
    pub(crate) fleet: Fleet,
    pub(crate) faults: faults::FaultStore,
    pub(crate) stats: stats::StatsStore,
    /// The global budget and each endpoint's.
    pub(crate) limits: rate_limit::Limits,
    pub(crate) vulns: vulns::Vulnerabilities,
    pub(crate) software: software::Inventory,
    pub(crate) idp: Option<Arc<Idp>>,
    /// [`auth::AccessPolicy::missing_kbs_app_only`] now (`/_mock/settings` flips it).
    pub(crate) missing_kbs_app_only: AtomicBool,
}

impl MockState {
    /// The permission switches as they stand.
    pub(crate) fn access_policy(&self) -> auth::AccessPolicy {
        auth::AccessPolicy {
            missing_kbs_app_only: self.missing_kbs_app_only.load(Ordering::SeqCst),
        }
    }
}

/// The API and admin routes for `opts`, for in-process tests (`tower::ServiceExt::oneshot`).
///
/// Each call generates its own fleet and has its own faults, counters and rate windows. With
/// `opts.idp` set, a fresh IdP (issuer `https://127.0.0.1:{idp.port}`) is made and its routes are
/// merged in, so one router runs the whole sign-in flow; use [`router_with_idp`] to keep a handle
/// on the IdP.
///
/// # Panics
/// If the IdP's keys cannot be generated (ring failing to make a P-256 key).
pub fn router(opts: &MockOptions) -> Router {
    match &opts.idp {
        None => api_router(opts, None),
        Some(idp_opts) => {
            let origin = format!("https://127.0.0.1:{}", idp_opts.port);
            let idp =
                Idp::new(idp_opts.clone(), &origin).unwrap_or_else(|e| panic!("kbwatch-mock: {e}"));
            router_with_idp(opts, idp)
        }
    }
}

/// The API and admin routes validating `idp`'s tokens, plus the IdP's own routes, in one router
/// (`opts.idp` is ignored).
pub fn router_with_idp(opts: &MockOptions, idp: Arc<Idp>) -> Router {
    api_router(opts, Some(idp.clone())).merge(idp::router(idp))
}

/// `/api` and `/_mock` (plus `/_mock/idp` when there is an IdP).
fn api_router(opts: &MockOptions, idp: Option<Arc<Idp>>) -> Router {
    let fleet = Fleet::generate(opts.seed, opts.devices, fleet::default_anchor());
    let vulns = vulns::Vulnerabilities::new(&fleet);
    let state = Arc::new(MockState {
        options: opts.clone(),
        software: software::Inventory::new(&fleet, &vulns),
        vulns,
        fleet,
        faults: faults::FaultStore::new(opts.faults.clone()),
        stats: stats::StatsStore::default(),
        limits: rate_limit::Limits::new(opts),
        idp: idp.clone(),
        missing_kbs_app_only: AtomicBool::new(opts.missing_kbs_app_only),
    });
    // Layers run outermost-last: auth, then rate limit, then faults, then the handler.
    let api = Router::new()
        .route("/machines", get(routes::list_machines))
        .route("/machines/{id}", get(routes::get_machine))
        .route("/machines/{id}/getmissingkbs", get(routes::missing_kbs))
        .route(
            "/machines/SoftwareVulnerabilitiesByMachine",
            get(routes::software_vulnerabilities_by_machine),
        )
        .route(
            "/vulnerabilities/machinesVulnerabilities",
            get(routes::machines_vulnerabilities),
        )
        .route("/Software", get(routes::list_software))
        .route("/Software/{id}", get(routes::get_software))
        .route(
            "/Software/{id}/getmissingkbs",
            get(routes::software_missing_kbs),
        )
        .fallback(routes::api_fallback)
        .layer(from_fn_with_state(state.clone(), faults::inject_faults))
        .layer(from_fn_with_state(state.clone(), rate_limit::enforce))
        .layer(from_fn_with_state(state.clone(), auth::require_bearer));
    let admin = Router::new()
        .route(
            "/_mock/faults",
            get(admin::list_faults)
                .post(admin::add_fault)
                .delete(admin::clear_faults),
        )
        .route("/_mock/stats", get(admin::stats))
        .route(
            "/_mock/settings",
            get(admin::settings).post(admin::update_settings),
        )
        .route("/_mock/reset", axum::routing::post(admin::reset))
        .route("/_mock/fleet", get(admin::fleet));
    let mut app = Router::new()
        .nest("/api", api)
        .merge(admin)
        .with_state(state.clone());
    if let Some(idp) = idp {
        app = app.merge(idp::admin_router(idp));
    }
    if opts.cors {
        app = app.layer(cors_layer());
    }
    app.layer(from_fn_with_state(state, stats::record))
}

/// Any origin, the headers a browser client sends, `Retry-After` readable from scripts.
fn cors_layer() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::POST, Method::DELETE, Method::OPTIONS])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            HeaderName::from_static(faults::FAULT_HEADER),
        ])
        .expose_headers([
            header::RETRY_AFTER,
            HeaderName::from_static(faults::APPLIED_HEADER),
        ])
        .max_age(Duration::from_secs(600))
}

/// The static app: files from `dir`, `index.html` for `/` and for unknown paths (client
/// routing). Its pages' meta Content-Security-Policy gets `connect` in `connect-src` and `frame`
/// in `frame-src` (see [`app_csp`]): the origins the page must reach here, the mock's own.
pub fn app_router(
    dir: &std::path::Path,
    connect: &[String],
    frame: &[String],
) -> io::Result<Router> {
    let page = |name: &str| -> io::Result<Html<String>> {
        let html = std::fs::read_to_string(dir.join(name))?;
        app_csp::allow_in_meta_csp(&html, connect, frame)
            .map(Html)
            .map_err(|e| io::Error::other(format!("{}: {e}", dir.join(name).display())))
    };
    let index = page("index.html")?;
    let index = get(move || std::future::ready(index.clone()));
    let mut router = Router::new()
        .route("/", index.clone())
        .route("/index.html", index.clone());
    if dir.join("redirect.html").is_file() {
        let redirect = page("redirect.html")?;
        router = router.route(
            "/redirect.html",
            get(move || std::future::ready(redirect.clone())),
        );
    }
    Ok(router.fallback_service(ServeDir::new(dir).fallback(index)))
}

/// A mock listening on 127.0.0.1. Dropping it also stops the servers, without waiting.
#[derive(Debug)]
pub struct RunningMock {
    /// Address of the API listener (plain HTTP).
    pub api_addr: SocketAddr,
    /// Address of the static app listener, when `app_dir` was set.
    pub app_addr: Option<SocketAddr>,
    /// Address of the Entra ID stand-in (HTTPS), when `idp` was set.
    pub idp_addr: Option<SocketAddr>,
    /// PEM of the CA that signed the IdP's HTTPS certificate, when `idp` was set.
    pub idp_cert_pem: Option<String>,
    /// Address of the API's HTTPS listener, when `api_tls` was set.
    pub api_tls_addr: Option<SocketAddr>,
    /// PEM of the CA that signed that listener's certificate, when `api_tls` was set.
    pub api_ca_pem: Option<String>,
    idp: Option<Arc<Idp>>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<io::Result<()>>>,
}

impl RunningMock {
    /// `http://127.0.0.1:<port>`, the API base for a client.
    pub fn api_url(&self) -> String {
        format!("http://{}", self.api_addr)
    }

    /// `https://127.0.0.1:{port}/{tenant_id}`: MSAL's `auth.authority`, when `idp` was set.
    pub fn authority(&self) -> Option<String> {
        self.idp.as_ref().map(|idp| idp.authority())
    }

    /// The running IdP (mint tokens, force expiry, read counters), when `idp` was set.
    pub fn idp(&self) -> Option<&Arc<Idp>> {
        self.idp.as_ref()
    }

    /// Stop all listeners and wait (up to 5 s) for open connections to finish.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let abort = task.abort_handle();
            if tokio::time::timeout(Duration::from_secs(5), task)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
    }
}

async fn serve(
    listener: TcpListener,
    app: Router,
    mut stop: watch::Receiver<bool>,
) -> io::Result<()> {
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            // Err means the sender was dropped: stop too.
            let _ = stop.wait_for(|stopped| *stopped).await;
        })
        .await
}

/// Start the mock on 127.0.0.1:`api_port` (0 = any free), plus the static app listener when
/// `opts.app_dir` is set, the HTTPS IdP listener when `opts.idp` is set and the API's HTTPS
/// listener (any free port) when `opts.api_tls` is set. Returns once all are listening.
pub async fn spawn(opts: MockOptions, api_port: u16) -> io::Result<RunningMock> {
    if let Some(dir) = &opts.app_dir {
        if !dir.join("index.html").is_file() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!(
                    "{} has no index.html; build the app first or fix --app-dir",
                    dir.display()
                ),
            ));
        }
    }
    let api_listener = TcpListener::bind((Ipv4Addr::LOCALHOST, api_port)).await?;
    let app_listener = match &opts.app_dir {
        Some(_) => Some(TcpListener::bind((Ipv4Addr::LOCALHOST, opts.app_port)).await?),
        None => None,
    };
    let idp_listener = match &opts.idp {
        Some(idp_opts) => Some(TcpListener::bind((Ipv4Addr::LOCALHOST, idp_opts.port)).await?),
        None => None,
    };
    let api_addr = api_listener.local_addr()?;
    let app_addr = app_listener.as_ref().map(|l| l.local_addr()).transpose()?;
    let idp_addr = idp_listener.as_ref().map(|l| l.local_addr()).transpose()?;
    let idp = match (&opts.idp, idp_addr) {
        (Some(idp_opts), Some(addr)) => {
            Some(Idp::new(idp_opts.clone(), &format!("https://{addr}")).map_err(io::Error::other)?)
        }
        _ => None,
    };
    let (stop, stopped) = watch::channel(false);
    let api = api_router(&opts, idp.clone());
    let mut tasks = Vec::new();
    let (mut api_tls_addr, mut api_ca_pem) = (None, None);
    if opts.api_tls {
        let material =
            tls::TlsMaterial::generate("kbwatch-mock Defender API").map_err(io::Error::other)?;
        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        api_tls_addr = Some(listener.local_addr()?);
        api_ca_pem = Some(material.ca_pem().to_owned());
        let config = material.server_config().map_err(io::Error::other)?;
        tasks.push(tokio::spawn(tls::serve(
            listener,
            config,
            api.clone(),
            stopped.clone(),
        )));
    }
    tasks.push(tokio::spawn(serve(api_listener, api, stopped.clone())));
    if let (Some(listener), Some(idp)) = (idp_listener, &idp) {
        let config = idp.tls_config().map_err(io::Error::other)?;
        let app = idp::router(idp.clone()).merge(idp::admin_router(idp.clone()));
        tasks.push(tokio::spawn(tls::serve(
            listener.into_std()?,
            config,
            app,
            stopped.clone(),
        )));
    }
    if let (Some(listener), Some(dir)) = (app_listener, &opts.app_dir) {
        let idp_origin = idp_addr.map(|addr| format!("https://{addr}"));
        let connect: Vec<String> = std::iter::once(format!("http://{api_addr}"))
            .chain(idp_origin.clone())
            .collect();
        let frame: Vec<String> = idp_origin.into_iter().collect();
        let app = app_router(dir, &connect, &frame)?;
        tasks.push(tokio::spawn(serve(listener, app, stopped)));
    }
    Ok(RunningMock {
        api_addr,
        app_addr,
        idp_addr,
        idp_cert_pem: idp.as_ref().map(|idp| idp.ca_cert_pem().to_owned()),
        api_tls_addr,
        api_ca_pem,
        idp,
        stop,
        tasks,
    })
}
