//! The agent's own log lines, in Promtail's shapes so existing log parsers
//! keep working:
//!
//! - `logfmt`: `level=info ts=2026-12-01T05:30:00.123Z caller=run.rs:42
//!   msg="listening" address=127.0.0.1:9080`
//! - `json`: one flat object per line with `level`, `ts`, `caller`, `msg`
//!   and the event's fields.
//!
//! Levels are Promtail's four (`debug`, `info`, `warn`, `error`); anything
//! else is a config error, never a filter that silently logs nothing.
//! Span fields are not printed: Promtail has no spans, and the HTTP layer's
//! request spans would repeat on every line.

use std::fmt::{self, Write as _};
use std::str::FromStr;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_log::NormalizeEvent;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// The log levels pushtail accepts, as Promtail names them.
pub const LEVELS: &str = "debug, info, warn, error";
/// The log formats pushtail accepts.
pub const FORMATS: &str = "logfmt, json";

/// `log_level` / `-log.level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

/// A level or format that is not one of pushtail's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogSettingError {
    #[error("unknown log level {0:?}, valid levels are {LEVELS}")]
    Level(String),
    #[error("unknown log format {0:?}, valid formats are {FORMATS}")]
    Format(String),
}

impl FromStr for LogLevel {
    type Err = LogSettingError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "debug" => Ok(LogLevel::Debug),
            "info" => Ok(LogLevel::Info),
            "warn" => Ok(LogLevel::Warn),
            "error" => Ok(LogLevel::Error),
            other => Err(LogSettingError::Level(other.to_owned())),
        }
    }
}

impl LogLevel {
    fn filter(self) -> LevelFilter {
        match self {
            LogLevel::Debug => LevelFilter::DEBUG,
            LogLevel::Info => LevelFilter::INFO,
            LogLevel::Warn => LevelFilter::WARN,
            LogLevel::Error => LevelFilter::ERROR,
        }
    }
}

/// `log_format` / `-log.format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Logfmt,
    Json,
}

impl FromStr for LogFormat {
    type Err = LogSettingError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "logfmt" | "" => Ok(LogFormat::Logfmt),
            "json" => Ok(LogFormat::Json),
            other => Err(LogSettingError::Format(other.to_owned())),
        }
    }
}

/// Installs the global subscriber: stderr, the given level and format.
pub fn init(level: LogLevel, format: LogFormat) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_max_level(level.filter())
        .with_ansi(false)
        .with_writer(std::io::stderr)
        .event_format(PromtailFormat { format })
        .try_init()
        .map_err(|e| anyhow::anyhow!("initialising logging: {e}"))
}

/// Formats events as Promtail does (see the module docs).
struct PromtailFormat {
    format: LogFormat,
}

impl<S, N> FormatEvent<S, N> for PromtailFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut fields = Fields::default();
        event.record(&mut fields);
        // Events from dependencies that log through the `log` crate share
        // one callsite; their own file and line are in the normalized
        // metadata, and the `log.*` fields that carry them are not printed.
        let normalized = event.normalized_metadata();
        let meta = normalized.as_ref().unwrap_or_else(|| event.metadata());
        let ts = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ");
        let file = meta.file().map(basename).unwrap_or(meta.target());
        let caller = match meta.line() {
            Some(line) => format!("{file}:{line}"),
            None => file.to_owned(),
        };
        let mut line = String::with_capacity(128);
        render(
            self.format,
            level_name(meta.level()),
            &ts.to_string(),
            &caller,
            &fields,
            &mut line,
        );
        writer.write_str(&line)
    }
}

fn basename(path: &str) -> &str {
    path.rsplit(['/', '\\']).next().unwrap_or(path)
}

fn level_name(level: &Level) -> &'static str {
    match *level {
        Level::ERROR => "error",
        Level::WARN => "warn",
        Level::INFO => "info",
        // Promtail has no trace level.
        Level::DEBUG | Level::TRACE => "debug",
    }
}

/// A field value, kept typed so JSON prints numbers and booleans as such.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Str(String),
    Int(i128),
    Float(f64),
    Bool(bool),
}

/// An event's message and fields, in the order they were written.
#[derive(Debug, Default)]
struct Fields {
    msg: String,
    rest: Vec<(&'static str, Value)>,
}

impl Fields {
    fn put(&mut self, field: &Field, value: Value) {
        if field.name() == "message" {
            self.msg = match value {
                Value::Str(s) => s,
                other => value_text(&other),
            };
        } else if !field.name().starts_with("log.") {
            self.rest.push((field.name(), value));
        }
    }
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, Value::Str(format!("{value:?}")));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, Value::Str(value.to_owned()));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, Value::Int(value.into()));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, Value::Int(value.into()));
    }
    fn record_i128(&mut self, field: &Field, value: i128) {
        self.put(field, Value::Int(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, Value::Float(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, Value::Bool(value));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.put(field, Value::Str(value.to_string()));
    }
}

fn value_text(v: &Value) -> String {
    match v {
        Value::Str(s) => s.clone(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Bool(b) => b.to_string(),
    }
}

/// Renders one log line (with its newline) into `out`.
fn render(format: LogFormat, level: &str, ts: &str, caller: &str, f: &Fields, out: &mut String) {
    match format {
        LogFormat::Logfmt => {
            let _ = write!(out, "level={level} ts={ts} caller=");
            logfmt_value(caller, false, out);
            out.push_str(" msg=");
            // Always quoted, as in Promtail's own lines (`msg="listening"`).
            logfmt_value(&f.msg, true, out);
            for (key, value) in &f.rest {
                out.push(' ');
                out.push_str(key);
                out.push('=');
                logfmt_value(&value_text(value), false, out);
            }
        }
        LogFormat::Json => {
            let mut map = serde_json::Map::with_capacity(4 + f.rest.len());
            map.insert("level".into(), level.into());
            map.insert("ts".into(), ts.into());
            map.insert("caller".into(), caller.into());
            map.insert("msg".into(), f.msg.clone().into());
            for (key, value) in &f.rest {
                let json = match value {
                    Value::Str(s) => s.clone().into(),
                    Value::Int(i) => i64::try_from(*i)
                        .map(serde_json::Value::from)
                        .unwrap_or_else(|_| i.to_string().into()),
                    Value::Float(x) => serde_json::Number::from_f64(*x)
                        .map_or_else(|| x.to_string().into(), serde_json::Value::Number),
                    Value::Bool(b) => (*b).into(),
                };
                // The four fixed keys come first and are not overwritten.
                map.entry(key.to_string()).or_insert(json);
            }
            let _ = write!(out, "{}", serde_json::Value::Object(map));
        }
    }
    out.push('\n');
}

/// Writes a logfmt value: bare when it can be, else quoted with `"`, `\`
/// and control characters escaped (one log line per event, always).
fn logfmt_value(value: &str, always_quote: bool, out: &mut String) {
    let needs_quotes = always_quote
        || value.is_empty()
        || value
            .chars()
            .any(|c| c <= ' ' || c == '=' || c == '"' || c == '\\' || c.is_control());
    if !needs_quotes {
        out.push_str(value);
        return;
    }
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An event from a dependency's `log` call names that call's file and
    /// line as its caller, not the `log` bridge's, without `log.*` fields.
    #[test]
    fn log_crate_events_name_their_own_caller() {
        #[derive(Clone, Default)]
        struct Buffer(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
        impl std::io::Write for Buffer {
            fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
                self.0
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .extend_from_slice(data);
                Ok(data.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .event_format(PromtailFormat {
                format: LogFormat::Logfmt,
            })
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let record = log::Record::builder()
                .level(log::Level::Warn)
                .target("hyper::proto")
                .file(Some("/cargo/registry/hyper-1.0/src/proto/h1/conn.rs"))
                .line(Some(77))
                .args(format_args!("connection error"))
                .build();
            tracing_log::format_trace(&record).expect("dispatched");
        });
        let out = String::from_utf8(buffer.0.lock().expect("buffer").clone()).expect("utf-8");
        assert!(out.starts_with("level=warn "), "{out}");
        assert!(out.contains(" caller=conn.rs:77 "), "{out}");
        assert!(out.ends_with("msg=\"connection error\"\n"), "{out}");
    }

    fn fields(msg: &str, rest: &[(&'static str, Value)]) -> Fields {
        Fields {
            msg: msg.to_owned(),
            rest: rest.to_vec(),
        }
    }

    #[test]
    fn levels_and_formats() {
        let cases = [
            ("debug", Some(LogLevel::Debug)),
            ("info", Some(LogLevel::Info)),
            ("warn", Some(LogLevel::Warn)),
            ("error", Some(LogLevel::Error)),
            ("verbose", None),
            ("warning", None),
            ("INFO", None),
            ("", None),
        ];
        for (text, want) in cases {
            assert_eq!(text.parse::<LogLevel>().ok(), want, "{text}");
        }
        let err = "verbose".parse::<LogLevel>().err().map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("unknown log level \"verbose\", valid levels are debug, info, warn, error")
        );
        assert_eq!("json".parse::<LogFormat>().ok(), Some(LogFormat::Json));
        assert_eq!("logfmt".parse::<LogFormat>().ok(), Some(LogFormat::Logfmt));
        assert!("text".parse::<LogFormat>().is_err());
    }

    #[test]
    fn logfmt_lines() {
        let ts = "2026-12-01T05:30:00.123Z";
        let cases: &[(Fields, &str)] = &[
            (
                fields(
                    "listening",
                    &[("address", Value::Str("127.0.0.1:9080".into()))],
                ),
                "level=info ts=2026-12-01T05:30:00.123Z caller=run.rs:42 msg=\"listening\" address=127.0.0.1:9080\n",
            ),
            (
                fields(
                    "push rejected",
                    &[
                        ("reason", Value::Str("bad \"json\" at\tbyte 3\n".into())),
                        ("status", Value::Int(400)),
                        ("empty", Value::Str(String::new())),
                        ("ok", Value::Bool(true)),
                        ("path", Value::Str("C:\\x=y".into())),
                    ],
                ),
                "level=info ts=2026-12-01T05:30:00.123Z caller=run.rs:42 msg=\"push rejected\" reason=\"bad \\\"json\\\" at\\tbyte 3\\n\" status=400 empty=\"\" ok=true path=\"C:\\\\x=y\"\n",
            ),
        ];
        for (f, want) in cases {
            let mut out = String::new();
            render(LogFormat::Logfmt, "info", ts, "run.rs:42", f, &mut out);
            assert_eq!(out, *want);
        }
    }

    #[test]
    fn json_lines_are_flat_objects() {
        let f = fields(
            "listening",
            &[
                ("address", Value::Str("127.0.0.1:9080".into())),
                ("listener", Value::Int(0)),
                ("ratio", Value::Float(0.5)),
                ("tls", Value::Bool(false)),
                ("msg", Value::Str("cannot replace the message".into())),
            ],
        );
        let mut out = String::new();
        render(LogFormat::Json, "warn", "T", "run.rs:1", &f, &mut out);
        assert!(
            out.ends_with('\n') && !out.trim_end().contains('\n'),
            "{out}"
        );
        let v: serde_json::Value = serde_json::from_str(&out).expect("valid JSON");
        assert_eq!(
            v,
            serde_json::json!({
                "level": "warn", "ts": "T", "caller": "run.rs:1", "msg": "listening",
                "address": "127.0.0.1:9080", "listener": 0, "ratio": 0.5, "tls": false
            })
        );
    }
}
