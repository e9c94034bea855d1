//! The wall's browser side: keeping the screen awake, how many list rows fit the window, and
//! the refresh clock that reloads the data every refresh interval.

use std::time::Duration;

use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::prelude::*;

use crate::clock::{now_ms, use_now};
use crate::data::DashboardData;

#[wasm_bindgen(module = "/src/wake_lock.js")]
extern "C" {
    #[wasm_bindgen(js_name = keepScreenAwake)]
    async fn keep_screen_awake() -> JsValue;
}

/// Height of one list row at wall size, in CSS pixels (see `.wall-list li`), and of the
/// header, footer and panel title.
const ROW_HEIGHT_PX: f64 = 76.0;
const CHROME_PX: f64 = 250.0;

/// Asks the browser to keep the screen on (Screen Wake Lock; silently nothing without it).
pub fn keep_awake() {
    spawn_local(async {
        let _ = keep_screen_awake().await;
    });
}

fn visible_rows() -> usize {
    let height = web_sys::window()
        .and_then(|w| w.inner_height().ok())
        .and_then(|h| h.as_f64())
        .unwrap_or(1080.0);
    ((height - CHROME_PX) / ROW_HEIGHT_PX).floor().max(1.0) as usize
}

/// How many list rows fit the window, following resizes.
pub fn use_rows_that_fit() -> ReadSignal<usize> {
    let (rows, set_rows) = signal(visible_rows());
    let resize = window_event_listener(leptos::ev::resize, move |_| set_rows.set(visible_rows()));
    on_cleanup(move || resize.remove());
    rows
}

/// The wall's clock, ticking every `tick`, and the time of the next reload: when the clock
/// passes it, `data` reloads and the next one is `refresh_ms` later.
pub fn use_refresh_clock(
    data: DashboardData,
    tick: Duration,
    refresh_ms: u64,
) -> (ReadSignal<u64>, ReadSignal<u64>) {
    let now = use_now(tick);
    let (next_refresh, set_next_refresh) = signal(now_ms() + refresh_ms);
    Effect::new(move |_| {
        let t = now.get();
        if t >= next_refresh.get_untracked() {
            set_next_refresh.set(t + refresh_ms);
            data.refresh();
        }
    });
    (now, next_refresh)
}
