//! Fleet aggregation at the size the issue asks for: 5,000 devices × 40 missing KBs each,
//! drawn from a pool of 400 KBs with deterministic pseudo-random data.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use kbwatch_core::fleet::aggregate::{FleetDeviceFilter, FleetKbFilter};
use kbwatch_core::Sort;

// The data is the one `make bench` aggregates in the browser, so both figures compare.
// (Its `#[test]` is dropped in this harness-less bench, leaving that module's import unused.)
#[allow(unused_imports)]
// The bench crate also builds its 100,000-device fleets from this file.
#[allow(dead_code)]
#[path = "../../bench/src/fleet_data.rs"]
mod fleet_data;

use fleet_data::{aggregate, fleet_data, DEVICES};

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
