//! The fleet the aggregation figures are measured on: 5,000 devices × 40 missing KBs drawn from
//! a pool of 400, deterministic. The native criterion bench `core/benches/fleet_aggregate.rs`
//! includes this file, so the wasm and native figures are taken on the same data.

use kbwatch_core::fleet::aggregate::FleetAggregate;
use kbwatch_core::{DeviceId, MissingKb};

pub const DEVICES: u32 = 5_000;
pub const KBS_PER_DEVICE: usize = 40;
pub const KB_POOL: u32 = 400;
const PRODUCTS: [&str; 5] = [
    "windows_10",
    "windows_11",
    "edge",
    ".net_framework",
    "office",
];
/// Month names as update titles use them ("March 2020 Security Updates").
pub const MONTHS: [&str; 12] = [
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

/// xorshift64: same sequence on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn kb_pool() -> Vec<MissingKb> {
    (0..KB_POOL)
        .map(|i| {
            let number = 5_000_000 + i * 37;
            let year = 2019 + i % 6;
            let name = if i % 2 == 0 {
                format!("{} {year} Security Updates", MONTHS[(i % 12) as usize])
            } else {
                format!("{year}-{:02} Cumulative Update for Windows", i % 12 + 1)
            };
            MissingKb {
                id: number.to_string(),
                name: Some(name),
                products: vec![
                    PRODUCTS[(i % 5) as usize].to_owned(),
                    PRODUCTS[((i / 5) % 5) as usize].to_owned(),
                ],
                url: Some(format!(
                    "https://catalog.update.microsoft.com/v7/site/Search.aspx?q=KB{number}"
                )),
                machine_missed_on: Some(1),
                cve_addressed: Some(i % 120),
            }
        })
        .collect()
}

/// One scanned device: ID, name, its missing KBs.
pub type ScannedDevice = (DeviceId, String, Vec<MissingKb>);

/// The 5,000 devices with 40 missing KBs each.
pub fn fleet_data() -> Vec<ScannedDevice> {
    let pool = kb_pool();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    (0..DEVICES)
        .map(|n| {
            let id = DeviceId::parse(&format!("{:040x}", rng.next())).expect("40 hex digits");
            let mut picked: Vec<usize> = Vec::with_capacity(KBS_PER_DEVICE);
            while picked.len() < KBS_PER_DEVICE {
                let k = (rng.next() % u64::from(KB_POOL)) as usize;
                if !picked.contains(&k) {
                    picked.push(k);
                }
            }
            let kbs = picked.into_iter().map(|k| pool[k].clone()).collect();
            (id, format!("ws-{n:05}.contoso.local"), kbs)
        })
        .collect()
}

/// A fleet of `devices` devices with `kbs_per_device` missing KBs each from the same pool of
/// 400, built straight into an aggregate (the devices' KB lists are not kept, so 100,000
/// devices fit in a browser tab). Names are `ws-{n:05}.contoso.local`.
pub fn big_fleet(devices: u32, kbs_per_device: usize) -> FleetAggregate {
    let pool = kb_pool();
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut fleet = FleetAggregate::new();
    let per_device = kbs_per_device.min(KB_POOL as usize);
    let mut kbs: Vec<&MissingKb> = Vec::with_capacity(per_device);
    let mut picked: Vec<usize> = Vec::with_capacity(per_device);
    for n in 0..devices {
        let (a, b, c) = (rng.next(), rng.next(), rng.next() as u32);
        let id = DeviceId::parse(&format!("{a:016x}{b:016x}{c:08x}")).expect("40 hex digits");
        picked.clear();
        while picked.len() < per_device {
            let k = (rng.next() % u64::from(KB_POOL)) as usize;
            if !picked.contains(&k) {
                picked.push(k);
            }
        }
        kbs.clear();
        kbs.extend(picked.iter().map(|&k| &pool[k]));
        fleet.add_device_named(id, format!("ws-{n:05}.contoso.local"), kbs.iter().copied());
    }
    fleet
}

/// Adds every device to a fresh aggregate, as the fleet view does while a scan runs.
pub fn aggregate(data: &[ScannedDevice]) -> FleetAggregate {
    let mut fleet = FleetAggregate::new();
    for (id, name, kbs) in data {
        fleet.add_device_named(id.clone(), name.as_str(), kbs);
    }
    fleet
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fleet_has_the_announced_shape() {
        let data = fleet_data();
        assert_eq!(data.len(), DEVICES as usize);
        assert!(data.iter().all(|(_, _, kbs)| kbs.len() == KBS_PER_DEVICE));
        let summary = aggregate(&data).summary();
        assert_eq!(summary.devices_scanned, DEVICES as usize);
        assert_eq!(summary.device_kb_pairs, DEVICES as usize * KBS_PER_DEVICE);
        assert!(summary.distinct_kbs <= KB_POOL as usize);
    }

    #[test]
    fn a_big_fleet_has_the_asked_shape() {
        let summary = big_fleet(2_000, 14).summary();
        assert_eq!(summary.devices_scanned, 2_000);
        assert_eq!(summary.device_kb_pairs, 2_000 * 14);
    }
}
