//! The fleet model: which KB is missing on which devices, built incrementally from per-device
//! `getmissingkbs` answers (or from the bulk endpoints, see `bulk`), with summary tiles,
//! filters and sorting for the per-KB and per-device tables.
//!
//! ```
//! use kbwatch_core::fleet::aggregate::{FleetAggregate, FleetKbFilter};
//! use kbwatch_core::{DeviceId, MissingKb, Sort};
//!
//! let kb = MissingKb {
//!     id: "4540673".into(),
//!     name: Some("March 2020 Security Updates".into()),
//!     products: vec!["windows_10".into()],
//!     url: None,
//!     machine_missed_on: Some(1),
//!     cve_addressed: Some(97),
//! };
//! let mut fleet = FleetAggregate::new();
//! let id = DeviceId::parse(&"a".repeat(40)).unwrap();
//! fleet.add_device_named(id, "pc-1", &[kb]);
//! let rows = fleet.kb_rows(&FleetKbFilter::default(), Sort::default());
//! assert_eq!(rows[0].label, "KB4540673");
//! assert_eq!(fleet.summary().total_cves_addressable, 97);
//! ```

mod model;
mod month;
mod table;

#[cfg(test)]
pub(crate) mod fixtures;

pub use model::{Coverage, FleetAggregate, FleetDevice, FleetKb, FleetSummary};
pub use month::UpdateMonth;
pub use table::{
    FleetDeviceFilter, FleetDeviceIndex, FleetDeviceRows, FleetDeviceSortKey, FleetKbFilter,
    FleetKbSortKey,
};
