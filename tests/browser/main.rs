//! Browser tests of the app's components, one binary (wasm-bindgen-test in headless Chromium):
//! mount a component with data in signals, act through the DOM, yield to Leptos, assert on the
//! DOM. `components`: device list, KB panel, config errors, token screens; `connection`: the
//! connection check's panel and the error link to it; `fleet`: the fleet view's tables, tiles,
//! chart and scan status; `dom`: the shared DOM helpers.
#![cfg(target_arch = "wasm32")]

wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

mod components;
mod connection;
mod dom;
mod fleet;
