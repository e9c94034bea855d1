//! The app's test hooks (`data-testid`s) that more than one test module looks for, named once.
//!
//! A selector only one module uses (the fleet view's scan controls, the fault suite's panel
//! banners) stays in that module, next to the tests that explain it.

/// One row of the device list.
pub const DEVICE_ROW: &str = "tr[data-testid=device-row]";
/// The name links of the device list, one per row.
pub const DEVICE_LINK: &str = "tr[data-testid=device-row] a[data-testid=device-link]";
/// The heading of the open device's panel (its name).
pub const DEVICE_HEADER: &str = "[data-testid=device-header]";
/// One row of the open device's missing updates.
pub const KB_ROW: &str = "tr[data-testid=kb-row]";
/// "N updates" above the open device's updates.
pub const KB_TOTALS: &str = "[data-testid=kb-totals]";
/// Any error banner, in either panel.
pub const ERROR_BANNER: &str = "[data-testid=error-banner]";
/// The Refresh button of the top bar.
pub const REFRESH: &str = "[data-testid=refresh]";
/// What the app shows instead of itself after a panic.
pub const CRASH_REPORT: &str = "[data-testid=crash-report]";
/// Token mode: where the user pastes the token, and the button that uses it.
pub const TOKEN_INPUT: &str = "[data-testid=token-input]";
/// See [`TOKEN_INPUT`].
pub const TOKEN_SUBMIT: &str = "[data-testid=token-submit]";
/// MSAL mode: the "Sign in" button.
pub const SIGN_IN: &str = "[data-testid=sign-in]";

/// The link that opens device `id` from the device list (a click on it is how a user opens a
/// device).
pub fn device_link(id: &str) -> String {
    format!("tr[data-device-id='{id}'] a[data-testid=device-link]")
}
