//! Go templates (the `template` stage, gotmpl with sprig and Promtail's
//! functions) on any line: the input's first line is the template, the
//! rest the log line, split by a `regex` stage into the fields `a`, `b` and
//! `rest` the template reads. Any template is a config error or a stage
//! that never panics and stays bounded, whatever the fields hold.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pushtail_pipeline::{Pipeline, PipelineEntry, StageConfig};
use pushtail_proto::labels::LabelSet;
use pushtail_proto::model::Entry;

fuzz_target!(|data: &[u8]| {
    let (template, line) = match data.iter().position(|b| *b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let Ok(template) = std::str::from_utf8(template) else {
        return;
    };
    let stages = serde_yaml::to_string(&serde_yaml::Value::Sequence(vec![
        stage(
            "regex",
            &[("expression", r"^(?P<a>\S*) ?(?P<b>\S*) ?(?P<rest>(?s:.*))$")],
        ),
        stage("template", &[("source", "out"), ("template", template)]),
        stage("output", &[("source", "out")]),
    ]))
    .expect("yaml");
    let Ok(stages) = serde_yaml::from_str::<Vec<StageConfig>>(&stages) else {
        return;
    };
    let Ok(p) = Pipeline::new(&stages) else {
        return;
    };
    let mut out = Vec::new();
    let _ = p.process(
        PipelineEntry {
            labels: LabelSet::from_pairs([("job", "fuzz")]).expect("labels"),
            entry: Entry::new(1_000, line.to_vec()),
            tenant: None,
        },
        &mut out,
    );
});

/// `{name: {key: value, ...}}` as YAML.
fn stage(name: &str, fields: &[(&str, &str)]) -> serde_yaml::Value {
    let body: serde_yaml::Mapping = fields
        .iter()
        .map(|(k, v)| ((*k).into(), (*v).into()))
        .collect();
    let mut stage = serde_yaml::Mapping::new();
    stage.insert(name.into(), body.into());
    stage.into()
}
