//! The fleet overview by the per-product path: which KBs are missing, on how many devices,
//! from one `GET /api/Software/{id}/getmissingkbs` call per Microsoft product (a few dozen
//! calls whatever the tenant's size) instead of one call per device.
//!
//! Each product's answer counts devices per KB (`machineMissedOn`). A KB listed under one
//! product is therefore known exactly; under several (a cumulative update fixing Windows,
//! Edge and Internet Explorer) the answers overlap — a device may have several of the
//! products — so only the largest of them is certain: [`Count::AtLeast`]. A drill-down
//! (`machinesVulnerabilities?$filter=fixingKbId eq '…'`, [`ProductOverview::apply_drill_down`])
//! lists the KB's devices and makes its figures exact.
//!
//! ```
//! use kbwatch_core::overview::{Count, ProductOverview};
//! use kbwatch_core::{MissingKb, Software};
//!
//! let software = |id: &str| -> Software {
//!     serde_json::from_str(&format!(r#"{{"id": "microsoft-_-{id}", "name": "{id}"}}"#)).unwrap()
//! };
//! let march = |devices: u32| MissingKb {
//!     id: "4540673".into(),
//!     name: Some("March 2020 Security Updates".into()),
//!     products: vec![],
//!     url: None,
//!     machine_missed_on: Some(devices),
//!     cve_addressed: Some(14),
//! };
//! let mut overview = ProductOverview::new();
//! overview.add_product(&software("edge"), &[march(240)]);
//! assert_eq!(overview.rows()[0].devices, Count::Exact(240));
//! overview.add_product(&software("windows_10"), &[march(180)]);
//! assert_eq!(overview.rows()[0].devices, Count::AtLeast(240));
//! ```

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::device::DeviceId;
use crate::fleet::bulk::MachineVulnerability;
use crate::kb::{kb_number, products_by_label, MissingKb};
use crate::kb_id::KbId;
use crate::software::{Software, SoftwareId};
use crate::sort::{sort_by, sort_keys, Sort, SortDirection};

/// A figure that is either known or only bounded from below.
///
/// Ordered by value; at the same value `AtLeast` comes after `Exact` (it may be more), so
/// "most devices first" puts the uncertain one first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Count {
    Exact(u32),
    /// At least this many; the true figure is not known from the answers at hand.
    AtLeast(u32),
}

impl Count {
    /// The number shown: the figure, or its lower bound.
    pub fn value(self) -> u32 {
        match self {
            Self::Exact(n) | Self::AtLeast(n) => n,
        }
    }

    pub fn is_exact(self) -> bool {
        matches!(self, Self::Exact(_))
    }
}

impl Ord for Count {
    fn cmp(&self, other: &Self) -> Ordering {
        self.value()
            .cmp(&other.value())
            .then_with(|| (!self.is_exact()).cmp(&!other.is_exact()))
    }
}

impl PartialOrd for Count {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Count {
    /// "240", or "≥ 240" for a lower bound (the words around it belong to `messages`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Exact(n) => write!(f, "{n}"),
            Self::AtLeast(n) => write!(f, "≥ {n}"),
        }
    }
}

/// One row of the overview: a KB with what the product answers (and any drill-down) say.
#[derive(Debug, Clone, PartialEq)]
pub struct OverviewKb {
    /// The KB number without "KB" ("4540673"), or the raw id when it is not a KB number.
    pub id: String,
    /// "KB4540673" (the raw id when not a KB number).
    pub label: String,
    /// The update's name (the smallest non-empty one the answers gave).
    pub name: Option<String>,
    /// Raw product names (`windows_10`): the products whose answers list the KB and the
    /// `productsNames` they gave, each once, sorted by their human label.
    pub products: Vec<String>,
    /// Devices missing the KB (see [`Count`] and the module documentation).
    pub devices: Count,
    /// CVEs the KB addresses: exact under one product or after a drill-down, else the
    /// largest count any product's answer gave.
    pub cves: Count,
    /// The Update Catalog link (the API's when safe, else built from the number).
    pub url: Option<String>,
}

impl OverviewKb {
    /// The KB as a [`KbId`], for a drill-down; `None` when the id is not a KB number.
    pub fn kb_id(&self) -> Option<KbId> {
        KbId::parse(&self.id)
    }

    fn numeric(&self) -> Option<u64> {
        self.id.parse().ok()
    }
}

/// One device of a drill-down: the products through which it misses the KB and how many of
/// the KB's CVEs were found on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrilledDevice {
    pub machine_id: DeviceId,
    /// Raw product names, each once, sorted by their human label.
    pub products: Vec<String>,
    /// Distinct CVEs on this device that the KB fixes.
    pub cves: u32,
}

/// Every device missing one KB, from the KB's `machinesVulnerabilities` rows.
///
/// A device shows up through its vulnerability rows, so a device missing the KB for a product
/// without any CVE row would not be listed; Defender lists a fixing KB with each vulnerability
/// it fixes, so this is the exact list as far as the API tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrillDown {
    pub kb: KbId,
    /// By device ID.
    pub devices: Vec<DrilledDevice>,
    /// Distinct CVEs over all the devices.
    pub cves: u32,
    /// Rows read.
    pub rows: u64,
    /// Rows fixed by another KB or none (a server that ignored the filter): left out.
    pub rows_of_other_kbs: u64,
    /// Rows without a usable device ID: left out.
    pub rows_without_device: u64,
}

impl DrillDown {
    /// The drill-down of `kb` from all its rows at once; [`DrillDownBuilder`] takes them page
    /// by page.
    pub fn from_rows<'a>(
        kb: &KbId,
        rows: impl IntoIterator<Item = &'a MachineVulnerability>,
    ) -> Self {
        let mut builder = DrillDownBuilder::new(kb.clone());
        builder.add_rows(rows);
        builder.finish()
    }
}

/// Folds a KB's rows, page by page, into a [`DrillDown`]. Keeps per device the indices of its
/// products and CVEs, never the rows.
#[derive(Debug, Clone)]
pub struct DrillDownBuilder {
    kb: KbId,
    devices: BTreeMap<DeviceId, (BTreeSet<u32>, HashSet<u32>)>,
    products: Interner,
    cves: Interner,
    rows: u64,
    rows_of_other_kbs: u64,
    rows_without_device: u64,
}

#[derive(Debug, Clone, Default)]
struct Interner {
    index: HashMap<String, u32>,
    names: Vec<String>,
}

impl Interner {
    fn of(&mut self, name: String) -> u32 {
        if let Some(&i) = self.index.get(&name) {
            return i;
        }
        let i = u32::try_from(self.names.len()).unwrap_or(u32::MAX);
        self.names.push(name.clone());
        self.index.insert(name, i);
        i
    }
}

impl DrillDownBuilder {
    pub fn new(kb: KbId) -> Self {
        Self {
            kb,
            devices: BTreeMap::new(),
            products: Interner::default(),
            cves: Interner::default(),
            rows: 0,
            rows_of_other_kbs: 0,
            rows_without_device: 0,
        }
    }

    pub fn add_rows<'a>(&mut self, rows: impl IntoIterator<Item = &'a MachineVulnerability>) {
        for row in rows {
            self.add_row(row);
        }
    }

    pub fn add_row(&mut self, row: &MachineVulnerability) {
        self.rows += 1;
        if row.fixing_kb_id.as_deref().and_then(KbId::parse).as_ref() != Some(&self.kb) {
            self.rows_of_other_kbs += 1;
            return;
        }
        let Some(device) = row.machine_id.as_deref().and_then(DeviceId::parse) else {
            self.rows_without_device += 1;
            return;
        };
        let product = trimmed(row.product_name.as_deref()).map(|p| self.products.of(p.into()));
        let cve = trimmed(row.cve_id.as_deref()).map(|c| self.cves.of(c.to_ascii_uppercase()));
        let (products, cves) = self.devices.entry(device).or_default();
        products.extend(product);
        cves.extend(cve);
    }

    pub fn finish(self) -> DrillDown {
        let names = &self.products.names;
        let mut all_cves = HashSet::new();
        let devices = self
            .devices
            .into_iter()
            .map(|(machine_id, (products, cves))| {
                all_cves.extend(cves.iter().copied());
                DrilledDevice {
                    machine_id,
                    products: products_by_label(
                        products.iter().map(|&i| names[i as usize].as_str()),
                    ),
                    cves: len_u32(cves.len()),
                }
            })
            .collect();
        DrillDown {
            kb: self.kb,
            devices,
            cves: len_u32(all_cves.len()),
            rows: self.rows,
            rows_of_other_kbs: self.rows_of_other_kbs,
            rows_without_device: self.rows_without_device,
        }
    }
}

/// The summary tiles of the overview.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OverviewTiles {
    /// Distinct KBs missing anywhere.
    pub kbs: usize,
    /// Devices missing at least one KB. Exact when there is no KB, when there is one KB whose
    /// figure is exact, or when every KB was drilled down (then it is the union of their
    /// device lists). Otherwise the answers overlap in unknown ways and only a lower bound is
    /// honest: the largest of the KBs' figures, or the devices of the drill-downs together,
    /// whichever is larger. (The sum of the KBs' figures would be an upper bound, but for a
    /// fleet where most devices miss the same cumulative update it is many times too high, so
    /// it is not shown.) Only devices with one of the products asked are counted.
    pub devices_missing_any: Count,
    /// Products whose answers were added.
    pub products_asked: usize,
    /// Of those, products with at least one missing KB.
    pub products_with_missing_kbs: usize,
    /// KBs whose device figure is exact.
    pub exact_kbs: usize,
}

sort_keys! {
    /// The overview table's columns.
    pub enum OverviewSortKey {
        Kb => "kb", Descending;
        Name => "name", Ascending;
        Devices => "devices", Descending;
        Cves => "cves", Descending;
    }
    /// Most devices first: the update that closes the most exposure leads.
    default Devices, Descending;
}

/// What the analyst narrowed the overview table to. Empty fields do not filter.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OverviewFilter {
    /// Case-insensitive substring of the KB label ("KB5044285") or the update name.
    pub text: String,
    /// Raw API product name (`windows_10`).
    pub product: Option<String>,
    /// At least this many devices, by the figure shown (a lower bound for `AtLeast`).
    pub min_devices: Option<u32>,
}

impl OverviewFilter {
    pub fn matches(&self, kb: &OverviewKb) -> bool {
        self.matches_with(kb, &self.text.trim().to_lowercase())
    }

    fn matches_with(&self, kb: &OverviewKb, needle: &str) -> bool {
        let text_ok = needle.is_empty()
            || kb.label.to_lowercase().contains(needle)
            || kb
                .name
                .as_deref()
                .is_some_and(|n| n.to_lowercase().contains(needle));
        let product_ok = self
            .product
            .as_deref()
            .is_none_or(|p| kb.products.iter().any(|q| q == p));
        let devices_ok = self.min_devices.is_none_or(|m| kb.devices.value() >= m);
        text_ok && product_ok && devices_ok
    }
}

#[derive(Debug, Clone)]
struct ProductAnswer {
    software: Software,
    kbs: Vec<MissingKb>,
}

/// The fleet overview from per-product answers, made exact KB by KB by drill-downs.
#[derive(Debug, Clone, Default)]
pub struct ProductOverview {
    answers: BTreeMap<SoftwareId, ProductAnswer>,
    /// By KB key (the number without "KB").
    drill_downs: HashMap<String, DrillDown>,
}

/// What the product answers say about one KB, before any drill-down.
#[derive(Default)]
struct Merged {
    listed_by: usize,
    devices: u32,
    devices_known: bool,
    cves: u32,
    cves_known: bool,
    name: Option<String>,
    products: BTreeSet<String>,
    url: Option<String>,
}

impl ProductOverview {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) one product's `getmissingkbs` answer. Any drill-down of a KB this
    /// answer lists, now or before, is dropped: the product figures it refined have changed.
    pub fn add_product(&mut self, software: &Software, kbs: &[MissingKb]) {
        let answer = ProductAnswer {
            software: software.clone(),
            kbs: kbs.to_vec(),
        };
        let old = self.answers.insert(software.id.clone(), answer);
        let touched = old.iter().flat_map(|a| a.kbs.iter()).chain(kbs);
        for kb in touched {
            self.drill_downs.remove(kb_key(kb));
        }
    }

    /// Products whose answers were added.
    pub fn products_asked(&self) -> usize {
        self.answers.len()
    }

    /// The products asked, by ID.
    pub fn products(&self) -> impl Iterator<Item = &Software> {
        self.answers.values().map(|a| &a.software)
    }

    pub fn is_empty(&self) -> bool {
        self.answers.is_empty()
    }

    /// Folds the drill-down of `kb` from its rows (every page of
    /// `machinesVulnerabilities?$filter=fixingKbId eq '…'`) into the overview: the KB's
    /// devices and CVEs become exact. See [`ProductOverview::set_drill_down`] for rows
    /// folded page by page.
    pub fn apply_drill_down<'a>(
        &mut self,
        kb: &KbId,
        rows: impl IntoIterator<Item = &'a MachineVulnerability>,
    ) -> &DrillDown {
        self.set_drill_down(DrillDown::from_rows(kb, rows))
    }

    /// Keeps a finished drill-down (from a [`DrillDownBuilder`]); it replaces an earlier one
    /// of the same KB. A drill-down of a KB no product lists is kept, but shows nowhere.
    pub fn set_drill_down(&mut self, drill: DrillDown) -> &DrillDown {
        let key = drill.kb.as_str().to_owned();
        self.drill_downs.insert(key.clone(), drill);
        &self.drill_downs[&key]
    }

    /// The drill-down of `kb`, if one is in force.
    pub fn drill_down(&self, kb: &KbId) -> Option<&DrillDown> {
        self.drill_downs.get(kb.as_str())
    }

    fn merged(&self) -> BTreeMap<String, Merged> {
        let mut merged: BTreeMap<String, Merged> = BTreeMap::new();
        for answer in self.answers.values() {
            // Within one answer a KB counts once (the largest figures if repeated).
            let mut seen_here: HashSet<&str> = HashSet::new();
            for kb in &answer.kbs {
                let key = kb_key(kb);
                let entry = merged.entry(key.to_owned()).or_default();
                if seen_here.insert(key) {
                    entry.listed_by += 1;
                }
                if let Some(n) = kb.machine_missed_on {
                    entry.devices = entry.devices.max(n);
                    entry.devices_known = true;
                }
                if let Some(n) = kb.cve_addressed {
                    entry.cves = entry.cves.max(n);
                    entry.cves_known = true;
                }
                if let Some(name) = trimmed(kb.name.as_deref()) {
                    if entry.name.as_deref().is_none_or(|n| name < n) {
                        entry.name = Some(name.to_owned());
                    }
                }
                if let Some(url) = kb.catalog_url() {
                    if entry.url.as_deref().is_none_or(|u| url.as_str() < u) {
                        entry.url = Some(url);
                    }
                }
                entry
                    .products
                    .insert(answer.software.product_name().to_owned());
                entry.products.extend(
                    kb.products
                        .iter()
                        .filter_map(|p| trimmed(Some(p)))
                        .map(str::to_owned),
                );
            }
        }
        merged
    }

    /// Every KB, most devices first (then most CVEs, then KB number).
    pub fn rows(&self) -> Vec<OverviewKb> {
        self.rows_where(&OverviewFilter::default(), Sort::default())
    }

    /// The KBs matching `filter`, in `sort` order. Ties are broken by the other number
    /// (devices or CVEs) in the same direction, then by KB number ascending, so the order is
    /// total. KBs without a name sort last by name either way.
    pub fn rows_where(
        &self,
        filter: &OverviewFilter,
        sort: Sort<OverviewSortKey>,
    ) -> Vec<OverviewKb> {
        let needle = filter.text.trim().to_lowercase();
        let mut rows: Vec<OverviewKb> = self
            .merged()
            .into_iter()
            .map(|(id, merged)| self.row(id, merged))
            .filter(|kb| filter.matches_with(kb, &needle))
            .collect();
        let dir = sort.direction;
        sort_by(&mut rows, |a, b| {
            let primary = match sort.key {
                OverviewSortKey::Kb => dir.apply(kb_order(a, b)),
                OverviewSortKey::Name => name_order(a, b, dir),
                OverviewSortKey::Devices => {
                    dir.apply(a.devices.cmp(&b.devices).then_with(|| a.cves.cmp(&b.cves)))
                }
                OverviewSortKey::Cves => {
                    dir.apply(a.cves.cmp(&b.cves).then_with(|| a.devices.cmp(&b.devices)))
                }
            };
            primary.then_with(|| kb_order(a, b))
        });
        rows
    }

    fn row(&self, id: String, merged: Merged) -> OverviewKb {
        let single = merged.listed_by == 1;
        let from_answers = |known: bool, n: u32| {
            if single && known {
                Count::Exact(n)
            } else {
                Count::AtLeast(n)
            }
        };
        let (devices, cves) = match self.drill_downs.get(&id) {
            Some(drill) => (
                Count::Exact(len_u32(drill.devices.len())),
                Count::Exact(drill.cves),
            ),
            None => (
                from_answers(merged.devices_known, merged.devices),
                from_answers(merged.cves_known, merged.cves),
            ),
        };
        let label = match kb_number(&id) {
            Some(n) => format!("KB{n}"),
            None => id.clone(),
        };
        OverviewKb {
            label,
            name: merged.name,
            products: products_by_label(merged.products.iter().map(String::as_str)),
            devices,
            cves,
            url: merged.url,
            id,
        }
    }

    /// The summary tiles (see [`OverviewTiles`] for what is exact).
    pub fn tiles(&self) -> OverviewTiles {
        let rows = self.rows();
        let mut union: HashSet<&DeviceId> = HashSet::new();
        let mut all_drilled = true;
        for row in &rows {
            match self.drill_downs.get(&row.id) {
                Some(drill) => union.extend(drill.devices.iter().map(|d| &d.machine_id)),
                None => all_drilled = false,
            }
        }
        let union = len_u32(union.len());
        let devices_missing_any = match rows.as_slice() {
            [] => Count::Exact(0),
            [only] => only.devices,
            _ if all_drilled => Count::Exact(union),
            _ => {
                let largest = rows.iter().map(|r| r.devices.value()).max().unwrap_or(0);
                Count::AtLeast(largest.max(union))
            }
        };
        OverviewTiles {
            kbs: rows.len(),
            devices_missing_any,
            products_asked: self.answers.len(),
            products_with_missing_kbs: self.answers.values().filter(|a| !a.kbs.is_empty()).count(),
            exact_kbs: rows.iter().filter(|r| r.devices.is_exact()).count(),
        }
    }
}

/// The key a KB is known by: its number without "KB" when it is one, else the trimmed raw id.
fn kb_key(kb: &MissingKb) -> &str {
    kb.kb_number().unwrap_or(kb.id.trim())
}

fn trimmed(text: Option<&str>) -> Option<&str> {
    text.map(str::trim).filter(|t| !t.is_empty())
}

fn len_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// KB numbers ascending (numbers before other ids), then the id.
fn kb_order(a: &OverviewKb, b: &OverviewKb) -> Ordering {
    match (a.numeric(), b.numeric()) {
        (Some(x), Some(y)) => x.cmp(&y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
    .then_with(|| a.id.cmp(&b.id))
}

/// By name (case-insensitive) in `direction`; KBs without a name after all others either way.
fn name_order(a: &OverviewKb, b: &OverviewKb, direction: SortDirection) -> Ordering {
    match (a.name.as_deref(), b.name.as_deref()) {
        (Some(x), Some(y)) => direction.apply(x.to_lowercase().cmp(&y.to_lowercase())),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sort::SortKey;
    use proptest::prelude::*;

    fn software(name: &str) -> Software {
        Software {
            id: SoftwareId::parse(&format!("microsoft-_-{name}")).expect("id"),
            name: Some(name.into()),
            vendor: Some("microsoft".into()),
            weaknesses: None,
            public_exploit: None,
            active_alert: None,
            exposed_machines: None,
            impact_score: None,
        }
    }

    fn kb(id: &str, name: Option<&str>, devices: u32, cves: u32) -> MissingKb {
        MissingKb {
            id: id.into(),
            name: name.map(Into::into),
            products: vec![],
            url: None,
            machine_missed_on: Some(devices),
            cve_addressed: Some(cves),
        }
    }

    fn hex(n: u32) -> String {
        format!("{n:040x}")
    }

    fn vuln(device: u32, cve: &str, kb: &str, product: &str) -> MachineVulnerability {
        MachineVulnerability {
            machine_id: Some(hex(device)),
            cve_id: Some(cve.into()),
            fixing_kb_id: Some(kb.into()),
            product_name: Some(product.into()),
            ..Default::default()
        }
    }

    /// Edge and Windows 10 share the March update; .NET has its own.
    fn overview() -> ProductOverview {
        let mut o = ProductOverview::new();
        o.add_product(
            &software("edge"),
            &[kb("4540673", Some("March 2020 Security Updates"), 240, 14)],
        );
        o.add_product(
            &software("windows_10"),
            &[
                kb("KB4540673", Some("March 2020 Security Updates"), 180, 97),
                kb("5044285", Some("2024-10 Cumulative Update"), 12, 30),
            ],
        );
        o.add_product(
            &software(".net_framework"),
            &[kb("4552931", Some("May 2020 .NET Framework Update"), 40, 3)],
        );
        o.add_product(&software("office"), &[]);
        o
    }

    #[test]
    fn a_kb_under_one_product_is_exact_under_several_a_lower_bound() {
        let rows = overview().rows();
        let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["4540673", "4552931", "5044285"], "most devices first");
        let march = &rows[0];
        assert_eq!(march.label, "KB4540673");
        assert_eq!(march.devices, Count::AtLeast(240));
        assert_eq!(march.cves, Count::AtLeast(97));
        assert_eq!(march.products, ["edge", "windows_10"]);
        assert_eq!(
            march.url.as_deref(),
            Some("https://catalog.update.microsoft.com/v7/site/Search.aspx?q=KB4540673")
        );
        assert_eq!(rows[1].devices, Count::Exact(40));
        assert_eq!(rows[1].cves, Count::Exact(3));
        assert_eq!(rows[2].devices, Count::Exact(12));
        assert_eq!(march.kb_id(), KbId::parse("4540673"));
    }

    #[test]
    fn tiles_say_only_what_is_known() {
        let o = overview();
        let t = o.tiles();
        assert_eq!(t.kbs, 3);
        assert_eq!(t.devices_missing_any, Count::AtLeast(240));
        assert_eq!((t.products_asked, t.products_with_missing_kbs), (4, 3));
        assert_eq!(t.exact_kbs, 2);

        let empty = ProductOverview::new().tiles();
        assert_eq!(empty.devices_missing_any, Count::Exact(0));

        let mut one = ProductOverview::new();
        one.add_product(&software("edge"), &[kb("1", None, 5, 1)]);
        assert_eq!(one.tiles().devices_missing_any, Count::Exact(5));
    }

    #[test]
    fn a_drill_down_makes_a_kb_exact() {
        let mut o = overview();
        let march = KbId::parse("4540673").expect("kb");
        let rows = [
            vuln(1, "CVE-1", "4540673", "edge"),
            vuln(1, "cve-1", "KB4540673", "windows_10"),
            vuln(1, "CVE-2", "4540673", "windows_10"),
            vuln(2, "CVE-3", "4540673", "windows_10"),
            vuln(3, "CVE-9", "5044285", "windows_10"),
            MachineVulnerability {
                fixing_kb_id: Some("4540673".into()),
                machine_id: Some("not-a-device".into()),
                ..Default::default()
            },
        ];
        let drill = o.apply_drill_down(&march, &rows).clone();
        assert_eq!(drill.kb, march);
        assert_eq!(
            drill.devices,
            [
                DrilledDevice {
                    machine_id: DeviceId::parse(&hex(1)).expect("id"),
                    products: vec!["edge".into(), "windows_10".into()],
                    cves: 2,
                },
                DrilledDevice {
                    machine_id: DeviceId::parse(&hex(2)).expect("id"),
                    products: vec!["windows_10".into()],
                    cves: 1,
                },
            ]
        );
        assert_eq!(drill.cves, 3);
        assert_eq!(
            (
                drill.rows,
                drill.rows_of_other_kbs,
                drill.rows_without_device
            ),
            (6, 1, 1)
        );
        let row = o
            .rows()
            .into_iter()
            .find(|r| r.id == "4540673")
            .expect("row");
        assert_eq!((row.devices, row.cves), (Count::Exact(2), Count::Exact(3)));
        assert_eq!(o.drill_down(&march), Some(&drill));
        // Not every KB is drilled: still a lower bound, now from the largest of 40, 12, 2.
        assert_eq!(o.tiles().devices_missing_any, Count::AtLeast(40));
        assert_eq!(o.tiles().exact_kbs, 3);

        // A newer answer from a product listing the KB drops the drill-down.
        o.add_product(
            &software("edge"),
            &[kb("4540673", Some("March 2020 Security Updates"), 250, 14)],
        );
        assert_eq!(o.drill_down(&march), None);
        assert_eq!(o.rows()[0].devices, Count::AtLeast(250));
        assert_eq!(o.products_asked(), 4, "replaced, not added");
    }

    #[test]
    fn page_by_page_drill_downs_equal_all_at_once() {
        let kb = KbId::parse("4540673").expect("kb");
        let rows: Vec<MachineVulnerability> = (0..50)
            .map(|i| {
                vuln(
                    i % 7,
                    &format!("CVE-{}", i % 5),
                    "4540673",
                    ["edge", "windows_10"][i as usize % 2],
                )
            })
            .collect();
        let mut builder = DrillDownBuilder::new(kb.clone());
        for page in rows.chunks(8) {
            builder.add_rows(page);
        }
        assert_eq!(builder.finish(), DrillDown::from_rows(&kb, &rows));
    }

    #[test]
    fn sorting_and_filtering() {
        let o = overview();
        let ids = |rows: Vec<OverviewKb>| rows.into_iter().map(|r| r.id).collect::<Vec<_>>();
        let by = |key, direction| Sort::new(key, direction);
        let all = OverviewFilter::default();
        assert_eq!(
            ids(o.rows_where(&all, by(OverviewSortKey::Kb, SortDirection::Ascending))),
            ["4540673", "4552931", "5044285"]
        );
        assert_eq!(
            ids(o.rows_where(&all, by(OverviewSortKey::Cves, SortDirection::Descending))),
            ["4540673", "5044285", "4552931"]
        );
        assert_eq!(
            ids(o.rows_where(&all, by(OverviewSortKey::Name, SortDirection::Ascending))),
            ["5044285", "4540673", "4552931"]
        );
        let text = OverviewFilter {
            text: " kb5044 ".into(),
            ..Default::default()
        };
        assert_eq!(ids(o.rows_where(&text, Sort::default())), ["5044285"]);
        let product = OverviewFilter {
            product: Some("edge".into()),
            ..Default::default()
        };
        assert_eq!(ids(o.rows_where(&product, Sort::default())), ["4540673"]);
        let min = OverviewFilter {
            min_devices: Some(40),
            ..Default::default()
        };
        assert_eq!(
            ids(o.rows_where(&min, Sort::default())),
            ["4540673", "4552931"]
        );
        // Equal figures: the uncertain one first when most come first.
        assert!(Count::AtLeast(5) > Count::Exact(5));
        assert!(Count::Exact(6) > Count::AtLeast(5));
        assert_eq!(Count::AtLeast(5).to_string(), "≥ 5");
    }

    #[test]
    fn sort_keys_round_trip_through_the_url() {
        for &key in OverviewSortKey::ALL {
            for direction in [SortDirection::Ascending, SortDirection::Descending] {
                let sort = Sort::new(key, direction);
                assert_eq!(sort.to_string().parse::<Sort<OverviewSortKey>>(), Ok(sort));
            }
        }
        assert_eq!(
            Sort::<OverviewSortKey>::default().to_string(),
            "devices-desc"
        );
    }

    #[test]
    fn odd_answers_cost_only_their_figures() {
        let mut o = ProductOverview::new();
        let unknown = MissingKb {
            machine_missed_on: None,
            cve_addressed: None,
            ..kb("ADV190023", None, 0, 0)
        };
        o.add_product(
            &software("windows_10"),
            &[unknown, kb("1", None, 3, 1), kb("KB1", None, 4, 2)],
        );
        let rows = o.rows();
        let adv = rows.iter().find(|r| r.id == "ADV190023").expect("row");
        assert_eq!(
            (adv.devices, adv.cves),
            (Count::AtLeast(0), Count::AtLeast(0))
        );
        assert_eq!(adv.label, "ADV190023");
        assert_eq!(adv.kb_id(), None);
        assert_eq!(adv.url, None);
        // The same KB twice in one answer is one KB under one product: exact, the larger.
        let one = rows.iter().find(|r| r.id == "1").expect("row");
        assert_eq!((one.devices, one.cves), (Count::Exact(4), Count::Exact(2)));
    }

    /// A synthetic tenant: which device misses which KB through which product, and the CVEs
    /// each KB fixes per product (at least one, as Defender lists a fixing KB per CVE).
    #[derive(Debug, Clone)]
    struct World {
        /// (device, product, kb)
        missing: BTreeSet<(u32, usize, usize)>,
        /// cves[kb][product]: CVE numbers.
        cves: Vec<Vec<BTreeSet<u32>>>,
    }

    const PRODUCTS: [&str; 3] = ["windows_10", "edge", "office"];
    const KBS: [&str; 4] = ["4540673", "5044285", "4552931", "10"];

    fn arb_world() -> impl Strategy<Value = World> {
        let missing =
            prop::collection::btree_set((0u32..12, 0..PRODUCTS.len(), 0..KBS.len()), 0..60);
        let cves = prop::collection::vec(
            prop::collection::vec(prop::collection::btree_set(0u32..8, 1..4), PRODUCTS.len()),
            KBS.len(),
        );
        (missing, cves).prop_map(|(missing, cves)| World { missing, cves })
    }

    impl World {
        /// The per-product answers `getmissingkbs` would give.
        fn overview(&self) -> ProductOverview {
            let mut o = ProductOverview::new();
            for (p, name) in PRODUCTS.iter().enumerate() {
                let answer: Vec<MissingKb> = (0..KBS.len())
                    .filter_map(|k| {
                        let devices = self
                            .missing
                            .iter()
                            .filter(|&&(_, q, j)| q == p && j == k)
                            .count();
                        (devices > 0)
                            .then(|| kb(KBS[k], None, devices as u32, self.cves[k][p].len() as u32))
                    })
                    .collect();
                o.add_product(&software(name), &answer);
            }
            o
        }

        /// The KB's machinesVulnerabilities rows: one per device × product × CVE.
        fn rows(&self, k: usize) -> Vec<MachineVulnerability> {
            self.missing
                .iter()
                .filter(|&&(_, _, j)| j == k)
                .flat_map(|&(d, p, _)| {
                    self.cves[k][p]
                        .iter()
                        .map(move |c| vuln(d, &format!("CVE-{c}"), KBS[k], PRODUCTS[p]))
                })
                .collect()
        }

        fn exact_devices(&self, k: usize) -> u32 {
            let set: BTreeSet<u32> = self
                .missing
                .iter()
                .filter(|m| m.2 == k)
                .map(|m| m.0)
                .collect();
            set.len() as u32
        }

        fn exact_cves(&self, k: usize) -> u32 {
            let products: BTreeSet<usize> = self
                .missing
                .iter()
                .filter(|m| m.2 == k)
                .map(|m| m.1)
                .collect();
            let set: BTreeSet<u32> = products
                .iter()
                .flat_map(|&p| self.cves[k][p].iter().copied())
                .collect();
            set.len() as u32
        }

        fn exact_devices_missing_any(&self) -> u32 {
            let set: BTreeSet<u32> = self.missing.iter().map(|m| m.0).collect();
            set.len() as u32
        }
    }

    /// `figure` never claims more than the truth, and equals it when it says it is exact.
    fn honest(figure: Count, truth: u32) -> Result<(), TestCaseError> {
        prop_assert!(
            figure.value() <= truth,
            "{figure:?} claims more than {truth}"
        );
        if figure.is_exact() {
            prop_assert_eq!(figure.value(), truth);
        }
        Ok(())
    }

    proptest! {
        /// Every figure is a true lower bound of the exact one computed from the synthetic
        /// rows, exact where it says so; after every KB's drill-down all are exact.
        #[test]
        fn figures_never_overstate(world in arb_world(), drill in prop::collection::vec(any::<bool>(), KBS.len())) {
            let mut o = world.overview();
            let check = |o: &ProductOverview| -> Result<(), TestCaseError> {
                for row in o.rows() {
                    let k = KBS.iter().position(|&id| id == row.id).expect("a known KB");
                    honest(row.devices, world.exact_devices(k))?;
                    honest(row.cves, world.exact_cves(k))?;
                }
                honest(o.tiles().devices_missing_any, world.exact_devices_missing_any())?;
                Ok(())
            };
            check(&o)?;
            for (k, &yes) in drill.iter().enumerate() {
                if yes {
                    let kb = KbId::parse(KBS[k]).expect("kb");
                    o.apply_drill_down(&kb, &world.rows(k));
                }
            }
            check(&o)?;
            for (k, id) in KBS.iter().enumerate() {
                let kb = KbId::parse(id).expect("kb");
                o.apply_drill_down(&kb, &world.rows(k));
            }
            check(&o)?;
            prop_assert!(o.rows().iter().all(|r| r.devices.is_exact() && r.cves.is_exact()));
            prop_assert_eq!(o.tiles().devices_missing_any, Count::Exact(world.exact_devices_missing_any()));
        }
    }
}
