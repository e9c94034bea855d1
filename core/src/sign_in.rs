//! Why signing in failed, as the sign-in library (MSAL.js) reported it: its `errorCode` is
//! what the app branches on; the words come from the app's text layer.

/// A sign-in failure, classified by the library's error code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignInError {
    /// MSAL's `errorCode`, e.g. `interaction_required`, `user_cancelled`.
    pub code: String,
    /// MSAL's own message (English, technical): shown as detail, never branched on.
    pub message: String,
    /// Only the user can resolve it (a sign-in page, consent, MFA).
    pub interaction_required: bool,
}
