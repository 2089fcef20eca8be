//! The pushtail binary: flags, config, logging, and the wiring of receiver,
//! clients (or the dry-run printer) and shutdown.

mod cli;
mod config;
mod dry_run;
mod logging;
mod redact;
mod reload;
mod run;
mod status;
mod telemetry;

use std::process::ExitCode;

use anyhow::Context;

use crate::cli::Args;
use crate::config::{ConfigError, Overrides};

/// The version and the git commit the binary was built from.
pub(crate) const VERSION: &str = env!("CARGO_PKG_VERSION");
pub(crate) const REVISION: &str = env!("PUSHTAIL_REVISION");

fn main() -> ExitCode {
    let args = Args::parse_promtail_style(std::env::args_os());
    if args.version == Some(true) {
        println!("pushtail, version {VERSION} (revision: {REVISION})");
        return ExitCode::SUCCESS;
    }
    let check_only = args.check_syntax == Some(true);
    // Before the config is built: stages describe their metrics then.
    let metrics = if check_only {
        None
    } else {
        match telemetry::install() {
            Ok(handle) => Some(handle),
            Err(e) => {
                eprintln!("pushtail: {}", error_chain(&e));
                return ExitCode::FAILURE;
            }
        }
    };
    match load(&args) {
        Ok((plan, _)) if check_only => {
            for warning in &plan.warnings {
                eprintln!("warning: {warning}");
            }
            if let Err(e) = check_files(&plan) {
                eprintln!("pushtail: {}", error_chain(&e));
                return ExitCode::FAILURE;
            }
            println!("Valid config file! No syntax issues found");
            ExitCode::SUCCESS
        }
        Ok((plan, source)) => match start(plan, source, metrics, args.dry_run == Some(true)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                let message = error_chain(&e);
                if tracing::dispatcher::has_been_set() {
                    tracing::error!("{message}");
                } else {
                    eprintln!("pushtail: {message}");
                }
                ExitCode::FAILURE
            }
        },
        Err(e) => {
            eprintln!("pushtail: {}", error_chain(&e));
            ExitCode::FAILURE
        }
    }
}

/// `-check-syntax`: reads the files a start would read (TLS certificates
/// and keys, credential files, the clients' password, token and TLS files),
/// so a config that passes the check does not then fail to start on them.
/// Binds and connects nothing.
fn check_files(plan: &config::Plan) -> anyhow::Result<()> {
    pushtail_receiver::check_files(&plan.listeners)?;
    for client in &plan.clients {
        pushtail_client::Client::check(client)?;
    }
    Ok(())
}

/// An error and its causes on one line, `a: b: c`, leaving out a cause
/// whose text the line already holds (errors that print their source in
/// their own message), so nothing reads `X: X`.
pub(crate) fn error_chain(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
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
                http_listen_address: args.http_listen_address.clone(),
                enable_runtime_reload: args.enable_runtime_reload,
                client_url: args.client_url.clone(),
                client: config::ClientFlags {
                    tenant_id: args.client_tenant_id.clone(),
                    batch_wait: args.client_batch_wait,
                    batch_size: args.client_batch_size_bytes,
                    timeout: args.client_timeout,
                    min_backoff: args.client_min_backoff,
                    max_backoff: args.client_max_backoff,
                    max_retries: args.client_max_retries,
                },
                external_labels: args.external_labels.clone().unwrap_or_default(),
                log_level: args.log_level.clone(),
                log_format: args.log_format.clone(),
                dry_run: args.dry_run == Some(true),
                ignored_flags: args.ignored_flags(),
                inspect: args.inspect == Some(true),
            },
        })
    }

    pub(crate) fn path(&self) -> &str {
        &self.path
    }

    /// Reads and expands the file (the text `-print-config-stderr` shows).
    fn read(&self) -> anyhow::Result<String> {
        let path = &self.path;
        let raw =
            std::fs::read_to_string(path).with_context(|| format!("reading config file {path}"))?;
        Ok(if self.expand_env {
            config::expand_env(&raw, |name| std::env::var(name).ok())
        } else {
            raw
        })
    }

    /// Parses and validates expanded text: everything a start checks
    /// before it listens or connects (`-check-syntax` runs exactly this).
    fn plan(&self, text: &str) -> anyhow::Result<config::Plan> {
        let blame = |e: ConfigError| {
            if e.is_flag_error() {
                anyhow::Error::new(e)
            } else {
                anyhow::Error::new(e).context(format!("config file {}", self.path))
            }
        };
        let parsed = config::parse(text).map_err(blame)?;
        config::plan(parsed, &self.overrides).map_err(blame)
    }

    /// Reads, expands, parses and validates the file.
    pub(crate) fn load(&self) -> anyhow::Result<config::Plan> {
        self.plan(&self.read()?)
    }
}

fn load(args: &Args) -> anyhow::Result<(config::Plan, Source)> {
    let source = Source::from_args(args)?;
    let text = source.read()?;
    if args.print_config_stderr == Some(true) {
        if let Some(masked) = redact::redacted_yaml(&text) {
            eprintln!("{masked}");
        }
    }
    let plan = source.plan(&text)?;
    Ok((plan, source))
}

fn start(
    plan: config::Plan,
    source: Source,
    metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
    dry_run: bool,
) -> anyhow::Result<()> {
    logging::init(plan.log_level, plan.log_format)?;
    tracing::info!(
        version = VERSION,
        revision = REVISION,
        config_file = source.path(),
        "starting pushtail"
    );
    for warning in &plan.warnings {
        tracing::warn!("{warning}");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("pushtail")
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(run::run(plan, source, metrics, dry_run))
}
