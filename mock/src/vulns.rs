//! Vulnerabilities of the demo fleet, for the fleet-wide endpoints
//! `GET /api/vulnerabilities/machinesVulnerabilities` and
//! `GET /api/machines/SoftwareVulnerabilitiesByMachine`.
//!
//! Both are views of one list of rows, device × software × CVE, derived from the fleet so that
//! they agree with `getmissingkbs`: for every device and every KB it misses, each of the KB's
//! `cveAddressed` CVEs is one row whose fix is that KB (CVE ids from [`CatalogKb::cve_id`], never
//! shared between KBs). On top come third-party (and Microsoft non-KB) software rows whose fix is
//! no KB, and — in the export only — installed software with no CVE at all (`cveId` null), as
//! the real export has them. Only onboarded devices have rows.
//!
//! Nothing here draws from the fleet's RNG stream: per-device choices hash the device id, so the
//! fleet stays byte-identical and rows can be generated lazily, page by page.

use std::borrow::Cow;
use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::catalog::{product, CatalogKb};
use crate::fleet::{Fleet, Machine};
use crate::odata::{FilterSubject, Grammar, Schema, Value};

/// Vendor of every catalog product.
pub const MICROSOFT: &str = "microsoft";

/// FNV-1a over `parts`, then a SplitMix64 finish: a stable hash independent of platform and
/// Rust version (unlike `DefaultHasher`).
pub(crate) fn stable_hash(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for byte in *part {
            h ^= u64::from(*byte);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        h ^= 0xff;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// Severity, CVSS score and exploitability of one CVE: a function of its id alone, so a CVE
/// reads the same on every device and in both endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CveFacts {
    /// `Critical`, `High`, `Medium` or `Low`.
    pub severity: &'static str,
    /// CVSS base score in tenths (98 = 9.8), inside the severity's band.
    pub cvss_tenths: u8,
    /// `NoExploit`, `ExploitIsPublic`, `ExploitIsVerified` or `ExploitIsInKit`.
    pub exploitability: &'static str,
}

impl CveFacts {
    pub fn of(cve_id: &str) -> Self {
        let h = stable_hash(&[cve_id.as_bytes()]);
        let (severity, low, high) = match h % 100 {
            0..=9 => ("Critical", 90, 98),
            10..=64 => ("High", 70, 88),
            65..=94 => ("Medium", 43, 69),
            _ => ("Low", 20, 39),
        };
        let cvss_tenths = low + ((h >> 8) % u64::from(high - low + 1)) as u8;
        let exploitability = match (h >> 16) % 100 {
            0..=79 => "NoExploit",
            80..=91 => "ExploitIsPublic",
            92..=97 => "ExploitIsVerified",
            _ => "ExploitIsInKit",
        };
        Self {
            severity,
            cvss_tenths,
            exploitability,
        }
    }

    /// CVSS score as the API writes it, e.g. `9.8`.
    pub fn cvss(&self) -> f64 {
        f64::from(self.cvss_tenths) / 10.0
    }
}

/// What the export says about an update for software no catalog KB fixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtherFix {
    /// `recommendedSecurityUpdate` and `recommendedSecurityUpdateId` null.
    Null,
    /// Both empty strings.
    Empty,
    /// A vendor advisory, not a KB: e.g. `ADV200002` for Edge (Chromium-based).
    Advisory {
        name: &'static str,
        id: &'static str,
    },
}

/// Installed software outside the KB catalog, and its CVEs (none = inventory only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThirdParty {
    pub vendor: &'static str,
    pub name: &'static str,
    pub version: &'static str,
    pub cves: &'static [&'static str],
    pub fix: OtherFix,
    /// Percent of eligible devices that have it.
    chance: u64,
    windows: bool,
    mac: bool,
    linux: bool,
}

/// Software outside the catalog. CVE numbers stay below
/// [`crate::catalog::FIRST_KB_CVE_NUMBER`], so they never collide with a KB's.
pub const THIRD_PARTY: &[ThirdParty] = &[
    ThirdParty {
        vendor: "google",
        name: "chrome",
        version: "129.0.6668.59",
        cves: &[
            "CVE-2024-7965",
            "CVE-2024-7971",
            "CVE-2024-8904",
            "CVE-2024-9122",
        ],
        fix: OtherFix::Empty,
        chance: 35,
        windows: true,
        mac: true,
        linux: false,
    },
    ThirdParty {
        vendor: MICROSOFT,
        name: "edge_chromium-based",
        version: "129.0.2792.65",
        cves: &["CVE-2024-9369", "CVE-2024-9370"],
        fix: OtherFix::Advisory {
            name: "Chromium Security Updates for Microsoft Edge",
            id: "ADV200002",
        },
        chance: 30,
        windows: true,
        mac: false,
        linux: false,
    },
    ThirdParty {
        vendor: "mozilla",
        name: "firefox",
        version: "128.3.0",
        cves: &["CVE-2024-9392", "CVE-2024-9396"],
        fix: OtherFix::Null,
        chance: 20,
        windows: true,
        mac: true,
        linux: false,
    },
    ThirdParty {
        vendor: "7-zip",
        name: "7-zip",
        version: "19.0.0.0",
        cves: &["CVE-2024-11477"],
        fix: OtherFix::Null,
        chance: 15,
        windows: true,
        mac: false,
        linux: false,
    },
    ThirdParty {
        vendor: "adobe",
        name: "acrobat_reader_dc",
        version: "24.2.20933.0",
        cves: &["CVE-2024-4367", "CVE-2024-5830", "CVE-2024-6785"],
        fix: OtherFix::Null,
        chance: 15,
        windows: true,
        mac: true,
        linux: false,
    },
    ThirdParty {
        vendor: MICROSOFT,
        name: "onedrive",
        version: "24.180.0905.0002",
        cves: &[],
        fix: OtherFix::Null,
        chance: 50,
        windows: true,
        mac: true,
        linux: false,
    },
    ThirdParty {
        vendor: "apple",
        name: "safari",
        version: "17.5",
        cves: &["CVE-2024-4558", "CVE-2024-6851"],
        fix: OtherFix::Null,
        chance: 60,
        windows: false,
        mac: true,
        linux: false,
    },
    ThirdParty {
        vendor: "openssl",
        name: "openssl",
        version: "3.0.2",
        cves: &["CVE-2024-5535", "CVE-2024-6119", "CVE-2024-9143"],
        fix: OtherFix::Null,
        chance: 60,
        windows: false,
        mac: false,
        linux: true,
    },
    ThirdParty {
        vendor: "openbsd",
        name: "openssh",
        version: "8.9p1",
        cves: &["CVE-2024-6387", "CVE-2024-6409"],
        fix: OtherFix::Empty,
        chance: 40,
        windows: false,
        mac: false,
        linux: true,
    },
    ThirdParty {
        vendor: "git-scm",
        name: "git",
        version: "2.44.0",
        cves: &[],
        fix: OtherFix::Null,
        chance: 30,
        windows: true,
        mac: true,
        linux: true,
    },
    ThirdParty {
        vendor: "oracle",
        name: "jre",
        version: "8.0.4210.9",
        cves: &["CVE-2024-21138", "CVE-2024-21144", "CVE-2024-21145"],
        fix: OtherFix::Null,
        chance: 12,
        windows: true,
        mac: false,
        linux: true,
    },
    ThirdParty {
        vendor: "videolan",
        name: "vlc_media_player",
        version: "3.0.20.0",
        cves: &["CVE-2024-46461"],
        fix: OtherFix::Null,
        chance: 10,
        windows: true,
        mac: true,
        linux: false,
    },
    ThirdParty {
        vendor: "notepad-plus-plus",
        name: "notepad++",
        version: "8.6.2.0",
        cves: &["CVE-2023-6401"],
        fix: OtherFix::Empty,
        chance: 10,
        windows: true,
        mac: false,
        linux: false,
    },
    // Microsoft software with neither a CVE nor a KB: in the inventory, never missing an update.
    ThirdParty {
        vendor: MICROSOFT,
        name: "teams",
        version: "24215.1007.3082.1590",
        cves: &[],
        fix: OtherFix::Null,
        chance: 70,
        windows: true,
        mac: true,
        linux: false,
    },
    ThirdParty {
        vendor: MICROSOFT,
        name: "visual_studio_code",
        version: "1.94.2.0",
        cves: &[],
        fix: OtherFix::Null,
        chance: 20,
        windows: true,
        mac: true,
        linux: true,
    },
    ThirdParty {
        vendor: MICROSOFT,
        name: "powershell",
        version: "7.4.5.0",
        cves: &[],
        fix: OtherFix::Null,
        chance: 25,
        windows: true,
        mac: false,
        linux: true,
    },
];

impl ThirdParty {
    fn on(&self, machine: &Machine) -> bool {
        let platform = machine.os_platform.unwrap_or_default();
        let eligible = if machine.is_windows() {
            self.windows
        } else if platform == "macOS" {
            self.mac
        } else {
            platform == "Linux" && self.linux
        };
        eligible && stable_hash(&[machine.id.as_bytes(), self.name.as_bytes()]) % 100 < self.chance
    }

    /// Rows it adds to a device: one per CVE, or one inventory row without a CVE.
    fn rows(&self) -> usize {
        self.cves.len().max(1)
    }
}

/// Which product a KB's `index`-th CVE is in: the KB's main product, with a share for the
/// legacy browsers that rode along in the Windows 10 and server rollups.
pub fn kb_cve_product(kb: &CatalogKb, index: u32) -> &'static str {
    let main = kb.products.first().copied().unwrap_or(product::WINDOWS_10);
    let has = |p: &str| kb.products.contains(&p);
    match index % 10 {
        7 if main == product::WINDOWS_10 && has(product::EDGE) => product::EDGE,
        8 if has(product::INTERNET_EXPLORER) && main != product::DOTNET => {
            product::INTERNET_EXPLORER
        }
        _ => main,
    }
}

/// The device's update revision: the fourth part of its Windows version.
fn revision(machine: &Machine) -> u64 {
    1000 + stable_hash(&[machine.id.as_bytes(), b"ubr"]) % 4000
}

/// `osVersion` of the export: `10.0.{build}.{revision}` on Windows, else the platform version.
pub fn os_version(machine: &Machine) -> Option<String> {
    match machine.os_build {
        Some(build) if machine.is_windows() => Some(format!("10.0.{build}.{}", revision(machine))),
        _ => machine.version.map(str::to_owned),
    }
}

/// Version of a catalog product installed on a device.
pub fn product_version(machine: &Machine, product: &str) -> String {
    let build = machine.os_build.unwrap_or(19045);
    let rev = revision(machine);
    let h = stable_hash(&[machine.id.as_bytes(), product.as_bytes()]);
    match product {
        product::EDGE => format!("44.{build}.{rev}.0"),
        product::INTERNET_EXPLORER => format!("11.0.{build}.{rev}"),
        product::DOTNET => ["4.8.4161.0", "4.8.9032.0", "4.8.1.0"][(h % 3) as usize].to_owned(),
        product::OFFICE => format!("16.0.{}.20000", 17_000 + h % 1_000),
        _ => format!("10.0.{build}.{rev}"),
    }
}

/// One row, as indices; render it with [`Vulnerabilities::row`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowRef {
    /// The `cve`-th CVE of catalog KB `kb` (an index into [`crate::catalog::Catalog::kbs`]).
    Kb { kb: usize, cve: u32 },
    /// Software `software` of [`THIRD_PARTY`]: its `cve`-th CVE, or (`None`) the inventory row of
    /// software without CVEs.
    Other { software: usize, cve: Option<usize> },
}

/// Per-device row counts and software, computed once per router.
#[derive(Debug, Clone, Default)]
struct DeviceRows {
    /// Indices into [`THIRD_PARTY`].
    software: Vec<usize>,
    /// Rows with a CVE (machinesVulnerabilities).
    with_cve: usize,
    /// Of those, the rows of catalog KBs.
    kb_cve: usize,
    /// All rows (the export).
    all: usize,
}

/// The fleet's vulnerability rows: counts per device, rows generated on demand.
#[derive(Debug, Clone, Default)]
pub struct Vulnerabilities {
    devices: Vec<DeviceRows>,
    /// Per catalog KB, the onboarded devices missing it, in fleet order: a `fixingKbId` pin
    /// visits only those.
    kb_devices: Vec<Vec<u32>>,
    /// KB id → index into the catalog.
    kb_index: HashMap<String, usize>,
}

/// What a `$filter`'s top-level `eq` pins on `machineId` and `fixingKbId` say (`Some(None)`:
/// must be null), from [`crate::odata::Filter::pinned`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RowPins<'q> {
    pub machine: Option<Option<&'q str>>,
    pub kb: Option<Option<&'q str>>,
}

/// The devices pinned rows can be on.
#[derive(Debug, Clone, Copy)]
enum Devices<'a> {
    All(usize),
    /// Devices missing the pinned KB (so each has all its rows).
    Missing(&'a [u32]),
    One(Option<usize>),
}

/// Which of a device's rows the `fixingKbId` pin keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KbPin {
    Any,
    Kb(usize),
    /// `fixingKbId eq null`: software no catalog KB fixes.
    NoKb,
    /// A KB id no catalog update has.
    Unknown,
}

/// The machinesVulnerabilities rows (those with a CVE) that pins on `machineId` and
/// `fixingKbId` leave, counted per device without rendering, so `$skip` jumps whole devices and
/// a KB drill-down visits only the devices missing that KB.
#[derive(Debug, Clone, Copy)]
pub struct PinnedRows<'a> {
    vulns: &'a Vulnerabilities,
    fleet: &'a Fleet,
    devices: Devices<'a>,
    kb: KbPin,
}

impl<'a> PinnedRows<'a> {
    fn devices(self) -> Box<dyn Iterator<Item = usize> + 'a> {
        match self.devices {
            Devices::All(count) => Box::new(0..count),
            Devices::Missing(list) => Box::new(list.iter().map(|&d| d as usize)),
            Devices::One(one) => Box::new(one.into_iter()),
        }
    }

    /// Rows of device `index` these pins keep.
    fn count_of(self, index: usize) -> usize {
        let rows = &self.vulns.devices[index];
        match self.kb {
            KbPin::Any => rows.with_cve,
            KbPin::NoKb => rows.with_cve - rows.kb_cve,
            KbPin::Unknown => 0,
            KbPin::Kb(kb) => {
                let misses = matches!(self.devices, Devices::Missing(_))
                    || (self.fleet.machines[index].is_onboarded()
                        && self.fleet.machines[index].missing_kbs.contains(&kb));
                if misses {
                    self.fleet.catalog.kbs[kb].cve_addressed as usize
                } else {
                    0
                }
            }
        }
    }

    /// How many rows the pins keep.
    pub fn total(self) -> usize {
        match (self.devices, self.kb) {
            (Devices::All(_), KbPin::Any) => self.vulns.totals().0,
            (Devices::Missing(list), KbPin::Kb(kb)) => {
                list.len() * self.fleet.catalog.kbs[kb].cve_addressed as usize
            }
            _ => self.devices().map(|d| self.count_of(d)).sum(),
        }
    }

    /// The kept rows of device `index`, in [`Vulnerabilities::device_rows`] order.
    fn rows_of(self, index: usize) -> Box<dyn Iterator<Item = (usize, RowRef)> + 'a> {
        let with_index = move |row| (index, row);
        match self.kb {
            KbPin::Any => Box::new(
                self.vulns
                    .device_rows(self.fleet, index, false)
                    .map(with_index),
            ),
            KbPin::Unknown => Box::new(std::iter::empty()),
            KbPin::NoKb => Box::new(
                self.vulns
                    .device_rows(self.fleet, index, false)
                    .filter(|row| matches!(row, RowRef::Other { .. }))
                    .map(with_index),
            ),
            KbPin::Kb(kb) => {
                let cves = if self.count_of(index) > 0 {
                    self.fleet.catalog.kbs[kb].cve_addressed
                } else {
                    0
                };
                Box::new((0..cves).map(move |cve| (index, RowRef::Kb { kb, cve })))
            }
        }
    }

    /// The kept rows from the `skip`-th on, jumping over whole devices by their counts.
    pub fn from(self, skip: usize) -> impl Iterator<Item = (usize, RowRef)> + 'a {
        let mut remaining = skip;
        let mut start = usize::MAX;
        for (position, index) in self.devices().enumerate() {
            let count = self.count_of(index);
            if remaining < count {
                start = position;
                break;
            }
            remaining -= count;
        }
        self.devices()
            .skip(start)
            .flat_map(move |index| self.rows_of(index))
            .skip(remaining)
    }
}

/// One rendered row: everything both endpoints show.
#[derive(Debug, Clone, PartialEq)]
pub struct Row<'a> {
    pub machine: &'a Machine,
    pub cve_id: Option<Cow<'static, str>>,
    pub facts: Option<CveFacts>,
    pub vendor: &'static str,
    pub product: &'static str,
    pub version: Cow<'static, str>,
    /// The catalog KB fixing it, when one does.
    pub kb: Option<&'a CatalogKb>,
    /// What the export says otherwise.
    pub other_fix: OtherFix,
}

impl Vulnerabilities {
    /// Count every device's rows.
    pub fn new(fleet: &Fleet) -> Self {
        let devices = fleet
            .machines
            .iter()
            .map(|machine| {
                if !machine.is_onboarded() {
                    return DeviceRows::default();
                }
                let kb_rows: usize = fleet
                    .missing_kbs(machine)
                    .map(|kb| kb.cve_addressed as usize)
                    .sum();
                let software: Vec<usize> = THIRD_PARTY
                    .iter()
                    .enumerate()
                    .filter(|(_, s)| s.on(machine))
                    .map(|(i, _)| i)
                    .collect();
                let with_cve = kb_rows
                    + software
                        .iter()
                        .map(|&i| THIRD_PARTY[i].cves.len())
                        .sum::<usize>();
                let all = kb_rows
                    + software
                        .iter()
                        .map(|&i| THIRD_PARTY[i].rows())
                        .sum::<usize>();
                DeviceRows {
                    software,
                    with_cve,
                    kb_cve: kb_rows,
                    all,
                }
            })
            .collect();
        let mut kb_devices = vec![Vec::new(); fleet.catalog.kbs.len()];
        for (index, machine) in fleet.machines.iter().enumerate() {
            if machine.is_onboarded() {
                for &kb in &machine.missing_kbs {
                    kb_devices[kb].push(index as u32);
                }
            }
        }
        let kb_index = fleet
            .catalog
            .kbs
            .iter()
            .enumerate()
            .map(|(i, kb)| (kb.id.to_ascii_lowercase(), i))
            .collect();
        Self {
            devices,
            kb_devices,
            kb_index,
        }
    }

    /// The rows `pins` leave (see [`PinnedRows`]).
    pub fn pinned<'a>(&'a self, fleet: &'a Fleet, pins: RowPins<'_>) -> PinnedRows<'a> {
        let kb = match pins.kb {
            None => KbPin::Any,
            Some(None) => KbPin::NoKb,
            Some(Some(id)) => self
                .kb_index
                .get(&id.to_ascii_lowercase())
                .map_or(KbPin::Unknown, |&kb| KbPin::Kb(kb)),
        };
        let devices = match (pins.machine, kb) {
            (Some(Some(id)), _) => Devices::One(fleet.index_of(id)),
            (Some(None), _) => Devices::One(None),
            (None, KbPin::Kb(kb)) => Devices::Missing(&self.kb_devices[kb]),
            (None, _) => Devices::All(self.devices.len()),
        };
        PinnedRows {
            vulns: self,
            fleet,
            devices,
            kb,
        }
    }

    /// Software outside the catalog installed on device `index`: indices into [`THIRD_PARTY`]
    /// (none for devices that are not onboarded).
    pub fn software_of(&self, index: usize) -> &[usize] {
        self.devices
            .get(index)
            .map_or(&[], |d| d.software.as_slice())
    }

    /// Rows with a CVE of device `index` (what machinesVulnerabilities lists for it).
    pub fn cve_rows_of(&self, index: usize) -> usize {
        self.devices.get(index).map_or(0, |d| d.with_cve)
    }

    /// Rows of the whole fleet: (with a CVE, all).
    pub fn totals(&self) -> (usize, usize) {
        self.devices
            .iter()
            .fold((0, 0), |(c, a), d| (c + d.with_cve, a + d.all))
    }

    /// Rows of device `index` in order: KB rows (catalog order, then CVE order), then other
    /// software. `with_inventory`: include the rows without a CVE.
    pub fn device_rows<'a>(
        &'a self,
        fleet: &'a Fleet,
        index: usize,
        with_inventory: bool,
    ) -> impl Iterator<Item = RowRef> + 'a {
        let machine = &fleet.machines[index];
        let onboarded = machine.is_onboarded();
        let kb_rows = machine
            .missing_kbs
            .iter()
            .filter(move |_| onboarded)
            .flat_map(move |&kb| {
                (0..fleet.catalog.kbs[kb].cve_addressed).map(move |cve| RowRef::Kb { kb, cve })
            });
        let other = self.devices[index]
            .software
            .iter()
            .flat_map(move |&software| {
                let count = THIRD_PARTY[software].cves.len();
                let inventory = (count == 0 && with_inventory).then_some(RowRef::Other {
                    software,
                    cve: None,
                });
                (0..count)
                    .map(move |cve| RowRef::Other {
                        software,
                        cve: Some(cve),
                    })
                    .chain(inventory)
            });
        kb_rows.chain(other)
    }

    /// Every row of the fleet from the `skip`-th on, device by device, jumping over whole
    /// devices by their counts.
    pub fn rows_from<'a>(
        &'a self,
        fleet: &'a Fleet,
        skip: usize,
        with_inventory: bool,
    ) -> impl Iterator<Item = (usize, RowRef)> + 'a {
        let mut remaining = skip;
        let mut first = self.devices.len();
        for (index, device) in self.devices.iter().enumerate() {
            let count = if with_inventory {
                device.all
            } else {
                device.with_cve
            };
            if remaining < count {
                first = index;
                break;
            }
            remaining -= count;
        }
        (first..self.devices.len())
            .flat_map(move |index| {
                self.device_rows(fleet, index, with_inventory)
                    .map(move |row| (index, row))
            })
            .skip(remaining)
    }

    /// Render a row of device `index`.
    pub fn row<'a>(&self, fleet: &'a Fleet, index: usize, row: RowRef) -> Row<'a> {
        let machine = &fleet.machines[index];
        match row {
            RowRef::Kb { kb, cve } => {
                let kb = &fleet.catalog.kbs[kb];
                let product = kb_cve_product(kb, cve);
                let cve_id = kb.cve_id(cve);
                Row {
                    machine,
                    facts: Some(CveFacts::of(&cve_id)),
                    cve_id: Some(Cow::Owned(cve_id)),
                    vendor: MICROSOFT,
                    product,
                    version: Cow::Owned(product_version(machine, product)),
                    kb: Some(kb),
                    other_fix: OtherFix::Null,
                }
            }
            RowRef::Other { software, cve } => {
                let software = &THIRD_PARTY[software];
                let cve_id = cve.map(|i| software.cves[i]);
                Row {
                    machine,
                    cve_id: cve_id.map(Cow::Borrowed),
                    facts: cve_id.map(CveFacts::of),
                    vendor: software.vendor,
                    product: software.name,
                    version: Cow::Borrowed(software.version),
                    kb: None,
                    other_fix: software.fix,
                }
            }
        }
    }
}

/// What `$filter` may say on machinesVulnerabilities: `eq`/`ne` pins of the documented
/// properties.
pub const MACHINE_VULNERABILITY_FILTER: Schema<&str> = Schema {
    entity: "microsoft.windowsDefenderATP.api.PublicAssetVulnerabilityDto",
    properties: &[
        "id",
        "cveId",
        "machineId",
        "fixingKbId",
        "productName",
        "productVersion",
        "severity",
        "productVendor",
    ],
    grammar: Grammar::Pins,
};

/// One `PublicAssetVulnerabilityDto` (machinesVulnerabilities).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MachineVulnerabilityDto {
    pub id: String,
    pub cve_id: String,
    pub machine_id: String,
    pub fixing_kb_id: Option<String>,
    pub product_name: &'static str,
    pub product_vendor: &'static str,
    pub product_version: String,
    pub severity: &'static str,
}

impl MachineVulnerabilityDto {
    /// `None` for inventory rows (no CVE), which this endpoint does not list.
    pub fn from_row(row: &Row<'_>) -> Option<Self> {
        let cve_id = row.cve_id.as_deref()?;
        let fixing_kb_id = row.kb.map(|kb| kb.id.clone());
        Some(Self {
            // The documented shape: machine-_-cve-_-vendor-_-product-_-version-_-kb (kb may be empty).
            id: format!(
                "{}-_-{cve_id}-_-{}-_-{}-_-{}-_-{}",
                row.machine.id,
                row.vendor,
                row.product,
                row.version,
                fixing_kb_id.as_deref().unwrap_or_default()
            ),
            cve_id: cve_id.to_owned(),
            machine_id: row.machine.id.clone(),
            fixing_kb_id,
            product_name: row.product,
            product_vendor: row.vendor,
            product_version: row.version.clone().into_owned(),
            severity: row.facts.map_or("Low", |f| f.severity),
        })
    }
}

/// A row's value for `$filter`, by documented property name.
impl FilterSubject<&'static str> for MachineVulnerabilityDto {
    fn value(&self, property: &'static str) -> Value<'_> {
        Value::text(match property {
            "id" => Some(&self.id),
            "cveId" => Some(&self.cve_id),
            "machineId" => Some(&self.machine_id),
            "fixingKbId" => self.fixing_kb_id.as_deref(),
            "productName" => Some(self.product_name),
            "productVersion" => Some(&self.product_version),
            "severity" => Some(self.severity),
            "productVendor" => Some(self.product_vendor),
            _ => None,
        })
    }
}

/// The export's timestamps: `2020-12-30 14:17:26`.
fn export_time(time: &DateTime<Utc>) -> String {
    time.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// One `AssetVulnerability` (SoftwareVulnerabilitiesByMachine), camelCase as the documented
/// JSON example (the docs' property table spells the same names in PascalCase).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AssetVulnerabilityDto {
    pub id: String,
    pub device_id: String,
    pub rbac_group_name: &'static str,
    pub device_name: Option<String>,
    pub os_platform: Option<&'static str>,
    pub os_version: Option<String>,
    pub os_architecture: Option<&'static str>,
    pub software_vendor: &'static str,
    pub software_name: &'static str,
    pub software_version: String,
    pub cve_id: Option<String>,
    pub cvss_score: Option<f64>,
    pub vulnerability_severity_level: Option<&'static str>,
    pub recommended_security_update: Option<String>,
    pub recommended_security_update_id: Option<String>,
    pub recommended_security_update_url: Option<String>,
    pub disk_paths: Vec<String>,
    pub registry_paths: Vec<String>,
    pub last_seen_timestamp: String,
    pub first_seen_timestamp: String,
    pub exploitability_level: Option<&'static str>,
    pub recommendation_reference: String,
    pub security_update_available: bool,
}

impl AssetVulnerabilityDto {
    pub fn from_row(row: &Row<'_>) -> Self {
        let machine = row.machine;
        let (update, update_id, update_url) = match (row.kb, row.other_fix) {
            (Some(kb), _) => (Some(kb.name.clone()), Some(kb.id.clone()), Some(kb.url())),
            (None, OtherFix::Null) => (None, None, None),
            (None, OtherFix::Empty) => (Some(String::new()), Some(String::new()), None),
            (None, OtherFix::Advisory { name, id }) => (
                Some(name.to_owned()),
                Some(id.to_owned()),
                Some(format!(
                    "https://msrc.microsoft.com/update-guide/vulnerability/{id}"
                )),
            ),
        };
        let security_update_available = row.kb.is_some() || update_id.is_some();
        Self {
            id: format!(
                "{}_{}_{}_{}_",
                machine.id,
                row.product,
                row.version,
                row.cve_id.as_deref().unwrap_or_default()
            ),
            device_id: machine.id.clone(),
            rbac_group_name: machine.rbac_group_name.unwrap_or("Unassigned"),
            device_name: machine.computer_dns_name.clone(),
            os_platform: machine.os_platform,
            os_version: os_version(machine),
            os_architecture: machine.os_processor,
            software_vendor: row.vendor,
            software_name: row.product,
            software_version: row.version.clone().into_owned(),
            cve_id: row.cve_id.as_deref().map(str::to_owned),
            cvss_score: row.facts.map(|f| f.cvss()),
            vulnerability_severity_level: row.facts.map(|f| f.severity),
            recommended_security_update: update,
            recommended_security_update_id: update_id,
            recommended_security_update_url: update_url,
            disk_paths: Vec::new(),
            registry_paths: Vec::new(),
            last_seen_timestamp: export_time(&machine.last_seen),
            first_seen_timestamp: export_time(&machine.first_seen),
            exploitability_level: row.facts.map(|f| f.exploitability),
            recommendation_reference: format!("va-_-{}-_-{}", row.vendor, row.product),
            security_update_available,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::fixed_anchor;
    use std::collections::{BTreeMap, BTreeSet};

    fn fleet() -> Fleet {
        Fleet::generate(42, 300, fixed_anchor(2025, 11, 20).expect("date"))
    }

    #[test]
    fn rows_agree_with_missing_kbs_and_counts() {
        let fleet = fleet();
        let vulns = Vulnerabilities::new(&fleet);
        let mut total = (0, 0);
        for (index, machine) in fleet.machines.iter().enumerate() {
            let rows: Vec<Row> = vulns
                .device_rows(&fleet, index, true)
                .map(|r| vulns.row(&fleet, index, r))
                .collect();
            let mut per_kb: BTreeMap<&str, u32> = BTreeMap::new();
            for row in &rows {
                if let Some(kb) = row.kb {
                    *per_kb.entry(kb.id.as_str()).or_default() += 1;
                    assert!(kb.products.contains(&row.product), "{}", row.product);
                }
            }
            let expected: BTreeMap<&str, u32> = fleet
                .missing_kbs(machine)
                .filter(|kb| kb.cve_addressed > 0)
                .map(|kb| (kb.id.as_str(), kb.cve_addressed))
                .collect();
            assert_eq!(per_kb, expected, "device {index}");
            if !machine.is_onboarded() {
                assert!(rows.is_empty());
            }
            let with_cve = rows.iter().filter(|r| r.cve_id.is_some()).count();
            assert_eq!(with_cve, vulns.cve_rows_of(index));
            total.0 += with_cve;
            total.1 += rows.len();
        }
        assert_eq!(vulns.totals(), total);
        assert!(total.1 > total.0, "inventory rows exist");
    }

    #[test]
    fn skipping_matches_iterating() {
        let fleet = fleet();
        let vulns = Vulnerabilities::new(&fleet);
        let all: Vec<_> = vulns.rows_from(&fleet, 0, false).collect();
        assert_eq!(all.len(), vulns.totals().0);
        for skip in [0, 1, 17, 5_000, all.len() - 1, all.len(), all.len() + 3] {
            let tail: Vec<_> = vulns.rows_from(&fleet, skip, false).take(3).collect();
            let expected: Vec<_> = all.iter().skip(skip).take(3).copied().collect();
            assert_eq!(tail, expected, "skip {skip}");
        }
    }

    #[test]
    fn pinned_rows_skip_by_counts_like_filtering_every_row() {
        let fleet = fleet();
        let vulns = Vulnerabilities::new(&fleet);
        let all: Vec<(usize, RowRef)> = vulns.rows_from(&fleet, 0, false).collect();
        let busy_kb = (0..fleet.catalog.kbs.len())
            .max_by_key(|&kb| vulns.kb_devices[kb].len())
            .expect("a KB");
        let kb_id = fleet.catalog.kbs[busy_kb].id.clone();
        let device = fleet
            .machines
            .iter()
            .position(|m| m.missing_kbs.contains(&busy_kb))
            .expect("a device missing it");
        let other = fleet
            .machines
            .iter()
            .position(|m| m.is_onboarded() && !m.missing_kbs.contains(&busy_kb))
            .expect("a device not missing it");
        let id = |i: usize| fleet.machines[i].id.to_ascii_uppercase();
        let (dev, oth) = (id(device), id(other));
        let cases: Vec<RowPins> = vec![
            RowPins::default(),
            RowPins {
                machine: Some(Some(&dev)),
                kb: None,
            },
            RowPins {
                machine: None,
                kb: Some(Some(&kb_id)),
            },
            RowPins {
                machine: Some(Some(&dev)),
                kb: Some(Some(&kb_id)),
            },
            RowPins {
                machine: Some(Some(&oth)),
                kb: Some(Some(&kb_id)),
            },
            RowPins {
                machine: None,
                kb: Some(None),
            },
            RowPins {
                machine: Some(Some(&dev)),
                kb: Some(None),
            },
            RowPins {
                machine: None,
                kb: Some(Some("1")),
            },
            RowPins {
                machine: Some(None),
                kb: None,
            },
        ];
        for pins in cases {
            let keeps = |(index, row): &(usize, RowRef)| {
                let machine = pins.machine.is_none_or(|m| {
                    m.is_some_and(|m| fleet.machines[*index].id.eq_ignore_ascii_case(m))
                });
                let kb = match (pins.kb, row) {
                    (None, _) => true,
                    (Some(None), row) => matches!(row, RowRef::Other { .. }),
                    (Some(Some(id)), RowRef::Kb { kb, .. }) => fleet.catalog.kbs[*kb].id == id,
                    (Some(Some(_)), RowRef::Other { .. }) => false,
                };
                machine && kb
            };
            let expected: Vec<(usize, RowRef)> = all.iter().copied().filter(keeps).collect();
            let pinned = vulns.pinned(&fleet, pins);
            assert_eq!(pinned.total(), expected.len(), "{pins:?}");
            for skip in [
                0,
                1,
                7,
                100,
                999,
                expected.len().saturating_sub(2),
                expected.len() + 5,
            ] {
                let got: Vec<_> = pinned.from(skip).take(40).collect();
                let want: Vec<_> = expected.iter().copied().skip(skip).take(40).collect();
                assert_eq!(got, want, "{pins:?} skip {skip}");
            }
        }
    }

    #[test]
    fn cve_facts_are_stable_and_in_band() {
        let a = CveFacts::of("CVE-2024-21000");
        assert_eq!(a, CveFacts::of("CVE-2024-21000"));
        let severities: BTreeSet<_> = (20_000..20_400)
            .map(|n| {
                let f = CveFacts::of(&format!("CVE-2024-{n}"));
                let band = match f.severity {
                    "Critical" => 90..=100,
                    "High" => 70..=89,
                    "Medium" => 40..=69,
                    _ => 1..=39,
                };
                assert!(band.contains(&f.cvss_tenths), "{f:?}");
                f.severity
            })
            .collect();
        assert_eq!(severities.len(), 4);
    }
}
