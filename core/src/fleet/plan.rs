//! Which way to fetch the fleet: what each path would cost against the budget in its current
//! state, which of them can answer the question asked, and the cheapest that can.
//!
//! - [`FleetPath::PerProduct`]: `GET /api/Software?$filter=vendor eq 'microsoft'`, then
//!   `GET /api/Software/{id}/getmissingkbs` per product (`crate::overview`). A few dozen calls
//!   whatever the tenant's size, but it counts devices per product for the whole tenant: it
//!   cannot be narrowed to some devices, nor say which device misses what.
//! - [`FleetPath::PerDevice`]: `GET /api/machines/{id}/getmissingkbs` per device not cached
//!   (`fleet::scan`).
//! - [`FleetPath::Bulk`]: `GET /api/vulnerabilities/machinesVulnerabilities`, pages of 10,000
//!   rows, one row per device × CVE × product (`fleet::bulk`).
//!
//! ```
//! use kbwatch_core::fleet::budgets::BudgetSet;
//! use kbwatch_core::fleet::plan::{plan, FleetPath, PlanInput, Question};
//!
//! let input = PlanInput {
//!     devices: 100_000,
//!     microsoft_products: Some(60),
//!     bulk_rows_per_device: None,
//!     already_cached_devices: 0,
//! };
//! let budgets = BudgetSet::default();
//! assert_eq!(plan(&input, Question::Overview, &budgets, 0).chosen, Some(FleetPath::PerProduct));
//! assert_eq!(plan(&input, Question::FilteredOverview, &budgets, 0).chosen, Some(FleetPath::Bulk));
//! ```

use crate::fallback::KbSource;
use crate::fleet::budgets::{BudgetSet, EndpointClass};
use crate::odata::MAX_TOP;

/// How the fleet's missing KBs are fetched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FleetPath {
    /// One `getmissingkbs` call per Microsoft product.
    PerProduct,
    /// One `getmissingkbs` call per device.
    PerDevice,
    /// `machinesVulnerabilities`, page by page.
    Bulk,
}

/// What the analyst asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Question {
    /// The tenant-wide per-KB table and its tiles, unfiltered.
    Overview,
    /// The per-device table, the matrix, a device's row in the fleet view.
    DeviceTables,
    /// The per-KB table for some devices only (a filter by OS, tag or group).
    FilteredOverview,
}

impl FleetPath {
    /// In order of preference when two cost the same.
    pub const ALL: [Self; 3] = [Self::PerProduct, Self::PerDevice, Self::Bulk];

    /// Whether this path's data answers `question`. The per-product answers count devices for
    /// the whole tenant, per product: they answer only the unfiltered overview.
    pub fn answers(self, question: Question) -> bool {
        match self {
            Self::PerProduct => question == Question::Overview,
            Self::PerDevice | Self::Bulk => true,
        }
    }

    /// Where the KB lists come from, and so what they lack (`KbSource::lacks`).
    pub fn source(self) -> KbSource {
        match self {
            Self::PerProduct | Self::PerDevice => KbSource::MissingKbs,
            Self::Bulk => KbSource::MachineVulnerabilities,
        }
    }

    /// The budget class of the path's calls: none of its endpoints documents limits of its own.
    pub fn endpoint_class(self) -> EndpointClass {
        EndpointClass::General
    }
}

/// Assumed Microsoft products before `/api/Software` was read: a tenant of Windows clients
/// and servers with Office, Edge, .NET and SQL Server lists a few dozen.
pub const ESTIMATED_MICROSOFT_PRODUCTS: u64 = 60;

/// Assumed `machinesVulnerabilities` rows per device before a first page was read: one per
/// CVE × product still open on the device; a few dozen on a device a month behind.
pub const ESTIMATED_ROWS_PER_DEVICE: u64 = 50;

/// What the plan is made from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlanInput {
    /// Devices in scope (the device list as loaded).
    pub devices: u64,
    /// Microsoft products in `/api/Software`, once it was read (their IDs are at hand);
    /// `None` before: one call to list them plus [`ESTIMATED_MICROSOFT_PRODUCTS`], marked
    /// as an estimate.
    pub microsoft_products: Option<u64>,
    /// `machinesVulnerabilities` rows per device, when known (e.g. from an earlier bulk run);
    /// `None`: [`ESTIMATED_ROWS_PER_DEVICE`], marked as an estimate.
    pub bulk_rows_per_device: Option<u64>,
    /// Devices whose per-device answer is cached and still fresh.
    pub already_cached_devices: u64,
}

/// One path's cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathOption {
    pub path: FleetPath,
    /// Calls to make (retries not counted).
    pub calls: u64,
    /// Until the last of them can start under the budget as it stands (both windows' fill,
    /// any hold); add one call's latency and the downloads for the time to the last answer.
    pub api_ms: u64,
    /// Whether the path's data answers the question asked.
    pub answers: bool,
    /// Whether `calls` rests on an estimate (products or rows per device not known yet).
    pub estimated: bool,
}

/// Every path's cost and the one chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// One per path, in [`FleetPath::ALL`] order, answering or not (so a view can say why the
    /// cheapest was not taken).
    pub options: Vec<PathOption>,
    /// The answering path that lets its last call start soonest, then the one with fewer
    /// calls, then the first in [`FleetPath::ALL`]; `None` if none answers.
    pub chosen: Option<FleetPath>,
}

impl Plan {
    pub fn option(&self, path: FleetPath) -> Option<&PathOption> {
        self.options.iter().find(|o| o.path == path)
    }

    pub fn chosen_option(&self) -> Option<&PathOption> {
        self.chosen.and_then(|path| self.option(path))
    }
}

/// Calls of `path` for `input`, and whether they are estimated.
fn calls_of(path: FleetPath, input: &PlanInput) -> (u64, bool) {
    match path {
        FleetPath::PerProduct => match input.microsoft_products {
            Some(products) => (products, false),
            // The software list (Microsoft's products fit in one page) plus one per product.
            None => (1 + ESTIMATED_MICROSOFT_PRODUCTS, true),
        },
        FleetPath::PerDevice => (
            input.devices.saturating_sub(input.already_cached_devices),
            false,
        ),
        FleetPath::Bulk => {
            let (per_device, estimated) = match input.bulk_rows_per_device {
                Some(rows) => (rows, false),
                None => (ESTIMATED_ROWS_PER_DEVICE, true),
            };
            // At least one page: an empty answer is how the path learns there is nothing.
            let rows = input.devices.saturating_mul(per_device);
            (rows.div_ceil(u64::from(MAX_TOP)).max(1), estimated)
        }
    }
}

/// The cost of every path for `question` against `budgets` at `now_ms`, and the cheapest that
/// answers it (see [`Plan::chosen`]).
pub fn plan(input: &PlanInput, question: Question, budgets: &BudgetSet, now_ms: u64) -> Plan {
    let options: Vec<PathOption> = FleetPath::ALL
        .iter()
        .map(|&path| {
            let (calls, estimated) = calls_of(path, input);
            let last = budgets.last_start_for(path.endpoint_class(), calls, now_ms);
            PathOption {
                path,
                calls,
                api_ms: last.saturating_sub(now_ms),
                answers: path.answers(question),
                estimated,
            }
        })
        .collect();
    let chosen = options
        .iter()
        .filter(|o| o.answers)
        .min_by_key(|o| (o.api_ms, o.calls))
        .map(|o| o.path);
    Plan { options, chosen }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::rate::{HOUR_MS, MINUTE_MS};
    use proptest::prelude::*;

    fn input(devices: u64, products: Option<u64>) -> PlanInput {
        PlanInput {
            devices,
            microsoft_products: products,
            bulk_rows_per_device: None,
            already_cached_devices: 0,
        }
    }

    #[test]
    fn a_large_tenant_overview_takes_the_per_product_path() {
        let budgets = BudgetSet::default();
        for products in [Some(60), Some(62), None] {
            let p = plan(&input(100_000, products), Question::Overview, &budgets, 0);
            assert_eq!(p.chosen, Some(FleetPath::PerProduct), "{products:?}");
            let chosen = p.chosen_option().expect("chosen");
            assert!(chosen.calls <= 90, "{chosen:?}");
            assert!(chosen.api_ms <= MINUTE_MS, "{chosen:?}");
            assert_eq!(chosen.estimated, products.is_none());
        }
        let p = plan(&input(100_000, Some(60)), Question::Overview, &budgets, 0);
        let per_device = p.option(FleetPath::PerDevice).expect("listed");
        assert_eq!(per_device.calls, 100_000);
        assert!(per_device.api_ms > 70 * HOUR_MS);
        let bulk = p.option(FleetPath::Bulk).expect("listed");
        assert_eq!((bulk.calls, bulk.estimated), (500, true));
        // 500 calls at 90 a minute: the last starts in minute 5.
        assert_eq!(bulk.api_ms, 5 * MINUTE_MS);
    }

    #[test]
    fn a_filtered_question_is_not_answered_per_product() {
        let budgets = BudgetSet::default();
        for question in [Question::FilteredOverview, Question::DeviceTables] {
            let p = plan(&input(100_000, Some(60)), question, &budgets, 0);
            assert!(!p.option(FleetPath::PerProduct).expect("listed").answers);
            assert_eq!(p.chosen, Some(FleetPath::Bulk), "{question:?}");
            assert_eq!(p.options.len(), 3);
        }
    }

    #[test]
    fn cached_devices_cost_nothing() {
        let p = plan(
            &PlanInput {
                devices: 800,
                microsoft_products: Some(40),
                bulk_rows_per_device: Some(30),
                already_cached_devices: 800,
            },
            Question::DeviceTables,
            &BudgetSet::default(),
            0,
        );
        assert_eq!(p.chosen, Some(FleetPath::PerDevice));
        assert_eq!(p.chosen_option().map(|o| o.calls), Some(0));
        let bulk = p.option(FleetPath::Bulk).expect("listed");
        assert_eq!((bulk.calls, bulk.estimated), (3, false));
    }

    #[test]
    fn time_comes_from_the_budget_as_it_stands() {
        let mut budgets = BudgetSet::default();
        for _ in 0..1_400 {
            budgets.record(EndpointClass::General, 0);
        }
        let p = plan(
            &input(100_000, Some(60)),
            Question::Overview,
            &budgets,
            10 * MINUTE_MS,
        );
        let chosen = p.chosen_option().expect("chosen");
        assert_eq!(chosen.path, FleetPath::PerProduct);
        // The hour is used up: the first call waits for the first of the hour to age out.
        assert_eq!(chosen.api_ms, 50 * MINUTE_MS);
        budgets.hold_until(2 * HOUR_MS);
        let p = plan(&input(10, Some(60)), Question::Overview, &budgets, HOUR_MS);
        assert!(p.options.iter().all(|o| o.api_ms >= HOUR_MS));
    }

    #[test]
    fn a_small_tenant_takes_the_fewest_calls_and_none_is_free_for_an_empty_one() {
        let budgets = BudgetSet::default();
        let p = plan(&input(20, Some(60)), Question::Overview, &budgets, 0);
        // All start at once; bulk needs one page.
        assert_eq!(p.chosen, Some(FleetPath::Bulk));
        let p = plan(&input(0, Some(0)), Question::Overview, &budgets, 0);
        assert_eq!(p.chosen, Some(FleetPath::PerProduct));
        assert_eq!(p.option(FleetPath::Bulk).map(|o| o.calls), Some(1));
        assert_eq!(FleetPath::Bulk.source(), KbSource::MachineVulnerabilities);
        assert!(FleetPath::Bulk.source().lacks_update_name());
        assert!(!FleetPath::PerProduct.source().lacks_update_name());
    }

    proptest! {
        /// The chosen path answers, and none that answers would let its last call start
        /// sooner, or as soon with fewer calls.
        #[test]
        fn the_choice_is_the_cheapest_that_answers(
            devices in 0u64..200_000,
            products in prop::option::of(0u64..200),
            rows in prop::option::of(0u64..400),
            cached in 0u64..200_000,
            used in 0u32..1_400,
            question in prop::sample::select(vec![Question::Overview, Question::DeviceTables, Question::FilteredOverview]),
        ) {
            let mut budgets = BudgetSet::default();
            for i in 0..used {
                budgets.record(EndpointClass::General, u64::from(i) * 1_000);
            }
            let now = HOUR_MS / 2;
            let input = PlanInput { devices, microsoft_products: products, bulk_rows_per_device: rows, already_cached_devices: cached };
            let p = plan(&input, question, &budgets, now);
            prop_assert_eq!(p.options.len(), 3);
            let chosen = p.chosen_option().expect("per-device and bulk always answer");
            prop_assert!(chosen.answers);
            for o in &p.options {
                prop_assert_eq!(o.answers, o.path.answers(question));
                if o.answers {
                    prop_assert!((chosen.api_ms, chosen.calls) <= (o.api_ms, o.calls));
                }
            }
            prop_assert_eq!(p.option(FleetPath::PerProduct).map(|o| o.answers), Some(question == Question::Overview));
        }
    }
}
