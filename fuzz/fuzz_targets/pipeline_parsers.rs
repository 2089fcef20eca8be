//! The pipeline's line parsers (cri, docker, logfmt, regex, json) on any
//! line, each followed by stages that use what they extracted (labels,
//! timestamp, output). The first byte picks the parser.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use pushtail_pipeline::{Pipeline, PipelineEntry, StageConfig};
use pushtail_proto::labels::LabelSet;
use pushtail_proto::model::Entry;

const PIPELINES: [&str; 6] = [
    "- cri: {}",
    "- docker: {}",
    "- logfmt: {mapping: {level: '', msg: '', ts: time}}\n- labels: {level: ''}\n- timestamp: {source: ts, format: RFC3339Nano, action_on_failure: skip}\n- output: {source: msg}",
    "- regex: {expression: '^(?P<ts>\\S+) (?P<level>\\w+) (?P<msg>.*)$'}\n- labels: {level: ''}\n- timestamp: {source: ts, format: '2006-01-02T15:04:05.000Z07:00'}",
    "- json: {expressions: {level: level, msg: message, ts: 'time', nested: 'a.b[0]'}}\n- labels: {level: ''}\n- timestamp: {source: ts, format: UnixMs}\n- output: {source: msg}",
    "- json: {expressions: {level: level}, drop_malformed: true}\n- labels: {level: ''}",
];

fn pipelines() -> &'static [Pipeline] {
    static P: OnceLock<Vec<Pipeline>> = OnceLock::new();
    P.get_or_init(|| {
        PIPELINES
            .iter()
            .map(|yaml| {
                let stages: Vec<StageConfig> = serde_yaml::from_str(yaml).expect("stage yaml");
                Pipeline::new(&stages).unwrap_or_else(|e| panic!("{yaml}: {e}"))
            })
            .collect()
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, line)) = data.split_first() else {
        return;
    };
    let pipelines = pipelines();
    let p = &pipelines[usize::from(selector) % pipelines.len()];
    let labels = LabelSet::from_pairs([("job", "fuzz")]).expect("labels");
    let mut out = Vec::new();
    let _ = p.process(
        PipelineEntry {
            labels,
            entry: Entry::new(1_000, line.to_vec()),
            tenant: None,
        },
        &mut out,
    );
    p.flush(i64::MAX, true, &mut out);
});
