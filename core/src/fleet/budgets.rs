//! Nested call budgets: the tenant-wide [`RateBudget`] every call counts against, and inside it
//! one budget per class of endpoint whose page documents tighter limits of its own.
//!
//! Microsoft's pages state the limits per API:
//! - most APIs: 100 calls per minute and 1,500 per hour (e.g. `get-machines.md`);
//! - the JSON export APIs: 30 per minute and 1,000 per hour ([`EndpointClass::Export`]);
//! - the export-via-files APIs: 5 per minute and 20 per hour ([`EndpointClass::FileExport`]).
//!
//! Whether an export call also counts against the general limit is not documented; the
//! cautious reading is taken: every call counts against the global budget, and an export call
//! against its class budget too. A 429 holds every class (its `Retry-After` is the API's).
//!
//! ```
//! use kbwatch_core::fleet::budgets::{BudgetSet, EndpointClass};
//!
//! let mut budgets = BudgetSet::default();
//! for _ in 0..4 {
//!     budgets.record(EndpointClass::FileExport, 0);
//! }
//! // The fifth file export waits a minute (4 a minute by default); other calls go on.
//! assert_eq!(budgets.available_at(EndpointClass::FileExport, 0), 60_000);
//! assert!(budgets.allows(EndpointClass::General, 0));
//! ```

use serde::{Deserialize, Serialize};

use crate::fleet::rate::{last_start_of_schedule, RateBudget};

/// The documented limits of the JSON export APIs, per minute and per hour.
pub const EXPORT_API_PER_MINUTE: u32 = 30;
pub const EXPORT_API_PER_HOUR: u32 = 1_000;
/// The documented limits of the export-via-files APIs, per minute and per hour.
pub const FILE_EXPORT_API_PER_MINUTE: u32 = 5;
pub const FILE_EXPORT_API_PER_HOUR: u32 = 20;

/// Kept about 10 % under the documented limits, as the global budget is
/// (`rate::DEFAULT_PER_MINUTE`), for other tools of the same app and for clock skew.
pub const DEFAULT_EXPORT_PER_MINUTE: u32 = 27;
pub const DEFAULT_EXPORT_PER_HOUR: u32 = 900;
pub const DEFAULT_FILE_EXPORT_PER_MINUTE: u32 = 4;
pub const DEFAULT_FILE_EXPORT_PER_HOUR: u32 = 18;

/// Which documented limits apply to an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum EndpointClass {
    /// Every API without limits of its own: 100 per minute, 1,500 per hour. Among them
    /// `GET /api/machines` (`get-machines.md`), `/api/machines/{id}/getmissingkbs`,
    /// `/api/Software` and `/api/Software/{id}/getmissingkbs`, and
    /// `/api/vulnerabilities/machinesVulnerabilities` (their pages state no other limit).
    General,
    /// The JSON export APIs, 30 per minute and 1,000 per hour:
    /// `/api/machines/SoftwareVulnerabilitiesByMachine` and
    /// `/api/machines/SoftwareVulnerabilityChangesByMachine`
    /// (`get-assessment-software-vulnerabilities.md`, sections 1 and 3),
    /// `/api/machines/SoftwareInventoryByMachine` (`get-assessment-software-inventory.md`),
    /// `/api/machines/SoftwareInventoryNoProductCodeByMachine`
    /// (`get-assessment-non-cpe-software-inventory.md`),
    /// `/api/machines/SecureConfigurationsAssessmentByMachine`
    /// (`get-assessment-secure-config.md`).
    Export,
    /// The export-via-files APIs, 5 per minute and 20 per hour:
    /// `/api/machines/SoftwareVulnerabilitiesExport`
    /// (`get-assessment-software-vulnerabilities.md`, section 2),
    /// `/api/machines/SoftwareInventoryExport` (`get-assessment-software-inventory.md`),
    /// `/api/machines/SoftwareInventoryNonCpeExport`
    /// (`get-assessment-non-cpe-software-inventory.md`),
    /// `/api/machines/SecureConfigurationsAssessmentExport` (`get-assessment-secure-config.md`),
    /// `/api/machines/BaselineComplianceAssessmentExport`
    /// (`export-security-baseline-assessment.md`).
    FileExport,
}

/// Collections under `/api/` (lowercase) and their class; everything else is `General`.
const CLASSIFIED: &[(&str, EndpointClass)] = &[
    (
        "machines/softwarevulnerabilitiesbymachine",
        EndpointClass::Export,
    ),
    (
        "machines/softwarevulnerabilitychangesbymachine",
        EndpointClass::Export,
    ),
    ("machines/softwareinventorybymachine", EndpointClass::Export),
    (
        "machines/softwareinventorynoproductcodebymachine",
        EndpointClass::Export,
    ),
    (
        "machines/secureconfigurationsassessmentbymachine",
        EndpointClass::Export,
    ),
    (
        "machines/softwarevulnerabilitiesexport",
        EndpointClass::FileExport,
    ),
    (
        "machines/softwareinventoryexport",
        EndpointClass::FileExport,
    ),
    (
        "machines/softwareinventorynoncpeexport",
        EndpointClass::FileExport,
    ),
    (
        "machines/secureconfigurationsassessmentexport",
        EndpointClass::FileExport,
    ),
    (
        "machines/baselinecomplianceassessmentexport",
        EndpointClass::FileExport,
    ),
];

impl EndpointClass {
    pub const ALL: [Self; 3] = [Self::General, Self::Export, Self::FileExport];

    /// The limits the documentation states, (per minute, per hour).
    pub fn documented_limits(self) -> (u32, u32) {
        match self {
            Self::General => (
                crate::fleet::rate::API_PER_MINUTE,
                crate::fleet::rate::API_PER_HOUR,
            ),
            Self::Export => (EXPORT_API_PER_MINUTE, EXPORT_API_PER_HOUR),
            Self::FileExport => (FILE_EXPORT_API_PER_MINUTE, FILE_EXPORT_API_PER_HOUR),
        }
    }

    /// The limits kbwatch keeps to by default, (per minute, per hour).
    pub fn default_limits(self) -> (u32, u32) {
        match self {
            Self::General => (
                crate::fleet::rate::DEFAULT_PER_MINUTE,
                crate::fleet::rate::DEFAULT_PER_HOUR,
            ),
            Self::Export => (DEFAULT_EXPORT_PER_MINUTE, DEFAULT_EXPORT_PER_HOUR),
            Self::FileExport => (DEFAULT_FILE_EXPORT_PER_MINUTE, DEFAULT_FILE_EXPORT_PER_HOUR),
        }
    }

    /// The class of a request path (`/api/machines/SoftwareInventoryExport`, under any prefix
    /// such as a proxy's `/mde`, in any case; the query is not part of the path).
    pub fn of_path(path: &str) -> Self {
        let Some((_, collection)) = path.rsplit_once("/api/") else {
            return Self::General;
        };
        let collection = collection.trim_end_matches('/').to_ascii_lowercase();
        CLASSIFIED
            .iter()
            .find(|(known, _)| *known == collection)
            .map_or(Self::General, |&(_, class)| class)
    }
}

fn export_budget() -> RateBudget {
    let (per_minute, per_hour) = EndpointClass::Export.default_limits();
    RateBudget::new(per_minute, per_hour)
}

fn file_export_budget() -> RateBudget {
    let (per_minute, per_hour) = EndpointClass::FileExport.default_limits();
    RateBudget::new(per_minute, per_hour)
}

/// The global budget with one budget per [`EndpointClass`] inside it.
///
/// Serializes as the global [`RateBudget`]'s own fields plus `export` and `file_export`, so a
/// budget stored by an earlier version (a bare `RateBudget`) loads as a `BudgetSet` with fresh
/// class budgets, and a stored `BudgetSet` still loads as a `RateBudget` (the extra fields are
/// ignored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BudgetSet {
    #[serde(flatten)]
    global: RateBudget,
    #[serde(default = "export_budget")]
    export: RateBudget,
    #[serde(default = "file_export_budget")]
    file_export: RateBudget,
}

impl Default for BudgetSet {
    fn default() -> Self {
        Self::new(RateBudget::default())
    }
}

impl From<RateBudget> for BudgetSet {
    fn from(global: RateBudget) -> Self {
        Self::new(global)
    }
}

impl BudgetSet {
    /// `global` (with its calls and hold) and class budgets at their default limits.
    pub fn new(global: RateBudget) -> Self {
        Self {
            global,
            export: export_budget(),
            file_export: file_export_budget(),
        }
    }

    /// The budget every call counts against.
    pub fn global(&self) -> &RateBudget {
        &self.global
    }

    /// The global budget, e.g. to apply the configured limits (`RateBudget::set_limits`).
    pub fn global_mut(&mut self) -> &mut RateBudget {
        &mut self.global
    }

    /// The class's own budget; `None` for [`EndpointClass::General`], which has only the
    /// global one.
    pub fn class(&self, class: EndpointClass) -> Option<&RateBudget> {
        match class {
            EndpointClass::General => None,
            EndpointClass::Export => Some(&self.export),
            EndpointClass::FileExport => Some(&self.file_export),
        }
    }

    fn class_mut(&mut self, class: EndpointClass) -> Option<&mut RateBudget> {
        match class {
            EndpointClass::General => None,
            EndpointClass::Export => Some(&mut self.export),
            EndpointClass::FileExport => Some(&mut self.file_export),
        }
    }

    /// Changes a class's limits (for `General`, the global budget's), keeping its calls.
    pub fn set_limits(&mut self, class: EndpointClass, per_minute: u32, per_hour: u32) {
        match self.class_mut(class) {
            Some(budget) => budget.set_limits(per_minute, per_hour),
            None => self.global.set_limits(per_minute, per_hour),
        }
    }

    /// The earliest time, not before `now_ms`, at which a call of `class` may start: the
    /// later of what the global budget and the class's allow.
    pub fn available_at(&self, class: EndpointClass, now_ms: u64) -> u64 {
        let global = self.global.available_at(now_ms);
        self.class(class)
            .map_or(global, |own| global.max(own.available_at(now_ms)))
    }

    /// Whether a call of `class` may start at `now_ms`.
    pub fn allows(&self, class: EndpointClass, now_ms: u64) -> bool {
        self.available_at(class, now_ms) <= now_ms
    }

    /// Records a call of `class` that started at `now_ms`, in the global budget and the
    /// class's.
    pub fn record(&mut self, class: EndpointClass, now_ms: u64) {
        self.global.record(now_ms);
        if let Some(own) = self.class_mut(class) {
            own.record(now_ms);
        }
    }

    /// After a 429: no call of any class starts before `until_ms` (never shortened).
    pub fn hold_until(&mut self, until_ms: u64) {
        self.global.hold_until(until_ms);
    }

    /// The hold in force at `now_ms`, if any.
    pub fn held_until(&self, now_ms: u64) -> Option<u64> {
        let own_holds = [&self.export, &self.file_export].map(|b| b.held_until(now_ms));
        std::iter::once(self.global.held_until(now_ms))
            .chain(own_holds)
            .flatten()
            .max()
    }

    /// Calls of `class` started in `(now_ms - window_ms, now_ms]`; for `General`, every call.
    pub fn calls_in_last(&self, class: EndpointClass, window_ms: u64, now_ms: u64) -> u32 {
        self.class(class)
            .unwrap_or(&self.global)
            .calls_in_last(window_ms, now_ms)
    }

    /// When the last of `calls` further calls of `class` could start if each started as early
    /// as both budgets allow and no other calls were made meanwhile; `now_ms` for zero calls.
    /// Bounded cost for any number of calls (see `RateBudget::last_start_for`).
    pub fn last_start_for(&self, class: EndpointClass, calls: u64, now_ms: u64) -> u64 {
        let Some(own) = self.class(class) else {
            return self.global.last_start_for(calls, now_ms);
        };
        // Once earlier calls have aged out, only these calls fill both budgets, so the
        // tighter of each limit is what binds.
        let per_minute = self.global.per_minute().min(own.per_minute());
        let per_hour = self.global.per_hour().min(own.per_hour());
        let mut sim = self.clone();
        last_start_of_schedule(calls, now_ms, per_minute, per_hour, |t| {
            let at = sim.available_at(class, t);
            sim.record(class, at);
            at
        })
    }

    /// The global budget alone, for code that still keeps a bare `RateBudget`.
    pub fn into_global(self) -> RateBudget {
        self.global
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::rate::{HOUR_MS, MINUTE_MS};
    use proptest::prelude::*;

    #[test]
    fn defaults_stay_under_the_documented_limits() {
        for class in EndpointClass::ALL {
            let (pm, ph) = class.default_limits();
            let (api_pm, api_ph) = class.documented_limits();
            assert!(pm < api_pm && ph < api_ph, "{class:?}");
        }
        assert_eq!(EndpointClass::Export.documented_limits(), (30, 1_000));
        assert_eq!(EndpointClass::FileExport.documented_limits(), (5, 20));
        let set = BudgetSet::default();
        assert_eq!(set.class(EndpointClass::General), None);
        assert_eq!(
            set.class(EndpointClass::Export)
                .map(|b| (b.per_minute(), b.per_hour())),
            Some((27, 900))
        );
    }

    #[test]
    fn paths_are_classified_under_any_prefix() {
        use EndpointClass::*;
        for (path, class) in [
            ("/api/machines/SoftwareVulnerabilitiesByMachine", Export),
            (
                "/mde/api/machines/softwarevulnerabilitiesbymachine/",
                Export,
            ),
            ("/api/machines/SoftwareInventoryExport", FileExport),
            ("/api/machines/SoftwareVulnerabilitiesExport", FileExport),
            ("/api/machines", General),
            (
                "/api/machines/1e5bc9d7e413ddd7902c2932e418702b84d0cc07/getmissingkbs",
                General,
            ),
            ("/api/Software/microsoft-_-edge/getmissingkbs", General),
            ("/api/vulnerabilities/machinesVulnerabilities", General),
            ("/nothing", General),
        ] {
            assert_eq!(EndpointClass::of_path(path), class, "{path}");
        }
    }

    #[test]
    fn a_class_call_counts_in_both_and_waits_for_the_later() {
        let mut set = BudgetSet::default();
        set.set_limits(EndpointClass::General, 3, 100);
        set.set_limits(EndpointClass::Export, 2, 100);
        set.record(EndpointClass::Export, 0);
        set.record(EndpointClass::Export, 10);
        assert_eq!(set.available_at(EndpointClass::Export, 20), MINUTE_MS);
        assert!(set.allows(EndpointClass::General, 20));
        set.record(EndpointClass::General, 20);
        // The global minute is full now: everything waits.
        assert_eq!(set.available_at(EndpointClass::General, 30), MINUTE_MS);
        assert_eq!(set.available_at(EndpointClass::FileExport, 30), MINUTE_MS);
        assert_eq!(set.calls_in_last(EndpointClass::Export, MINUTE_MS, 30), 2);
        assert_eq!(set.calls_in_last(EndpointClass::General, MINUTE_MS, 30), 3);
        assert_eq!(
            set.calls_in_last(EndpointClass::FileExport, MINUTE_MS, 30),
            0
        );
    }

    #[test]
    fn a_hold_holds_every_class() {
        let mut set = BudgetSet::default();
        set.hold_until(8_000);
        set.hold_until(5_000);
        for class in EndpointClass::ALL {
            assert_eq!(set.available_at(class, 1_000), 8_000);
        }
        assert_eq!(set.held_until(1_000), Some(8_000));
        assert_eq!(set.held_until(8_000), None);
    }

    #[test]
    fn an_old_stored_budget_still_loads_and_a_new_one_loads_as_old() {
        let mut old = RateBudget::new(90, 1_400);
        old.record(1_000);
        old.record(2_000);
        old.hold_until(9_000);
        let stored = serde_json::to_string(&old).expect("json");
        let set: BudgetSet = serde_json::from_str(&stored).expect("old format loads");
        assert_eq!(set.global(), &old);
        assert_eq!(set.class(EndpointClass::Export), Some(&export_budget()));
        assert_eq!(set.available_at(EndpointClass::FileExport, 0), 9_000);

        let mut set = set;
        set.record(EndpointClass::FileExport, 3_000);
        let stored = serde_json::to_string(&set).expect("json");
        assert_eq!(
            serde_json::from_str::<BudgetSet>(&stored).expect("round trip"),
            set
        );
        let as_old: RateBudget = serde_json::from_str(&stored).expect("an older reader");
        assert_eq!(&as_old, set.global());
        // The literal format the app stores today.
        let literal = r#"{"per_minute":90,"per_hour":1400,"starts":[5],"hold_until":0}"#;
        let set: BudgetSet = serde_json::from_str(literal).expect("literal");
        assert_eq!(set.calls_in_last(EndpointClass::General, MINUTE_MS, 5), 1);
    }

    #[test]
    fn last_start_of_a_class_counts_both_budgets() {
        let set = BudgetSet::default();
        // 18 file exports an hour, 4 a minute: the 19th waits an hour.
        assert_eq!(set.last_start_for(EndpointClass::FileExport, 4, 0), 0);
        assert_eq!(
            set.last_start_for(EndpointClass::FileExport, 5, 0),
            MINUTE_MS
        );
        assert_eq!(
            set.last_start_for(EndpointClass::FileExport, 19, 0),
            HOUR_MS
        );
        assert_eq!(
            set.last_start_for(EndpointClass::General, 1_401, 0),
            HOUR_MS
        );
        // A global minute filled by other calls delays an export too.
        let mut busy = BudgetSet::default();
        for _ in 0..90 {
            busy.record(EndpointClass::General, 0);
        }
        assert_eq!(busy.last_start_for(EndpointClass::Export, 1, 10), MINUTE_MS);
    }

    fn class() -> impl Strategy<Value = EndpointClass> {
        prop::sample::select(EndpointClass::ALL.to_vec())
    }

    /// The most calls in any window of `window` ms among sorted `starts`.
    fn busiest(starts: &[u64], window: u64) -> usize {
        let mut first = 0;
        let mut most = 0;
        for last in 0..starts.len() {
            while starts[last] - starts[first] >= window {
                first += 1;
            }
            most = most.max(last - first + 1);
        }
        most
    }

    /// Simulates `calls` calls of `class` one by one, the reference for the extrapolation.
    fn brute_force(set: &BudgetSet, class: EndpointClass, calls: u64, now: u64) -> u64 {
        let mut sim = set.clone();
        let mut t = now;
        for _ in 0..calls {
            t = sim.available_at(class, t);
            sim.record(class, t);
        }
        t
    }

    proptest! {
        /// Whatever mix of classes the caller starts, if it only starts calls the set allows,
        /// no 60 s or 3600 s window ever holds more calls of a class than its limits, nor more
        /// calls in all than the global limits.
        #[test]
        fn allowed_calls_never_exceed_a_class_or_the_global_limit(
            global in (1u32..10, 1u32..40),
            export in (1u32..6, 1u32..30),
            file in (1u32..4, 1u32..12),
            steps in prop::collection::vec((0u64..70_000, class(), any::<bool>(), 0u64..20_000), 1..300),
        ) {
            let mut set = BudgetSet::default();
            set.set_limits(EndpointClass::General, global.0, global.1);
            set.set_limits(EndpointClass::Export, export.0, export.1);
            set.set_limits(EndpointClass::FileExport, file.0, file.1);
            let mut now = 0u64;
            let mut all = Vec::new();
            let mut by_class: [Vec<u64>; 3] = Default::default();
            for (advance, class, eager, hold) in steps {
                now += advance;
                if hold > 17_000 {
                    set.hold_until(now + hold);
                }
                let at = if eager { now } else { set.available_at(class, now) };
                if set.allows(class, at) {
                    now = at;
                    set.record(class, now);
                    all.push(now);
                    by_class[class as usize].push(now);
                }
            }
            for (window, g, e, f) in [
                (MINUTE_MS, global.0, export.0, file.0),
                (HOUR_MS, global.1, export.1, file.1),
            ] {
                prop_assert!(busiest(&all, window) <= g as usize);
                prop_assert!(busiest(&by_class[EndpointClass::Export as usize], window) <= e as usize);
                prop_assert!(busiest(&by_class[EndpointClass::FileExport as usize], window) <= f as usize);
            }
        }

        /// The extrapolated schedule of a class agrees with one-by-one simulation, whatever
        /// the earlier calls of any class and the hold.
        #[test]
        fn class_schedule_matches_simulation(
            global in (1u32..10, 1u32..40),
            own in (1u32..6, 1u32..30),
            class in class(),
            prior in prop::collection::vec((0u64..HOUR_MS, class()), 0..30),
            hold in 0u64..(2 * HOUR_MS),
            calls in 0u64..400,
        ) {
            let mut set = BudgetSet::default();
            set.set_limits(EndpointClass::General, global.0, global.1);
            set.set_limits(EndpointClass::Export, own.0, own.1);
            set.set_limits(EndpointClass::FileExport, own.0, own.1);
            let mut prior = prior;
            prior.sort_unstable_by_key(|&(t, _)| t);
            for (t, c) in prior {
                set.record(c, t);
            }
            let now = HOUR_MS;
            set.hold_until(now + hold);
            prop_assert_eq!(
                set.last_start_for(class, calls, now),
                brute_force(&set, class, calls, now)
            );
        }
    }
}
