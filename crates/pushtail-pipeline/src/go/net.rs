//! Go's `net.ParseIP`, as Promtail's `geoip` stage reads its source: a
//! dotted IPv4 address (no leading zeros) or an IPv6 address (no zone, no
//! brackets, an IPv4 tail allowed). Go keeps every address in 16 bytes, so
//! `1.2.3.4` and `::ffff:1.2.3.4` are the same address; here both are
//! [`IpAddr::V4`], which a MaxMind reader looks up in its IPv4 tree. The
//! golden table `testdata/parse_ip.json` was written by real Go.

use std::net::IpAddr;

/// `net.ParseIP(s)`; `None` where Go returns nil.
pub(crate) fn parse_ip(s: &str) -> Option<IpAddr> {
    // std's parsers accept exactly Go's syntax (checked by the golden
    // table); the only difference is the IPv4-mapped form.
    s.parse::<IpAddr>().ok().map(|ip| ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use std::fmt::Write;
    use std::net::IpAddr;

    use serde::Deserialize;

    #[derive(Deserialize)]
    struct Case {
        input: String,
        output: String,
    }

    fn hex16(ip: IpAddr) -> String {
        let bytes = match ip {
            IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
            IpAddr::V6(v6) => v6.octets(),
        };
        bytes.iter().fold(String::new(), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
    }

    /// Every row of the table real Go produced (`xtask/golden/stages`).
    #[test]
    fn matches_go_parse_ip() {
        let cases: Vec<Case> =
            serde_json::from_str(include_str!("testdata/parse_ip.json")).unwrap();
        assert!(cases.len() > 40);
        for c in cases {
            let got = super::parse_ip(&c.input).map(hex16).unwrap_or_default();
            assert_eq!(got, c.output, "{:?}", c.input);
        }
    }

    #[test]
    fn ipv4_mapped_is_ipv4() {
        assert_eq!(
            super::parse_ip("::ffff:1.2.3.4"),
            Some(IpAddr::from([1, 2, 3, 4]))
        );
        assert!(matches!(super::parse_ip("::1.2.3.4"), Some(IpAddr::V6(_))));
    }
}
