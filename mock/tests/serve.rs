//! The mock over real sockets on 127.0.0.1: `spawn`, absolute nextLinks, the static app listener.

use std::path::PathBuf;

use kbwatch_mock::{spawn, MockOptions};
use serde_json::Value;

fn temp_app_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kbwatch-mock-app-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("pkg")).expect("create app dir");
    std::fs::write(
        dir.join("index.html"),
        "<!doctype html><title>kbwatch</title>",
    )
    .expect("write index");
    std::fs::write(dir.join("pkg/app.js"), "console.log('hi')").expect("write js");
    dir
}

#[tokio::test]
async fn spawned_mock_serves_api_and_app_and_shuts_down() {
    let dir = temp_app_dir();
    let opts = MockOptions {
        page_size: 100,
        app_dir: Some(dir.clone()),
        app_port: 0,
        ..MockOptions::default()
    };
    let mock = spawn(opts, 0).await.expect("spawn");
    assert!(mock.api_addr.ip().is_loopback());
    let app_addr = mock.app_addr.expect("app listener");
    assert!(app_addr.ip().is_loopback());
    let client = reqwest::Client::new();

    // Follow absolute nextLinks over the wire.
    let mut url = format!("{}/api/machines", mock.api_url());
    let mut rows = 0;
    let mut pages = 0;
    loop {
        let body: Value = client
            .get(&url)
            .bearer_auth("t")
            .send()
            .await
            .expect("send")
            .json()
            .await
            .expect("json");
        rows += body["value"].as_array().map_or(0, Vec::len);
        pages += 1;
        match body["@odata.nextLink"].as_str() {
            Some(next) => {
                assert!(next.starts_with(&mock.api_url()), "{next}");
                url = next.to_owned();
            }
            None => break,
        }
    }
    assert_eq!((rows, pages), (300, 3));

    let from_app = |path: &str| client.get(format!("http://{app_addr}{path}")).send();
    let index = from_app("/").await.expect("index");
    assert_eq!(index.status(), 200);
    assert!(index
        .text()
        .await
        .expect("text")
        .contains("<title>kbwatch</title>"));
    let js = from_app("/pkg/app.js").await.expect("js");
    assert!(js.headers()["content-type"]
        .to_str()
        .unwrap_or_default()
        .contains("javascript"));
    let deep = from_app("/devices/abc").await.expect("deep link");
    assert!(
        deep.text().await.expect("text").contains("kbwatch"),
        "client routes get index.html"
    );

    let api_addr = mock.api_addr;
    mock.shutdown().await;
    assert!(client
        .get(format!("http://{api_addr}/_mock/stats"))
        .send()
        .await
        .is_err());
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn app_dir_without_index_is_an_error() {
    let opts = MockOptions {
        app_dir: Some(std::env::temp_dir().join("kbwatch-mock-does-not-exist")),
        app_port: 0,
        ..MockOptions::default()
    };
    assert!(spawn(opts, 0).await.is_err());
}
