//! Test fleets shared by the aggregate's tests and those of `bulk` and `csv_export`.

use proptest::prelude::*;

use super::FleetAggregate;
use super::FleetDevice;
use super::FleetKb;
use crate::device::DeviceId;
use crate::kb::MissingKb;
pub(crate) use crate::kb_list::tests::kb;

pub(crate) fn id(n: u32) -> DeviceId {
    DeviceId::parse(&format!("{n:040x}")).expect("valid test id")
}

pub(crate) fn march() -> MissingKb {
    kb(
        "4540673",
        "March 2020 Security Updates",
        &["windows_10", "edge"],
        97,
    )
}
pub(crate) fn october() -> MissingKb {
    kb(
        "5044285",
        "2024-10 Cumulative Update for Windows 11 Version 23H2",
        &["windows_11"],
        12,
    )
}
pub(crate) fn dotnet() -> MissingKb {
    kb(
        "4552931",
        "May 2020 .NET Framework Update",
        &[".net_framework"],
        3,
    )
}

/// Four devices: one fully patched, the others missing overlapping KBs.
pub(crate) fn fleet() -> FleetAggregate {
    let mut f = FleetAggregate::new();
    f.add_device_named(id(1), "alpha", &[march(), october()]);
    f.add_device_named(id(2), "Beta", &[march(), dotnet()]);
    f.add_device_named(id(3), "gamma", &[october()]);
    f.add_device_named(id(4), "delta", &[]);
    f
}

pub(crate) fn kb_ids(rows: &[&FleetKb]) -> Vec<String> {
    rows.iter().map(|kb| kb.id.clone()).collect()
}

pub(crate) fn names(rows: &[&FleetDevice]) -> Vec<String> {
    rows.iter().map(|d| d.name.clone()).collect()
}

pub(crate) fn arb_fleet() -> impl Strategy<Value = Vec<(u32, Vec<MissingKb>)>> {
    let kb_pool = prop::sample::select(vec![
        march(),
        october(),
        dotnet(),
        kb(
            "KB5044285",
            "2024-10 Cumulative Update",
            &["windows_10"],
            30,
        ),
        kb("123", "", &[], 0),
        kb("odd-id", "June 2019", &["office"], 7),
    ]);
    prop::collection::vec((0u32..20, prop::collection::vec(kb_pool, 0..5)), 0..25).prop_map(
        |devices| {
            // One answer per device, as the per-device replace rule would leave it.
            let mut seen = std::collections::HashSet::new();
            devices
                .into_iter()
                .filter(|(n, _)| seen.insert(*n))
                .collect()
        },
    )
}

/// Shuffles `items` by a Fisher-Yates pass driven by xorshift from `seed`: the same seed, the
/// same order, so a failing proptest case replays.
pub(crate) fn shuffle<T>(items: &mut [T], seed: u64) {
    let mut state = seed | 1;
    for i in (1..items.len()).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        items.swap(i, (state % (i as u64 + 1)) as usize);
    }
}
