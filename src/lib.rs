//! kbwatch: the browser app. It loads `config.json`, signs in (demo mode for now), and shows
//! per device the security updates Defender for Endpoint reports as missing.
//!
//! Decisions live in `kbwatch-core`; this crate turns HTTP into core types (`api`), supplies
//! bearer tokens (`auth`) and renders (`components`, `pages`). All user-visible text comes
//! from `messages`.

pub mod api;
pub mod app;
pub mod auth;
pub mod clock;
pub mod components;
pub mod context;
pub mod data;
pub mod download;
pub mod fleet_model;
pub mod fleet_scan;
pub mod lazy_view;
pub mod messages;
pub mod pages;
pub mod product_overview;
pub mod remote;
pub mod view_state;
pub mod wall_display;

/// Entry point used by `main.rs`: panics become a visible report instead of a dead page.
pub fn start() {
    std::panic::set_hook(Box::new(|info| {
        console_error_panic_hook::hook(info);
        show_crash_report(&info.to_string());
    }));
    expose_memory_probe();
    leptos::mount::mount_to_body(app::App);
}

/// `window.kbwatchWasmMemoryBytes()`: the size of the wasm linear memory, read by the soak
/// test and the benchmark (it grows, never shrinks: a leak shows as steady growth).
fn expose_memory_probe() {
    use wasm_bindgen::prelude::*;
    let probe = Closure::<dyn Fn() -> f64>::new(|| {
        wasm_bindgen::memory()
            .dyn_into::<js_sys::WebAssembly::Memory>()
            .ok()
            .and_then(|m| m.buffer().dyn_into::<js_sys::ArrayBuffer>().ok())
            .map_or(0.0, |b| f64::from(b.byte_length()))
    });
    if let Some(window) = web_sys::window() {
        let _ = js_sys::Reflect::set(&window, &"kbwatchWasmMemoryBytes".into(), probe.as_ref());
    }
    probe.forget();
}

/// Written with plain DOM calls: after a panic the reactive runtime cannot be trusted.
fn show_crash_report(detail: &str) {
    let Some(document) = web_sys::window().and_then(|w| w.document()) else {
        return;
    };
    let (Ok(report), Some(body)) = (document.create_element("div"), document.body()) else {
        return;
    };
    report.set_class_name("banner banner-error crash-report");
    let _ = report.set_attribute("role", "alert");
    let _ = report.set_attribute("data-testid", "crash-report");
    report.set_text_content(Some(&format!(
        "{}: {detail}. {}",
        messages::CRASH_TITLE,
        messages::CRASH_ACTION
    )));
    let _ = body.prepend_with_node_1(&report);
}
