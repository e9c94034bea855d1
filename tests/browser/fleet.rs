//! Browser tests of the fleet view's components (wasm-bindgen-test in headless Chromium): the
//! per-KB and per-device tables, the summary tiles, the top-KB chart and the scan status,
//! mounted with a `FleetAggregate` built from hand-made devices and KBs held in signals — and
//! partial results: devices added to the aggregate one by one, as a scan delivers them, show up
//! in the tables and tiles each time.

use kbwatch::components::fleet::{
    FleetDeviceTable, FleetKbFilters, FleetKbTable, ScanStatus, SummaryTiles, TopKbChart,
};
use kbwatch_core::fleet::aggregate::{
    FleetAggregate, FleetDeviceSortKey, FleetKb, FleetKbFilter, FleetKbSortKey,
};
use kbwatch_core::fleet::scan::ScanProgress;
use kbwatch_core::sort::Sort;
use kbwatch_core::url_state::FleetView;
use kbwatch_core::{Device, DeviceId, MissingKb};
use leptos::mount::{mount_to, UnmountHandle};
use leptos::prelude::*;
use leptos::tachys::view::any_view::AnyViewState;
use wasm_bindgen_test::*;
use web_sys::{Element, HtmlElement};

use crate::dom::{all, click, container, one, settle, type_into};

type Mounted = UnmountHandle<AnyViewState>;

/// The element's text without surrounding whitespace.
fn text(root: &Element, selector: &str) -> String {
    one(root, selector)
        .text_content()
        .unwrap_or_default()
        .trim()
        .to_owned()
}

fn texts(root: &Element, selector: &str) -> Vec<String> {
    all(root, selector)
        .iter()
        .map(|e| e.text_content().unwrap_or_default().trim().to_owned())
        .collect()
}

/// KB ids of the per-KB table's rows, top to bottom.
fn kb_row_ids(root: &Element) -> Vec<String> {
    all(root, "tr[data-testid=fleet-kb-row]")
        .iter()
        .map(|r| r.get_attribute("data-kb-id").unwrap())
        .collect()
}

/// The device count shown in each per-KB row, top to bottom.
fn kb_row_counts(root: &Element) -> Vec<usize> {
    texts(
        root,
        "tr[data-testid=fleet-kb-row] [data-testid=fleet-kb-devices]",
    )
    .iter()
    .map(|t| t.parse().unwrap_or_else(|_| panic!("device count {t:?}")))
    .collect()
}

fn tile(root: &Element, test_id: &str) -> String {
    text(root, &format!("[data-testid={test_id}] .tile-value"))
}

fn id(n: u32) -> DeviceId {
    DeviceId::parse(&format!("{n:040x}")).unwrap()
}

fn device(n: u32, name: &str) -> Device {
    serde_json::from_value(serde_json::json!({
        "id": format!("{n:040x}"),
        "computerDnsName": name,
        "osPlatform": "Windows11",
        "healthStatus": "Active",
        "onboardingStatus": "Onboarded",
    }))
    .unwrap()
}

fn kb(id: &str, name: &str, products: &[&str], cves: u32, url: Option<&str>) -> MissingKb {
    MissingKb {
        id: id.into(),
        name: Some(name.into()),
        products: products.iter().map(|p| p.to_string()).collect(),
        url: url.map(Into::into),
        machine_missed_on: Some(1),
        cve_addressed: Some(cves),
    }
}

/// Missing on 3 devices, 3 CVEs; a hostile `url`, so the link is built from the number.
fn kb_a() -> MissingKb {
    kb(
        "5044285",
        "October 2024 Security Updates",
        &["windows_11"],
        3,
        Some("javascript:alert(1)"),
    )
}

/// Missing on 2 devices, 97 CVEs.
fn kb_b() -> MissingKb {
    kb(
        "4540673",
        "March 2020 Security Updates",
        &["windows_11", "edge"],
        97,
        Some("https://catalog.update.microsoft.com/v7/site/Search.aspx?q=KB4540673"),
    )
}

/// Missing on 1 device, 12 CVEs.
fn kb_c() -> MissingKb {
    kb(
        "4552931",
        "May 2020 .NET Framework Update",
        &[".net_framework"],
        12,
        None,
    )
}

/// Four devices: alpha misses A, B, C; bravo A, B; charlie A; delta nothing. So by devices
/// A (3) > B (2) > C (1), by CVEs B (97) > C (12) > A (3), by KB number A > C > B.
fn fleet() -> Vec<(Device, Vec<MissingKb>)> {
    vec![
        (
            device(1, "alpha.contoso.local"),
            vec![kb_a(), kb_b(), kb_c()],
        ),
        (device(2, "bravo.contoso.local"), vec![kb_a(), kb_b()]),
        (device(3, "charlie.contoso.local"), vec![kb_a()]),
        (device(4, "delta.contoso.local"), vec![]),
    ]
}

fn aggregate_of(devices: &[(Device, Vec<MissingKb>)]) -> FleetAggregate {
    let mut aggregate = FleetAggregate::new();
    for (d, kbs) in devices {
        aggregate.add_device(d, kbs);
    }
    aggregate
}

const A: &str = "5044285";
const B: &str = "4540673";
const C: &str = "4552931";

/// The fleet page's summary, chart and per-KB table, bound to one aggregate signal the way
/// `FleetPage` binds them to the scanner's (sort and selection held locally, as the URL would).
struct FleetHarness {
    root: HtmlElement,
    aggregate: RwSignal<FleetAggregate>,
    sort: RwSignal<Sort<FleetKbSortKey>>,
    filter: RwSignal<FleetKbFilter>,
    selected: RwSignal<Option<String>>,
    chart_clicks: RwSignal<Vec<String>>,
    /// Devices in scope (the four of `fleet()` unless a test says otherwise).
    in_scope: RwSignal<usize>,
    _mounted: Mounted,
}

fn mount_fleet(initial: FleetAggregate, chart_bars: usize) -> FleetHarness {
    let root = container();
    let aggregate = RwSignal::new(initial);
    let sort = RwSignal::new(Sort::<FleetKbSortKey>::default());
    let filter = RwSignal::new(FleetKbFilter::default());
    let selected = RwSignal::new(None::<String>);
    let chart_clicks = RwSignal::new(Vec::<String>::new());
    let in_scope = RwSignal::new(4_usize);
    let mounted = mount_to(root.clone(), move || {
        let summary = Memo::new(move |_| aggregate.with(|a| a.summary()));
        let top = Memo::new(move |_| {
            aggregate.with(|a| {
                a.top_kbs_by_devices(chart_bars)
                    .into_iter()
                    .cloned()
                    .collect::<Vec<_>>()
            })
        });
        let rows = Memo::new(move |_| {
            let (f, s) = (filter.get(), sort.get());
            aggregate.with(|a| {
                a.kb_rows(&f, s)
                    .into_iter()
                    .cloned()
                    .collect::<Vec<FleetKb>>()
            })
        });
        let products = Memo::new(move |_| {
            aggregate.with(|a| {
                a.products()
                    .into_iter()
                    .map(|p| {
                        let n = a.kbs().filter(|kb| kb.products.contains(&p)).count();
                        (p, n)
                    })
                    .collect::<Vec<_>>()
            })
        });
        view! {
            <SummaryTiles summary in_scope/>
            <TopKbChart rows=top on_select=Callback::new(move |id: String| chart_clicks.update(|c| c.push(id)))/>
            <FleetKbFilters filter products on_change=Callback::new(move |f| filter.set(f))/>
            <FleetKbTable
                rows
                sort
                selected
                on_sort=Callback::new(move |k| sort.update(|s| *s = s.toggled(k)))
                on_select=Callback::new(move |id| selected.set(Some(id)))
            />
        }
        .into_any()
    });
    FleetHarness {
        root,
        aggregate,
        sort,
        filter,
        selected,
        chart_clicks,
        in_scope,
        _mounted: mounted,
    }
}

#[wasm_bindgen_test]
async fn kb_table_counts_devices_per_kb_most_devices_first() {
    let h = mount_fleet(aggregate_of(&fleet()), 10);
    settle().await;
    assert_eq!(kb_row_ids(&h.root), [A, B, C]);
    assert_eq!(kb_row_counts(&h.root), [3, 2, 1]);
    assert_eq!(
        texts(&h.root, "tr[data-testid=fleet-kb-row] td:nth-child(5)"),
        ["3", "97", "12"],
        "CVE column"
    );
    assert_eq!(
        texts(&h.root, "tr[data-testid=fleet-kb-row] td:nth-child(1)"),
        ["KB5044285", "KB4540673", "KB4552931"]
    );
    assert_eq!(
        text(&h.root, &format!("tr[data-kb-id='{B}'] td.update-name")),
        "March 2020 Security Updates"
    );
    let products = text(&h.root, &format!("tr[data-kb-id='{B}'] td:nth-child(3)"));
    assert!(
        products.contains("Windows 11") && products.contains("Microsoft Edge"),
        "products of B: {products:?}"
    );
    assert_eq!(
        one(&h.root, "th[data-sort-key=devices]")
            .get_attribute("aria-sort")
            .as_deref(),
        Some("descending")
    );
    // Catalog links: the API's own when it is a catalog URL, else built from the number; a
    // KB without a usable URL still gets one (it has a number). Never the hostile one.
    let href = |kb: &str| {
        one(&h.root, &format!("tr[data-kb-id='{kb}'] td:nth-child(1) a"))
            .get_attribute("href")
            .unwrap()
    };
    assert_eq!(
        href(A),
        "https://catalog.update.microsoft.com/v7/site/Search.aspx?q=KB5044285"
    );
    assert_eq!(
        href(B),
        "https://catalog.update.microsoft.com/v7/site/Search.aspx?q=KB4540673"
    );
    assert_eq!(
        href(C),
        "https://catalog.update.microsoft.com/v7/site/Search.aspx?q=KB4552931"
    );
    for link in all(&h.root, "tr[data-testid=fleet-kb-row] a") {
        assert_eq!(
            link.get_attribute("rel").as_deref(),
            Some("noopener noreferrer")
        );
    }
}

#[wasm_bindgen_test]
async fn kb_table_header_clicks_re_sort() {
    let h = mount_fleet(aggregate_of(&fleet()), 10);
    settle().await;
    let aria = |key: &str| {
        one(&h.root, &format!("th[data-sort-key={key}]"))
            .get_attribute("aria-sort")
            .unwrap()
    };

    click(&h.root, "th[data-sort-key=cves] button");
    settle().await;
    assert_eq!(kb_row_ids(&h.root), [B, C, A], "most CVEs first");
    assert_eq!(aria("cves"), "descending");
    assert_eq!(aria("devices"), "none");

    click(&h.root, "th[data-sort-key=devices] button");
    settle().await;
    assert_eq!(kb_row_ids(&h.root), [A, B, C], "most devices first again");
    click(&h.root, "th[data-sort-key=devices] button");
    settle().await;
    assert_eq!(kb_row_ids(&h.root), [C, B, A], "second click flips");
    assert_eq!(aria("devices"), "ascending");
    assert_eq!(kb_row_counts(&h.root), [1, 2, 3]);

    click(&h.root, "th[data-sort-key=kb] button");
    settle().await;
    assert_eq!(kb_row_ids(&h.root), [A, C, B], "highest KB number first");

    click(&h.root, "th[data-sort-key=name] button");
    settle().await;
    assert_eq!(
        texts(&h.root, "tr[data-testid=fleet-kb-row] td.update-name"),
        [
            "March 2020 Security Updates",
            "May 2020 .NET Framework Update",
            "October 2024 Security Updates"
        ],
        "names A→Z"
    );
    assert_eq!(
        h.sort.get_untracked(),
        Sort::new(
            FleetKbSortKey::Name,
            kbwatch_core::sort::SortDirection::Ascending
        )
    );
}

#[wasm_bindgen_test]
async fn clicking_a_device_count_selects_that_kb() {
    let h = mount_fleet(aggregate_of(&fleet()), 10);
    settle().await;
    click(
        &h.root,
        &format!("tr[data-kb-id='{B}'] [data-testid=fleet-kb-devices]"),
    );
    settle().await;
    assert_eq!(h.selected.get_untracked().as_deref(), Some(B));
    let selected: Vec<String> = all(&h.root, "tr[data-testid=fleet-kb-row].selected")
        .iter()
        .map(|r| r.get_attribute("data-kb-id").unwrap())
        .collect();
    assert_eq!(selected, [B], "the selected row is marked");

    click(
        &h.root,
        &format!("tr[data-kb-id='{C}'] [data-testid=fleet-kb-devices]"),
    );
    settle().await;
    assert_eq!(h.selected.get_untracked().as_deref(), Some(C));
    assert_eq!(
        all(&h.root, "tr[data-testid=fleet-kb-row].selected").len(),
        1
    );
    // The devices a selection lists come from the same aggregate.
    let names: Vec<String> = h.aggregate.with_untracked(|a| {
        a.devices_missing(B)
            .iter()
            .map(|d| d.name.clone())
            .collect()
    });
    assert_eq!(names, ["alpha.contoso.local", "bravo.contoso.local"]);
}

#[wasm_bindgen_test]
async fn summary_tiles_show_the_four_numbers() {
    let h = mount_fleet(aggregate_of(&fleet()), 10);
    settle().await;
    assert_eq!(tile(&h.root, "tile-devices"), "4");
    assert_eq!(
        tile(&h.root, "tile-patched"),
        "25 %",
        "1 of 4 fully patched"
    );
    assert_eq!(tile(&h.root, "tile-kbs"), "3");
    assert_eq!(tile(&h.root, "tile-cves"), "112", "3 + 97 + 12");
    assert_eq!(
        texts(&h.root, ".tile-label"),
        [
            "Devices scanned",
            "Fully patched",
            "Distinct missing updates",
            "CVEs addressable"
        ]
    );

    // An empty fleet: zeros, no division by zero.
    h.aggregate.set(FleetAggregate::new());
    h.in_scope.set(0);
    settle().await;
    assert_eq!(tile(&h.root, "tile-devices"), "0");
    assert_eq!(tile(&h.root, "tile-patched"), "0 %");
    assert_eq!(tile(&h.root, "tile-kbs"), "0");
    assert_eq!(tile(&h.root, "tile-cves"), "0");
    assert!(kb_row_ids(&h.root).is_empty());
}

#[wasm_bindgen_test]
async fn chart_has_one_labelled_bar_per_top_kb() {
    let h = mount_fleet(aggregate_of(&fleet()), 2);
    settle().await;
    let bars = all(&h.root, "[data-testid=chart-bar]");
    assert_eq!(bars.len(), 2, "at most N bars");
    assert_eq!(
        texts(&h.root, "[data-testid=chart-bar] .bar-label"),
        ["KB5044285", "KB4540673"]
    );
    assert_eq!(
        texts(&h.root, "[data-testid=chart-bar] .bar-value"),
        ["3", "2"]
    );
    // Bar lengths follow the counts: the top KB's bar is the longest.
    let width = |bar: &Element| -> f64 {
        one(bar, "rect")
            .get_attribute("width")
            .unwrap()
            .parse()
            .unwrap()
    };
    assert!(width(&bars[0]) > width(&bars[1]));
    assert!(
        texts(&h.root, "[data-testid=chart-bar] title")[0].contains("October 2024"),
        "a tooltip names the update"
    );
    assert!(one(&h.root, "figure.chart svg")
        .get_attribute("aria-label")
        .is_some());

    // A click on a bar selects its KB.
    bars[1]
        .dispatch_event(&web_sys::Event::new("click").unwrap())
        .unwrap();
    settle().await;
    assert_eq!(h.chart_clicks.get_untracked(), [B]);

    // Fewer KBs than N: one bar each; none: no chart at all.
    h.aggregate.set(aggregate_of(&fleet()[2..]));
    settle().await;
    assert_eq!(
        texts(&h.root, "[data-testid=chart-bar] .bar-label"),
        ["KB5044285"]
    );
    h.aggregate.set(aggregate_of(&fleet()[3..]));
    settle().await;
    assert!(all(&h.root, "[data-testid=chart-bar]").is_empty());
    assert!(all(&h.root, "figure.chart").is_empty());
}

#[wasm_bindgen_test]
async fn kb_filters_report_text_and_minimum_devices() {
    let h = mount_fleet(aggregate_of(&fleet()), 10);
    settle().await;
    type_into(&one(&h.root, "[data-testid=fleet-min-devices]"), "2");
    settle().await;
    assert_eq!(h.filter.get_untracked().min_devices, Some(2));
    assert_eq!(kb_row_ids(&h.root), [A, B]);
    type_into(&one(&h.root, "[data-testid=fleet-kb-search]"), "march");
    settle().await;
    assert_eq!(h.filter.get_untracked().text, "march");
    assert_eq!(kb_row_ids(&h.root), [B]);
    // The tiles describe the fleet, not the filtered table.
    assert_eq!(tile(&h.root, "tile-kbs"), "3");
}

/// KB rows, their device counts, and the values of [`TILES`], in order.
type AfterArrival = (&'static [&'static str], &'static [usize], [&'static str; 4]);

const TILES: [&str; 4] = ["tile-devices", "tile-patched", "tile-kbs", "tile-cves"];

/// Partial results during a scan: each device the scan delivers shows up at once.
#[wasm_bindgen_test]
async fn tables_and_tiles_update_as_each_device_arrives() {
    let h = mount_fleet(FleetAggregate::new(), 10);
    settle().await;
    assert!(kb_row_ids(&h.root).is_empty());
    assert_eq!(tile(&h.root, "tile-devices"), "0 of 4");

    // Arrival order: charlie (A only) first, so the rows grow from one KB.
    let arrivals = {
        let f = fleet();
        vec![f[2].clone(), f[1].clone(), f[0].clone(), f[3].clone()]
    };
    // After each arrival: KB rows, their device counts, and the four tiles (devices,
    // patched, distinct KBs, CVEs).
    let after_each: [AfterArrival; 4] = [
        (&[A], &[1], ["1 of 4", "after the scan", "1", "3"]),
        (&[A, B], &[2, 1], ["2 of 4", "after the scan", "2", "100"]),
        (
            &[A, B, C],
            &[3, 2, 1],
            ["3 of 4", "after the scan", "3", "112"],
        ),
        (&[A, B, C], &[3, 2, 1], ["4", "25 %", "3", "112"]),
    ];
    for ((d, kbs), (ids, counts, tiles)) in arrivals.iter().zip(after_each) {
        h.aggregate.update(|a| a.add_device(d, kbs));
        settle().await;
        let name = d.display_name();
        assert_eq!(kb_row_ids(&h.root), ids, "KB rows after {name}");
        assert_eq!(kb_row_counts(&h.root), counts, "device counts after {name}");
        for (test_id, want) in TILES.iter().zip(tiles) {
            assert_eq!(tile(&h.root, test_id), want, "{test_id} after {name}");
        }
        assert_eq!(
            all(&h.root, "[data-testid=chart-bar]").len(),
            ids.len(),
            "chart bars after {name}"
        );
    }

    // A re-scanned device replaces its earlier result (here: alpha got patched).
    h.aggregate
        .update(|a| a.add_device(&device(1, "alpha.contoso.local"), &[]));
    settle().await;
    assert_eq!(kb_row_ids(&h.root), [A, B]);
    assert_eq!(kb_row_counts(&h.root), [2, 1]);
    assert_eq!(tile(&h.root, "tile-devices"), "4");
    assert_eq!(tile(&h.root, "tile-patched"), "50 %");
    assert_eq!(tile(&h.root, "tile-cves"), "100");
}

/// Partial results keep the analyst's sort and selection.
#[wasm_bindgen_test]
async fn arriving_devices_keep_sort_and_selection() {
    let f = fleet();
    let h = mount_fleet(aggregate_of(&f[1..3]), 10);
    settle().await;
    click(&h.root, "th[data-sort-key=cves] button");
    click(
        &h.root,
        &format!("tr[data-kb-id='{A}'] [data-testid=fleet-kb-devices]"),
    );
    settle().await;
    assert_eq!(kb_row_ids(&h.root), [B, A]);
    h.aggregate.update(|a| a.add_device(&f[0].0, &f[0].1));
    settle().await;
    assert_eq!(kb_row_ids(&h.root), [B, C, A], "still most CVEs first");
    assert_eq!(
        all(&h.root, "tr[data-testid=fleet-kb-row].selected")
            .iter()
            .map(|r| r.get_attribute("data-kb-id").unwrap())
            .collect::<Vec<_>>(),
        [A]
    );
    assert_eq!(kb_row_counts(&h.root), [2, 1, 3]);
}

struct DeviceHarness {
    root: HtmlElement,
    _mounted: Mounted,
}

fn mount_device_table(aggregate: FleetAggregate) -> DeviceHarness {
    let root = container();
    let aggregate = RwSignal::new(aggregate);
    let sort = RwSignal::new(Sort::<FleetDeviceSortKey>::default());
    let mounted = mount_to(root.clone(), move || {
        // The fleet page's own memos.
        let view = Signal::derive(move || FleetView {
            device_sort: sort.get(),
            ..FleetView::default()
        });
        let rows = kbwatch::fleet_model::device_rows(aggregate, view);
        view! {
            <FleetDeviceTable
                rows
                sort
                on_sort=Callback::new(move |k| sort.update(|s| *s = s.toggled(k)))
                link_for=Callback::new(|id: DeviceId| format!("/?device={id}"))
            />
        }
        .into_any()
    });
    DeviceHarness {
        root,
        _mounted: mounted,
    }
}

fn device_row_ids(root: &Element) -> Vec<String> {
    all(root, "tr[data-testid=fleet-device-row]")
        .iter()
        .map(|r| r.get_attribute("data-device-id").unwrap())
        .collect()
}

#[wasm_bindgen_test]
async fn device_table_rows_numbers_and_links() {
    let h = mount_device_table(aggregate_of(&fleet()));
    settle().await;
    let ids: Vec<String> = (1..=4).map(|n| id(n).to_string()).collect();
    assert_eq!(device_row_ids(&h.root), ids, "most CVEs first");
    assert_eq!(
        texts(&h.root, "a[data-testid=fleet-device-link]"),
        [
            "alpha.contoso.local",
            "bravo.contoso.local",
            "charlie.contoso.local",
            "delta.contoso.local"
        ]
    );
    assert_eq!(
        texts(&h.root, "tr[data-testid=fleet-device-row] td:nth-child(2)"),
        ["3", "2", "1", "0"],
        "missing updates"
    );
    assert_eq!(
        texts(&h.root, "tr[data-testid=fleet-device-row] td:nth-child(3)"),
        ["112", "100", "3", "0"],
        "CVEs addressable"
    );
    let oldest = texts(&h.root, "tr[data-testid=fleet-device-row] td:nth-child(4)");
    assert_eq!(&oldest[..3], ["2020-03", "2020-03", "2024-10"]);
    assert_ne!(oldest[3], "", "a fully patched device says it has no date");
    let hrefs: Vec<String> = all(&h.root, "a[data-testid=fleet-device-link]")
        .iter()
        .map(|a| a.get_attribute("href").unwrap())
        .collect();
    let expected: Vec<String> = ids.iter().map(|id| format!("/?device={id}")).collect();
    assert_eq!(hrefs, expected, "each row links to its device's KB view");

    click(&h.root, "th[data-sort-key=missing] button");
    settle().await;
    assert_eq!(
        texts(&h.root, "tr[data-testid=fleet-device-row] td:nth-child(2)"),
        ["3", "2", "1", "0"]
    );
    click(&h.root, "th[data-sort-key=missing] button");
    settle().await;
    assert_eq!(
        texts(&h.root, "tr[data-testid=fleet-device-row] td:nth-child(2)"),
        ["0", "1", "2", "3"],
        "fewest missing first after the second click"
    );
    click(&h.root, "th[data-sort-key=name] button");
    settle().await;
    assert_eq!(device_row_ids(&h.root), ids, "names A→Z");
    click(&h.root, "th[data-sort-key=oldest] button");
    settle().await;
    let oldest = texts(&h.root, "tr[data-testid=fleet-device-row] td:nth-child(4)");
    assert_eq!(
        &oldest[..3],
        ["2020-03", "2020-03", "2024-10"],
        "oldest first"
    );
    assert_eq!(
        device_row_ids(&h.root).last().map(String::as_str),
        Some(id(4).as_str()),
        "no date sorts last"
    );
}

struct ScanHarness {
    root: HtmlElement,
    progress: RwSignal<Option<ScanProgress>>,
    running: RwSignal<bool>,
    paused: RwSignal<bool>,
    calls: RwSignal<Vec<&'static str>>,
    _mounted: Mounted,
}

fn mount_scan_status(progress: Option<ScanProgress>) -> ScanHarness {
    let root = container();
    let progress = RwSignal::new(progress);
    let running = RwSignal::new(true);
    let paused = RwSignal::new(false);
    let calls = RwSignal::new(Vec::<&'static str>::new());
    let mounted = mount_to(root.clone(), move || {
        view! {
            <ScanStatus
                progress
                running
                paused
                now=Signal::derive(kbwatch::clock::now_ms)
                on_pause=Callback::new(move |()| { calls.update(|c| c.push("pause")); paused.set(true); })
                on_resume=Callback::new(move |()| { calls.update(|c| c.push("resume")); paused.set(false); })
                on_cancel=Callback::new(move |()| calls.update(|c| c.push("cancel")))
            />
        }
        .into_any()
    });
    ScanHarness {
        root,
        progress,
        running,
        paused,
        calls,
        _mounted: mounted,
    }
}

fn progress(done: usize, failed: usize, in_flight: usize, remaining: usize) -> ScanProgress {
    ScanProgress {
        total: done + failed + in_flight + remaining,
        done,
        failed,
        in_flight,
        remaining,
        cancelled: 0,
        eta_ms: Some(42_000),
        throttled_until: None,
    }
}

fn present(root: &Element, test_id: &str) -> bool {
    !all(root, &format!("[data-testid={test_id}]")).is_empty()
}

#[wasm_bindgen_test]
async fn scan_status_shows_counts_eta_and_controls_while_running() {
    let h = mount_scan_status(Some(progress(4, 1, 2, 3)));
    settle().await;
    assert_eq!(
        text(&h.root, "[data-testid=scan-progress]"),
        "4 of 10 devices done · 1 failed · 5 remaining",
        "in flight counts as remaining"
    );
    assert_eq!(
        text(&h.root, "[data-testid=scan-detail]"),
        "about 42 s left"
    );
    let bar = one(&h.root, "[data-testid=scan-status] progress");
    assert_eq!(bar.get_attribute("value").as_deref(), Some("50"));
    assert!(present(&h.root, "scan-pause"));
    assert!(present(&h.root, "scan-cancel"));
    assert!(!present(&h.root, "scan-resume"));

    // Progress moves.
    h.progress.set(Some(progress(9, 1, 0, 0)));
    settle().await;
    assert_eq!(
        text(&h.root, "[data-testid=scan-progress]"),
        "9 of 10 devices done · 1 failed · 0 remaining"
    );
    assert_eq!(
        one(&h.root, "[data-testid=scan-status] progress")
            .get_attribute("value")
            .as_deref(),
        Some("100")
    );
}

#[wasm_bindgen_test]
async fn pause_shows_resume_and_cancel_reports() {
    let h = mount_scan_status(Some(progress(2, 0, 1, 7)));
    settle().await;
    click(&h.root, "[data-testid=scan-pause]");
    settle().await;
    assert_eq!(h.calls.get_untracked(), ["pause"]);
    assert!(h.paused.get_untracked());
    assert!(present(&h.root, "scan-resume"));
    assert!(!present(&h.root, "scan-pause"));
    assert!(
        present(&h.root, "scan-cancel"),
        "a paused scan can be cancelled"
    );
    assert_eq!(text(&h.root, "[data-testid=scan-detail]"), "Paused");

    click(&h.root, "[data-testid=scan-resume]");
    settle().await;
    assert_eq!(h.calls.get_untracked(), ["pause", "resume"]);
    assert!(present(&h.root, "scan-pause"));
    assert!(!present(&h.root, "scan-resume"));

    click(&h.root, "[data-testid=scan-cancel]");
    settle().await;
    assert_eq!(h.calls.get_untracked(), ["pause", "resume", "cancel"]);
}

#[wasm_bindgen_test]
async fn a_429_hold_shows_a_countdown() {
    let now = js_sys::Date::now() as u64;
    let mut p = progress(3, 0, 0, 5);
    p.throttled_until = Some(now + 4_500);
    let h = mount_scan_status(Some(p));
    settle().await;
    assert_eq!(
        text(&h.root, "[data-testid=scan-detail]"),
        "The API asked us to wait: resuming in 5 s"
    );
    // A hold in the past is over: the ETA shows again.
    let mut p = progress(3, 0, 0, 5);
    p.throttled_until = Some(now.saturating_sub(1_000));
    h.progress.set(Some(p));
    settle().await;
    assert_eq!(
        text(&h.root, "[data-testid=scan-detail]"),
        "about 42 s left"
    );
}

#[wasm_bindgen_test]
async fn finished_scan_has_no_controls_and_no_scan_has_no_status() {
    let h = mount_scan_status(Some(progress(10, 0, 0, 0)));
    h.running.set(false);
    settle().await;
    assert_eq!(
        text(&h.root, "[data-testid=scan-progress]"),
        "10 of 10 devices done · 0 failed · 0 remaining"
    );
    assert!(!present(&h.root, "scan-pause"));
    assert!(!present(&h.root, "scan-resume"));
    assert!(!present(&h.root, "scan-cancel"));
    assert!(!present(&h.root, "scan-detail"));

    h.progress.set(None);
    settle().await;
    assert!(!present(&h.root, "scan-status"));

    // An empty scope counts as complete, not as a division by zero.
    h.progress.set(Some(progress(0, 0, 0, 0)));
    settle().await;
    assert_eq!(
        one(&h.root, "[data-testid=scan-status] progress")
            .get_attribute("value")
            .as_deref(),
        Some("100")
    );
}

/// A progress update updates the buttons in place rather than replacing them: a user's click
/// (mouse down and up on the same element) would be lost if the button under the pointer were
/// swapped out between the two, and a scan publishes progress many times a second.
#[wasm_bindgen_test]
async fn scan_controls_survive_progress_updates() {
    let h = mount_scan_status(Some(progress(2, 0, 1, 7)));
    settle().await;
    let pause = one(&h.root, "[data-testid=scan-pause]");
    let cancel = one(&h.root, "[data-testid=scan-cancel]");
    h.progress.set(Some(progress(3, 0, 1, 6)));
    settle().await;
    assert_eq!(
        text(&h.root, "[data-testid=scan-progress]"),
        "3 of 10 devices done · 0 failed · 7 remaining"
    );
    assert!(pause.is_connected(), "the pause button was replaced");
    assert!(cancel.is_connected(), "the cancel button was replaced");
}

/// A per-device fleet table of 5,000 devices renders the rows in view only, says its whole size,
/// and keeps (moves) the rows that stay when it is sorted again: a large tenant's table costs
/// what a small one's does.
#[wasm_bindgen_test]
async fn a_long_device_table_is_windowed_and_keyed() {
    let many: Vec<(Device, Vec<MissingKb>)> = (1..=5_000)
        .map(|n| {
            let kbs = if n % 2 == 0 {
                vec![kb_a()]
            } else {
                vec![kb_a(), kb_b()]
            };
            (device(n, &format!("ws-{n:05}.contoso.local")), kbs)
        })
        .collect();
    let h = mount_device_table(aggregate_of(&many));
    settle().await;
    let table = one(&h.root, "[data-testid=fleet-device-table]");
    assert_eq!(
        table.get_attribute("aria-rowcount").as_deref(),
        Some("5001")
    );
    let rendered = device_row_ids(&h.root);
    assert!(
        rendered.len() > 10 && rendered.len() < 120,
        "{} of 5000 device rows rendered",
        rendered.len()
    );
    let first = one(&h.root, "tr[data-testid=fleet-device-row]");
    js_sys::Reflect::set(&first, &"kept".into(), &true.into()).unwrap();
    let first_id = first.get_attribute("data-device-id").unwrap();
    // Most CVEs first, ties by name; most missing first puts the same devices on top: a
    // resort keeps their elements.
    click(&h.root, "th[data-sort-key=missing] button");
    settle().await;
    let top = one(&h.root, "tr[data-testid=fleet-device-row]");
    assert_eq!(top.get_attribute("data-device-id").unwrap(), first_id);
    assert!(
        js_sys::Reflect::get(&top, &"kept".into())
            .unwrap()
            .is_truthy(),
        "the row was kept, not rebuilt"
    );
}
