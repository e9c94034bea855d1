//! Where an access token must never turn up: `localStorage`, the address bar and the session
//! history, the browser console. (MSAL's own cache in `sessionStorage` is where tokens belong.)

use serde_json::Value;

use crate::{Page, TestResult};

fn is_base64url(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

/// Every JWT-looking substring of `text`: `eyJ…` (a base64url JSON header) `.` payload `.`
/// signature, each part base64url. Catches ID, access and refresh tokens alike, whether or not
/// the test knows the exact string.
pub fn jwt_like(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("eyJ") {
        let candidate = &rest[start..];
        let mut parts = 0;
        let mut len = 0;
        let mut part_len = 0;
        for c in candidate.chars() {
            if is_base64url(c) {
                part_len += 1;
            } else if c == '.' && part_len > 0 && parts < 2 {
                parts += 1;
                part_len = 0;
            } else {
                break;
            }
            len += c.len_utf8();
        }
        // Header and payload are JSON objects, so at least `eyJ` + a few characters each.
        if parts == 2 && len >= 20 {
            found.push(candidate[..len].to_owned());
            rest = &candidate[len..];
        } else {
            rest = &candidate[3..];
        }
    }
    found
}

/// The access tokens in MSAL's cache (`sessionStorage` entries whose `credentialType` is
/// `AccessToken`; their `secret` is the token).
pub async fn msal_cached_access_tokens(page: &Page) -> TestResult<Vec<String>> {
    let mut tokens = Vec::new();
    for (_, value) in page.storage("sessionStorage").await? {
        let Ok(json) = serde_json::from_str::<Value>(&value) else {
            continue;
        };
        collect_access_tokens(&json, &mut tokens);
    }
    Ok(tokens)
}

fn collect_access_tokens(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            let is_access_token = map
                .get("credentialType")
                .and_then(Value::as_str)
                .is_some_and(|t| t.eq_ignore_ascii_case("AccessToken"));
            if let (true, Some(Value::String(secret))) = (is_access_token, map.get("secret")) {
                out.push(secret.clone());
            }
            map.values().for_each(|v| collect_access_tokens(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_access_tokens(v, out)),
        _ => {}
    }
}

/// One place a token must not be, and what it holds.
struct Exposure {
    place: String,
    text: String,
}

/// Every object store of every IndexedDB database of the page's origin, as JSON text
/// (CryptoKey objects, which cannot be serialised, appear as a marker).
async fn indexed_db_contents(page: &Page) -> TestResult<Vec<(String, String)>> {
    const SCRIPT: &str = r#"
        if (!indexedDB.databases) { return []; }
        const out = [];
        for (const { name } of await indexedDB.databases()) {
            const db = await new Promise((ok, fail) => {
                const r = indexedDB.open(name);
                r.onsuccess = () => ok(r.result);
                r.onerror = () => fail(r.error);
            });
            for (const store of Array.from(db.objectStoreNames)) {
                const values = await new Promise((ok, fail) => {
                    const r = db.transaction(store).objectStore(store).getAll();
                    r.onsuccess = () => ok(r.result);
                    r.onerror = () => fail(r.error);
                });
                out.push([name + "/" + store, JSON.stringify(values, (k, v) =>
                    (typeof CryptoKey !== "undefined" && v instanceof CryptoKey) ? "[CryptoKey]" : v)]);
            }
            db.close();
        }
        return out;
    "#;
    let script = format!("return (async () => {{ {SCRIPT} }})();");
    page.eval(&script, vec![]).await
}

/// Checks `localStorage`, IndexedDB, the current URL, every session-history URL and the console log
/// (needs [`crate::BrowserOptions::capture_console`]) for any of `known_tokens` and for any
/// JWT-looking string. The error names the place and shows the start of what was found.
pub async fn assert_no_token_exposed(page: &Page, known_tokens: &[String]) -> TestResult {
    let mut places = Vec::new();
    for (key, value) in page.storage("localStorage").await? {
        places.push(Exposure {
            place: format!("localStorage[{key:?}]"),
            text: format!("{key}\n{value}"),
        });
    }
    for (store, values) in indexed_db_contents(page).await? {
        places.push(Exposure {
            place: format!("IndexedDB {store}"),
            text: values,
        });
    }
    places.push(Exposure {
        place: "the current URL".into(),
        text: page.url().await?.to_string(),
    });
    for (i, url) in page.navigation_history().await?.into_iter().enumerate() {
        places.push(Exposure {
            place: format!("session history entry {i}"),
            text: url,
        });
    }
    for (i, line) in page.console_log().await?.into_iter().enumerate() {
        places.push(Exposure {
            place: format!("console log line {i}"),
            text: line,
        });
    }

    let mut problems = Vec::new();
    for Exposure { place, text } in &places {
        for token in known_tokens {
            if text.contains(token.as_str()) {
                problems.push(format!(
                    "{place} contains an access token ({}…)",
                    &token[..token.len().min(24)]
                ));
            }
        }
        for jwt in jwt_like(text) {
            problems.push(format!(
                "{place} contains a JWT ({}…) in {:?}",
                &jwt[..jwt.len().min(24)],
                text.chars().take(200).collect::<String>()
            ));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "tokens exposed outside MSAL's sessionStorage cache:\n  {}",
            problems.join("\n  ")
        )
        .into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const JWT: &str = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlX19fXw";

    #[test]
    fn finds_jwts_inside_text_and_urls() {
        assert_eq!(jwt_like(&format!("Bearer {JWT}")), vec![JWT.to_owned()]);
        assert_eq!(
            jwt_like(&format!("https://x/#access_token={JWT}&state=1")),
            vec![JWT.to_owned()]
        );
        assert_eq!(
            jwt_like(&format!("\"{JWT}\",\"{JWT}\"")),
            vec![JWT.to_owned(), JWT.to_owned()]
        );
    }

    #[test]
    fn ignores_what_is_not_a_jwt() {
        assert!(jwt_like("eyJ alone, eyJhbGci.only-two-parts, code=abc.def.ghi").is_empty());
        assert!(jwt_like("").is_empty());
    }

    #[test]
    fn collects_access_token_secrets_only() {
        let cache = serde_json::json!({
            "credentialType": "AccessToken", "secret": "at-1",
            "nested": [{"credentialType": "IdToken", "secret": "id-1"}]
        });
        let mut out = Vec::new();
        collect_access_tokens(&cache, &mut out);
        assert_eq!(out, vec!["at-1".to_owned()]);
    }
}
