//! The YAML document: its serde types, `-config.expand-env`, and the one
//! deserialisation that names the key path and line of every error and
//! collects the keys stages ignore.

use pushtail_client::config::ClientConfig;
use pushtail_client::ClientLimits;
use pushtail_pipeline::relabel::RelabelConfig;
use pushtail_pipeline::StageConfig;
use pushtail_proto::units::ByteSize;
use pushtail_receiver::config::{HttpTargetConfig, LokiPushApiConfig, ServerConfig};
use pushtail_wal::WalConfig;
use serde::Deserialize;

use super::{ConfigError, StageWarning};

/// The whole config file. Promtail keys that make no sense for a
/// push-receiving agent (`positions`, `target_config`, ...) are accepted and
/// ignored so a Promtail config loads unchanged.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub clients: Vec<ClientConfig>,
    /// Promtail's older single-client form; appended to `clients`.
    #[serde(default)]
    pub client: Option<ClientConfig>,
    #[serde(default)]
    pub scrape_configs: Vec<ScrapeConfig>,
    /// Promtail's top-level write-ahead log block (off by default).
    #[serde(default)]
    pub wal: WalConfig,
    #[serde(default)]
    pub positions: Option<serde_yaml::Value>,
    #[serde(default)]
    pub target_config: Option<serde_yaml::Value>,
    #[serde(default)]
    pub limits_config: LimitsConfig,
    #[serde(default)]
    pub options: Option<serde_yaml::Value>,
    #[serde(default)]
    pub tracing: Option<serde_yaml::Value>,
    /// Ignored keys outside the stages (filled by [`parse`]; none while
    /// every such struct denies unknown keys).
    #[serde(skip)]
    pub ignored_keys: Vec<String>,
}

/// Promtail's top-level `limits_config`, with Promtail's defaults: the
/// line and stream limits every client applies, and the readline rate
/// limit every target's pipeline shares. Zero turns a size limit off.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    #[serde(default)]
    pub readline_rate_enabled: bool,
    #[serde(default = "default_readline_rate")]
    pub readline_rate: f64,
    #[serde(default = "default_readline_burst")]
    pub readline_burst: i64,
    #[serde(default = "default_true")]
    pub readline_rate_drop: bool,
    #[serde(default)]
    pub max_streams: usize,
    #[serde(default)]
    pub max_line_size: ByteSize,
    #[serde(default)]
    pub max_line_size_truncate: bool,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            readline_rate_enabled: false,
            readline_rate: default_readline_rate(),
            readline_burst: default_readline_burst(),
            readline_rate_drop: true,
            max_streams: 0,
            max_line_size: ByteSize(0),
            max_line_size_truncate: false,
        }
    }
}

impl LimitsConfig {
    /// What each client applies.
    pub fn client(&self) -> ClientLimits {
        ClientLimits {
            max_line_size: usize::try_from(self.max_line_size.0).unwrap_or(usize::MAX),
            max_line_size_truncate: self.max_line_size_truncate,
            max_streams: self.max_streams,
        }
    }
}

fn default_readline_rate() -> f64 {
    10_000.0
}

fn default_readline_burst() -> i64 {
    10_000
}

fn default_true() -> bool {
    true
}

/// One `scrape_configs` item: a push target and what to do with its streams.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScrapeConfig {
    #[serde(default)]
    pub job_name: String,
    #[serde(default)]
    pub http: Option<HttpTargetConfig>,
    #[serde(default)]
    pub loki_push_api: Option<LokiPushApiConfig>,
    #[serde(default, alias = "relabel_rules")]
    pub relabel_configs: Vec<RelabelConfig>,
    #[serde(default)]
    pub pipeline_stages: Vec<StageConfig>,
    /// Keys the stages ignored (filled by [`parse`]).
    #[serde(skip)]
    pub stage_warnings: Vec<StageWarning>,
}

/// Parses YAML text into a [`Config`]; errors name the key path and line.
/// Keys that serde ignores (only stage configs ignore keys, as Promtail
/// does) are collected with their path, for the warnings.
pub fn parse(text: &str) -> Result<Config, ConfigError> {
    if text
        .lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#') || l.trim() == "---")
    {
        return Err(ConfigError::Empty);
    }
    let de = serde_yaml::Deserializer::from_str(text);
    let mut ignored: Vec<Vec<Segment>> = Vec::new();
    let mut record = |path: serde_ignored::Path<'_>| {
        let mut segments = Vec::new();
        Segment::collect(&path, &mut segments);
        ignored.push(segments);
    };
    let de = serde_ignored::Deserializer::new(de, &mut record);
    let mut config: Config = serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let message = match inner.location() {
            Some(loc) => {
                // serde_yaml appends " at line L column C"; say it once, our way.
                let msg = inner.to_string();
                let msg = msg.split(" at line ").next().unwrap_or(&msg).to_owned();
                format!("{msg} (line {}, column {})", loc.line(), loc.column())
            }
            None => inner.to_string(),
        };
        // serde_yaml may start its message with the path, or with a parent
        // of it when the error surfaced above the value it is about (a
        // stage's null config missing a field); say it once.
        let message = match message.split_once(": ") {
            Some((head, rest)) if !head.is_empty() && path.starts_with(head) => rest.to_owned(),
            _ => message,
        };
        // A YAML syntax error leaves serde's path unknown (`?`): name the
        // keys that lead to the bad line instead.
        let path = if path == "?" || path.contains(".?") || path.ends_with('?') {
            inner
                .location()
                .map(|loc| path_before_line(text, loc.line()))
                .filter(|p| !p.is_empty())
                .unwrap_or_else(|| "config".into())
        } else {
            path
        };
        ConfigError::Syntax {
            path: if path == "." { "config".into() } else { path },
            message,
        }
    })?;
    for segments in ignored {
        match stage_warning(&segments) {
            Some((index, warning)) => match config.scrape_configs.get_mut(index) {
                Some(sc) => sc.stage_warnings.push(warning),
                None => config.ignored_keys.push(render_key(&segments)),
            },
            None => config.ignored_keys.push(render_key(&segments)),
        }
    }
    Ok(config)
}

/// One step of an ignored key's path.
enum Segment {
    Index(usize),
    Key(String),
}

impl Segment {
    /// Appends `path`'s steps, root first; serde_ignored's steps for
    /// options and newtypes name nothing in the file and are left out.
    fn collect(path: &serde_ignored::Path<'_>, out: &mut Vec<Segment>) {
        use serde_ignored::Path;
        match path {
            Path::Root => {}
            Path::Seq { parent, index } => {
                Segment::collect(parent, out);
                out.push(Segment::Index(*index));
            }
            Path::Map { parent, key } => {
                Segment::collect(parent, out);
                out.push(Segment::Key(key.clone()));
            }
            Path::Some { parent }
            | Path::NewtypeStruct { parent }
            | Path::NewtypeVariant { parent } => Segment::collect(parent, out),
        }
    }
}

/// `a.b[0].c`.
fn render_key(segments: &[Segment]) -> String {
    let mut out = String::new();
    for segment in segments {
        match segment {
            Segment::Index(i) => out.push_str(&format!("[{i}]")),
            Segment::Key(k) if out.is_empty() => out.push_str(k),
            Segment::Key(k) => {
                out.push('.');
                out.push_str(k);
            }
        }
    }
    out
}

/// The scrape config index and warning for a key ignored inside a stage:
/// `scrape_configs[0].pipeline_stages[1].match.stages[0].output.extra` is
/// key `extra` of the `output` stage at `pipeline_stages[1].stages[0]`.
fn stage_warning(segments: &[Segment]) -> Option<(usize, StageWarning)> {
    use Segment::{Index, Key};
    let [Key(scrape_configs), Index(job), Key(list), rest @ ..] = segments else {
        return None;
    };
    if scrape_configs != "scrape_configs" || list != "pipeline_stages" {
        return None;
    }
    let mut rest = rest;
    let mut path = String::from("pipeline_stages");
    loop {
        let [Index(index), Key(stage), tail @ ..] = rest else {
            return None;
        };
        path.push_str(&format!("[{index}]"));
        match tail {
            [] => return None,
            [Key(field), nested @ ..]
                if stage == "match" && field == "stages" && !nested.is_empty() =>
            {
                path.push_str(".stages");
                rest = nested;
            }
            key => {
                let warning = StageWarning {
                    path,
                    stage: stage.clone(),
                    key: render_key(key),
                };
                return Some((*job, warning));
            }
        }
    }
}

/// The key path (`scrape_configs[0].http`) that encloses line `line`
/// (1-based) of a YAML block document, found from indentation alone, so it
/// works on text that does not parse.
fn path_before_line(text: &str, line: usize) -> String {
    // (indent, segment, list index counter for `- ` items at this indent)
    let mut stack: Vec<(usize, String)> = Vec::new();
    let mut seq_index: Vec<(usize, usize)> = Vec::new();
    for raw in text.lines().take(line.saturating_sub(1)) {
        let trimmed = raw.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed == "---" {
            continue;
        }
        let mut indent = raw.len() - trimmed.len();
        let mut rest = trimmed;
        while let Some(after) =
            rest.strip_prefix("- ")
                .or(if rest == "-" { Some("") } else { None })
        {
            stack.retain(|(i, _)| *i < indent);
            seq_index.retain(|(i, _)| *i <= indent);
            let index = match seq_index.last_mut() {
                Some((i, n)) if *i == indent => {
                    *n += 1;
                    *n
                }
                _ => {
                    seq_index.push((indent, 0));
                    0
                }
            };
            stack.push((indent, format!("[{index}]")));
            let skipped = rest.len() - after.trim_start().len();
            indent += skipped;
            rest = after.trim_start();
        }
        let Some((key, _)) = rest.split_once(':') else {
            continue;
        };
        let key = key.trim().trim_matches(|c| c == '"' || c == '\'');
        if key.is_empty() || key.contains(['{', '[', ' ']) {
            continue;
        }
        stack.retain(|(i, _)| *i < indent);
        seq_index.retain(|(i, _)| {
            *i < indent || stack.iter().any(|(si, s)| si == i && s.starts_with('['))
        });
        stack.push((indent, key.to_owned()));
    }
    let mut out = String::new();
    for (_, seg) in &stack {
        if !seg.starts_with('[') && !out.is_empty() {
            out.push('.');
        }
        out.push_str(seg);
    }
    out
}

/// Substitutes `${VAR}` and `${VAR:-default}` from the environment, as
/// `-config.expand-env` does. An unset variable without a default becomes
/// the empty string; `$$` is a literal `$`.
pub fn expand_env(text: &str, lookup: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(inner) = after.strip_prefix('{') {
            match inner.find('}') {
                Some(end) => {
                    let expr = &inner[..end];
                    let (name, default) = match expr.split_once(":-") {
                        Some((n, d)) => (n, Some(d)),
                        None => (expr, None),
                    };
                    let value = lookup(name).filter(|v| !v.is_empty() || default.is_none());
                    out.push_str(&value.unwrap_or_else(|| default.unwrap_or("").to_owned()));
                    rest = &inner[end + 1..];
                }
                None => {
                    out.push('$');
                    rest = after;
                }
            }
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}
