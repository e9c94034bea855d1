//! The fleet view: which KB is missing on how many devices, fetched within the API's limits.
//!
//! - `rate` and `scan`: the per-device fan-out policy (token budgets, concurrency, retries)
//!   written against an injected clock so it can be simulated.
//! - `budgets`: the global budget with one per endpoint class whose documented limits are
//!   tighter (the export APIs).
//! - `plan`: which path (per product, per device, bulk) answers a question soonest.
//! - `cache`: per-device results with their fetch time and freshness window.
//! - `aggregate`: per-KB × per-device model, summary tiles, filters and sorting.
//! - `bulk`: the same model built from the bulk vulnerability endpoints, page by page.
//! - `csv_export`: CSV of the per-KB table, the per-device table and the matrix.

pub mod aggregate;
pub mod budgets;
pub mod bulk;
pub mod cache;
pub mod csv_export;
pub mod plan;
pub mod rate;
pub mod scan;
pub mod storage_keys;
