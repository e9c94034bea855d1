//! Grouping a device's `machinesVulnerabilities` rows by KB (the device view's fallback when
//! the per-device call is refused): a wasm chunk under the `split` feature, fetched the first
//! time a tenant refuses the per-device call.

use kbwatch_core::fallback::kbs_for_device;
use kbwatch_core::fleet::bulk::MachineVulnerability;
use kbwatch_core::{DeviceId, MissingKb};

use crate::lazy_view::ViewUnavailable;

/// Why the fallback failed when its code could not be downloaded (shown as a network failure).
pub const CODE_UNAVAILABLE: &str = "the code that reads vulnerability rows could not be downloaded";

#[cfg(feature = "split")]
#[leptos::wasm_split::wasm_split(device_fallback, wasm_split_path = ::leptos::wasm_split, fallible)]
pub fn group_rows(
    id: DeviceId,
    rows: Vec<serde_json::Value>,
) -> Result<Vec<MissingKb>, ViewUnavailable> {
    Ok(group(&id, rows))
}

#[cfg(not(feature = "split"))]
pub async fn group_rows(
    id: DeviceId,
    rows: Vec<serde_json::Value>,
) -> Result<Vec<MissingKb>, ViewUnavailable> {
    Ok(group(&id, rows))
}

/// Rows that are not vulnerability records at all are left out (they name no KB).
fn group(id: &DeviceId, rows: Vec<serde_json::Value>) -> Vec<MissingKb> {
    let rows: Vec<MachineVulnerability> = rows
        .into_iter()
        .filter_map(|row| serde_json::from_value(row).ok())
        .collect();
    kbs_for_device(id, &rows).kbs
}
