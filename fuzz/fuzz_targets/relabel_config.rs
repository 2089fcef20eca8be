//! Relabel configs: YAML bytes → configs → rules → applied to a label set.
//! Whatever a config says, building is an error or rules, and applying them
//! never panics and leaves valid labels.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pushtail_pipeline::relabel::{RelabelConfig, RelabelRules};
use pushtail_proto::labels::{is_valid_label_name, LabelSet};

fuzz_target!(|data: &[u8]| {
    let Ok(configs) = serde_yaml::from_slice::<Vec<RelabelConfig>>(data) else {
        return;
    };
    let Ok(rules) = RelabelRules::new(configs) else {
        return;
    };
    let labels = LabelSet::from_pairs([
        ("__meta_x", "abc"),
        ("job", "fuzz"),
        ("instance", "host:9090"),
        ("__address__", "10.0.0.1:80"),
    ])
    .expect("labels");
    let mut b = labels.to_builder();
    if rules.apply(&mut b) {
        if let Ok(out) = b.build() {
            for (name, _) in out.iter() {
                assert!(is_valid_label_name(name), "{name:?}");
            }
        }
    }
});
