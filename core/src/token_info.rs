//! What a pasted access token says about itself (token mode): who it belongs to, for which
//! API, with which permissions, and when it expires. The signature is not checked — the API
//! does that; this only informs the user.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Deserialize;

/// Warn this long before a token expires.
pub const EXPIRY_WARNING_SECS: i64 = 5 * 60;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    /// `preferred_username`, `upn`, `unique_name`, `name` or, for app tokens, `appid`.
    pub subject: Option<String>,
    pub audience: Option<String>,
    pub scopes: Vec<String>,
    pub roles: Vec<String>,
    pub tenant_id: Option<String>,
    /// The application the token was issued to (`appid`, or `azp` of v2 tokens).
    pub client_id: Option<String>,
    /// Unix seconds.
    pub expires_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenInfoError {
    #[error("a token has three parts separated by dots")]
    NotAJwt,
    #[error("the token's claims are not readable base64url JSON")]
    UnreadableClaims,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenFreshness {
    Valid {
        remaining_secs: i64,
    },
    ExpiringSoon {
        remaining_secs: i64,
    },
    Expired,
    /// The token has no `exp` claim.
    Unknown,
}

impl TokenInfo {
    /// Reads the claims of a JWT (a leading "Bearer " is ignored).
    pub fn decode(token: &str) -> Result<Self, TokenInfoError> {
        #[derive(Deserialize)]
        struct Claims {
            #[serde(default, deserialize_with = "crate::lenient::text")]
            preferred_username: Option<String>,
            #[serde(default, deserialize_with = "crate::lenient::text")]
            upn: Option<String>,
            #[serde(default, deserialize_with = "crate::lenient::text")]
            unique_name: Option<String>,
            #[serde(default, deserialize_with = "crate::lenient::text")]
            name: Option<String>,
            #[serde(default, deserialize_with = "crate::lenient::text")]
            appid: Option<String>,
            #[serde(default, deserialize_with = "crate::lenient::text")]
            azp: Option<String>,
            #[serde(default, deserialize_with = "crate::lenient::text")]
            aud: Option<String>,
            #[serde(default, deserialize_with = "crate::lenient::text")]
            scp: Option<String>,
            #[serde(default, deserialize_with = "crate::lenient::text_list")]
            roles: Vec<String>,
            #[serde(default, deserialize_with = "crate::lenient::text")]
            tid: Option<String>,
            #[serde(default)]
            exp: Option<serde_json::Value>,
        }
        let token = token.trim();
        let token = token.strip_prefix("Bearer ").unwrap_or(token).trim();
        let parts: Vec<&str> = token.split('.').collect();
        // The signature part may be empty (unsigned tokens); header and claims may not.
        if parts.len() != 3 || parts[0].is_empty() || parts[1].is_empty() {
            return Err(TokenInfoError::NotAJwt);
        }
        let payload = URL_SAFE_NO_PAD
            .decode(parts[1].trim_end_matches('='))
            .map_err(|_| TokenInfoError::UnreadableClaims)?;
        let claims = match serde_json::from_slice(&payload) {
            Ok(object @ serde_json::Value::Object(_)) => Claims::deserialize(object),
            _ => return Err(TokenInfoError::UnreadableClaims),
        }
        .map_err(|_| TokenInfoError::UnreadableClaims)?;
        Ok(Self {
            subject: claims
                .preferred_username
                .or(claims.upn)
                .or(claims.unique_name)
                .or(claims.name)
                .or(claims.appid.clone()),
            audience: claims.aud,
            scopes: claims
                .scp
                .map(|s| s.split_whitespace().map(str::to_owned).collect())
                .unwrap_or_default(),
            roles: claims.roles,
            tenant_id: claims.tid,
            client_id: claims.appid.or(claims.azp),
            expires_at: claims.exp.and_then(|v| v.as_f64()).map(|f| f as i64),
        })
    }

    pub fn freshness(&self, now_unix: i64) -> TokenFreshness {
        match self.expires_at {
            None => TokenFreshness::Unknown,
            Some(exp) if exp <= now_unix => TokenFreshness::Expired,
            Some(exp) if exp - now_unix <= EXPIRY_WARNING_SECS => TokenFreshness::ExpiringSoon {
                remaining_secs: exp - now_unix,
            },
            Some(exp) => TokenFreshness::Valid {
                remaining_secs: exp - now_unix,
            },
        }
    }
}

/// A token the user pasted (token mode), read once when it is accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PastedToken {
    /// What goes into `Authorization: Bearer`.
    pub token: String,
    pub info: TokenInfo,
}

/// Why a pasted text is not taken as a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenRejected {
    NotAJwt,
    UnreadableClaims,
    /// Its `exp` has passed: every call would answer 401.
    Expired,
}

impl PastedToken {
    /// Takes what the user pasted (whitespace and a leading "Bearer " are dropped) if it reads
    /// as a JWT that has not expired at `now_unix`.
    pub fn accept(pasted: &str, now_unix: i64) -> Result<Self, TokenRejected> {
        let token = pasted
            .trim()
            .trim_start_matches("Bearer ")
            .trim()
            .to_owned();
        let info = TokenInfo::decode(&token).map_err(|e| match e {
            TokenInfoError::NotAJwt => TokenRejected::NotAJwt,
            TokenInfoError::UnreadableClaims => TokenRejected::UnreadableClaims,
        })?;
        if info.freshness(now_unix) == TokenFreshness::Expired {
            return Err(TokenRejected::Expired);
        }
        Ok(Self { token, info })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_pasted_token_is_trimmed_read_once_and_refused_when_expired() {
        let token = jwt(r#"{"upn":"ana@contoso.example","exp":2000}"#);
        let pasted = PastedToken::accept(&format!("  Bearer {token}\n"), 1000)
            .expect("a fresh JWT is accepted");
        assert_eq!(pasted.token, token);
        assert_eq!(pasted.info.subject.as_deref(), Some("ana@contoso.example"));
        assert_eq!(
            PastedToken::accept(&token, 2000),
            Err(TokenRejected::Expired)
        );
        assert_eq!(
            PastedToken::accept("not a token", 0),
            Err(TokenRejected::NotAJwt)
        );
        assert_eq!(
            PastedToken::accept("a.!!!.c", 0),
            Err(TokenRejected::UnreadableClaims)
        );
    }

    fn jwt(claims: &str) -> String {
        format!(
            "{}.{}.sig",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256","typ":"JWT"}"#),
            URL_SAFE_NO_PAD.encode(claims)
        )
    }

    #[test]
    fn reads_user_token_claims() {
        let token = jwt(
            r#"{"aud":"https://api.securitycenter.microsoft.com","upn":"ana@contoso.com","scp":"Machine.Read Software.Read","tid":"t1","exp":2000}"#,
        );
        let info = TokenInfo::decode(&format!("Bearer {token}")).unwrap();
        assert_eq!(info.subject.as_deref(), Some("ana@contoso.com"));
        assert_eq!(info.scopes, ["Machine.Read", "Software.Read"]);
        assert_eq!(info.expires_at, Some(2000));
        assert_eq!(
            info.freshness(1000),
            TokenFreshness::Valid {
                remaining_secs: 1000
            }
        );
        assert_eq!(
            info.freshness(1800),
            TokenFreshness::ExpiringSoon {
                remaining_secs: 200
            }
        );
        assert_eq!(info.freshness(2000), TokenFreshness::Expired);
    }

    #[test]
    fn app_tokens_name_the_app_and_roles() {
        let info =
            TokenInfo::decode(&jwt(r#"{"appid":"abc","roles":["Machine.Read.All"]}"#)).unwrap();
        assert_eq!(info.subject.as_deref(), Some("abc"));
        assert_eq!(info.roles, ["Machine.Read.All"]);
        assert_eq!(info.freshness(0), TokenFreshness::Unknown);
        assert_eq!(info.client_id.as_deref(), Some("abc"));
    }

    #[test]
    fn the_client_is_appid_or_the_v2_azp() {
        let v2 = TokenInfo::decode(&jwt(r#"{"azp":"app-2","preferred_username":"u"}"#)).unwrap();
        assert_eq!(v2.client_id.as_deref(), Some("app-2"));
        assert_eq!(v2.subject.as_deref(), Some("u"));
        let none = TokenInfo::decode(&jwt(r#"{"upn":"u"}"#)).unwrap();
        assert_eq!(none.client_id, None);
    }

    #[test]
    fn garbage_is_an_error() {
        assert_eq!(TokenInfo::decode("hello"), Err(TokenInfoError::NotAJwt));
        assert_eq!(
            TokenInfo::decode("a.%%%.c"),
            Err(TokenInfoError::UnreadableClaims)
        );
        assert_eq!(
            TokenInfo::decode(&jwt("[1]")),
            Err(TokenInfoError::UnreadableClaims)
        );
    }

    proptest! {
        #[test]
        fn arbitrary_input_never_panics(s in "\\PC{0,120}") {
            let _ = TokenInfo::decode(&s);
        }
    }
}
