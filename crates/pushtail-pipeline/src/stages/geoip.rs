//! The `geoip` stage: looks the IP address in the extracted value `source`
//! up in a MaxMind database (`db`, of `db_type` `city` or `asn`) and sets
//! Promtail's `geoip_*` labels from the record.
//!
//! As Promtail: the values become labels (not extracted values); only
//! non-empty values are set; a source that is missing, not text or not an
//! IP address (Go's `net.ParseIP`, see [`crate::go::net`]), an address the
//! database does not hold, or a record that does not decode sets nothing.
//! Coordinates are printed as Go's `fmt.Sprint` prints a float64.
//!
//! The database file is read once, when the config is built (the one
//! exception to "stages never do I/O"); a file that cannot be read, is not
//! a MaxMind database, or does not hold `db_type` records is a config
//! error. A lookup allocates nothing but the label values it sets.

use std::fmt;
use std::net::IpAddr;

use maxminddb::Reader;
use serde::de::{Deserializer, SeqAccess, Visitor};
use serde::Deserialize;

use super::{check_source, BuildCtx, FieldError, Stage};
use crate::entry::StageEntry;
use crate::go;

#[cfg(test)]
mod testdb;
#[cfg(test)]
mod tests;

/// The `geoip` stage's config, as Promtail's `GeoIPConfig`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct GeoipConfig {
    /// Path of the MaxMind DB file.
    #[serde(default)]
    pub db: String,
    /// The extracted value holding the IP address. Without it the stage
    /// does nothing, as in Promtail.
    #[serde(default)]
    pub source: Option<String>,
    /// `city` or `asn`.
    #[serde(default)]
    pub db_type: String,
}

pub(crate) fn build(cfg: &GeoipConfig, _ctx: &BuildCtx) -> Result<Box<dyn Stage>, FieldError> {
    if cfg.db.is_empty() {
        return Err(FieldError::field("db", "db path cannot be empty"));
    }
    check_source(&cfg.source)?;
    let kind = match cfg.db_type.as_str() {
        "city" => DbKind::City,
        "asn" => DbKind::Asn,
        other => {
            return Err(FieldError::field(
                "db_type",
                format!("db type should be either city or asn, not {other:?}"),
            ))
        }
    };
    let reader = Reader::open_readfile(&cfg.db)
        .map_err(|e| FieldError::field("db", format!("cannot load {:?}: {e}", cfg.db)))?;
    let database_type = reader.metadata().database_type.as_str();
    let Some(holds) = holds(database_type) else {
        return Err(FieldError::field(
            "db",
            format!(
                "{:?}: unsupported database type {database_type:?} (not a GeoIP2, GeoLite2 or DB-IP database)",
                cfg.db
            ),
        ));
    };
    if !holds.contains(&kind) {
        return Err(FieldError::field(
            "db_type",
            format!(
                "{:?} is a {database_type} database, which has no {} records",
                cfg.db, cfg.db_type
            ),
        ));
    }
    Ok(Box::new(GeoipStage {
        reader,
        source: cfg.source.clone(),
        kind,
    }))
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum DbKind {
    City,
    Asn,
}

/// What a database of `database_type` can answer, as geoip2-golang (v2)
/// reads it: City lookups also work on Country and Enterprise databases,
/// ASN lookups on ISP ones. `None` for a type it refuses to open.
fn holds(database_type: &str) -> Option<&'static [DbKind]> {
    Some(match database_type {
        "DBIP-ASN-Lite (compat=GeoLite2-ASN)"
        | "GeoLite2-ASN"
        | "GeoIP2-ISP"
        | "GeoIP2-Precision-ISP" => &[DbKind::Asn],
        "DBIP-City-Lite"
        | "DBIP-Country-Lite"
        | "DBIP-Country"
        | "DBIP-Location (compat=City)"
        | "GeoLite2-City"
        | "GeoIP-City-Redacted-US"
        | "GeoIP2-City"
        | "GeoIP2-City-Africa"
        | "GeoIP2-City-Asia-Pacific"
        | "GeoIP2-City-Europe"
        | "GeoIP2-City-North-America"
        | "GeoIP2-City-South-America"
        | "GeoIP2-Precision-City"
        | "GeoLite2-Country"
        | "GeoIP2-Country"
        | "DBIP-ISP (compat=Enterprise)"
        | "DBIP-Location-ISP (compat=Enterprise)"
        | "GeoIP-Enterprise-Redacted-US"
        | "GeoIP2-Enterprise" => &[DbKind::City],
        "GeoIP-Anonymous-Plus"
        | "GeoIP2-Anonymous-IP"
        | "GeoIP2-Connection-Type"
        | "GeoIP2-Domain" => &[],
        _ => return None,
    })
}

struct GeoipStage {
    reader: Reader<Vec<u8>>,
    source: Option<String>,
    kind: DbKind,
}

impl Stage for GeoipStage {
    fn process(&self, e: &mut StageEntry) {
        let Some(source) = &self.source else {
            return;
        };
        // Promtail converts numbers and booleans to text first; none of
        // those parses as an address, so only strings matter.
        let Some(ip) = e
            .extracted()
            .get(source)
            .and_then(|v| v.as_str())
            .and_then(go::net::parse_ip)
        else {
            return;
        };
        match self.kind {
            DbKind::City => {
                if let Some(record) = self.decode::<CityRecord<'_>>(ip) {
                    record.set_labels(e);
                }
            }
            DbKind::Asn => {
                if let Some(record) = self.decode::<AsnRecord<'_>>(ip) {
                    record.set_labels(e);
                }
            }
        }
    }
}

impl GeoipStage {
    /// The record for `ip`; `None` when there is none or it does not
    /// decode (an IPv6 address in an IPv4 database, a malformed record:
    /// Promtail logs those and sets nothing).
    fn decode<'a, T: Deserialize<'a>>(&'a self, ip: IpAddr) -> Option<T> {
        self.reader.lookup(ip).ok()?.decode().ok().flatten()
    }
}

/// The parts of a City record Promtail reads, borrowed from the database.
#[derive(Deserialize)]
struct CityRecord<'a> {
    #[serde(borrow, default)]
    city: Named<'a>,
    #[serde(borrow, default)]
    country: Named<'a>,
    #[serde(borrow, default)]
    continent: Continent<'a>,
    #[serde(borrow, default)]
    postal: Postal<'a>,
    #[serde(borrow, default)]
    location: Location<'a>,
    /// The last (most specific) subdivision, without collecting the list.
    #[serde(borrow, default, deserialize_with = "last_subdivision")]
    subdivisions: Option<Subdivision<'a>>,
}

#[derive(Deserialize, Default)]
struct Names<'a> {
    #[serde(borrow, default)]
    en: Option<&'a str>,
}

#[derive(Deserialize, Default)]
struct Named<'a> {
    #[serde(borrow, default)]
    names: Names<'a>,
}

#[derive(Deserialize, Default)]
struct Continent<'a> {
    #[serde(borrow, default)]
    code: Option<&'a str>,
    #[serde(borrow, default)]
    names: Names<'a>,
}

#[derive(Deserialize, Default)]
struct Postal<'a> {
    #[serde(borrow, default)]
    code: Option<&'a str>,
}

#[derive(Deserialize, Default)]
struct Location<'a> {
    #[serde(default, deserialize_with = "float")]
    latitude: Option<f64>,
    #[serde(default, deserialize_with = "float")]
    longitude: Option<f64>,
    #[serde(borrow, default)]
    time_zone: Option<&'a str>,
}

#[derive(Deserialize, Default)]
struct Subdivision<'a> {
    #[serde(borrow, default)]
    iso_code: Option<&'a str>,
    #[serde(borrow, default)]
    names: Names<'a>,
}

/// Keeps the last element of the `subdivisions` array.
fn last_subdivision<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Subdivision<'de>>, D::Error> {
    struct Last;
    impl<'de> Visitor<'de> for Last {
        type Value = Option<Subdivision<'de>>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an array of subdivisions")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut last = None;
            while let Some(s) = seq.next_element()? {
                last = Some(s);
            }
            Ok(last)
        }
    }
    d.deserialize_seq(Last)
}

/// A double or a float, as Go's decoder reads either into a float64 (the
/// reader's own `f64` wants exactly a double).
fn float<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    struct Float;
    impl Visitor<'_> for Float {
        type Value = Option<f64>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a float")
        }
        fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
            Ok(Some(v))
        }
    }
    d.deserialize_any(Float)
}

/// Any unsigned integer, as Go's decoder reads each into a `uint` (the
/// reader's own `u64` wants exactly a uint64).
fn unsigned<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    struct Unsigned;
    impl Visitor<'_> for Unsigned {
        type Value = Option<u64>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an unsigned integer")
        }
        fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Some(v))
        }
    }
    d.deserialize_any(Unsigned)
}

/// Promtail's City labels.
const CITY_NAME: &str = "geoip_city_name";
const COUNTRY_NAME: &str = "geoip_country_name";
const CONTINENT_NAME: &str = "geoip_continent_name";
const CONTINENT_CODE: &str = "geoip_continent_code";
const LATITUDE: &str = "geoip_location_latitude";
const LONGITUDE: &str = "geoip_location_longitude";
const POSTAL_CODE: &str = "geoip_postal_code";
const TIMEZONE: &str = "geoip_timezone";
const SUBDIVISION_NAME: &str = "geoip_subdivision_name";
const SUBDIVISION_CODE: &str = "geoip_subdivision_code";
/// Promtail's ASN labels.
const AS_NUMBER: &str = "geoip_autonomous_system_number";
const AS_ORGANIZATION: &str = "geoip_autonomous_system_organization";

/// Sets `name` to `value` when there is a non-empty value, as Promtail does.
fn set_nonempty(e: &mut StageEntry, name: &str, value: Option<&str>) {
    if let Some(v) = value.filter(|v| !v.is_empty()) {
        e.set_label(name, v);
    }
}

impl CityRecord<'_> {
    fn set_labels(&self, e: &mut StageEntry) {
        set_nonempty(e, CITY_NAME, self.city.names.en);
        set_nonempty(e, COUNTRY_NAME, self.country.names.en);
        set_nonempty(e, CONTINENT_NAME, self.continent.names.en);
        set_nonempty(e, CONTINENT_CODE, self.continent.code);
        set_nonempty(e, POSTAL_CODE, self.postal.code);
        set_nonempty(e, TIMEZONE, self.location.time_zone);
        // Both or neither, as Promtail.
        if let (Some(lat), Some(lon)) = (self.location.latitude, self.location.longitude) {
            e.set_label(LATITUDE, &go::float::sprint(lat));
            e.set_label(LONGITUDE, &go::float::sprint(lon));
        }
        if let Some(sub) = &self.subdivisions {
            set_nonempty(e, SUBDIVISION_NAME, sub.names.en);
            set_nonempty(e, SUBDIVISION_CODE, sub.iso_code);
        }
    }
}

/// The parts of an ASN record Promtail reads.
#[derive(Deserialize)]
struct AsnRecord<'a> {
    #[serde(default, deserialize_with = "unsigned")]
    autonomous_system_number: Option<u64>,
    #[serde(borrow, default)]
    autonomous_system_organization: Option<&'a str>,
}

impl AsnRecord<'_> {
    fn set_labels(&self, e: &mut StageEntry) {
        if let Some(n) = self.autonomous_system_number.filter(|n| *n != 0) {
            e.set_label(AS_NUMBER, &n.to_string());
        }
        set_nonempty(e, AS_ORGANIZATION, self.autonomous_system_organization);
    }
}
