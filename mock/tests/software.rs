//! The software endpoints (`/api/Software`, `/api/Software/{id}`,
//! `/api/Software/{id}/getmissingkbs`): the documented shape and OData, and their consistency
//! with `getmissingkbs` per device and with `machinesVulnerabilities` — in-process.

use std::collections::{BTreeMap, BTreeSet};

use axum::http::{Method, StatusCode};
use axum::Router;
use kbwatch_mock::{router, MockOptions};
use serde_json::Value;

use crate::common::{admin, encode, get, get_with, keys, local, text};

const MV: &str = "/api/vulnerabilities/machinesVulnerabilities";

fn fleet_of(seed: u64, devices: usize) -> MockOptions {
    MockOptions {
        seed,
        devices,
        rate_per_minute: 0,
        rate_per_hour: 0,
        export_rate_per_minute: 0,
        export_rate_per_hour: 0,
        ..MockOptions::default()
    }
}

/// Every row of a collection, following nextLinks from `first`.
async fn walk(app: &Router, first: &str) -> Vec<Value> {
    let mut rows = Vec::new();
    let mut uri = Some(first.to_owned());
    while let Some(current) = uri {
        let answer = get(app, &current).await;
        rows.extend(answer.rows());
        uri = answer.next_link().map(|l| local(&l));
    }
    rows
}

/// The whole inventory.
async fn inventory(app: &Router) -> Vec<Value> {
    walk(app, "/api/Software").await
}

fn ids(rows: &[Value]) -> BTreeSet<String> {
    rows.iter().map(|r| text(r, "id").to_owned()).collect()
}

const SOFTWARE_FIELDS: [&str; 8] = [
    "id",
    "name",
    "vendor",
    "weaknesses",
    "publicExploit",
    "activeAlert",
    "exposedMachines",
    "impactScore",
];

#[tokio::test]
async fn software_has_the_documented_shape() {
    let app = router(&fleet_of(42, 60));
    let answer = get(&app, "/api/Software").await;
    assert_eq!(
        answer.json()["@odata.context"],
        "https://api.securitycenter.microsoft.com/api/$metadata#Software"
    );
    assert!(answer.next_link().is_none(), "one page holds the inventory");
    let rows = answer.rows();
    let expected: BTreeSet<&str> = SOFTWARE_FIELDS.into();
    for row in &rows {
        assert_eq!(keys(row), expected);
        assert_eq!(
            text(row, "id"),
            format!("{}-_-{}", text(row, "vendor"), text(row, "name"))
        );
        assert!(row["weaknesses"].is_u64() && row["exposedMachines"].is_u64());
        assert!(row["publicExploit"].is_boolean() && row["activeAlert"].is_boolean());
        assert!(row["impactScore"].as_f64().is_some_and(|s| s >= 0.0));
    }
    let all = ids(&rows);
    for id in [
        "microsoft-_-windows_10",
        "microsoft-_-edge",
        "microsoft-_-.net_framework",
        "google-_-chrome",
        "adobe-_-acrobat_reader_dc",
        "7-zip-_-7-zip",
        "microsoft-_-onedrive",
    ] {
        assert!(all.contains(id), "{id} in {all:?}");
    }
    let vulnerable_without_kbs = rows
        .iter()
        .filter(|r| r["vendor"] != "microsoft" && r["weaknesses"].as_u64() > Some(0))
        .count();
    assert!(vulnerable_without_kbs >= 3);

    // By id, as the docs' example asks for it; the id's case does not matter.
    let one = get(&app, "/api/Software/microsoft-_-edge").await;
    assert_eq!(one.status, StatusCode::OK);
    let entity = one.json();
    assert_eq!(
        entity["@odata.context"],
        "https://api.securitycenter.microsoft.com/api/$metadata#Software/$entity"
    );
    let listed = rows
        .iter()
        .find(|r| r["id"] == "microsoft-_-edge")
        .expect("edge listed");
    for field in SOFTWARE_FIELDS {
        assert_eq!(entity[field], listed[field], "{field}");
    }
    assert_eq!(
        get(&app, "/api/Software/Microsoft-_-Edge").await.json()["id"],
        "microsoft-_-edge"
    );

    // An injected 404 speaks of the software.
    let faulted = get_with(
        &app,
        "/api/Software/microsoft-_-edge/getmissingkbs",
        &[("x-mock-fault", "not_found")],
    )
    .await;
    faulted.assert_error(StatusCode::NOT_FOUND, "ResourceNotFound", "fault");
    assert_eq!(
        faulted.error_message(),
        "Software microsoft-_-edge was not found"
    );

    // Unknown ids: the documented error envelope, for both paths.
    for path in [
        "/api/Software/contoso-_-nothing",
        "/api/Software/contoso-_-nothing/getmissingkbs",
    ] {
        let answer = get(&app, path).await;
        answer.assert_error(StatusCode::NOT_FOUND, "ResourceNotFound", path);
        assert_eq!(
            answer.error_message(),
            "Software contoso-_-nothing was not found"
        );
    }
}

#[tokio::test]
async fn software_odata_filters_and_pages() {
    let app = router(&fleet_of(42, 60));
    let all = inventory(&app).await;
    let filter = |f: &str| format!("/api/Software?$filter={}", encode(f));
    let microsoft: BTreeSet<String> = all
        .iter()
        .filter(|r| r["vendor"] == "microsoft")
        .map(|r| text(r, "id").to_owned())
        .collect();
    assert_eq!(
        ids(&walk(&app, &filter("vendor eq 'microsoft'")).await),
        microsoft
    );
    assert_eq!(
        ids(&walk(&app, &filter("vendor ne 'microsoft'")).await),
        ids(&all).difference(&microsoft).cloned().collect()
    );
    assert_eq!(
        ids(&walk(&app, &filter("name eq 'chrome' or id eq '7-zip-_-7-zip'")).await),
        BTreeSet::from(["google-_-chrome".to_owned(), "7-zip-_-7-zip".to_owned()])
    );
    assert_eq!(
        ids(&walk(
            &app,
            &filter("Vendor eq 'MICROSOFT' and not (name eq 'edge')")
        )
        .await)
        .len(),
        microsoft.len() - 1
    );
    assert!(get(&app, &filter("name eq 'nothing'"))
        .await
        .rows()
        .is_empty());

    // $top pages with a nextLink that keeps the filter; $skip alone works too.
    let first = get(&app, &format!("{}&$top=2", filter("vendor eq 'microsoft'"))).await;
    assert_eq!(first.rows().len(), 2);
    let link = first.next_link().expect("more pages");
    assert!(link.contains("$filter=") && link.contains("$top=2") && link.contains("$skip=2"));
    let paged = walk(&app, &format!("{}&$top=2", filter("vendor eq 'microsoft'"))).await;
    assert_eq!(ids(&paged), microsoft);
    let skipped = get(&app, "/api/Software?$skip=3").await.rows();
    assert_eq!(skipped.as_slice(), &all[3..]);

    for (bad, code) in [
        ("/api/Software?$top=10001", "InvalidInput"),
        ("/api/Software?$top=0", "InvalidInput"),
        ("/api/Software?$skip=-1", "ODataError"),
    ] {
        get(&app, bad)
            .await
            .assert_error(StatusCode::BAD_REQUEST, code, bad);
    }
    for bad in [
        "weaknesses eq 3",
        "startswith(name,'w')",
        "name gt 'a'",
        "name eq",
    ] {
        get(&app, &filter(bad))
            .await
            .assert_error(StatusCode::BAD_REQUEST, "ODataError", bad);
    }
    assert_eq!(
        get(&app, "/api/Software?$top=10000").await.rows().len(),
        all.len()
    );
}

/// (productName, fixingKbId) → (distinct machineIds, distinct cveIds) over every row.
type RowIndex = BTreeMap<(String, String), (BTreeSet<String>, BTreeSet<String>)>;

fn index_rows(rows: &[Value]) -> RowIndex {
    let mut index = RowIndex::new();
    for row in rows {
        let Some(kb) = row["fixingKbId"].as_str() else {
            continue;
        };
        let entry = index
            .entry((text(row, "productName").to_owned(), kb.to_owned()))
            .or_default();
        entry.0.insert(text(row, "machineId").to_owned());
        entry.1.insert(text(row, "cveId").to_owned());
    }
    index
}

/// For every product P and KB K of `GET /api/Software/{id}/getmissingkbs`: `machineMissedOn`
/// is the number of distinct machines of the machinesVulnerabilities rows with productName P
/// and fixingKbId K, `cveAddressed` their distinct CVEs, `productsNames` is `[P]` — and the same
/// KB is in the per-device answers of exactly those machines. Updates without CVEs (no rows)
/// are listed for the Windows line of the devices that miss them. Several seeds and sizes.
#[tokio::test]
async fn software_missing_kbs_agree_with_machines_vulnerabilities_and_devices() {
    for (seed, devices) in [(42, 60), (7, 40), (20_240_611, 90), (3, 12)] {
        let context = format!("seed {seed}, {devices} devices");
        let app = router(&fleet_of(seed, devices));
        let software = inventory(&app).await;
        let rows = walk(&app, &format!("{MV}?$top=10000")).await;
        let by_pair = index_rows(&rows);

        // Per device: KB id → productsNames, from the per-device endpoint.
        let fleet = admin(&app, Method::GET, "/_mock/fleet").await.into_json();
        let mut device_kbs: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
        let mut platform: BTreeMap<String, String> = BTreeMap::new();
        for device in fleet["devices"].as_array().expect("devices") {
            let id = text(device, "id").to_owned();
            platform.insert(id.clone(), text(device, "osPlatform").to_owned());
            let kbs = get(&app, &format!("/api/machines/{id}/getmissingkbs"))
                .await
                .rows()
                .iter()
                .map(|kb| {
                    let products = kb["productsNames"]
                        .as_array()
                        .expect("productsNames")
                        .iter()
                        .map(|p| p.as_str().unwrap_or_default().to_owned())
                        .collect();
                    (text(kb, "id").to_owned(), products)
                })
                .collect();
            device_kbs.insert(id, kbs);
        }
        let devices_missing = |kb: &str| -> BTreeSet<String> {
            device_kbs
                .iter()
                .filter(|(_, kbs)| kbs.contains_key(kb))
                .map(|(id, _)| id.clone())
                .collect()
        };

        let mut listed: BTreeSet<(String, String)> = BTreeSet::new();
        // KB → devices summed over the products listing it without CVEs.
        let mut without_cves: BTreeMap<String, u64> = BTreeMap::new();
        for product in &software {
            let (id, name) = (text(product, "id"), text(product, "name"));
            let answer = get(&app, &format!("/api/Software/{id}/getmissingkbs")).await;
            assert!(answer.json()["@odata.context"]
                .as_str()
                .is_some_and(|c| c.ends_with("PublicProductFixDto)")));
            let kbs = answer.rows();
            if product["vendor"] != "microsoft" {
                assert!(kbs.is_empty(), "{context}: {id} has no KBs");
            }
            let mut seen = BTreeSet::new();
            for kb in &kbs {
                let kb_id = text(kb, "id").to_owned();
                assert_eq!(kb["productsNames"], serde_json::json!([name]), "{context}");
                assert_eq!(
                    text(kb, "url"),
                    format!("https://catalog.update.microsoft.com/v7/site/Search.aspx?q=KB{kb_id}")
                );
                assert!(!text(kb, "name").is_empty());
                assert!(
                    seen.insert(kb_id.clone()),
                    "{context}: {id} lists KB{kb_id} once"
                );
                let missed = kb["machineMissedOn"].as_u64().expect("machineMissedOn");
                let cves = kb["cveAddressed"].as_u64().expect("cveAddressed");
                let missing = devices_missing(&kb_id);
                match by_pair.get(&(name.to_owned(), kb_id.clone())) {
                    Some((machines, cve_ids)) => {
                        assert_eq!(missed, machines.len() as u64, "{context}: {id} KB{kb_id}");
                        assert_eq!(cves, cve_ids.len() as u64, "{context}: {id} KB{kb_id}");
                        assert_eq!(machines, &missing, "{context}: {id} KB{kb_id}");
                        for device in machines {
                            assert!(
                                device_kbs[device][&kb_id].iter().any(|p| p == name),
                                "{context}: the device's productsNames of KB{kb_id} name {name}"
                            );
                        }
                    }
                    None => {
                        assert_eq!(cves, 0, "{context}: {id} KB{kb_id} without rows");
                        *without_cves.entry(kb_id.clone()).or_default() += missed;
                    }
                }
                listed.insert((name.to_owned(), kb_id));
            }
            // The product's own numbers come from the same rows.
            let product_rows: Vec<&Value> =
                rows.iter().filter(|r| r["productName"] == name).collect();
            let machines: BTreeSet<&str> =
                product_rows.iter().map(|r| text(r, "machineId")).collect();
            let cves: BTreeSet<&str> = product_rows.iter().map(|r| text(r, "cveId")).collect();
            assert_eq!(
                product["exposedMachines"].as_u64(),
                Some(machines.len() as u64),
                "{context}: {id}"
            );
            assert_eq!(
                product["weaknesses"].as_u64(),
                Some(cves.len() as u64),
                "{context}: {id}"
            );
        }
        // Every (product, KB) pair of the rows is listed, and every product of the rows is in
        // the inventory.
        let unlisted: Vec<&(String, String)> = by_pair
            .keys()
            .filter(|pair| !listed.contains(*pair))
            .collect();
        assert!(
            unlisted.is_empty(),
            "{context}: rows of unlisted pairs {unlisted:?}"
        );
        let names: BTreeSet<&str> = software.iter().map(|s| text(s, "name")).collect();
        assert!(rows.iter().all(|r| names.contains(text(r, "productName"))));
        // Every KB a device misses is missing for some product; those without CVEs once per
        // device that misses them.
        let every_kb: BTreeSet<&String> = device_kbs.values().flat_map(|k| k.keys()).collect();
        let listed_kbs: BTreeSet<&String> = listed.iter().map(|(_, k)| k).collect();
        assert_eq!(every_kb, listed_kbs, "{context}");
        for (kb, summed) in &without_cves {
            assert_eq!(
                *summed,
                devices_missing(kb).len() as u64,
                "{context}: KB{kb}"
            );
        }
        assert!(!platform.is_empty());
    }
}
