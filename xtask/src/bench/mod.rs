//! `cargo xtask bench`: the performance harness of DESIGN §8.
//!
//! It builds the release agent (and re-runs itself as a release build, so
//! the load generator, the sink and the codec floor are optimised too),
//! pre-encodes bodies, measures the codec floor, starts a counting fake Loki
//! and the agent, pushes for a warmup and a measured window, waits for the
//! sink to drain, and reports. It measures only the agent's process tree and
//! fails the run when delivered differs from acknowledged.

pub(crate) mod agent;
mod bodies;
mod floor;
mod load;
pub(crate) mod procfs;
mod report;
mod sampler;
mod sink;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use clap::Parser;
use pushtail_proto::units::Duration as Span;

use bodies::{Format, Shape};
use report::{Report, MB};

/// Floor phase budget inside a normal run (four phases).
const QUICK_FLOOR: Duration = Duration::from_millis(300);
/// Floor phase budget for `--codec-floor`.
const FULL_FLOOR: Duration = Duration::from_secs(2);
/// The drain gives up after this long without progress.
const DRAIN_STALL: Duration = Duration::from_secs(10);

#[derive(Parser, Debug, Clone)]
#[command(
    name = "cargo xtask bench",
    bin_name = "cargo xtask bench",
    about = "Measure the agent's cost per forwarded line"
)]
pub struct Args {
    /// Concurrent pushing connections.
    #[arg(long, default_value_t = 4)]
    conns: usize,
    /// Streams per request.
    #[arg(long, default_value_t = 10)]
    streams: usize,
    /// Lines per request (spread over its streams).
    #[arg(long, default_value_t = 1000)]
    lines: usize,
    /// Bytes per line.
    #[arg(long, default_value_t = 200)]
    line_bytes: usize,
    #[arg(long, value_enum, default_value_t = Format::Proto)]
    format: Format,
    /// Measured window, after the warmup.
    #[arg(long, default_value = "15s")]
    duration: Span,
    /// Pushing before the window opens (not measured).
    #[arg(long, default_value = "2s")]
    warmup: Span,
    /// Two structured metadata pairs on every entry.
    #[arg(long)]
    structured_metadata: bool,
    /// Distinct label sets the streams rotate through (default: --streams).
    #[arg(long)]
    distinct_streams: Option<usize>,
    /// Also write the figures as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Benchmark another agent: run this with `sh -c` (needs --push-url and --sink-port).
    #[arg(long, requires_all = ["push_url", "sink_port"])]
    agent_cmd: Option<String>,
    /// Where the other agent takes pushes (for --format raw, its raw endpoint).
    #[arg(long, requires = "agent_cmd")]
    push_url: Option<String>,
    /// Port the sink listens on (the other agent's Loki URL points there).
    #[arg(long)]
    sink_port: Option<u16>,
    /// Only measure and print the codec floor.
    #[arg(long)]
    codec_floor: bool,
    /// The pushtail binary under test.
    #[arg(long)]
    release_bin: Option<PathBuf>,
    /// Do not build anything; run as is.
    #[arg(long)]
    no_build: bool,
    /// Run pushtail with its write-ahead log in a fresh temp dir, with this
    /// `wal.sync` mode.
    #[arg(long, value_name = "SYNC", value_parser = ["none", "request"])]
    wal: Option<String>,
}

impl Args {
    fn shape(&self) -> Shape {
        Shape {
            streams: self.streams.max(1),
            lines: self.lines.max(1),
            line_bytes: self.line_bytes,
            distinct_streams: self.distinct_streams.unwrap_or(self.streams).max(1),
            structured_metadata: self.structured_metadata,
        }
    }

    fn agent_name(&self) -> String {
        match &self.agent_cmd {
            None => match &self.wal {
                Some(sync) => format!("pushtail (wal, sync: {sync})"),
                None => "pushtail".to_owned(),
            },
            Some(cmd) => cmd
                .split_whitespace()
                .next()
                .and_then(|w| Path::new(w).file_name())
                .map_or_else(|| "agent".to_owned(), |n| n.to_string_lossy().into_owned()),
        }
    }
}

pub(crate) fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

pub(crate) fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace_root().join("target"), PathBuf::from)
}

pub(crate) fn cargo_build_release(packages: &[&str]) -> Result<()> {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()));
    cmd.current_dir(workspace_root())
        .args(["build", "--release"]);
    for p in packages {
        cmd.args(["-p", p]);
    }
    eprintln!("$ {cmd:?}");
    let status = cmd.status().context("running cargo build")?;
    if !status.success() {
        bail!("cargo build --release failed: {status}");
    }
    Ok(())
}

/// Entry point of `cargo xtask bench ARGS`; `argv[0]` is `bench`.
pub fn main(argv: Vec<String>) -> Result<()> {
    let args = Args::parse_from(&argv);
    if !args.no_build {
        let mut packages = vec!["xtask"];
        if args.agent_cmd.is_none() && args.release_bin.is_none() && !args.codec_floor {
            packages.push("pushtail");
        }
        if cfg!(debug_assertions) {
            // Re-run as a release build: the harness must not be the bottleneck.
            cargo_build_release(&packages)?;
            let exe = target_dir().join("release").join("xtask");
            let status = Command::new(&exe)
                .args(&argv)
                .arg("--no-build")
                .status()
                .with_context(|| format!("running {}", exe.display()))?;
            std::process::exit(status.code().unwrap_or(1));
        }
        packages.retain(|p| *p != "xtask");
        if !packages.is_empty() {
            cargo_build_release(&packages)?;
        }
    } else if cfg!(debug_assertions) {
        eprintln!(
            "warning: the harness is a debug build; its own figures (floor, load) are pessimistic"
        );
    }

    let shape = args.shape();
    let base_ns = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64);
    let proto = bodies::build(Format::Proto, &shape, base_ns)?;
    if args.codec_floor {
        let f = floor::measure(&proto, FULL_FLOOR)?;
        println!("{}", report::floor_text(&f));
        println!("codec floor: {:.3} cpu-s per million lines", f.total());
        return Ok(());
    }
    let floor = floor::measure(&proto, QUICK_FLOOR)?;
    let bodies = if args.format == Format::Proto {
        proto
    } else {
        bodies::build(args.format, &shape, base_ns)?
    };
    let report = run(&args, shape, Arc::new(bodies), floor)?;

    print!("{}", report.text());
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(&report)?;
        std::fs::write(path, json + "\n").with_context(|| format!("writing {}", path.display()))?;
    }
    println!("{}", report.summary());
    if !report.ok() {
        bail!(
            "delivered ({}) differs from acknowledged ({})",
            report.delivered,
            report.acked
        );
    }
    Ok(())
}

fn run(
    args: &Args,
    shape: Shape,
    bodies: Arc<bodies::Bodies>,
    floor: report::Floor,
) -> Result<Report> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let sink = rt.block_on(sink::Sink::start(args.sink_port))?;

    // With --wal, the log lives in a temp dir removed when the run ends
    // (it can hold up to wal.max_size, 1 GiB by default).
    let wal_dir = match args.wal {
        Some(_) => Some(
            tempfile::Builder::new()
                .prefix("pushtail-bench-wal-")
                .tempdir()?,
        ),
        None => None,
    };
    let (mut agent, target) = match (&args.agent_cmd, &args.push_url) {
        (Some(cmd), Some(url)) => {
            let (authority, path) = load::split_url(url)?;
            let agent = agent::Agent::start_command(cmd, &authority)?;
            (
                agent,
                load::Target {
                    authority,
                    path,
                    content_type: args.format.content_type(),
                },
            )
        }
        _ => {
            let bin = args
                .release_bin
                .clone()
                .unwrap_or_else(|| target_dir().join("release").join("pushtail"));
            let wal = args
                .wal
                .as_deref()
                .zip(wal_dir.as_ref())
                .map(|(sync, dir)| (dir.path(), sync));
            let (agent, addr) = agent::Agent::start_pushtail(&bin, sink.port(), wal)?;
            let target = load::Target {
                authority: addr.to_string(),
                path: args.format.path().to_owned(),
                content_type: args.format.content_type(),
            };
            (agent, target)
        }
    };
    let probe = procfs::Probe::new(agent.pid());

    let start = Instant::now() + args.warmup.get();
    let window = load::Window {
        start,
        end: start + args.duration.get(),
    };
    let sampling = sampler::spawn(procfs::Probe::new(agent.pid()), window);
    let tally = rt.block_on(load::run(args.conns, target, Arc::clone(&bodies), window));
    let samples = sampling
        .join()
        .map_err(|_| anyhow::anyhow!("sampler thread panicked"))?;
    agent.check_running()?;

    let delivered = rt.block_on(sink.drain(tally.acked, DRAIN_STALL));
    let hwm = probe.memory().hwm;
    drop(agent);
    for f in &tally.failure_samples {
        eprintln!("failure: {f}");
    }

    let window_s = args.duration.get().as_secs_f64();
    let mut report = Report {
        agent: args.agent_name(),
        format: args.format.name().to_owned(),
        conns: args.conns,
        streams: shape.streams,
        lines: shape.lines,
        line_bytes: shape.line_bytes,
        distinct_streams: shape.distinct_streams,
        structured_metadata: shape.structured_metadata,
        body_bytes: bodies.wire_bytes,
        body_plain_bytes: bodies.plain_bytes,
        window_s,
        window_lines: tally.window_lines,
        pushes: tally.window_pushes,
        failures: tally.failures,
        agent_cpu_s: samples.cpu_s,
        peak_rss_mb: samples.peak_rss as f64 / MB,
        hwm_mb: hwm as f64 / MB,
        rss_first_half_mb: samples.first_half_rss as f64 / MB,
        rss_second_half_mb: samples.second_half_rss as f64 / MB,
        acked: tally.acked,
        delivered,
        delivered_line_bytes: sink.line_bytes(),
        acked_line_bytes: tally.acked / bodies.lines_per_body.max(1) * bodies.line_bytes_per_body,
        sink_rejected: sink.rejected(),
        floor: Some(floor),
        ..Report::default()
    };
    let mut latencies = tally.latencies;
    let window_bytes = tally.window_pushes * bodies.line_bytes_per_body;
    report.derive(&mut latencies, window_bytes);
    Ok(report)
}
