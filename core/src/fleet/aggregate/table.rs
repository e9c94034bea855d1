//! The per-KB and per-device tables: what the analyst filters them by and how they sort.

use std::cmp::Ordering;
use std::sync::Arc;

use super::model::{kb_order, FleetAggregate, FleetDevice, FleetKb};
use crate::sort::{sort_by, sort_keys, Sort, SortDirection};

impl FleetAggregate {
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
            .devices()
            .map(|d| (d.name.to_lowercase(), d))
            .filter(|(name, d)| matches_device(d, name, &needle))
            .collect();
        sort_by(&mut rows, |(a_name, a), (b_name, b)| {
            compare_devices((a, a_name), (b, b_name), sort)
        });
        rows.into_iter().map(|(_, d)| d).collect()
    }
}

/// The per-device table's order (see [`FleetAggregate::device_rows`]), each device with its
/// lower-cased name.
fn compare_devices(
    (a, a_name): (&FleetDevice, &str),
    (b, b_name): (&FleetDevice, &str),
    sort: Sort<FleetDeviceSortKey>,
) -> Ordering {
    let dir = sort.direction;
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
}

/// Whether a device (with its lower-cased name) matches a lower-cased, trimmed needle.
fn matches_device(device: &FleetDevice, lower_name: &str, needle: &str) -> bool {
    needle.is_empty() || lower_name.contains(needle) || device.id.as_str().starts_with(needle)
}

/// The per-device table of a large fleet, made for typing: the devices and their lower-cased
/// names are read once per aggregate change, each order once per sort change, and a keystroke
/// only picks positions out of the order (filtering keeps it). The rows are the ones
/// [`FleetAggregate::device_rows`] gives, in the same order.
#[derive(Debug, Clone, Default)]
pub struct FleetDeviceIndex {
    devices: Vec<FleetDevice>,
    names: Vec<String>,
    /// Every lower-cased name, each followed by [`NAME_END`]: one text a keystroke searches in
    /// one pass, instead of one search per device.
    haystack: String,
    /// Where each device's name starts in `haystack`, by position.
    starts: Vec<usize>,
}

/// Ends each name in the search text; a needle never holds it (filters are trimmed text from
/// an input), so no match spans two names.
const NAME_END: char = '\0';

impl FleetDeviceIndex {
    pub fn new(aggregate: &FleetAggregate) -> Self {
        let devices: Vec<FleetDevice> = aggregate.devices().cloned().collect();
        let names: Vec<String> = devices.iter().map(|d| d.name.to_lowercase()).collect();
        let mut haystack = String::with_capacity(names.iter().map(|n| n.len() + 1).sum());
        let mut starts = Vec::with_capacity(names.len());
        for name in &names {
            starts.push(haystack.len());
            haystack.push_str(name);
            haystack.push(NAME_END);
        }
        Self {
            devices,
            names,
            haystack,
            starts,
        }
    }

    pub fn len(&self) -> usize {
        self.devices.len()
    }

    pub fn is_empty(&self) -> bool {
        self.devices.is_empty()
    }

    /// Every position, in `sort` order.
    pub fn order(&self, sort: Sort<FleetDeviceSortKey>) -> Vec<u32> {
        let mut order: Vec<u32> = (0..self.devices.len() as u32).collect();
        sort_by(&mut order, |&a, &b| {
            compare_devices(self.entry(a), self.entry(b), sort)
        });
        order
    }

    /// The positions of `order` whose devices match `filter`, in that order.
    pub fn select(&self, order: &[u32], filter: &FleetDeviceFilter) -> Vec<u32> {
        let needle = filter.text.trim().to_lowercase();
        if needle.is_empty() {
            return order.to_vec();
        }
        if needle.contains(NAME_END) {
            return Vec::new();
        }
        // One pass over all names (memchr's substring search), then the ID prefixes.
        let mut matches = vec![false; self.devices.len()];
        for at in memchr::memmem::find_iter(self.haystack.as_bytes(), needle.as_bytes()) {
            let position = self.starts.partition_point(|&start| start <= at);
            if let Some(hit) = position.checked_sub(1).and_then(|p| matches.get_mut(p)) {
                *hit = true;
            }
        }
        for (hit, device) in matches.iter_mut().zip(&self.devices) {
            *hit = *hit || device.id.as_str().starts_with(&needle);
        }
        order
            .iter()
            .copied()
            .filter(|&p| matches.get(p as usize).copied().unwrap_or(false))
            .collect()
    }

    /// The device at `position` (from [`Self::order`] or [`Self::select`]).
    pub fn get(&self, position: u32) -> Option<&FleetDevice> {
        self.devices.get(position as usize)
    }

    fn entry(&self, position: u32) -> (&FleetDevice, &str) {
        let i = position as usize;
        (&self.devices[i], &self.names[i])
    }
}

/// The rows of a per-device table as shown: positions into a [`FleetDeviceIndex`]. Cheap to
/// clone and to compare (by identity: a new selection is a new value), so a reactive memo of
/// it costs nothing when nothing changed.
#[derive(Debug, Clone, Default)]
pub struct FleetDeviceRows {
    index: Arc<FleetDeviceIndex>,
    positions: Arc<[u32]>,
}

impl PartialEq for FleetDeviceRows {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.index, &other.index) && Arc::ptr_eq(&self.positions, &other.positions)
    }
}

impl FleetDeviceRows {
    /// `positions` from `index` ([`FleetDeviceIndex::order`], [`FleetDeviceIndex::select`]).
    pub fn new(index: Arc<FleetDeviceIndex>, positions: Vec<u32>) -> Self {
        Self {
            index,
            positions: positions.into(),
        }
    }

    pub fn len(&self) -> usize {
        self.positions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.positions.is_empty()
    }

    /// Rows `first..last` (clamped to the table), owned: what a window renders.
    pub fn slice(&self, first: usize, last: usize) -> Vec<FleetDevice> {
        let last = last.min(self.positions.len());
        let first = first.min(last);
        self.positions[first..last]
            .iter()
            .filter_map(|&p| self.index.get(p).cloned())
            .collect()
    }

    /// The index the positions point into.
    pub fn into_index(self) -> Arc<FleetDeviceIndex> {
        self.index
    }

    /// The positions of these rows whose devices match `filter`, in this order.
    pub fn select(&self, filter: &FleetDeviceFilter) -> Vec<u32> {
        self.index.select(&self.positions, filter)
    }

    /// Every row, in order.
    pub fn iter(&self) -> impl Iterator<Item = &FleetDevice> {
        self.positions.iter().filter_map(|&p| self.index.get(p))
    }
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

sort_keys! {
    /// The fleet's per-KB table's columns.
    pub enum FleetKbSortKey {
        Kb => "kb", Descending;
        Name => "name", Ascending;
        Devices => "devices", Descending;
        Cves => "cves", Descending;
    }
    /// Missing on the most devices first: the update that fixes the widest gap leads.
    default Devices, Descending;
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
        matches_device(
            device,
            &device.name.to_lowercase(),
            &self.text.trim().to_lowercase(),
        )
    }
}

sort_keys! {
    /// The fleet's per-device table's columns.
    pub enum FleetDeviceSortKey {
        Name => "name", Ascending;
        Missing => "missing", Descending;
        Cves => "cves", Descending;
        Oldest => "oldest", Ascending;
    }
    /// Most exposure first.
    default Cves, Descending;
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::*;

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

    proptest::proptest! {
        /// The index gives the rows `device_rows` gives, in the same order, for every sort and
        /// for names in any case (the filter ignores it).
        #[test]
        fn the_device_index_agrees_with_device_rows(
            devices in arb_fleet(),
            needle in "[a-dD0-9]{0,2}",
            key in 0usize..4,
            descending in proptest::bool::ANY,
        ) {
            let mut f = FleetAggregate::new();
            for (n, kbs) in &devices {
                let name = if n % 2 == 0 { format!("D{n}") } else { format!("d{n}") };
                f.add_device_named(id(*n), name, kbs);
            }
            let key = [
                FleetDeviceSortKey::Name,
                FleetDeviceSortKey::Missing,
                FleetDeviceSortKey::Cves,
                FleetDeviceSortKey::Oldest,
            ][key];
            let direction = if descending { SortDirection::Descending } else { SortDirection::Ascending };
            let sort = Sort { key, direction };
            let filter = FleetDeviceFilter { text: needle };
            let index = FleetDeviceIndex::new(&f);
            let from_index: Vec<_> = index
                .select(&index.order(sort), &filter)
                .into_iter()
                .filter_map(|p| index.get(p).map(|d| d.id.clone()))
                .collect();
            let expected: Vec<_> = f.device_rows(&filter, sort).into_iter().map(|d| d.id.clone()).collect();
            proptest::prop_assert_eq!(from_index, expected);
        }
    }
}
