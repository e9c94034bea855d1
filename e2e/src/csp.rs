//! The Content-Security-Policy of the reference nginx configuration, for the tests' own app
//! server: the same policy the shipped `deploy/nginx/kbwatch.conf` sends, read from that file
//! (so the two cannot drift apart), with `connect-src` extended by the origins the test's app
//! calls directly (the mock API, a test's own API server).
//!
//! Two policies: every page's (`$kbwatch_csp`, never framed) and `redirect.html`'s
//! (`$kbwatch_csp_redirect`, framed by the app itself during MSAL's silent renewal).
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

/// The shipped reference configuration's policies: (every page's, `redirect.html`'s).
pub fn reference_csp(
    login: Option<&str>,
    extra_connect: &[String],
) -> TestResult<(String, String)> {
    let path = workspace_root().join(SITE_CONF);
    let conf = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Ok((
        csp_from_nginx_conf(&conf, "kbwatch_csp", login, extra_connect)?,
        csp_from_nginx_conf(&conf, "kbwatch_csp_redirect", login, extra_connect)?,
    ))
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

    #[test]
    fn a_configuration_without_the_policy_is_an_error() {
        assert!(csp_from_nginx_conf("server { }", "kbwatch_csp", None, &[]).is_err());
        let no_connect =
            "set $kbwatch_login \"https://x\";\nset $kbwatch_csp \"default-src 'self'\";";
        assert!(csp_from_nginx_conf(no_connect, "kbwatch_csp", None, &[]).is_err());
    }
}
