//! The log as a whole: write, tail, commit, restart, repair, bounds.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use pushtail_proto::labels::LabelSet;
use pushtail_proto::model::{Delivery, Entry, Stream, TenantBatch};
use pushtail_proto::units::ByteSize;
use tokio::sync::mpsc;

use super::*;

const WAIT: Duration = Duration::from_secs(10);

fn config(dir: &Path, max_size: u64) -> WalConfig {
    WalConfig {
        enabled: true,
        dir: dir.to_owned(),
        max_size: ByteSize(max_size),
        sync: SyncMode::None,
        ..WalConfig::default()
    }
}

fn push(line: &str) -> Vec<TenantBatch> {
    vec![TenantBatch {
        tenant: None,
        streams: vec![Stream {
            labels: LabelSet::from_pairs([("app", "api")]).unwrap(),
            entries: vec![Entry::new(7, line.to_owned())],
        }],
    }]
}

fn line(d: &Delivery) -> String {
    String::from_utf8_lossy(&d.batches[0].streams[0].entries[0].line).into_owned()
}

fn names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("client-{i}")).collect()
}

/// Opens the log, writes `lines`, and closes it again (no tail running).
async fn write(dir: &Path, max_size: u64, lines: &[String]) {
    let wal = Wal::open(&config(dir, max_size), &names(1)).unwrap();
    for l in lines {
        wal.writer.append(&push(l)).await.unwrap();
    }
    wal.writer.close();
}

/// Opens the log, tails client 0 to the end, commits after `commit_after`
/// records, and returns the lines.
async fn read(dir: &Path, commit_after: usize) -> Vec<String> {
    let mut wal = Wal::open(&config(dir, 1 << 30), &names(1)).unwrap();
    let (tx, mut rx) = mpsc::channel(4);
    let handle = wal.tails.remove(0).spawn(tx).unwrap();
    // With the writer closed, the tail reads to the end and closes the queue.
    wal.writer.close();
    let mut got = Vec::new();
    while let Some(d) = tokio::time::timeout(WAIT, rx.recv()).await.unwrap() {
        if got.len() + 1 == commit_after {
            handle.commit(d.log.unwrap().end).unwrap();
        }
        got.push(line(&d));
    }
    handle.join();
    got
}

fn lines(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i:04}")).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn records_come_back_in_order_and_a_restart_resumes_at_the_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let written = lines("a", 50);
    write(dir.path(), 1 << 30, &written).await;
    assert_eq!(read(dir.path(), 20).await, written);
    // Twenty were committed: the next start replays the other thirty.
    assert_eq!(read(dir.path(), 0).await, written[20..].to_vec());
}

#[tokio::test(flavor = "multi_thread")]
async fn new_records_wake_a_waiting_tail_and_closing_ends_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut wal = Wal::open(&config(dir.path(), 1 << 30), &names(1)).unwrap();
    let (tx, mut rx) = mpsc::channel(4);
    let _handle = wal.tails.remove(0).spawn(tx).unwrap();
    let span = wal.writer.append(&push("live")).await.unwrap();
    let d = tokio::time::timeout(WAIT, rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(line(&d), "live");
    assert_eq!(d.log, Some(span));
    drop(wal.writer);
    assert!(
        tokio::time::timeout(WAIT, rx.recv())
            .await
            .unwrap()
            .is_none(),
        "the tail closes the queue once the writer is gone and all is read"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_torn_tail_is_cut_at_the_last_whole_record() {
    let written = lines("t", 30);
    for cut in [1u64, 5, 17, 40, 333] {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), 1 << 30, &written).await;
        let seg = segment::list(dir.path()).unwrap().pop().unwrap();
        std::fs::File::options()
            .write(true)
            .open(&seg.path)
            .unwrap()
            .set_len(seg.len - cut)
            .unwrap();
        let got = read(dir.path(), 0).await;
        let whole = written.len() - got.len();
        assert!((1..=8).contains(&whole), "cut {cut}: lost {whole} records");
        assert_eq!(got, written[..got.len()].to_vec(), "cut {cut}");
        // Repaired on disk: a second open finds nothing to cut.
        let again = read(dir.path(), 0).await;
        assert_eq!(again, got);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_corrupt_middle_segment_costs_only_its_rest() {
    let dir = tempfile::tempdir().unwrap();
    // Small segments (64 KiB, the minimum): 2000 records span several.
    let written = lines(&"m".repeat(100), 2000);
    write(dir.path(), 512 << 10, &written).await;
    let segments = segment::list(dir.path()).unwrap();
    assert!(segments.len() >= 3, "{} segments", segments.len());
    let middle = &segments[1];
    let mut bytes = std::fs::read(&middle.path).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0xff;
    std::fs::write(&middle.path, bytes).unwrap();
    let got = read(dir.path(), 0).await;
    assert!(got.len() < written.len() && got.len() > written.len() / 2);
    // What came is in order, with one gap in the middle segment.
    let first = &got[0];
    assert_eq!(first, &written[0]);
    let last = got.last().unwrap();
    assert_eq!(last, written.last().unwrap(), "later segments still read");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_log_refuses_appends_until_clients_commit() {
    let dir = tempfile::tempdir().unwrap();
    let max = 256u64 << 10;
    let mut wal = Wal::open(&config(dir.path(), max), &names(1)).unwrap();
    let (tx, mut rx) = mpsc::channel(100_000);
    let handle = wal.tails.remove(0).spawn(tx).unwrap();
    let big = "x".repeat(1000);
    let mut accepted = 0;
    let refused = loop {
        match wal.writer.append(&push(&big)).await {
            Ok(_) => accepted += 1,
            Err(e) => break e,
        }
        assert!(accepted < 1000, "never full");
    };
    assert!(matches!(refused, AppendError::Full { .. }), "{refused}");
    let on_disk: u64 = segment::list(dir.path())
        .unwrap()
        .iter()
        .map(|s| s.len)
        .sum();
    assert!(on_disk <= max, "{on_disk} bytes on disk");
    // The client delivers everything and commits: room again.
    let mut last = None;
    for _ in 0..accepted {
        last = rx.recv().await.unwrap().log;
    }
    handle.commit(last.unwrap().end).unwrap();
    let span = wal
        .writer
        .append(&push(&big))
        .await
        .expect("room after the commit");
    // Lag: that record, plus the magic of the segment it opened.
    let lag = handle.lag_bytes();
    let record = span.end - span.start;
    assert!((record..=record + 8).contains(&lag), "lag {lag}");
}

#[tokio::test(flavor = "multi_thread")]
async fn segments_go_only_when_the_slowest_client_passed_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut wal = Wal::open(&config(dir.path(), 1 << 20), &names(2)).unwrap();
    let (fast_tx, mut fast_rx) = mpsc::channel(100_000);
    let (slow_tx, _slow_rx) = mpsc::channel(100_000);
    let slow = wal.tails.pop().unwrap().spawn(slow_tx).unwrap();
    let fast = wal.tails.pop().unwrap().spawn(fast_tx).unwrap();
    let line = "y".repeat(500);
    for _ in 0..500 {
        wal.writer.append(&push(&line)).await.unwrap();
    }
    let mut end = 0;
    for _ in 0..500 {
        end = fast_rx.recv().await.unwrap().log.unwrap().end;
    }
    fast.commit(end).unwrap();
    let before = segment::list(dir.path()).unwrap().len();
    assert!(before > 2);
    assert_eq!(fast.lag_bytes(), 0);
    slow.commit(end).unwrap();
    let after = segment::list(dir.path()).unwrap().len();
    assert_eq!(after, 1, "only the live segment is left");
}

#[test]
fn a_second_agent_cannot_open_the_same_dir() {
    let dir = tempfile::tempdir().unwrap();
    let first = Wal::open(&config(dir.path(), 1 << 20), &names(1)).unwrap();
    let err = Wal::open(&config(dir.path(), 1 << 20), &names(1)).unwrap_err();
    assert!(matches!(err, OpenError::Locked { .. }), "{err}");
    assert!(
        err.to_string().contains("in use by another process"),
        "{err}"
    );
    first.writer.close();
    drop(first.tails);
    Wal::open(&config(dir.path(), 1 << 20), &names(1)).expect("free once closed");
}

#[tokio::test(flavor = "multi_thread")]
async fn checkpoints_of_removed_clients_are_dropped() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut wal = Wal::open(&config(dir.path(), 1 << 20), &names(2)).unwrap();
        let (tx, _rx) = mpsc::channel(4);
        let handle = wal.tails.pop().unwrap().spawn(tx).unwrap();
        handle.commit(8).unwrap();
        wal.writer.close();
        handle.join();
    }
    assert!(dir.path().join("checkpoint-client-1").exists());
    let _wal = Wal::open(&config(dir.path(), 1 << 20), &names(1)).unwrap();
    assert!(!dir.path().join("checkpoint-client-1").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_request_sync_mode_writes_and_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path(), 1 << 20);
    cfg.sync = SyncMode::Request;
    let wal = Arc::new(Wal::open(&cfg, &names(1)).unwrap());
    // Concurrent appends share fsyncs; each gets its own span.
    let mut tasks = Vec::new();
    for i in 0..20 {
        let wal = Arc::clone(&wal);
        tasks.push(tokio::spawn(async move {
            wal.writer.append(&push(&format!("c{i}"))).await.unwrap()
        }));
    }
    let mut spans = Vec::new();
    for t in tasks {
        spans.push(t.await.unwrap());
    }
    spans.sort_by_key(|s| s.start);
    for pair in spans.windows(2) {
        assert_eq!(pair[0].end, pair[1].start, "records are back to back");
    }
}
