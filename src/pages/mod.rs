//! Pages: wire URL state and remote data to components.

pub mod dashboard;
pub mod fleet;
pub mod wall;
