//! Filtering, sorting and totals of one device's missing KBs.

use crate::kb::MissingKb;
use crate::sort::{sort_keys, Sort, SortDirection};

/// A KB table renders all its rows up to this many; a longer one renders only the rows in view
/// (plus a margin): 2,000 rows otherwise spend hundreds of milliseconds in style and layout on
/// every keystroke, and even 200 take longer than a frame (`make bench`, interaction). The
/// end-to-end tests read it to pick devices whose every row is in the DOM.
pub const WHOLE_TABLE_MAX_ROWS: usize = 30;

/// What the analyst narrowed the KB table to. Empty fields do not filter.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KbFilter {
    /// Case-insensitive substring of the KB label ("KB5044285") or the update name.
    pub text: String,
    /// Raw API product name (`windows_10`).
    pub product: Option<String>,
    pub min_cves: Option<u32>,
}

impl KbFilter {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

sort_keys! {
    /// The KB table's columns.
    pub enum KbSortKey {
        Kb => "kb", Descending;
        Name => "name", Ascending;
        Products => "products", Ascending;
        Cves => "cves", Descending;
    }
    /// Most CVEs first: the update that closes the most exposure leads.
    default Cves, Descending;
}

fn kb_numeric(kb: &MissingKb) -> Option<u64> {
    kb.kb_number().and_then(|n| n.parse().ok())
}

/// One device's KBs prepared for filtering and sorting on every keystroke: the lower-cased
/// search and sort texts are computed once per load, so a query allocates nothing per KB and
/// answers with positions into the list it was built from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KbIndex {
    entries: Vec<IndexEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct IndexEntry {
    label: String,
    id: String,
    name: String,
    products_text: String,
    products: Vec<String>,
    kb_number: Option<u64>,
    cves: u32,
}

impl KbIndex {
    pub fn new(kbs: &[MissingKb]) -> Self {
        let entries = kbs
            .iter()
            .map(|kb| IndexEntry {
                label: kb.label().to_lowercase(),
                id: kb.id.to_lowercase(),
                name: kb.name.as_deref().unwrap_or_default().to_lowercase(),
                products_text: kb.product_labels().join(", ").to_lowercase(),
                products: kb.products.clone(),
                kb_number: kb_numeric(kb),
                cves: kb.cves(),
            })
            .collect();
        Self { entries }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Positions of the KBs matching `filter`, in `sort` order. Ties are broken by KB number,
    /// then id, then position (the sort is stable), so the order is total; descending reverses
    /// the whole order.
    pub fn select(&self, filter: &KbFilter, sort: Sort<KbSortKey>) -> Vec<usize> {
        let text = filter.text.trim().to_lowercase();
        let mut rows: Vec<usize> = (0..self.entries.len())
            .filter(|&i| {
                let e = &self.entries[i];
                (text.is_empty()
                    || e.label.contains(&text)
                    || e.id.contains(&text)
                    || e.name.contains(&text))
                    && filter
                        .product
                        .as_ref()
                        .is_none_or(|p| e.products.iter().any(|kp| kp == p))
                    && filter.min_cves.is_none_or(|min| e.cves >= min)
            })
            .collect();
        let entries = &self.entries;
        crate::sort::sort_positions(&mut rows, &mut |a, b| {
            let (x, y) = (&entries[a], &entries[b]);
            let by_column = match sort.key {
                KbSortKey::Kb => x.kb_number.unwrap_or(0).cmp(&y.kb_number.unwrap_or(0)),
                KbSortKey::Name => x.name.cmp(&y.name),
                KbSortKey::Products => x.products_text.cmp(&y.products_text),
                KbSortKey::Cves => x.cves.cmp(&y.cves),
            };
            by_column
                .then_with(|| x.kb_number.cmp(&y.kb_number))
                .then_with(|| x.id.cmp(&y.id))
        });
        if sort.direction == SortDirection::Descending {
            rows.reverse();
        }
        rows
    }
}

/// The KBs matching `filter`, in `sort` order (see [`KbIndex::select`]).
pub fn filter_and_sort<'a>(
    kbs: &'a [MissingKb],
    filter: &KbFilter,
    sort: Sort<KbSortKey>,
) -> Vec<&'a MissingKb> {
    KbIndex::new(kbs)
        .select(filter, sort)
        .into_iter()
        .map(|i| &kbs[i])
        .collect()
}

/// Counts shown above the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KbTotals {
    pub kbs: usize,
    pub cves: u64,
}

impl KbTotals {
    pub fn of<'a>(kbs: impl IntoIterator<Item = &'a MissingKb>) -> Self {
        kbs.into_iter().fold(Self::default(), |t, kb| Self {
            kbs: t.kbs + 1,
            cves: t.cves + u64::from(kb.cves()),
        })
    }
}

/// Distinct raw product names present, sorted by their human label (then the raw name).
pub fn products(kbs: &[MissingKb]) -> Vec<String> {
    crate::kb::products_by_label(
        kbs.iter()
            .flat_map(|kb| kb.products.iter().map(String::as_str)),
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::sort::SortKey;
    use proptest::prelude::*;

    /// A KB as one device reports it: named, on `products`, addressing `cves` CVEs.
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

    fn sample() -> Vec<MissingKb> {
        vec![
            kb(
                "4540673",
                "March 2020 Security Updates",
                &["windows_10", "edge"],
                97,
            ),
            kb(
                "5044285",
                "October 2024 Security Updates",
                &["windows_11"],
                12,
            ),
            kb(
                "4552931",
                "May 2020 .NET Framework Update",
                &[".net_framework"],
                3,
            ),
            kb("999", "Tiny", &["windows_10"], 12),
        ]
    }

    fn ids(rows: &[&MissingKb]) -> Vec<String> {
        rows.iter().map(|kb| kb.id.clone()).collect()
    }

    #[test]
    fn default_sort_is_most_cves_first_with_kb_tiebreak() {
        let kbs = sample();
        let rows = filter_and_sort(&kbs, &KbFilter::default(), Sort::default());
        assert_eq!(ids(&rows), ["4540673", "5044285", "999", "4552931"]);
    }

    #[test]
    fn kb_numbers_sort_numerically() {
        let kbs = sample();
        let rows = filter_and_sort(
            &kbs,
            &KbFilter::default(),
            Sort::new(KbSortKey::Kb, SortDirection::Ascending),
        );
        assert_eq!(ids(&rows), ["999", "4540673", "4552931", "5044285"]);
    }

    #[test]
    fn filters_by_text_product_and_min_cves() {
        let kbs = sample();
        let by = |filter: KbFilter| ids(&filter_and_sort(&kbs, &filter, Sort::default()));
        assert_eq!(
            by(KbFilter {
                text: "kb4540".into(),
                ..Default::default()
            }),
            ["4540673"]
        );
        assert_eq!(
            by(KbFilter {
                text: "october".into(),
                ..Default::default()
            }),
            ["5044285"]
        );
        assert_eq!(
            by(KbFilter {
                product: Some("windows_10".into()),
                ..Default::default()
            }),
            ["4540673", "999"]
        );
        assert_eq!(
            by(KbFilter {
                min_cves: Some(12),
                ..Default::default()
            }),
            ["4540673", "5044285", "999"]
        );
    }

    #[test]
    fn totals_and_products() {
        let kbs = sample();
        assert_eq!(KbTotals::of(&kbs), KbTotals { kbs: 4, cves: 124 });
        assert_eq!(
            products(&kbs),
            [".net_framework", "edge", "windows_10", "windows_11"]
        );
    }

    fn arb_kb() -> impl Strategy<Value = MissingKb> {
        (
            prop_oneof!["[0-9]{1,8}", "KB[0-9]{1,7}", "[a-zA-Z#]{1,5}"],
            proptest::option::of("[a-zA-Z ]{0,12}"),
            proptest::collection::vec(prop_oneof!["windows_10", "edge", "office"], 0..3),
            proptest::option::of(0u32..50),
        )
            .prop_map(|(id, name, products, cves)| MissingKb {
                id,
                name,
                products,
                url: None,
                machine_missed_on: Some(1),
                cve_addressed: cves,
            })
    }

    fn arb_filter() -> impl Strategy<Value = KbFilter> {
        (
            prop_oneof!["", "kb", "[a-z0-9]{1,2}", " A "],
            proptest::option::of(prop_oneof!["windows_10", "edge", "sql"]),
            proptest::option::of(0u32..40),
        )
            .prop_map(|(text, product, min_cves)| KbFilter {
                text,
                product,
                min_cves,
            })
    }

    fn arb_sort() -> impl Strategy<Value = Sort<KbSortKey>> {
        (
            proptest::sample::select(KbSortKey::ALL),
            prop_oneof![
                Just(SortDirection::Ascending),
                Just(SortDirection::Descending)
            ],
        )
            .prop_map(|(key, direction)| Sort::new(key, direction))
    }

    /// The filter's meaning, written out plainly per KB: the reference [`KbIndex::select`] is
    /// checked against.
    fn reference_matches(filter: &KbFilter, kb: &MissingKb) -> bool {
        let text = filter.text.trim().to_lowercase();
        let text_ok = text.is_empty()
            || kb.label().to_lowercase().contains(&text)
            || kb.id.to_lowercase().contains(&text)
            || kb
                .name
                .as_deref()
                .is_some_and(|n| n.to_lowercase().contains(&text));
        text_ok
            && filter
                .product
                .as_ref()
                .is_none_or(|p| kb.products.iter().any(|kp| kp == p))
            && filter.min_cves.is_none_or(|min| kb.cves() >= min)
    }

    proptest! {
        /// The index keeps exactly the KBs the reference filter accepts, each once, and orders
        /// them by the sorted column.
        #[test]
        fn select_agrees_with_matches_and_orders_by_column(
            kbs in proptest::collection::vec(arb_kb(), 0..40),
            filter in arb_filter(),
            sort in arb_sort(),
        ) {
            let rows = KbIndex::new(&kbs).select(&filter, sort);
            let mut picked = rows.clone();
            picked.sort_unstable();
            let expected: Vec<usize> = (0..kbs.len()).filter(|&i| reference_matches(&filter, &kbs[i])).collect();
            prop_assert_eq!(picked, expected);
            let column = |i: usize| -> (u64, String) {
                let kb = &kbs[i];
                match sort.key {
                    KbSortKey::Kb => (kb_numeric(kb).unwrap_or(0), String::new()),
                    KbSortKey::Name => (0, kb.name.clone().unwrap_or_default().to_lowercase()),
                    KbSortKey::Products => (0, kb.product_labels().join(", ").to_lowercase()),
                    KbSortKey::Cves => (u64::from(kb.cves()), String::new()),
                }
            };
            for pair in rows.windows(2) {
                let (a, b) = (column(pair[0]), column(pair[1]));
                match sort.direction {
                    SortDirection::Ascending => prop_assert!(a <= b, "{:?} before {:?}", a, b),
                    SortDirection::Descending => prop_assert!(a >= b, "{:?} before {:?}", a, b),
                }
            }
        }
    }
}
