//! The bulk path for large tenants: the fleet model built from the tenant-wide vulnerability
//! endpoints instead of one `getmissingkbs` call per device.
//!
//! - `GET /api/vulnerabilities/machinesVulnerabilities` (`$top`/`$skip` paging): one row per
//!   device × CVE, with the `fixingKbId`. Rows: [`MachineVulnerability`].
//! - `GET /api/machines/SoftwareVulnerabilitiesByMachine` (`pageSize`, `@odata.nextLink`): one
//!   row per device × software × CVE, with `RecommendedSecurityUpdateId` (optional, not always a
//!   KB). Rows: [`SoftwareVulnerability`].
//!
//! [`BulkAccumulator`] consumes pages one at a time and keeps only the distinct (device, KB)
//! pairs and each KB's set of CVEs, so a tenant of millions of rows streams through in bounded
//! memory. It produces the same [`FleetAggregate`] as the per-device scan.
//!
//! ```
//! use kbwatch_core::fleet::bulk::{BulkAccumulator, SoftwareVulnerability};
//! use kbwatch_core::ODataPage;
//!
//! let body = r#"{"value": [{
//!     "deviceId": "1e5bc9d7e413ddd7902c2932e418702b84d0cc07", "deviceName": "pc-1",
//!     "cveId": "CVE-2020-0796", "softwareName": "windows_10",
//!     "recommendedSecurityUpdate": "March 2020 Security Updates",
//!     "recommendedSecurityUpdateId": "4540673"
//! }]}"#;
//! let page = ODataPage::<SoftwareVulnerability>::parse(body).unwrap();
//! let mut bulk = BulkAccumulator::new();
//! bulk.add_page(&page);
//! let fleet = bulk.aggregate();
//! assert_eq!(fleet.kb("KB4540673").map(|kb| kb.cves), Some(1));
//! ```

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap, HashSet};

use serde::Deserialize;

use crate::device::{Device, DeviceId};
use crate::fleet::aggregate::FleetAggregate;
use crate::kb::{kb_number, MissingKb};
use crate::lenient;
use crate::odata::ODataPage;

/// One row of `GET /api/vulnerabilities/machinesVulnerabilities`: a CVE on a device and the
/// KB that fixes it. Every field is optional; odd values cost that field only.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MachineVulnerability {
    #[serde(default, alias = "Id", deserialize_with = "lenient::text")]
    pub id: Option<String>,
    #[serde(default, alias = "CveId", deserialize_with = "lenient::text")]
    pub cve_id: Option<String>,
    #[serde(default, alias = "MachineId", deserialize_with = "lenient::text")]
    pub machine_id: Option<String>,
    #[serde(default, alias = "FixingKbId", deserialize_with = "lenient::text")]
    pub fixing_kb_id: Option<String>,
    #[serde(default, alias = "ProductName", deserialize_with = "lenient::text")]
    pub product_name: Option<String>,
    #[serde(default, alias = "ProductVendor", deserialize_with = "lenient::text")]
    pub product_vendor: Option<String>,
    #[serde(default, alias = "ProductVersion", deserialize_with = "lenient::text")]
    pub product_version: Option<String>,
    #[serde(default, alias = "Severity", deserialize_with = "lenient::text")]
    pub severity: Option<String>,
}

/// One row of `GET /api/machines/SoftwareVulnerabilitiesByMachine`: a CVE of one software on
/// one device. Microsoft's property table spells the fields in PascalCase (`DeviceId`), its
/// response example in camelCase (`deviceId`): both are accepted.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
pub struct SoftwareVulnerability {
    #[serde(
        default,
        rename = "id",
        alias = "Id",
        deserialize_with = "lenient::text"
    )]
    pub id: Option<String>,
    #[serde(
        default,
        rename = "deviceId",
        alias = "DeviceId",
        deserialize_with = "lenient::text"
    )]
    pub device_id: Option<String>,
    #[serde(
        default,
        rename = "deviceName",
        alias = "DeviceName",
        deserialize_with = "lenient::text"
    )]
    pub device_name: Option<String>,
    #[serde(
        default,
        rename = "rbacGroupName",
        alias = "RbacGroupName",
        deserialize_with = "lenient::text"
    )]
    pub rbac_group_name: Option<String>,
    #[serde(
        default,
        rename = "osPlatform",
        alias = "OSPlatform",
        alias = "OsPlatform",
        deserialize_with = "lenient::text"
    )]
    pub os_platform: Option<String>,
    #[serde(
        default,
        rename = "osVersion",
        alias = "OSVersion",
        alias = "OsVersion",
        deserialize_with = "lenient::text"
    )]
    pub os_version: Option<String>,
    #[serde(
        default,
        rename = "osArchitecture",
        alias = "OSArchitecture",
        alias = "OsArchitecture",
        deserialize_with = "lenient::text"
    )]
    pub os_architecture: Option<String>,
    #[serde(
        default,
        rename = "cveId",
        alias = "CveId",
        deserialize_with = "lenient::text"
    )]
    pub cve_id: Option<String>,
    /// Documented as a string ("6.2"); numbers are accepted too.
    #[serde(
        default,
        rename = "cvssScore",
        alias = "CvssScore",
        deserialize_with = "lenient::finite_number"
    )]
    pub cvss_score: Option<f64>,
    #[serde(
        default,
        rename = "vulnerabilitySeverityLevel",
        alias = "VulnerabilitySeverityLevel",
        deserialize_with = "lenient::text"
    )]
    pub vulnerability_severity_level: Option<String>,
    #[serde(
        default,
        rename = "exploitabilityLevel",
        alias = "ExploitabilityLevel",
        deserialize_with = "lenient::text"
    )]
    pub exploitability_level: Option<String>,
    /// Name of the update ("April 2020 Security Updates").
    #[serde(
        default,
        rename = "recommendedSecurityUpdate",
        alias = "RecommendedSecurityUpdate",
        deserialize_with = "lenient::text"
    )]
    pub recommended_security_update: Option<String>,
    /// A KB number ("4550961") or the identifier of other guidance (not a KB).
    #[serde(
        default,
        rename = "recommendedSecurityUpdateId",
        alias = "RecommendedSecurityUpdateId",
        deserialize_with = "lenient::text"
    )]
    pub recommended_security_update_id: Option<String>,
    #[serde(
        default,
        rename = "recommendationReference",
        alias = "RecommendationReference",
        deserialize_with = "lenient::text"
    )]
    pub recommendation_reference: Option<String>,
    #[serde(
        default,
        rename = "securityUpdateAvailable",
        alias = "SecurityUpdateAvailable",
        deserialize_with = "lenient::flag"
    )]
    pub security_update_available: Option<bool>,
    #[serde(
        default,
        rename = "softwareName",
        alias = "SoftwareName",
        deserialize_with = "lenient::text"
    )]
    pub software_name: Option<String>,
    #[serde(
        default,
        rename = "softwareVendor",
        alias = "SoftwareVendor",
        deserialize_with = "lenient::text"
    )]
    pub software_vendor: Option<String>,
    #[serde(
        default,
        rename = "softwareVersion",
        alias = "SoftwareVersion",
        deserialize_with = "lenient::text"
    )]
    pub software_version: Option<String>,
    #[serde(
        default,
        rename = "diskPaths",
        alias = "DiskPaths",
        deserialize_with = "lenient::text_list"
    )]
    pub disk_paths: Vec<String>,
    #[serde(
        default,
        rename = "registryPaths",
        alias = "RegistryPaths",
        deserialize_with = "lenient::text_list"
    )]
    pub registry_paths: Vec<String>,
    /// "2020-11-03 10:13:34.8476880" (not RFC 3339): kept as text.
    #[serde(
        default,
        rename = "firstSeenTimestamp",
        alias = "FirstSeenTimestamp",
        deserialize_with = "lenient::text"
    )]
    pub first_seen_timestamp: Option<String>,
    #[serde(
        default,
        rename = "lastSeenTimestamp",
        alias = "LastSeenTimestamp",
        deserialize_with = "lenient::text"
    )]
    pub last_seen_timestamp: Option<String>,
}

/// What the accumulator needs from a row of either bulk endpoint.
pub trait BulkRow {
    fn device_id(&self) -> Option<&str>;
    fn device_name(&self) -> Option<&str> {
        None
    }
    fn cve_id(&self) -> Option<&str>;
    /// The update identifier as sent (a KB number with or without "KB", or something else).
    fn update_id(&self) -> Option<&str>;
    /// The update's name, when the endpoint gives one.
    fn update_name(&self) -> Option<&str> {
        None
    }
    /// Raw product name (`windows_10`).
    fn product(&self) -> Option<&str>;
}

impl BulkRow for MachineVulnerability {
    fn device_id(&self) -> Option<&str> {
        self.machine_id.as_deref()
    }
    fn cve_id(&self) -> Option<&str> {
        self.cve_id.as_deref()
    }
    fn update_id(&self) -> Option<&str> {
        self.fixing_kb_id.as_deref()
    }
    fn product(&self) -> Option<&str> {
        self.product_name.as_deref()
    }
}

impl BulkRow for SoftwareVulnerability {
    fn device_id(&self) -> Option<&str> {
        self.device_id.as_deref()
    }
    fn device_name(&self) -> Option<&str> {
        self.device_name.as_deref()
    }
    fn cve_id(&self) -> Option<&str> {
        self.cve_id.as_deref()
    }
    fn update_id(&self) -> Option<&str> {
        self.recommended_security_update_id.as_deref()
    }
    fn update_name(&self) -> Option<&str> {
        self.recommended_security_update.as_deref()
    }
    fn product(&self) -> Option<&str> {
        self.software_name.as_deref()
    }
}

/// How the rows consumed so far were used. No row is dropped without being counted here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BulkStats {
    pub pages: u64,
    /// Rows read (not counting `skipped_records`).
    pub rows: u64,
    /// Records the page parser could not read at all.
    pub skipped_records: u64,
    /// Rows without a usable device ID (not 40 hex characters).
    pub rows_without_device: u64,
    /// Rows of devices outside the supplied list, when only listed devices are wanted.
    pub rows_outside_list: u64,
    /// Rows of a device but without a KB: no update, or one that is not a KB (see
    /// `rows_with_non_kb_update`). Their device still counts as scanned.
    pub rows_without_kb: u64,
    /// Of `rows_without_kb`: rows whose update identifier is something other than a KB
    /// number (an advisory, a vendor update).
    pub rows_with_non_kb_update: u64,
    /// Rows with a KB but no CVE ID: the pair counts, no CVE is added.
    pub rows_without_cve: u64,
}

#[derive(Debug, Clone, Default)]
struct BulkDevice {
    /// `DeviceName` from the rows (the smallest seen, so row order does not matter).
    name: Option<String>,
    /// Indices into `BulkAccumulator::kbs`.
    kbs: BTreeSet<u32>,
}

#[derive(Debug, Clone)]
struct BulkKb {
    /// KB number without "KB".
    id: String,
    /// `RecommendedSecurityUpdate` (the smallest seen).
    name: Option<String>,
    products: BTreeSet<String>,
    /// Indices into `BulkAccumulator::cve_ids`.
    cves: HashSet<u32>,
}

/// Folds bulk rows, page by page, into the per-KB × per-device model.
///
/// Memory grows with the number of distinct devices, KBs, (device, KB) pairs and CVEs per KB,
/// never with the number of rows: the rows themselves are not kept.
#[derive(Debug, Clone, Default)]
pub struct BulkAccumulator {
    /// Display names of the supplied devices; they all count as scanned.
    listed: HashMap<String, (DeviceId, String)>,
    only_listed: bool,
    devices: HashMap<String, BulkDevice>,
    kbs: Vec<BulkKb>,
    kb_index: HashMap<String, u32>,
    cve_ids: HashMap<Box<str>, u32>,
    stats: BulkStats,
}

impl BulkAccumulator {
    pub fn new() -> Self {
        Self::default()
    }

    /// An accumulator that names devices as the device list does (`computerDnsName`), and
    /// counts every listed device as scanned: the bulk endpoints cover the whole tenant, so a
    /// listed device without rows has no missing KB.
    pub fn with_devices(devices: &[Device]) -> Self {
        Self {
            listed: devices
                .iter()
                .map(|d| {
                    (
                        d.id.as_str().to_owned(),
                        (d.id.clone(), d.display_name().to_owned()),
                    )
                })
                .collect(),
            ..Self::default()
        }
    }

    /// Ignore (and count in `rows_outside_list`) rows of devices not in the supplied list, so
    /// the fleet view matches the current device filter.
    pub fn only_listed(mut self) -> Self {
        self.only_listed = true;
        self
    }

    pub fn stats(&self) -> BulkStats {
        self.stats
    }

    /// Devices seen in rows so far (listed devices without rows not included).
    pub fn device_count(&self) -> usize {
        self.devices.len()
    }

    /// Distinct KBs seen so far.
    pub fn kb_count(&self) -> usize {
        self.kbs.len()
    }

    /// Consumes one page: its rows, and the count of records it could not read.
    pub fn add_page<R: BulkRow>(&mut self, page: &ODataPage<R>) {
        self.stats.pages += 1;
        self.stats.skipped_records += page.skipped.len() as u64;
        for row in &page.items {
            self.add_row(row);
        }
    }

    pub fn add_rows<'a, R: BulkRow + 'a>(&mut self, rows: impl IntoIterator<Item = &'a R>) {
        for row in rows {
            self.add_row(row);
        }
    }

    pub fn add_row<R: BulkRow + ?Sized>(&mut self, row: &R) {
        self.stats.rows += 1;
        let Some(device_key) = row.device_id().and_then(device_key) else {
            self.stats.rows_without_device += 1;
            return;
        };
        if self.only_listed && !self.listed.contains_key(device_key.as_ref()) {
            self.stats.rows_outside_list += 1;
            return;
        }
        if !self.devices.contains_key(device_key.as_ref()) {
            self.devices
                .insert(device_key.clone().into_owned(), BulkDevice::default());
        }
        let Some(device) = self.devices.get_mut(device_key.as_ref()) else {
            return;
        };
        if let Some(name) = row.device_name().map(str::trim).filter(|n| !n.is_empty()) {
            if device.name.as_deref().is_none_or(|current| name < current) {
                device.name = Some(name.to_owned());
            }
        }

        let raw_update = row.update_id().map(str::trim).filter(|u| !u.is_empty());
        let Some(kb_number) = raw_update.and_then(kb_number) else {
            self.stats.rows_without_kb += 1;
            if raw_update.is_some() {
                self.stats.rows_with_non_kb_update += 1;
            }
            return;
        };
        let index = match self.kb_index.get(kb_number) {
            Some(&index) => index,
            None => {
                let index = u32::try_from(self.kbs.len()).unwrap_or(u32::MAX);
                self.kbs.push(BulkKb {
                    id: kb_number.to_owned(),
                    name: None,
                    products: BTreeSet::new(),
                    cves: HashSet::new(),
                });
                self.kb_index.insert(kb_number.to_owned(), index);
                index
            }
        };
        device.kbs.insert(index);
        let Some(kb) = self.kbs.get_mut(index as usize) else {
            return;
        };
        if let Some(name) = row.update_name().map(str::trim).filter(|n| !n.is_empty()) {
            if kb.name.as_deref().is_none_or(|current| name < current) {
                kb.name = Some(name.to_owned());
            }
        }
        if let Some(product) = row.product().map(str::trim).filter(|p| !p.is_empty()) {
            if !kb.products.contains(product) {
                kb.products.insert(product.to_owned());
            }
        }
        match row.cve_id().and_then(cve_key) {
            Some(cve) => {
                let next = u32::try_from(self.cve_ids.len()).unwrap_or(u32::MAX);
                let cve_index = match self.cve_ids.get(cve.as_ref()) {
                    Some(&i) => i,
                    None => {
                        self.cve_ids.insert(cve.into_owned().into_boxed_str(), next);
                        next
                    }
                };
                kb.cves.insert(cve_index);
            }
            None => self.stats.rows_without_cve += 1,
        }
    }

    /// The fleet model of the rows so far (call it after each page to render partial
    /// results). Each KB addresses the distinct CVEs seen for it; its name is the
    /// `RecommendedSecurityUpdate` text, else "KB{id}".
    pub fn aggregate(&self) -> FleetAggregate {
        let kbs: Vec<MissingKb> = self
            .kbs
            .iter()
            .map(|kb| MissingKb {
                id: kb.id.clone(),
                name: Some(kb.name.clone().unwrap_or_else(|| format!("KB{}", kb.id))),
                products: kb.products.iter().cloned().collect(),
                url: None,
                machine_missed_on: Some(1),
                cve_addressed: Some(u32::try_from(kb.cves.len()).unwrap_or(u32::MAX)),
            })
            .collect();
        let mut fleet = FleetAggregate::new();
        for (key, device) in &self.devices {
            let (id, name) = match self.listed.get(key) {
                Some((id, name)) => (id.clone(), name.clone()),
                None => {
                    let Some(id) = DeviceId::parse(key) else {
                        continue;
                    };
                    let name = device.name.clone().unwrap_or_else(|| key.clone());
                    (id, name)
                }
            };
            let own = device.kbs.iter().filter_map(|&i| kbs.get(i as usize));
            fleet.add_device_named(id, name, own);
        }
        for (key, (id, name)) in &self.listed {
            if !self.devices.contains_key(key) {
                fleet.add_device_named(id.clone(), name.clone(), &[]);
            }
        }
        fleet
    }
}

/// A device ID as a lowercase 40-hex key, borrowed when it already is one.
fn device_key(raw: &str) -> Option<Cow<'_, str>> {
    let raw = raw.trim();
    if raw.len() != DeviceId::LEN || !raw.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    Some(if raw.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(raw.to_ascii_lowercase())
    } else {
        Cow::Borrowed(raw)
    })
}

/// A CVE ID trimmed and uppercased ("CVE-2020-0796").
fn cve_key(raw: &str) -> Option<Cow<'_, str>> {
    let raw = raw.trim();
    if raw.is_empty() {
        return None;
    }
    Some(if raw.bytes().any(|b| b.is_ascii_lowercase()) {
        Cow::Owned(raw.to_ascii_uppercase())
    } else {
        Cow::Borrowed(raw)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::aggregate::fixtures::{id, kb, shuffle};
    use crate::fleet::aggregate::{FleetDeviceFilter, FleetKbFilter};
    use crate::sort::Sort;
    use proptest::prelude::*;

    fn hex(n: u32) -> String {
        id(n).as_str().to_owned()
    }

    fn sw_row(
        device: u32,
        cve: &str,
        kb: Option<&str>,
        name: Option<&str>,
        product: &str,
    ) -> SoftwareVulnerability {
        SoftwareVulnerability {
            device_id: Some(hex(device)),
            device_name: Some(format!("pc-{device}")),
            cve_id: Some(cve.to_owned()),
            recommended_security_update_id: kb.map(str::to_owned),
            recommended_security_update: name.map(str::to_owned),
            software_name: Some(product.to_owned()),
            ..Default::default()
        }
    }

    /// (KB id, update name, products, CVEs).
    type KbFacts = (
        &'static str,
        &'static str,
        Vec<&'static str>,
        Vec<&'static str>,
    );

    /// Per-device data the way `getmissingkbs` would answer.
    fn per_device_world() -> Vec<(u32, Vec<KbFacts>)> {
        let march = (
            "4540673",
            "March 2020 Security Updates",
            vec!["edge", "windows_10"],
            vec!["CVE-2020-0001", "CVE-2020-0002", "CVE-2020-0003"],
        );
        let october = (
            "5044285",
            "2024-10 Cumulative Update",
            vec!["windows_11"],
            vec!["CVE-2024-1111"],
        );
        let dotnet = (
            "4552931",
            "May 2020 .NET Framework Update",
            vec![".net_framework"],
            vec!["CVE-2020-1108", "CVE-2020-1066"],
        );
        vec![
            (1, vec![march.clone(), october.clone()]),
            (2, vec![march, dotnet]),
            (3, vec![october]),
        ]
    }

    #[test]
    fn bulk_rows_aggregate_like_per_device_answers() {
        let world = per_device_world();
        // Expected: the per-device path.
        let mut expected = FleetAggregate::new();
        for (n, kbs) in &world {
            let answer: Vec<MissingKb> = kbs
                .iter()
                .map(|(kb_id, name, products, cves)| kb(kb_id, name, products, cves.len() as u32))
                .collect();
            expected.add_device_named(id(*n), format!("pc-{n}"), &answer);
        }
        // Bulk: one row per device × CVE, each naming one of the KB's products; plus noise rows
        // that repeat pairs, lack a KB or name a non-KB update.
        let mut rows = Vec::new();
        for (n, kbs) in &world {
            for (kb_id, name, products, cves) in kbs {
                for j in 0..cves.len().max(products.len()) {
                    let kb_ref = if j % 2 == 0 {
                        kb_id.to_string()
                    } else {
                        format!("KB{kb_id}")
                    };
                    rows.push(sw_row(
                        *n,
                        cves[j % cves.len()],
                        Some(&kb_ref),
                        Some(name),
                        products[j % products.len()],
                    ));
                }
            }
            rows.push(sw_row(*n, "CVE-2023-9999", None, None, "chrome"));
            rows.push(sw_row(
                *n,
                "CVE-2019-1125",
                Some("ADV190023"),
                Some("Guidance"),
                "windows_10",
            ));
        }
        let mut bulk = BulkAccumulator::new();
        for page in rows.chunks(4) {
            bulk.add_rows(page);
        }
        let actual = bulk.aggregate();
        assert_eq!(actual, expected);
        let sort = Sort::default();
        assert_eq!(
            actual.kb_rows(&FleetKbFilter::default(), sort),
            expected.kb_rows(&FleetKbFilter::default(), sort)
        );
        assert_eq!(
            actual.device_rows(&FleetDeviceFilter::default(), Sort::default()),
            expected.device_rows(&FleetDeviceFilter::default(), Sort::default())
        );
        let stats = bulk.stats();
        assert_eq!(stats.rows, rows.len() as u64);
        assert_eq!(stats.rows_without_kb, 6);
        assert_eq!(stats.rows_with_non_kb_update, 3);
        assert_eq!(stats.rows_without_device, 0);
    }

    #[test]
    fn machines_vulnerabilities_rows_name_kbs_by_number() {
        let rows = [
            MachineVulnerability {
                machine_id: Some(hex(1)),
                cve_id: Some("cve-2020-0796".into()),
                fixing_kb_id: Some("4551762".into()),
                product_name: Some("windows_10".into()),
                ..Default::default()
            },
            MachineVulnerability {
                machine_id: Some(hex(1).to_uppercase()),
                cve_id: Some("CVE-2020-0796".into()),
                fixing_kb_id: Some("kb4551762".into()),
                product_name: Some("windows_10".into()),
                ..Default::default()
            },
            MachineVulnerability {
                machine_id: Some(hex(2)),
                cve_id: Some("CVE-2020-1350".into()),
                fixing_kb_id: Some("4551762".into()),
                ..Default::default()
            },
            MachineVulnerability {
                machine_id: Some("not-a-device".into()),
                fixing_kb_id: Some("4551762".into()),
                ..Default::default()
            },
            MachineVulnerability {
                machine_id: Some(hex(3)),
                cve_id: Some("CVE-2021-0001".into()),
                fixing_kb_id: None,
                ..Default::default()
            },
        ];
        let mut bulk = BulkAccumulator::new();
        bulk.add_rows(&rows);
        let fleet = bulk.aggregate();
        let kb = fleet.kb("4551762").expect("present");
        assert_eq!(kb.name.as_deref(), Some("KB4551762"));
        assert_eq!(
            kb.cves, 2,
            "CVE-2020-0796 counted once across case and rows"
        );
        assert_eq!(kb.device_count(), 2);
        assert_eq!(kb.products, ["windows_10"]);
        // Device 3 has a vulnerability without a KB: scanned, nothing missing.
        let s = fleet.summary();
        assert_eq!(
            (s.devices_scanned, s.fully_patched, s.device_kb_pairs),
            (3, 1, 2)
        );
        let d1 = fleet.device(&id(1)).expect("present");
        assert_eq!(
            (d1.name.as_str(), d1.missing, d1.cves),
            (hex(1).as_str(), 1, 2)
        );
        let stats = bulk.stats();
        assert_eq!(stats.rows, 5);
        assert_eq!(stats.rows_without_device, 1);
        assert_eq!(stats.rows_without_kb, 1);
        assert_eq!(stats.rows_with_non_kb_update, 0);
        assert_eq!(stats.rows_without_cve, 0);
    }

    #[test]
    fn parses_both_spellings_and_odd_values() {
        let body = format!(
            r#"{{"value": [
                {{"DeviceId": "{a}", "DeviceName": "pascal.contoso.com", "RbacGroupName": "Servers",
                  "OSPlatform": "Windows10", "OSVersion": "10.0.17763.1637", "CveId": "CVE-2020-15992",
                  "CvssScore": "6.2", "VulnerabilitySeverityLevel": "Medium",
                  "RecommendedSecurityUpdate": "April 2020 Security Updates",
                  "RecommendedSecurityUpdateId": 4550961, "SoftwareName": "windows_10",
                  "SoftwareVendor": "microsoft", "SoftwareVersion": "10.0.17763.1637",
                  "DiskPaths": ["C:\\x.exe", 5], "RegistryPaths": null,
                  "SecurityUpdateAvailable": "True", "SomethingNew": {{"x": 1}}}},
                {{"deviceId": "{b}", "deviceName": "camel.contoso.com", "osPlatform": "Windows11",
                  "cveId": null, "cvssScore": 9.8, "recommendedSecurityUpdateId": null,
                  "softwareName": "edge", "securityUpdateAvailable": true}},
                {{"deviceId": "{b}", "cveId": "CVE-1", "cvssScore": "high",
                  "recommendedSecurityUpdateId": "ADV990001"}},
                "not an object"
            ], "@odata.nextLink": "https://api.security.microsoft.com/api/machines/SoftwareVulnerabilitiesByMachine?pageSize=3&$skiptoken=x"}}"#,
            a = hex(1).to_uppercase(),
            b = hex(2),
        );
        let page = ODataPage::<SoftwareVulnerability>::parse(&body).expect("page");
        assert_eq!(page.items.len(), 3);
        assert_eq!(page.skipped.len(), 1);
        let first = &page.items[0];
        assert_eq!(first.os_platform.as_deref(), Some("Windows10"));
        assert_eq!(first.cvss_score, Some(6.2));
        assert_eq!(
            first.recommended_security_update_id.as_deref(),
            Some("4550961")
        );
        assert_eq!(first.disk_paths, ["C:\\x.exe", "5"]);
        assert!(first.registry_paths.is_empty());
        assert_eq!(first.security_update_available, Some(true));
        assert_eq!(page.items[1].cvss_score, Some(9.8));
        assert_eq!(page.items[2].cvss_score, None);

        let mut bulk = BulkAccumulator::new();
        bulk.add_page(&page);
        let stats = bulk.stats();
        assert_eq!(
            stats,
            BulkStats {
                pages: 1,
                rows: 3,
                skipped_records: 1,
                rows_without_device: 0,
                rows_outside_list: 0,
                rows_without_kb: 2,
                rows_with_non_kb_update: 1,
                rows_without_cve: 0,
            }
        );
        let fleet = bulk.aggregate();
        let kb = fleet.kb("KB4550961").expect("present");
        assert_eq!(kb.name.as_deref(), Some("April 2020 Security Updates"));
        assert_eq!(
            fleet.device(&id(1)).map(|d| d.name.as_str()),
            Some("pascal.contoso.com")
        );
        assert_eq!(fleet.device(&id(2)).map(|d| d.missing), Some(0));

        let mv = ODataPage::<MachineVulnerability>::parse(
            r#"{"value": [{"id": "x", "cveId": "CVE-2019-0708", "machineId": 7, "fixingKbId": ["4499175"],
                "productName": "windows_7", "productVendor": "microsoft", "productVersion": "6.1", "severity": "Critical"}]}"#,
        )
        .expect("page");
        assert_eq!(mv.items[0].machine_id.as_deref(), Some("7"));
        assert_eq!(mv.items[0].fixing_kb_id, None);
        assert_eq!(mv.items[0].severity.as_deref(), Some("Critical"));
    }

    #[test]
    fn names_come_from_the_device_list_and_listed_devices_count_as_scanned() {
        let listed = [
            crate::device_list::tests::device(1, "ws-1.contoso.local", "Windows11", "Low", &[]),
            crate::device_list::tests::device(9, "ws-9.contoso.local", "Windows11", "Low", &[]),
        ];
        let rows = [
            sw_row(1, "CVE-1", Some("1"), None, "windows_11"),
            sw_row(2, "CVE-2", Some("1"), None, "windows_11"),
        ];
        let mut all = BulkAccumulator::with_devices(&listed);
        all.add_rows(&rows);
        let fleet = all.aggregate();
        assert_eq!(
            fleet.device(&id(1)).map(|d| d.name.as_str()),
            Some("ws-1.contoso.local")
        );
        assert_eq!(fleet.device(&id(2)).map(|d| d.name.as_str()), Some("pc-2"));
        assert_eq!(fleet.device(&id(9)).map(|d| d.missing), Some(0));
        assert_eq!(fleet.summary().devices_scanned, 3);

        let mut only = BulkAccumulator::with_devices(&listed).only_listed();
        only.add_rows(&rows);
        let fleet = only.aggregate();
        assert!(fleet.device(&id(2)).is_none());
        assert_eq!(fleet.summary().devices_scanned, 2);
        assert_eq!(only.stats().rows_outside_list, 1);
    }

    #[test]
    fn memory_follows_distinct_pairs_not_rows() {
        let mut bulk = BulkAccumulator::new();
        let row = sw_row(1, "CVE-2020-0001", Some("4540673"), None, "windows_10");
        for _ in 0..50_000 {
            bulk.add_row(&row);
        }
        assert_eq!((bulk.device_count(), bulk.kb_count()), (1, 1));
        assert_eq!(bulk.cve_ids.len(), 1);
        assert_eq!(bulk.devices.values().map(|d| d.kbs.len()).sum::<usize>(), 1);
        assert_eq!(bulk.stats().rows, 50_000);
        assert_eq!(bulk.aggregate().kb("4540673").map(|kb| kb.cves), Some(1));
    }

    proptest! {
        #[test]
        fn row_order_does_not_matter(
            picks in prop::collection::vec((0u32..6, 0usize..4, 0usize..5, any::<bool>()), 0..60),
            seed in any::<u64>(),
        ) {
            const KBS: [Option<&str>; 4] = [Some("4540673"), Some("KB5044285"), None, Some("ADV1")];
            const NAMES: [Option<&str>; 4] = [Some("March 2020"), None, Some("x"), Some("y")];
            let rows: Vec<SoftwareVulnerability> = picks
                .iter()
                .map(|&(device, k, cve, named)| {
                    sw_row(device, &format!("CVE-{cve}"), KBS[k], if named { NAMES[k] } else { None }, ["a", "b"][cve % 2])
                })
                .collect();
            let mut forward = BulkAccumulator::new();
            forward.add_rows(&rows);
            let mut shuffled = rows.clone();
            shuffle(&mut shuffled, seed);
            let mut backward = BulkAccumulator::new();
            backward.add_rows(&shuffled);
            prop_assert_eq!(forward.aggregate(), backward.aggregate());
            prop_assert_eq!(forward.stats(), backward.stats());
        }
    }
}
