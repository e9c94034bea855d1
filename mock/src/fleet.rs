//! Deterministic demo fleet: devices plus, for each, the catalog updates it is missing.
//!
//! Everything comes from one ChaCha stream seeded with [`crate::MockOptions::seed`], so the same
//! seed and anchor day give byte-identical answers. Timestamps are relative to the anchor (by
//! default today's 00:00 UTC) so "last seen yesterday" stays true on a dev server; tests that
//! need byte-identical fleets across days pass a fixed anchor to [`Fleet::generate`].

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Serialize, Serializer};

use crate::catalog::{product, Catalog, CatalogKb};

/// One device, serialized with exactly the documented `machine` field names.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Machine {
    pub id: String,
    pub computer_dns_name: Option<String>,
    #[serde(serialize_with = "ser_time")]
    pub first_seen: DateTime<Utc>,
    #[serde(serialize_with = "ser_time")]
    pub last_seen: DateTime<Utc>,
    pub os_platform: Option<&'static str>,
    pub version: Option<&'static str>,
    pub os_processor: Option<&'static str>,
    pub os_build: Option<u32>,
    pub os_architecture: Option<&'static str>,
    pub health_status: &'static str,
    pub risk_score: &'static str,
    pub exposure_level: &'static str,
    pub device_value: &'static str,
    pub onboarding_status: &'static str,
    pub rbac_group_name: Option<&'static str>,
    pub rbac_group_id: Option<u32>,
    pub aad_device_id: Option<String>,
    pub machine_tags: Vec<&'static str>,
    pub last_ip_address: Option<String>,
    pub last_external_ip_address: Option<String>,
    pub ip_addresses: Vec<IpAddress>,
    pub is_aad_joined: bool,
    pub defender_av_status: &'static str,
    /// Indices into [`Fleet::catalog`]; not part of the machine entity.
    #[serde(skip)]
    pub missing_kbs: Vec<usize>,
    /// The catalog products installed (see [`crate::catalog::product`]): the Windows line and
    /// what rides with it, Office on most workstations; empty off Windows. Not part of the
    /// machine entity.
    #[serde(skip)]
    pub products: Vec<&'static str>,
}

/// One entry of `ipAddresses`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IpAddress {
    pub ip_address: String,
    pub mac_address: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub operational_status: &'static str,
}

/// Defender writes timestamps with 7 fractional digits and a `Z`.
fn ser_time<S: Serializer>(time: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_time(time))
}

/// `2024-10-08T14:55:03.7791856Z`.
pub fn format_time(time: &DateTime<Utc>) -> String {
    format!(
        "{}.{:07}Z",
        time.format("%Y-%m-%dT%H:%M:%S"),
        time.timestamp_subsec_nanos() / 100
    )
}

impl Machine {
    pub fn is_onboarded(&self) -> bool {
        self.onboarding_status == "Onboarded"
    }

    pub fn is_windows(&self) -> bool {
        self.os_platform.is_some_and(|p| p.starts_with("Windows"))
    }
}

/// The generated fleet and the catalog its missing KBs point into.
#[derive(Debug, Clone)]
pub struct Fleet {
    pub machines: Vec<Machine>,
    pub catalog: Catalog,
    by_id: HashMap<String, usize>,
    by_name: HashMap<String, usize>,
}

/// What kind of device a slot becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Role {
    Workstation,
    Kiosk,
    Server,
    Mac,
    LinuxServer,
    Discovered,
}

/// Slots whose shape tests rely on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Forced {
    /// Device #0: onboarded Windows with 10–40 missing KBs.
    Moderate,
    /// Onboarded Windows with nothing missing.
    FullyPatched,
    /// Onboarded Windows 10 with Office, 150+ missing.
    Ancient,
}

/// (version, build) of each Windows release, weighted by how common it is in a managed fleet.
type Releases = &'static [((&'static str, u32), u32)];
const WINDOWS_10_RELEASES: Releases = &[
    (("1809", 17763), 1),
    (("21H2", 19044), 3),
    (("22H2", 19045), 8),
];
const WINDOWS_11_RELEASES: Releases = &[
    (("21H2", 22000), 1),
    (("22H2", 22621), 3),
    (("23H2", 22631), 5),
    (("24H2", 26100), 4),
];

const DEPARTMENTS: &[&str] = &["fin", "hr", "eng", "mkt", "ops", "sales", "it"];
const SERVER_ROLES: &[&str] = &["sql", "web", "app", "dc", "file", "print", "exch"];
const LINUX_ROLES: &[&str] = &["build", "web", "db", "k8s"];

fn pick<T: Copy>(rng: &mut ChaCha8Rng, items: &[T]) -> T {
    items[rng.random_range(0..items.len())]
}

fn pick_weighted<T: Copy>(rng: &mut ChaCha8Rng, items: &[(T, u32)]) -> T {
    let total: u32 = items.iter().map(|(_, w)| w).sum();
    let mut roll = rng.random_range(0..total);
    for (item, weight) in items {
        if roll < *weight {
            return *item;
        }
        roll -= weight;
    }
    items[items.len() - 1].0
}

fn hex(rng: &mut ChaCha8Rng, len: usize, upper: bool) -> String {
    (0..len)
        .map(|_| {
            let d = rng.random_range(0..16u32);
            let c = std::char::from_digit(d, 16).unwrap_or('0');
            if upper {
                c.to_ascii_uppercase()
            } else {
                c
            }
        })
        .collect()
}

fn guid(rng: &mut ChaCha8Rng) -> String {
    uuid::Builder::from_random_bytes(rng.random())
        .into_uuid()
        .to_string()
}

/// Today at 00:00 UTC, the default anchor.
pub fn default_anchor() -> DateTime<Utc> {
    let today = Utc::now().date_naive();
    today.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc()
}

impl Fleet {
    /// Generate `count` devices from `seed`, with timestamps before `anchor`.
    pub fn generate(seed: u64, count: usize, anchor: DateTime<Utc>) -> Self {
        let catalog = Catalog::generate(anchor.date_naive());
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        // Slot 0 is always the moderate device; the other two forced slots move with the seed.
        let fully_patched = (count > 1).then(|| rng.random_range(1..count));
        let ancient = (count > 2).then(|| loop {
            let i = rng.random_range(1..count);
            if Some(i) != fully_patched {
                break i;
            }
        });
        let mut gen = Generator {
            rng,
            catalog: &catalog,
            anchor,
            names: Names::default(),
            ids: HashSet::new(),
        };
        let machines: Vec<Machine> = (0..count)
            .map(|i| {
                let forced = match i {
                    0 => Some(Forced::Moderate),
                    _ if Some(i) == fully_patched => Some(Forced::FullyPatched),
                    _ if Some(i) == ancient => Some(Forced::Ancient),
                    _ => None,
                };
                gen.machine(forced)
            })
            .collect();
        let mut by_id = HashMap::new();
        let mut by_name = HashMap::new();
        for (i, m) in machines.iter().enumerate() {
            by_id.insert(m.id.clone(), i);
            if let Some(name) = &m.computer_dns_name {
                by_name.entry(name.to_ascii_lowercase()).or_insert(i);
            }
        }
        Self {
            machines,
            catalog,
            by_id,
            by_name,
        }
    }

    /// Look a device up by its 40-hex id only (what `getmissingkbs` accepts).
    pub fn by_id(&self, id: &str) -> Option<&Machine> {
        self.by_id
            .get(&id.to_ascii_lowercase())
            .map(|&i| &self.machines[i])
    }

    /// Position in [`Fleet::machines`] of the device with this 40-hex id (case ignored).
    pub fn index_of(&self, id: &str) -> Option<usize> {
        self.by_id.get(&id.to_ascii_lowercase()).copied()
    }

    /// Look a device up by id or computer name, case-insensitively (what `/machines/{x}` accepts).
    pub fn by_id_or_name(&self, key: &str) -> Option<&Machine> {
        let key = key.to_ascii_lowercase();
        self.by_id
            .get(&key)
            .or_else(|| self.by_name.get(&key))
            .map(|&i| &self.machines[i])
    }

    /// Catalog entries a device is missing, in catalog (chronological) order.
    pub fn missing_kbs<'a>(&'a self, machine: &'a Machine) -> impl Iterator<Item = &'a CatalogKb> {
        machine.missing_kbs.iter().map(|&i| &self.catalog.kbs[i])
    }
}

/// Mutable state while generating one fleet.
struct Generator<'a> {
    rng: ChaCha8Rng,
    catalog: &'a Catalog,
    anchor: DateTime<Utc>,
    names: Names,
    ids: HashSet<String>,
}

/// The computer names given so far.
#[derive(Default)]
struct Names {
    taken: HashSet<String>,
    /// Per name family (see [`name_family`]): how many names were drawn from it.
    drawn: HashMap<(Role, &'static str), u64>,
    /// Per name head once its family is used up: the next number to count on with.
    counted: HashMap<String, u64>,
}

/// The family a role's random names come from (one per department where the department is part
/// of the name) and how many names it holds.
fn name_family(role: Role, dept: &'static str) -> ((Role, &'static str), u64) {
    let per_server_role = |roles: &[&str]| roles.len() as u64 * 99;
    match role {
        Role::Workstation | Role::Mac => ((role, dept), 9_999),
        Role::Kiosk => ((role, ""), 999),
        Role::Server => ((role, ""), per_server_role(SERVER_ROLES)),
        Role::LinuxServer => ((role, ""), per_server_role(LINUX_ROLES)),
        Role::Discovered => ((role, ""), 16u64.pow(7)),
    }
}

/// Operating-system facts of one device.
struct Os {
    platform: &'static str,
    version: Option<&'static str>,
    build: Option<u32>,
    processor: &'static str,
}

impl Generator<'_> {
    fn machine(&mut self, forced: Option<Forced>) -> Machine {
        let role = match forced {
            Some(_) => Role::Workstation,
            None => pick_weighted(
                &mut self.rng,
                &[
                    (Role::Workstation, 62),
                    (Role::Kiosk, 4),
                    (Role::Server, 20),
                    (Role::Mac, 6),
                    (Role::LinuxServer, 5),
                    (Role::Discovered, 3),
                ],
            ),
        };
        let os = self.os(role, forced);
        let onboarding_status = if role == Role::Discovered {
            pick_weighted(&mut self.rng, &[("CanBeOnboarded", 3), ("Unsupported", 1)])
        } else {
            "Onboarded"
        };
        let dept = pick(&mut self.rng, DEPARTMENTS);
        let us = self.rng.random_bool(0.5);
        let name = self.name(role, dept);
        let health_status = match (role, forced) {
            (Role::Discovered, _) => "Unknown",
            (_, Some(_)) => "Active",
            _ => pick_weighted(
                &mut self.rng,
                &[
                    ("Active", 78),
                    ("Inactive", 11),
                    ("ImpairedCommunication", 4),
                    ("NoSensorData", 3),
                    ("NoSensorDataImpairedCommunication", 2),
                    ("Unknown", 2),
                ],
            ),
        };
        let has_office = matches!(role, Role::Workstation)
            && (forced == Some(Forced::Ancient) || self.rng.random_bool(0.9));
        let products = products(os.platform, has_office);
        let missing_kbs = if onboarding_status == "Onboarded" {
            self.missing(&products, forced, health_status == "Inactive")
        } else {
            Vec::new()
        };

        let (rbac_group_name, rbac_group_id) = match role {
            Role::Server | Role::LinuxServer => (Some("Servers"), Some(101)),
            Role::Kiosk => (Some("Kiosks"), Some(104)),
            Role::Discovered => (None, None),
            Role::Workstation | Role::Mac if us => (Some("Workstations-US"), Some(103)),
            Role::Workstation | Role::Mac => (Some("Workstations-EU"), Some(102)),
        };
        let machine_tags = self.tags(role, dept);
        let aad_chance = match role {
            Role::Workstation => 0.85,
            Role::Kiosk => 0.5,
            Role::Mac => 0.4,
            _ => 0.0,
        };
        let aad_device_id = self
            .rng
            .random_bool(aad_chance)
            .then(|| guid(&mut self.rng));
        let device_value = if machine_tags.contains(&"VIP") || role == Role::Server {
            pick_weighted(&mut self.rng, &[("High", 2), ("Normal", 1)])
        } else if role == Role::Kiosk {
            "Low"
        } else {
            pick_weighted(&mut self.rng, &[("Normal", 18), ("Low", 1), ("High", 1)])
        };
        let (risk_score, exposure_level) = self.risk(role, missing_kbs.len());
        let defender_av_status = match role {
            Role::Discovered => "Unknown",
            _ => pick_weighted(
                &mut self.rng,
                &[("Updated", 85), ("NotUpdated", 10), ("Disabled", 5)],
            ),
        };
        let (last_seen, first_seen) = self.seen(health_status);
        let (last_ip, external_ip, ip_addresses) = self.network(role, us);

        let id = loop {
            let id = hex(&mut self.rng, 40, false);
            if self.ids.insert(id.clone()) {
                break id;
            }
        };
        let discovered = role == Role::Discovered;
        Machine {
            id,
            computer_dns_name: name,
            first_seen,
            last_seen,
            os_platform: Some(os.platform),
            version: os.version,
            os_processor: (!discovered).then_some(os.processor),
            os_build: os.build,
            os_architecture: (!discovered).then_some("64-bit"),
            health_status,
            risk_score,
            exposure_level,
            device_value,
            onboarding_status,
            rbac_group_name,
            rbac_group_id,
            is_aad_joined: aad_device_id.is_some(),
            aad_device_id,
            machine_tags,
            last_ip_address: last_ip,
            last_external_ip_address: external_ip,
            ip_addresses,
            defender_av_status,
            missing_kbs,
            products,
        }
    }

    fn os(&mut self, role: Role, forced: Option<Forced>) -> Os {
        let rng = &mut self.rng;
        let windows = |platform, version, build| Os {
            platform,
            version: Some(version),
            build: Some(build),
            processor: "x64",
        };
        let release = |rng: &mut ChaCha8Rng, platform, releases| {
            let (version, build) = pick_weighted(rng, releases);
            windows(platform, version, build)
        };
        let win10 = |rng: &mut ChaCha8Rng| release(rng, "Windows10", WINDOWS_10_RELEASES);
        let win11 = |rng: &mut ChaCha8Rng| release(rng, "Windows11", WINDOWS_11_RELEASES);
        match (role, forced) {
            (_, Some(Forced::Ancient)) => win10(rng),
            (Role::Workstation, _) if rng.random_bool(0.55) => win10(rng),
            (Role::Workstation, _) => win11(rng),
            (Role::Kiosk, _) => win10(rng),
            (Role::Server, _) => match rng.random_range(0..10) {
                0..=2 => windows("WindowsServer2016", "1607", 14393),
                3..=6 => windows("WindowsServer2019", "1809", 17763),
                _ => windows("WindowsServer2022", "21H2", 20348),
            },
            (Role::Mac, _) => Os {
                platform: "macOS",
                version: Some(pick(rng, &["13.6", "14.5", "15.1"])),
                build: None,
                processor: if rng.random_bool(0.7) { "arm64" } else { "x64" },
            },
            (Role::LinuxServer, _) => Os {
                platform: "Linux",
                version: Some(pick(rng, &["20.04", "22.04", "9.3"])),
                build: None,
                processor: "x64",
            },
            (Role::Discovered, _) => Os {
                platform: pick(rng, &["Windows10", "Windows11", "Linux"]),
                version: None,
                build: None,
                processor: "x64",
            },
        }
    }

    fn name(&mut self, role: Role, dept: &'static str) -> Option<String> {
        if role == Role::Discovered && self.rng.random_bool(0.3) {
            return None; // discovered devices often have no name
        }
        let (family, size) = name_family(role, dept);
        let drawn = self.names.drawn.entry(family).or_default();
        if *drawn < size {
            // Retry until a free one comes up: the draws stay the same as long as the family has
            // room, so fleets that fit keep the names they always had.
            *drawn += 1;
            loop {
                let name = self.drawn_name(role, dept);
                if self.names.taken.insert(name.clone()) {
                    return Some(name);
                }
            }
        }
        Some(self.counted_name(role, dept))
    }

    /// A name drawn at random from the role's family.
    fn drawn_name(&mut self, role: Role, dept: &str) -> String {
        match role {
            Role::Workstation => {
                format!(
                    "{dept}-ws-{:04}.contoso.local",
                    self.rng.random_range(1..10000)
                )
            }
            Role::Kiosk => format!("kiosk-{:03}.contoso.local", self.rng.random_range(1..1000)),
            Role::Server => format!(
                "srv-{}-{:02}.contoso.local",
                pick(&mut self.rng, SERVER_ROLES),
                self.rng.random_range(1..100)
            ),
            Role::Mac => format!(
                "{dept}-mac-{:04}.contoso.local",
                self.rng.random_range(1..10000)
            ),
            Role::LinuxServer => format!(
                "lnx-{}-{:02}.contoso.local",
                pick(&mut self.rng, LINUX_ROLES),
                self.rng.random_range(1..100)
            ),
            Role::Discovered => format!("desktop-{}", hex(&mut self.rng, 7, true)),
        }
    }

    /// A name once the role's family is used up: the numbers count on past the drawn range, one
    /// digit wider than any drawn name (`srv-sql-100`, `kiosk-1000`, `fin-ws-10000`), so they
    /// are unique without retrying.
    fn counted_name(&mut self, role: Role, dept: &str) -> String {
        let (head, first) = match role {
            Role::Workstation => (format!("{dept}-ws-"), 10_000),
            Role::Mac => (format!("{dept}-mac-"), 10_000),
            Role::Kiosk => ("kiosk-".to_owned(), 1_000),
            Role::Server => (format!("srv-{}-", pick(&mut self.rng, SERVER_ROLES)), 100),
            Role::LinuxServer => (format!("lnx-{}-", pick(&mut self.rng, LINUX_ROLES)), 100),
            Role::Discovered => ("desktop-".to_owned(), 0x1000_0000),
        };
        let next = self.names.counted.entry(head.clone()).or_insert(first);
        let name = match role {
            Role::Discovered => format!("{head}{next:X}"),
            _ => format!("{head}{next}.contoso.local"),
        };
        *next += 1;
        let fresh = self.names.taken.insert(name.clone());
        debug_assert!(fresh, "counted names are wider than drawn ones: {name}");
        name
    }

    fn tags(&mut self, role: Role, dept: &str) -> Vec<&'static str> {
        let mut tags = Vec::new();
        if dept == "fin" && matches!(role, Role::Workstation | Role::Mac) {
            tags.push("Finance");
        }
        if role == Role::Kiosk {
            tags.push("Kiosk");
        }
        if matches!(role, Role::Workstation | Role::Mac) && self.rng.random_bool(0.06) {
            tags.push("VIP");
        }
        if (dept == "eng" || role == Role::LinuxServer) && self.rng.random_bool(0.3) {
            tags.push("Lab");
        }
        tags
    }

    /// Missing updates: everything applicable released after the last patched month, plus a
    /// straggler or two some devices failed to install.
    fn missing(&mut self, products: &[&str], forced: Option<Forced>, inactive: bool) -> Vec<usize> {
        if products.is_empty() {
            return Vec::new(); // macOS and Linux get no KBs
        }
        let last = i64::from(self.catalog.last_month);
        let behind_all = last + 1;
        let since = |behind: i64| self.catalog.missing_since(products, last - behind);
        match forced {
            Some(Forced::FullyPatched) => return Vec::new(),
            Some(Forced::Ancient) => return since(behind_all),
            Some(Forced::Moderate) => {
                // Walk the patch level until the count lands in 10..=40.
                let mut behind = self.rng.random_range(3..=8);
                let mut kbs = since(behind);
                while kbs.len() > 40 && behind > 1 {
                    behind -= 1;
                    kbs = since(behind);
                }
                while kbs.len() < 10 && behind < behind_all {
                    behind += 1;
                    kbs = since(behind);
                }
                return kbs;
            }
            None => {}
        }
        let mut behind = match self.rng.random_range(0..100) {
            0..=14 => 0,
            15..=44 => 1,
            45..=64 => 2,
            65..=74 => 3,
            75..=89 => self.rng.random_range(4..=12),
            90..=96 => self.rng.random_range(13..=36),
            _ => self.rng.random_range(40..=behind_all),
        };
        if inactive && behind > 0 {
            behind += self.rng.random_range(1..=6);
        }
        let mut kbs = since(behind);
        if behind > 0 && behind < 4 && self.rng.random_bool(0.2) {
            let older = self.catalog.missing_since(products, -1);
            for _ in 0..self.rng.random_range(1..=2) {
                if older.is_empty() {
                    break;
                }
                let kb = pick(&mut self.rng, &older);
                if !kbs.contains(&kb) {
                    kbs.push(kb);
                }
            }
            kbs.sort_unstable();
        }
        kbs
    }

    /// Risk and exposure follow the patch state, with some noise.
    fn risk(&mut self, role: Role, missing: usize) -> (&'static str, &'static str) {
        if role == Role::Discovered {
            return ("None", "None");
        }
        let risk = match missing {
            0 => pick_weighted(&mut self.rng, &[("None", 1), ("Informational", 1)]),
            1..=5 => pick_weighted(
                &mut self.rng,
                &[("Low", 5), ("Informational", 1), ("Medium", 1)],
            ),
            6..=30 => pick_weighted(&mut self.rng, &[("Medium", 5), ("Low", 1), ("High", 1)]),
            _ => pick_weighted(&mut self.rng, &[("High", 5), ("Medium", 1)]),
        };
        let exposure = match missing {
            0 => pick_weighted(&mut self.rng, &[("Low", 3), ("None", 1)]),
            1..=9 => pick_weighted(&mut self.rng, &[("Low", 2), ("Medium", 1)]),
            _ => pick_weighted(&mut self.rng, &[("Medium", 1), ("High", 1)]),
        };
        (risk, exposure)
    }

    fn seen(&mut self, health: &str) -> (DateTime<Utc>, DateTime<Utc>) {
        let minutes_ago = match health {
            "Inactive" => self.rng.random_range(8 * 1440..120 * 1440),
            "Active" => self.rng.random_range(0..36 * 60),
            _ => self.rng.random_range(2 * 1440..10 * 1440),
        };
        let ticks = self.rng.random_range(0..600_000_000i64); // 100 ns ticks within a minute
        let last_seen =
            self.anchor - Duration::minutes(minutes_ago) + Duration::nanoseconds(ticks * 100);
        let first_seen = last_seen
            - Duration::days(self.rng.random_range(30..1500))
            - Duration::nanoseconds(self.rng.random_range(0..600_000_000i64) * 100);
        (last_seen, first_seen)
    }

    fn network(
        &mut self,
        role: Role,
        us: bool,
    ) -> (Option<String>, Option<String>, Vec<IpAddress>) {
        let rng = &mut self.rng;
        let second = match role {
            Role::Server | Role::LinuxServer => 10,
            _ if us => 20,
            _ => 30,
        };
        let ip = format!(
            "10.{second}.{}.{}",
            rng.random_range(0..64),
            rng.random_range(2..255)
        );
        let mac = hex(rng, 12, true);
        if role == Role::Discovered {
            return (Some(ip), None, Vec::new());
        }
        let external = match role {
            Role::Server | Role::LinuxServer => format!("192.0.2.{}", rng.random_range(1..255)),
            _ if us => format!("198.51.100.{}", rng.random_range(1..255)),
            _ => format!("203.0.113.{}", rng.random_range(1..255)),
        };
        let kind = match role {
            Role::Workstation | Role::Mac if rng.random_bool(0.5) => "Wireless80211",
            _ => "Ethernet",
        };
        let mut addresses = vec![IpAddress {
            ip_address: ip.clone(),
            mac_address: mac.clone(),
            kind,
            operational_status: "Up",
        }];
        if rng.random_bool(0.5) {
            addresses.push(IpAddress {
                ip_address: format!(
                    "fe80::{}:{}:{}:{}",
                    hex(rng, 4, false),
                    hex(rng, 4, false),
                    hex(rng, 4, false),
                    hex(rng, 4, false)
                ),
                mac_address: mac,
                kind,
                operational_status: "Up",
            });
        }
        (Some(ip), Some(external), addresses)
    }
}

/// Product lines whose updates a platform needs; empty for platforms without KBs.
fn products(platform: &str, office: bool) -> Vec<&'static str> {
    use product::*;
    let mut products = match platform {
        "Windows10" => vec![WINDOWS_10, EDGE, INTERNET_EXPLORER, DOTNET],
        "Windows11" => vec![WINDOWS_11, EDGE, DOTNET],
        "WindowsServer2016" => vec![SERVER_2016, INTERNET_EXPLORER, DOTNET],
        "WindowsServer2019" => vec![SERVER_2019, INTERNET_EXPLORER, DOTNET],
        "WindowsServer2022" => vec![SERVER_2022, DOTNET],
        _ => return Vec::new(),
    };
    if office {
        products.push(OFFICE);
    }
    products
}

/// A fixed anchor for tests and reproducible snapshots.
pub fn fixed_anchor(year: i32, month: u32, day: u32) -> Option<DateTime<Utc>> {
    NaiveDate::from_ymd_opt(year, month, day)?
        .and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn anchor() -> DateTime<Utc> {
        fixed_anchor(2025, 11, 20).expect("valid date")
    }

    #[test]
    fn same_seed_same_fleet() {
        let a = Fleet::generate(42, 300, anchor());
        let b = Fleet::generate(42, 300, anchor());
        assert_eq!(a.machines, b.machines);
        let c = Fleet::generate(43, 300, anchor());
        assert_ne!(a.machines, c.machines);
    }

    #[test]
    fn forced_shapes_hold_for_many_seeds() {
        for seed in 0..40 {
            let fleet = Fleet::generate(seed, 300, anchor());
            let first = &fleet.machines[0];
            assert!(first.is_windows() && first.is_onboarded(), "seed {seed}");
            assert!(
                (10..=40).contains(&first.missing_kbs.len()),
                "seed {seed}: {}",
                first.missing_kbs.len()
            );
            let onboarded_windows = || {
                fleet
                    .machines
                    .iter()
                    .filter(|m| m.is_onboarded() && m.is_windows())
            };
            assert!(
                onboarded_windows().any(|m| m.missing_kbs.is_empty()),
                "seed {seed}"
            );
            assert!(
                onboarded_windows().any(|m| m.missing_kbs.len() >= 150),
                "seed {seed}"
            );
        }
    }

    #[test]
    fn ids_and_names_are_unique_and_well_formed() {
        let fleet = Fleet::generate(7, 500, anchor());
        let ids: HashSet<_> = fleet.machines.iter().map(|m| &m.id).collect();
        assert_eq!(ids.len(), 500);
        for m in &fleet.machines {
            assert_eq!(m.id.len(), 40);
            assert!(m
                .id
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
            assert!(m.first_seen <= m.last_seen);
            if !m.is_windows() {
                assert!(m.missing_kbs.is_empty());
            }
        }
        assert!(fleet.machines.iter().any(|m| !m.is_onboarded()));
        assert!(fleet.machines.iter().any(|m| m.health_status == "Inactive"));
        assert!(fleet
            .machines
            .iter()
            .any(|m| m.os_platform == Some("macOS")));
    }

    /// A stable digest of everything a client sees of a fleet: each device's JSON and the ids of
    /// the KBs it misses.
    fn digest(fleet: &Fleet) -> u64 {
        let mut parts = Vec::new();
        for m in &fleet.machines {
            parts.push(serde_json::to_vec(m).expect("json"));
            for kb in fleet.missing_kbs(m) {
                parts.push(kb.id.clone().into_bytes());
            }
        }
        let parts: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
        crate::vulns::stable_hash(&parts)
    }

    /// The fleets the other suites assert on (the default, the e2e and mock tests' sizes and
    /// seeds, the README's 2,000) keep exactly the devices, names and KBs they had before names
    /// could outgrow their drawn ranges.
    #[test]
    fn fleets_of_todays_sizes_keep_their_exact_devices() {
        for (seed, count, expected) in [
            (42, 300, 0x7474_ee88_2b4c_c165_u64),
            (42, 12, 0xf979_b4b2_fddf_f850),
            (42, 16, 0xa55b_38b0_9fb3_1722),
            (42, 6, 0xd259_79d0_f303_2379),
            (7, 300, 0x9e1d_21b9_5ab3_3391),
            (7, 40, 0x2920_4267_8417_6596),
            (20_240_611, 300, 0xe99e_a9d4_e4f7_756a),
            (20_241_105, 60, 0xa5f6_de67_2185_5282),
            (7, 2_000, 0xe869_d1ac_b35d_b8ec),
        ] {
            let fleet = Fleet::generate(seed, count, anchor());
            assert_eq!(
                format!("{:#018x}", digest(&fleet)),
                format!("{expected:#018x}"),
                "seed {seed}, {count} devices"
            );
        }
    }

    /// Far past every drawn range (servers run out near 3,500 devices, kiosks near 25,000): still
    /// one name and one id per device. 30,000 devices rather than the 100,000 the mock starts in
    /// about a second in release: 100,000 take about five seconds in a debug build.
    #[test]
    fn names_and_ids_stay_unique_past_the_drawn_ranges() {
        const COUNT: usize = 30_000;
        let fleet = Fleet::generate(42, COUNT, anchor());
        assert_eq!(fleet.machines.len(), COUNT);
        let ids: HashSet<&str> = fleet.machines.iter().map(|m| m.id.as_str()).collect();
        assert_eq!(ids.len(), COUNT);
        let names: Vec<&str> = fleet
            .machines
            .iter()
            .filter_map(|m| m.computer_dns_name.as_deref())
            .collect();
        let unique: HashSet<&str> = names.iter().copied().collect();
        assert_eq!(unique.len(), names.len());
        // The counted names continue the drawn ones' pattern.
        for counted in [
            "srv-sql-100.contoso.local",
            "lnx-web-100.contoso.local",
            "kiosk-1000.contoso.local",
        ] {
            assert!(unique.contains(counted), "{counted}");
        }
        assert!(names
            .iter()
            .all(|n| n.ends_with(".contoso.local") || n.starts_with("desktop-")));
        for m in &fleet.machines {
            if let Some(name) = &m.computer_dns_name {
                assert!(fleet
                    .by_id_or_name(name)
                    .is_some_and(|found| found.id == m.id));
            }
        }
    }

    #[test]
    fn fleets_past_the_drawn_ranges_are_deterministic_too() {
        let a = Fleet::generate(3, 8_000, anchor());
        let b = Fleet::generate(3, 8_000, anchor());
        assert_eq!(a.machines, b.machines);
        assert_ne!(a.machines, Fleet::generate(4, 8_000, anchor()).machines);
    }

    #[test]
    fn timestamps_have_seven_fraction_digits() {
        let t = fixed_anchor(2024, 10, 8).expect("date") + Duration::nanoseconds(779_185_600);
        assert_eq!(format_time(&t), "2024-10-08T00:00:00.7791856Z");
    }
}
