//! Per-device scan results with their fetch time, so a re-render, a filter change or a reload
//! inside the freshness window makes no calls. Serializable for sessionStorage: it holds API
//! data only, never tokens.
//!
//! ```
//! use kbwatch_core::fleet::cache::{ScanCache, DEFAULT_MAX_AGE_MS};
//! use kbwatch_core::DeviceId;
//!
//! let id = DeviceId::parse(&"a".repeat(40)).unwrap();
//! let mut cache = ScanCache::new();
//! cache.insert(id.clone(), vec!["KB5034441"], 1_000);
//! assert!(cache.get_fresh(&id, 2_000, DEFAULT_MAX_AGE_MS).is_some());
//! assert!(cache.stale_or_missing(&[id], 1_000 + DEFAULT_MAX_AGE_MS, DEFAULT_MAX_AGE_MS).len() == 1);
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::device::DeviceId;
use crate::fleet::rate::MINUTE_MS;

/// The API refreshes vulnerability data every 6 hours; fetching more often shows nothing new.
/// (`config.json`'s `fleet.maxAgeMinutes` overrides it.)
pub const DEFAULT_MAX_AGE_MINUTES: u32 = 6 * 60;
/// [`DEFAULT_MAX_AGE_MINUTES`] in milliseconds.
pub const DEFAULT_MAX_AGE_MS: u64 = DEFAULT_MAX_AGE_MINUTES as u64 * MINUTE_MS;

/// One device's result and when it was fetched (milliseconds since the Unix epoch).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CachedResult<T> {
    pub value: T,
    pub fetched_at_ms: u64,
}

impl<T> CachedResult<T> {
    /// Fresh while younger than `max_age_ms`, so a `max_age_ms` of 0 means "always refetch".
    /// A fetch time slightly in the future (the clock moved back) counts as just fetched;
    /// one further ahead than the window itself cannot be genuine and counts as stale.
    pub fn is_fresh(&self, now_ms: u64, max_age_ms: u64) -> bool {
        if self.fetched_at_ms > now_ms {
            return self.fetched_at_ms - now_ms < max_age_ms;
        }
        now_ms - self.fetched_at_ms < max_age_ms
    }

    /// How old the data is (0 when the fetch time is in the future).
    pub fn age_ms(&self, now_ms: u64) -> u64 {
        now_ms.saturating_sub(self.fetched_at_ms)
    }
}

/// Results per device. Stored as a JSON object keyed by device ID; a stored cache that no
/// longer reads (other version, edited storage) should simply be dropped by the caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ScanCache<T> {
    entries: BTreeMap<DeviceId, CachedResult<T>>,
}

impl<T> Default for ScanCache<T> {
    fn default() -> Self {
        Self {
            entries: BTreeMap::new(),
        }
    }
}

impl<T> ScanCache<T> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores (or replaces) a device's result.
    pub fn insert(&mut self, id: DeviceId, value: T, fetched_at_ms: u64) {
        self.entries.insert(
            id,
            CachedResult {
                value,
                fetched_at_ms,
            },
        );
    }

    /// The result whatever its age, with its fetch time (to show stale data while refreshing).
    pub fn get(&self, id: &DeviceId) -> Option<&CachedResult<T>> {
        self.entries.get(id)
    }

    /// The result if it is younger than `max_age_ms`.
    pub fn get_fresh(&self, id: &DeviceId, now_ms: u64, max_age_ms: u64) -> Option<&T> {
        self.entries
            .get(id)
            .filter(|entry| entry.is_fresh(now_ms, max_age_ms))
            .map(|entry| &entry.value)
    }

    /// The devices among `ids` that need a call: no result, or one too old. In the given order,
    /// each once.
    pub fn stale_or_missing<'a>(
        &self,
        ids: impl IntoIterator<Item = &'a DeviceId>,
        now_ms: u64,
        max_age_ms: u64,
    ) -> Vec<DeviceId> {
        let mut seen = std::collections::HashSet::new();
        ids.into_iter()
            .filter(|id| self.get_fresh(id, now_ms, max_age_ms).is_none())
            .filter(|id| seen.insert(*id))
            .cloned()
            .collect()
    }

    /// The earliest fetch time among the cached results for `ids` ("data as of …"); `None`
    /// when none of them is cached.
    pub fn oldest_fetch<'a>(&self, ids: impl IntoIterator<Item = &'a DeviceId>) -> Option<u64> {
        ids.into_iter()
            .filter_map(|id| self.entries.get(id))
            .map(|entry| entry.fetched_at_ms)
            .min()
    }

    pub fn remove(&mut self, id: &DeviceId) -> Option<CachedResult<T>> {
        self.entries.remove(id)
    }

    /// Drops results older than `max_age_ms`, to keep what goes into storage small.
    pub fn evict_stale(&mut self, now_ms: u64, max_age_ms: u64) {
        self.entries
            .retain(|_, entry| entry.is_fresh(now_ms, max_age_ms));
    }

    pub fn clear(&mut self) {
        self.entries.clear();
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&DeviceId, &CachedResult<T>)> {
        self.entries.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn id(c: char) -> DeviceId {
        DeviceId::parse(&c.to_string().repeat(40)).unwrap()
    }

    #[test]
    fn freshness_window() {
        let mut cache = ScanCache::new();
        cache.insert(id('a'), 1, 1_000);
        assert_eq!(cache.get_fresh(&id('a'), 1_000, 500), Some(&1));
        assert_eq!(cache.get_fresh(&id('a'), 1_499, 500), Some(&1));
        assert_eq!(cache.get_fresh(&id('a'), 1_500, 500), None);
        // 0 means "always refetch" (the refresh button).
        assert_eq!(cache.get_fresh(&id('a'), 1_000, 0), None);
        assert_eq!(cache.get(&id('a')).map(|e| e.age_ms(1_500)), Some(500));
        assert_eq!(DEFAULT_MAX_AGE_MS, 21_600_000);
    }

    #[test]
    fn fetch_times_in_the_future() {
        let mut cache = ScanCache::new();
        cache.insert(id('a'), 1, 10_000);
        // The clock moved back a little: still fresh.
        assert!(cache
            .get_fresh(&id('a'), 9_000, DEFAULT_MAX_AGE_MS)
            .is_some());
        // Further ahead than the window itself: not genuine.
        assert!(cache.get_fresh(&id('a'), 9_000, 500).is_none());
    }

    #[test]
    fn stale_or_missing_keeps_order_and_skips_duplicates() {
        let mut cache = ScanCache::new();
        cache.insert(id('a'), "fresh", 5_000);
        cache.insert(id('b'), "old", 0);
        let ids = [id('c'), id('a'), id('b'), id('c')];
        assert_eq!(
            cache.stale_or_missing(&ids, 6_000, 2_000),
            vec![id('c'), id('b')]
        );
        assert_eq!(cache.oldest_fetch(&ids), Some(0));
        assert_eq!(cache.oldest_fetch(&[id('a')]), Some(5_000));
        assert_eq!(cache.oldest_fetch(&[id('d')]), None);
    }

    #[test]
    fn eviction_and_replacement() {
        let mut cache = ScanCache::new();
        cache.insert(id('a'), 1, 0);
        cache.insert(id('b'), 2, 5_000);
        cache.insert(id('a'), 3, 5_000);
        assert_eq!(cache.get_fresh(&id('a'), 6_000, 2_000), Some(&3));
        cache.insert(id('c'), 4, 0);
        cache.evict_stale(6_000, 2_000);
        assert_eq!(cache.len(), 2);
        assert!(cache.remove(&id('c')).is_none());
    }

    #[test]
    fn round_trips_through_json() {
        let mut cache = ScanCache::new();
        cache.insert(id('a'), vec!["KB1".to_owned()], 1_700_000_000_000);
        let json = serde_json::to_string(&cache).unwrap();
        assert_eq!(
            json,
            format!(
                r#"{{"{}":{{"value":["KB1"],"fetchedAtMs":1700000000000}}}}"#,
                id('a')
            )
        );
        let back: ScanCache<Vec<String>> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, cache);
        // Storage that does not read is an error for the caller to drop, not a panic.
        assert!(serde_json::from_str::<ScanCache<Vec<String>>>(
            r#"{"nope":{"value":[],"fetchedAtMs":1}}"#
        )
        .is_err());
        assert!(serde_json::from_str::<ScanCache<Vec<String>>>("[1,2").is_err());
    }

    proptest! {
        /// A device is either served from the cache or listed for a call, never both/neither.
        #[test]
        fn fresh_and_stale_partition_the_devices(
            entries in prop::collection::vec((0u8..16, 0u64..100_000), 0..20),
            asked in prop::collection::vec(0u8..16, 0..20),
            now in 0u64..200_000,
            max_age in 0u64..100_000,
        ) {
            let ids: Vec<DeviceId> = (0u8..16).map(|i| DeviceId::parse(&format!("{i:040x}")).unwrap()).collect();
            let mut cache = ScanCache::new();
            for (i, at) in entries {
                cache.insert(ids[i as usize].clone(), i, at);
            }
            let asked: Vec<DeviceId> = asked.iter().map(|&i| ids[i as usize].clone()).collect();
            let stale = cache.stale_or_missing(&asked, now, max_age);
            for id in &asked {
                let fresh = cache.get_fresh(id, now, max_age).is_some();
                prop_assert_eq!(fresh, !stale.contains(id));
            }
        }
    }
}
