//! The Content-Security-Policy of the reference nginx configuration, for the tests' own app
//! server: the same policy the shipped `deploy/nginx/kbwatch.conf` sends, read from that file
//! (so the two cannot drift apart), with `connect-src` extended by the origins the test's app
//! calls directly (the mock API, a test's own API server).
//!
//! Two policies: every page's (`$kbwatch_csp`, never framed) and `redirect.html`'s
//! (`$kbwatch_csp_redirect`, framed by the app itself during MSAL's silent renewal).
//!
//! The build also carries a policy of its own, as a meta tag in `index.html` and `redirect.html`
//! (scripts/meta-csp.mjs, for static hosts that send no header): [`static_host_csp`] is what it
//! must say. It lets the page reach Microsoft's hosts only, so the tests' hosts widen it for the
//! origins their `config.json` points at ([`config_origins`], [`allow_config_in_site`]; the app
//! server does the same through [`kbwatch_mock::app_router`]). Both policies are enforced.
//!
//! Chromium reports every violation in the console ("… violates the following Content Security
//! Policy directive …"): [`crate::assert_page_healthy`] fails on any.

use std::path::Path;

use kbwatch_core::cloud::Cloud;
use kbwatch_mock::app_csp::{allow_in_meta_csp, extend_policy};
use serde_json::Value;

use crate::{workspace_root, TestResult, SITE_CONF};

/// The value of `set $NAME "VALUE";` in an nginx configuration.
fn nginx_set(conf: &str, name: &str) -> TestResult<String> {
    let prefix = format!("set ${name} \"");
    conf.lines()
        .find_map(|line| {
            let rest = line.trim().strip_prefix(&prefix)?;
            let end = rest.find("\";")?;
            Some(rest[..end].to_owned())
        })
        .ok_or_else(|| format!("{SITE_CONF} has no `set ${name} \"…\";` line").into())
}

/// The value of `$name` with the `$kbwatch_…` variables it uses filled in (`login` for
/// `$kbwatch_login`, the file's own `set` lines for the others).
fn nginx_value(conf: &str, name: &str, login: &str, depth: usize) -> TestResult<String> {
    let mut value = nginx_set(conf, name)?;
    while let Some(start) = value.find("$kbwatch_") {
        let len = value[start + 1..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(value.len() - start - 1);
        let variable = value[start + 1..start + 1 + len].to_owned();
        let replacement = if variable == "kbwatch_login" {
            login.to_owned()
        } else if depth < 4 {
            nginx_value(conf, &variable, login, depth + 1)?
        } else {
            return Err(format!("{SITE_CONF}: ${name} nests variables too deeply").into());
        };
        value.replace_range(start..start + 1 + len, &replacement);
    }
    Ok(value)
}

/// The policy in `$variable` of `conf`, with its sign-in host filled in (`login`, an origin,
/// replaces the file's when given, as the e2e nginx does for the mock Entra ID) and
/// `extra_connect` origins added to `connect-src`.
pub fn csp_from_nginx_conf(
    conf: &str,
    variable: &str,
    login: Option<&str>,
    extra_connect: &[String],
) -> TestResult<String> {
    let login = match login {
        Some(origin) => origin.to_owned(),
        None => nginx_set(conf, "kbwatch_login")?,
    };
    let policy = nginx_value(conf, variable, &login, 0)?;
    if policy.contains('$') {
        return Err(format!("{SITE_CONF}: unresolved nginx variable in the CSP: {policy}").into());
    }
    if !policy
        .split(';')
        .any(|d| d.split_whitespace().next() == Some("connect-src"))
    {
        return Err(format!("{SITE_CONF}: the CSP has no connect-src: {policy}").into());
    }
    Ok(extend_policy(&policy, extra_connect, &[]).map_err(|e| format!("{SITE_CONF}: {e}"))?)
}

fn read_site_conf() -> TestResult<String> {
    let path = workspace_root().join(SITE_CONF);
    std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()).into())
}

/// The shipped reference configuration's policies: (every page's, `redirect.html`'s).
pub fn reference_csp(
    login: Option<&str>,
    extra_connect: &[String],
) -> TestResult<(String, String)> {
    let conf = read_site_conf()?;
    Ok((
        csp_from_nginx_conf(&conf, "kbwatch_csp", login, extra_connect)?,
        csp_from_nginx_conf(&conf, "kbwatch_csp_redirect", login, extra_connect)?,
    ))
}

/// The policy the build writes into its pages' meta tag: the reference configuration's
/// `$kbwatch_csp_common` (no `frame-ancestors`, which a meta tag cannot carry) with every sign-in
/// origin of every cloud for `$kbwatch_login`, and every API origin of every cloud and region
/// added to `connect-src` (`core::cloud`; the build reads them from
/// `deploy/microsoft-hosts.json`, which a core test keeps equal).
pub fn static_host_csp() -> TestResult<String> {
    let login = Cloud::every_sign_in_origin().join(" ");
    csp_from_nginx_conf(
        &read_site_conf()?,
        "kbwatch_csp_common",
        Some(&login),
        &Cloud::every_api_origin(),
    )
}

/// The origins a test's `config.json` sends the page to, as (`connect-src`, `frame-src`)
/// additions: its absolute `apiBase`, and its MSAL authority (the mock Entra ID), which MSAL
/// also opens in a hidden iframe.
pub fn config_origins(config: &Value) -> (Vec<String>, Vec<String>) {
    let origin = |key: &Value| {
        let parsed = url::Url::parse(key.as_str()?).ok()?;
        Some(parsed.origin().ascii_serialization()).filter(|o| o != "null")
    };
    let api = origin(&config["apiBase"]);
    let authority = origin(&config["auth"]["authority"]);
    let connect = api.into_iter().chain(authority.clone()).collect();
    (connect, authority.into_iter().collect())
}

/// Widens the meta policies of a copy of `dist/` (`site`) for `config` ([`config_origins`]),
/// as the tests' app server does for the pages it serves.
pub fn allow_config_in_site(site: &Path, config: &Value) -> TestResult {
    let (connect, frame) = config_origins(config);
    for page in ["index.html", "redirect.html"] {
        let path = site.join(page);
        let html = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let widened = allow_in_meta_csp(&html, &connect, &frame)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        std::fs::write(&path, widened)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_policy_is_strict_and_gets_the_extra_origins() {
        let (csp, redirect) = reference_csp(None, &["http://127.0.0.1:4000".into()]).unwrap();
        assert!(csp.ends_with("; frame-ancestors 'none'"), "{csp}");
        assert_eq!(
            redirect,
            csp.replace("frame-ancestors 'none'", "frame-ancestors 'self'"),
            "redirect.html: the same policy, framable by the app only"
        );
        for part in [
            "default-src 'self'",
            "script-src 'self' 'wasm-unsafe-eval'",
            "object-src 'none'",
            "base-uri 'none'",
            "connect-src 'self' https://login.microsoftonline.com http://127.0.0.1:4000",
        ] {
            assert!(csp.contains(part), "{part:?} in {csp}");
        }
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        assert!(!csp.contains('$'), "{csp}");
        let (msal, _) = reference_csp(Some("https://127.0.0.1:4443"), &[]).unwrap();
        assert!(
            msal.contains("frame-src 'self' https://127.0.0.1:4443;"),
            "{msal}"
        );
        assert!(!msal.contains("login.microsoftonline.com"), "{msal}");
    }

    /// Azure Static Web Apps sends the headers of `staticwebapp.config.json` (the build copies it
    /// into `dist/`): the meta policy plus `frame-ancestors`, as nginx sends them.
    #[test]
    fn the_static_web_app_headers_are_the_meta_policy_with_frame_ancestors() {
        let path = workspace_root().join("staticwebapp.config.json");
        let config: Value = serde_json::from_str(
            &std::fs::read_to_string(&path).expect("staticwebapp.config.json"),
        )
        .expect("JSON");
        let policy = static_host_csp().unwrap();
        let global = &config["globalHeaders"];
        assert_eq!(
            global["Content-Security-Policy"],
            format!("{policy}; frame-ancestors 'none'")
        );
        assert_eq!(global["Referrer-Policy"], "no-referrer");
        assert_eq!(global["X-Content-Type-Options"], "nosniff");
        let hsts = global["Strict-Transport-Security"]
            .as_str()
            .unwrap_or_default();
        assert!(hsts.starts_with("max-age=31536000"), "{hsts}");
        let route = |path: &str| {
            config["routes"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|r| r["route"] == path)
                .unwrap_or_else(|| panic!("no route for {path}"))
                .clone()
        };
        let redirect = route("/redirect.html");
        assert_eq!(
            redirect["headers"]["Content-Security-Policy"],
            format!("{policy}; frame-ancestors 'self'")
        );
        assert_eq!(redirect["headers"]["Cache-Control"], "no-cache");
        assert_eq!(
            route("/config.json")["headers"]["Cache-Control"],
            "no-cache"
        );
        assert_eq!(config["navigationFallback"]["rewrite"], "/index.html");
        assert_eq!(config["mimeTypes"][".wasm"], "application/wasm");
    }

    #[test]
    fn the_static_host_policy_names_every_microsoft_host_and_no_other() {
        let policy = static_host_csp().unwrap();
        let sources = |name: &str| -> Vec<String> {
            policy
                .split("; ")
                .find_map(|d| d.strip_prefix(&format!("{name} ")))
                .unwrap_or_else(|| panic!("no {name} in {policy}"))
                .split(' ')
                .map(str::to_owned)
                .collect()
        };
        let sign_in = Cloud::every_sign_in_origin();
        let mut connect = vec!["'self'".to_owned()];
        connect.extend(sign_in.iter().cloned());
        connect.extend(Cloud::every_api_origin());
        assert_eq!(sources("connect-src"), connect);
        let mut frame = vec!["'self'".to_owned()];
        frame.extend(sign_in);
        assert_eq!(sources("frame-src"), frame);
        assert!(!policy.contains("frame-ancestors"), "{policy}");
    }

    #[test]
    fn a_tests_config_widens_connect_and_frame_src_by_its_origins() {
        let msal = serde_json::json!({
            "apiBase": "http://127.0.0.1:4000",
            "auth": {"mode": "msal", "authority": "https://127.0.0.1:4443/tenant"},
        });
        assert_eq!(
            config_origins(&msal),
            (
                vec![
                    "http://127.0.0.1:4000".into(),
                    "https://127.0.0.1:4443".into()
                ],
                vec!["https://127.0.0.1:4443".into()]
            )
        );
        let proxied = serde_json::json!({"apiBase": "/mde", "auth": {"mode": "demo"}});
        assert_eq!(config_origins(&proxied), (vec![], vec![]));
    }

    #[test]
    fn a_configuration_without_the_policy_is_an_error() {
        assert!(csp_from_nginx_conf("server { }", "kbwatch_csp", None, &[]).is_err());
        let no_connect =
            "set $kbwatch_login \"https://x\";\nset $kbwatch_csp \"default-src 'self'\";";
        assert!(csp_from_nginx_conf(no_connect, "kbwatch_csp", None, &[]).is_err());
    }
}
