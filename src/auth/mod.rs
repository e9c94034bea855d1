//! Where bearer tokens come from: a [`TokenSource`] per auth mode.

pub mod msal;

use std::cell::Cell;

use kbwatch_core::token_info::PastedToken;
use kbwatch_core::{ApiError, AuthMode};
use leptos::prelude::*;

thread_local! {
    static INTERACTIVE: Cell<bool> = const { Cell::new(true) };
}

/// Whether MSAL may navigate to the sign-in page when silent renewal fails. A wall display
/// turns this off: it shows "sign-in needed" instead of redirecting (no loops, no blank page).
pub fn set_interactive(allowed: bool) {
    INTERACTIVE.with(|i| i.set(allowed));
}

/// Supplies the `Authorization: Bearer` token for each API call. kbwatch itself never stores
/// a token: MSAL keeps its own cache (sessionStorage by default), a pasted token lives in
/// memory only.
#[derive(Debug, Clone, Copy)]
pub enum TokenSource {
    /// The local mock accepts any token; real APIs will answer 401.
    Demo,
    /// A token the user pasted (token mode), in memory only.
    Pasted(RwSignal<Option<PastedToken>>),
    /// MSAL.js, through the bridge; the signed-in account's user name.
    Msal(RwSignal<Option<String>>),
}

/// Who the data on screen is read as, for the top bar and the wall's footer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    Demo,
    /// A pasted token, with its owner when the token names one.
    Token(Option<String>),
    /// The signed-in MSAL account.
    Account(String),
}

impl TokenSource {
    pub fn for_mode(mode: &AuthMode) -> Self {
        match mode {
            AuthMode::Demo => Self::Demo,
            AuthMode::Token => Self::Pasted(RwSignal::new(None)),
            AuthMode::Msal(_) => Self::Msal(RwSignal::new(None)),
        }
    }

    /// Whether the mode has what it needs to call the API (a token, an account).
    pub fn is_ready(&self) -> bool {
        match self {
            Self::Demo => true,
            Self::Pasted(token) => token.with(Option::is_some),
            Self::Msal(account) => account.with(Option::is_some),
        }
    }

    /// Who the calls are made as (reactive).
    pub fn identity(&self) -> Identity {
        match self {
            Self::Demo => Identity::Demo,
            Self::Pasted(token) => {
                Identity::Token(token.with(|t| t.as_ref().and_then(|t| t.info.subject.clone())))
            }
            Self::Msal(account) => Identity::Account(account.get().unwrap_or_default()),
        }
    }

    /// Whether a 401 is worth one forced refresh before giving up.
    pub fn can_refresh(&self) -> bool {
        matches!(self, Self::Msal(_))
    }

    /// The token for the next call; `force_refresh` after a 401.
    pub async fn bearer(&self, force_refresh: bool) -> Result<String, ApiError> {
        match self {
            Self::Demo => Ok("kbwatch-demo-token".to_owned()),
            Self::Pasted(token) => token
                .with_untracked(|t| t.as_ref().map(|t| t.token.clone()))
                .ok_or_else(|| ApiError::SignInRequired {
                    code: Some("no_token".into()),
                    message: String::new(),
                }),
            Self::Msal(_) => msal::token(force_refresh, INTERACTIVE.with(Cell::get))
                .await
                .map_err(|e| ApiError::SignInRequired {
                    code: Some(e.code),
                    message: e.message,
                }),
        }
    }
}
