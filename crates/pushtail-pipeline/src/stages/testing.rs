//! Helpers for the stage table tests: deserialise stages from YAML (as the
//! binary does, collecting ignored keys), build a pipeline, run one entry,
//! and render the result compactly.

use std::fmt::Write;

use pushtail_proto::labels::LabelSet;
use pushtail_proto::model::Entry;

use crate::config::StageConfig;
use crate::pipeline::{Pipeline, PipelineEntry};

/// Deserialises a YAML list of stages, with the keys serde ignored
/// (`[1].match.stages[0].output.extra`), or the deserialiser's error.
pub(crate) fn stages(yaml: &str) -> Result<(Vec<StageConfig>, Vec<String>), String> {
    let mut ignored = Vec::new();
    let de = serde_yaml::Deserializer::from_str(yaml);
    let stages = serde_ignored::deserialize(de, |path| ignored.push(render_path(&path)))
        .map_err(|e: serde_yaml::Error| e.to_string())?;
    Ok((stages, ignored))
}

/// `path` with indices as `[n]` and without serde_ignored's `?` for
/// options and newtypes.
fn render_path(path: &serde_ignored::Path<'_>) -> String {
    use serde_ignored::Path;
    match path {
        Path::Root => String::new(),
        Path::Seq { parent, index } => format!("{}[{index}]", render_path(parent)),
        Path::Map { parent, key } => match render_path(parent) {
            p if p.is_empty() => key.clone(),
            p => format!("{p}.{key}"),
        },
        Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => render_path(parent),
    }
}

/// Builds a pipeline from a YAML list of stages.
pub(crate) fn pipeline(yaml: &str) -> Pipeline {
    let (v, _) = stages(yaml).unwrap_or_else(|e| panic!("{yaml}: {e}"));
    Pipeline::new(&v).unwrap_or_else(|e| panic!("{yaml}: {e}"))
}

/// The config error of a YAML list of stages: the deserialiser's, or
/// else the build's; `ok` for none.
pub(crate) fn config_error(yaml: &str) -> String {
    let v = match stages(yaml) {
        Ok((v, _)) => v,
        Err(e) => return e,
    };
    match Pipeline::new(&v) {
        Ok(_) => "ok".to_owned(),
        Err(e) => e.to_string(),
    }
}

/// The keys a YAML list of stages has that the stages ignore.
pub(crate) fn ignored_keys(yaml: &str) -> Vec<String> {
    stages(yaml).unwrap_or_else(|e| panic!("{yaml}: {e}")).1
}

/// Runs one entry with `labels` (Loki syntax pairs) and `line` at ts 1000.
pub(crate) fn run(p: &Pipeline, labels: &[(&str, &str)], line: &str) -> Vec<PipelineEntry> {
    let mut out = Vec::new();
    let _ = p.process(
        PipelineEntry {
            labels: LabelSet::from_pairs(labels.iter().copied()).unwrap(),
            entry: Entry::new(1000, line.to_owned()),
            tenant: None,
        },
        &mut out,
    );
    out
}

/// `{labels} line` plus ` ts=N` when not 1000, ` tenant=T`, ` sm={k=v,...}`;
/// `dropped` for no output.
pub(crate) fn render(out: &[PipelineEntry]) -> String {
    let mut s = String::new();
    if out.is_empty() {
        return "dropped".to_owned();
    }
    for (i, e) in out.iter().enumerate() {
        if i > 0 {
            s.push_str(" | ");
        }
        let _ = write!(s, "{} {}", e.labels, String::from_utf8_lossy(&e.entry.line));
        if e.entry.timestamp_ns != 1000 {
            let _ = write!(s, " ts={}", e.entry.timestamp_ns);
        }
        if let Some(t) = &e.tenant {
            let _ = write!(s, " tenant={t}");
        }
        if !e.entry.structured_metadata.is_empty() {
            let sm: Vec<String> = e
                .entry
                .structured_metadata
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            let _ = write!(s, " sm={{{}}}", sm.join(","));
        }
    }
    s
}

/// One table row: stages YAML, input labels, input line, expected [`render`].
pub(crate) type Row<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str, &'a str);

/// Runs a table of [`Row`]s.
pub(crate) fn check_table(rows: &[Row<'_>]) {
    for (yaml, labels, line, want) in rows {
        let p = pipeline(yaml);
        let got = render(&run(&p, labels, line));
        assert_eq!(&got, want, "\nstages: {yaml}\nline: {line}");
    }
}
