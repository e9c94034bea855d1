//! Filtering, sorting and totals of one device's missing KBs.

use std::collections::BTreeSet;

use crate::kb::MissingKb;
use crate::sort::{Sort, SortDirection, SortKey};

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

    pub fn matches(&self, kb: &MissingKb) -> bool {
        let text = self.text.trim().to_lowercase();
        let text_ok = text.is_empty()
            || kb.label().to_lowercase().contains(&text)
            || kb.id.to_lowercase().contains(&text)
            || kb
                .name
                .as_deref()
                .is_some_and(|n| n.to_lowercase().contains(&text));
        text_ok
            && self
                .product
                .as_ref()
                .is_none_or(|p| kb.products.iter().any(|kp| kp == p))
            && self.min_cves.is_none_or(|min| kb.cves() >= min)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KbSortKey {
    Kb,
    Name,
    Products,
    Cves,
}

impl SortKey for KbSortKey {
    const ALL: &'static [Self] = &[Self::Kb, Self::Name, Self::Products, Self::Cves];

    fn url_name(self) -> &'static str {
        match self {
            Self::Kb => "kb",
            Self::Name => "name",
            Self::Products => "products",
            Self::Cves => "cves",
        }
    }

    fn default_direction(self) -> SortDirection {
        match self {
            Self::Name | Self::Products => SortDirection::Ascending,
            Self::Kb | Self::Cves => SortDirection::Descending,
        }
    }
}

/// Most CVEs first: the update that closes the most exposure leads.
impl Default for Sort<KbSortKey> {
    fn default() -> Self {
        Sort::new(KbSortKey::Cves, SortDirection::Descending)
    }
}

fn kb_numeric(kb: &MissingKb) -> Option<u64> {
    kb.kb_number().and_then(|n| n.parse().ok())
}

/// The KBs matching `filter`, in `sort` order with ties broken by KB number so the order is
/// total.
pub fn filter_and_sort<'a>(
    kbs: &'a [MissingKb],
    filter: &KbFilter,
    sort: Sort<KbSortKey>,
) -> Vec<&'a MissingKb> {
    let mut rows: Vec<&MissingKb> = kbs.iter().filter(|kb| filter.matches(kb)).collect();
    // Only the sorted column's value is computed (per row, once): text keys allocate.
    rows.sort_by_cached_key(|kb| {
        (
            match sort.key {
                KbSortKey::Kb => SortValue::Number(kb_numeric(kb).unwrap_or(0)),
                KbSortKey::Name => {
                    SortValue::Text(kb.name.as_deref().unwrap_or_default().to_lowercase())
                }
                KbSortKey::Products => {
                    SortValue::Text(kb.product_labels().join(", ").to_lowercase())
                }
                KbSortKey::Cves => SortValue::Number(u64::from(kb.cves())),
            },
            kb_numeric(kb),
            kb.id.clone(),
        )
    });
    if sort.direction == SortDirection::Descending {
        rows.reverse();
    }
    rows
}

#[derive(PartialEq, Eq, PartialOrd, Ord)]
enum SortValue {
    Number(u64),
    Text(String),
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

/// Distinct raw product names present, sorted by their human label.
pub fn products(kbs: &[MissingKb]) -> Vec<String> {
    let set: BTreeSet<&str> = kbs
        .iter()
        .flat_map(|kb| kb.products.iter().map(String::as_str))
        .collect();
    let mut list: Vec<String> = set.into_iter().map(str::to_owned).collect();
    list.sort_by_cached_key(|p| crate::kb::humanize_product(p).to_lowercase());
    list
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
