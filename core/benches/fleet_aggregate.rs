//! Fleet aggregation at the size the issue asks for: 5,000 devices × 40 missing KBs each,
//! drawn from a pool of 400 KBs with deterministic pseudo-random data.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use kbwatch_core::fleet::aggregate::{FleetAggregate, FleetDeviceFilter, FleetKbFilter};
use kbwatch_core::{DeviceId, MissingKb, Sort};

const DEVICES: u32 = 5_000;
const KBS_PER_DEVICE: usize = 40;
const KB_POOL: u32 = 400;
const PRODUCTS: [&str; 5] = [
    "windows_10",
    "windows_11",
    "edge",
    ".net_framework",
    "office",
];
const MONTHS: [&str; 12] = [
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

fn fleet_data() -> Vec<(DeviceId, String, Vec<MissingKb>)> {
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

fn aggregate(data: &[(DeviceId, String, Vec<MissingKb>)]) -> FleetAggregate {
    let mut fleet = FleetAggregate::new();
    for (id, name, kbs) in data {
        fleet.add_device_named(id.clone(), name.as_str(), kbs);
    }
    fleet
}

fn bench(c: &mut Criterion) {
    let data = fleet_data();
    let fleet = aggregate(&data);
    let summary = fleet.summary();
    println!(
        "fleet: {} devices, {} distinct KBs, {} device×KB pairs",
        summary.devices_scanned, summary.distinct_kbs, summary.device_kb_pairs
    );

    let mut group = c.benchmark_group("fleet_5000x40");
    group.sample_size(20);
    group.bench_function("aggregate", |b| b.iter(|| aggregate(black_box(&data))));
    group.bench_function("aggregate_and_kb_rows", |b| {
        b.iter(|| {
            let fleet = aggregate(black_box(&data));
            let rows = fleet.kb_rows(&FleetKbFilter::default(), Sort::default());
            black_box(rows.len())
        })
    });
    group.bench_function("kb_rows", |b| {
        b.iter(|| {
            black_box(
                fleet
                    .kb_rows(&FleetKbFilter::default(), Sort::default())
                    .len(),
            )
        })
    });
    group.bench_function("device_rows", |b| {
        b.iter(|| {
            black_box(
                fleet
                    .device_rows(&FleetDeviceFilter::default(), Sort::default())
                    .len(),
            )
        })
    });
    group.bench_function("summary", |b| b.iter(|| black_box(fleet.summary())));
    group.bench_function("replace_one_device", |b| {
        let mut fleet = fleet.clone();
        let (id, name, kbs) = &data[DEVICES as usize / 2];
        b.iter(|| fleet.add_device_named(id.clone(), name.as_str(), black_box(kbs)))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
