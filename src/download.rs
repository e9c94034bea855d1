//! Saving generated text (CSV) as a file, without a server.

use kbwatch_core::fleet::csv_export;
use kbwatch_core::MissingKb;
use wasm_bindgen::JsCast;

use crate::lazy_view::ViewUnavailable;

/// Offers `content` as a download named `filename`.
pub fn save_text(filename: &str, mime: &str, content: &str) {
    let Some(document) = web_sys::window().and_then(|w| w.document()) else {
        return;
    };
    let parts = js_sys::Array::of1(&wasm_bindgen::JsValue::from_str(content));
    let options = web_sys::BlobPropertyBag::new();
    options.set_type(mime);
    let Ok(blob) = web_sys::Blob::new_with_str_sequence_and_options(&parts, &options) else {
        return;
    };
    let Ok(url) = web_sys::Url::create_object_url_with_blob(&blob) else {
        return;
    };
    if let Ok(anchor) = document.create_element("a") {
        if let Ok(anchor) = anchor.dyn_into::<web_sys::HtmlAnchorElement>() {
            anchor.set_href(&url);
            anchor.set_download(filename);
            anchor.click();
        }
    }
    let _ = web_sys::Url::revoke_object_url(&url);
}

/// Offers `csv` as a download named `filename`.
pub fn save_csv(filename: &str, csv: &str) {
    save_text(filename, "text/csv", csv);
}

/// A file name from a device's name: letters, digits, `.`, `-` and `_` kept, anything else `_`.
pub fn file_name_part(name: &str) -> String {
    name.chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '.' | '-' | '_' => c,
            _ => '_',
        })
        .collect()
}

/// One device's KBs, as shown, as a CSV download (`kbwatch-<device>-updates.csv`). The CSV
/// writer comes with the fleet view's code, so on the device view it is a chunk of its own.
#[cfg(feature = "split")]
#[leptos::wasm_split::wasm_split(device_csv, wasm_split_path = ::leptos::wasm_split, fallible)]
pub fn export_device_kbs(device: String, kbs: Vec<MissingKb>) -> Result<(), ViewUnavailable> {
    save_device_kbs(&device, &kbs);
    Ok(())
}

/// One device's KBs, as shown, as a CSV download (no `split` feature: already here).
#[cfg(not(feature = "split"))]
pub async fn export_device_kbs(device: String, kbs: Vec<MissingKb>) -> Result<(), ViewUnavailable> {
    save_device_kbs(&device, &kbs);
    Ok(())
}

fn save_device_kbs(device: &str, kbs: &[MissingKb]) {
    let file = format!("kbwatch-{}-updates.csv", file_name_part(device));
    save_csv(&file, &csv_export::device_kbs_csv(kbs));
}
