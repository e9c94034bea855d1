//! Fleet view pieces, one part a file: summary tiles, the top-KB chart, the scan's actions,
//! status, source and failures, the selected KB's devices, tabs, filters and tables.

mod actions;
mod chart;
mod failures;
mod filters;
mod overview;
mod scan_status;
mod selected_kb;
mod source;
mod tables;
mod tabs;
mod tiles;

pub use actions::{OverBudget, ScanActions};
pub use chart::TopKbChart;
pub use failures::ScanFailures;
pub use filters::{FleetDeviceSearch, FleetKbFilters};
pub use overview::{DrillDownPanel, DrillRow, PathPlanner, ProductOverviewPanel};
pub use scan_status::ScanStatus;
pub use selected_kb::SelectedKbDevices;
pub use source::ScanSource;
pub use tables::{FleetDeviceTable, FleetKbTable};
pub use tabs::{ExportRow, FleetEmpty, FleetTabs};
pub use tiles::SummaryTiles;
