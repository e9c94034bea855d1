//! The Content-Security-Policy of the reference nginx configuration, for the tests' own app
//! server: the same policy the shipped `deploy/nginx/kbwatch.conf` sends, read from that file
//! (so the two cannot drift apart), with `connect-src` extended by the origins the test's app
//! calls directly (the mock API, a test's own API server).
//!
//! Chromium reports every violation in the console ("… violates the following Content Security
//! Policy directive …"): [`crate::assert_page_healthy`] fails on any.

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

/// The policy of `conf` (an nginx configuration in the shape of [`SITE_CONF`]) with its sign-in
/// host filled in (`login`, an origin, replaces the file's when given, as the e2e nginx does
/// for the mock Entra ID) and `extra_connect` origins added to `connect-src`.
pub fn csp_from_nginx_conf(
    conf: &str,
    login: Option<&str>,
    extra_connect: &[String],
) -> TestResult<String> {
    let login = match login {
        Some(origin) => origin.to_owned(),
        None => nginx_set(conf, "kbwatch_login")?,
    };
    let policy = nginx_set(conf, "kbwatch_csp")?.replace("$kbwatch_login", &login);
    if policy.contains('$') {
        return Err(format!("{SITE_CONF}: unresolved nginx variable in the CSP: {policy}").into());
    }
    let mut found = false;
    let directives: Vec<String> = policy
        .split(';')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|directive| {
            if directive.split_whitespace().next() == Some("connect-src") {
                found = true;
                let mut out = directive.to_owned();
                for origin in extra_connect {
                    out.push(' ');
                    out.push_str(origin);
                }
                out
            } else {
                directive.to_owned()
            }
        })
        .collect();
    if !found {
        return Err(format!("{SITE_CONF}: the CSP has no connect-src: {policy}").into());
    }
    Ok(directives.join("; "))
}

/// [`csp_from_nginx_conf`] of the shipped reference configuration.
pub fn reference_csp(login: Option<&str>, extra_connect: &[String]) -> TestResult<String> {
    let path = workspace_root().join(SITE_CONF);
    let conf = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    csp_from_nginx_conf(&conf, login, extra_connect)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_policy_is_strict_and_gets_the_extra_origins() {
        let csp = reference_csp(None, &["http://127.0.0.1:4000".into()]).unwrap();
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
        let msal = reference_csp(Some("https://127.0.0.1:4443"), &[]).unwrap();
        assert!(
            msal.contains("frame-src 'self' https://127.0.0.1:4443;"),
            "{msal}"
        );
        assert!(!msal.contains("login.microsoftonline.com"), "{msal}");
    }

    #[test]
    fn a_configuration_without_the_policy_is_an_error() {
        assert!(csp_from_nginx_conf("server { }", None, &[]).is_err());
        let no_connect =
            "set $kbwatch_login \"https://x\";\nset $kbwatch_csp \"default-src 'self'\";";
        assert!(csp_from_nginx_conf(no_connect, None, &[]).is_err());
    }
}
