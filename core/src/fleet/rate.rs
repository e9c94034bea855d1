//! The API's call budget: a per-minute and a per-hour limit, both as sliding windows, plus the
//! global hold a 429 imposes. Written against an injected clock (milliseconds, any epoch) so a
//! scan can be simulated; nothing here reads the time or sleeps.
//!
//! ```
//! use kbwatch_core::fleet::rate::RateBudget;
//!
//! let mut budget = RateBudget::new(2, 100);
//! assert_eq!(budget.available_at(0), 0);
//! budget.record(0);
//! budget.record(10);
//! // Both per-minute slots are taken: the next call may start when the first leaves the window.
//! assert_eq!(budget.available_at(20), 60_000);
//! ```

use std::collections::VecDeque;

pub const MINUTE_MS: u64 = 60_000;
pub const HOUR_MS: u64 = 60 * MINUTE_MS;

/// The API's documented limits per tenant: calls per minute and per hour. A configured budget
/// cannot exceed them (`config.json`'s `fleet.perMinute` and `fleet.perHour`).
pub const API_PER_MINUTE: u32 = 100;
pub const API_PER_HOUR: u32 = 1_500;

/// Kept under the API's documented 100 calls per minute, leaving room for other tools of the
/// same app and for clock skew between us and the server.
pub const DEFAULT_PER_MINUTE: u32 = 90;
/// Kept under the API's documented 1,500 calls per hour, for the same reasons.
pub const DEFAULT_PER_HOUR: u32 = 1_400;

/// How many calls may start, and when.
///
/// A call is allowed at `t` when fewer than `per_minute` calls started in `(t - 60 s, t]` and
/// fewer than `per_hour` in `(t - 1 h, t]`, and no throttle hold is in force. So no 60-second
/// or 3600-second window ever holds more calls than the limits, wherever the window starts.
/// Serializable so the app can keep the call history across reloads (times only).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RateBudget {
    per_minute: u32,
    per_hour: u32,
    /// Start times of the calls of the last hour, ascending.
    starts: VecDeque<u64>,
    /// No call starts before this (after a 429's `Retry-After`).
    hold_until: u64,
}

impl Default for RateBudget {
    fn default() -> Self {
        Self::new(DEFAULT_PER_MINUTE, DEFAULT_PER_HOUR)
    }
}

impl RateBudget {
    /// Limits below 1 are raised to 1: a budget that never allows a call would stall a scan
    /// forever instead of failing visibly.
    pub fn new(per_minute: u32, per_hour: u32) -> Self {
        Self {
            per_minute: per_minute.max(1),
            per_hour: per_hour.max(1),
            starts: VecDeque::new(),
            hold_until: 0,
        }
    }

    pub fn per_minute(&self) -> u32 {
        self.per_minute
    }

    pub fn per_hour(&self) -> u32 {
        self.per_hour
    }

    /// Changes the limits, keeping the calls already made and any hold.
    pub fn set_limits(&mut self, per_minute: u32, per_hour: u32) {
        self.per_minute = per_minute.max(1);
        self.per_hour = per_hour.max(1);
    }

    /// The earliest time, not before `now_ms`, at which a call may start.
    pub fn available_at(&self, now_ms: u64) -> u64 {
        let mut at = now_ms.max(self.hold_until);
        for (window, limit) in [(MINUTE_MS, self.per_minute), (HOUR_MS, self.per_hour)] {
            // The call is allowed once the `limit`-th most recent start has left the window.
            let limit = limit as usize;
            if self.starts.len() >= limit {
                let blocking = self.starts[self.starts.len() - limit];
                at = at.max(blocking + window);
            }
        }
        at
    }

    /// Whether a call may start at `now_ms`.
    pub fn allows(&self, now_ms: u64) -> bool {
        self.available_at(now_ms) <= now_ms
    }

    /// Records a call that started at `now_ms`. Out-of-order times are kept sorted.
    pub fn record(&mut self, now_ms: u64) {
        if self.starts.back().is_none_or(|&last| last <= now_ms) {
            self.starts.push_back(now_ms);
        } else {
            let at = self.starts.partition_point(|&s| s <= now_ms);
            self.starts.insert(at, now_ms);
        }
        let latest = self.starts.back().copied().unwrap_or(now_ms);
        while self
            .starts
            .front()
            .is_some_and(|&first| first + HOUR_MS <= latest)
        {
            self.starts.pop_front();
        }
    }

    /// Calls started in `(now_ms - window_ms, now_ms]`. Only the last hour is remembered, so
    /// longer windows count the last hour.
    pub fn calls_in_last(&self, window_ms: u64, now_ms: u64) -> u32 {
        let from = now_ms.saturating_sub(window_ms);
        let first = if window_ms > now_ms {
            0
        } else {
            self.starts.partition_point(|&s| s <= from)
        };
        let end = self.starts.partition_point(|&s| s <= now_ms);
        u32::try_from(end.saturating_sub(first)).unwrap_or(u32::MAX)
    }

    /// After a 429 with `Retry-After`: no call starts before `until_ms`. A shorter hold never
    /// shortens a longer one already in force.
    pub fn hold_until(&mut self, until_ms: u64) {
        self.hold_until = self.hold_until.max(until_ms);
    }

    /// The hold in force at `now_ms`, if any.
    pub fn held_until(&self, now_ms: u64) -> Option<u64> {
        (self.hold_until > now_ms).then_some(self.hold_until)
    }

    /// When the last of `calls` further calls could start if each started as early as the
    /// budget allows, counting the calls already in both windows and any hold. `now_ms` for
    /// zero calls.
    ///
    /// Exact up to four hours' worth of calls; beyond that the schedule repeats — an hour of
    /// `per_hour` calls when the hour window binds, else a minute of `per_minute` — which is
    /// how the rest is extrapolated, so the cost stays bounded for any fleet size.
    pub fn last_start_for(&self, calls: u64, now_ms: u64) -> u64 {
        let mut sim = self.clone();
        last_start_of_schedule(calls, now_ms, self.per_minute, self.per_hour, |t| {
            let at = sim.available_at(t);
            sim.record(at);
            at
        })
    }
}

/// When the last of `calls` calls starts, each started by `start_next(t)` (which returns the
/// earliest allowed start not before `t`, and records it) under limits of `per_minute` and
/// `per_hour` — the tightest limits among the budgets `start_next` consults.
///
/// The first four hours' worth of calls are simulated; by then any earlier calls and holds
/// have left both windows and the schedule repeats. When the hour window binds
/// (`60 × per_minute ≥ per_hour`) each slot of the hour is reused exactly an hour later:
/// `per_hour` calls per hour. Otherwise the hour limit is never reached and the minute window
/// alone repeats: `per_minute` calls per minute. The rest is extrapolated from the last
/// period of the simulation.
pub(crate) fn last_start_of_schedule(
    calls: u64,
    now_ms: u64,
    per_minute: u32,
    per_hour: u32,
    mut start_next: impl FnMut(u64) -> u64,
) -> u64 {
    if calls == 0 {
        return now_ms;
    }
    let (per_minute, per_hour) = (u64::from(per_minute.max(1)), u64::from(per_hour.max(1)));
    let (period_ms, per_period) = if 60 * per_minute >= per_hour {
        (HOUR_MS, per_hour)
    } else {
        (MINUTE_MS, per_minute)
    };
    let exact = calls.min(4 * per_hour);
    let mut t = now_ms;
    // The last period's worth of start times, to extrapolate from.
    let mut recent: VecDeque<u64> = VecDeque::with_capacity(per_period as usize);
    for _ in 0..exact {
        t = start_next(t);
        if recent.len() as u64 == per_period {
            recent.pop_front();
        }
        recent.push_back(t);
    }
    if calls == exact {
        return t;
    }
    // `recent` holds `per_period` entries here (`exact == 4 * per_hour >= per_period`); the
    // last call's index counted from its first entry:
    let offset = (per_period - 1) + (calls - exact);
    let periods = offset / per_period;
    let index = (offset % per_period) as usize;
    recent[index].saturating_add(periods.saturating_mul(period_ms))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn defaults_stay_under_the_documented_limits() {
        let budget = RateBudget::default();
        assert_eq!((budget.per_minute(), budget.per_hour()), (90, 1_400));
        const { assert!(DEFAULT_PER_MINUTE < API_PER_MINUTE && DEFAULT_PER_HOUR < API_PER_HOUR) };
    }

    #[test]
    fn minute_window_slides() {
        let mut budget = RateBudget::new(3, 100);
        for t in [0, 1_000, 2_000] {
            assert!(budget.allows(t));
            budget.record(t);
        }
        assert_eq!(budget.available_at(2_500), 60_000);
        assert!(!budget.allows(59_999));
        assert!(budget.allows(60_000));
        budget.record(60_000);
        assert_eq!(budget.available_at(60_000), 61_000);
        assert_eq!(budget.calls_in_last(MINUTE_MS, 60_000), 3);
    }

    #[test]
    fn hour_window_binds_when_minutes_do_not() {
        let mut budget = RateBudget::new(10, 12);
        let mut t = 0;
        for _ in 0..12 {
            t = budget.available_at(t);
            budget.record(t);
        }
        // 10 in the first minute, 2 in the second; the 13th waits for the first to age out.
        assert_eq!(t, MINUTE_MS);
        assert_eq!(budget.available_at(t), HOUR_MS);
        assert_eq!(budget.calls_in_last(HOUR_MS, t), 12);
    }

    #[test]
    fn hold_is_honoured_exactly_and_never_shortened() {
        let mut budget = RateBudget::new(90, 1_400);
        budget.hold_until(8_000);
        assert_eq!(budget.available_at(1_000), 8_000);
        assert_eq!(budget.held_until(1_000), Some(8_000));
        budget.hold_until(5_000);
        assert_eq!(budget.available_at(1_000), 8_000);
        assert!(budget.allows(8_000));
        assert_eq!(budget.held_until(8_000), None);
    }

    #[test]
    fn zero_limits_are_raised_to_one() {
        let mut budget = RateBudget::new(0, 0);
        assert!(budget.allows(0));
        budget.record(0);
        assert_eq!(budget.available_at(0), HOUR_MS);
    }

    #[test]
    fn out_of_order_records_stay_sorted() {
        let mut budget = RateBudget::new(2, 100);
        budget.record(5_000);
        budget.record(1_000);
        assert_eq!(budget.calls_in_last(4_000, 5_000), 1);
        assert_eq!(budget.calls_in_last(4_001, 5_000), 2);
        assert_eq!(budget.available_at(5_000), 61_000);
    }

    #[test]
    fn last_start_counts_the_current_fill() {
        let mut budget = RateBudget::new(90, 1_400);
        assert_eq!(budget.last_start_for(0, 7), 7);
        assert_eq!(budget.last_start_for(1, 7), 7);
        assert_eq!(budget.last_start_for(90, 0), 0);
        assert_eq!(budget.last_start_for(91, 0), MINUTE_MS);
        // 1,400 calls: 15 full minutes of 90, then 50 in minute 15.
        assert_eq!(budget.last_start_for(1_400, 0), 15 * MINUTE_MS);
        assert_eq!(budget.last_start_for(1_401, 0), HOUR_MS);
        for _ in 0..1_400 {
            let t = budget.available_at(0);
            budget.record(t);
        }
        // The hour is used up: the next call waits for the first of the hour to age out.
        assert_eq!(budget.last_start_for(1, 20 * MINUTE_MS), HOUR_MS);
    }

    #[test]
    fn last_start_when_the_minute_limit_binds_all_hour() {
        // 10 a minute never reaches 1,400 an hour: call k starts at minute k / 10. The
        // hour-periodic extrapolation used to say minute 519 for the 6,000th call.
        let budget = RateBudget::new(10, 1_400);
        assert_eq!(budget.last_start_for(6_000, 0), 599 * MINUTE_MS);
        assert_eq!(
            budget.last_start_for(6_000, 0),
            brute_force_last_start(&budget, 6_000, 0)
        );
    }

    /// Simulates `calls` calls one by one, the reference for the extrapolation.
    fn brute_force_last_start(budget: &RateBudget, calls: u64, now: u64) -> u64 {
        let mut sim = budget.clone();
        let mut t = now;
        for _ in 0..calls {
            t = sim.available_at(t);
            sim.record(t);
        }
        t
    }

    /// `last_start_for` against one-by-one simulation, from a budget with `prior` calls in
    /// the last hour and a hold of `hold` ms.
    fn schedule_matches_simulation(
        per_minute: u32,
        per_hour: u32,
        mut prior: Vec<u64>,
        hold: u64,
        calls: u64,
    ) -> Result<(), TestCaseError> {
        let mut budget = RateBudget::new(per_minute, per_hour);
        prior.sort_unstable();
        for t in prior {
            budget.record(t);
        }
        let now = HOUR_MS;
        budget.hold_until(now + hold);
        prop_assert_eq!(
            budget.last_start_for(calls, now),
            brute_force_last_start(&budget, calls, now)
        );
        Ok(())
    }

    proptest! {
        /// Whatever the caller does, if it only starts calls the budget allows, no 60 s or
        /// 3600 s window (anywhere) ever holds more calls than the limits.
        #[test]
        fn allowed_calls_never_exceed_either_window(
            per_minute in 1u32..12,
            per_hour in 1u32..40,
            steps in prop::collection::vec((0u64..90_000, any::<bool>(), 0u64..20_000), 1..300),
        ) {
            let mut budget = RateBudget::new(per_minute, per_hour);
            let mut now = 0u64;
            let mut starts = Vec::new();
            for (advance, eager, hold) in steps {
                now += advance;
                if hold > 15_000 {
                    budget.hold_until(now + hold);
                }
                // Either try right now, or jump to the earliest allowed time.
                let at = if eager { now } else { budget.available_at(now) };
                if budget.allows(at) {
                    now = at;
                    budget.record(now);
                    starts.push(now);
                }
            }
            for (window, limit) in [(MINUTE_MS, per_minute), (HOUR_MS, per_hour)] {
                let mut first = 0;
                for last in 0..starts.len() {
                    while starts[last] - starts[first] >= window {
                        first += 1;
                    }
                    prop_assert!(last - first < limit as usize,
                        "{} calls in a {} ms window", last - first + 1, window);
                }
            }
        }

        /// `available_at` is the earliest allowed time: one millisecond earlier is refused.
        #[test]
        fn available_at_is_tight(
            per_minute in 1u32..8,
            per_hour in 1u32..30,
            gaps in prop::collection::vec(0u64..40_000, 1..80),
        ) {
            let mut budget = RateBudget::new(per_minute, per_hour);
            let mut now = 0u64;
            for gap in gaps {
                now += gap;
                let at = budget.available_at(now);
                prop_assert!(at >= now);
                prop_assert!(budget.allows(at));
                if at > now {
                    prop_assert!(!budget.allows(at - 1));
                }
                now = at;
                budget.record(now);
            }
        }

        /// The periodic extrapolation for long schedules agrees with one-by-one simulation.
        #[test]
        fn extrapolated_schedule_matches_simulation(
            per_minute in 1u32..9,
            per_hour in 1u32..25,
            prior in prop::collection::vec(0u64..HOUR_MS, 0..30),
            hold in 0u64..(2 * HOUR_MS),
            calls in 0u64..400,
        ) {
            schedule_matches_simulation(per_minute, per_hour, prior, hold, calls)?;
        }

        /// The same where the minute limit can keep the hour from ever filling
        /// (`60 × per_minute < per_hour`).
        #[test]
        fn extrapolated_schedule_matches_simulation_when_minutes_bind(
            per_minute in 1u32..4,
            per_hour in 30u32..260,
            prior in prop::collection::vec(0u64..HOUR_MS, 0..30),
            hold in 0u64..(2 * HOUR_MS),
            calls in 0u64..1_500,
        ) {
            schedule_matches_simulation(per_minute, per_hour, prior, hold, calls)?;
        }
    }
}
