//! The fleet model: which KB is missing on which devices, built incrementally from per-device
//! `getmissingkbs` answers (or from the bulk endpoints, see `bulk`), with summary tiles,
//! filters and sorting for the per-KB and per-device tables.
//!
//! ```
//! use kbwatch_core::fleet::aggregate::{FleetAggregate, FleetKbFilter};
//! use kbwatch_core::{DeviceId, MissingKb, Sort};
//!
//! let kb = MissingKb {
//!     id: "4540673".into(),
//!     name: Some("March 2020 Security Updates".into()),
//!     products: vec!["windows_10".into()],
//!     url: None,
//!     machine_missed_on: Some(1),
//!     cve_addressed: Some(97),
//! };
//! let mut fleet = FleetAggregate::new();
//! let id = DeviceId::parse(&"a".repeat(40)).unwrap();
//! fleet.add_device_named(id, "pc-1", &[kb]);
//! let rows = fleet.kb_rows(&FleetKbFilter::default(), Sort::default());
//! assert_eq!(rows[0].label, "KB4540673");
//! assert_eq!(fleet.summary().total_cves_addressable, 97);
//! ```

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use crate::device::{Device, DeviceId};
use crate::kb::{humanize_product, products_by_label, MissingKb};
use crate::sort::{sort_by, sort_by_cached_key, Sort, SortDirection, SortKey};

/// The month an update was released, read from its name ("March 2020 Security Updates",
/// "2024-10 Cumulative Update for Windows 11").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UpdateMonth {
    pub year: u16,
    /// 1 to 12.
    pub month: u8,
}

const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

impl UpdateMonth {
    /// `None` unless `month` is 1 to 12 and `year` a plausible update year (1990 to 2099).
    pub fn new(year: u16, month: u8) -> Option<Self> {
        ((1990..=2099).contains(&year) && (1..=12).contains(&month)).then_some(Self { year, month })
    }

    /// The first date found in an update name: an English month name (full or abbreviated)
    /// followed by a year ("March 2020", "Sep. 2021", "October, 2024"), or year-month
    /// ("2024-10", "2024/10", "2024-10-08"). `None` when the name carries no date: the
    /// update then simply has no age.
    pub fn parse(text: &str) -> Option<Self> {
        let tokens = tokens(text);
        tokens.windows(2).find_map(|pair| {
            let ((a_start, a_end), (b_start, b_end)) = (pair[0], pair[1]);
            let (a, gap, b) = (
                &text[a_start..a_end],
                &text[a_end..b_start],
                &text[b_start..b_end],
            );
            if let Some(month) = month_from_name(a) {
                let gap_ok = gap.chars().all(|c| matches!(c, ' ' | ',' | '.' | '-'));
                return gap_ok
                    .then(|| year_from(b))
                    .flatten()
                    .and_then(|year| Self::new(year, month));
            }
            let year = year_from(a)?;
            let month_ok = matches!(gap, "-" | "/" | ".")
                && (1..=2).contains(&b.len())
                && b.bytes().all(|c| c.is_ascii_digit());
            month_ok
                .then(|| b.parse().ok())
                .flatten()
                .and_then(|month| Self::new(year, month))
        })
    }
}

/// "2020-03".
impl fmt::Display for UpdateMonth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

/// Byte ranges of the runs of ASCII letters and digits.
fn tokens(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        match (c.is_ascii_alphanumeric(), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                out.push((s, i));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((s, text.len()));
    }
    out
}

fn month_from_name(token: &str) -> Option<u8> {
    if token.len() < 3 || !token.bytes().all(|b| b.is_ascii_alphabetic()) {
        return None;
    }
    let lower = token.to_ascii_lowercase();
    if lower == "sept" {
        return Some(9);
    }
    MONTHS
        .iter()
        .position(|full| *full == lower || (lower.len() == 3 && full.starts_with(&lower)))
        .and_then(|i| u8::try_from(i + 1).ok())
}

fn year_from(token: &str) -> Option<u16> {
    (token.len() == 4 && token.bytes().all(|b| b.is_ascii_digit()))
        .then(|| token.parse().ok())
        .flatten()
}

/// The key a KB is known by: its number without "KB" when it is one, else the raw id.
pub(crate) fn kb_key(kb: &MissingKb) -> &str {
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
    /// The devices missing this KB (`FleetAggregate::device_ids_missing` lists them).
    devices: DeviceSet,
}

impl FleetKb {
    pub fn device_count(&self) -> usize {
        self.devices.len()
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

/// A multiply-rotate hasher (FxHash's scheme) for the aggregate's maps. Device IDs are
/// uniformly distributed and KB ids short, so SipHash's flooding resistance buys little
/// here and cost a third of the aggregation time; the keys come from the tenant's own
/// Defender data, not from a party that could choose colliding keys at will.
#[derive(Default, Clone, Copy)]
struct FastHasher(u64);

impl Hasher for FastHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let word = chunk
                .iter()
                .rev()
                .fold(0u64, |word, &b| word << 8 | u64::from(b));
            self.write_u64(word);
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let word = rest
                .iter()
                .rev()
                .fold(0u64, |word, &b| word << 8 | u64::from(b));
            self.write_u64(word);
        }
    }

    fn write_u8(&mut self, n: u8) {
        self.write_u64(u64::from(n));
    }

    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }

    fn write_u128(&mut self, n: u128) {
        self.write_u64(n as u64);
        self.write_u64((n >> 64) as u64);
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

type FastBuild = BuildHasherDefault<FastHasher>;
type DeviceSet = HashSet<DeviceKey, FastBuild>;
type DeviceMap<V> = HashMap<DeviceKey, V, FastBuild>;

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

    pub fn contains_device(&self, id: &DeviceId) -> bool {
        self.devices.contains_key(&DeviceKey::of(id))
    }

    pub fn device(&self, id: &DeviceId) -> Option<&FleetDevice> {
        self.devices.get(&DeviceKey::of(id))
    }

    /// A KB by its key; "KB5044285" and "5044285" both find it.
    pub fn kb(&self, id: &str) -> Option<&FleetKb> {
        let id = id.trim();
        self.kbs
            .get(id)
            .or_else(|| {
                id.strip_prefix("KB")
                    .or_else(|| id.strip_prefix("kb"))
                    .and_then(|n| self.kbs.get(n))
            })
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

    /// The `n` KBs missing on the most devices (ties: more CVEs first, then KB number), for
    /// the bar chart.
    pub fn top_kbs_by_devices(&self, n: usize) -> Vec<&FleetKb> {
        let mut rows: Vec<&FleetKb> = self.kbs().collect();
        sort_by(&mut rows, |a, b| {
            b.device_count()
                .cmp(&a.device_count())
                .then_with(|| b.cves.cmp(&a.cves))
                .then_with(|| kb_order(a, b))
        });
        rows.truncate(n);
        rows
    }

    /// The per-KB table: KBs matching `filter`, in `sort` order. Ties are broken by the other
    /// number (devices or CVEs) in the same direction, then by KB number ascending, so the
    /// order is total. KBs without a name sort last by name either way.
    pub fn kb_rows(&self, filter: &FleetKbFilter, sort: Sort<FleetKbSortKey>) -> Vec<&FleetKb> {
        let needle = filter.text.trim().to_lowercase();
        let mut rows: Vec<(Option<String>, &FleetKb)> = self
            .kbs()
            .filter(|kb| filter.matches_with(kb, &needle))
            .map(|kb| {
                let name = (sort.key == FleetKbSortKey::Name)
                    .then(|| kb.name.as_deref().map(str::to_lowercase))
                    .flatten();
                (name, kb)
            })
            .collect();
        let dir = sort.direction;
        sort_by(&mut rows, |(a_name, a), (b_name, b)| {
            let primary = match sort.key {
                FleetKbSortKey::Kb => dir.apply(kb_order(a, b)),
                FleetKbSortKey::Name => some_first(a_name.as_ref(), b_name.as_ref(), dir),
                FleetKbSortKey::Devices => dir.apply(
                    a.device_count()
                        .cmp(&b.device_count())
                        .then_with(|| a.cves.cmp(&b.cves)),
                ),
                FleetKbSortKey::Cves => dir.apply(
                    a.cves
                        .cmp(&b.cves)
                        .then_with(|| a.device_count().cmp(&b.device_count())),
                ),
            };
            primary.then_with(|| kb_order(a, b))
        });
        rows.into_iter().map(|(_, kb)| kb).collect()
    }

    /// The per-device table: devices matching `filter`, in `sort` order. Ties are broken by
    /// name, then ID (ascending, except when sorting by name). Devices without a dated missing
    /// update sort last by age either way.
    pub fn device_rows(
        &self,
        filter: &FleetDeviceFilter,
        sort: Sort<FleetDeviceSortKey>,
    ) -> Vec<&FleetDevice> {
        let needle = filter.text.trim().to_lowercase();
        let mut rows: Vec<(String, &FleetDevice)> = self
            .devices
            .values()
            .filter(|d| filter.matches_with(d, &needle))
            .map(|d| (d.name.to_lowercase(), d))
            .collect();
        let dir = sort.direction;
        sort_by(&mut rows, |(a_name, a), (b_name, b)| {
            let by_name = || a_name.cmp(b_name).then_with(|| a.id.cmp(&b.id));
            match sort.key {
                FleetDeviceSortKey::Name => dir.apply(by_name()),
                FleetDeviceSortKey::Missing => dir.apply(a.missing.cmp(&b.missing)),
                FleetDeviceSortKey::Cves => dir.apply(a.cves.cmp(&b.cves)),
                FleetDeviceSortKey::Oldest => {
                    some_first(a.oldest_update.as_ref(), b.oldest_update.as_ref(), dir)
                }
            }
            .then_with(by_name)
        });
        rows.into_iter().map(|(_, d)| d).collect()
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

    /// The IDs of the devices missing KB `kb_id`, sorted.
    pub fn device_ids_missing(&self, kb_id: &str) -> Vec<&DeviceId> {
        let mut ids: Vec<&DeviceId> = self
            .kb(kb_id)
            .map(|kb| {
                kb.devices
                    .iter()
                    .filter_map(|key| self.devices.get(key).map(|d| &d.id))
                    .collect()
            })
            .unwrap_or_default();
        sort_by(&mut ids, |a, b| a.cmp(b));
        ids
    }

    /// The KBs `device` misses, most CVEs first.
    pub fn kbs_of(&self, device: &DeviceId) -> Vec<&FleetKb> {
        let Some(d) = self.device(device) else {
            return Vec::new();
        };
        let mut rows: Vec<&FleetKb> = d
            .kb_ids
            .iter()
            .filter_map(|key| self.kbs.get(key).map(|e| &e.kb))
            .collect();
        sort_by(&mut rows, |a, b| {
            b.cves.cmp(&a.cves).then_with(|| kb_order(a, b))
        });
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
fn kb_order(a: &FleetKb, b: &FleetKb) -> Ordering {
    match (a.numeric(), b.numeric()) {
        (Some(x), Some(y)) => x.cmp(&y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
    .then_with(|| a.id.cmp(&b.id))
}

/// `a` against `b` in `direction`, with `None` after every value in both directions.
fn some_first<T: Ord>(a: Option<&T>, b: Option<&T>, direction: SortDirection) -> Ordering {
    match (a, b) {
        (Some(a), Some(b)) => direction.apply(a.cmp(b)),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

/// What the analyst narrowed the per-KB table to. Empty fields do not filter.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FleetKbFilter {
    /// Case-insensitive substring of the KB label ("KB5044285") or the update name.
    pub text: String,
    /// Raw API product name (`windows_10`).
    pub product: Option<String>,
    pub min_devices: Option<u32>,
    pub min_cves: Option<u32>,
}

impl FleetKbFilter {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    pub fn matches(&self, kb: &FleetKb) -> bool {
        self.matches_with(kb, &self.text.trim().to_lowercase())
    }

    fn matches_with(&self, kb: &FleetKb, needle: &str) -> bool {
        let text_ok = needle.is_empty()
            || kb.label.to_lowercase().contains(needle)
            || kb.id.to_lowercase().contains(needle)
            || kb
                .name
                .as_deref()
                .is_some_and(|n| n.to_lowercase().contains(needle));
        text_ok
            && self
                .product
                .as_ref()
                .is_none_or(|p| kb.products.iter().any(|kp| kp == p))
            && self
                .min_devices
                .is_none_or(|min| kb.device_count() >= min as usize)
            && self.min_cves.is_none_or(|min| kb.cves >= min)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FleetKbSortKey {
    Kb,
    Name,
    Devices,
    Cves,
}

impl SortKey for FleetKbSortKey {
    const ALL: &'static [Self] = &[Self::Kb, Self::Name, Self::Devices, Self::Cves];

    fn url_name(self) -> &'static str {
        match self {
            Self::Kb => "kb",
            Self::Name => "name",
            Self::Devices => "devices",
            Self::Cves => "cves",
        }
    }

    fn default_direction(self) -> SortDirection {
        match self {
            Self::Name => SortDirection::Ascending,
            Self::Kb | Self::Devices | Self::Cves => SortDirection::Descending,
        }
    }
}

/// Missing on the most devices first: the update that fixes the widest gap leads.
impl Default for Sort<FleetKbSortKey> {
    fn default() -> Self {
        Sort::new(FleetKbSortKey::Devices, SortDirection::Descending)
    }
}

/// What the analyst narrowed the per-device table to.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FleetDeviceFilter {
    /// Case-insensitive substring of the device name, or a prefix of its ID.
    pub text: String,
}

impl FleetDeviceFilter {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    pub fn matches(&self, device: &FleetDevice) -> bool {
        self.matches_with(device, &self.text.trim().to_lowercase())
    }

    fn matches_with(&self, device: &FleetDevice, needle: &str) -> bool {
        needle.is_empty()
            || device.name.to_lowercase().contains(needle)
            || device.id.as_str().starts_with(needle)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FleetDeviceSortKey {
    Name,
    Missing,
    Cves,
    Oldest,
}

impl SortKey for FleetDeviceSortKey {
    const ALL: &'static [Self] = &[Self::Name, Self::Missing, Self::Cves, Self::Oldest];

    fn url_name(self) -> &'static str {
        match self {
            Self::Name => "name",
            Self::Missing => "missing",
            Self::Cves => "cves",
            Self::Oldest => "oldest",
        }
    }

    fn default_direction(self) -> SortDirection {
        match self {
            Self::Name | Self::Oldest => SortDirection::Ascending,
            Self::Missing | Self::Cves => SortDirection::Descending,
        }
    }
}

/// Most exposure first.
impl Default for Sort<FleetDeviceSortKey> {
    fn default() -> Self {
        Sort::new(FleetDeviceSortKey::Cves, SortDirection::Descending)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    pub(crate) fn id(n: u32) -> DeviceId {
        DeviceId::parse(&format!("{n:040x}")).expect("valid test id")
    }

    pub(crate) fn kb(id: &str, name: &str, products: &[&str], cves: u32) -> MissingKb {
        MissingKb {
            id: id.into(),
            name: Some(name.into()),
            products: products.iter().map(|p| p.to_string()).collect(),
            url: None,
            machine_missed_on: Some(1),
            cve_addressed: Some(cves),
        }
    }

    fn march() -> MissingKb {
        kb(
            "4540673",
            "March 2020 Security Updates",
            &["windows_10", "edge"],
            97,
        )
    }
    fn october() -> MissingKb {
        kb(
            "5044285",
            "2024-10 Cumulative Update for Windows 11 Version 23H2",
            &["windows_11"],
            12,
        )
    }
    fn dotnet() -> MissingKb {
        kb(
            "4552931",
            "May 2020 .NET Framework Update",
            &[".net_framework"],
            3,
        )
    }

    /// Four devices: one fully patched, the others missing overlapping KBs.
    pub(crate) fn fleet() -> FleetAggregate {
        let mut f = FleetAggregate::new();
        f.add_device_named(id(1), "alpha", &[march(), october()]);
        f.add_device_named(id(2), "Beta", &[march(), dotnet()]);
        f.add_device_named(id(3), "gamma", &[october()]);
        f.add_device_named(id(4), "delta", &[]);
        f
    }

    fn kb_ids(rows: &[&FleetKb]) -> Vec<String> {
        rows.iter().map(|kb| kb.id.clone()).collect()
    }

    fn names(rows: &[&FleetDevice]) -> Vec<String> {
        rows.iter().map(|d| d.name.clone()).collect()
    }

    #[test]
    fn month_parsing_variants() {
        let ym = |y, m| UpdateMonth::new(y, m);
        for (text, want) in [
            ("March 2020 Security Updates", ym(2020, 3)),
            (
                "2024-10 Cumulative Update for Windows 11 Version 23H2",
                ym(2024, 10),
            ),
            (
                "2023-01 Cumulative Update for .NET Framework 3.5 and 4.8",
                ym(2023, 1),
            ),
            ("Security update released 2021/7 for Office", ym(2021, 7)),
            ("Sep. 2021 Security Updates", ym(2021, 9)),
            ("Sept 2019 Update", ym(2019, 9)),
            ("Security Updates for october, 2024", ym(2024, 10)),
            ("2022-06-14 rollup", ym(2022, 6)),
            ("DECEMBER 2018 Monthly Rollup", ym(2018, 12)),
            ("Windows 10 Version 22H2", None),
            ("Windows Server 2019 May Update", None),
            ("2024-13 Cumulative Update", None),
            ("Mayday 2020", None),
            ("Mar2020", None),
            ("", None),
            ("Ünïcödé März 2020 — 2020-05", ym(2020, 5)),
        ] {
            assert_eq!(UpdateMonth::parse(text), want, "{text}");
        }
        assert_eq!(
            ym(2020, 3).map(|m| m.to_string()).as_deref(),
            Some("2020-03")
        );
        assert!(ym(2020, 3) < ym(2020, 11));
        assert!(ym(2019, 12) < ym(2020, 1));
    }

    #[test]
    fn per_kb_rows_merge_devices() {
        let f = fleet();
        let march = f.kb("KB4540673").expect("present");
        assert_eq!(march.label, "KB4540673");
        assert_eq!(f.device_ids_missing("KB4540673"), [&id(1), &id(2)]);
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
    fn top_kbs_ties_go_to_more_cves_then_kb_number() {
        let f = fleet();
        assert_eq!(
            kb_ids(&f.top_kbs_by_devices(2)),
            ["4540673", "5044285"],
            "two devices each; more CVEs first"
        );
        let mut g = FleetAggregate::new();
        g.add_device_named(id(1), "a", &[kb("20", "x", &[], 5), kb("10", "y", &[], 5)]);
        assert_eq!(kb_ids(&g.top_kbs_by_devices(10)), ["10", "20"]);
        assert!(g.top_kbs_by_devices(0).is_empty());
    }

    #[test]
    fn kb_rows_sort_and_filter() {
        let f = fleet();
        let all = FleetKbFilter::default();
        let rows =
            |filter: &FleetKbFilter, key, dir| kb_ids(&f.kb_rows(filter, Sort::new(key, dir)));
        use FleetKbSortKey as K;
        use SortDirection::{Ascending as Asc, Descending as Desc};
        assert_eq!(
            kb_ids(&f.kb_rows(&all, Sort::default())),
            ["4540673", "5044285", "4552931"]
        );
        assert_eq!(
            rows(&all, K::Devices, Asc),
            ["4552931", "5044285", "4540673"]
        );
        assert_eq!(rows(&all, K::Cves, Desc), ["4540673", "5044285", "4552931"]);
        assert_eq!(rows(&all, K::Kb, Asc), ["4540673", "4552931", "5044285"]);
        assert_eq!(rows(&all, K::Kb, Desc), ["5044285", "4552931", "4540673"]);
        // "2024-10 …" < "march …" < "may …"
        assert_eq!(rows(&all, K::Name, Asc), ["5044285", "4540673", "4552931"]);
        assert_eq!(rows(&all, K::Name, Desc), ["4552931", "4540673", "5044285"]);

        let by = |filter: FleetKbFilter| kb_ids(&f.kb_rows(&filter, Sort::default()));
        assert_eq!(
            by(FleetKbFilter {
                text: " kb4552 ".into(),
                ..all.clone()
            }),
            ["4552931"]
        );
        assert_eq!(
            by(FleetKbFilter {
                text: "CUMULATIVE".into(),
                ..all.clone()
            }),
            ["5044285"]
        );
        assert_eq!(
            by(FleetKbFilter {
                product: Some("edge".into()),
                ..all.clone()
            }),
            ["4540673"]
        );
        assert_eq!(
            by(FleetKbFilter {
                min_devices: Some(2),
                ..all.clone()
            }),
            ["4540673", "5044285"]
        );
        assert_eq!(
            by(FleetKbFilter {
                min_cves: Some(12),
                min_devices: Some(1),
                ..all.clone()
            }),
            ["4540673", "5044285"]
        );
        assert!(by(FleetKbFilter {
            min_devices: Some(3),
            ..all
        })
        .is_empty());
    }

    #[test]
    fn unnamed_kbs_sort_last_by_name() {
        let mut f = FleetAggregate::new();
        let mut unnamed = kb("1", "", &[], 1);
        unnamed.name = None;
        f.add_device_named(
            id(1),
            "a",
            &[unnamed, kb("2", "b", &[], 1), kb("3", "a", &[], 1)],
        );
        for dir in [SortDirection::Ascending, SortDirection::Descending] {
            let rows = f.kb_rows(
                &FleetKbFilter::default(),
                Sort::new(FleetKbSortKey::Name, dir),
            );
            assert_eq!(rows.last().map(|kb| kb.id.as_str()), Some("1"));
        }
    }

    #[test]
    fn device_rows_sort_and_filter() {
        let f = fleet();
        let all = FleetDeviceFilter::default();
        use FleetDeviceSortKey as K;
        use SortDirection::{Ascending as Asc, Descending as Desc};
        let rows = |key, dir| names(&f.device_rows(&all, Sort::new(key, dir)));
        assert_eq!(
            names(&f.device_rows(&all, Sort::default())),
            ["alpha", "Beta", "gamma", "delta"]
        );
        assert_eq!(rows(K::Name, Asc), ["alpha", "Beta", "delta", "gamma"]);
        assert_eq!(rows(K::Name, Desc), ["gamma", "delta", "Beta", "alpha"]);
        assert_eq!(rows(K::Missing, Desc), ["alpha", "Beta", "gamma", "delta"]);
        assert_eq!(rows(K::Missing, Asc), ["delta", "gamma", "alpha", "Beta"]);
        // Oldest first; the fully patched device has no age and stays last both ways.
        assert_eq!(rows(K::Oldest, Asc), ["alpha", "Beta", "gamma", "delta"]);
        assert_eq!(rows(K::Oldest, Desc), ["gamma", "alpha", "Beta", "delta"]);
        let filter = FleetDeviceFilter { text: "BET".into() };
        assert_eq!(names(&f.device_rows(&filter, Sort::default())), ["Beta"]);
        let filter = FleetDeviceFilter {
            text: format!("{:038x}", 0),
        };
        assert_eq!(f.device_rows(&filter, Sort::default()).len(), 4);
        assert!(filter.matches(f.device(&id(3)).expect("present")));
    }

    #[test]
    fn devices_missing_a_kb_and_kbs_of_a_device() {
        let f = fleet();
        assert_eq!(names(&f.devices_missing("KB5044285")), ["alpha", "gamma"]);
        assert_eq!(names(&f.devices_missing("4540673")), ["alpha", "Beta"]);
        assert!(f.devices_missing("nope").is_empty());
        assert_eq!(kb_ids(&f.kbs_of(&id(2))), ["4540673", "4552931"]);
        assert!(f.kbs_of(&id(99)).is_empty());
        assert_eq!(
            f.products(),
            [".net_framework", "edge", "windows_10", "windows_11"]
        );
    }

    #[test]
    fn sort_keys_round_trip_through_the_url() {
        let sort: Sort<FleetKbSortKey> = "devices-desc".parse().expect("valid");
        assert_eq!(sort, Sort::default());
        assert_eq!(
            Sort::<FleetDeviceSortKey>::default().to_string(),
            "cves-desc"
        );
        assert_eq!(
            Sort::<FleetDeviceSortKey>::default().toggled(FleetDeviceSortKey::Oldest),
            Sort::new(FleetDeviceSortKey::Oldest, SortDirection::Ascending)
        );
    }

    fn arb_fleet() -> impl Strategy<Value = Vec<(u32, Vec<MissingKb>)>> {
        let kb_pool = prop::sample::select(vec![
            march(),
            october(),
            dotnet(),
            kb(
                "KB5044285",
                "2024-10 Cumulative Update",
                &["windows_10"],
                30,
            ),
            kb("123", "", &[], 0),
            kb("odd-id", "June 2019", &["office"], 7),
        ]);
        prop::collection::vec((0u32..20, prop::collection::vec(kb_pool, 0..5)), 0..25).prop_map(
            |devices| {
                // One answer per device, as the per-device replace rule would leave it.
                let mut seen = std::collections::HashSet::new();
                devices
                    .into_iter()
                    .filter(|(n, _)| seen.insert(*n))
                    .collect()
            },
        )
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
            // Deterministic Fisher-Yates from the seed.
            let mut state = seed | 1;
            for i in (1..shuffled.len()).rev() {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                shuffled.swap(i, (state % (i as u64 + 1)) as usize);
            }
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

        #[test]
        fn month_parsing_never_panics(text in ".{0,60}") {
            let _ = UpdateMonth::parse(&text);
        }
    }
}
