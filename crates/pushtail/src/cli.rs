//! Command-line flags, spelled as Promtail spells them.
//!
//! Go's flag package takes `-name` and `--name` alike and booleans as bare
//! `-flag` or `-flag=true|false`; clap wants `--name`, so arguments are
//! normalised to the double-dash form before clap sees them.

use std::collections::BTreeMap;
use std::ffi::OsString;

use clap::Parser;
use pushtail_proto::units::{ByteSize, Duration};

/// pushtail: a push-receiving log agent for Loki.
#[derive(Debug, Parser)]
#[command(name = "pushtail", disable_version_flag = true)]
pub struct Args {
    /// YAML file to load.
    #[arg(long = "config.file", value_name = "FILE")]
    pub config_file: Option<String>,

    /// Substitute ${VAR} and ${VAR:-default} in the config from the environment.
    #[arg(long = "config.expand-env", num_args = 0..=1, default_missing_value = "true", value_name = "BOOL", value_parser = go_bool)]
    pub expand_env: Option<bool>,

    /// Print every entry that would be sent (timestamp, labels, line) instead of sending.
    #[arg(long = "dry-run", num_args = 0..=1, default_missing_value = "true", value_name = "BOOL", value_parser = go_bool)]
    pub dry_run: Option<bool>,

    /// Print, for every entry, what each pipeline stage changed (labels, extracted map, line,
    /// timestamp) to stderr. Meant for use with -dry-run.
    #[arg(long = "inspect", num_args = 0..=1, default_missing_value = "true", value_name = "BOOL", value_parser = go_bool)]
    pub inspect: Option<bool>,

    /// Validate the config file and exit: 0 when valid, 1 with the reason otherwise.
    #[arg(long = "check-syntax", num_args = 0..=1, default_missing_value = "true", value_name = "BOOL", value_parser = go_bool)]
    pub check_syntax: Option<bool>,

    /// Print the loaded config (after env expansion) to stderr at start.
    #[arg(long = "print-config-stderr", num_args = 0..=1, default_missing_value = "true", value_name = "BOOL", value_parser = go_bool)]
    pub print_config_stderr: Option<bool>,

    /// Log level: debug, info, warn, error. Overrides server.log_level.
    #[arg(long = "log.level", value_name = "LEVEL")]
    pub log_level: Option<String>,

    /// Log format: logfmt or json. Overrides server.log_format.
    #[arg(long = "log.format", value_name = "FORMAT")]
    pub log_format: Option<String>,

    /// Port of the shared HTTP server. Overrides server.http_listen_port.
    #[arg(long = "server.http-listen-port", value_name = "PORT")]
    pub http_listen_port: Option<u16>,

    /// Adds a client sending to this Loki push URL.
    #[arg(long = "client.url", value_name = "URL")]
    pub client_url: Option<String>,

    /// Labels added to every client's external labels, as `k1=v1,k2=v2`.
    #[arg(long = "client.external-labels", value_name = "LIST", value_parser = parse_label_list)]
    pub external_labels: Option<BTreeMap<String, String>>,

    /// Print the version and exit.
    #[arg(long = "version", num_args = 0..=1, default_missing_value = "true", value_name = "BOOL", value_parser = go_bool)]
    pub version: Option<bool>,

    /// Address of the shared HTTP server. Overrides server.http_listen_address.
    #[arg(long = "server.http-listen-address", value_name = "ADDRESS")]
    pub http_listen_address: Option<String>,

    /// Promtail's gRPC port: accepted and ignored (pushtail serves no gRPC listener of its own).
    #[arg(long = "server.grpc-listen-port", value_name = "PORT")]
    pub grpc_listen_port: Option<u16>,

    /// Serve POST /reload on the shared server. Overrides server.enable_runtime_reload.
    #[arg(long = "server.enable-runtime-reload", num_args = 0..=1, default_missing_value = "true", value_name = "BOOL", value_parser = go_bool)]
    pub enable_runtime_reload: Option<bool>,

    /// Tenant of the -client.url client.
    #[arg(long = "client.tenant-id", value_name = "TENANT")]
    pub client_tenant_id: Option<String>,

    /// Batch wait of the -client.url client (e.g. 1s).
    #[arg(long = "client.batch-wait", value_name = "DURATION")]
    pub client_batch_wait: Option<Duration>,

    /// Batch size in bytes of the -client.url client.
    #[arg(long = "client.batch-size-bytes", value_name = "BYTES")]
    pub client_batch_size_bytes: Option<ByteSize>,

    /// Request timeout of the -client.url client (e.g. 10s).
    #[arg(long = "client.timeout", value_name = "DURATION")]
    pub client_timeout: Option<Duration>,

    /// Shortest retry back-off of the -client.url client.
    #[arg(long = "client.min-backoff", value_name = "DURATION")]
    pub client_min_backoff: Option<Duration>,

    /// Longest retry back-off of the -client.url client.
    #[arg(long = "client.max-backoff", value_name = "DURATION")]
    pub client_max_backoff: Option<Duration>,

    /// Most attempts of the -client.url client per batch.
    #[arg(long = "client.max-retries", value_name = "N")]
    pub client_max_retries: Option<u32>,

    /// Promtail's positions file: accepted and ignored (pushtail tails no files).
    #[arg(long = "positions.file", value_name = "FILE")]
    pub positions_file: Option<String>,

    /// Promtail's config dump order: accepted and ignored.
    #[arg(long = "log-config-reverse-order", num_args = 0..=1, default_missing_value = "true", value_name = "BOOL", value_parser = go_bool)]
    pub log_config_reverse_order: Option<bool>,
}

/// Promtail flags pushtail accepts with no effect, for the start-up warning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IgnoredFlag {
    GrpcListenPort,
    PositionsFile,
    LogConfigReverseOrder,
}

impl std::fmt::Display for IgnoredFlag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            IgnoredFlag::GrpcListenPort => "-server.grpc-listen-port",
            IgnoredFlag::PositionsFile => "-positions.file",
            IgnoredFlag::LogConfigReverseOrder => "-log-config-reverse-order",
        })
    }
}

impl Args {
    /// Parses Promtail-style arguments (one or two dashes). On a bad flag,
    /// prints the error in Go's spelling (one dash) and exits 2, as Go's
    /// flag package does; `-help` prints the help and exits 0.
    pub fn parse_promtail_style(args: impl IntoIterator<Item = OsString>) -> Self {
        match Args::try_parse_from(normalise(args)) {
            Ok(args) => args,
            Err(e) => {
                let text = one_dash(&e.render().to_string());
                if e.use_stderr() {
                    eprint!("{text}");
                    std::process::exit(2);
                }
                print!("{text}");
                std::process::exit(0);
            }
        }
    }

    /// The Promtail flags given that pushtail accepts without effect.
    pub fn ignored_flags(&self) -> Vec<IgnoredFlag> {
        [
            (IgnoredFlag::GrpcListenPort, self.grpc_listen_port.is_some()),
            (IgnoredFlag::PositionsFile, self.positions_file.is_some()),
            (
                IgnoredFlag::LogConfigReverseOrder,
                self.log_config_reverse_order == Some(true),
            ),
        ]
        .into_iter()
        .filter_map(|(flag, given)| given.then_some(flag))
        .collect()
    }
}

/// Rewrites clap's `--name` to Go's `-name` in messages, so an error
/// echoes the flag as the user typed it (and as Promtail documents it).
fn one_dash(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find("--") {
        let (before, after) = rest.split_at(pos);
        out.push_str(before);
        let starts_word = out
            .chars()
            .last()
            .is_none_or(|c| c.is_whitespace() || c == '\'' || c == '[' || c == '(' || c == '`');
        let flag_follows = after[2..].starts_with(|c: char| c.is_ascii_alphabetic());
        if starts_word && flag_follows {
            out.push('-');
        } else {
            out.push_str("--");
        }
        rest = &after[2..];
    }
    out.push_str(rest);
    out
}

/// Go's `strconv.ParseBool`, which Promtail's boolean flags use.
fn go_bool(s: &str) -> Result<bool, String> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        other => Err(format!("{other:?} is not a boolean (true or false)")),
    }
}

/// Rewrites `-long.flag[=v]` to `--long.flag[=v]`; leaves `-h`, `--x` and
/// everything after a bare `--` alone.
fn normalise(args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
    let mut out = Vec::new();
    let mut passthrough = false;
    for (i, arg) in args.into_iter().enumerate() {
        let Some(s) = arg.to_str() else {
            out.push(arg);
            continue;
        };
        if i == 0 || passthrough {
            out.push(arg);
            continue;
        }
        if s == "--" {
            passthrough = true;
            out.push(arg);
        } else if s.starts_with('-') && !s.starts_with("--") && s.len() > 2 {
            out.push(format!("-{s}").into());
        } else {
            out.push(arg);
        }
    }
    out
}

fn parse_label_list(s: &str) -> Result<BTreeMap<String, String>, String> {
    s.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) if pushtail_proto::labels::is_valid_label_name(k.trim()) => {
                Ok((k.trim().to_owned(), v.trim().to_owned()))
            }
            _ => Err(format!(
                "{pair:?} is not name=value with a valid label name"
            )),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args, clap::Error> {
        let argv = std::iter::once("pushtail")
            .chain(args.iter().copied())
            .map(OsString::from);
        Args::try_parse_from(normalise(argv))
    }

    #[test]
    fn promtail_client_and_server_flags() {
        let a = parse(&[
            "-client.tenant-id=t1",
            "-client.batch-wait=2s",
            "-client.batch-size-bytes=4MiB",
            "-client.timeout=3s",
            "-client.min-backoff=100ms",
            "-client.max-backoff=1m",
            "-client.max-retries=3",
            "-server.http-listen-address=127.0.0.1",
            "-server.grpc-listen-port=9095",
            "-log-config-reverse-order",
            "-positions.file=/tmp/positions.yaml",
            "-server.enable-runtime-reload",
        ])
        .unwrap();
        assert_eq!(a.client_tenant_id.as_deref(), Some("t1"));
        assert_eq!(a.client_batch_wait.map(|d| d.0.as_secs()), Some(2));
        assert_eq!(a.client_batch_size_bytes.map(|b| b.0), Some(4 << 20));
        assert_eq!(a.client_max_retries, Some(3));
        assert_eq!(a.http_listen_address.as_deref(), Some("127.0.0.1"));
        assert_eq!(a.ignored_flags().len(), 3);
        assert_eq!(a.enable_runtime_reload, Some(true));
        assert!(parse(&["-client.batch-wait=soon"]).is_err());
    }

    #[test]
    fn messages_use_one_dash() {
        let cases = [
            (
                "error: unexpected argument '--no-such-flag' found",
                "error: unexpected argument '-no-such-flag' found",
            ),
            ("try '--help'.", "try '-help'."),
            ("  --config.file <FILE>", "  -config.file <FILE>"),
            ("a -- b, x--y", "a -- b, x--y"),
        ];
        for (input, want) in cases {
            assert_eq!(one_dash(input), want);
        }
        let err = parse(&["-no-such-flag"])
            .err()
            .map(|e| one_dash(&e.to_string()));
        assert!(
            err.as_deref()
                .is_some_and(|e| e.contains("'-no-such-flag'")),
            "{err:?}"
        );
    }

    #[test]
    fn promtail_spellings() {
        let a = parse(&["-config.file=x.yaml", "-dry-run", "--log.level", "debug"]).unwrap();
        assert_eq!(a.config_file.as_deref(), Some("x.yaml"));
        assert_eq!(a.dry_run, Some(true));
        assert_eq!(a.log_level.as_deref(), Some("debug"));
        assert_eq!(a.inspect, None);
        assert_eq!(
            parse(&["-dry-run", "-inspect"]).unwrap().inspect,
            Some(true)
        );

        let a = parse(&[
            "--config.file",
            "y.yaml",
            "-config.expand-env=true",
            "-check-syntax=false",
        ])
        .unwrap();
        assert_eq!(a.config_file.as_deref(), Some("y.yaml"));
        assert_eq!(a.expand_env, Some(true));
        assert_eq!(a.check_syntax, Some(false));

        let a = parse(&[
            "-server.http-listen-port=0",
            "-client.url",
            "http://l/x",
            "-client.external-labels=a=1,b=2",
        ])
        .unwrap();
        assert_eq!(a.http_listen_port, Some(0));
        assert_eq!(a.client_url.as_deref(), Some("http://l/x"));
        let labels = a.external_labels.unwrap_or_default();
        assert_eq!(labels.get("b").map(String::as_str), Some("2"));

        assert!(parse(&["-client.external-labels=a-b=1"]).is_err());
        assert!(parse(&["-no-such-flag"]).is_err());
        for (arg, want) in [
            ("-config.expand-env=1", true),
            ("-config.expand-env=F", false),
            ("--config.expand-env=TRUE", true),
        ] {
            assert_eq!(parse(&[arg]).unwrap().expand_env, Some(want), "{arg}");
        }
        assert!(parse(&["-dry-run=yes"]).is_err());
        assert_eq!(parse(&["-version"]).unwrap().version, Some(true));
    }
}
