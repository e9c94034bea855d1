//! What several test modules start from: the fixed mock fleet and a token no IdP issued.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use kbwatch_mock::MockOptions;
use serde_json::{json, Value};

/// A fixed fleet (seed 20240611), with rate limits high enough that only injected faults
/// throttle and a test never waits on a 429.
pub fn mock_options() -> MockOptions {
    MockOptions {
        seed: 20_240_611,
        rate_per_minute: 100_000,
        rate_per_hour: 1_000_000,
        ..MockOptions::default()
    }
}

/// An unsigned JWT with plausible Defender claims, valid for an hour: well-formed, so the app
/// accepts it as a pasted token, but not issued by the API's IdP, so the API refuses it.
pub fn forged_token() -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    let part = |v: Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let exp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() + 3600)
        .unwrap_or(4_000_000_000);
    format!(
        "{}.{}.{}",
        part(json!({"alg": "RS256", "typ": "JWT", "kid": "forged"})),
        part(json!({
            "aud": "https://api.securitycenter.microsoft.com",
            "iss": "https://sts.windows.net/forged/",
            "upn": "mallory@contoso.onmicrosoft.com",
            "scp": "Machine.Read Software.Read",
            "exp": exp,
        })),
        URL_SAFE_NO_PAD.encode(b"not-a-signature")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_forged_token_is_three_base64url_parts_of_json_and_a_fake_signature() {
        let token = forged_token();
        let parts: Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3, "{token}");
        let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap())
            .expect("header is JSON");
        assert_eq!(header["alg"], "RS256");
        let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap())
            .expect("claims are JSON");
        assert_eq!(claims["iss"], "https://sts.windows.net/forged/");
        assert_eq!(
            URL_SAFE_NO_PAD.decode(parts[2]).unwrap(),
            b"not-a-signature"
        );
        assert_eq!(
            crate::jwt_like(&token),
            vec![token.clone()],
            "looks like a JWT"
        );
    }
}
