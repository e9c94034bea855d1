//! The IdP's signing key and the two JWTs it issues: v2.0 ID tokens for the client and v1.0-style
//! access tokens for the Defender API (the real API's tokens carry `ver` 1.0 and the
//! `https://sts.windows.net/{tid}/` issuer).

use std::collections::HashSet;
use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::IdpError;

/// Clock leeway for `exp` and `nbf` when the API validates a token. Small on purpose: tests
/// use short lifetimes to exercise renewal, and the IdP and API share one clock.
pub const LEEWAY_SECS: u64 = 2;

/// Claims of an access token for the Defender API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub aud: String,
    pub iss: String,
    pub iat: u64,
    pub nbf: u64,
    pub exp: u64,
    /// The client the token was issued to.
    #[serde(default)]
    pub appid: String,
    /// "0": a public client (SPA), no client secret.
    #[serde(default)]
    pub appidacr: String,
    #[serde(default)]
    pub amr: Vec<String>,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub oid: String,
    /// Delegated permissions, space-separated, e.g. `Machine.Read Software.Read`.
    #[serde(default)]
    pub scp: String,
    #[serde(default)]
    pub sub: String,
    #[serde(default)]
    pub tid: String,
    #[serde(default)]
    pub upn: String,
    #[serde(default)]
    pub unique_name: String,
    #[serde(default)]
    pub preferred_username: String,
    /// Unique token id; what `POST /_mock/idp/expire` keys on.
    #[serde(default)]
    pub uti: String,
    #[serde(default)]
    pub ver: String,
    /// Application roles of an app-only token (client credentials), e.g. `Software.Read.All`;
    /// absent from delegated tokens.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    /// `app` on app-only tokens (Entra's `idtyp` optional claim); absent from delegated ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idtyp: Option<String>,
}

/// What a token grants, read from its claims: delegated permissions (`scp`) or application
/// roles (`roles`). Lenient, so it also reads tokens the mock did not issue (see
/// [`Grants::of_unverified`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Grants {
    #[serde(default)]
    pub scp: String,
    #[serde(default)]
    pub roles: Vec<String>,
    #[serde(default)]
    pub idtyp: Option<String>,
}

impl Grants {
    /// An application's token (no user): `idtyp` `app`, or roles and no `scp`, as Entra issues
    /// for the client credentials grant. Anything else is a user's (delegated) token.
    pub fn is_application(&self) -> bool {
        self.idtyp.as_deref() == Some("app")
            || (self.scp.trim().is_empty() && !self.roles.is_empty())
    }

    /// Whether `roles` holds `role` (case ignored, as Entra compares them).
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r.eq_ignore_ascii_case(role))
    }

    /// Whether `scp` holds `permission` (case ignored).
    pub fn has_scope(&self, permission: &str) -> bool {
        self.scp
            .split_whitespace()
            .any(|s| s.eq_ignore_ascii_case(permission))
    }

    /// The grants of a JWT's payload, read without checking anything (for a mock without an
    /// IdP, which accepts any bearer token); `None` for a token that is not a JWT.
    pub fn of_unverified(token: &str) -> Option<Self> {
        let payload = token.split('.').nth(1)?;
        let bytes = URL_SAFE_NO_PAD.decode(payload.trim_end_matches('=')).ok()?;
        serde_json::from_slice(&bytes).ok()
    }
}

impl AccessClaims {
    /// What the token grants.
    pub fn grants(&self) -> Grants {
        Grants {
            scp: self.scp.clone(),
            roles: self.roles.clone(),
            idtyp: self.idtyp.clone(),
        }
    }

    /// The delegated permissions in `scp`.
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scp.split_whitespace()
    }

    /// Whether `scp` contains `permission` (exact, case-insensitive as Entra compares them).
    pub fn has_scope(&self, permission: &str) -> bool {
        self.scopes().any(|s| s.eq_ignore_ascii_case(permission))
    }
}

/// Claims of a v2.0 ID token, as MSAL reads them.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct IdClaims {
    pub aud: String,
    pub iss: String,
    pub iat: u64,
    pub nbf: u64,
    pub exp: u64,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    pub oid: String,
    pub preferred_username: String,
    pub sid: String,
    pub sub: String,
    pub tid: String,
    pub uti: String,
    pub ver: &'static str,
}

/// Why the API refused a bearer token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenRejection {
    /// `exp` is past (beyond the leeway), or the token was force-expired.
    #[error("the token is expired")]
    Expired,
    /// Anything else: not a JWT, another key, wrong audience or issuer, not valid yet.
    #[error("the token is invalid: {0}")]
    Invalid(String),
}

/// The P-256 key that signs every token, with its JWKS entry.
pub(crate) struct SigningKey {
    kid: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
    jwk: Value,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

fn crypto(error: impl fmt::Display) -> IdpError {
    IdpError::Crypto(error.to_string())
}

impl SigningKey {
    pub(crate) fn generate() -> Result<Self, IdpError> {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(crypto)?;
        // Uncompressed SEC1 point: 0x04 || X (32) || Y (32).
        let point = pair.public_key_raw();
        let (x, y) = match point {
            [0x04, xy @ ..] if xy.len() == 64 => xy.split_at(32),
            _ => return Err(crypto("unexpected P-256 public key encoding")),
        };
        let (x, y) = (URL_SAFE_NO_PAD.encode(x), URL_SAFE_NO_PAD.encode(y));
        let kid = URL_SAFE_NO_PAD.encode(&Sha256::digest(point)[..15]);
        let decoding = DecodingKey::from_ec_components(&x, &y).map_err(crypto)?;
        Ok(Self {
            encoding: EncodingKey::from_ec_der(&pair.serialize_der()),
            decoding,
            jwk: json!({
                "kty": "EC", "use": "sig", "alg": "ES256", "crv": "P-256",
                "kid": kid, "x": x, "y": y,
            }),
            kid,
        })
    }

    /// The `keys` array entry of the JWKS.
    pub(crate) fn jwk(&self) -> &Value {
        &self.jwk
    }

    pub(crate) fn sign(&self, claims: &impl Serialize) -> Result<String, IdpError> {
        let header = Header {
            typ: Some("JWT".to_owned()),
            kid: Some(self.kid.clone()),
            ..Header::new(Algorithm::ES256)
        };
        jsonwebtoken::encode(&header, claims, &self.encoding).map_err(crypto)
    }

    /// Signature (this key only), issuer, audience, `exp` and `nbf`.
    pub(crate) fn validate_access(
        &self,
        token: &str,
        issuer: &str,
        audiences: &[String],
    ) -> Result<AccessClaims, TokenRejection> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| TokenRejection::Invalid("not a JWT".to_owned()))?;
        if header.alg != Algorithm::ES256 || header.kid.as_deref() != Some(self.kid.as_str()) {
            return Err(TokenRejection::Invalid(
                "signed with an unknown key".to_owned(),
            ));
        }
        let mut validation = Validation::new(Algorithm::ES256);
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        validation.set_audience(audiences);
        validation.set_issuer(&[issuer]);
        validation.required_spec_claims = ["exp", "nbf", "aud", "iss"]
            .into_iter()
            .map(str::to_owned)
            .collect::<HashSet<_>>();
        jsonwebtoken::decode::<AccessClaims>(token, &self.decoding, &validation)
            .map(|data| data.claims)
            .map_err(|error| match error.kind() {
                ErrorKind::ExpiredSignature => TokenRejection::Expired,
                ErrorKind::ImmatureSignature => {
                    TokenRejection::Invalid("not valid yet (nbf)".to_owned())
                }
                ErrorKind::InvalidAudience => {
                    TokenRejection::Invalid("audience is not this API".to_owned())
                }
                ErrorKind::InvalidIssuer => {
                    TokenRejection::Invalid("issuer is not trusted".to_owned())
                }
                ErrorKind::InvalidSignature => {
                    TokenRejection::Invalid("signature does not match".to_owned())
                }
                ErrorKind::MissingRequiredClaim(claim) => {
                    TokenRejection::Invalid(format!("claim '{claim}' is missing"))
                }
                _ => TokenRejection::Invalid("malformed token".to_owned()),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(now: u64, exp: u64) -> AccessClaims {
        AccessClaims {
            aud: "aud".into(),
            iss: "iss".into(),
            iat: now,
            nbf: now,
            exp,
            appid: String::new(),
            appidacr: "0".into(),
            amr: vec!["pwd".into()],
            name: String::new(),
            oid: String::new(),
            scp: "Machine.Read".into(),
            sub: String::new(),
            tid: String::new(),
            upn: String::new(),
            unique_name: String::new(),
            preferred_username: String::new(),
            uti: "u".into(),
            ver: "1.0".into(),
            roles: Vec::new(),
            idtyp: None,
        }
    }

    #[test]
    fn grants_tell_users_from_applications() {
        let user = claims(0, 1).grants();
        assert!(!user.is_application() && user.has_scope("machine.read"));
        let app = Grants {
            roles: vec!["Software.Read.All".into()],
            ..Grants::default()
        };
        assert!(app.is_application() && app.has_role("software.read.all"));
        let bare_app = Grants {
            idtyp: Some("app".into()),
            ..Grants::default()
        };
        assert!(bare_app.is_application() && !bare_app.has_role("Software.Read.All"));
        let part = |v: Value| URL_SAFE_NO_PAD.encode(v.to_string());
        let forged = format!(
            "{}.{}.sig",
            part(json!({"alg": "none"})),
            part(json!({"roles": ["Software.Read.All"], "idtyp": "app"}))
        );
        let read = Grants::of_unverified(&forged).expect("a JWT");
        assert!(read.is_application() && read.has_role("Software.Read.All"));
        assert_eq!(Grants::of_unverified("opaque-token"), None);
    }

    #[test]
    fn validates_signature_time_issuer_audience() {
        let key = SigningKey::generate().expect("key");
        let other = SigningKey::generate().expect("key");
        let aud = ["aud".to_owned()];
        let now = jsonwebtoken::get_current_timestamp();
        let good = key.sign(&claims(now, now + 60)).expect("sign");
        assert_eq!(
            key.validate_access(&good, "iss", &aud).map(|c| c.exp),
            Ok(now + 60)
        );
        assert!(key
            .validate_access(&good, "iss", &aud)
            .is_ok_and(|c| c.has_scope("machine.read")));

        let old = key.sign(&claims(now - 100, now - 50)).expect("sign");
        assert_eq!(
            key.validate_access(&old, "iss", &aud),
            Err(TokenRejection::Expired)
        );
        let within_leeway = key.sign(&claims(now - 100, now - 1)).expect("sign");
        assert!(key.validate_access(&within_leeway, "iss", &aud).is_ok());
        let future = key.sign(&claims(now + 100, now + 200)).expect("sign");
        assert!(
            matches!(key.validate_access(&future, "iss", &aud), Err(TokenRejection::Invalid(m)) if m.contains("nbf"))
        );

        assert!(
            matches!(key.validate_access(&good, "other", &aud), Err(TokenRejection::Invalid(m)) if m.contains("issuer"))
        );
        assert!(
            matches!(key.validate_access(&good, "iss", &["x".to_owned()]), Err(TokenRejection::Invalid(m)) if m.contains("audience"))
        );
        let foreign = other.sign(&claims(now, now + 60)).expect("sign");
        assert!(
            matches!(key.validate_access(&foreign, "iss", &aud), Err(TokenRejection::Invalid(m)) if m.contains("unknown key"))
        );
        assert!(matches!(
            key.validate_access("dev", "iss", &aud),
            Err(TokenRejection::Invalid(_))
        ));
    }
}
