//! The write-ahead log through the real binary: kill -9 under load and at
//! several moments, Loki down across a restart, a torn or corrupt log, a
//! full log, a dead client among live ones, graceful shutdown with Loki
//! down, and the directory lock.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pushtail_tests::fake_loki::{Behaviour, FakeLoki};

use crate::support::*;

/// An agent config forwarding to `urls` with the log in `dir`.
fn config(dir: &Path, urls: &[String], wal_extra: &str) -> String {
    let mut yaml = format!(
        "server:\n  http_listen_address: 127.0.0.1\n  http_listen_port: 0\n  graceful_shutdown_timeout: 2s\n  push_timeout: 300ms\n\
         wal:\n  enabled: true\n  dir: {}\n{wal_extra}clients:\n",
        dir.display()
    );
    for url in urls {
        yaml.push_str(&format!(
            "  - url: {url}\n    batchwait: 20ms\n    batchsize: {BATCH_BYTES}\n    timeout: 500ms\n    backoff_config: {{min_period: 10ms, max_period: 50ms, max_retries: 100000}}\n"
        ));
    }
    yaml.push_str(
        "scrape_configs:\n  - job_name: a\n    http:\n      use_incoming_timestamp: true\n",
    );
    yaml
}

/// Small batches, so what a kill can make a client resend is small too.
const BATCH_BYTES: usize = 2048;

fn start(yaml: &str) -> Agent {
    Agent::start(bin(), yaml, &[], 1)
}

/// A JSON push of the given lines in one stream.
fn body(lines: &[String]) -> String {
    let values: Vec<String> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| format!(r#"["{}","{l}"]"#, 1_000 + i))
        .collect();
    format!(
        r#"{{"streams":[{{"stream":{{"app":"api"}},"values":[{}]}}]}}"#,
        values.join(",")
    )
}

async fn push(client: &reqwest::Client, url: &str, lines: &[String]) -> u16 {
    post(client, url, &[JSON], body(lines)).await.0
}

/// Lines acknowledged with 204, shared by the pushers.
type Acked = Arc<Mutex<Vec<String>>>;

/// `workers` pushers of 10-line pushes with unique lines, each stopping at
/// its first error (the agent was killed) or after `max` pushes.
fn pushers(
    url: String,
    round: usize,
    workers: usize,
    max: usize,
    acked: &Acked,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..workers)
        .map(|w| {
            let url = url.clone();
            let acked = Arc::clone(acked);
            tokio::spawn(async move {
                let client = reqwest::Client::new();
                for seq in 0..max {
                    let lines: Vec<String> = (0..10)
                        .map(|i| format!("r{round}-w{w}-{seq}-{i}"))
                        .collect();
                    // The agent is killed under these pushes: a failed request
                    // ends this pusher, and only 204s count.
                    let sent = client
                        .post(&url)
                        .header(JSON.0, JSON.1)
                        .body(body(&lines))
                        .send()
                        .await;
                    match sent.map(|r| r.status().as_u16()) {
                        Ok(204) => acked.lock().expect("acked lock").extend(lines),
                        _ => return,
                    }
                }
            })
        })
        .collect()
}

/// Waits until every acknowledged line reached `loki`; returns how many
/// lines arrived more than once.
async fn all_delivered(loki: &FakeLoki, acked: &[String]) -> usize {
    let want: BTreeSet<&str> = acked.iter().map(String::as_str).collect();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let got = loki.entries();
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for e in &got {
            *counts.entry(e.line.as_str()).or_default() += 1;
        }
        let missing = want.iter().filter(|l| !counts.contains_key(*l)).count();
        if missing == 0 {
            return counts.values().map(|c| c - 1).sum();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{missing} of {} acknowledged lines never arrived",
            want.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn kill_9(agent: &mut Agent) {
    agent.signal("KILL");
    let exited = tokio::task::block_in_place(|| agent.wait_exit(Duration::from_secs(10)));
    assert!(exited.is_some(), "agent did not die");
}

/// Sum of a metric's lines (containing every one of `parts`) on /metrics.
async fn metric(agent: &Agent, name: &str, parts: &[&str]) -> f64 {
    let text = reqwest::get(agent.url(0, "/metrics"))
        .await
        .expect("scrape")
        .text()
        .await
        .expect("metrics text");
    text.lines()
        .filter(|l| l.starts_with(name) && parts.iter().all(|p| l.contains(p)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn disk_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .expect("reading the wal dir")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".wal"))
        .map(|e| e.metadata().map(|m| m.len()).unwrap_or(0))
        .sum()
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_at_any_moment_loses_nothing_acknowledged() {
    for sync in ["request", "none"] {
        let loki = FakeLoki::start().await;
        let dir = tempfile::tempdir().unwrap();
        let yaml = config(dir.path(), &[loki.push_url()], &format!("  sync: {sync}\n"));
        let acked: Acked = Arc::default();
        // Three rounds: killed while pushing and sending, then while
        // replaying what the previous round left, then once more.
        for round in 0..3 {
            let mut agent = start(&yaml);
            let workers = pushers(agent.url(0, "/loki/api/v1/push"), round, 4, 1_000, &acked);
            let target = acked.lock().unwrap().len() + 400 * (round + 1);
            let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
            while acked.lock().unwrap().len() < target && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            kill_9(&mut agent).await;
            for w in workers {
                w.await.unwrap();
            }
        }
        let _agent = start(&yaml);
        let acked = acked.lock().unwrap().clone();
        assert!(
            acked.len() >= 1200,
            "{sync}: only {} acknowledged",
            acked.len()
        );
        let duplicates = all_delivered(&loki, &acked).await;
        // At least once: a kill makes a client resend what it sent after its
        // last checkpoint. The checkpoint follows every batch, but how far it
        // trails depends on scheduling (on a loaded machine several batches),
        // so the bound is structural: without working checkpoints the last
        // start alone would resend every line acknowledged before it.
        assert!(
            duplicates < acked.len(),
            "{sync}: {duplicates} duplicates for {} lines: checkpoints are not kept",
            acked.len()
        );
        eprintln!(
            "sync {sync}: {} acknowledged, all delivered, {duplicates} duplicates",
            acked.len()
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn with_loki_down_until_after_a_crash_everything_acknowledged_arrives() {
    let loki = FakeLoki::start().await;
    loki.set_default(Behaviour::Status(500));
    let dir = tempfile::tempdir().unwrap();
    let yaml = config(dir.path(), &[loki.push_url()], "");
    let mut agent = start(&yaml);
    let acked: Acked = Arc::default();
    for w in pushers(agent.url(0, "/loki/api/v1/push"), 0, 2, 50, &acked) {
        w.await.unwrap();
    }
    assert_eq!(acked.lock().unwrap().len(), 1000, "every push was taken");
    kill_9(&mut agent).await;
    loki.set_default(Behaviour::Accept);
    let agent = start(&yaml);
    let acked = acked.lock().unwrap().clone();
    all_delivered(&loki, &acked).await;
    assert!(
        metric(&agent, "pushtail_wal_replayed_entries_total", &[]).await >= 1000.0,
        "replayed entries are counted"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_torn_or_corrupt_log_is_repaired_and_every_intact_record_delivered() {
    for damage in ["truncate", "flip"] {
        let loki = FakeLoki::start().await;
        loki.set_default(Behaviour::Status(500));
        let dir = tempfile::tempdir().unwrap();
        let yaml = config(dir.path(), &[loki.push_url()], "");
        let mut agent = start(&yaml);
        let client = reqwest::Client::new();
        let url = agent.url(0, "/loki/api/v1/push");
        let mut pushes = Vec::new();
        for p in 0..40 {
            let lines: Vec<String> = (0..5).map(|i| format!("{damage}-{p}-{i}")).collect();
            assert_eq!(push(&client, &url, &lines).await, 204);
            pushes.push(lines);
        }
        kill_9(&mut agent).await;
        // Damage the last record's region of the newest non-empty segment.
        let mut segments: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().ends_with(".wal"))
            .map(|e| e.path())
            .filter(|p| std::fs::metadata(p).map(|m| m.len() > 8).unwrap_or(false))
            .collect();
        segments.sort();
        let seg = segments.pop().expect("a segment with records");
        let mut bytes = std::fs::read(&seg).unwrap();
        // Damage strictly inside one of the last quarter of records: a cut
        // on a record boundary would leave an intact, shorter log.
        let records = frames(&bytes);
        let (first, past) = records[records.len() - 1 - fastrand::usize(..records.len() / 4)];
        match damage {
            "truncate" => bytes.truncate(fastrand::usize(first + 1..past)),
            _ => bytes[fastrand::usize(first..past)] ^= 0x55,
        }
        std::fs::write(&seg, &bytes).unwrap();

        loki.set_default(Behaviour::Accept);
        let agent = start(&yaml);
        // Whole pushes arrive, in order, up to the damage; nothing after it.
        let first_lines: usize = 5 * (pushes.len() * 3 / 4 - 1);
        assert!(
            loki.wait_for_count(first_lines as u64, WAIT).await,
            "{damage}: too little arrived"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
        let got: Vec<String> = loki.entries().into_iter().map(|e| e.line).collect();
        let want: Vec<String> = pushes.concat();
        assert_eq!(
            got,
            want[..got.len()].to_vec(),
            "{damage}: a prefix, in order"
        );
        assert_eq!(got.len() % 5, 0, "{damage}: whole records only");
        assert_eq!(
            metric(&agent, "pushtail_wal_corruptions_total", &[]).await,
            1.0,
            "{damage}: the repair is counted"
        );
    }
}

/// The byte ranges of a segment's records: an 8-byte magic, then frames of
/// a little-endian `u32` payload length, a `u32` checksum and the payload.
fn frames(segment: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut at = 8;
    while at + 8 <= segment.len() {
        let len = u32::from_le_bytes([
            segment[at],
            segment[at + 1],
            segment[at + 2],
            segment[at + 3],
        ]);
        let len = len as usize;
        out.push((at, at + 8 + len));
        at += 8 + len;
    }
    assert_eq!(at, segment.len(), "the segment ends on a record boundary");
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_log_answers_503_stays_bounded_and_delivers_everything_later() {
    let loki = FakeLoki::start().await;
    loki.set_default(Behaviour::Status(500));
    let dir = tempfile::tempdir().unwrap();
    let max = 256u64 << 10;
    let yaml = config(
        dir.path(),
        &[loki.push_url()],
        &format!("  max_size: {max}\n"),
    );
    let agent = start(&yaml);
    let client = reqwest::Client::new();
    let url = agent.url(0, "/loki/api/v1/push");
    let mut acked = Vec::new();
    let mut refused = 0;
    for p in 0..400 {
        let lines: Vec<String> = (0..10)
            .map(|i| format!("full-{p}-{i}-{}", "x".repeat(80)))
            .collect();
        match post(&client, &url, &[JSON], body(&lines)).await {
            (204, _) => acked.extend(lines),
            (503, text) => {
                assert!(text.contains("write-ahead log is full"), "{text}");
                refused += 1;
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(refused > 0, "the log never filled");
    assert!(
        disk_bytes(dir.path()) <= max,
        "{} bytes on disk",
        disk_bytes(dir.path())
    );
    assert!(
        metric(
            &agent,
            "pushtail_receiver_rejected_pushes_total",
            &["wal_full"]
        )
        .await
            >= 1.0
    );
    loki.set_default(Behaviour::Accept);
    all_delivered(&loki, &acked).await;
    // Delivered segments are gone and pushes are taken again.
    let lines = vec!["after".to_owned()];
    let deadline = tokio::time::Instant::now() + WAIT;
    while push(&client, &url, &lines).await != 204 {
        assert!(tokio::time::Instant::now() < deadline, "never taken again");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dead_client_holds_only_disk_and_the_others_keep_delivering() {
    let live: Vec<FakeLoki> = vec![FakeLoki::start().await, FakeLoki::start().await];
    let dead = FakeLoki::start().await;
    dead.set_default(Behaviour::Status(500));
    let dir = tempfile::tempdir().unwrap();
    let max = 512u64 << 10;
    let urls = [live[0].push_url(), dead.push_url(), live[1].push_url()];
    let yaml = config(dir.path(), &urls, &format!("  max_size: {max}\n"));
    let agent = start(&yaml);
    let client = reqwest::Client::new();
    let url = agent.url(0, "/loki/api/v1/push");
    let mut acked = Vec::new();
    for p in 0..100 {
        let lines: Vec<String> = (0..10).map(|i| format!("dead-{p}-{i}")).collect();
        if push(&client, &url, &lines).await == 204 {
            acked.extend(lines);
        }
    }
    assert!(!acked.is_empty());
    for loki in &live {
        all_delivered(loki, &acked).await;
    }
    assert!(disk_bytes(dir.path()) <= max);
    let lag = metric(&agent, "pushtail_wal_client_lag_bytes", &[]).await;
    assert!(lag > 0.0 && lag <= max as f64, "lag {lag}");
}

#[tokio::test(flavor = "multi_thread")]
async fn graceful_shutdown_with_loki_down_keeps_the_rest_for_the_next_start() {
    let loki = FakeLoki::start().await;
    loki.set_default(Behaviour::Status(500));
    let dir = tempfile::tempdir().unwrap();
    let yaml = config(dir.path(), &[loki.push_url()], "");
    let mut agent = start(&yaml);
    let client = reqwest::Client::new();
    let lines: Vec<String> = (0..20).map(|i| format!("kept-{i}")).collect();
    assert_eq!(
        push(&client, &agent.url(0, "/loki/api/v1/push"), &lines).await,
        204
    );
    assert!(loki.wait_for_requests(1, WAIT).await);
    agent.terminate();
    let (status, stderr) = tokio::task::block_in_place(|| {
        let s = agent.wait_exit(Duration::from_secs(15));
        (s, agent.stderr())
    });
    assert!(
        status.is_some_and(|s| s.success()),
        "not an error with the log: {status:?}\n{stderr}"
    );
    assert!(stderr.contains("stay in the write-ahead log"), "{stderr}");
    loki.set_default(Behaviour::Accept);
    let _agent = start(&yaml);
    assert_eq!(all_delivered(&loki, &lines).await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn two_agents_cannot_share_a_log_directory() {
    let loki = FakeLoki::start().await;
    let dir = tempfile::tempdir().unwrap();
    let yaml = config(dir.path(), &[loki.push_url()], "");
    let _first = start(&yaml);
    let path = pushtail_tests::agent::write_config(&yaml);
    let (code, _, stderr) =
        pushtail_tests::agent::run_to_end(bin(), &[&format!("-config.file={}", path.display())]);
    let _ = std::fs::remove_file(&path);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("in use by another process"), "{stderr}");
}
