//! Go time layouts: any layout (from config) applied to any value (from a
//! line) through the timestamp stage. Input: `layout \0 value`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pushtail_pipeline::{Pipeline, PipelineEntry, StageConfig};
use pushtail_proto::labels::LabelSet;
use pushtail_proto::model::Entry;
use serde_yaml::{Mapping, Value};

/// One stage from its type and fields, built as a YAML value so that any
/// layout string needs no quoting.
fn stage(name: &str, pairs: &[(&str, Value)]) -> StageConfig {
    let mut body = Mapping::new();
    for (k, v) in pairs {
        body.insert(Value::from(*k), v.clone());
    }
    let mut stage = Mapping::new();
    stage.insert(Value::from(name), Value::Mapping(body));
    serde_yaml::from_value(Value::Mapping(stage)).expect("string fields of a known stage")
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (layout, value) = text.split_once('\0').unwrap_or((text, text));
    let stages = [
        stage("regex", &[("expression", Value::from("(?s)^(?P<ts>.*)$"))]),
        stage(
            "timestamp",
            &[
                ("source", Value::from("ts")),
                ("format", Value::from(layout)),
                ("location", Value::from("America/New_York")),
            ],
        ),
    ];
    let Ok(p) = Pipeline::new(&stages) else {
        return;
    };
    let mut out = Vec::new();
    let _ = p.process(
        PipelineEntry {
            labels: LabelSet::from_pairs([("job", "fuzz")]).expect("labels"),
            entry: Entry::new(1_000, value.to_owned()),
            tenant: None,
        },
        &mut out,
    );
});
