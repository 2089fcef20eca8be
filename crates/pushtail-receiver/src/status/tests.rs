//! Rendering: what the page and the JSON say, and that no user-controlled
//! string can become markup (each one is parsed back as the same text).

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use http::StatusCode;
use scraper::{Html, Selector};

use super::*;

/// Strings that would break out of text, attributes or the document if
/// they were not escaped.
const HOSTILE: &[&str] = &[
    "<script>alert(1)</script>",
    "\"><img src=x onerror=alert(1)>",
    "a & b &amp; c",
    "</td></tr></table><h1>x</h1>",
    "' onmouseover='x",
    "<!-- comment",
    "]]><![CDATA[",
    "é ✓ \u{202e}",
];

fn at(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
}

fn status_with(text: &str) -> Status {
    let mut labels = BTreeMap::new();
    labels.insert("source".to_owned(), text.to_owned());
    let mut dropped = BTreeMap::new();
    dropped.insert("ingester_error".to_owned(), 2);
    dropped.insert("rate_limited".to_owned(), 0);
    Status {
        version: "1.2.3".to_owned(),
        started_at: at(1_700_000_000),
        uptime_seconds: 3725,
        listeners: vec![ListenerStatus {
            address: "127.0.0.1:9080".to_owned(),
            shared: true,
            targets: vec![TargetStatus {
                job: text.to_owned(),
                base_url: "/app/".to_owned(),
                labels,
                relabel_rules: 2,
                pipeline_stages: 3,
                tenant_id: Some("team-a".to_owned()),
                counters: TargetCounters {
                    pushes_accepted: 5,
                    entries: 50,
                    bytes: 1234,
                    rejected_4xx: 1,
                    rejected_503: 0,
                },
                last_rejection: Some(Rejection {
                    status: 400,
                    reason: text.to_owned(),
                    at: at(1_700_000_100),
                }),
            }],
        }],
        clients: vec![ClientStatus {
            url: format!("http://loki:3100/loki/api/v1/push?x={text}"),
            queue_depth: 1,
            queue_capacity: 16,
            pending_entries: 4,
            sent_entries: 40,
            retries: 2,
            last_send: Some(LastSend {
                at: at(1_700_000_200),
                status: Some(500),
                error: Some(text.to_owned()),
            }),
            dropped_entries: dropped,
            wal_lag_bytes: Some(4096),
        }],
    }
}

fn text(doc: &Html, css: &str) -> String {
    let selector = Selector::parse(css).expect("selector");
    let cell = doc
        .select(&selector)
        .next()
        .unwrap_or_else(|| panic!("no {css}"));
    cell.text().collect()
}

#[test]
fn hostile_strings_come_back_as_text() {
    for &hostile in HOSTILE {
        let page = render_html(&status_with(hostile));
        let doc = Html::parse_document(&page);
        assert!(doc.errors.is_empty(), "{hostile}: {:?}", doc.errors);
        // Only the elements the template writes exist.
        for tag in ["script", "img", "h1 + h1", "[onerror]", "[onmouseover]"] {
            let sel = Selector::parse(tag).expect("selector");
            assert_eq!(doc.select(&sel).count(), 0, "{hostile}: found {tag}");
        }
        assert_eq!(text(&doc, "#targets td.job"), hostile);
        assert_eq!(
            text(&doc, "#targets td.labels"),
            format!("source=\"{hostile}\"")
        );
        assert_eq!(text(&doc, "#targets .reason"), hostile);
        assert_eq!(text(&doc, "#clients .error"), hostile);
        assert!(
            text(&doc, "#clients td.url").ends_with(hostile),
            "{hostile}"
        );
        // The JSON carries the same text, unchanged.
        let json: serde_json::Value =
            serde_json::from_str(&render_json(&status_with(hostile))).expect("json");
        assert_eq!(json["listeners"][0]["targets"][0]["job"], hostile);
    }
}

#[test]
fn page_shows_every_field() {
    let page = render_html(&status_with("app"));
    let doc = Html::parse_document(&page);
    let refresh = Selector::parse("meta[http-equiv=refresh]").expect("selector");
    let meta = doc.select(&refresh).next().expect("a refresh meta");
    assert_eq!(meta.value().attr("content"), Some("5"));
    let cases: &[(&str, &str)] = &[
        ("#version", "1.2.3"),
        ("#uptime", "1h 2m 5s"),
        ("#started", "2023-11-14T22:13:20.000Z"),
        ("#listeners td.address", "127.0.0.1:9080"),
        ("#listeners td.kind", "shared server"),
        ("#listeners td.targets", "1"),
        ("#targets td.listener", "127.0.0.1:9080"),
        ("#targets td.base-url", "/app/"),
        ("#targets td.relabel-rules", "2"),
        ("#targets td.stages", "3"),
        ("#targets td.tenant", "team-a"),
        ("#targets td.pushes", "5"),
        ("#targets td.entries", "50"),
        ("#targets td.bytes", "1234"),
        ("#targets td.rejected-4xx", "1"),
        ("#targets td.rejected-503", "0"),
        (
            "#targets td.last-rejection",
            "400 app at 2023-11-14T22:15:00.000Z",
        ),
        ("#clients td.queue", "1 / 16"),
        ("#clients td.pending", "4"),
        ("#clients td.sent", "40"),
        ("#clients td.retries", "2"),
        (
            "#clients td.last-send",
            "500 app at 2023-11-14T22:16:40.000Z",
        ),
        ("#clients td.dropped", "ingester_error: 2"),
        ("#clients td.wal-lag", "4096 bytes"),
    ];
    for (css, want) in cases {
        assert_eq!(text(&doc, css), *want, "{css}");
    }
    // No script and no external asset: the page stands alone.
    for css in ["script", "link", "img", "iframe", "[src]"] {
        let sel = Selector::parse(css).expect("selector");
        assert_eq!(doc.select(&sel).count(), 0, "{css}");
    }
}

#[test]
fn empty_states_are_spelled_out() {
    let mut status = status_with("app");
    let target = &mut status.listeners[0].targets[0];
    target.labels.clear();
    target.tenant_id = None;
    target.last_rejection = None;
    let mut client = status.clients[0].clone();
    client.last_send = None;
    client.wal_lag_bytes = None;
    client.dropped_entries.clear();
    status.clients = vec![client];
    let doc = Html::parse_document(&render_html(&status));
    let cases: &[(&str, &str)] = &[
        ("#targets td.labels", "none"),
        ("#targets td.tenant", "from X-Scope-OrgID"),
        ("#targets td.last-rejection", "none"),
        ("#clients td.last-send", "nothing sent yet"),
        ("#clients td.dropped", "none"),
        ("#clients td.wal-lag", "no log"),
    ];
    for (css, want) in cases {
        assert_eq!(text(&doc, css), *want, "{css}");
    }
    status.clients.clear();
    let doc = Html::parse_document(&render_html(&status));
    assert_eq!(text(&doc, "#no-clients"), "No clients (dry run).");
}

#[test]
fn json_has_the_same_data() {
    let json: serde_json::Value =
        serde_json::from_str(&render_json(&status_with("app"))).expect("json");
    let target = &json["listeners"][0]["targets"][0];
    let cases: &[(&serde_json::Value, serde_json::Value)] = &[
        (&json["version"], "1.2.3".into()),
        (&json["started_at"], "2023-11-14T22:13:20.000Z".into()),
        (&json["uptime_seconds"], 3725.into()),
        (&json["listeners"][0]["shared"], true.into()),
        (&target["base_url"], "/app/".into()),
        (&target["labels"]["source"], "app".into()),
        (&target["relabel_rules"], 2.into()),
        (&target["pipeline_stages"], 3.into()),
        (&target["tenant_id"], "team-a".into()),
        (&target["pushes_accepted"], 5.into()),
        (&target["entries"], 50.into()),
        (&target["bytes"], 1234.into()),
        (&target["rejected_4xx"], 1.into()),
        (&target["rejected_503"], 0.into()),
        (&target["last_rejection"]["status"], 400.into()),
        (
            &target["last_rejection"]["at"],
            "2023-11-14T22:15:00.000Z".into(),
        ),
        (&json["clients"][0]["queue_depth"], 1.into()),
        (&json["clients"][0]["last_send"]["status"], 500.into()),
        (
            &json["clients"][0]["dropped_entries"]["ingester_error"],
            2.into(),
        ),
        (&json["clients"][0]["wal_lag_bytes"], 4096.into()),
    ];
    for (got, want) in cases {
        assert_eq!(*got, want);
    }
}

#[test]
fn stats_count_requests_and_keep_the_last_rejection() {
    let stats = TargetStats::default();
    stats.accepted(100);
    stats.count_entries(7);
    stats.rejected(StatusCode::BAD_REQUEST, 10, "bad json");
    stats.rejected(StatusCode::SERVICE_UNAVAILABLE, 20, "queue full\n");
    stats.rejected(StatusCode::PAYLOAD_TOO_LARGE, 30, "x".repeat(2000));
    assert_eq!(
        stats.counters(),
        TargetCounters {
            pushes_accepted: 1,
            entries: 7,
            bytes: 160,
            rejected_4xx: 2,
            rejected_503: 1,
        }
    );
    let last = stats.last_rejection().expect("a rejection");
    assert_eq!(last.status, 413);
    assert!(last.reason.len() < 600, "{}", last.reason.len());
    assert!(last.reason.ends_with("…(2000 bytes)"), "{}", last.reason);
}
