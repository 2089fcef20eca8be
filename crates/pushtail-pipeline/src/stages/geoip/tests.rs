use std::path::Path;

use super::testdb::{Writer, V};
use crate::stages::testing::{check_table, config_error, Row};

/// A City database: a full record, an IPv6 one, records with parts
/// missing, and a malformed one.
fn city_db() -> Vec<u8> {
    let names = |en: &'static str| V::Map(vec![("de", V::Str("x")), ("en", V::Str(en))]);
    let mut w = Writer::new(6, 28, "GeoLite2-City");
    w.insert(
        "81.2.69.0/24",
        &V::Map(vec![
            (
                "city",
                V::Map(vec![
                    ("geoname_id", V::U32(2643743)),
                    ("names", names("London")),
                ]),
            ),
            (
                "continent",
                V::Map(vec![("code", V::Str("EU")), ("names", names("Europe"))]),
            ),
            (
                "country",
                V::Map(vec![
                    ("iso_code", V::Str("GB")),
                    ("is_in_european_union", V::Bool(false)),
                    ("names", names("United Kingdom")),
                ]),
            ),
            (
                "location",
                V::Map(vec![
                    ("accuracy_radius", V::U16(10)),
                    ("latitude", V::F64(51.5142)),
                    ("longitude", V::F64(-0.0931)),
                    ("time_zone", V::Str("Europe/London")),
                ]),
            ),
            ("postal", V::Map(vec![("code", V::Str("EC1A"))])),
            (
                "registered_country",
                V::Map(vec![("iso_code", V::Str("GB"))]),
            ),
            (
                "subdivisions",
                V::Array(vec![
                    V::Map(vec![
                        ("iso_code", V::Str("ENG")),
                        ("names", names("England")),
                    ]),
                    V::Map(vec![
                        ("iso_code", V::Str("ISL")),
                        ("names", names("Islington")),
                    ]),
                ]),
            ),
        ]),
    );
    // IPv6; a coordinate Go prints with an exponent; no names for the
    // continent, no time zone.
    w.insert(
        "2001:db8::/32",
        &V::Map(vec![
            ("continent", V::Map(vec![("code", V::Str("AN"))])),
            ("country", V::Map(vec![("names", names("Testland"))])),
            (
                "location",
                V::Map(vec![
                    ("latitude", V::F64(0.00005)),
                    ("longitude", V::F64(120.0)),
                ]),
            ),
        ]),
    );
    // Only empty or half values: a latitude without a longitude, an empty
    // name, an empty subdivision list.
    w.insert(
        "10.0.0.0/8",
        &V::Map(vec![
            ("city", V::Map(vec![("names", names(""))])),
            ("location", V::Map(vec![("latitude", V::F64(1.5))])),
            ("subdivisions", V::Array(vec![])),
        ]),
    );
    // A name that is not a string: the record does not decode.
    w.insert(
        "172.16.0.0/12",
        &V::Map(vec![
            (
                "city",
                V::Map(vec![("names", V::Map(vec![("en", V::U32(7))]))]),
            ),
            ("country", V::Map(vec![("names", names("Brokenland"))])),
        ]),
    );
    w.insert(
        "192.0.2.0/24",
        &V::Map(vec![("city", V::Map(vec![("names", names("Example"))]))]),
    );
    w.finish()
}

/// An IPv4-only ASN database with 24-bit records.
fn asn_db() -> Vec<u8> {
    let asn = |n: u32, org: &'static str| {
        V::Map(vec![
            ("autonomous_system_number", V::U32(n)),
            ("autonomous_system_organization", V::Str(org)),
        ])
    };
    let mut w = Writer::new(4, 24, "GeoLite2-ASN");
    w.insert("1.0.0.0/24", &asn(13335, "Cloudflare, Inc."));
    w.insert("8.8.8.0/24", &asn(15169, "Google LLC"));
    w.insert("9.9.9.0/24", &asn(0, ""));
    // A number stored as uint16 still reads, as in Go.
    w.insert(
        "5.5.5.0/24",
        &V::Map(vec![("autonomous_system_number", V::U16(64512))]),
    );
    w.finish()
}

/// The test databases in a temporary directory.
struct Dbs {
    dir: tempfile::TempDir,
}

impl Dbs {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("city.mmdb"), city_db()).unwrap();
        std::fs::write(dir.path().join("asn.mmdb"), asn_db()).unwrap();
        let mut odd = Writer::new(6, 24, "Acme-Custom-Thing");
        odd.insert("1.0.0.0/8", &V::Map(vec![]));
        std::fs::write(dir.path().join("odd.mmdb"), odd.finish()).unwrap();
        std::fs::write(dir.path().join("garbage.mmdb"), b"not a maxmind database").unwrap();
        Dbs { dir }
    }

    fn path(&self, name: &str) -> String {
        let p: &Path = self.dir.path();
        p.join(name).to_str().unwrap().to_owned()
    }

    /// A regex stage extracting `ip` from the line's first word, then geoip.
    fn stages(&self, db: &str, db_type: &str) -> String {
        format!(
            "- regex: {{expression: '^(?P<ip>\\S+)'}}\n- geoip: {{db: '{}', source: ip, db_type: {db_type}}}",
            self.path(db)
        )
    }
}

const LONDON: &str = r#"geoip_city_name="London", geoip_continent_code="EU", geoip_continent_name="Europe", geoip_country_name="United Kingdom", geoip_location_latitude="51.5142", geoip_location_longitude="-0.0931", geoip_postal_code="EC1A", geoip_subdivision_code="ISL", geoip_subdivision_name="Islington", geoip_timezone="Europe/London""#;

#[test]
fn city_table() {
    let dbs = Dbs::new();
    let p = dbs.stages("city.mmdb", "city");
    let london = format!("{{{LONDON}}} 81.2.69.160 GET /");
    let mapped = format!("{{{LONDON}}} ::ffff:81.2.69.160 x");
    let overwritten = format!("{{{LONDON}}} 81.2.69.1 x");
    let rows: &[Row<'_>] = &[
        (&p, &[], "81.2.69.160 GET /", &london),
        // Go's net.ParseIP makes no difference between the two.
        (&p, &[], "::ffff:81.2.69.160 x", &mapped),
        // Labels the stage sets replace existing ones.
        (
            &p,
            &[("geoip_city_name", "old")],
            "81.2.69.1 x",
            &overwritten,
        ),
        (
            &p,
            &[],
            "2001:db8::5 x",
            r#"{geoip_continent_code="AN", geoip_country_name="Testland", geoip_location_latitude="5e-05", geoip_location_longitude="120"} 2001:db8::5 x"#,
        ),
        (
            &p,
            &[],
            "192.0.2.1 x",
            r#"{geoip_city_name="Example"} 192.0.2.1 x"#,
        ),
        // Empty and half values set nothing.
        (&p, &[], "10.1.2.3 x", "{} 10.1.2.3 x"),
        // A record that does not decode sets nothing at all.
        (&p, &[], "172.16.0.1 x", "{} 172.16.0.1 x"),
        // Not in the database.
        (&p, &[], "203.0.113.9 x", "{} 203.0.113.9 x"),
        (&p, &[], "2001:db9::1 x", "{} 2001:db9::1 x"),
        // Not an address, as net.ParseIP sees it.
        (&p, &[], "not-an-ip x", "{} not-an-ip x"),
        (&p, &[], "81.2.69.0160 x", "{} 81.2.69.0160 x"),
        (&p, &[], "81.2.69.160:443 x", "{} 81.2.69.160:443 x"),
        (&p, &[], "[2001:db8::5] x", "{} [2001:db8::5] x"),
    ];
    check_table(rows);
}

#[test]
fn asn_table() {
    let dbs = Dbs::new();
    let p = dbs.stages("asn.mmdb", "asn");
    let rows: &[Row<'_>] = &[
        (
            &p,
            &[],
            "1.0.0.1 x",
            r#"{geoip_autonomous_system_number="13335", geoip_autonomous_system_organization="Cloudflare, Inc."} 1.0.0.1 x"#,
        ),
        (
            &p,
            &[],
            "::ffff:8.8.8.8 x",
            r#"{geoip_autonomous_system_number="15169", geoip_autonomous_system_organization="Google LLC"} ::ffff:8.8.8.8 x"#,
        ),
        (
            &p,
            &[],
            "5.5.5.5 x",
            r#"{geoip_autonomous_system_number="64512"} 5.5.5.5 x"#,
        ),
        // Number 0 and an empty organisation are not set.
        (&p, &[], "9.9.9.9 x", "{} 9.9.9.9 x"),
        (&p, &[], "4.4.4.4 x", "{} 4.4.4.4 x"),
        // An IPv6 address in an IPv4-only database: nothing, no panic.
        (&p, &[], "2001:db8::1 x", "{} 2001:db8::1 x"),
    ];
    check_table(rows);
}

#[test]
fn source_table() {
    let dbs = Dbs::new();
    let db = dbs.path("asn.mmdb");
    let from_label = format!("- geoip: {{db: '{db}', source: addr, db_type: asn}}");
    let missing = format!("- geoip: {{db: '{db}', source: nope, db_type: asn}}");
    let no_source = format!("- geoip: {{db: '{db}', db_type: asn}}");
    let number = format!(
        "- json: {{expressions: {{addr: n}}}}\n- geoip: {{db: '{db}', source: addr, db_type: asn}}"
    );
    let rows: &[Row<'_>] = &[
        // The extracted map starts with the labels.
        (
            &from_label,
            &[("addr", "8.8.8.8")],
            "x",
            r#"{addr="8.8.8.8", geoip_autonomous_system_number="15169", geoip_autonomous_system_organization="Google LLC"} x"#,
        ),
        // A source that is not extracted.
        (
            &missing,
            &[("addr", "8.8.8.8")],
            "x",
            r#"{addr="8.8.8.8"} x"#,
        ),
        // No source at all: Promtail does not read the line; nothing happens.
        (&no_source, &[], "8.8.8.8", "{} 8.8.8.8"),
        // Not text.
        (&number, &[], r#"{"n": 8}"#, r#"{} {"n": 8}"#),
        (
            &number,
            &[],
            r#"{"n": ["8.8.8.8"]}"#,
            r#"{} {"n": ["8.8.8.8"]}"#,
        ),
        (&number, &[], r#"{"n": null}"#, r#"{} {"n": null}"#),
    ];
    check_table(rows);
}

#[test]
fn config_errors() {
    let dbs = Dbs::new();
    let city = dbs.path("city.mmdb");
    let asn = dbs.path("asn.mmdb");
    let missing = dbs.path("missing.mmdb");
    let garbage = dbs.path("garbage.mmdb");
    let odd = dbs.path("odd.mmdb");
    let cases = [
        (
            "- geoip: {source: ip, db_type: city}".to_owned(),
            r#"pipeline_stages[0] (geoip): field "db": db path cannot be empty"#.to_owned(),
        ),
        (
            format!("- geoip: {{db: '{city}', source: '', db_type: city}}"),
            r#"pipeline_stages[0] (geoip): field "source": empty source"#.to_owned(),
        ),
        (
            format!("- geoip: {{db: '{city}', source: ip}}"),
            r#"pipeline_stages[0] (geoip): field "db_type": db type should be either city or asn, not """#.to_owned(),
        ),
        (
            format!("- geoip: {{db: '{city}', source: ip, db_type: country}}"),
            r#"pipeline_stages[0] (geoip): field "db_type": db type should be either city or asn, not "country""#.to_owned(),
        ),
        (
            format!("- geoip: {{db: '{missing}', source: ip, db_type: city}}"),
            format!(r#"pipeline_stages[0] (geoip): field "db": cannot load "{missing}": i/o error: "#),
        ),
        (
            format!("- geoip: {{db: '{garbage}', source: ip, db_type: city}}"),
            format!(r#"pipeline_stages[0] (geoip): field "db": cannot load "{garbage}": invalid database"#),
        ),
        (
            format!("- geoip: {{db: '{odd}', source: ip, db_type: city}}"),
            format!(r#"pipeline_stages[0] (geoip): field "db": "{odd}": unsupported database type "Acme-Custom-Thing""#),
        ),
        (
            format!("- geoip: {{db: '{asn}', source: ip, db_type: city}}"),
            format!(r#"pipeline_stages[0] (geoip): field "db_type": "{asn}" is a GeoLite2-ASN database, which has no city records"#),
        ),
        (
            format!("- geoip: {{db: '{city}', source: ip, db_type: asn}}"),
            format!(r#"pipeline_stages[0] (geoip): field "db_type": "{city}" is a GeoLite2-City database, which has no asn records"#),
        ),
    ];
    for (yaml, want) in cases {
        let got = config_error(&yaml);
        assert!(got.starts_with(&want), "{yaml}\n got: {got}\nwant: {want}");
    }
    // Nested in `match`, the path says where.
    let nested = format!(
        "- match: {{selector: '{{a=\"b\"}}', stages: [{{geoip: {{db: '{missing}', source: ip, db_type: asn}}}}]}}"
    );
    assert!(
        config_error(&nested).starts_with(r#"pipeline_stages[0].stages[0] (geoip): field "db""#),
        "{}",
        config_error(&nested)
    );
}

/// The stage builds from its typed config directly.
#[test]
fn build_from_typed_config() {
    let dbs = Dbs::new();
    let cfg = super::GeoipConfig {
        db: dbs.path("asn.mmdb"),
        source: Some("ip".to_owned()),
        db_type: "asn".to_owned(),
    };
    let ctx = crate::stages::BuildCtx {
        path: "pipeline_stages[0]".to_owned(),
    };
    let stage = super::build(&cfg, &ctx).unwrap();
    let mut e = crate::entry::StageEntry::from_parts(&[("ip", "1.0.0.9")], "x", 1);
    stage.process(&mut e);
    assert_eq!(
        e.label("geoip_autonomous_system_organization"),
        Some("Cloudflare, Inc.")
    );
}
