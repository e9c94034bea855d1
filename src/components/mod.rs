//! Presentational components: they read signals and render, and report user intent through
//! callbacks. They do not fetch, parse, aggregate or retry.

pub mod config_problem;
pub mod connection;
pub mod device_filters;
pub mod device_panel;
pub mod device_table;
pub mod error_banner;
pub mod fleet;
pub mod inputs;
pub mod kb_filters;
pub mod kb_panel;
pub mod kb_table;
pub mod row_window;
pub mod select_filter;
pub mod session;
pub mod sort_header;
pub mod top_bar;
pub mod wall;
