//! Cost of the `template` stage on a typical Promtail template, through the
//! whole pipeline (regex extraction, two templates, output). Run it on two
//! commits to compare template engines: `cargo bench -p pushtail-pipeline
//! --bench template`.

#![allow(clippy::unwrap_used)] // bench setup on constant inputs

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use pushtail_pipeline::{Pipeline, PipelineEntry, StageConfig};
use pushtail_proto::labels::LabelSet;
use pushtail_proto::model::Entry;

const STAGES: &str = r#"
- regex:
    expression: '^(?P<ts>\S+) (?P<level>\w+) (?P<app>\w+) (?P<msg>.*)$'
- template:
    source: level
    template: '{{ if eq .Value "WARN" }}{{ Replace .Value "WARN" "warning" -1 }}{{ else }}{{ ToLower .Value }}{{ end }}'
- template:
    source: out
    template: '{{ .app | ToUpper }} [{{ .level }}] {{ TrimSpace .msg }}'
- output:
    source: out
"#;

fn bench(c: &mut Criterion) {
    let stages: Vec<StageConfig> = serde_yaml::from_str(STAGES).unwrap();
    let pipeline = Pipeline::new(&stages).unwrap();
    let input = PipelineEntry {
        labels: LabelSet::from_pairs([("job", "app")]).unwrap(),
        entry: Entry {
            timestamp_ns: 1_700_000_000_000_000_000,
            line: "2024-01-02T03:04:05Z WARN checkout payment took 1503ms for order 42 ".into(),
            structured_metadata: Vec::new(),
        },
        tenant: None,
    };
    let mut out = Vec::with_capacity(1);
    c.bench_function("template_stage_typical", |b| {
        b.iter(|| {
            out.clear();
            let _ = pipeline.process(black_box(input.clone()), &mut out);
            black_box(&out);
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
