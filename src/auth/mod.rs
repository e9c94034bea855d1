//! Where bearer tokens come from.

use kbwatch_core::AuthMode;

/// Supplies the `Authorization: Bearer` token for each API call.
#[derive(Debug, Clone)]
pub enum TokenSource {
    /// The local mock accepts any token; real APIs will answer 401.
    Demo,
}

impl TokenSource {
    pub fn for_mode(mode: &AuthMode) -> Self {
        match mode {
            AuthMode::Demo => Self::Demo,
        }
    }

    /// The token for the next call. Never logged, never stored by kbwatch.
    pub async fn bearer(&self) -> String {
        match self {
            Self::Demo => "kbwatch-demo-token".to_owned(),
        }
    }
}
