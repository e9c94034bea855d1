//! Debian's nginx, started by the test with the shipped reference configuration
//! (`deploy/nginx/kbwatch.conf`): it serves a copy of `dist/` and proxies `/mde/` to the mock,
//! the way a tenant whose API sends no CORS headers would deploy kbwatch.
//!
//! Only the three values the file marks (`# KBWATCH_LISTEN`, `# KBWATCH_ROOT`, `# KBWATCH_API`)
//! are replaced; the file is included in a minimal main configuration written to a temporary
//! directory, which also holds the pid file, the logs and nginx's temporary files. nginx runs in
//! the foreground (`-g 'daemon off;'`) as the test's child and is killed on drop.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::process::{free_port, kill_group};
use crate::{wait_for, TestResult};

/// The reference configuration, relative to the workspace root.
pub const SITE_CONF: &str = "deploy/nginx/kbwatch.conf";

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

/// Replaces the value (the directive's last argument) on the one line marked `# {marker}` in
/// `conf`, keeping the directive, its other arguments, the indentation and the comment. Fails
/// unless exactly one line carries the marker.
fn replace_marked(conf: &str, marker: &str, value: &str) -> TestResult<String> {
    let tag = format!("# {marker}");
    let hits = conf.lines().filter(|l| l.contains(&tag)).count();
    if hits != 1 {
        return Err(format!(
            "{SITE_CONF}: expected exactly one line marked `{tag}`, found {hits}; \
             the e2e proxy test renders the file by these markers"
        )
        .into());
    }
    let mut out = String::with_capacity(conf.len() + value.len());
    for line in conf.split_inclusive('\n') {
        let Some(at) = line.find(&tag) else {
            out.push_str(line);
            continue;
        };
        let (directive, comment) = line.split_at(at);
        let indent = &line[..line.len() - line.trim_start().len()];
        let head = directive
            .trim()
            .strip_suffix(';')
            .and_then(|d| d.rsplit_once(char::is_whitespace))
            .map(|(head, _old_value)| head.trim_end())
            .ok_or_else(|| format!("{SITE_CONF}: cannot read the directive marked `{tag}`"))?;
        out.push_str(&format!("{indent}{head} {value};    {comment}"));
    }
    Ok(out)
}

/// The reference configuration `template` with only its marked values replaced: listen
/// address, document root, API upstream, and — when given — the sign-in host the
/// Content-Security-Policy allows (`KBWATCH_LOGIN`, e.g. the mock Entra ID's origin).
pub fn render_site_conf(
    template: &str,
    listen: &str,
    root: &Path,
    upstream: &str,
    login: Option<&str>,
) -> TestResult<String> {
    let root = root
        .to_str()
        .ok_or_else(|| format!("{} is not UTF-8", root.display()))?;
    let conf = replace_marked(template, "KBWATCH_LISTEN", listen)?;
    let conf = replace_marked(&conf, "KBWATCH_ROOT", root)?;
    let conf = replace_marked(&conf, "KBWATCH_API", upstream)?;
    match login {
        Some(origin) => replace_marked(&conf, "KBWATCH_LOGIN", &format!("\"{origin}\"")),
        None => Ok(conf),
    }
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

/// A running nginx serving a copy of `dist/` (with the test's `config.json`) and proxying
/// `/mde/` to the mock. Dropping it kills nginx (master and workers) and removes its directory.
pub struct Nginx {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Nginx {
    /// Starts nginx with the rendered [`SITE_CONF`]: the site is a copy of `dist` whose
    /// `config.json` is `config`, `/mde/` goes to `upstream` (e.g. `http://127.0.0.1:4000/`),
    /// and `login` (an origin), if given, is the sign-in host the CSP allows.
    pub async fn start(
        dist: &Path,
        config: &Value,
        upstream: &str,
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

        let port = free_port()?;
        let site_conf = render_site_conf(
            &template,
            &format!("127.0.0.1:{port}"),
            &site,
            upstream,
            login,
        )?;
        std::fs::write(dir.path().join("kbwatch.conf"), site_conf)?;
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
    log_format e2e '$request_method $uri $status auth=$e2e_auth upstream=$upstream_addr';
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
        let mut nginx = Nginx { child, port, dir };
        nginx.wait_ready().await?;
        Ok(nginx)
    }

    async fn wait_ready(&mut self) -> TestResult {
        let url = format!("{}/index.html", self.url());
        let http = reqwest::Client::new();
        let error_log = self.dir.path().join("error.log");
        let child = &mut self.child;
        wait_for("nginx to serve index.html", Duration::from_secs(10), || {
            let exited = child.try_wait();
            let request = http.get(&url).send();
            let error_log = &error_log;
            let url = &url;
            async move {
                if let Some(status) = exited? {
                    let log = std::fs::read_to_string(error_log).unwrap_or_default();
                    return Err(
                        format!("nginx exited at start ({status}); error.log:\n{log}").into(),
                    );
                }
                Ok(match request.await {
                    Ok(resp) if resp.status().is_success() => Ok(()),
                    Ok(resp) => Err(format!("GET {url}: {}", resp.status())),
                    Err(e) => Err(e.to_string()),
                })
            }
        })
        .await
    }

    /// `http://127.0.0.1:<port>`, the app's origin.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The access log so far, one `METHOD uri status auth=none|bearer upstream=addr` per line.
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

    #[test]
    fn the_shipped_configuration_renders_with_only_the_marked_values_changed() {
        let template = std::fs::read_to_string(workspace_root().join(SITE_CONF)).unwrap();
        let render = |login| {
            render_site_conf(
                &template,
                "127.0.0.1:4242",
                Path::new("/tmp/site"),
                "http://127.0.0.1:4343/",
                login,
            )
            .unwrap()
        };
        let changed = |conf: &str| {
            template
                .lines()
                .zip(conf.lines())
                .filter(|(a, b)| a != b)
                .map(|(_, b)| b.to_owned())
                .collect::<Vec<_>>()
        };

        let conf = render(None);
        assert_eq!(template.lines().count(), conf.lines().count());
        let lines = changed(&conf);
        assert_eq!(lines.len(), 3, "{lines:#?}");
        assert!(
            lines[0].trim().starts_with("listen 127.0.0.1:4242;"),
            "{lines:#?}"
        );
        assert!(lines[1].trim().starts_with("root /tmp/site;"), "{lines:#?}");
        assert!(
            lines[2]
                .trim()
                .starts_with("proxy_pass http://127.0.0.1:4343/;"),
            "{lines:#?}"
        );
        assert!(lines.iter().all(|l| l.contains("# KBWATCH_")), "{lines:#?}");

        let conf = render(Some("https://127.0.0.1:4444"));
        let lines = changed(&conf);
        assert_eq!(lines.len(), 4, "{lines:#?}");
        assert!(
            lines.iter().any(|l| l
                .trim()
                .starts_with("set $kbwatch_login \"https://127.0.0.1:4444\";")),
            "{lines:#?}"
        );
    }

    #[test]
    fn a_missing_marker_is_an_error() {
        let err = render_site_conf(
            "server { listen 80; }",
            "1",
            Path::new("/x"),
            "http://y/",
            None,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("KBWATCH_LISTEN"), "{err}");
    }
}
