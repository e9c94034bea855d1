//! Outstanding authorization codes and refresh tokens, PKCE, and the set of access tokens a test
//! forced to expire.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, PoisonError};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// How long a code may wait for redemption (Entra: about 10 minutes).
pub(crate) const CODE_LIFETIME_SECS: u64 = 600;

/// What `/authorize` promised, redeemed once at `/token`.
#[derive(Debug, Clone)]
pub(crate) struct AuthCode {
    pub client_id: String,
    pub redirect_uri: String,
    pub code_challenge: String,
    pub nonce: Option<String>,
    pub scope: String,
    pub expires_at: u64,
    pub redeemed: bool,
}

/// What a refresh token stands for. Entra's refresh tokens are opaque and multi-resource.
#[derive(Debug, Clone)]
pub(crate) struct RefreshGrant {
    pub client_id: String,
    pub scope: String,
    pub expires_at: u64,
    /// Set when the user's session ended ([`GrantStore::revoke_refresh_tokens`]).
    pub revoked: bool,
}

/// A refused grant, with the AADSTS code and text Entra uses for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum GrantError {
    UnknownCode,
    CodeRedeemed,
    CodeExpired,
    ClientMismatch,
    RedirectMismatch(String),
    PkceMismatch,
    UnknownRefreshToken,
    RefreshTokenExpired,
    RefreshTokenRevoked,
}

impl GrantError {
    /// `(error, AADSTS number, description)`.
    pub(crate) fn parts(&self) -> (&'static str, u32, String) {
        match self {
            Self::UnknownCode => (
                "invalid_grant",
                70000,
                "Provided grant is invalid or malformed (unknown authorization code).".to_owned(),
            ),
            Self::CodeRedeemed => (
                "invalid_grant",
                54005,
                "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.".to_owned(),
            ),
            Self::CodeExpired => (
                "invalid_grant",
                70008,
                "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.".to_owned(),
            ),
            Self::ClientMismatch => (
                "invalid_grant",
                70000,
                "Provided grant is invalid or malformed (it was issued to another client).".to_owned(),
            ),
            Self::RedirectMismatch(uri) => (
                "invalid_grant",
                50011,
                format!("The redirect URI '{uri}' specified in the request does not match the redirect URI used to obtain the authorization code."),
            ),
            Self::PkceMismatch => (
                "invalid_grant",
                50148,
                "The code_verifier does not match the code_challenge supplied in the authorization request for PKCE.".to_owned(),
            ),
            Self::UnknownRefreshToken => (
                "invalid_grant",
                9002313,
                "Invalid request. Request is malformed or invalid (unknown refresh token).".to_owned(),
            ),
            Self::RefreshTokenRevoked => (
                "invalid_grant",
                50173,
                "The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed or reset their password.".to_owned(),
            ),
            Self::RefreshTokenExpired => (
                "invalid_grant",
                700084,
                "The refresh token was issued to a single page app (SPA), and therefore has a fixed, limited lifetime, which has expired.".to_owned(),
            ),
        }
    }
}

#[derive(Debug, Default)]
struct Inner {
    codes: HashMap<String, AuthCode>,
    refresh: HashMap<String, RefreshGrant>,
    live_access: Vec<String>,
    expired_access: HashSet<String>,
}

/// Lock-protected grants of one IdP.
#[derive(Debug, Default)]
pub(crate) struct GrantStore(Mutex<Inner>);

impl GrantStore {
    fn with<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> R {
        f(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }

    pub(crate) fn issue_code(&self, code: AuthCode) -> String {
        let id = random_token(48);
        self.with(|g| g.codes.insert(id.clone(), code));
        id
    }

    /// Redeem `code` once: same client and redirect URI, unexpired, PKCE S256 verified.
    pub(crate) fn redeem_code(
        &self,
        code: &str,
        client_id: &str,
        redirect_uri: &str,
        code_verifier: &str,
        now: u64,
    ) -> Result<AuthCode, GrantError> {
        self.with(|g| {
            let grant = g.codes.get_mut(code).ok_or(GrantError::UnknownCode)?;
            if grant.redeemed {
                return Err(GrantError::CodeRedeemed);
            }
            if now > grant.expires_at {
                return Err(GrantError::CodeExpired);
            }
            if grant.client_id != client_id {
                return Err(GrantError::ClientMismatch);
            }
            if grant.redirect_uri != redirect_uri {
                return Err(GrantError::RedirectMismatch(redirect_uri.to_owned()));
            }
            if pkce_s256(code_verifier) != grant.code_challenge {
                return Err(GrantError::PkceMismatch);
            }
            grant.redeemed = true;
            Ok(grant.clone())
        })
    }

    pub(crate) fn issue_refresh(&self, grant: RefreshGrant) -> String {
        let id = format!("1.mock.{}", random_token(64));
        self.with(|g| g.refresh.insert(id.clone(), grant));
        id
    }

    /// Use a refresh token. It stays usable until it expires, as Entra's do (the client gets a
    /// new one each time anyway).
    pub(crate) fn redeem_refresh(
        &self,
        token: &str,
        client_id: &str,
        now: u64,
    ) -> Result<RefreshGrant, GrantError> {
        self.with(|g| {
            let grant = g
                .refresh
                .get(token)
                .ok_or(GrantError::UnknownRefreshToken)?;
            if grant.client_id != client_id {
                return Err(GrantError::ClientMismatch);
            }
            if grant.revoked {
                return Err(GrantError::RefreshTokenRevoked);
            }
            if now > grant.expires_at {
                return Err(GrantError::RefreshTokenExpired);
            }
            Ok(grant.clone())
        })
    }

    pub(crate) fn track_access_token(&self, uti: &str) {
        self.with(|g| g.live_access.push(uti.to_owned()));
    }

    /// Every refresh token issued so far has reached its end of life (SPA refresh tokens
    /// last 24 hours); returns how many.
    pub(crate) fn expire_refresh_tokens(&self) -> usize {
        self.with(|g| {
            g.refresh
                .values_mut()
                .for_each(|grant| grant.expires_at = 0);
            g.refresh.len()
        })
    }

    /// Every refresh token issued so far is refused from now on.
    pub(crate) fn revoke_refresh_tokens(&self) {
        self.with(|g| {
            g.refresh
                .values_mut()
                .for_each(|grant| grant.revoked = true)
        });
    }

    /// Every access token issued so far now counts as expired; returns how many.
    pub(crate) fn force_expire_all(&self) -> usize {
        self.with(|g| {
            let n = g.live_access.len();
            let live = std::mem::take(&mut g.live_access);
            g.expired_access.extend(live);
            n
        })
    }

    pub(crate) fn is_force_expired(&self, uti: &str) -> bool {
        self.with(|g| g.expired_access.contains(uti))
    }
}

/// `BASE64URL(SHA256(verifier))`, the S256 code challenge (RFC 7636).
pub fn pkce_s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// `bytes` random bytes, base64url.
pub(crate) fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

/// A stable GUID derived from `seed` (for oids and pairwise subjects).
pub(crate) fn guid_from(seed: &str) -> String {
    let digest = Sha256::digest(seed.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_matches_rfc7636_example() {
        assert_eq!(
            pkce_s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn code_is_single_use_and_checked() {
        let store = GrantStore::default();
        let code = |challenge: &str| AuthCode {
            client_id: "c".into(),
            redirect_uri: "http://127.0.0.1/".into(),
            code_challenge: challenge.into(),
            nonce: None,
            scope: "s".into(),
            expires_at: 100,
            redeemed: false,
        };
        let id = store.issue_code(code(&pkce_s256("v")));
        let redeem = |id: &str, client: &str, uri: &str, v: &str, now| {
            store.redeem_code(id, client, uri, v, now).map(|_| ())
        };
        assert_eq!(
            redeem("nope", "c", "http://127.0.0.1/", "v", 1),
            Err(GrantError::UnknownCode)
        );
        assert_eq!(
            redeem(&id, "x", "http://127.0.0.1/", "v", 1),
            Err(GrantError::ClientMismatch)
        );
        assert!(matches!(
            redeem(&id, "c", "http://127.0.0.1/x", "v", 1),
            Err(GrantError::RedirectMismatch(_))
        ));
        assert_eq!(
            redeem(&id, "c", "http://127.0.0.1/", "w", 1),
            Err(GrantError::PkceMismatch)
        );
        assert_eq!(
            redeem(&id, "c", "http://127.0.0.1/", "v", 101),
            Err(GrantError::CodeExpired)
        );
        assert_eq!(redeem(&id, "c", "http://127.0.0.1/", "v", 1), Ok(()));
        assert_eq!(
            redeem(&id, "c", "http://127.0.0.1/", "v", 1),
            Err(GrantError::CodeRedeemed)
        );
    }

    #[test]
    fn force_expiry_covers_tokens_issued_before_only() {
        let store = GrantStore::default();
        store.track_access_token("a");
        assert_eq!(store.force_expire_all(), 1);
        store.track_access_token("b");
        assert!(store.is_force_expired("a"));
        assert!(!store.is_force_expired("b"));
    }
}
