//! Debian's nginx, started by the test with the shipped reference configuration
//! (`deploy/nginx/kbwatch.conf`): it serves a copy of `dist/` and proxies `/mde/` to the mock,
//! the way a tenant whose API sends no CORS headers would deploy kbwatch.
//!
//! nginx serves HTTPS with a certificate for 127.0.0.1 made at test time (the browser runs with
//! `--ignore-certificate-errors`, the tests' own client trusts the test's CA), redirects plain
//! HTTP on a second port, and reaches the mock's API over HTTPS, verifying it against the CA
//! the mock made.
//!
//! Only values the file marks (`# KBWATCH_LISTEN`, `# KBWATCH_ROOT`, `# KBWATCH_API`, …) are
//! replaced; the file is included in a minimal main configuration written to a temporary
//! directory, which also holds the pid file, the logs and nginx's temporary files. nginx runs in
//! the foreground (`-g 'daemon off;'`) as the test's child and is killed on drop.

use std::net::{Ipv4Addr, SocketAddr};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::process::{free_port, kill_group};
use crate::{wait_for, RawClient, TestResult};

/// The reference configuration, relative to the workspace root.
pub const SITE_CONF: &str = "deploy/nginx/kbwatch.conf";

/// The security headers [`SITE_CONF`] includes in every location, relative to the workspace
/// root; installed as `snippets/kbwatch-headers.conf` beside the main configuration (Debian:
/// `/etc/nginx/snippets/`), where the site's `include` finds it.
pub const HEADERS_SNIPPET: &str = "deploy/nginx/kbwatch-headers.conf";

/// Content types for what `dist/` holds (Debian's `/etc/nginx/mime.types` is deliberately not
/// used: the test must not depend on the host's nginx configuration). `application/wasm` lets
/// the app compile its module while it streams in.
const MIME_TYPES: &str = "types {
        text/html html;
        text/css css;
        application/javascript js mjs;
        application/wasm wasm;
        application/json json map;
        image/svg+xml svg;
        image/png png;
        image/x-icon ico;
        text/plain txt;
    }";

/// The workspace root (the parent of `e2e/`).
pub(crate) fn workspace_root() -> PathBuf {
    let e2e = Path::new(env!("CARGO_MANIFEST_DIR"));
    e2e.parent().unwrap_or(e2e).to_path_buf()
}

/// Replaces the value on the one line marked `# {marker}` in `conf` — the directive's first
/// argument (`listen 443 ssl` → the address), for `set` its second (the value after the
/// variable) — keeping the directive, its other arguments, the indentation and the comment.
/// Fails unless exactly one line carries the marker.
fn replace_marked(conf: &str, marker: &str, value: &str) -> TestResult<String> {
    let tag = format!("# {marker}");
    let hits = conf
        .lines()
        .filter(|l| marker_at(l, &tag).is_some())
        .count();
    if hits != 1 {
        return Err(format!(
            "{SITE_CONF}: expected exactly one line marked `{tag}`, found {hits}; \
             the e2e proxy test renders the file by these markers"
        )
        .into());
    }
    let mut out = String::with_capacity(conf.len() + value.len());
    for line in conf.split_inclusive('\n') {
        let Some(at) = marker_at(line, &tag) else {
            out.push_str(line);
            continue;
        };
        let (directive, comment) = line.split_at(at);
        let indent = &line[..line.len() - line.trim_start().len()];
        let mut args: Vec<&str> = directive
            .trim()
            .strip_suffix(';')
            .unwrap_or_default()
            .split_whitespace()
            .collect();
        let index = if args.first() == Some(&"set") { 2 } else { 1 };
        let Some(old) = args.get_mut(index) else {
            return Err(format!("{SITE_CONF}: cannot read the directive marked `{tag}`").into());
        };
        *old = value;
        out.push_str(&format!("{indent}{};    {comment}", args.join(" ")));
    }
    Ok(out)
}

/// Where `tag` (`# KBWATCH_API`) is in `line` as a whole word (not `# KBWATCH_API_CA`).
fn marker_at(line: &str, tag: &str) -> Option<usize> {
    line.match_indices(tag).map(|(at, _)| at).find(|at| {
        !line[at + tag.len()..].starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
    })
}

/// The reference configuration `template` with only its marked values replaced: each
/// `(marker, value)` of `values`, e.g. `("KBWATCH_ROOT", "/tmp/site")`. Markers not named keep
/// the shipped value.
pub fn render_site_conf(template: &str, values: &[(&str, String)]) -> TestResult<String> {
    values
        .iter()
        .try_fold(template.to_owned(), |conf, (marker, value)| {
            replace_marked(&conf, marker, value)
        })
}

/// Where the e2e nginx proxies `/mde/`, and how it verifies the API's certificate.
#[derive(Debug, Clone)]
pub struct ApiUpstream {
    /// `proxy_pass` (`KBWATCH_API`), e.g. the mock's HTTPS listener `https://127.0.0.1:4000`.
    pub url: String,
    /// The CA certificates nginx trusts for the API (PEM, `KBWATCH_API_CA`); `None` keeps the
    /// shipped value, the system's CA store.
    pub trusted_ca_pem: Option<String>,
    /// The name the API's certificate must carry (`KBWATCH_API_NAME`); `None` keeps the
    /// shipped value, the host of `proxy_pass`.
    pub name: Option<String>,
}

impl ApiUpstream {
    /// The API over HTTPS at `addr`, verified as shipped.
    pub fn https(addr: SocketAddr) -> Self {
        Self {
            url: format!("https://{addr}"),
            trusted_ca_pem: None,
            name: None,
        }
    }

    /// The mock's HTTPS API as a verifying proxy should reach it: its CA trusted, the DNS name
    /// in its certificate expected (nginx checks DNS names, not the IP address it connects to).
    pub fn mock(mock: &kbwatch_mock::RunningMock) -> TestResult<Self> {
        let addr = mock
            .api_tls_addr
            .ok_or("the mock's API has no HTTPS listener (MockOptions::api_tls)")?;
        let ca = mock.api_ca_pem.clone().ok_or("the mock's API CA")?;
        Ok(Self::https(addr)
            .trusting(&ca)
            .named(kbwatch_mock::tls::DNS_NAME))
    }

    /// Trust `ca_pem` (only) for the API.
    pub fn trusting(mut self, ca_pem: &str) -> Self {
        self.trusted_ca_pem = Some(ca_pem.to_owned());
        self
    }

    /// Expect `name` in the API's certificate.
    pub fn named(mut self, name: &str) -> Self {
        self.name = Some(name.to_owned());
        self
    }
}

/// `path` as text, for nginx's configuration.
fn utf8(path: &Path) -> TestResult<&str> {
    path.to_str()
        .ok_or_else(|| format!("{} is not UTF-8", path.display()).into())
}

/// `$NGINX`, else `nginx` on `PATH`, else Debian's `/usr/sbin/nginx` (not on a user's PATH).
fn nginx_binary() -> TestResult<PathBuf> {
    if let Some(path) = std::env::var_os("NGINX") {
        return Ok(PathBuf::from(path));
    }
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|dir| dir.join("nginx"))
        .chain([PathBuf::from("/usr/sbin/nginx")])
        .find(|p| p.is_file());
    on_path.ok_or_else(|| {
        "nginx not found (on PATH or /usr/sbin/nginx): the proxy e2e test runs the reference \
         configuration in Debian's nginx; install it with scripts/bootstrap.sh \
         (apt-get install --no-install-recommends nginx) or set NGINX=/path/to/nginx"
            .into()
    })
}

/// Copies the contents of `from` into `to` (created), recursively.
fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

/// A running nginx serving a copy of `dist/` (with the test's `config.json`) over HTTPS, with a
/// certificate for 127.0.0.1 from a CA made for the test, redirecting plain HTTP there, and
/// proxying `/mde/` to the mock. Dropping it kills nginx (master and workers) and removes its
/// directory.
pub struct Nginx {
    child: Child,
    /// The HTTPS port (`KBWATCH_LISTEN`, 443 as shipped).
    port: u16,
    /// The plain-HTTP port that redirects (`KBWATCH_HTTP_LISTEN`, 80 as shipped).
    http_port: u16,
    /// PEM of the CA that signed nginx's certificate.
    ca_pem: String,
    dir: tempfile::TempDir,
}

impl Nginx {
    /// Starts nginx with the rendered [`SITE_CONF`]: the site is a copy of `dist` whose
    /// `config.json` is `config`, `/mde/` goes to `api`, and `login` (an origin), if given, is
    /// the sign-in host the CSP allows.
    pub async fn start(
        dist: &Path,
        config: &Value,
        api: &ApiUpstream,
        login: Option<&str>,
    ) -> TestResult<Self> {
        let binary = nginx_binary()?;
        if !dist.join("index.html").is_file() {
            return Err(format!(
                "{}/index.html is missing: run `trunk build --release` first (or `make test`)",
                dist.display()
            )
            .into());
        }
        let template_path = workspace_root().join(SITE_CONF);
        let template = std::fs::read_to_string(&template_path)
            .map_err(|e| format!("cannot read {}: {e}", template_path.display()))?;

        let dir = tempfile::Builder::new()
            .prefix("kbwatch-e2e-nginx-")
            .tempdir()?;
        // nginx started as root runs its workers as `nobody`: they must be able to read the site.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))?;
        let site = dir.path().join("site");
        copy_dir(dist, &site)?;
        std::fs::write(site.join("config.json"), serde_json::to_vec_pretty(config)?)?;
        crate::allow_config_in_site(&site, config)?;

        let (port, http_port) = (free_port()?, free_port()?);
        let tls = kbwatch_mock::tls::TlsMaterial::generate("kbwatch e2e nginx")?;
        let (cert, key) = (dir.path().join("site.pem"), dir.path().join("site.key"));
        std::fs::write(&cert, tls.chain_pem())?;
        std::fs::write(&key, tls.key_pem())?;
        let root = utf8(&site)?;
        let mut values = vec![
            ("KBWATCH_LISTEN", format!("127.0.0.1:{port}")),
            ("KBWATCH_HTTP_LISTEN", format!("127.0.0.1:{http_port}")),
            ("KBWATCH_CERT", utf8(&cert)?.to_owned()),
            ("KBWATCH_CERT_KEY", utf8(&key)?.to_owned()),
            ("KBWATCH_ROOT", root.to_owned()),
            ("KBWATCH_API", api.url.clone()),
        ];
        if let Some(origin) = login {
            values.push(("KBWATCH_LOGIN", format!("\"{origin}\"")));
        }
        if let Some(pem) = &api.trusted_ca_pem {
            let path = dir.path().join("api-ca.pem");
            std::fs::write(&path, pem)?;
            values.push(("KBWATCH_API_CA", utf8(&path)?.to_owned()));
        }
        if let Some(name) = &api.name {
            values.push(("KBWATCH_API_NAME", name.clone()));
        }
        let site_conf = render_site_conf(&template, &values)?;
        std::fs::write(dir.path().join("kbwatch.conf"), site_conf)?;
        std::fs::create_dir_all(dir.path().join("snippets"))?;
        std::fs::copy(
            workspace_root().join(HEADERS_SNIPPET),
            dir.path().join("snippets/kbwatch-headers.conf"),
        )?;
        let d = dir.path().display();
        let main_conf = format!(
            "# Written by the kbwatch e2e tests: a minimal main configuration around {SITE_CONF}.
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log notice;
events {{ worker_connections 128; }}
http {{
    {MIME_TYPES}
    default_type application/octet-stream;
    sendfile on;
    # Whether a request carried an Authorization header (never the header itself).
    map $http_authorization $e2e_auth {{ \"\" none; default bearer; }}
    log_format e2e '$request_method $request_uri $status auth=$e2e_auth upstream=$upstream_addr';
    access_log {d}/access.log e2e;
    client_body_temp_path {d}/tmp/body;
    proxy_temp_path {d}/tmp/proxy;
    fastcgi_temp_path {d}/tmp/fastcgi;
    uwsgi_temp_path {d}/tmp/uwsgi;
    scgi_temp_path {d}/tmp/scgi;
    include {d}/kbwatch.conf;
}}
"
        );
        let conf_path = dir.path().join("nginx.conf");
        std::fs::write(&conf_path, main_conf)?;
        std::fs::create_dir_all(dir.path().join("tmp"))?;

        let child = Command::new(&binary)
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&conf_path)
            .arg("-e")
            .arg(dir.path().join("error.log"))
            .args(["-g", "daemon off;"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            // Own process group, so Drop stops the workers too.
            .process_group(0)
            .spawn()
            .map_err(|e| format!("cannot start {} ({e})", binary.display()))?;
        let mut nginx = Nginx {
            child,
            port,
            http_port,
            ca_pem: tls.ca_pem().to_owned(),
            dir,
        };
        nginx.wait_ready().await?;
        Ok(nginx)
    }

    async fn wait_ready(&mut self) -> TestResult {
        let client = self.client()?;
        let error_log = self.dir.path().join("error.log");
        let child = &mut self.child;
        wait_for("nginx to serve index.html", Duration::from_secs(10), || {
            let exited = child.try_wait();
            let client = client.clone();
            let error_log = &error_log;
            async move {
                if let Some(status) = exited? {
                    let log = std::fs::read_to_string(error_log).unwrap_or_default();
                    return Err(
                        format!("nginx exited at start ({status}); error.log:\n{log}").into(),
                    );
                }
                Ok(match client.get("/index.html").await {
                    Ok(answer) if answer.status == 200 => Ok(()),
                    Ok(answer) => Err(format!("GET /index.html: {}", answer.status)),
                    Err(e) => Err(e.to_string()),
                })
            }
        })
        .await
    }

    /// `https://127.0.0.1:<port>`, the app's origin.
    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    /// `http://127.0.0.1:<port>`, the plain-HTTP server, which only redirects to HTTPS.
    pub fn http_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    /// A client for the app's origin (HTTPS, trusting the test's CA) that sends request
    /// targets verbatim.
    pub fn client(&self) -> TestResult<RawClient> {
        RawClient::tls(
            SocketAddr::from((Ipv4Addr::LOCALHOST, self.port)),
            &self.ca_pem,
        )
    }

    /// A client for the plain-HTTP server.
    pub fn http_client(&self) -> RawClient {
        RawClient::plain(SocketAddr::from((Ipv4Addr::LOCALHOST, self.http_port)))
    }

    /// The access log so far, one `METHOD request-uri status auth=none|bearer upstream=addr`
    /// per line (the URI as the client sent it, before the proxy's rewrite).
    pub fn access_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("access.log")).unwrap_or_default()
    }

    /// nginx's error log so far.
    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        kill_group(&mut self.child);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The regular expression of the reference configuration's API location
    /// (`location ~ "^/mde/api/(…)\z" {`): the paths the proxy forwards, as nginx reads the quoted
    /// string (`\"` and `\\` unescaped).
    pub fn api_allow_list(conf: &str) -> TestResult<String> {
        let quoted = conf
            .lines()
            .find_map(|line| {
                line.trim()
                    .strip_prefix("location ~ \"")?
                    .strip_suffix("\" {")
                    .filter(|regex| regex.starts_with("^/mde/"))
            })
            .ok_or_else(|| {
                format!("{SITE_CONF} has no `location ~ \"^/mde/…\" {{` line: the API allow-list")
            })?;
        Ok(quoted.replace("\\\"", "\"").replace("\\\\", "\\"))
    }

    fn shipped() -> String {
        std::fs::read_to_string(workspace_root().join(SITE_CONF)).unwrap()
    }

    /// The lines of `conf` that differ from `template`'s (both have as many lines).
    fn changed(template: &str, conf: &str) -> Vec<String> {
        assert_eq!(template.lines().count(), conf.lines().count());
        template
            .lines()
            .zip(conf.lines())
            .filter(|(a, b)| a != b)
            .map(|(_, b)| b.trim().to_owned())
            .collect()
    }

    #[test]
    fn the_shipped_configuration_renders_with_only_the_marked_values_changed() {
        let template = shipped();
        let values = [
            ("KBWATCH_LISTEN", "127.0.0.1:4242".to_owned()),
            ("KBWATCH_ROOT", "/tmp/site".to_owned()),
            ("KBWATCH_API", "https://127.0.0.1:4343".to_owned()),
            ("KBWATCH_API_CA", "/tmp/ca.pem".to_owned()),
            ("KBWATCH_API_NAME", "localhost".to_owned()),
            ("KBWATCH_HTTP_LISTEN", "127.0.0.1:4141".to_owned()),
            ("KBWATCH_CERT", "/tmp/site.pem".to_owned()),
            ("KBWATCH_CERT_KEY", "/tmp/site.key".to_owned()),
        ];
        let conf = render_site_conf(&template, &values).unwrap();
        let lines = changed(&template, &conf);
        assert_eq!(lines.len(), values.len(), "{lines:#?}");
        for (marker, value) in &values {
            let tag = format!("# {marker}");
            let line = lines.iter().find(|l| l.contains(&tag));
            assert!(
                line.is_some_and(|l| l.contains(&format!(" {value}"))),
                "{marker}: {lines:#?}"
            );
        }

        let login = [("KBWATCH_LOGIN", "\"https://127.0.0.1:4444\"".to_owned())];
        let lines = changed(&template, &render_site_conf(&template, &login).unwrap());
        assert_eq!(lines.len(), 1, "{lines:#?}");
        assert!(
            lines[0].starts_with("set $kbwatch_login \"https://127.0.0.1:4444\";"),
            "{lines:#?}"
        );
    }

    #[test]
    fn the_value_is_the_first_argument_and_for_set_the_second() {
        let conf = "    listen 443 ssl http2;   # KBWATCH_LISTEN\n    set $x \"a\";  # X\n";
        let conf = render_site_conf(
            conf,
            &[
                ("KBWATCH_LISTEN", "127.0.0.1:1".to_owned()),
                ("X", "\"b\"".to_owned()),
            ],
        )
        .unwrap();
        assert_eq!(
            conf,
            "    listen 127.0.0.1:1 ssl http2;    # KBWATCH_LISTEN\n    set $x \"b\";    # X\n"
        );
    }

    #[test]
    fn a_marker_is_a_whole_word() {
        let conf = "a 1;  # KBWATCH_API\nb 2;  # KBWATCH_API_CA\n";
        let conf = render_site_conf(conf, &[("KBWATCH_API", "x".to_owned())]).unwrap();
        assert_eq!(conf, "a x;    # KBWATCH_API\nb 2;  # KBWATCH_API_CA\n");
    }

    #[test]
    fn a_missing_marker_is_an_error() {
        let err = render_site_conf("server { listen 80; }", &[("KBWATCH_LISTEN", "1".into())])
            .unwrap_err()
            .to_string();
        assert!(err.contains("KBWATCH_LISTEN"), "{err}");
    }

    /// Every URL kbwatch builds (`Endpoints::one_url_per_builder`, which lists every builder)
    /// passes the shipped allow-list, as nginx matches it (the decoded path); other paths of
    /// the API, and tricks, do not. (`proxy.rs` sends them through nginx itself.)
    #[test]
    fn the_proxy_allow_list_passes_every_url_kbwatch_builds_and_nothing_else() {
        let allow = regex::Regex::new(&api_allow_list(&shipped()).unwrap()).unwrap();
        let base = url::Url::parse("https://kbwatch.example/mde/").unwrap();
        let urls = kbwatch_core::endpoints::Endpoints::new(base).one_url_per_builder();
        for (builder, url) in &urls {
            let path = percent_encoding::percent_decode_str(url.path())
                .decode_utf8()
                .unwrap();
            assert!(allow.is_match(&path), "{builder}: {path} is not allowed");
        }
        let id = "0123456789abcdef0123456789abcdef01234567";
        for path in [
            "/mde/".to_owned(),
            "/mde/evil".to_owned(),
            "/mde/api/".to_owned(),
            "/mde/api/Users".to_owned(),
            "/mde/api/alerts".to_owned(),
            "/mde/api/machines/".to_owned(),
            "/mde/api/machines/..".to_owned(),
            "/mde/api/machines/x/../../evil".to_owned(),
            "/mde/api/machines/findbyip(ip='10.0.0.1')".to_owned(),
            format!("/mde/api/machines/{id}/offboard"),
            format!("/mde/api/machines/{id}/vulnerabilities"),
            format!("/mde/api/machines/{}/getmissingkbs", id.to_uppercase()),
            "/mde/api/Software/x/machineReferences".to_owned(),
            "/mde/api/vulnerabilities".to_owned(),
            "/api/machines".to_owned(),
            "/mde/api/machinesx".to_owned(),
            "/mde/api/machines\n".to_owned(),
        ] {
            assert!(!allow.is_match(&path), "{path:?} is allowed");
        }
    }

    #[test]
    fn the_allow_list_is_read_as_nginx_reads_it() {
        let conf = "  location ~ \"^/mde/api/(a|b\\\\.c)$\" {\n";
        assert_eq!(api_allow_list(conf).unwrap(), "^/mde/api/(a|b\\.c)$");
        assert!(api_allow_list("location /mde/ {").is_err());
    }
}
