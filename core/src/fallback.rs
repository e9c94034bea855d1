//! One device's missing KBs when `GET /api/machines/{id}/getmissingkbs` is refused (a 403 for
//! a role without `Software.Read`, or the endpoint failing): the same list built from that
//! device's rows of `GET /api/vulnerabilities/machinesVulnerabilities?$filter=machineId eq '…'`
//! (`Endpoints::machine_vulnerabilities_where` with `VulnerabilityFilter::Device`).
//!
//! The rows tell which KB fixes which CVE of which product on the device, but not the update's
//! name: [`KbSource`] says what a list built this way lacks, so the view can say so.
//!
//! ```
//! use kbwatch_core::fallback::kbs_from_vulnerabilities;
//! use kbwatch_core::fleet::bulk::MachineVulnerability;
//!
//! let row = |cve: &str, kb: Option<&str>| MachineVulnerability {
//!     cve_id: Some(cve.into()),
//!     fixing_kb_id: kb.map(Into::into),
//!     product_name: Some("windows_server_2012_r2".into()),
//!     ..Default::default()
//! };
//! let rows = [row("CVE-2016-3348", Some("3185911")), row("CVE-2020-6494", None)];
//! let found = kbs_from_vulnerabilities(&rows);
//! assert_eq!(found.kbs[0].label(), "KB3185911");
//! assert_eq!(found.kbs[0].cve_addressed, Some(1));
//! assert_eq!((found.rows, found.rows_without_kb), (2, 1));
//! ```

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::device::DeviceId;
use crate::fleet::bulk::MachineVulnerability;
use crate::kb::{products_by_label, MissingKb};
use crate::kb_id::KbId;

/// Where a device's KB list came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum KbSource {
    /// `GET /api/machines/{id}/getmissingkbs`: the documented answer, complete.
    #[default]
    MissingKbs,
    /// The device's `machinesVulnerabilities` rows, grouped by `fixingKbId`
    /// ([`kbs_from_vulnerabilities`]).
    MachineVulnerabilities,
}

/// A fact about a missing KB that one [`KbSource`] cannot give.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum KbFact {
    /// The update's name ("March 2020 Security Updates"): the rows carry only its number.
    UpdateName,
    /// Every CVE the update addresses: the rows give only the CVEs found on this device, so
    /// the count may be lower than `getmissingkbs`'s `cveAddressed`.
    AllAddressedCves,
    /// Every product the update applies to: the rows name only products with a finding.
    AllProducts,
}

impl KbSource {
    /// What a KB list from this source cannot tell; empty for the documented answer.
    pub fn lacks(self) -> &'static [KbFact] {
        match self {
            Self::MissingKbs => &[],
            Self::MachineVulnerabilities => &[
                KbFact::UpdateName,
                KbFact::AllAddressedCves,
                KbFact::AllProducts,
            ],
        }
    }

    /// Whether the KBs come without their update names ([`KbFact::UpdateName`]).
    pub fn lacks_update_name(self) -> bool {
        self.lacks().contains(&KbFact::UpdateName)
    }
}

/// One device's missing KBs read from its vulnerability rows, with how the rows were used.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FallbackKbs {
    /// One per KB, by KB number ascending. `name` is `None` (the rows do not carry it),
    /// `url` the Update Catalog search for the number, `machine_missed_on` 1 (this device).
    pub kbs: Vec<MissingKb>,
    /// Rows read.
    pub rows: u64,
    /// Rows without a KB: no `fixingKbId` (the vulnerability has no fixing KB), or one that is
    /// not a KB number (see `rows_with_non_kb_update`).
    pub rows_without_kb: u64,
    /// Of `rows_without_kb`: rows whose `fixingKbId` is set but not a KB number.
    pub rows_with_non_kb_update: u64,
    /// Rows of another device (or naming none), left out by [`kbs_for_device`]; always 0 from
    /// [`kbs_from_vulnerabilities`].
    pub rows_of_other_devices: u64,
}

/// The missing KBs in `rows`, all taken to be one device's (the answer to a
/// `machineId eq '…'` query): grouped by `fixingKbId` (normalised: "KB3185911" and "3185911"
/// are one KB), each with its distinct CVE IDs (trimmed, upper-cased) counted in
/// `cve_addressed` and its distinct `productName`s in `products`. Independent of row order.
pub fn kbs_from_vulnerabilities<'a>(
    rows: impl IntoIterator<Item = &'a MachineVulnerability>,
) -> FallbackKbs {
    fold(rows, |_| true)
}

/// Like [`kbs_from_vulnerabilities`], but rows whose `machineId` is not `device` (in any case)
/// are left out and counted in `rows_of_other_devices`: a proxy or server that ignored the
/// filter cannot put another device's KBs on this one.
pub fn kbs_for_device<'a>(
    device: &DeviceId,
    rows: impl IntoIterator<Item = &'a MachineVulnerability>,
) -> FallbackKbs {
    fold(rows, |row| {
        row.machine_id
            .as_deref()
            .and_then(DeviceId::parse)
            .is_some_and(|id| &id == device)
    })
}

#[derive(Default)]
struct Group<'a> {
    cves: BTreeSet<String>,
    products: BTreeSet<&'a str>,
}

fn fold<'a>(
    rows: impl IntoIterator<Item = &'a MachineVulnerability>,
    mut belongs: impl FnMut(&MachineVulnerability) -> bool,
) -> FallbackKbs {
    let mut out = FallbackKbs::default();
    let mut groups: BTreeMap<KbId, Group<'a>> = BTreeMap::new();
    for row in rows {
        out.rows += 1;
        if !belongs(row) {
            out.rows_of_other_devices += 1;
            continue;
        }
        let fixing = row
            .fixing_kb_id
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty());
        let Some(fixing) = fixing else {
            out.rows_without_kb += 1;
            continue;
        };
        let Some(kb) = KbId::parse(fixing) else {
            out.rows_without_kb += 1;
            out.rows_with_non_kb_update += 1;
            continue;
        };
        let group = groups.entry(kb).or_default();
        if let Some(cve) = row
            .cve_id
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty())
        {
            group.cves.insert(cve.to_ascii_uppercase());
        }
        if let Some(product) = row
            .product_name
            .as_deref()
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            group.products.insert(product);
        }
    }
    out.kbs = groups
        .into_iter()
        .map(|(kb, group)| MissingKb {
            url: Some(kb.catalog_url()),
            id: String::from(kb),
            name: None,
            products: products_by_label(group.products),
            machine_missed_on: Some(1),
            cve_addressed: Some(u32::try_from(group.cves.len()).unwrap_or(u32::MAX)),
        })
        .collect();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::aggregate::fixtures::shuffle;
    use proptest::prelude::*;
    use std::collections::HashMap;

    fn row(machine: &str, cve: &str, kb: Option<&str>, product: &str) -> MachineVulnerability {
        MachineVulnerability {
            machine_id: Some(machine.into()),
            cve_id: Some(cve.into()),
            fixing_kb_id: kb.map(Into::into),
            product_name: Some(product.into()),
            ..Default::default()
        }
    }

    const DEVICE: &str = "7a704e17d1c2977c0e7b665fb18ae6e1fe7f3283";

    #[test]
    fn documented_rows_become_the_per_device_answer_shape() {
        let body = r#"{"value": [
            {"id": "5afa-_-CVE-2020-6494-_-microsoft-_-edge_chromium-based-_-81.0.416.77-_-",
             "cveId": "CVE-2020-6494", "machineId": "7a704e17d1c2977c0e7b665fb18ae6e1fe7f3283",
             "fixingKbId": null, "productName": "edge_chromium-based", "productVendor": "microsoft",
             "productVersion": "81.0.416.77", "severity": "Low"},
            {"id": "7a70-_-CVE-2016-3348-_-microsoft-_-windows_server_2012_r2-_-6.3.9600.19728-_-3185911",
             "cveId": "CVE-2016-3348", "machineId": "7a704e17d1c2977c0e7b665fb18ae6e1fe7f3283",
             "fixingKbId": "3185911", "productName": "windows_server_2012_r2",
             "productVendor": "microsoft", "productVersion": "6.3.9600.19728", "severity": "Low"}
        ]}"#;
        let page =
            crate::odata::ODataPage::<MachineVulnerability>::parse(body).expect("documented page");
        let found = kbs_from_vulnerabilities(&page.items);
        assert_eq!(
            found.kbs,
            [MissingKb {
                id: "3185911".into(),
                name: None,
                products: vec!["windows_server_2012_r2".into()],
                url: Some(
                    "https://catalog.update.microsoft.com/v7/site/Search.aspx?q=KB3185911".into()
                ),
                machine_missed_on: Some(1),
                cve_addressed: Some(1),
            }]
        );
        assert_eq!((found.rows, found.rows_without_kb), (2, 1));
        // The link is the one the per-device answer would carry, and survives its checks.
        assert_eq!(found.kbs[0].catalog_url(), found.kbs[0].url);
    }

    #[test]
    fn kbs_group_by_number_with_distinct_cves_and_products() {
        let rows = [
            row(DEVICE, "CVE-2020-0001", Some("4540673"), "windows_10"),
            row(DEVICE, "cve-2020-0001 ", Some("KB4540673"), "edge"),
            row(DEVICE, "CVE-2020-0002", Some("kb4540673"), "windows_10"),
            row(DEVICE, "CVE-2020-0003", Some("10"), "office"),
            row(DEVICE, "CVE-2019-1125", Some("ADV190023"), "windows_10"),
            row(DEVICE, "CVE-2023-9999", Some("  "), "chrome"),
            row(DEVICE, "", Some("9"), " "),
        ];
        let found = kbs_from_vulnerabilities(&rows);
        let ids: Vec<&str> = found.kbs.iter().map(|kb| kb.id.as_str()).collect();
        assert_eq!(ids, ["9", "10", "4540673"], "by number, not by text");
        let march = &found.kbs[2];
        assert_eq!(march.cve_addressed, Some(2));
        assert_eq!(march.products, ["edge", "windows_10"]);
        assert_eq!(found.kbs[0].cve_addressed, Some(0));
        assert!(found.kbs[0].products.is_empty());
        assert_eq!(found.rows, 7);
        assert_eq!(found.rows_without_kb, 2);
        assert_eq!(found.rows_with_non_kb_update, 1);
        assert!(found.kbs.iter().all(|kb| kb.name.is_none()));
    }

    #[test]
    fn rows_of_other_devices_are_left_out_when_the_device_is_known() {
        let device = DeviceId::parse(DEVICE).expect("id");
        let rows = [
            row(&DEVICE.to_uppercase(), "CVE-1", Some("1"), "windows_10"),
            row(&"b".repeat(40), "CVE-2", Some("2"), "windows_10"),
            MachineVulnerability {
                fixing_kb_id: Some("3".into()),
                ..Default::default()
            },
        ];
        let found = kbs_for_device(&device, &rows);
        let ids: Vec<&str> = found.kbs.iter().map(|kb| kb.id.as_str()).collect();
        assert_eq!(ids, ["1"]);
        assert_eq!((found.rows, found.rows_of_other_devices), (3, 2));
        assert_eq!(kbs_from_vulnerabilities(&rows).kbs.len(), 3);
    }

    #[test]
    fn the_source_says_what_it_lacks() {
        assert!(KbSource::MissingKbs.lacks().is_empty());
        assert!(!KbSource::MissingKbs.lacks_update_name());
        assert!(KbSource::MachineVulnerabilities.lacks_update_name());
        assert_eq!(
            serde_json::to_string(&KbSource::MachineVulnerabilities).expect("json"),
            "\"machineVulnerabilities\""
        );
        assert_eq!(
            serde_json::from_str::<KbSource>("\"missingKbs\"").expect("json"),
            KbSource::MissingKbs
        );
        assert_eq!(KbSource::default(), KbSource::MissingKbs);
    }

    fn arb_rows() -> impl Strategy<Value = Vec<MachineVulnerability>> {
        let kb = prop::sample::select(vec![
            None,
            Some("4540673"),
            Some("KB4540673"),
            Some("5044285"),
            Some("kb10"),
            Some("9"),
            Some("ADV190023"),
            Some(""),
        ]);
        let cve = prop::sample::select(vec!["CVE-1", "cve-1", "CVE-2", " CVE-3", "CVE-4", ""]);
        let product = prop::sample::select(vec!["windows_10", "edge", "office", ""]);
        prop::collection::vec((kb, cve, product), 0..60).prop_map(|rows| {
            rows.into_iter()
                .map(|(kb, cve, product)| row(DEVICE, cve, kb, product))
                .collect()
        })
    }

    proptest! {
        /// The KBs are exactly the distinct non-null fixingKbIds (by number); each KB's CVE
        /// count is its distinct CVEs; every row is accounted for; row order does not matter.
        #[test]
        fn kbs_and_cve_counts_follow_the_rows(rows in arb_rows(), seed in any::<u64>()) {
            let found = kbs_from_vulnerabilities(&rows);
            let mut expected: BTreeMap<KbId, BTreeSet<String>> = BTreeMap::new();
            let mut without = 0;
            for r in &rows {
                match r.fixing_kb_id.as_deref().and_then(KbId::parse) {
                    Some(kb) => {
                        let set = expected.entry(kb).or_default();
                        if let Some(c) = r.cve_id.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
                            set.insert(c.to_uppercase());
                        }
                    }
                    None => without += 1,
                }
            }
            let ids: Vec<String> = found.kbs.iter().map(|kb| kb.id.clone()).collect();
            let expected_ids: Vec<String> = expected.keys().map(|k| k.as_str().to_owned()).collect();
            prop_assert_eq!(ids, expected_ids);
            let counts: HashMap<&str, Option<u32>> =
                found.kbs.iter().map(|kb| (kb.id.as_str(), kb.cve_addressed)).collect();
            for (kb, cves) in &expected {
                prop_assert_eq!(counts[kb.as_str()], Some(cves.len() as u32));
            }
            prop_assert_eq!(found.rows, rows.len() as u64);
            prop_assert_eq!(found.rows_without_kb, without);
            let mut shuffled = rows.clone();
            shuffle(&mut shuffled, seed);
            prop_assert_eq!(kbs_from_vulnerabilities(&shuffled), found);
        }
    }
}
