//! kbwatch: the browser app. It loads `config.json`, signs in (demo mode for now), and shows
//! per device the security updates Defender for Endpoint reports as missing.
//!
//! Decisions live in `kbwatch-core`; this crate turns HTTP into core types (`api`), supplies
//! bearer tokens (`auth`) and renders (`components`, `pages`). All user-visible text comes
//! from `messages`.

pub mod api;
pub mod app;
pub mod auth;
pub mod components;
pub mod messages;
pub mod pages;
pub mod remote;

/// Entry point used by `main.rs`: panics become a visible report instead of a dead page.
pub fn start() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(app::App);
}
