//! The fleet scan: one `getmissingkbs` call per device, fanned out within the API's budget.
//!
//! `FleetScan` decides *what* to do next and the caller does it: it asks [`FleetScan::next`]
//! whenever something changed (a call finished, a timer fired, the user pressed a button),
//! starts the calls it is told to start, and reports each outcome with
//! [`FleetScan::report`]. Time is injected in milliseconds, so the same code runs in the
//! browser and in a simulation.
//!
//! ```
//! use kbwatch_core::fleet::scan::{CallOutcome, FleetScan, ScanPolicy, ScanStep};
//! use kbwatch_core::DeviceId;
//!
//! let devices: Vec<DeviceId> = ["a", "b"]
//!     .iter()
//!     .map(|c| DeviceId::parse(&c.repeat(40)).unwrap())
//!     .collect();
//! let mut scan = FleetScan::new(devices, ScanPolicy::default(), 42);
//! let mut now = 0;
//! loop {
//!     match scan.next(now) {
//!         // A real caller starts the request here and reports when it completes.
//!         ScanStep::Start(device) => scan.report(&device, CallOutcome::Ok, now + 300),
//!         ScanStep::WaitUntil(t) => now = t,
//!         ScanStep::Busy | ScanStep::Paused => unreachable!("nothing else is in flight"),
//!         ScanStep::Done => break,
//!     }
//!     now += 300;
//! }
//! assert_eq!(scan.progress(now).done, 2);
//! ```
//!
//! Policy:
//! - the [`RateBudget`] (per-minute and per-hour sliding windows) and `concurrency` bound when
//!   a call may start;
//! - 429: every device waits for `Retry-After` exactly (30 s when absent) — the limit is per
//!   app, not per device — and the device goes back to the front of the queue;
//! - 5xx, network errors and timeouts: exponential backoff with full jitter for that device
//!   only, while the others continue;
//! - 401: the caller refreshes the token and the device is retried once; a second 401 means
//!   the user must sign in again, so the device fails and the scan pauses rather than burning
//!   the budget on calls that cannot succeed;
//! - 400/403/404/malformed answers are not retried;
//! - each device ends in exactly one of done, failed or cancelled.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::api_error::{ApiError, DEFAULT_RETRY_AFTER_SECS};
use crate::device::DeviceId;
use crate::fleet::rate::{RateBudget, DEFAULT_PER_HOUR, DEFAULT_PER_MINUTE, HOUR_MS};

/// Why a device's scan failed. Typed all the way to the text layer, which picks the words
/// (and the language).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanFailure {
    /// 400/403/404 or an unreadable answer: retrying would not help.
    Refused(ApiError),
    /// Still 401 after a token refresh: nothing more until the user signs in again.
    SignInNeeded,
    /// 429 or a transient error on every attempt; `last` is the final answer.
    GaveUp { attempts: u32, last: ApiError },
}

impl ScanFailure {
    /// Whether signing in again is what it takes (a 401 after refresh, or no token at all).
    pub fn needs_sign_in(&self) -> bool {
        match self {
            Self::SignInNeeded => true,
            Self::Refused(error) | Self::GaveUp { last: error, .. } => matches!(
                error,
                ApiError::Unauthorized(_) | ApiError::SignInRequired { .. }
            ),
        }
    }

    /// The API's answer behind the failure, if there was one.
    pub fn api_error(&self) -> Option<&ApiError> {
        match self {
            Self::SignInNeeded => None,
            Self::Refused(error) | Self::GaveUp { last: error, .. } => Some(error),
        }
    }
}

/// Calls in flight at once unless `config.json`'s `fleet.concurrency` says otherwise.
pub const DEFAULT_CONCURRENCY: u32 = 4;

/// How a scan fans out. `Default` matches the API's documented limits with a margin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanPolicy {
    pub per_minute: u32,
    pub per_hour: u32,
    /// Calls in flight at once (at least 1).
    pub concurrency: usize,
    /// Calls per device that may end in 429 or a transient error before it is given up
    /// (at least 1). The one retry after a token refresh is not counted.
    pub max_attempts: u32,
    /// First backoff ceiling after a transient error; doubles per attempt.
    pub backoff_base_ms: u64,
    pub backoff_max_ms: u64,
}

impl Default for ScanPolicy {
    fn default() -> Self {
        Self {
            per_minute: DEFAULT_PER_MINUTE,
            per_hour: DEFAULT_PER_HOUR,
            concurrency: DEFAULT_CONCURRENCY as usize,
            max_attempts: 6,
            backoff_base_ms: 1_000,
            backoff_max_ms: 60_000,
        }
    }
}

/// What the caller should do now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanStep {
    /// Call the API for this device now, then [`FleetScan::report`] the outcome.
    Start(DeviceId),
    /// Nothing may start before this time (budget, 429 hold or a device's backoff). Ask again
    /// then, or sooner if a call completes.
    WaitUntil(u64),
    /// As many calls as allowed are in flight: ask again when one completes.
    Busy,
    /// Paused by the user (or because sign-in is needed); in-flight calls may still complete.
    Paused,
    /// Every device is done, failed or cancelled.
    Done,
}

/// The outcome of one call, as far as the scan policy cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallOutcome {
    Ok,
    /// 429.
    Throttled {
        retry_after_secs: Option<u32>,
    },
    /// 5xx, network error or timeout: may go away by itself.
    Transient(ApiError),
    /// Answered 401. Report it once the token has been refreshed: the device starts again right
    /// away (once; a second 401 fails it with [`ScanFailure::SignInNeeded`] and pauses the scan).
    Unauthorized,
    /// 400/403/404 or a malformed answer: retrying would not help.
    Failed(ApiError),
}

impl CallOutcome {
    /// Classifies the app's error model. `SignInRequired` (no token without the user) is
    /// treated like a 401, so a persisting sign-in problem pauses the scan.
    pub fn from_api_error(error: &ApiError) -> Self {
        match error {
            ApiError::Throttled {
                retry_after_secs, ..
            } => Self::Throttled {
                retry_after_secs: *retry_after_secs,
            },
            ApiError::Server { .. } | ApiError::Network(_) | ApiError::Timeout(_) => {
                Self::Transient(error.clone())
            }
            ApiError::Unauthorized(_) | ApiError::SignInRequired { .. } => Self::Unauthorized,
            ApiError::Forbidden { .. }
            | ApiError::NotFound(_)
            | ApiError::BadRequest(_)
            | ApiError::Redirected
            | ApiError::Malformed(_) => Self::Failed(error.clone()),
        }
    }
}

/// Where one device stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceScanState {
    Queued,
    InFlight,
    /// Backing off after a transient error; back in the queue at this time.
    RetryingAt(u64),
    Done,
    Failed(ScanFailure),
    Cancelled,
}

impl DeviceScanState {
    /// Done, failed or cancelled: nothing more will happen to the device.
    pub fn is_final(&self) -> bool {
        matches!(self, Self::Done | Self::Failed(_) | Self::Cancelled)
    }
}

/// Counts for a progress bar. `total == done + failed + cancelled + in_flight + remaining`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanProgress {
    pub total: usize,
    pub done: usize,
    pub failed: usize,
    pub in_flight: usize,
    /// Queued or backing off.
    pub remaining: usize,
    pub cancelled: usize,
    /// Time until every device is settled: the later of what the budget allows (both windows,
    /// their current fill, any hold) plus a call's observed latency, and what the concurrency
    /// allows at the observed latency. `None` while paused; `Some(0)` once finished.
    pub eta_ms: Option<u64>,
    /// The API asked us to wait (429) until this time.
    pub throttled_until: Option<u64>,
}

/// Call counters, for the figures and a "retries" hint in the UI.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScanStats {
    pub calls_started: u64,
    pub throttled: u64,
    pub transient_errors: u64,
    pub unauthorized: u64,
    /// Calls beyond the first per device (and per "retry failed").
    pub retries: u64,
}

/// What a scan would cost, to warn before starting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanPlan {
    /// One call per device (retries not counted).
    pub calls: usize,
    /// Until the last call can start as far as the budget is concerned; add one call's latency.
    pub estimated_ms: u64,
    /// The calls do not fit in what is left of the hourly budget: suggest the bulk path.
    pub exceeds_hourly_budget: bool,
}

#[derive(Debug, Clone)]
struct Slot {
    id: DeviceId,
    state: DeviceScanState,
    /// 429s and transient errors since the device was (re)queued by the user.
    attempts: u32,
    /// The one retry after a 401 has been used.
    token_refreshed: bool,
    started_at: u64,
    /// Started at least once in this round (to count retries).
    tried: bool,
}

/// The per-device fan-out of one scan. See the module documentation.
#[derive(Debug, Clone)]
pub struct FleetScan {
    policy: ScanPolicy,
    budget: RateBudget,
    rng: SmallRng,
    slots: Vec<Slot>,
    index: HashMap<DeviceId, usize>,
    /// Ready to start, front first.
    queue: VecDeque<usize>,
    /// Backing off until the given time.
    backoff: BinaryHeap<Reverse<(u64, usize)>>,
    in_flight: usize,
    paused: bool,
    cancelled: bool,
    needs_sign_in: bool,
    stats: ScanStats,
    latency_total_ms: u64,
    latency_count: u64,
}

impl FleetScan {
    /// A scan of `devices` (duplicates are scanned once) with a fresh budget. `seed` drives the
    /// backoff jitter, so a simulation is reproducible.
    pub fn new(devices: Vec<DeviceId>, policy: ScanPolicy, seed: u64) -> Self {
        let budget = RateBudget::new(policy.per_minute, policy.per_hour);
        Self::with_budget(devices, policy, seed, budget)
    }

    /// Like [`FleetScan::new`], continuing a budget used by earlier scans (its calls of the
    /// last hour and any hold still count); its limits become the policy's.
    pub fn with_budget(
        devices: Vec<DeviceId>,
        policy: ScanPolicy,
        seed: u64,
        mut budget: RateBudget,
    ) -> Self {
        let policy = ScanPolicy {
            concurrency: policy.concurrency.max(1),
            max_attempts: policy.max_attempts.max(1),
            ..policy
        };
        budget.set_limits(policy.per_minute, policy.per_hour);
        let mut slots = Vec::with_capacity(devices.len());
        let mut index = HashMap::with_capacity(devices.len());
        for id in devices {
            if !index.contains_key(&id) {
                index.insert(id.clone(), slots.len());
                slots.push(Slot {
                    id,
                    state: DeviceScanState::Queued,
                    attempts: 0,
                    token_refreshed: false,
                    started_at: 0,
                    tried: false,
                });
            }
        }
        Self {
            policy,
            budget,
            rng: SmallRng::seed_from_u64(seed),
            queue: (0..slots.len()).collect(),
            slots,
            index,
            backoff: BinaryHeap::new(),
            in_flight: 0,
            paused: false,
            cancelled: false,
            needs_sign_in: false,
            stats: ScanStats::default(),
            latency_total_ms: 0,
            latency_count: 0,
        }
    }

    pub fn policy(&self) -> &ScanPolicy {
        &self.policy
    }

    /// The budget, to carry over to the next scan ([`FleetScan::with_budget`]).
    pub fn budget(&self) -> &RateBudget {
        &self.budget
    }

    /// The budget, to record calls made beside the scan (overview, drill-down, bulk pages,
    /// probes): the tenant's limit is one, whoever spends it.
    pub fn budget_mut(&mut self) -> &mut RateBudget {
        &mut self.budget
    }

    /// What to do at `now_ms`. Call again after every `Start` (several calls may start at
    /// once), after every [`FleetScan::report`], and when a `WaitUntil` time is reached.
    pub fn next(&mut self, now_ms: u64) -> ScanStep {
        if self.cancelled {
            return if self.in_flight > 0 {
                ScanStep::Busy
            } else {
                ScanStep::Done
            };
        }
        if self.queue.is_empty() && self.backoff.is_empty() && self.in_flight == 0 {
            return ScanStep::Done;
        }
        if self.paused {
            return ScanStep::Paused;
        }
        self.promote_due_backoffs(now_ms);
        if self.queue.is_empty() {
            return match self.backoff.peek() {
                Some(Reverse((until, _))) => ScanStep::WaitUntil(*until),
                None if self.in_flight > 0 => ScanStep::Busy,
                None => ScanStep::Done,
            };
        }
        if self.in_flight >= self.policy.concurrency {
            return ScanStep::Busy;
        }
        let at = self.budget.available_at(now_ms);
        if at > now_ms {
            return ScanStep::WaitUntil(at);
        }
        let Some(slot_index) = self.queue.pop_front() else {
            return ScanStep::Done;
        };
        self.budget.record(now_ms);
        self.in_flight += 1;
        self.stats.calls_started += 1;
        let slot = &mut self.slots[slot_index];
        if slot.tried {
            self.stats.retries += 1;
        }
        slot.tried = true;
        slot.state = DeviceScanState::InFlight;
        slot.started_at = now_ms;
        ScanStep::Start(slot.id.clone())
    }

    /// The outcome of a call started by `Start(device)`. Reports for devices that are not in
    /// flight (unknown, or reported twice) are ignored.
    pub fn report(&mut self, device: &DeviceId, outcome: CallOutcome, now_ms: u64) {
        let Some(&slot_index) = self.index.get(device) else {
            return;
        };
        if self.slots[slot_index].state != DeviceScanState::InFlight {
            return;
        }
        self.in_flight -= 1;
        let started_at = self.slots[slot_index].started_at;
        self.latency_total_ms += now_ms.saturating_sub(started_at);
        self.latency_count += 1;

        let retry = match outcome {
            CallOutcome::Ok => {
                self.slots[slot_index].state = DeviceScanState::Done;
                return;
            }
            CallOutcome::Failed(error) => {
                self.slots[slot_index].state = DeviceScanState::Failed(ScanFailure::Refused(error));
                return;
            }
            CallOutcome::Throttled { retry_after_secs } => {
                self.stats.throttled += 1;
                let secs = retry_after_secs.unwrap_or(DEFAULT_RETRY_AFTER_SECS);
                self.budget
                    .hold_until(now_ms.saturating_add(u64::from(secs) * 1_000));
                self.count_attempt(slot_index, || ApiError::Throttled {
                    detail: Default::default(),
                    retry_after_secs,
                })
                .map(|()| Retry::Front)
            }
            CallOutcome::Transient(error) => {
                self.stats.transient_errors += 1;
                let attempt = self.slots[slot_index].attempts + 1;
                self.count_attempt(slot_index, || error)
                    .map(|()| Retry::At(now_ms.saturating_add(self.backoff_delay(attempt))))
            }
            CallOutcome::Unauthorized => {
                self.stats.unauthorized += 1;
                let slot = &mut self.slots[slot_index];
                if slot.token_refreshed {
                    slot.state = DeviceScanState::Failed(ScanFailure::SignInNeeded);
                    // Every further call would fail the same way: stop until the user acts.
                    self.needs_sign_in = true;
                    self.paused = true;
                    None
                } else {
                    slot.token_refreshed = true;
                    Some(Retry::Front)
                }
            }
        };
        let Some(retry) = retry else {
            return;
        };
        if self.cancelled {
            self.slots[slot_index].state = DeviceScanState::Cancelled;
            return;
        }
        match retry {
            Retry::Front => {
                self.slots[slot_index].state = DeviceScanState::Queued;
                self.queue.push_front(slot_index);
            }
            Retry::At(at) => {
                self.slots[slot_index].state = DeviceScanState::RetryingAt(at);
                self.backoff.push(Reverse((at, slot_index)));
            }
        }
    }

    /// Counts a 429 or transient error; `None` (and the device failed with the `last` error)
    /// once the attempts are used up.
    fn count_attempt(&mut self, slot_index: usize, last: impl FnOnce() -> ApiError) -> Option<()> {
        let max_attempts = self.policy.max_attempts;
        let slot = &mut self.slots[slot_index];
        slot.attempts += 1;
        if slot.attempts >= max_attempts {
            slot.state = DeviceScanState::Failed(ScanFailure::GaveUp {
                attempts: max_attempts,
                last: last(),
            });
            None
        } else {
            Some(())
        }
    }

    /// Full jitter: uniform in `[0, min(max, base * 2^(attempt-1))]`, so devices that failed
    /// together do not come back together.
    fn backoff_delay(&mut self, attempt: u32) -> u64 {
        let exponent = attempt.saturating_sub(1).min(32);
        let ceiling = self
            .policy
            .backoff_base_ms
            .saturating_mul(1u64 << exponent)
            .min(self.policy.backoff_max_ms);
        self.rng.random_range(0..=ceiling)
    }

    /// Backoffs that have run out go to the front of the queue, earliest first.
    fn promote_due_backoffs(&mut self, now_ms: u64) {
        let mut due = Vec::new();
        while let Some(&Reverse((until, slot_index))) = self.backoff.peek() {
            if until > now_ms {
                break;
            }
            self.backoff.pop();
            // Skip entries made obsolete by cancel/retry.
            if self.slots[slot_index].state == DeviceScanState::RetryingAt(until) {
                self.slots[slot_index].state = DeviceScanState::Queued;
                due.push(slot_index);
            }
        }
        for slot_index in due.into_iter().rev() {
            self.queue.push_front(slot_index);
        }
    }

    /// Nothing new starts until [`FleetScan::resume`]; in-flight calls still complete.
    pub fn pause(&mut self) {
        self.paused = true;
    }

    /// Continues after [`FleetScan::pause`] or after sign-in (then also
    /// [`FleetScan::retry_failed`]).
    pub fn resume(&mut self) {
        self.paused = false;
        self.needs_sign_in = false;
    }

    pub fn is_paused(&self) -> bool {
        self.paused
    }

    /// The scan paused itself because a device still got 401 after a token refresh.
    pub fn needs_sign_in(&self) -> bool {
        self.needs_sign_in
    }

    /// Nothing new starts; queued and backing-off devices are marked cancelled (and listed by
    /// [`FleetScan::cancelled`]). In-flight results are still accepted; one that would be
    /// retried counts as cancelled instead.
    pub fn cancel(&mut self) {
        self.cancelled = true;
        for slot_index in self.queue.drain(..) {
            self.slots[slot_index].state = DeviceScanState::Cancelled;
        }
        for Reverse((until, slot_index)) in self.backoff.drain() {
            if self.slots[slot_index].state == DeviceScanState::RetryingAt(until) {
                self.slots[slot_index].state = DeviceScanState::Cancelled;
            }
        }
    }

    /// Failed devices go back to the front of the queue from `now_ms` on, with fresh
    /// attempts. Also after [`FleetScan::cancel`]: the user asked for these devices again
    /// (cancelled ones stay cancelled). Returns how many were re-queued.
    pub fn retry_failed(&mut self, now_ms: u64) -> usize {
        let mut count = 0;
        for (slot_index, slot) in self.slots.iter_mut().enumerate() {
            if let DeviceScanState::Failed(_) = slot.state {
                slot.state = DeviceScanState::RetryingAt(now_ms);
                slot.attempts = 0;
                slot.token_refreshed = false;
                slot.tried = false;
                self.backoff.push(Reverse((now_ms, slot_index)));
                count += 1;
            }
        }
        if count > 0 {
            self.cancelled = false;
        }
        count
    }

    /// Every device is done, failed or cancelled, and nothing is in flight.
    pub fn is_finished(&self) -> bool {
        self.in_flight == 0 && self.slots.iter().all(|s| s.state.is_final())
    }

    pub fn device_state(&self, device: &DeviceId) -> Option<&DeviceScanState> {
        self.index.get(device).map(|&i| &self.slots[i].state)
    }

    /// Failed devices with the reason, in the order they were given.
    pub fn failures(&self) -> Vec<(DeviceId, ScanFailure)> {
        self.slots
            .iter()
            .filter_map(|s| match &s.state {
                DeviceScanState::Failed(reason) => Some((s.id.clone(), reason.clone())),
                _ => None,
            })
            .collect()
    }

    /// Devices not scanned because the scan was cancelled.
    pub fn cancelled(&self) -> Vec<DeviceId> {
        self.slots
            .iter()
            .filter(|s| s.state == DeviceScanState::Cancelled)
            .map(|s| s.id.clone())
            .collect()
    }

    pub fn stats(&self) -> ScanStats {
        self.stats
    }

    pub fn progress(&self, now_ms: u64) -> ScanProgress {
        let (mut done, mut failed, mut cancelled, mut remaining) = (0, 0, 0, 0);
        for slot in &self.slots {
            match slot.state {
                DeviceScanState::Done => done += 1,
                DeviceScanState::Failed(_) => failed += 1,
                DeviceScanState::Cancelled => cancelled += 1,
                DeviceScanState::Queued | DeviceScanState::RetryingAt(_) => remaining += 1,
                DeviceScanState::InFlight => {}
            }
        }
        ScanProgress {
            total: self.slots.len(),
            done,
            failed,
            in_flight: self.in_flight,
            remaining,
            cancelled,
            eta_ms: self.eta(remaining, now_ms),
            throttled_until: self.budget.held_until(now_ms),
        }
    }

    fn eta(&self, remaining: usize, now_ms: u64) -> Option<u64> {
        if self.in_flight == 0 && (remaining == 0 || self.cancelled) {
            return Some(0);
        }
        if self.paused {
            return None;
        }
        let latency = self
            .latency_total_ms
            .checked_div(self.latency_count)
            .unwrap_or(0);
        if self.cancelled || remaining == 0 {
            return Some(latency);
        }
        let calls = remaining as u64;
        let by_budget = self.budget.last_start_for(calls, now_ms) - now_ms + latency;
        let rounds = (calls + self.in_flight as u64).div_ceil(self.policy.concurrency as u64);
        let by_concurrency = rounds.saturating_mul(latency);
        Some(by_budget.max(by_concurrency))
    }

    /// What scanning `devices` devices would cost with a fresh budget of which
    /// `already_used_this_hour` calls are taken — assumed made just now, the cautious reading.
    pub fn plan(devices: usize, policy: ScanPolicy, already_used_this_hour: u32) -> ScanPlan {
        let mut budget = RateBudget::new(policy.per_minute, policy.per_hour);
        for _ in 0..already_used_this_hour.min(budget.per_hour()) {
            budget.record(0);
        }
        Self::plan_with_budget(devices, &budget, 0)
    }

    /// What scanning `devices` devices would cost against a budget in use (exact fill of both
    /// windows and any hold).
    pub fn plan_with_budget(devices: usize, budget: &RateBudget, now_ms: u64) -> ScanPlan {
        let used = u64::from(budget.calls_in_last(HOUR_MS, now_ms));
        let calls = devices as u64;
        ScanPlan {
            calls: devices,
            estimated_ms: budget.last_start_for(calls, now_ms) - now_ms,
            exceeds_hourly_budget: used + calls > u64::from(budget.per_hour()),
        }
    }
}

enum Retry {
    Front,
    At(u64),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api_error::ErrorDetail;
    use crate::fleet::rate::MINUTE_MS;
    use proptest::prelude::*;

    fn ids(n: usize) -> Vec<DeviceId> {
        (0..n)
            .map(|i| DeviceId::parse(&format!("{i:040x}")).unwrap())
            .collect()
    }

    fn start(scan: &mut FleetScan, now: u64) -> DeviceId {
        match scan.next(now) {
            ScanStep::Start(id) => id,
            other => panic!("expected a start at {now}, got {other:?}"),
        }
    }

    fn policy() -> ScanPolicy {
        ScanPolicy::default()
    }

    #[test]
    fn concurrency_is_bounded() {
        let mut scan = FleetScan::new(ids(10), policy(), 1);
        let started: Vec<_> = (0..4).map(|_| start(&mut scan, 0)).collect();
        assert_eq!(scan.next(0), ScanStep::Busy);
        scan.report(&started[0], CallOutcome::Ok, 200);
        start(&mut scan, 200);
        assert_eq!(scan.next(200), ScanStep::Busy);
        let p = scan.progress(200);
        assert_eq!((p.done, p.in_flight, p.remaining), (1, 4, 5));
    }

    #[test]
    fn budget_makes_the_scan_wait() {
        let p = ScanPolicy {
            per_minute: 2,
            concurrency: 10,
            ..policy()
        };
        let mut scan = FleetScan::new(ids(3), p, 1);
        let a = start(&mut scan, 0);
        start(&mut scan, 0);
        assert_eq!(scan.next(0), ScanStep::WaitUntil(MINUTE_MS));
        scan.report(&a, CallOutcome::Ok, 100);
        assert_eq!(scan.next(100), ScanStep::WaitUntil(MINUTE_MS));
        start(&mut scan, MINUTE_MS);
    }

    #[test]
    fn throttling_holds_every_device_for_retry_after_exactly() {
        let mut scan = FleetScan::new(ids(3), policy(), 1);
        let a = start(&mut scan, 0);
        scan.report(
            &a,
            CallOutcome::Throttled {
                retry_after_secs: Some(7),
            },
            1_000,
        );
        assert_eq!(scan.next(1_000), ScanStep::WaitUntil(8_000));
        assert_eq!(scan.next(7_999), ScanStep::WaitUntil(8_000));
        assert_eq!(scan.progress(7_999).throttled_until, Some(8_000));
        // The throttled device goes first again.
        assert_eq!(start(&mut scan, 8_000), a);
        assert_eq!(scan.device_state(&a), Some(&DeviceScanState::InFlight));
    }

    #[test]
    fn throttling_without_retry_after_waits_the_default() {
        let mut scan = FleetScan::new(ids(1), policy(), 1);
        let a = start(&mut scan, 0);
        scan.report(
            &a,
            CallOutcome::Throttled {
                retry_after_secs: None,
            },
            500,
        );
        assert_eq!(scan.next(500), ScanStep::WaitUntil(30_500));
    }

    #[test]
    fn transient_errors_back_off_that_device_only() {
        let mut scan = FleetScan::new(ids(3), policy(), 7);
        let a = start(&mut scan, 0);
        scan.report(
            &a,
            CallOutcome::Transient(ApiError::from_response(503, None, "")),
            100,
        );
        let Some(DeviceScanState::RetryingAt(at)) = scan.device_state(&a).cloned() else {
            panic!("{:?}", scan.device_state(&a));
        };
        assert!(
            (100..=1_100).contains(&at),
            "first backoff within base: {at}"
        );
        // The others go on meanwhile.
        let b = start(&mut scan, 100);
        let c = start(&mut scan, 100);
        assert!(b != a && c != a);
        if at > 100 {
            assert_eq!(scan.next(100), ScanStep::WaitUntil(at));
        }
        assert_eq!(start(&mut scan, at), a);
    }

    #[test]
    fn transient_errors_give_up_after_max_attempts_with_the_last_error() {
        let p = ScanPolicy {
            max_attempts: 3,
            ..policy()
        };
        let mut scan = FleetScan::new(ids(1), p, 3);
        let mut now = 0;
        for attempt in 1..=3 {
            let a = loop {
                match scan.next(now) {
                    ScanStep::Start(id) => break id,
                    ScanStep::WaitUntil(t) => now = t,
                    other => panic!("{other:?}"),
                }
            };
            scan.report(
                &a,
                CallOutcome::Transient(ApiError::Server {
                    status: 500 + attempt,
                    detail: ErrorDetail::default(),
                    html: false,
                }),
                now + 10,
            );
            now += 10;
        }
        assert_eq!(scan.next(now), ScanStep::Done);
        let failures = scan.failures();
        assert_eq!(failures.len(), 1);
        assert_eq!(
            failures[0].1,
            ScanFailure::GaveUp {
                attempts: 3,
                last: ApiError::Server {
                    status: 503,
                    detail: ErrorDetail::default(),
                    html: false,
                },
            }
        );
        assert_eq!(scan.stats().retries, 2);
    }

    #[test]
    fn backoff_ceiling_doubles_and_is_capped() {
        let p = ScanPolicy {
            backoff_base_ms: 1_000,
            backoff_max_ms: 5_000,
            ..policy()
        };
        let mut scan = FleetScan::new(ids(1), p, 11);
        for (attempt, ceiling) in [(1, 1_000), (2, 2_000), (3, 4_000), (4, 5_000), (30, 5_000)] {
            let delays: Vec<u64> = (0..200).map(|_| scan.backoff_delay(attempt)).collect();
            assert!(delays.iter().all(|&d| d <= ceiling));
            // Full jitter spreads over the whole range.
            assert!(delays.iter().any(|&d| d < ceiling / 4));
            assert!(delays.iter().any(|&d| d > ceiling * 3 / 4));
        }
    }

    #[test]
    fn unauthorized_is_retried_once_then_pauses_for_sign_in() {
        let mut scan = FleetScan::new(ids(3), policy(), 1);
        let a = start(&mut scan, 0);
        scan.report(&a, CallOutcome::Unauthorized, 100);
        assert_eq!(start(&mut scan, 100), a);
        assert_eq!(scan.stats().retries, 1);
        scan.report(&a, CallOutcome::Unauthorized, 200);
        assert_eq!(
            scan.failures(),
            vec![(a.clone(), ScanFailure::SignInNeeded)]
        );
        assert!(scan.needs_sign_in());
        assert_eq!(scan.next(200), ScanStep::Paused);
        assert_eq!(scan.progress(200).eta_ms, None);
        // After signing in: resume and retry the failed device.
        scan.resume();
        assert_eq!(scan.retry_failed(300), 1);
        assert!(!scan.needs_sign_in());
        assert_eq!(start(&mut scan, 300), a);
    }

    #[test]
    fn permanent_failures_are_not_retried() {
        let mut scan = FleetScan::new(ids(2), policy(), 1);
        let a = start(&mut scan, 0);
        let b = start(&mut scan, 0);
        let not_found = ApiError::NotFound(ErrorDetail::default());
        scan.report(&a, CallOutcome::Failed(not_found.clone()), 50);
        scan.report(&b, CallOutcome::Ok, 60);
        assert_eq!(scan.next(60), ScanStep::Done);
        assert_eq!(scan.failures(), vec![(a, ScanFailure::Refused(not_found))]);
        assert_eq!(scan.stats().calls_started, 2);
        assert!(scan.is_finished());
    }

    #[test]
    fn pause_and_resume() {
        let mut scan = FleetScan::new(ids(3), policy(), 1);
        let a = start(&mut scan, 0);
        scan.pause();
        assert_eq!(scan.next(10), ScanStep::Paused);
        // A call in flight when pausing still counts.
        scan.report(&a, CallOutcome::Ok, 20);
        assert_eq!(scan.next(20), ScanStep::Paused);
        assert_eq!(scan.progress(20).done, 1);
        scan.resume();
        let b = start(&mut scan, 30);
        let c = start(&mut scan, 30);
        scan.pause();
        scan.report(&b, CallOutcome::Ok, 40);
        scan.report(&c, CallOutcome::Ok, 40);
        // Nothing left: finished even though paused.
        assert_eq!(scan.next(50), ScanStep::Done);
        assert_eq!(scan.progress(50).eta_ms, Some(0));
    }

    #[test]
    fn cancel_reports_every_device_and_accepts_in_flight_results() {
        let mut scan = FleetScan::new(ids(6), policy(), 1);
        let a = start(&mut scan, 0);
        let b = start(&mut scan, 0);
        let c = start(&mut scan, 0);
        scan.report(&c, CallOutcome::Transient(ApiError::Timeout(30)), 10);
        scan.cancel();
        assert_eq!(scan.next(20), ScanStep::Busy);
        scan.report(&a, CallOutcome::Ok, 30);
        // Would be retried, but the scan is cancelled.
        scan.report(
            &b,
            CallOutcome::Throttled {
                retry_after_secs: Some(1),
            },
            40,
        );
        assert_eq!(scan.next(50), ScanStep::Done);
        let p = scan.progress(50);
        assert_eq!(
            (p.done, p.failed, p.cancelled, p.remaining, p.in_flight),
            (1, 0, 5, 0, 0)
        );
        assert_eq!(p.eta_ms, Some(0));
        assert_eq!(scan.cancelled().len(), 5);
        assert!(scan.cancelled().contains(&c));
        assert!(scan.is_finished());
    }

    #[test]
    fn retry_failed_gives_fresh_attempts() {
        let p = ScanPolicy {
            max_attempts: 1,
            ..policy()
        };
        let mut scan = FleetScan::new(ids(2), p, 1);
        let a = start(&mut scan, 0);
        let b = start(&mut scan, 0);
        scan.report(
            &a,
            CallOutcome::Transient(ApiError::from_response(500, None, "")),
            10,
        );
        scan.report(&b, CallOutcome::Ok, 10);
        assert_eq!(scan.next(10), ScanStep::Done);
        assert_eq!(scan.failures().len(), 1);
        assert_eq!(scan.retry_failed(5_000), 1);
        assert_eq!(scan.next(4_999), ScanStep::WaitUntil(5_000));
        assert_eq!(start(&mut scan, 5_000), a);
        scan.report(&a, CallOutcome::Ok, 5_100);
        assert_eq!(scan.next(5_100), ScanStep::Done);
        assert!(scan.failures().is_empty());
        // A retry the user asked for starts a fresh round: not an automatic retry.
        assert_eq!(scan.stats().retries, 0);
        assert_eq!(scan.stats().calls_started, 3);
    }

    #[test]
    fn stray_reports_are_ignored() {
        let mut scan = FleetScan::new(ids(2), policy(), 1);
        let a = start(&mut scan, 0);
        scan.report(&a, CallOutcome::Ok, 10);
        scan.report(
            &a,
            CallOutcome::Failed(ApiError::NotFound(ErrorDetail::default())),
            20,
        );
        scan.report(&ids(3)[2], CallOutcome::Ok, 20);
        let p = scan.progress(20);
        assert_eq!((p.done, p.failed, p.in_flight, p.remaining), (1, 0, 0, 1));
    }

    #[test]
    fn duplicate_devices_are_scanned_once() {
        let mut devices = ids(2);
        devices.push(devices[0].clone());
        let scan = FleetScan::new(devices, policy(), 1);
        assert_eq!(scan.progress(0).total, 2);
    }

    #[test]
    fn eta_comes_from_the_budget_and_its_fill() {
        let scan = FleetScan::new(ids(1_400), policy(), 1);
        // 1,400 calls at 90/min: the last starts at minute 15.
        assert_eq!(scan.progress(0).eta_ms, Some(15 * MINUTE_MS));
        let scan = FleetScan::new(ids(1_401), policy(), 1);
        assert_eq!(scan.progress(0).eta_ms, Some(HOUR_MS));

        // A budget already used by an earlier scan pushes the estimate out.
        let mut budget = RateBudget::default();
        for _ in 0..1_000 {
            budget.record(0);
        }
        let scan = FleetScan::with_budget(ids(500), policy(), 1, budget);
        // 400 calls fit in this hour; the last 100 wait for the earlier 1,000 to age out.
        assert_eq!(scan.progress(MINUTE_MS).eta_ms, Some(HOUR_MS));
    }

    #[test]
    fn eta_accounts_for_slow_calls() {
        let p = ScanPolicy {
            concurrency: 1,
            ..policy()
        };
        let mut scan = FleetScan::new(ids(11), p, 1);
        let a = start(&mut scan, 0);
        scan.report(&a, CallOutcome::Ok, 10_000);
        // Ten more calls of 10 s one at a time: 100 s, although the budget would allow 1 s.
        assert_eq!(scan.progress(10_000).eta_ms, Some(100_000));
    }

    #[test]
    fn plan_warns_when_the_hour_is_not_enough() {
        let small = FleetScan::plan(500, policy(), 0);
        assert_eq!(small.calls, 500);
        assert!(!small.exceeds_hourly_budget);
        assert_eq!(small.estimated_ms, 5 * MINUTE_MS);

        let used = FleetScan::plan(500, policy(), 1_000);
        assert!(used.exceeds_hourly_budget);
        assert!(used.estimated_ms >= HOUR_MS);

        let big = FleetScan::plan(5_000, policy(), 0);
        assert!(big.exceeds_hourly_budget);
        // 3 full hours of 1,400, then 800 more at 90/min (the last at minute 8).
        assert_eq!(big.estimated_ms, 3 * HOUR_MS + 8 * MINUTE_MS);
    }

    #[test]
    fn api_errors_are_classified() {
        let throttled = ApiError::from_response(429, Some("12"), "");
        assert_eq!(
            CallOutcome::from_api_error(&throttled),
            CallOutcome::Throttled {
                retry_after_secs: Some(12)
            }
        );
        for transient in [
            ApiError::from_response(503, None, ""),
            ApiError::Network("offline".into()),
            ApiError::Timeout(30),
        ] {
            assert!(matches!(
                CallOutcome::from_api_error(&transient),
                CallOutcome::Transient(_)
            ));
        }
        assert_eq!(
            CallOutcome::from_api_error(&ApiError::Unauthorized(ErrorDetail::default())),
            CallOutcome::Unauthorized
        );
        let body =
            r#"{"error":{"code":"NotFound","message":"Machine 123 was not found","target":"x"}}"#;
        assert_eq!(
            CallOutcome::from_api_error(&ApiError::from_response(404, None, body)),
            CallOutcome::Failed(ApiError::from_response(404, None, body))
        );
        assert!(matches!(
            CallOutcome::from_api_error(&ApiError::from_response(403, None, "")),
            CallOutcome::Failed(_)
        ));
    }

    #[derive(Debug, Clone)]
    enum Action {
        Next,
        Complete(usize, u8),
        Advance(u64),
        Pause,
        Resume,
        Cancel,
        RetryFailed,
    }

    fn action() -> impl Strategy<Value = Action> {
        prop_oneof![
            6 => Just(Action::Next),
            6 => (any::<usize>(), 0u8..5).prop_map(|(i, o)| Action::Complete(i, o)),
            3 => (0u64..120_000).prop_map(Action::Advance),
            1 => Just(Action::Pause),
            1 => Just(Action::Resume),
            1 => Just(Action::Cancel),
            1 => Just(Action::RetryFailed),
        ]
    }

    proptest! {
        /// Whatever happens, the counts add up, nothing exceeds concurrency, every device is
        /// in exactly one state, and driving the scan to the end settles every device.
        #[test]
        fn every_device_is_accounted_for(
            n in 0usize..12,
            actions in prop::collection::vec(action(), 0..200),
            seed in any::<u64>(),
        ) {
            let p = ScanPolicy { per_minute: 5, per_hour: 20, concurrency: 3, max_attempts: 3, ..ScanPolicy::default() };
            let mut scan = FleetScan::new(ids(n), p, seed);
            let mut now = 0u64;
            let mut in_flight: Vec<DeviceId> = Vec::new();
            let outcome = |o: u8| match o {
                0 => CallOutcome::Ok,
                1 => CallOutcome::Throttled { retry_after_secs: Some(2) },
                2 => CallOutcome::Transient(ApiError::from_response(502, None, "")),
                3 => CallOutcome::Unauthorized,
                _ => CallOutcome::Failed(ApiError::from_response(400, None, "")),
            };
            let check = |scan: &FleetScan, in_flight: &[DeviceId], now: u64| -> Result<(), TestCaseError> {
                let pr = scan.progress(now);
                prop_assert_eq!(pr.total, n);
                prop_assert_eq!(pr.done + pr.failed + pr.cancelled + pr.in_flight + pr.remaining, n);
                prop_assert_eq!(pr.in_flight, in_flight.len());
                prop_assert!(pr.in_flight <= 3);
                Ok(())
            };
            for a in actions {
                match a {
                    Action::Next => {
                        if let ScanStep::Start(id) = scan.next(now) {
                            prop_assert!(!in_flight.contains(&id));
                            in_flight.push(id);
                        }
                    }
                    Action::Complete(i, o) if !in_flight.is_empty() => {
                        let id = in_flight.swap_remove(i % in_flight.len());
                        scan.report(&id, outcome(o), now);
                    }
                    Action::Complete(..) => {}
                    Action::Advance(ms) => now += ms,
                    Action::Pause => scan.pause(),
                    Action::Resume => scan.resume(),
                    Action::Cancel => scan.cancel(),
                    Action::RetryFailed => { scan.retry_failed(now); }
                }
                check(&scan, &in_flight, now)?;
            }
            // Drive to the end: everything completes OK from now on.
            scan.resume();
            for _ in 0..10_000 {
                match scan.next(now) {
                    ScanStep::Start(id) => in_flight.push(id),
                    ScanStep::WaitUntil(t) => {
                        prop_assert!(t > now);
                        now = t;
                    }
                    ScanStep::Busy => {
                        let id = in_flight.pop().expect("busy means something is in flight");
                        scan.report(&id, CallOutcome::Ok, now);
                    }
                    ScanStep::Paused => prop_assert!(false, "resumed scan reported Paused"),
                    ScanStep::Done => break,
                }
                check(&scan, &in_flight, now)?;
            }
            prop_assert!(in_flight.is_empty());
            prop_assert!(scan.is_finished());
            let pr = scan.progress(now);
            prop_assert_eq!(pr.done + pr.failed + pr.cancelled, n);
            prop_assert_eq!(pr.failed, scan.failures().len());
            prop_assert_eq!(pr.cancelled, scan.cancelled().len());
        }
    }
}
