//! Drives `kbwatch_core::fleet::scan::FleetScan` in the browser: performs the calls it asks
//! for, reports their outcomes, and feeds results into the cache and the fleet aggregate.
//! The policy (budgets, retries, backoff) is entirely in core; this module only waits and
//! calls.

use std::collections::HashMap;

use gloo_timers::future::TimeoutFuture;
use kbwatch_core::config::FleetSettings;
use kbwatch_core::fallback::KbSource;
use kbwatch_core::fleet::aggregate::FleetAggregate;
use kbwatch_core::fleet::budgets::BudgetSet;
use kbwatch_core::fleet::bulk::{BulkAccumulator, BulkStats};
use kbwatch_core::fleet::cache::ScanCache;
use kbwatch_core::fleet::plan::{plan, Plan, PlanInput, Question};
use kbwatch_core::fleet::rate::{RateBudget, HOUR_MS};
use kbwatch_core::fleet::scan::{
    CallOutcome, FleetScan, ScanFailure, ScanPlan, ScanPolicy, ScanProgress, ScanStep,
};
use kbwatch_core::fleet::storage_keys::{is_fleet_cache_key, other_fleet_caches, StorageScope};
use kbwatch_core::{ApiError, Device, DeviceId, MissingKb};
use leptos::prelude::*;
use leptos::task::spawn_local;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::api::ApiClient;
use crate::clock::now_ms;
use crate::product_overview::ProductScan;

// Storage keys name their owner (`kbwatch_core::fleet::storage_keys`): the per-device results
// in sessionStorage (data only, never tokens) are the signed-in account's; the budget's recent
// call times in localStorage (times only), so a reload or a second tab does not start a fresh
// budget, are the tenant application's, nested class budgets beside them.

/// Which path produced the data on screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataSource {
    /// One `getmissingkbs` call per device.
    PerDevice,
    /// `machinesVulnerabilities`, page by page.
    Bulk(BulkStats),
}

/// Where the fleet scanner lives: made the first time the fleet or wall view asks for it, and
/// kept for the rest of the session (a scan goes on while the analyst looks at one device).
/// It is made under the owner of the slot, not of the page that asks first, so leaving that
/// page does not dispose of it. With the `split` feature the scanner's code (cache, budget,
/// aggregation) only arrives with those views.
#[derive(Clone, Copy)]
pub struct ScannerSlot {
    scanner: StoredValue<Option<FleetScanner>>,
    products: StoredValue<Option<ProductScan>>,
    recipe: StoredValue<(ApiClient, FleetSettings, Owner)>,
}

impl ScannerSlot {
    pub fn new(client: ApiClient, settings: FleetSettings) -> Self {
        let owner = Owner::current().unwrap_or_default();
        Self {
            scanner: StoredValue::new(None),
            products: StoredValue::new(None),
            recipe: StoredValue::new((client, settings, owner)),
        }
    }

    pub fn scanner(&self) -> FleetScanner {
        if let Some(scanner) = self.scanner.get_value() {
            return scanner;
        }
        let (client, settings, owner) = self.recipe.get_value();
        let scanner = owner.with(|| FleetScanner::new(client, settings));
        self.scanner.set_value(Some(scanner));
        scanner
    }

    /// The per-product overview and drill-down, spending the scanner's budget.
    pub fn product_scan(&self) -> ProductScan {
        if let Some(products) = self.products.get_value() {
            return products;
        }
        let scanner = self.scanner();
        let (client, _, owner) = self.recipe.get_value();
        let products = owner.with(|| ProductScan::new(client, scanner));
        self.products.set_value(Some(products));
        products
    }

    /// Forgets every fleet result of this session, in memory and in sessionStorage: on
    /// sign-out and when a token is replaced, so the next person does not see them.
    pub fn forget_data(&self) {
        if let Some(products) = self.products.get_value() {
            products.forget();
        }
        match self.scanner.get_value() {
            Some(scanner) => scanner.clear_cache(),
            None => remove_stored_caches(),
        }
    }
}

/// Reactive handle on the fleet scan; cheap to copy into closures.
#[derive(Clone, Copy)]
pub struct FleetScanner {
    pub aggregate: RwSignal<FleetAggregate>,
    pub progress: RwSignal<Option<ScanProgress>>,
    pub failures: RwSignal<Vec<(DeviceId, ScanFailure)>>,
    pub running: RwSignal<bool>,
    pub paused: RwSignal<bool>,
    /// Oldest fetch time among the devices shown (for "data age").
    pub oldest_fetch_ms: RwSignal<Option<u64>>,
    /// Devices in the current scope: the figures cover the fleet only once all are read.
    pub in_scope: RwSignal<usize>,
    /// Devices of this session's scan whose KBs came from `machinesVulnerabilities` because
    /// the per-device call was refused (no update names for those).
    pub from_vulnerabilities: RwSignal<usize>,
    /// The cache could not be written to sessionStorage (quota): kept in memory only.
    pub storage_full: RwSignal<bool>,
    pub source: RwSignal<DataSource>,
    /// Bulk path: pages read so far while it runs, and its failure.
    pub bulk_pages: RwSignal<Option<u64>>,
    pub bulk_error: RwSignal<Option<ApiError>>,
    scan: StoredValue<Option<FleetScan>>,
    budget: StoredValue<RateBudget>,
    cache: StoredValue<ScanCache<Vec<MissingKb>>>,
    scope: StoredValue<HashMap<DeviceId, Device>>,
    generation: StoredValue<u64>,
    max_age_ms: StoredValue<u64>,
    settings: FleetSettings,
    client: StoredValue<ApiClient>,
}

impl FleetScanner {
    pub fn new(client: ApiClient, settings: FleetSettings) -> Self {
        let scope = client.storage_scope();
        Self {
            aggregate: RwSignal::new(FleetAggregate::new()),
            progress: RwSignal::new(None),
            failures: RwSignal::new(Vec::new()),
            running: RwSignal::new(false),
            paused: RwSignal::new(false),
            oldest_fetch_ms: RwSignal::new(None),
            in_scope: RwSignal::new(0),
            from_vulnerabilities: RwSignal::new(0),
            storage_full: RwSignal::new(false),
            source: RwSignal::new(DataSource::PerDevice),
            bulk_pages: RwSignal::new(None),
            bulk_error: RwSignal::new(None),
            scan: StoredValue::new(None),
            budget: StoredValue::new(load_budget(&scope, settings.per_minute, settings.per_hour)),
            cache: StoredValue::new(load_cache(&scope)),
            scope: StoredValue::new(HashMap::new()),
            generation: StoredValue::new(0),
            max_age_ms: StoredValue::new(u64::from(settings.max_age_minutes) * 60_000),
            settings,
            client: StoredValue::new(client),
        }
    }

    fn policy(&self) -> ScanPolicy {
        ScanPolicy {
            per_minute: self.settings.per_minute,
            per_hour: self.settings.per_hour,
            concurrency: self.settings.concurrency as usize,
            ..ScanPolicy::default()
        }
    }

    fn max_age_ms(&self) -> u64 {
        self.max_age_ms.get_value()
    }

    /// Results older than this count as stale (a wall uses its refresh interval).
    pub fn set_max_age_ms(&self, max_age_ms: u64) {
        self.max_age_ms.set_value(max_age_ms);
    }

    /// Shows what the cache knows about `devices` without any call, and returns the devices
    /// whose results are missing or older than the freshness window.
    pub fn set_scope(&self, devices: &[Device]) -> Vec<DeviceId> {
        let now = now_ms();
        let max_age = self.max_age_ms();
        let mut aggregate = FleetAggregate::new();
        let (stale, oldest) = self.cache.with_value(|cache| {
            for device in devices {
                if let Some(kbs) = cache.get_fresh(&device.id, now, max_age) {
                    aggregate.add_device(device, kbs);
                }
            }
            let ids: Vec<&DeviceId> = devices.iter().map(|d| &d.id).collect();
            let fresh: Vec<&DeviceId> = ids
                .iter()
                .copied()
                .filter(|id| cache.get_fresh(id, now, max_age).is_some())
                .collect();
            (
                cache.stale_or_missing(ids.iter().copied(), now, max_age),
                cache.oldest_fetch(fresh),
            )
        });
        self.scope
            .set_value(devices.iter().map(|d| (d.id.clone(), d.clone())).collect());
        self.aggregate.set(aggregate);
        self.oldest_fetch_ms.set(oldest);
        if self.in_scope.get_untracked() != devices.len() {
            self.in_scope.set(devices.len());
        }
        stale
    }

    /// Waits until the session's budget allows one more call and records it: every call
    /// beside the per-device scan (overview, drill-down, bulk pages) spends the budget the
    /// scan does, in this tab and (through localStorage) in the next one.
    pub async fn spend_one(&self) {
        loop {
            let now = now_ms();
            let Some(at) = self.with_budget(|b| {
                let at = b.available_at(now);
                if at <= now {
                    b.record(now);
                    self.save_budget(b);
                }
                at
            }) else {
                return; // disposed: the page is gone
            };
            if at <= now {
                return;
            }
            TimeoutFuture::new(at.saturating_sub(now).clamp(1, 500) as u32).await;
        }
    }

    /// Holds every call until `until_ms` (a 429's `Retry-After` seen beside the scan).
    pub fn hold_until(&self, until_ms: u64) {
        self.with_stored_budget(|b| b.hold_until(until_ms));
    }

    /// Applies `f` to the session's budget (the running scan's when a scan holds it) and
    /// stores it: for a caller that decides by itself whether its calls may start and records
    /// them (the connection check refuses rather than waits). `None` once disposed.
    pub fn with_stored_budget<R>(&self, f: impl Fn(&mut RateBudget) -> R) -> Option<R> {
        self.with_budget(|b| {
            let r = f(b);
            self.save_budget(b);
            r
        })
    }

    /// [`Self::with_stored_budget`] with the per-class budgets nested inside the global one
    /// (the export APIs' 30/min and 1,000/h): their history is stored beside the global one.
    pub fn with_stored_budgets<R>(&self, f: impl Fn(&mut BudgetSet) -> R) -> Option<R> {
        self.with_stored_budget(|global| {
            let scope = self.storage_scope();
            let mut set = load_class_budgets(&scope);
            *set.global_mut() = global.clone();
            let r = f(&mut set);
            *global = set.global().clone();
            save_class_budgets(&scope, &set);
            r
        })
    }

    /// Applies `f` to the running scan's budget when a scan holds it, else to the scanner's.
    fn with_budget<R>(&self, f: impl Fn(&mut RateBudget) -> R) -> Option<R> {
        if let Some(Some(r)) = self
            .scan
            .try_update_value(|s| s.as_mut().map(|s| f(s.budget_mut())))
        {
            return Some(r);
        }
        self.budget.try_update_value(|b| f(b))
    }

    /// Each fleet path's cost under the session's budget as it stands, and the cheapest
    /// that answers `question`.
    pub fn plan_paths(&self, input: &PlanInput, question: Question) -> Plan {
        let now = now_ms();
        let budget = self
            .with_budget(|b| b.clone())
            .unwrap_or_else(|| RateBudget::new(self.settings.per_minute, self.settings.per_hour));
        plan(input, question, &BudgetSet::new(budget), now)
    }

    /// How long scanning `devices` calls would take within the budget.
    pub fn plan(&self, calls: usize) -> ScanPlan {
        self.budget
            .with_value(|budget| FleetScan::plan_with_budget(calls, budget, now_ms()))
    }

    /// The bulk path for tenants too large for per-device calls: reads
    /// `machinesVulnerabilities` page by page (memory bounded by distinct device × KB pairs)
    /// into the same model, restricted to the devices in scope.
    pub fn load_bulk(&self) {
        self.generation.update_value(|g| *g += 1);
        let generation = self.generation.get_value();
        self.scan.set_value(None);
        self.progress.set(None);
        self.bulk_error.set(None);
        self.bulk_pages.set(Some(0));
        self.running.set(true);
        let this = *self;
        spawn_local(async move {
            let scope: Vec<Device> = this.scope.with_value(|s| s.values().cloned().collect());
            let mut accumulator = BulkAccumulator::with_devices(&scope).only_listed();
            let client = this.client.get_value();
            let gate = move || -> futures::future::LocalBoxFuture<'static, ()> {
                Box::pin(async move { this.spend_one().await })
            };
            let result = client
                .machine_vulnerabilities(&gate, |page| {
                    accumulator.add_page(&page);
                    this.bulk_pages.set(Some(accumulator.stats().pages));
                })
                .await;
            if !this.current(generation) {
                return;
            }
            match result {
                Ok(_) => {
                    this.aggregate.set(accumulator.aggregate());
                    this.source.set(DataSource::Bulk(accumulator.stats()));
                    this.oldest_fetch_ms.set(Some(now_ms()));
                }
                Err(error) => this.bulk_error.set(Some(error)),
            }
            this.bulk_pages.set(None);
            this.running.set(false);
        });
    }

    /// Which of `devices` have no fresh result (nothing else changes).
    pub fn stale(&self, devices: &[Device]) -> Vec<DeviceId> {
        let now = now_ms();
        let max_age = self.max_age_ms();
        self.cache
            .with_value(|c| c.stale_or_missing(devices.iter().map(|d| &d.id), now, max_age))
    }

    /// Scans `ids` with one `getmissingkbs` call each.
    pub fn start(&self, ids: Vec<DeviceId>) {
        self.generation.update_value(|g| *g += 1);
        let generation = self.generation.get_value();
        // Another tab may have spent budget since this one loaded: of the stored history and
        // this tab's own, the busier one wins (the cautious choice).
        let now = now_ms();
        let stored = load_budget(
            &self.storage_scope(),
            self.settings.per_minute,
            self.settings.per_hour,
        );
        let own = self.budget.get_value();
        let budget = if stored.calls_in_last(HOUR_MS, now) >= own.calls_in_last(HOUR_MS, now) {
            stored
        } else {
            own
        };
        let seed = now_ms();
        self.scan.set_value(Some(FleetScan::with_budget(
            ids,
            self.policy(),
            seed,
            budget,
        )));
        self.failures.set(Vec::new());
        self.paused.set(false);
        self.running.set(true);
        self.source.set(DataSource::PerDevice);
        self.publish();
        let this = *self;
        spawn_local(async move { this.drive(generation).await });
    }

    pub fn pause(&self) {
        self.steer(FleetScan::pause);
        self.paused.set(true);
        self.publish();
    }

    pub fn resume(&self) {
        self.steer(FleetScan::resume);
        self.paused.set(false);
        self.publish();
    }

    pub fn cancel(&self) {
        self.steer(FleetScan::cancel);
        self.publish();
    }

    /// Applies a user's command to the running scan, if there is one.
    fn steer(&self, command: fn(&mut FleetScan)) {
        self.scan.update_value(|s| {
            if let Some(s) = s {
                command(s)
            }
        });
    }

    /// Failed devices go back into the queue; restarts the loop if it had finished.
    pub fn retry_failed(&self) {
        let now = now_ms();
        let requeued = self
            .scan
            .try_update_value(|s| s.as_mut().map_or(0, |s| s.retry_failed(now)))
            .unwrap_or(0);
        if requeued > 0 && !self.running.get_untracked() {
            self.running.set(true);
            let generation = self.generation.get_value();
            let this = *self;
            spawn_local(async move { this.drive(generation).await });
        }
        self.publish();
    }

    fn current(&self, generation: u64) -> bool {
        self.generation.try_get_value() == Some(generation)
    }

    async fn drive(self, generation: u64) {
        loop {
            if !self.current(generation) {
                return;
            }
            let now = now_ms();
            let step = self
                .scan
                .try_update_value(|s| s.as_mut().map(|s| s.next(now)))
                .flatten();
            match step {
                Some(ScanStep::Start(id)) => {
                    // The budget just recorded a call start.
                    self.persist_budget();
                    self.publish();
                    spawn_local(async move { self.call(generation, id).await });
                }
                Some(ScanStep::WaitUntil(at)) => {
                    self.publish();
                    let wait = at.saturating_sub(now).clamp(1, 500);
                    TimeoutFuture::new(wait as u32).await;
                }
                Some(ScanStep::Busy) | Some(ScanStep::Paused) => {
                    TimeoutFuture::new(100).await;
                }
                Some(ScanStep::Done) | None => {
                    if let Some(budget) = self
                        .scan
                        .with_value(|s| s.as_ref().map(|s| s.budget().clone()))
                    {
                        self.budget.set_value(budget);
                    }
                    self.running.set(false);
                    self.publish();
                    self.save_cache();
                    return;
                }
            }
        }
    }

    async fn call(self, generation: u64, id: DeviceId) {
        let client = self.client.get_value();
        let result = client.device_kbs(&id).await;
        if !self.current(generation) {
            return;
        }
        let now = now_ms();
        let outcome = match result {
            Ok((collection, source)) => {
                if source == KbSource::MachineVulnerabilities {
                    self.from_vulnerabilities.update(|n| *n += 1);
                }
                let kbs = collection.items;
                let device = self.scope.with_value(|scope| scope.get(&id).cloned());
                if let Some(device) = device {
                    self.aggregate.update(|a| a.add_device(&device, &kbs));
                }
                self.cache.update_value(|c| c.insert(id.clone(), kbs, now));
                self.oldest_fetch_ms
                    .update(|oldest| *oldest = Some(oldest.map_or(now, |o| o.min(now))));
                CallOutcome::Ok
            }
            Err(error) => CallOutcome::from_api_error(&error),
        };
        self.scan.update_value(|s| {
            if let Some(s) = s {
                s.report(&id, outcome, now)
            }
        });
        // A 429 report may have set a hold.
        self.persist_budget();
        self.publish();
        if self.cache.with_value(|c| c.len()) % 25 == 0 {
            self.save_cache();
        }
    }

    /// Stores the running scan's call history, only when it changed (a call started, a
    /// report came), not on every progress update.
    fn persist_budget(&self) {
        self.scan.with_value(|s| {
            if let Some(s) = s {
                self.save_budget(s.budget());
            }
        });
    }

    fn publish(&self) {
        let now = now_ms();
        let snapshot = self.scan.with_value(|s| {
            s.as_ref()
                .map(|s| (s.progress(now), s.failures(), s.is_paused()))
        });
        if let Some((progress, failures, paused)) = snapshot {
            self.progress.set(Some(progress));
            if self.failures.with_untracked(|f| *f != failures) {
                self.failures.set(failures);
            }
            if self.paused.get_untracked() != paused {
                self.paused.set(paused);
            }
        }
    }

    fn save_cache(&self) {
        let Some(storage) = session_storage() else {
            return;
        };
        let Ok(json) = self.cache.with_value(serde_json::to_string) else {
            return;
        };
        let key = self.storage_scope().fleet_cache_key();
        let full = storage.set_item(&key, &json).is_err();
        if full {
            let _ = storage.remove_item(&key);
        }
        if self.storage_full.get_untracked() != full {
            self.storage_full.set(full);
        }
    }

    /// Forgets every cached result (memory and sessionStorage).
    pub fn clear_cache(&self) {
        self.cache.set_value(ScanCache::new());
        self.aggregate.set(FleetAggregate::new());
        remove_stored_caches();
    }

    /// Who the stored entries belong to: whoever the calls are made as now (a replaced token
    /// may be someone else's).
    fn storage_scope(&self) -> StorageScope {
        self.client
            .try_with_value(ApiClient::storage_scope)
            .unwrap_or_else(|| StorageScope::new(None, None, None))
    }

    fn save_budget(&self, budget: &RateBudget) {
        save_budget(&self.storage_scope(), budget);
    }
}

fn local_storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok()?
}

fn load_budget(scope: &StorageScope, per_minute: u32, per_hour: u32) -> RateBudget {
    let mut budget: RateBudget = local_storage()
        .and_then(|s| read_json(&s, &scope.budget_key()))
        .unwrap_or_else(|| RateBudget::new(per_minute, per_hour));
    budget.set_limits(per_minute, per_hour);
    budget
}

fn save_budget(scope: &StorageScope, budget: &RateBudget) {
    if let Some(storage) = local_storage() {
        write_json(&storage, &scope.budget_key(), budget);
    }
}

/// The class budgets' history (the global part of what is stored is not read: the global
/// budget is [`StorageScope::budget_key`]'s). A damaged entry counts as no history.
fn load_class_budgets(scope: &StorageScope) -> BudgetSet {
    local_storage()
        .and_then(|s| read_json(&s, &scope.class_budget_key()))
        .unwrap_or_default()
}

fn save_class_budgets(scope: &StorageScope, budgets: &BudgetSet) {
    if let Some(storage) = local_storage() {
        write_json(&storage, &scope.class_budget_key(), budgets);
    }
}

/// The value stored as JSON under `key`; a missing or damaged entry is `None`.
fn read_json<T: DeserializeOwned>(storage: &web_sys::Storage, key: &str) -> Option<T> {
    let json = storage.get_item(key).ok().flatten()?;
    serde_json::from_str(&json).ok()
}

/// Stores `value` as JSON under `key`, best effort (the budget history: a full storage keeps
/// the earlier entry).
fn write_json<T: Serialize>(storage: &web_sys::Storage, key: &str, value: &T) {
    if let Ok(json) = serde_json::to_string(value) {
        let _ = storage.set_item(key, &json);
    }
}

fn session_storage() -> Option<web_sys::Storage> {
    web_sys::window()?.session_storage().ok()?
}

/// Every key of `storage`.
fn storage_keys(storage: &web_sys::Storage) -> Vec<String> {
    let len = storage.length().unwrap_or(0);
    (0..len)
        .filter_map(|i| storage.key(i).ok().flatten())
        .collect()
}

/// Removes every fleet cache of this tab, whoever it belonged to.
fn remove_stored_caches() {
    if let Some(storage) = session_storage() {
        for key in storage_keys(&storage) {
            if is_fleet_cache_key(&key) {
                let _ = storage.remove_item(&key);
            }
        }
    }
}

/// A damaged or foreign cache entry is ignored: the scan simply fetches again.
/// Another account's results found in this tab are removed unread.
fn load_cache(scope: &StorageScope) -> ScanCache<Vec<MissingKb>> {
    let Some(storage) = session_storage() else {
        return ScanCache::default();
    };
    let keys = storage_keys(&storage);
    for key in other_fleet_caches(keys.iter().map(String::as_str), scope) {
        let _ = storage.remove_item(key);
    }
    read_json(&storage, &scope.fleet_cache_key()).unwrap_or_default()
}
