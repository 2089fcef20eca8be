//! Command-line flags, spelled as Promtail spells them.
//!
//! Go's flag package takes `-name` and `--name` alike and booleans as bare
//! `-flag` or `-flag=true|false`; clap wants `--name`, so arguments are
//! normalised to the double-dash form before clap sees them.

use std::collections::BTreeMap;
use std::ffi::OsString;

use clap::Parser;

/// pushtail: a push-receiving log agent for Loki.
#[derive(Debug, Parser)]
#[command(name = "pushtail", disable_version_flag = true)]
pub struct Args {
    /// YAML file to load.
    #[arg(long = "config.file", value_name = "FILE")]
    pub config_file: Option<String>,

    /// Substitute ${VAR} and ${VAR:-default} in the config from the environment.
    #[arg(long = "config.expand-env", num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub expand_env: Option<bool>,

    /// Print every entry that would be sent (timestamp, labels, line) instead of sending.
    #[arg(long = "dry-run", num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub dry_run: Option<bool>,

    /// Print, for every entry, what each pipeline stage changed (labels, extracted map, line,
    /// timestamp) to stderr. Meant for use with -dry-run.
    #[arg(long = "inspect", num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub inspect: Option<bool>,

    /// Validate the config file and exit: 0 when valid, 1 with the reason otherwise.
    #[arg(long = "check-syntax", num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub check_syntax: Option<bool>,

    /// Print the loaded config (after env expansion) to stderr at start.
    #[arg(long = "print-config-stderr", num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
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
    #[arg(long = "version", num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub version: Option<bool>,
}

impl Args {
    /// Parses Promtail-style arguments (one or two dashes).
    pub fn parse_promtail_style(args: impl IntoIterator<Item = OsString>) -> Self {
        Args::parse_from(normalise(args))
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
        assert_eq!(parse(&["-version"]).unwrap().version, Some(true));
    }
}
