//! A filter keystroke on the fleet's per-device table with 100,000 devices: the app's own
//! `FleetDeviceSearch` and `FleetDeviceTable` (windowed, keyed) mounted in headless Chromium,
//! fed by a memo of `FleetAggregate::device_rows` as the fleet page's model feeds them
//! (`src/fleet_model.rs`). Each keystroke is an `input` event on the search box, timed in the
//! page as figure 3 times the KB table's: to the last DOM mutation it causes (`dom`), plus the
//! style and layout of it (`rendered`, forced by reading `offsetHeight` in the observer), and
//! to the end of the next frame (`frame`). Printed as `KBWATCH_BENCH {json}` lines; nothing is
//! asserted about time.

use kbwatch::components::fleet::{FleetDeviceSearch, FleetDeviceTable};
use kbwatch_core::fleet::aggregate::{FleetDeviceFilter, FleetDeviceSortKey};
use kbwatch_core::url_state::FleetView;
use kbwatch_core::{DeviceId, Sort};
use leptos::mount::mount_to;
use leptos::prelude::*;
use serde_json::json;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::{console_log, wasm_bindgen_test, wasm_bindgen_test_configure};

use crate::fleet_data::big_fleet;

wasm_bindgen_test_configure!(run_in_browser);

/// Devices of the table, and missing KBs of each (the mock's 100,000-device fleet averages 14).
const DEVICES: u32 = 100_000;
const KBS_PER_DEVICE: usize = 14;
/// Words typed one character at a time, then erased one at a time; `ROUNDS` times.
const WORDS: [&str; 4] = ["ws-4242", "ws-9", "local", "3a7"];
const ROUNDS: usize = 2;
/// An action is over after this long without a DOM change (as figure 3).
const QUIET_MS: f64 = 150.0;

#[wasm_bindgen(inline_js = r#"
export function timeInput(root, input, value, quietMs) {
  return new Promise((done) => {
    let t0 = 0, last = null, frame = null, rendered = null, records = 0, timer = null;
    const frameAfter = (t) => requestAnimationFrame(() => {
      const channel = new MessageChannel();
      channel.port1.onmessage = () => { if ((last === null ? t0 : last) === t) frame = performance.now(); };
      channel.port2.postMessage(0);
    });
    const finish = () => {
      if (frame === null) { timer = setTimeout(finish, 10); return; }
      observer.disconnect();
      done({
        mutated: last !== null, records,
        dom: last === null ? null : last - t0,
        rendered: rendered === null ? null : rendered - t0,
        frame: frame - t0,
        rows_in_dom: root.querySelectorAll("tr[data-testid=fleet-device-row]").length,
        rowcount: Number(root.querySelector("[data-testid=fleet-device-table]")?.getAttribute("aria-rowcount") ?? 1) - 1,
      });
    };
    const observer = new MutationObserver((list) => {
      const t = performance.now();
      records += list.length;
      last = t;
      void document.body.offsetHeight;
      rendered = performance.now();
      frame = null;
      frameAfter(t);
      clearTimeout(timer);
      timer = setTimeout(finish, quietMs);
    });
    observer.observe(root, { subtree: true, childList: true, characterData: true, attributes: true });
    input.value = value;
    t0 = performance.now();
    input.dispatchEvent(new Event("input", { bubbles: true }));
    frameAfter(t0);
    if (last === null) timer = setTimeout(finish, quietMs);
  });
}
export function domNodes(root) { return root.getElementsByTagName("*").length; }
"#)]
extern "C" {
    #[wasm_bindgen(js_name = timeInput)]
    fn time_input(
        root: &web_sys::Element,
        input: &web_sys::Element,
        value: &str,
        quiet_ms: f64,
    ) -> js_sys::Promise;
    #[wasm_bindgen(js_name = domNodes)]
    fn dom_nodes(root: &web_sys::Element) -> u32;
}

fn now_ms() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map(|p| p.now())
        .expect("window.performance")
}

/// Every keystroke: each word typed, then erased, `ROUNDS` times.
fn keystrokes() -> Vec<String> {
    let mut out = Vec::new();
    for _ in 0..ROUNDS {
        for word in WORDS {
            let chars: Vec<char> = word.chars().collect();
            for n in 1..=chars.len() {
                out.push(chars[..n].iter().collect());
            }
            for n in (0..chars.len()).rev() {
                out.push(chars[..n].iter().collect());
            }
        }
    }
    out
}

#[wasm_bindgen_test]
async fn fleet_device_filter_keystroke_100k() {
    let t0 = now_ms();
    let aggregate = big_fleet(DEVICES, KBS_PER_DEVICE);
    let build_ms = now_ms() - t0;
    // The core's share of a keystroke: the rows of a filter, and their owned copy.
    let mut core = serde_json::Map::new();
    for needle in ["", "ws-4", "ws-4242"] {
        let filter = FleetDeviceFilter {
            text: needle.to_owned(),
        };
        let mut rows_ms = Vec::new();
        let mut owned_ms = Vec::new();
        for _ in 0..5 {
            let t = now_ms();
            let rows = aggregate.device_rows(&filter, Sort::default());
            rows_ms.push(now_ms() - t);
            let t = now_ms();
            let owned: Vec<_> = rows.into_iter().cloned().collect();
            owned_ms.push(now_ms() - t);
            std::hint::black_box(owned);
        }
        core.insert(
            needle.to_owned(),
            json!({
                "device_rows_ms": crate::stats::Summary::of(&rows_ms),
                "owned_copy_ms": crate::stats::Summary::of(&owned_ms),
            }),
        );
    }
    let aggregate = RwSignal::new(aggregate);
    let text = RwSignal::new(String::new());
    let sort = RwSignal::new(Sort::<FleetDeviceSortKey>::default());
    // The fleet page's own memos (`FleetModel`): index, order, then positions per keystroke.
    let view = Signal::derive(move || FleetView {
        device_filter: FleetDeviceFilter { text: text.get() },
        device_sort: sort.get(),
        ..FleetView::default()
    });
    let rows = kbwatch::fleet_model::device_rows(aggregate, view);
    let document = web_sys::window()
        .and_then(|w| w.document())
        .expect("document");
    let root: web_sys::HtmlElement = document
        .create_element("div")
        .expect("div")
        .unchecked_into();
    document
        .body()
        .expect("body")
        .append_child(&root)
        .expect("append");
    let t0 = now_ms();
    let _mounted = mount_to(root.clone(), move || {
        view! {
            <FleetDeviceSearch text=Signal::derive(move || text.get())
                on_change=Callback::new(move |t: String| text.set(t))/>
            <FleetDeviceTable rows sort=Signal::derive(move || sort.get())
                on_sort=Callback::new(move |k| sort.update(|s| *s = s.toggled(k)))
                link_for=Callback::new(|id: DeviceId| format!("/?device={id}"))/>
        }
        .into_any()
    });
    let mount_ms = now_ms() - t0;
    let input = root
        .query_selector("input[data-testid=fleet-device-search]")
        .ok()
        .flatten()
        .expect("the search box");
    // Let the first render settle.
    let _ = wasm_bindgen_futures::JsFuture::from(time_input(&root, &input, "", QUIET_MS)).await;
    let dom_nodes_at_start = dom_nodes(&root);
    let mut actions = Vec::new();
    for value in keystrokes() {
        let result =
            wasm_bindgen_futures::JsFuture::from(time_input(&root, &input, &value, QUIET_MS))
                .await
                .expect("timed keystroke");
        let mut v: serde_json::Value = js_sys::JSON::stringify(&result)
            .ok()
            .and_then(|s| s.as_string())
            .and_then(|s| serde_json::from_str(&s).ok())
            .unwrap_or_default();
        v["text"] = json!(value);
        actions.push(v);
    }
    console_log!(
        "KBWATCH_BENCH {}",
        json!({
            "name": "fleet_device_filter_100k",
            "devices": DEVICES,
            "kbs_per_device": KBS_PER_DEVICE,
            "build_ms": build_ms,
            "mount_ms": mount_ms,
            "dom_nodes_in_table_at_start": dom_nodes_at_start,
            "quiet_ms": QUIET_MS,
            "core_by_filter": core,
            "actions": actions,
        })
    );
}
