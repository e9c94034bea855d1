//! The mock's integration tests, one binary for the crate (ripgrep's layout): each module is one
//! surface of the mock, `common` what they share.

mod common;

mod api;
mod idp;
mod permissions;
mod serve;
mod software;
mod vulns;
