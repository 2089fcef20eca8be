//! `cargo xtask soak`: a long run of the release agent under mixed load and
//! injected faults, checking that memory stays flat and that every
//! acknowledged line is delivered.
//!
//! Protobuf, JSON and raw pushes over 1 000 label sets go to the agent; its
//! fake Loki answers a share of pushes with 500, 429 or a hang; the agent
//! gets a SIGHUP every `--hup-every`. The RSS of the agent's process tree
//! is sampled every `--sample-every`. After the load stops the sink is
//! drained, then the agent is stopped with SIGTERM. The run fails when an
//! acknowledged line never arrived, when the agent died, or when the sink
//! saw a body it could not decode.

mod ids;
mod load;
mod sink;

use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;
use pushtail_proto::units::Duration as Span;

use crate::bench::{agent::Agent, cargo_build_release, procfs::Probe, target_dir};

const MB: f64 = 1024.0 * 1024.0;
/// The drain gives up after this long without progress.
const DRAIN_STALL: Duration = Duration::from_secs(60);

#[derive(Parser, Debug)]
#[command(
    name = "cargo xtask soak",
    bin_name = "cargo xtask soak",
    about = "Run the release agent under mixed load and faults for a long time"
)]
struct Args {
    #[arg(long, default_value = "10m")]
    duration: Span,
    /// Lines per second over all connections.
    #[arg(long, default_value_t = 20_000)]
    rate: u64,
    #[arg(long, default_value_t = 4)]
    conns: usize,
    #[arg(long, default_value_t = 100)]
    lines_per_push: u64,
    #[arg(long, default_value_t = 120)]
    line_bytes: usize,
    /// Per mille of Loki pushes answered 500.
    #[arg(long, default_value_t = 20)]
    fault_500: u64,
    /// Per mille of Loki pushes answered 429.
    #[arg(long, default_value_t = 20)]
    fault_429: u64,
    /// Per mille of Loki pushes that hang past the client timeout.
    #[arg(long, default_value_t = 5)]
    fault_hang: u64,
    #[arg(long, default_value = "1m")]
    hup_every: Span,
    #[arg(long, default_value = "5s")]
    sample_every: Span,
    /// The pushtail binary (default: the workspace's release build).
    #[arg(long)]
    release_bin: Option<std::path::PathBuf>,
    /// Do not build the release binary first.
    #[arg(long)]
    no_build: bool,
}

/// Client timeout in the agent's config; hung pushes outlast it.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(3);

fn config(sink_port: u16) -> String {
    format!(
        "server:\n\
         \x20 http_listen_address: 127.0.0.1\n\
         \x20 http_listen_port: 0\n\
         \x20 log_level: info\n\
         clients:\n\
         \x20 - url: http://127.0.0.1:{sink_port}/loki/api/v1/push\n\
         \x20   batchwait: 1s\n\
         \x20   batchsize: 128KiB\n\
         \x20   timeout: {}s\n\
         \x20   backoff_config: {{min_period: 100ms, max_period: 2s, max_retries: 50}}\n\
         scrape_configs:\n\
         \x20 - job_name: soak\n\
         \x20   http:\n\
         \x20     base_url: /\n\
         \x20     use_incoming_timestamp: true\n\
         \x20     labels: {{job: soak}}\n",
        CLIENT_TIMEOUT.as_secs()
    )
}

/// One RSS sample.
struct Sample {
    at: Duration,
    rss: u64,
    acked: u64,
    delivered: u64,
}

/// Entry point of `cargo xtask soak ARGS`; `argv[0]` is `soak`.
pub fn main(argv: Vec<String>) -> Result<()> {
    let args = Args::parse_from(&argv);
    if !args.no_build && args.release_bin.is_none() {
        cargo_build_release(&["pushtail"])?;
    }
    let bin = args
        .release_bin
        .clone()
        .unwrap_or_else(|| target_dir().join("release").join("pushtail"));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let faults = sink::Faults {
        err500: args.fault_500,
        err429: args.fault_429,
        hang: args.fault_hang,
        hang_for: CLIENT_TIMEOUT + Duration::from_secs(2),
    };
    let sink = rt.block_on(sink::Sink::start(faults))?;
    let (mut agent, addr) = Agent::start_pushtail_with(&bin, &config(sink.port()))?;
    let probe = Probe::new(agent.pid());
    let tally = Arc::new(load::Tally::default());
    let started = Instant::now();
    let end = started + args.duration.get();
    let load = load::Load {
        authority: addr.to_string(),
        conns: args.conns,
        lines_per_push: args.lines_per_push.max(1),
        line_bytes: args.line_bytes,
        rate: args.rate,
    };
    println!(
        "soak: {} at {} lines/s over {} streams (proto/json/raw), faults 500 {}‰ 429 {}‰ hang {}‰, SIGHUP every {}",
        args.duration, args.rate, load::STREAMS, args.fault_500, args.fault_429, args.fault_hang, args.hup_every
    );
    let pusher = rt.spawn(load::run(load, Arc::clone(&tally), end));

    let delivered = || {
        sink.ids
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .distinct()
    };
    let mut samples = Vec::new();
    let mut hups = 0u64;
    let mut next_hup = started + args.hup_every.get();
    let mut next_sample = started;
    while Instant::now() < end {
        agent.check_running()?;
        let now = Instant::now();
        if now >= next_hup {
            agent.signal("HUP")?;
            hups += 1;
            next_hup += args.hup_every.get();
        }
        if now >= next_sample {
            let s = Sample {
                at: now - started,
                rss: probe.memory().rss,
                acked: tally.acked_lines.load(Ordering::Relaxed),
                delivered: delivered(),
            };
            println!(
                "t={:>5.0}s rss={:>6.1}MB acked={:>10} delivered={:>10} 503s={}",
                s.at.as_secs_f64(),
                s.rss as f64 / MB,
                s.acked,
                s.delivered,
                tally.status_503.load(Ordering::Relaxed)
            );
            samples.push(s);
            next_sample += args.sample_every.get();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    rt.block_on(pusher).context("load generator")?;
    samples.push(Sample {
        at: started.elapsed(),
        rss: probe.memory().rss,
        acked: tally.acked_lines.load(Ordering::Relaxed),
        delivered: delivered(),
    });

    // Drain: wait until every acknowledged line arrived or nothing moves.
    let acked_lines = tally.acked_lines.load(Ordering::Relaxed);
    let mut last = delivered();
    let mut progress = Instant::now();
    loop {
        let missing = {
            let acked = tally.acked.lock().unwrap_or_else(PoisonError::into_inner);
            let ids = sink.ids.lock().unwrap_or_else(PoisonError::into_inner);
            acked.missing_from(&ids, tally.next_id.load(Ordering::Relaxed))
        };
        let now = delivered();
        if missing == 0 || progress.elapsed() > DRAIN_STALL {
            break;
        }
        if now != last {
            last = now;
            progress = Instant::now();
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let rss_drained = probe.memory().rss;
    let metrics = rt.block_on(scrape(&addr.to_string()));
    agent.signal("TERM")?;
    let exit = agent.wait_exit(Duration::from_secs(60));

    let end_id = tally.next_id.load(Ordering::Relaxed);
    let acked = tally.acked.lock().unwrap_or_else(PoisonError::into_inner);
    let ids = sink.ids.lock().unwrap_or_else(PoisonError::into_inner);
    let missing = acked.missing_from(&ids, end_id);
    let unacked_delivered = ids.missing_from(&acked, end_id);
    let c = &sink.counts;
    let first = samples
        .iter()
        .find(|s| s.at >= Duration::from_secs(10))
        .or(samples.first());
    let peak = samples.iter().map(|s| s.rss).max().unwrap_or(0);
    let last_sample = samples.last();
    println!("--- soak summary ---");
    println!(
        "pushes {} (acknowledged {}, 503 {}, other status {}, errors {}), SIGHUPs {hups}",
        tally.pushes.load(Ordering::Relaxed),
        tally.acked_pushes.load(Ordering::Relaxed),
        tally.status_503.load(Ordering::Relaxed),
        tally.other_status.load(Ordering::Relaxed),
        tally.errors.load(Ordering::Relaxed),
    );
    println!(
        "lines acknowledged {acked_lines}, delivered (unique) {}, acknowledged but not delivered {missing}, delivered but not acknowledged {unacked_delivered}, duplicates at the sink {}",
        ids.distinct(),
        ids.repeats()
    );
    println!(
        "sink: pushes {} (injected 500 {}, 429 {}, hangs {}), undecodable {}, foreign lines {}",
        c.pushes.load(Ordering::Relaxed),
        c.err500.load(Ordering::Relaxed),
        c.err429.load(Ordering::Relaxed),
        c.hangs.load(Ordering::Relaxed),
        c.rejected.load(Ordering::Relaxed),
        c.foreign.load(Ordering::Relaxed),
    );
    if let (Some(f), Some(l)) = (first, last_sample) {
        println!(
            "rss: {:.1} MB at {:.0}s, {:.1} MB at {:.0}s, peak {:.1} MB, {:.1} MB after the drain",
            f.rss as f64 / MB,
            f.at.as_secs_f64(),
            l.rss as f64 / MB,
            l.at.as_secs_f64(),
            peak as f64 / MB,
            rss_drained as f64 / MB
        );
    }
    for line in metrics.lines().filter(|l| {
        l.starts_with("promtail_config_reload") || l.starts_with("promtail_dropped_entries_total")
    }) {
        println!("agent: {line}");
    }
    println!("agent exit: {exit:?}");

    if missing > 0 {
        bail!("{missing} acknowledged lines were never delivered");
    }
    if c.rejected.load(Ordering::Relaxed) > 0 {
        bail!("the sink could not decode some pushes");
    }
    Ok(())
}

/// The agent's `/metrics` text (empty if unreachable).
async fn scrape(authority: &str) -> String {
    use http_body_util::{BodyExt, Empty};
    let Ok(tcp) = tokio::net::TcpStream::connect(authority).await else {
        return String::new();
    };
    let Ok((mut sender, conn)) = hyper::client::conn::http1::handshake::<_, Empty<bytes::Bytes>>(
        hyper_util::rt::TokioIo::new(tcp),
    )
    .await
    else {
        return String::new();
    };
    tokio::spawn(conn);
    let Ok(req) = hyper::Request::get("/metrics")
        .header(hyper::header::HOST, authority)
        .body(Empty::new())
    else {
        return String::new();
    };
    match sender.send_request(req).await {
        Ok(resp) => match resp.into_body().collect().await {
            Ok(b) => String::from_utf8_lossy(&b.to_bytes()).into_owned(),
            Err(_) => String::new(),
        },
        Err(_) => String::new(),
    }
}
