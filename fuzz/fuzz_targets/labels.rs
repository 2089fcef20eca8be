//! Loki label syntax: any bytes either fail to parse or give a label set
//! whose canonical text parses back to the same set.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pushtail_proto::syntax::parse_labels;

fuzz_target!(|data: &[u8]| {
    if let Ok(set) = parse_labels(data) {
        let again = parse_labels(set.as_str().as_bytes())
            .unwrap_or_else(|e| panic!("canonical form {:?} does not parse: {e}", set.as_str()));
        assert_eq!(set, again);
    }
});
