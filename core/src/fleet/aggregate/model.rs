//! The per-KB × per-device model and how per-device answers merge into it.

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::month::UpdateMonth;
use crate::device::{Device, DeviceId};
use crate::kb::{humanize_product, kb_number, products_by_label, MissingKb};
use crate::sort::{sort_by, sort_by_cached_key};

/// The key a KB is known by: its number without "KB" when it is one, else the raw id.
fn kb_key(kb: &MissingKb) -> &str {
    kb.kb_number().unwrap_or(&kb.id)
}

/// One row of the per-KB table.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetKb {
    /// The KB number without "KB" ("5044285"), or the raw id when it is not a KB number.
    pub id: String,
    /// "KB5044285".
    pub label: String,
    pub name: Option<String>,
    /// Raw API product names (`windows_10`), sorted, each once.
    pub products: Vec<String>,
    /// The largest CVE count any device reported for this KB.
    pub cves: u32,
    pub catalog_url: Option<String>,
    /// The release month read from `name`.
    pub released: Option<UpdateMonth>,
    /// The devices missing this KB (`FleetAggregate::devices_missing` lists them).
    devices: DeviceSet,
}

/// A table row's key: the record's identity plus a digest of what its row shows, so a keyed
/// table keeps a row while it is unchanged and rebuilds exactly the rows whose figures changed
/// (a scan's arrivals change the counts of KBs already on screen).
pub type RowKey = (String, u64);

fn digest(fields: impl std::hash::Hash) -> u64 {
    use std::hash::BuildHasher;
    FastBuild::default().hash_one(fields)
}

impl FleetKb {
    pub fn device_count(&self) -> usize {
        self.devices.len()
    }

    /// See [`RowKey`].
    pub fn row_key(&self) -> RowKey {
        let shown = (
            &self.name,
            &self.products,
            self.cves,
            &self.catalog_url,
            self.device_count(),
        );
        (self.id.clone(), digest(shown))
    }

    /// Whether `device` misses this KB.
    pub fn is_missing_on(&self, device: &DeviceId) -> bool {
        self.devices.contains(&DeviceKey::of(device))
    }

    /// Human product names ("Windows 10"), in `products` order.
    pub fn product_labels(&self) -> Vec<String> {
        self.products.iter().map(|p| humanize_product(p)).collect()
    }

    fn numeric(&self) -> Option<u64> {
        self.id.parse().ok()
    }

    /// Merges another device's report of this KB and returns the release month of that
    /// report's own name. Every rule (max, union, smallest) is independent of the order
    /// devices arrive in.
    fn merge(
        &mut self,
        kb: &MissingKb,
        last_raw_url: &mut Option<Option<String>>,
    ) -> Option<UpdateMonth> {
        self.cves = self.cves.max(kb.cves());
        let month = match (kb.name.as_deref(), self.name.as_deref()) {
            (None, _) => None,
            // The common case: every device names the update alike; nothing to parse.
            (Some(name), Some(kept)) if name == kept => self.released,
            (Some(name), _) if name.trim().is_empty() => None,
            (Some(name), kept) => {
                let parsed = UpdateMonth::parse(name);
                if kept.is_none_or(|kept| name < kept) {
                    self.name = Some(name.to_owned());
                    self.released = parsed;
                }
                parsed
            }
        };
        for product in &kb.products {
            if let Err(at) = self.products.binary_search(product) {
                self.products.insert(at, product.clone());
            }
        }
        // Validating a catalog link parses a URL; devices almost always send the same one, so
        // only a link not seen last time is looked at.
        if last_raw_url.as_ref() != Some(&kb.url) {
            if let Some(url) = kb.catalog_url() {
                if self
                    .catalog_url
                    .as_deref()
                    .is_none_or(|current| *url < *current)
                {
                    self.catalog_url = Some(url);
                }
            }
            *last_raw_url = Some(kb.url.clone());
        }
        month
    }
}

/// A device ID as two integers (its 20 bytes, big-endian): copied, compared and hashed
/// without touching the heap, which keeps a 200,000-pair fleet fast to aggregate. The order
/// equals the order of the lowercase hex IDs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct DeviceKey(u128, u32);

/// FxHash for the aggregate's maps. Device IDs are uniformly distributed and KB ids short, so
/// SipHash's flooding resistance buys little here and makes aggregating half again as slow
/// (`benches/fleet_aggregate.rs`); the keys come from the tenant's own Defender data, not from
/// a party that could choose colliding keys at will.
type FastBuild = rustc_hash::FxBuildHasher;
type DeviceSet = HashSet<DeviceKey, FastBuild>;
type DeviceMap<V> = HashMap<DeviceKey, V, FastBuild>;

impl DeviceKey {
    fn of(id: &DeviceId) -> Self {
        fn nibble(c: u8) -> u8 {
            match c {
                b'0'..=b'9' => c - b'0',
                b'a'..=b'f' => c - b'a' + 10,
                // `DeviceId` holds 40 lowercase hex digits only.
                _ => 0,
            }
        }
        let mut bytes = [0u8; 20];
        for (byte, pair) in bytes.iter_mut().zip(id.as_str().as_bytes().chunks_exact(2)) {
            *byte = nibble(pair[0]) << 4 | nibble(pair[1]);
        }
        let (high, low) = bytes.split_at(16);
        let mut high_bytes = [0u8; 16];
        high_bytes.copy_from_slice(high);
        let mut low_bytes = [0u8; 4];
        low_bytes.copy_from_slice(low);
        Self(
            u128::from_be_bytes(high_bytes),
            u32::from_be_bytes(low_bytes),
        )
    }
}

/// One row of the per-device table.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetDevice {
    pub id: DeviceId,
    pub name: String,
    /// Number of distinct KBs missing.
    pub missing: usize,
    /// Sum of the CVEs addressed by each missing KB.
    pub cves: u64,
    /// The earliest release month among the missing KBs that carry one.
    pub oldest_update: Option<UpdateMonth>,
    /// Keys (`FleetKb::id`) of the missing KBs, by KB number (ids that are not a number
    /// last, by text).
    pub kb_ids: Vec<Arc<str>>,
}

impl FleetDevice {
    /// See [`RowKey`].
    pub fn row_key(&self) -> RowKey {
        let shown = (&self.name, self.missing, self.cves, self.oldest_update);
        (self.id.to_string(), digest(shown))
    }
}

/// Where a KB id sorts among a device's `kb_ids` before its text is looked at: KB numbers
/// by value, other ids after them. Comparing two integers keeps the per-device sort cheap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct KbOrder(bool, u64);

impl KbOrder {
    fn of(key: &str) -> Self {
        match key.parse::<u64>() {
            Ok(n) => Self(false, n),
            Err(_) => Self(true, 0),
        }
    }
}

/// The numbers on the summary tiles.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct FleetSummary {
    pub devices_scanned: usize,
    /// Devices with no missing KB.
    pub fully_patched: usize,
    /// 0 to 100; 0 when no device was scanned.
    pub fully_patched_pct: f64,
    pub distinct_kbs: usize,
    /// Sum over distinct missing KBs of the CVEs each addresses.
    pub total_cves_addressable: u64,
    /// Number of (device, missing KB) pairs.
    pub device_kb_pairs: usize,
}

/// How much of the fleet in scope a summary covers: a figure over part of the fleet is never
/// a fleet figure (4 scanned devices, all patched, are not "100 % fully patched" of 289).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coverage {
    /// Every device in scope has been read: the tiles are fleet figures.
    Complete,
    /// `scanned` of the `of` devices in scope have been read so far.
    Partial { scanned: usize, of: usize },
}

impl FleetSummary {
    /// The coverage of this summary over `in_scope` devices.
    pub fn coverage(&self, in_scope: usize) -> Coverage {
        if self.devices_scanned >= in_scope {
            Coverage::Complete
        } else {
            Coverage::Partial {
                scanned: self.devices_scanned,
                of: in_scope,
            }
        }
    }
}

#[derive(Debug, Clone)]
struct KbEntry {
    /// `kb.id`, shared with the `kb_ids` of the devices missing it.
    key: Arc<str>,
    order: KbOrder,
    kb: FleetKb,
    /// The raw `url` last merged, so an unchanged link is not validated again.
    last_raw_url: Option<Option<String>>,
}

impl PartialEq for KbEntry {
    fn eq(&self, other: &Self) -> bool {
        self.kb == other.kb
    }
}

/// Per-KB × per-device model of a fleet. Devices can be added while a scan runs (partial
/// results render at once); adding a device again replaces its earlier data.
///
/// KB details (name, products, CVE count, catalog link) are merged over every device that
/// reported the KB: the largest CVE count, the union of products, the smallest name and link,
/// so the result does not depend on the order devices arrive in. A KB leaves the model when
/// no device misses it any more.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FleetAggregate {
    kbs: HashMap<Arc<str>, KbEntry, FastBuild>,
    devices: DeviceMap<FleetDevice>,
}

impl FleetAggregate {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records `device`'s missing KBs (an empty list: fully patched), replacing what was
    /// recorded for it before.
    pub fn add_device(&mut self, device: &Device, kbs: &[MissingKb]) {
        self.add_device_named(device.id.clone(), device.display_name(), kbs);
    }

    /// Like `add_device` when only the ID and a display name are known (bulk path).
    pub fn add_device_named<'a>(
        &mut self,
        id: DeviceId,
        name: impl Into<String>,
        kbs: impl IntoIterator<Item = &'a MissingKb>,
    ) {
        self.remove_device(&id);
        let device_key = DeviceKey::of(&id);
        let kbs = kbs.into_iter();
        // (order, key, cves, month) of this device's KBs; a KB listed twice counts once.
        let mut own: Vec<(KbOrder, Arc<str>, u32, Option<UpdateMonth>)> =
            Vec::with_capacity(kbs.size_hint().0);
        for kb in kbs {
            let key = kb_key(kb);
            let entry = match self.kbs.get_mut(key) {
                Some(entry) => entry,
                None => {
                    let key: Arc<str> = Arc::from(key);
                    self.kbs.entry(key.clone()).or_insert_with(|| KbEntry {
                        kb: FleetKb {
                            id: key.to_string(),
                            label: kb.label(),
                            name: None,
                            products: Vec::new(),
                            cves: 0,
                            catalog_url: None,
                            released: None,
                            devices: DeviceSet::default(),
                        },
                        order: KbOrder::of(&key),
                        key,
                        last_raw_url: None,
                    })
                }
            };
            let month = entry.kb.merge(kb, &mut entry.last_raw_url);
            entry.kb.devices.insert(device_key);
            own.push((entry.order, entry.key.clone(), kb.cves(), month));
        }
        sort_by(&mut own, |a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
        own.dedup_by(|later, kept| {
            // One KB, one shared key.
            let same = Arc::ptr_eq(&later.1, &kept.1);
            if same {
                kept.2 = kept.2.max(later.2);
                kept.3 = min_month(kept.3, later.3);
            }
            same
        });
        let device = FleetDevice {
            id: id.clone(),
            name: name.into(),
            missing: own.len(),
            cves: own.iter().map(|(_, _, cves, _)| u64::from(*cves)).sum(),
            oldest_update: own.iter().filter_map(|(_, _, _, month)| *month).min(),
            kb_ids: own.into_iter().map(|(_, key, _, _)| key).collect(),
        };
        self.devices.insert(device_key, device);
    }

    /// Forgets a device; returns whether it was there.
    pub fn remove_device(&mut self, id: &DeviceId) -> bool {
        let device_key = DeviceKey::of(id);
        let Some(old) = self.devices.remove(&device_key) else {
            return false;
        };
        for key in &old.kb_ids {
            if let Some(entry) = self.kbs.get_mut(&**key) {
                entry.kb.devices.remove(&device_key);
                if entry.kb.devices.is_empty() {
                    self.kbs.remove(&**key);
                }
            }
        }
        true
    }

    pub fn clear(&mut self) {
        self.kbs.clear();
        self.devices.clear();
    }

    pub fn device_count(&self) -> usize {
        self.devices.len()
    }

    pub fn kb_count(&self) -> usize {
        self.kbs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.devices.is_empty()
    }

    pub fn device(&self, id: &DeviceId) -> Option<&FleetDevice> {
        self.devices.get(&DeviceKey::of(id))
    }

    /// A KB by its key; "KB5044285" and "5044285" both find it.
    pub fn kb(&self, id: &str) -> Option<&FleetKb> {
        let id = id.trim();
        self.kbs
            .get(id)
            .or_else(|| kb_number(id).and_then(|n| self.kbs.get(n)))
            .map(|entry| &entry.kb)
    }

    /// All KBs, in no particular order.
    pub fn kbs(&self) -> impl Iterator<Item = &FleetKb> {
        self.kbs.values().map(|entry| &entry.kb)
    }

    /// All devices, in no particular order.
    pub fn devices(&self) -> impl Iterator<Item = &FleetDevice> {
        self.devices.values()
    }

    pub fn summary(&self) -> FleetSummary {
        let devices_scanned = self.devices.len();
        let fully_patched = self.devices.values().filter(|d| d.missing == 0).count();
        FleetSummary {
            devices_scanned,
            fully_patched,
            fully_patched_pct: if devices_scanned == 0 {
                0.0
            } else {
                fully_patched as f64 * 100.0 / devices_scanned as f64
            },
            distinct_kbs: self.kbs.len(),
            total_cves_addressable: self.kbs().map(|kb| u64::from(kb.cves)).sum(),
            device_kb_pairs: self.devices.values().map(|d| d.missing).sum(),
        }
    }

    /// The devices missing KB `kb_id` ("5044285" or "KB5044285"), by name then ID.
    pub fn devices_missing(&self, kb_id: &str) -> Vec<&FleetDevice> {
        let Some(kb) = self.kb(kb_id) else {
            return Vec::new();
        };
        let mut rows: Vec<&FleetDevice> = kb
            .devices
            .iter()
            .filter_map(|key| self.devices.get(key))
            .collect();
        sort_by_cached_key(&mut rows, |d| (d.name.to_lowercase(), d.id.clone()));
        rows
    }

    /// Distinct raw product names over all missing KBs, sorted by their human label (then the
    /// raw name), for the product filter.
    pub fn products(&self) -> Vec<String> {
        products_by_label(
            self.kbs()
                .flat_map(|kb| kb.products.iter().map(String::as_str)),
        )
    }
}

fn min_month(a: Option<UpdateMonth>, b: Option<UpdateMonth>) -> Option<UpdateMonth> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// KB numbers numerically (KB999 before KB4540673), non-numeric ids after them by text.
pub(super) fn kb_order(a: &FleetKb, b: &FleetKb) -> Ordering {
    match (a.numeric(), b.numeric()) {
        (Some(x), Some(y)) => x.cmp(&y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
    .then_with(|| a.id.cmp(&b.id))
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::*;
    use crate::fleet::aggregate::FleetKbFilter;
    use crate::sort::Sort;
    use proptest::prelude::*;

    #[test]
    fn a_row_key_changes_with_what_the_row_shows_only() {
        let mut f = fleet();
        let before = f.kb("KB4540673").expect("present").row_key();
        assert_eq!(f.kb("KB4540673").expect("present").row_key(), before);
        let third = f.kb("KB4540673").expect("present").device_count() + 1;
        f.add_device_named(id(9), "new-pc", &[march()]);
        let after = f.kb("KB4540673").expect("present");
        assert_eq!(after.device_count(), third);
        assert_eq!(after.row_key().0, before.0, "same identity");
        assert_ne!(after.row_key(), before, "a new count is a new row");
        let device = f.devices().find(|d| d.id == id(9)).expect("added").clone();
        assert_eq!(device.row_key(), device.clone().row_key());
    }

    #[test]
    fn a_summary_over_part_of_the_scope_is_partial() {
        let s = fleet().summary();
        assert_eq!(s.devices_scanned, 4);
        assert_eq!(s.coverage(4), Coverage::Complete);
        assert_eq!(s.coverage(3), Coverage::Complete);
        assert_eq!(
            s.coverage(289),
            Coverage::Partial {
                scanned: 4,
                of: 289
            }
        );
        assert_eq!(
            FleetSummary::default().coverage(1),
            Coverage::Partial { scanned: 0, of: 1 }
        );
    }

    #[test]
    fn per_kb_rows_merge_devices() {
        let f = fleet();
        let march = f.kb("KB4540673").expect("present");
        assert_eq!(march.label, "KB4540673");
        let missing: Vec<&DeviceId> = f
            .devices_missing("KB4540673")
            .iter()
            .map(|d| &d.id)
            .collect();
        assert_eq!(missing, [&id(1), &id(2)]);
        assert!(march.is_missing_on(&id(2)));
        assert!(!march.is_missing_on(&id(3)));
        assert_eq!(march.device_count(), 2);
        assert_eq!(march.products, ["edge", "windows_10"]);
        assert_eq!(march.product_labels(), ["Microsoft Edge", "Windows 10"]);
        assert_eq!(march.released, UpdateMonth::new(2020, 3));
        assert_eq!(
            march.catalog_url.as_deref(),
            Some("https://catalog.update.microsoft.com/v7/site/Search.aspx?q=KB4540673")
        );
        assert!(f.kb("4540673").is_some());
        assert!(f.kb(" Kb4540673 ").is_some());
        assert!(f.kb("KB1").is_none());
    }

    #[test]
    fn per_device_rows() {
        let f = fleet();
        let alpha = f.device(&id(1)).expect("present");
        assert_eq!(alpha.missing, 2);
        assert_eq!(alpha.cves, 109);
        assert_eq!(alpha.oldest_update, UpdateMonth::new(2020, 3));
        let kb_ids: Vec<&str> = alpha.kb_ids.iter().map(|k| &**k).collect();
        assert_eq!(kb_ids, ["4540673", "5044285"]);
        let delta = f.device(&id(4)).expect("present");
        assert_eq!(
            (delta.missing, delta.cves, delta.oldest_update),
            (0, 0, None)
        );
    }

    #[test]
    fn summary_of_small_fleet() {
        let s = fleet().summary();
        assert_eq!(s.devices_scanned, 4);
        assert_eq!(s.fully_patched, 1);
        assert!((s.fully_patched_pct - 25.0).abs() < 1e-9);
        assert_eq!(s.distinct_kbs, 3);
        assert_eq!(s.total_cves_addressable, 97 + 12 + 3);
        assert_eq!(s.device_kb_pairs, 5);
        let empty = FleetAggregate::new().summary();
        assert_eq!(empty, FleetSummary::default());
    }

    #[test]
    fn adding_a_device_again_replaces_its_data() {
        let mut f = fleet();
        f.add_device_named(id(3), "gamma-renamed", &[dotnet()]);
        assert_eq!(f.device_count(), 4);
        let gamma = f.device(&id(3)).expect("present");
        assert_eq!(
            (gamma.name.as_str(), gamma.missing, gamma.cves),
            ("gamma-renamed", 1, 3)
        );
        assert_eq!(f.kb("5044285").map(FleetKb::device_count), Some(1));
        assert_eq!(f.kb("4552931").map(FleetKb::device_count), Some(2));
        // alpha patches everything: KB5044285 is missing nowhere any more and leaves.
        f.add_device_named(id(1), "alpha", &[]);
        assert!(f.kb("5044285").is_none());
        assert_eq!(f.summary().fully_patched, 2);
        assert_eq!(f.summary().device_kb_pairs, 3);
    }

    #[test]
    fn removing_a_device_drops_orphan_kbs() {
        let mut f = fleet();
        assert!(f.remove_device(&id(2)));
        assert!(!f.remove_device(&id(2)));
        assert!(f.kb("4552931").is_none());
        assert_eq!(f.kb("4540673").map(FleetKb::device_count), Some(1));
        assert_eq!(f.summary().devices_scanned, 3);
        f.clear();
        assert!(f.is_empty());
        assert_eq!(f.kb_count(), 0);
    }

    #[test]
    fn duplicate_kb_in_one_answer_counts_once() {
        let mut f = FleetAggregate::new();
        let mut prefixed = march();
        prefixed.id = "KB4540673".into();
        prefixed.cve_addressed = Some(100);
        f.add_device_named(id(1), "alpha", &[march(), prefixed]);
        let d = f.device(&id(1)).expect("present");
        assert_eq!((d.missing, d.cves), (1, 100));
        assert_eq!(f.kb_count(), 1);
        assert_eq!(f.kb("4540673").map(|kb| kb.cves), Some(100));
    }

    #[test]
    fn kb_details_merge_order_independently() {
        let mut a = march();
        a.cve_addressed = Some(5);
        a.products = vec!["office".into()];
        a.url = Some("javascript:alert(1)".into());
        let mut one = FleetAggregate::new();
        one.add_device_named(id(1), "x", &[a.clone()]);
        one.add_device_named(id(2), "y", &[march()]);
        let mut two = FleetAggregate::new();
        two.add_device_named(id(2), "y", &[march()]);
        two.add_device_named(id(1), "x", &[a]);
        assert_eq!(one, two);
        let kb = one.kb("4540673").expect("present");
        assert_eq!(kb.cves, 97);
        assert_eq!(kb.products, ["edge", "office", "windows_10"]);
        assert!(kb
            .catalog_url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://catalog.update.microsoft.com/")));
    }

    #[test]
    fn devices_missing_a_kb_and_kbs_of_a_device() {
        let f = fleet();
        assert_eq!(names(&f.devices_missing("KB5044285")), ["alpha", "gamma"]);
        assert_eq!(names(&f.devices_missing("4540673")), ["alpha", "Beta"]);
        assert!(f.devices_missing("nope").is_empty());
        let beta = f.device(&id(2)).expect("present");
        let beta_kbs: Vec<&str> = beta.kb_ids.iter().map(|k| &**k).collect();
        assert_eq!(beta_kbs, ["4540673", "4552931"]);
        assert!(f.device(&id(99)).is_none());
        assert_eq!(
            f.products(),
            [".net_framework", "edge", "windows_10", "windows_11"]
        );
    }

    proptest! {
        #[test]
        fn aggregation_is_order_independent(
            devices in arb_fleet(),
            seed in any::<u64>(),
        ) {
            let mut forward = FleetAggregate::new();
            for (n, kbs) in &devices {
                forward.add_device_named(id(*n), format!("d{n}"), kbs);
            }
            let mut shuffled = devices.clone();
            shuffle(&mut shuffled, seed);
            let mut backward = FleetAggregate::new();
            for (n, kbs) in &shuffled {
                backward.add_device_named(id(*n), format!("d{n}"), kbs);
            }
            prop_assert_eq!(&forward, &backward);
            let sort = Sort::default();
            prop_assert_eq!(
                kb_ids(&forward.kb_rows(&FleetKbFilter::default(), sort)),
                kb_ids(&backward.kb_rows(&FleetKbFilter::default(), sort))
            );
            let s = forward.summary();
            prop_assert_eq!(s.devices_scanned, devices.len());
            prop_assert_eq!(
                s.device_kb_pairs,
                forward.kbs().map(FleetKb::device_count).sum::<usize>()
            );
        }

        #[test]
        fn removing_everything_leaves_nothing(devices in arb_fleet()) {
            let mut f = FleetAggregate::new();
            for (n, kbs) in &devices {
                f.add_device_named(id(*n), "d", kbs);
            }
            for (n, _) in &devices {
                prop_assert!(f.remove_device(&id(*n)));
            }
            prop_assert_eq!(f, FleetAggregate::new());
        }
    }
}
