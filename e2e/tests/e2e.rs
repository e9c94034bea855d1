//! The end-to-end suite, one test binary: each module was a test file of its own, and a
//! test's name now starts with its module (`faults::server_error_500_offers_retry_and_recovers`).
//!
//! ```sh
//! cargo test -p kbwatch-e2e --test e2e                 # everything
//! cargo test -p kbwatch-e2e --test e2e faults::        # one module
//! cargo test -p kbwatch-e2e --test e2e -- throttled_429 # some tests by name
//! ```

mod connection;
mod faults;
mod fleet;
mod harness;
mod links;
mod msal;
mod policy;
mod proxy;
mod real_tenant;
mod smoke;
mod storage;
mod token_mode;
mod wall_soak;
