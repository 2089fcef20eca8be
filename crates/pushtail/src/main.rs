//! The pushtail binary: flags, config, logging, and the wiring of receiver,
//! clients (or the dry-run printer) and shutdown.

mod cli;
mod config;
mod dry_run;
mod run;

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::Context;

use crate::cli::Args;
use crate::config::Overrides;

fn main() -> ExitCode {
    let args = Args::parse_promtail_style(std::env::args_os());
    if args.version == Some(true) {
        println!("pushtail, version {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    let check_only = args.check_syntax == Some(true);
    match load(&args) {
        Ok(_) if check_only => {
            println!("Valid config file! No syntax issues found");
            ExitCode::SUCCESS
        }
        Ok((plan, log)) => match start(plan, log, args.dry_run == Some(true)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("pushtail: {e:#}");
                ExitCode::FAILURE
            }
        },
        Err(e) => {
            eprintln!("pushtail: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Log settings after flags override the file.
struct LogSettings {
    level: String,
    format: String,
}

fn load(args: &Args) -> anyhow::Result<(config::Plan, LogSettings)> {
    let path = args
        .config_file
        .as_deref()
        .context("-config.file is required; try `-config.file=config/pushtail.yaml -dry-run`")?;
    let raw =
        std::fs::read_to_string(path).with_context(|| format!("reading config file {path}"))?;
    let text = if args.expand_env == Some(true) {
        config::expand_env(&raw, |name| std::env::var(name).ok())
    } else {
        raw
    };
    if args.print_config_stderr == Some(true) {
        eprintln!("{text}");
    }
    let parsed = config::parse(&text).with_context(|| format!("config file {path}"))?;
    let overrides = Overrides {
        http_listen_port: args.http_listen_port,
        client_url: args.client_url.clone(),
        external_labels: args.external_labels.clone().unwrap_or_default(),
    };
    let log = LogSettings {
        level: args
            .log_level
            .clone()
            .unwrap_or_else(|| parsed.server.log_level.clone()),
        format: args
            .log_format
            .clone()
            .unwrap_or_else(|| parsed.server.log_format.clone()),
    };
    let plan = config::plan(parsed, &overrides).with_context(|| format!("config file {path}"))?;
    Ok((plan, log))
}

fn start(plan: config::Plan, log: LogSettings, dry_run: bool) -> anyhow::Result<()> {
    init_logging(&log)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("pushtail")
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(run::run(plan, dry_run))
}

fn init_logging(log: &LogSettings) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_new(&log.level)
        .with_context(|| format!("-log.level: invalid level {:?}", log.level))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let result = match log.format.as_str() {
        "json" => builder.json().try_init(),
        "logfmt" | "" => builder.try_init(),
        other => anyhow::bail!("-log.format: unknown format {other:?}, expected logfmt or json"),
    };
    result.map_err(|e| anyhow::anyhow!("initialising logging: {e}"))
}
