//! The raw and plaintext endpoints' parsers: line splitting, `push/name/value`
//! paths and the `?timestamp=` parameter. The first byte picks the parser.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use pushtail_proto::labels::is_valid_label_name;
use pushtail_receiver::fuzzing;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    match selector % 3 {
        0 => {
            let body = Bytes::copy_from_slice(rest);
            let lines = fuzzing::split_lines(&body);
            for line in &lines {
                assert!(!line.is_empty());
                assert!(!line.contains(&b'\n'));
                assert_ne!(line.last(), Some(&b'\r'));
            }
            let kept: usize = lines.iter().map(|l| l.len()).sum();
            assert!(kept <= rest.len());
        }
        1 => {
            let Ok(path) = std::str::from_utf8(rest) else {
                return;
            };
            if let Some(pairs) = fuzzing::parse_plain_path(path) {
                for (name, _) in &pairs {
                    assert!(is_valid_label_name(name), "{name:?} from {path:?}");
                }
            }
        }
        _ => {
            let Ok(query) = std::str::from_utf8(rest) else {
                return;
            };
            let _ = fuzzing::parse_timestamp_query(Some(query));
        }
    }
});
