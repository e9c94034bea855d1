//! A catalog of plausible monthly security updates, from January 2019 to the anchor month.
//!
//! Each month gets one cumulative update per Windows line, most months a .NET Framework and an
//! Office update, and early months a servicing stack update. The catalog depends only on the
//! anchor month — never on the fleet seed — so a KB number means the same update in every fleet,
//! and older months do not change as time moves on (each month has its own RNG stream).

use chrono::{Datelike, NaiveDate};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::HashSet;
use std::ops::RangeInclusive;

/// Product names as Defender spells them in `productsNames`.
pub mod product {
    pub const WINDOWS_10: &str = "windows_10";
    pub const WINDOWS_11: &str = "windows_11";
    pub const SERVER_2016: &str = "windows_server_2016";
    pub const SERVER_2019: &str = "windows_server_2019";
    pub const SERVER_2022: &str = "windows_server_2022";
    pub const EDGE: &str = "edge";
    pub const INTERNET_EXPLORER: &str = "internet_explorer";
    pub const DOTNET: &str = ".net_framework";
    pub const OFFICE: &str = "office";
}

/// A month counted from January 2019 (0 = 2019-01).
pub type MonthIndex = u32;

/// First month of the catalog.
const FIRST_YEAR: i32 = 2019;

/// CVE numbers of catalog updates start here every year (a year has < 9,000 of them), leaving
/// lower numbers free for vulnerabilities no KB fixes.
pub const FIRST_KB_CVE_NUMBER: u32 = 20_000;

/// One security update in the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogKb {
    /// KB number without the "KB" prefix.
    pub id: String,
    pub name: String,
    pub products: Vec<&'static str>,
    pub cve_addressed: u32,
    pub month: MonthIndex,
    /// Number of this update's first CVE in its release year: it addresses
    /// `CVE-{year}-{first_cve}` … `CVE-{year}-{first_cve + cve_addressed - 1}` (see
    /// [`CatalogKb::cve_id`]). No two updates share a CVE.
    pub first_cve: u32,
}

impl CatalogKb {
    /// The Update Catalog search link the real API returns in `url`.
    pub fn url(&self) -> String {
        format!(
            "https://catalog.update.microsoft.com/v7/site/Search.aspx?q=KB{}",
            self.id
        )
    }

    /// Calendar year of the release (and of its CVE ids).
    pub fn year(&self) -> i32 {
        FIRST_YEAR + (self.month / 12) as i32
    }

    /// The `index`-th CVE this update addresses (`index < cve_addressed`), e.g. `CVE-2024-21042`.
    pub fn cve_id(&self, index: u32) -> String {
        format!("CVE-{}-{:05}", self.year(), self.first_cve + index)
    }

    /// Whether a device carrying any of `products` needs this update.
    pub fn applies_to(&self, products: &[&str]) -> bool {
        self.products.iter().any(|p| products.contains(p))
    }
}

/// All updates, oldest month first.
#[derive(Debug, Clone)]
pub struct Catalog {
    pub kbs: Vec<CatalogKb>,
    /// Index of the newest month (the anchor month).
    pub last_month: MonthIndex,
}

/// Real KB numbers at a few points in time; numbers in between are interpolated so that
/// 2020 updates look like 45xxxxx and 2024 ones like 504xxxx.
const KB_ANCHORS: &[(MonthIndex, u32)] = &[
    (0, 4_480_000),  // 2019-01, KB4480970
    (14, 4_540_000), // 2020-03, KB4540673
    (24, 4_598_000), // 2021-01, KB4598242
    (36, 5_009_000), // 2022-01, KB5009543
    (48, 5_022_000), // 2023-01, KB5022282
    (60, 5_034_000), // 2024-01, KB5034122
    (69, 5_044_000), // 2024-10, KB5044285
    (77, 5_060_000), // 2025-06, KB5060842
];

fn kb_base(month: MonthIndex) -> u32 {
    for pair in KB_ANCHORS.windows(2) {
        let ((m0, k0), (m1, k1)) = (pair[0], pair[1]);
        if month <= m1 {
            return k0 + (k1 - k0) * (month - m0) / (m1 - m0);
        }
    }
    let (last_month, last_kb) = KB_ANCHORS[KB_ANCHORS.len() - 1];
    last_kb + 2_500 * (month - last_month)
}

const MONTH_NAMES: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// "October 2024" for a month index.
pub fn month_label(month: MonthIndex) -> String {
    let year = FIRST_YEAR + (month / 12) as i32;
    format!("{} {year}", MONTH_NAMES[(month % 12) as usize])
}

/// Month index of a date; dates before 2019 clamp to 0.
pub fn month_index(date: NaiveDate) -> MonthIndex {
    let months = (date.year() - FIRST_YEAR) * 12 + date.month0() as i32;
    months.max(0) as MonthIndex
}

/// The monthly OS security rollups, in release order: product, first month, whether the legacy
/// browsers ride along (the OSes released after them never carried them), CVEs addressed.
const OS_ROLLUPS: [(&str, MonthIndex, bool, RangeInclusive<u32>); 5] = [
    (product::WINDOWS_10, 0, true, 40..=150),
    (product::WINDOWS_11, 33, false, 40..=140), // from 2021-10
    (product::SERVER_2016, 0, true, 35..=130),
    (product::SERVER_2019, 0, true, 35..=130),
    (product::SERVER_2022, 32, false, 35..=130), // from 2021-09
];

impl Catalog {
    /// Build the catalog for every month from January 2019 up to and including `anchor`'s month.
    pub fn generate(anchor: NaiveDate) -> Self {
        use product::*;
        let last_month = month_index(anchor);
        let mut kbs = Vec::new();
        let mut used = HashSet::new();
        for month in 0..=last_month {
            let mut rng = ChaCha8Rng::seed_from_u64(0x6b62_0000 + u64::from(month));
            let base = kb_base(month);
            let label = month_label(month);
            let mut add = |rng: &mut ChaCha8Rng,
                           name: String,
                           products: Vec<&'static str>,
                           cves: RangeInclusive<u32>| {
                let mut id = base + rng.random_range(0..2_000);
                while !used.insert(id) {
                    id += 1;
                }
                kbs.push(CatalogKb {
                    id: id.to_string(),
                    name,
                    products,
                    cve_addressed: rng.random_range(cves),
                    month,
                    first_cve: 0,
                });
            };
            let security = format!("{label} Security Updates");
            // Legacy Edge and Internet Explorer rode along in the Windows rollups until retired.
            let mut browsers = Vec::new();
            if month < 27 {
                browsers.push(EDGE); // until 2021-03
            }
            if month < 42 {
                browsers.push(INTERNET_EXPLORER); // until 2022-06
            }
            let with_browsers = |os: &'static str| {
                let mut v = vec![os];
                v.extend(browsers.iter().copied());
                v
            };
            for (os, from, browsers_ride_along, cves) in OS_ROLLUPS {
                if month >= from {
                    let products = if browsers_ride_along {
                        with_browsers(os)
                    } else {
                        vec![os]
                    };
                    add(&mut rng, security.clone(), products, cves);
                }
            }
            if rng.random_bool(0.8) {
                add(
                    &mut rng,
                    format!("{label} Security and Quality Rollup for .NET Framework"),
                    vec![
                        DOTNET,
                        WINDOWS_10,
                        WINDOWS_11,
                        SERVER_2016,
                        SERVER_2019,
                        SERVER_2022,
                    ],
                    1..=8,
                );
            }
            if rng.random_bool(0.9) {
                add(&mut rng, security.clone(), vec![OFFICE], 2..=25);
            }
            // Standalone servicing stack updates stopped once they were folded into the LCU.
            if month < 36 && month % 3 == 1 {
                add(
                    &mut rng,
                    format!("Servicing Stack Update for Windows {label}"),
                    vec![WINDOWS_10, SERVER_2016, SERVER_2019],
                    0..=0,
                );
            }
        }
        // CVE blocks numbered per year in catalog order: earlier months never move.
        let mut next_cve = std::collections::HashMap::new();
        for kb in &mut kbs {
            let next = next_cve.entry(kb.year()).or_insert(FIRST_KB_CVE_NUMBER);
            kb.first_cve = *next;
            *next += kb.cve_addressed;
        }
        Self { kbs, last_month }
    }

    /// Indices of updates that apply to `products`, released after month `patched_through`
    /// (negative = never patched).
    pub fn missing_since(&self, products: &[&str], patched_through: i64) -> Vec<usize> {
        self.kbs
            .iter()
            .enumerate()
            .filter(|(_, kb)| i64::from(kb.month) > patched_through && kb.applies_to(products))
            .map(|(i, _)| i)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kb_numbers_look_like_their_era() {
        let catalog = Catalog::generate(NaiveDate::from_ymd_opt(2025, 3, 15).expect("date"));
        let march_2020: Vec<_> = catalog.kbs.iter().filter(|k| k.month == 14).collect();
        assert!(march_2020.iter().all(|k| k.id.starts_with("454")));
        assert!(march_2020
            .iter()
            .any(|k| k.name == "March 2020 Security Updates"));
        let oct_2024: Vec<_> = catalog.kbs.iter().filter(|k| k.month == 69).collect();
        assert!(oct_2024.iter().all(|k| k.id.starts_with("504")));
        let ids: HashSet<_> = catalog.kbs.iter().map(|k| &k.id).collect();
        assert_eq!(ids.len(), catalog.kbs.len(), "KB ids are unique");
        assert!(catalog.kbs.iter().all(|k| k.cve_addressed <= 150));
        let cves: HashSet<_> = catalog
            .kbs
            .iter()
            .flat_map(|k| (0..k.cve_addressed).map(|i| k.cve_id(i)))
            .collect();
        let addressed: u32 = catalog.kbs.iter().map(|k| k.cve_addressed).sum();
        assert_eq!(cves.len(), addressed as usize, "no CVE shared between KBs");
        assert!(cves.iter().all(|c| c.len() == "CVE-2024-20000".len()));
    }

    #[test]
    fn older_months_do_not_change_when_time_moves_on() {
        let a = Catalog::generate(NaiveDate::from_ymd_opt(2025, 1, 1).expect("date"));
        let b = Catalog::generate(NaiveDate::from_ymd_opt(2026, 1, 1).expect("date"));
        assert_eq!(a.kbs[..], b.kbs[..a.kbs.len()]);
    }
}
