//! The software inventory of the demo fleet, for `GET /api/Software`, `GET /api/Software/{id}`
//! and `GET /api/Software/{id}/getmissingkbs`.
//!
//! Everything is counted from the fleet and its vulnerability rows ([`crate::vulns`]) once per
//! router, so the three agree with `getmissingkbs` per device and with
//! `machinesVulnerabilities`:
//!
//! - the inventory holds every product installed on an onboarded device or named by one of its
//!   vulnerability rows: the catalog products (Windows lines, the browsers that rode along,
//!   .NET Framework, Office) and the software outside the catalog ([`THIRD_PARTY`]: third-party
//!   software with CVEs but no KB, Microsoft software without CVEs or KBs);
//! - a product misses KB `K` when `machinesVulnerabilities` has a row with that `productName`
//!   and `fixingKbId` `K`; `machineMissedOn` is the number of distinct devices of those rows and
//!   `cveAddressed` the number of `K`'s CVEs in that product (the documented example: KB4540673
//!   addresses 97 CVEs on a device, 14 of them in `edge`);
//! - an update addressing no CVE (the early servicing stack updates) has no rows at all; it is
//!   listed for the Windows line of each device missing it (the first product of the update
//!   that device carries), with `cveAddressed` 0, so every update a device misses is missing
//!   for some product.
//!
//! The documented fields only: `id` (`vendor-_-name`), `name`, `vendor`, `weaknesses` (distinct
//! CVEs found in it), `publicExploit` (one of them has a public exploit), `activeAlert` (always
//! false: the mock has no alerts), `exposedMachines` (distinct devices with one of them) and
//! `impactScore` (its share of the organization's exposure, see [`ORG_EXPOSURE_SCORE`]).

use std::collections::HashMap;

use serde::Serialize;

use crate::fleet::Fleet;
use crate::odata::{FilterSubject, Grammar, Schema, Value};
use crate::vulns::{kb_cve_product, CveFacts, Vulnerabilities, MICROSOFT, THIRD_PARTY};

/// The mock organization's exposure score: the products' `impactScore`s share it out in
/// proportion to the CVSS-weighted rows (device × CVE) each carries, so they add up to it.
pub const ORG_EXPOSURE_SCORE: f64 = 40.0;

/// One `Software` entity, with exactly the documented fields.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Software {
    pub id: String,
    pub name: &'static str,
    pub vendor: &'static str,
    pub weaknesses: u64,
    pub public_exploit: bool,
    pub active_alert: bool,
    pub exposed_machines: u64,
    pub impact_score: f64,
}

/// One update a product misses: `getmissingkbs` of that software.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProductFix {
    /// Index into [`crate::catalog::Catalog::kbs`].
    pub kb: usize,
    /// Devices on which the product misses it.
    pub machines: u32,
    /// The update's CVEs in this product.
    pub cves: u32,
}

/// The inventory: entities sorted by id, and what each misses.
#[derive(Debug, Clone, Default)]
pub struct Inventory {
    entries: Vec<Software>,
    /// Per entry, in catalog order.
    fixes: Vec<Vec<ProductFix>>,
    /// Lowercase id → index.
    by_id: HashMap<String, usize>,
}

/// What `$filter` may say on `/api/Software` (documented: `id`, `name`, `vendor`): `eq`/`ne`
/// pins joined by `and`/`or`/`not`.
pub const SOFTWARE_FILTER: Schema<&str> = Schema {
    entity: "microsoft.windowsDefenderATP.api.PublicSoftware",
    properties: &["id", "name", "vendor"],
    grammar: Grammar::Pins,
};

impl FilterSubject<&'static str> for Software {
    fn value(&self, property: &'static str) -> Value<'_> {
        Value::text(match property {
            "id" => Some(&self.id),
            "name" => Some(self.name),
            "vendor" => Some(self.vendor),
            _ => None,
        })
    }
}

/// A product while counting.
#[derive(Default)]
struct Tally {
    vendor: &'static str,
    name: &'static str,
    installed: bool,
    exposed: u64,
    /// The device `exposed` last counted, so each device counts once.
    last_device: Option<usize>,
    weaknesses: u64,
    public_exploit: bool,
    /// Σ over its rows of the CVSS score, in tenths.
    weight: u64,
    fixes: Vec<ProductFix>,
}

/// One product's share of an update's CVEs.
#[derive(Debug, Clone, Copy, Default)]
struct KbShare {
    product: &'static str,
    cves: u32,
    cvss_tenths: u64,
    exploit: bool,
}

/// Per product of an update, its CVEs (in first-seen order of the products).
fn kb_shares(kb: &crate::catalog::CatalogKb) -> Vec<KbShare> {
    let mut shares: Vec<KbShare> = Vec::new();
    for index in 0..kb.cve_addressed {
        let product = kb_cve_product(kb, index);
        let facts = CveFacts::of(&kb.cve_id(index));
        let share = match shares.iter_mut().position(|s| s.product == product) {
            Some(i) => &mut shares[i],
            None => {
                shares.push(KbShare {
                    product,
                    ..KbShare::default()
                });
                let last = shares.len() - 1;
                &mut shares[last]
            }
        };
        share.cves += 1;
        share.cvss_tenths += u64::from(facts.cvss_tenths);
        share.exploit |= facts.exploitability != "NoExploit";
    }
    shares
}

/// `vendor-_-name`, the documented id shape (`microsoft-_-edge`).
pub fn software_id(vendor: &str, name: &str) -> String {
    format!("{vendor}-_-{name}")
}

impl Inventory {
    /// Count the inventory of `fleet` (whose rows `vulns` counted).
    pub fn new(fleet: &Fleet, vulns: &Vulnerabilities) -> Self {
        let mut tallies: Vec<Tally> = Vec::new();
        let mut index_of: HashMap<(&'static str, &'static str), usize> = HashMap::new();
        let mut slot = |vendor: &'static str, name: &'static str, tallies: &mut Vec<Tally>| {
            *index_of.entry((vendor, name)).or_insert_with(|| {
                tallies.push(Tally {
                    vendor,
                    name,
                    ..Tally::default()
                });
                tallies.len() - 1
            })
        };
        let kbs = &fleet.catalog.kbs;
        let shares: Vec<Vec<KbShare>> = kbs.iter().map(kb_shares).collect();
        let share_slots: Vec<Vec<usize>> = shares
            .iter()
            .map(|s| {
                s.iter()
                    .map(|share| slot(MICROSOFT, share.product, &mut tallies))
                    .collect()
            })
            .collect();
        let third_party: Vec<usize> = THIRD_PARTY
            .iter()
            .map(|s| slot(s.vendor, s.name, &mut tallies))
            .collect();
        let mut missed_on = vec![0u32; kbs.len()];
        // Updates without CVEs: (kb, product slot) → devices.
        let mut without_cves: HashMap<(usize, usize), u32> = HashMap::new();
        let mut installed_third_party = vec![0u64; THIRD_PARTY.len()];
        for (device, machine) in fleet.machines.iter().enumerate() {
            if !machine.is_onboarded() {
                continue;
            }
            for &product in &machine.products {
                let s = slot(MICROSOFT, product, &mut tallies);
                tallies[s].installed = true;
            }
            for &kb in &machine.missing_kbs {
                missed_on[kb] += 1;
                for &s in &share_slots[kb] {
                    let tally = &mut tallies[s];
                    if tally.last_device != Some(device) {
                        tally.last_device = Some(device);
                        tally.exposed += 1;
                    }
                }
                if kbs[kb].cve_addressed == 0 {
                    let carried = kbs[kb]
                        .products
                        .iter()
                        .find(|p| machine.products.contains(p))
                        .or(kbs[kb].products.first());
                    if let Some(&product) = carried {
                        let s = slot(MICROSOFT, product, &mut tallies);
                        *without_cves.entry((kb, s)).or_default() += 1;
                    }
                }
            }
            for &software in vulns.software_of(device) {
                installed_third_party[software] += 1;
                let tally = &mut tallies[third_party[software]];
                tally.installed = true;
                if !THIRD_PARTY[software].cves.is_empty() && tally.last_device != Some(device) {
                    tally.last_device = Some(device);
                    tally.exposed += 1;
                }
            }
        }
        for (kb, kb_shares) in shares.iter().enumerate() {
            if missed_on[kb] == 0 {
                continue;
            }
            for (share, &s) in kb_shares.iter().zip(&share_slots[kb]) {
                let tally = &mut tallies[s];
                tally.weaknesses += u64::from(share.cves);
                tally.public_exploit |= share.exploit;
                tally.weight += u64::from(missed_on[kb]) * share.cvss_tenths;
                tally.fixes.push(ProductFix {
                    kb,
                    machines: missed_on[kb],
                    cves: share.cves,
                });
            }
        }
        for (&(kb, s), &machines) in &without_cves {
            tallies[s].fixes.push(ProductFix {
                kb,
                machines,
                cves: 0,
            });
        }
        for (software, &devices) in installed_third_party.iter().enumerate() {
            if devices == 0 {
                continue;
            }
            let tally = &mut tallies[third_party[software]];
            for cve in THIRD_PARTY[software].cves {
                let facts = CveFacts::of(cve);
                tally.weaknesses += 1;
                tally.public_exploit |= facts.exploitability != "NoExploit";
                tally.weight += devices * u64::from(facts.cvss_tenths);
            }
        }
        let total_weight: u64 = tallies.iter().map(|t| t.weight).sum();
        let mut products: Vec<(Software, Vec<ProductFix>)> = tallies
            .into_iter()
            // Installed, or in a vulnerability row: a Windows 10 device misses the Server 2016
            // and 2019 rollups that carried its edge and internet_explorer (the catalog's
            // `applies_to`), so their rows name those Windows lines too.
            .filter(|t| t.installed || t.exposed > 0 || !t.fixes.is_empty())
            .map(|mut t| {
                t.fixes.sort_by_key(|f| f.kb);
                let impact = if total_weight == 0 {
                    0.0
                } else {
                    let raw = ORG_EXPOSURE_SCORE * t.weight as f64 / total_weight as f64;
                    (raw * 1e8).round() / 1e8
                };
                (
                    Software {
                        id: software_id(t.vendor, t.name),
                        name: t.name,
                        vendor: t.vendor,
                        weaknesses: t.weaknesses,
                        public_exploit: t.public_exploit,
                        active_alert: false,
                        exposed_machines: t.exposed,
                        impact_score: impact,
                    },
                    t.fixes,
                )
            })
            .collect();
        products.sort_by(|a, b| a.0.id.cmp(&b.0.id));
        let (entries, fixes): (Vec<Software>, Vec<Vec<ProductFix>>) = products.into_iter().unzip();
        let by_id = entries
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id.to_ascii_lowercase(), i))
            .collect();
        Self {
            entries,
            fixes,
            by_id,
        }
    }

    /// Every entity, sorted by id.
    pub fn entries(&self) -> &[Software] {
        &self.entries
    }

    /// The entity with `id` (case ignored) and the updates it misses.
    pub fn get(&self, id: &str) -> Option<(&Software, &[ProductFix])> {
        let index = *self.by_id.get(&id.to_ascii_lowercase())?;
        Some((&self.entries[index], &self.fixes[index]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::fixed_anchor;

    #[test]
    fn inventory_holds_every_vulnerable_product_and_quiet_ones() {
        let fleet = Fleet::generate(42, 300, fixed_anchor(2025, 11, 20).expect("date"));
        let vulns = Vulnerabilities::new(&fleet);
        let inventory = Inventory::new(&fleet, &vulns);
        let ids: Vec<&str> = inventory.entries().iter().map(|s| s.id.as_str()).collect();
        for id in [
            "microsoft-_-windows_10",
            "microsoft-_-windows_11",
            "microsoft-_-edge",
            "microsoft-_-office",
            "microsoft-_-.net_framework",
            "google-_-chrome",
            "7-zip-_-7-zip",
            "adobe-_-acrobat_reader_dc",
            "microsoft-_-teams",
        ] {
            assert!(ids.contains(&id), "{id} in {ids:?}");
        }
        let mut sorted = ids.clone();
        sorted.sort_unstable();
        assert_eq!(ids, sorted);
        let (chrome, fixes) = inventory.get("Google-_-Chrome").expect("chrome");
        assert!(fixes.is_empty() && chrome.weaknesses == 4 && chrome.exposed_machines > 0);
        let (teams, fixes) = inventory.get("microsoft-_-teams").expect("teams");
        assert!(fixes.is_empty() && teams.weaknesses == 0 && teams.exposed_machines == 0);
        assert_eq!(teams.impact_score, 0.0);
        let (windows, fixes) = inventory.get("microsoft-_-windows_10").expect("w10");
        assert!(!fixes.is_empty() && windows.weaknesses > 100 && windows.public_exploit);
        let total: f64 = inventory.entries().iter().map(|s| s.impact_score).sum();
        assert!((total - ORG_EXPOSURE_SCORE).abs() < 1e-4, "{total}");
        assert!(inventory.entries().iter().all(|s| !s.active_alert));
    }
}
