//! The app's own Content-Security-Policy meta tag, widened for where the app is served locally.
//!
//! The release build carries its policy in `index.html` and `redirect.html` as
//! `<meta http-equiv="Content-Security-Policy">` (scripts/meta-csp.mjs), and that policy lets the
//! page call Microsoft's API and sign-in hosts only. Served next to this mock (`make run`, the
//! benchmark, the e2e suite) the page must also reach the mock's API and Entra ID stand-in on
//! `127.0.0.1`: [`allow_in_meta_csp`] adds those origins to the tag, as a deployer with a gateway
//! of their own adds its origin at build time. Every other directive stays as built.

/// `policy` with `connect` added to `connect-src` and `frame` to `frame-src`; the directives keep
/// their order and are joined by `"; "`. Fails when a directive to extend is missing (the policy
/// would then fall back to `default-src`, which such an origin must not be added to).
pub fn extend_policy(policy: &str, connect: &[String], frame: &[String]) -> Result<String, String> {
    let mut seen = (connect.is_empty(), frame.is_empty());
    let directives: Vec<String> = policy
        .split(';')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|directive| {
            let extra = match directive.split_whitespace().next() {
                Some("connect-src") => {
                    seen.0 = true;
                    connect
                }
                Some("frame-src") => {
                    seen.1 = true;
                    frame
                }
                _ => &[][..],
            };
            std::iter::once(directive)
                .chain(extra.iter().map(String::as_str))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    match seen {
        (true, true) => Ok(directives.join("; ")),
        (false, _) => Err(format!("the policy has no connect-src: {policy}")),
        (_, false) => Err(format!("the policy has no frame-src: {policy}")),
    }
}

const META_START: &str = "<meta http-equiv=\"Content-Security-Policy\" content=\"";

/// The policy of `html`'s meta tag, if it has one.
pub fn meta_csp(html: &str) -> Option<&str> {
    let start = html.find(META_START)? + META_START.len();
    let len = html[start..].find('"')?;
    Some(&html[start..start + len])
}

/// `html` with its meta policy extended as [`extend_policy`] does; a page without a meta policy
/// is returned as it is (nothing there to widen).
pub fn allow_in_meta_csp(
    html: &str,
    connect: &[String],
    frame: &[String],
) -> Result<String, String> {
    let Some(policy) = meta_csp(html) else {
        return Ok(html.to_owned());
    };
    let start = html.find(META_START).unwrap_or_default() + META_START.len();
    let widened = extend_policy(policy, connect, frame)?;
    Ok(format!(
        "{}{widened}{}",
        &html[..start],
        &html[start + policy.len()..]
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = "<head><meta charset=\"utf-8\" />\n<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'self'; connect-src 'self' https://api.example; frame-src 'self'; object-src 'none'\" />\n</head>";

    #[test]
    fn origins_go_into_connect_and_frame_src_only() {
        let page = allow_in_meta_csp(
            PAGE,
            &["http://127.0.0.1:8787".into()],
            &["https://127.0.0.1:9443".into()],
        )
        .unwrap();
        assert_eq!(
            meta_csp(&page),
            Some(
                "default-src 'self'; connect-src 'self' https://api.example http://127.0.0.1:8787; \
                 frame-src 'self' https://127.0.0.1:9443; object-src 'none'"
            )
        );
        assert!(page.starts_with("<head><meta charset=\"utf-8\" />\n<meta http-equiv"));
        assert!(page.ends_with("\" />\n</head>"));
    }

    #[test]
    fn a_page_without_a_policy_is_unchanged_and_a_policy_without_connect_src_is_refused() {
        assert_eq!(
            allow_in_meta_csp("<p>hi</p>", &["http://x".into()], &[]).unwrap(),
            "<p>hi</p>"
        );
        assert!(extend_policy("default-src 'self'", &["http://x".into()], &[]).is_err());
        assert!(extend_policy("connect-src 'self'", &[], &["http://x".into()]).is_err());
        assert_eq!(
            extend_policy("default-src 'self' ;connect-src 'self';", &[], &[]).unwrap(),
            "default-src 'self'; connect-src 'self'"
        );
    }
}
