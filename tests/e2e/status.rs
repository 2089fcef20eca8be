//! The status page and its JSON through the real binary: pushes good and
//! bad, a Loki that fails once and then refuses a batch, and what `GET /`
//! (parsed as HTML) and `GET /api/v1/status` then say.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use pushtail_tests::fake_loki::{Behaviour, FakeLoki};
use scraper::{ElementRef, Html, Selector};

use crate::support::*;

/// A label value that is markup if the page does not escape it.
const HOSTILE: &str = "<b>bold</b> & \"quoted\"";

fn config(loki: &FakeLoki, wal_dir: &std::path::Path) -> String {
    let url = loki.push_url().replace("http://", "http://pusher:s3cr3t@");
    format!(
        r#"server:
  http_listen_address: 127.0.0.1
  http_listen_port: 0
  graceful_shutdown_timeout: 5s
clients:
  - url: {url}
    batchwait: 20ms
    backoff_config: {{min_period: 10ms, max_period: 50ms, max_retries: 5}}
wal:
  enabled: true
  dir: {wal}
scrape_configs:
  - job_name: app
    http:
      base_url: /app/
      labels: {{source: app, note: '{HOSTILE}'}}
    relabel_configs:
      - source_labels: [level]
        target_label: severity
    pipeline_stages:
      - logfmt: {{mapping: {{level: level}}}}
      - labels: {{level: level}}
  - job_name: pinned
    http:
      base_url: /pinned/
      tenant_id: team-a
"#,
        wal = wal_dir.display()
    )
}

async fn get(url: &str) -> (u16, String, String) {
    let resp = reqwest::get(url).await.expect("request");
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (status, content_type, resp.text().await.expect("body"))
}

async fn status_json(agent: &Agent) -> serde_json::Value {
    let (status, content_type, body) = get(&agent.url(0, "/api/v1/status")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(content_type, "application/json");
    serde_json::from_str(&body).expect("status json")
}

/// Polls the JSON until `done` holds for it (the client's counters move
/// after Loki answers, not when the push is acknowledged).
async fn status_when(
    agent: &Agent,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let json = status_json(agent).await;
        if done(&json) {
            return json;
        }
        assert!(
            Instant::now() < deadline,
            "status never got there: {json:#}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn select<'a>(root: &'a Html, css: &str) -> Vec<ElementRef<'a>> {
    let selector = Selector::parse(css).expect("selector");
    root.select(&selector).collect()
}

/// The text of each cell of a row, by the cell's first class.
fn cells(row: ElementRef<'_>) -> HashMap<String, String> {
    let td = Selector::parse("td").expect("selector");
    row.select(&td)
        .filter_map(|cell| {
            let class = cell.value().classes().find(|c| *c != "num")?.to_owned();
            Some((class, cell.text().collect::<String>()))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn status_page_shows_targets_and_clients() {
    let loki = FakeLoki::start().await;
    let wal = tempfile::tempdir().expect("temp dir");
    let agent = Agent::start(bin(), &config(&loki, wal.path()), &[], 1);
    let http = reqwest::Client::new();

    // A 500 first: the batch is retried, then accepted.
    loki.push_behaviour(Behaviour::Status(500));
    let good = r#"{"streams":[{"stream":{"level":"info"},"values":[["1700000000000000000","level=warn msg=hi"]]}]}"#;
    let (code, body) = post(&http, &agent.url(0, "/app/loki/api/v1/push"), &[JSON], good).await;
    assert_eq!(code, 204, "{body}");
    let (code, _) = post(
        &http,
        &agent.url(0, "/app/loki/api/v1/push"),
        &[JSON],
        "{nope",
    )
    .await;
    assert_eq!(code, 400);
    let (code, body) = post(&http, &agent.url(0, "/pinned/api/v1/raw"), &[], "a\nb").await;
    assert_eq!(code, 204, "{body}");
    loki.wait_for_entries(3, WAIT).await;
    // Then Loki refuses a batch outright: dropped, counted by reason.
    loki.push_behaviour(Behaviour::StatusBody(400, "entry too far behind".into()));
    let (code, body) = post(&http, &agent.url(0, "/pinned/api/v1/raw"), &[], "c").await;
    assert_eq!(code, 204, "{body}");

    let json = status_when(&agent, |j| {
        j["clients"][0]["dropped_entries"]["ingester_error"] == 1
    })
    .await;

    // The page, parsed.
    let (code, content_type, page) = get(&agent.url(0, "/")).await;
    assert_eq!(code, 200);
    assert_eq!(content_type, "text/html; charset=utf-8");
    assert!(!page.contains("s3cr3t"), "the password leaked:\n{page}");
    let doc = Html::parse_document(&page);
    assert!(doc.errors.is_empty(), "{:?}", doc.errors);
    let refresh = select(&doc, "head meta[http-equiv=refresh]");
    assert_eq!(refresh.len(), 1, "a self-refresh");
    assert!(select(&doc, "script, link, img, [src]").is_empty());
    assert!(select(&doc, "b").is_empty(), "a label became markup");
    let version: String = select(&doc, "#version")[0].text().collect();
    assert!(
        version.starts_with(&format!("{} (revision ", env!("CARGO_PKG_VERSION"))),
        "{version}"
    );

    let rows: HashMap<String, HashMap<String, String>> = select(&doc, "#targets tbody tr")
        .into_iter()
        .map(cells)
        .map(|c| (c["job"].clone(), c))
        .collect();
    let app = &rows["app"];
    let addr = agent.addr(0).to_string();
    let want_app: &[(&str, &str)] = &[
        ("listener", &addr),
        ("base-url", "/app/"),
        ("relabel-rules", "1"),
        ("stages", "2"),
        ("tenant", "from X-Scope-OrgID"),
        ("pushes", "1"),
        ("entries", "1"),
        ("rejected-4xx", "1"),
        ("rejected-503", "0"),
    ];
    for (class, want) in want_app {
        assert_eq!(app[*class], *want, "app {class}");
    }
    assert_eq!(app["labels"], format!("note=\"{HOSTILE}\", source=\"app\""));
    assert_eq!(app["bytes"], (good.len() + "{nope".len()).to_string());
    assert!(
        app["last-rejection"].starts_with("400 "),
        "{}",
        app["last-rejection"]
    );
    let pinned = &rows["pinned"];
    let want_pinned: &[(&str, &str)] = &[
        ("tenant", "team-a"),
        ("labels", "none"),
        ("pushes", "2"),
        ("entries", "3"),
        ("rejected-4xx", "0"),
        ("last-rejection", "none"),
    ];
    for (class, want) in want_pinned {
        assert_eq!(pinned[*class], *want, "pinned {class}");
    }

    let clients: Vec<_> = select(&doc, "#clients tbody tr")
        .into_iter()
        .map(cells)
        .collect();
    assert_eq!(clients.len(), 1);
    let client = &clients[0];
    assert!(client["url"].contains("pusher:xxxxx@"), "{}", client["url"]);
    assert!(
        client["last-send"].starts_with("400 "),
        "{}",
        client["last-send"]
    );
    assert!(client["last-send"].contains("entry too far behind"));
    assert_eq!(client["dropped"], "ingester_error: 1");
    assert!(
        client["wal-lag"].ends_with(" bytes"),
        "{}",
        client["wal-lag"]
    );
    assert_ne!(client["retries"], "0");

    // The JSON says the same.
    let target = &json["listeners"][0]["targets"][0];
    assert_eq!(target["job"], "app");
    assert_eq!(target["labels"]["note"], HOSTILE);
    assert_eq!(target["entries"], 1);
    assert_eq!(target["rejected_4xx"], 1);
    assert_eq!(target["last_rejection"]["status"], 400);
    assert_eq!(json["listeners"][0]["targets"][1]["tenant_id"], "team-a");
    let client = &json["clients"][0];
    assert_eq!(client["sent_entries"], 3);
    assert!(client["retries"].as_u64() >= Some(1), "{client}");
    assert_eq!(client["last_send"]["status"], 400);
    assert!(client["wal_lag_bytes"].is_u64(), "{client}");
    assert!(json["uptime_seconds"].is_u64());
}

#[tokio::test(flavor = "multi_thread")]
async fn dry_run_page_has_no_clients() {
    let agent = dry_run(&two_targets(""));
    let (code, _, page) = get(&agent.url(0, "/")).await;
    assert_eq!(code, 200);
    let doc = Html::parse_document(&page);
    assert_eq!(select(&doc, "#targets tbody tr").len(), 2);
    assert_eq!(select(&doc, "#no-clients").len(), 1);
    let json = status_json(&agent).await;
    assert_eq!(json["clients"], serde_json::json!([]));
}

/// Loads the page in headless Chromium when one is installed (Debian's
/// `chromium` package) and checks the DOM it rendered. Machines without it
/// skip this check with a note: the parsed-HTML tests above still run.
#[test]
fn page_renders_in_headless_chromium() {
    let Some(browser) = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|name| {
            std::process::Command::new(name)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
    else {
        eprintln!("note: no chromium installed; skipping the headless browser check");
        return;
    };
    let agent = dry_run(&two_targets(""));
    let profile = tempfile::tempdir().expect("temp dir");
    let mut child = std::process::Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-extensions",
            &format!("--user-data-dir={}", profile.path().display()),
            "--dump-dom",
            &agent.url(0, "/"),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("starting chromium");
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().expect("waiting for chromium").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within 60 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().expect("chromium output");
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc = Html::parse_document(&dom);
    let version: String = select(&doc, "#version")
        .first()
        .unwrap_or_else(|| panic!("no #version in the rendered DOM:\n{dom}"))
        .text()
        .collect();
    assert!(
        version.starts_with(&format!("{} (revision ", env!("CARGO_PKG_VERSION"))),
        "{version}"
    );
    let jobs: Vec<String> = select(&doc, "#targets tbody td.job")
        .into_iter()
        .map(|td| td.text().collect())
        .collect();
    assert_eq!(jobs, ["app", "edge"]);
    assert_eq!(select(&doc, "#no-clients").len(), 1);
}
