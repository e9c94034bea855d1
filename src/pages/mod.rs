//! Pages: each wires URL state and data to components. `app.rs` switches between them.

pub mod connection;
pub mod devices;
pub mod fleet;
pub mod fleet_overview;
pub mod frame;
pub mod sign_in;
pub mod wall;
