//! The pushtail binary: flags, config, logging, and the wiring of receiver,
//! clients (or the dry-run printer) and shutdown.

mod cli;
mod config;
mod dry_run;
mod reload;
mod run;
mod status;

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
        Ok((plan, log, source)) => match start(plan, log, source, args.dry_run == Some(true)) {
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

/// Where the config comes from and how it is read; kept for reloads.
#[derive(Debug, Clone)]
pub(crate) struct Source {
    path: String,
    expand_env: bool,
    overrides: Overrides,
}

impl Source {
    fn from_args(args: &Args) -> anyhow::Result<Self> {
        let path = args.config_file.clone().context(
            "-config.file is required; try `-config.file=config/pushtail.yaml -dry-run`",
        )?;
        Ok(Source {
            path,
            expand_env: args.expand_env == Some(true),
            overrides: Overrides {
                http_listen_port: args.http_listen_port,
                client_url: args.client_url.clone(),
                external_labels: args.external_labels.clone().unwrap_or_default(),
                inspect: args.inspect == Some(true),
            },
        })
    }

    pub(crate) fn path(&self) -> &str {
        &self.path
    }

    /// Reads, expands, parses and validates the file; also returns the text
    /// as loaded (after env expansion).
    pub(crate) fn load(&self) -> anyhow::Result<(config::Plan, String)> {
        let path = &self.path;
        let raw =
            std::fs::read_to_string(path).with_context(|| format!("reading config file {path}"))?;
        let text = if self.expand_env {
            config::expand_env(&raw, |name| std::env::var(name).ok())
        } else {
            raw
        };
        let parsed = config::parse(&text).with_context(|| format!("config file {path}"))?;
        let plan =
            config::plan(parsed, &self.overrides).with_context(|| format!("config file {path}"))?;
        Ok((plan, text))
    }
}

fn load(args: &Args) -> anyhow::Result<(config::Plan, LogSettings, Source)> {
    let source = Source::from_args(args)?;
    let (plan, text) = source.load()?;
    if args.print_config_stderr == Some(true) {
        eprintln!("{}", config::redact_secrets(&text));
    }
    let log = LogSettings {
        level: args
            .log_level
            .clone()
            .unwrap_or_else(|| plan.server.log_level.clone()),
        format: args
            .log_format
            .clone()
            .unwrap_or_else(|| plan.server.log_format.clone()),
    };
    Ok((plan, log, source))
}

fn start(
    plan: config::Plan,
    log: LogSettings,
    source: Source,
    dry_run: bool,
) -> anyhow::Result<()> {
    init_logging(&log)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("pushtail")
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(run::run(plan, source, dry_run))
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
