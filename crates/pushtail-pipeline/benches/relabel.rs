//! Cost of one `RelabelRules::apply` on a typical label set (the receiver
//! caches results per distinct label set; this measures a cache miss).

#![allow(clippy::unwrap_used)] // bench setup on constant inputs

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use pushtail_pipeline::relabel::{RelabelConfig, RelabelRules};
use pushtail_proto::labels::LabelSet;

const RULES: &str = r#"
- source_labels: [__tenant_id__]
  target_label: tenant
- source_labels: [app, env]
  separator: "-"
  regex: "(.+)-(prod|dev)"
  target_label: app_env
  replacement: "${1}_${2}"
- action: labelmap
  regex: "__meta_(.+)"
- action: labeldrop
  regex: "pod_template_hash|controller_revision_hash"
- source_labels: [level]
  regex: debug
  action: drop
- source_labels: [host]
  modulus: 8
  target_label: shard
  action: hashmod
"#;

fn bench(c: &mut Criterion) {
    let configs: Vec<RelabelConfig> = serde_yaml::from_str(RULES).unwrap();
    let rules = RelabelRules::new(configs).unwrap();
    let set = LabelSet::from_pairs([
        ("__tenant_id__", "team-a"),
        ("__meta_zone", "eu-west-1"),
        ("app", "checkout"),
        ("env", "prod"),
        ("host", "node-17"),
        ("level", "info"),
        ("pod_template_hash", "abc123"),
    ])
    .unwrap();
    c.bench_function("relabel_apply_6_rules", |b| {
        b.iter(|| {
            let mut lb = set.to_builder();
            let kept = rules.apply(&mut lb);
            black_box((kept, lb))
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
