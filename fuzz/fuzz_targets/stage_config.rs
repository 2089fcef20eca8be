//! Stage configs: YAML bytes → typed stage list → pipeline → one entry
//! processed and flushed. Any config is an error or a pipeline that never
//! panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pushtail_pipeline::{Pipeline, PipelineEntry, StageConfig};
use pushtail_proto::labels::LabelSet;
use pushtail_proto::model::Entry;

const LINE: &str =
    r#"2026-01-02T03:04:05.678Z level=info msg="hello world" {"a":{"b":[1]},"level":"warn"}"#;

fuzz_target!(|data: &[u8]| {
    let Ok(stages) = serde_yaml::from_slice::<Vec<StageConfig>>(data) else {
        return;
    };
    let Ok(p) = Pipeline::new(&stages) else {
        return;
    };
    let mut out = Vec::new();
    for i in 0..2 {
        let _ = p.process(
            PipelineEntry {
                labels: LabelSet::from_pairs([("job", "fuzz"), ("app", "web")]).expect("labels"),
                entry: Entry::new(1_000 + i, LINE),
                tenant: None,
            },
            &mut out,
        );
    }
    p.flush(i64::MAX, true, &mut out);
});
