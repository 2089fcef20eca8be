use serde::Deserialize;

use super::{lower, title, to_lower, to_title, to_upper, upper};

#[derive(Deserialize)]
struct Golden {
    unicode_version: String,
    strings: Vec<Strings>,
    runes: Vec<String>,
}

#[derive(Deserialize)]
struct Strings {
    #[serde(rename = "in")]
    input: String,
    upper: String,
    lower: String,
    title: String,
}

fn golden() -> Golden {
    let src = include_str!("testdata/case.json");
    serde_json::from_str(src).expect("testdata/case.json is valid")
}

fn rune(hex: &str) -> char {
    let n = u32::from_str_radix(hex, 16).expect("hex rune");
    char::from_u32(n).expect("valid rune")
}

#[test]
fn strings_match_go() {
    for s in golden().strings {
        assert_eq!(to_upper(&s.input), s.upper, "ToUpper({:?})", s.input);
        assert_eq!(to_lower(&s.input), s.lower, "ToLower({:?})", s.input);
        assert_eq!(to_title(&s.input), s.title, "ToTitle({:?})", s.input);
    }
}

#[test]
fn every_rune_go_maps_matches() {
    let g = golden();
    let mut wrong = Vec::new();
    for line in &g.runes {
        let r: Vec<char> = line.split(' ').map(rune).collect();
        let got = [upper(r[0]), lower(r[0]), title(r[0])];
        if got[..] != r[1..] {
            wrong.push(format!(
                "{line} got {:04X} {:04X} {:04X}",
                got[0] as u32, got[1] as u32, got[2] as u32
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} runes differ from Go (Unicode {}):\n{}",
        wrong.len(),
        g.unicode_version,
        wrong.join("\n")
    );
}

#[test]
fn unmapped_strings_are_borrowed() {
    assert!(matches!(to_upper("ABC 1"), std::borrow::Cow::Borrowed(_)));
    assert!(matches!(to_lower("straße"), std::borrow::Cow::Borrowed(_)));
}
