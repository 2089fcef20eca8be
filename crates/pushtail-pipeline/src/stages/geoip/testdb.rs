//! A small MaxMind DB writer for the `geoip` tests (there is no Rust
//! writer crate). It writes the documented format (MaxMind DB File Format
//! Specification 2.0): a binary search tree over the address bits, a
//! 16-byte zero separator, the data section, then `\xAB\xCD\xEFMaxMind.com`
//! and the metadata map. IPv4 networks in an IPv6 database sit under
//! `::/96`, where readers look for them. No pointers, no deduplication:
//! each network gets its own copy of its record.

use std::net::IpAddr;

/// A value in the data section.
#[derive(Debug, Clone)]
pub(crate) enum V {
    Str(&'static str),
    U16(u16),
    U32(u32),
    U64(u64),
    F64(f64),
    Bool(bool),
    Array(Vec<V>),
    Map(Vec<(&'static str, V)>),
}

/// One child of a tree node.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Rec {
    Empty,
    Node(usize),
    /// Offset in the data section.
    Data(usize),
}

/// A database being built.
pub(crate) struct Writer {
    ip_version: u16,
    record_size: u16,
    database_type: &'static str,
    nodes: Vec<[Rec; 2]>,
    data: Vec<u8>,
}

impl Writer {
    /// `ip_version` 4 or 6, `record_size` 24, 28 or 32.
    pub(crate) fn new(ip_version: u16, record_size: u16, database_type: &'static str) -> Self {
        Writer {
            ip_version,
            record_size,
            database_type,
            nodes: vec![[Rec::Empty; 2]],
            data: Vec::new(),
        }
    }

    /// Maps `network` (`1.2.3.0/24`, `2001:db8::/32`) to `value`.
    /// Networks must not overlap.
    pub(crate) fn insert(&mut self, network: &str, value: &V) {
        let (addr, len) = network.split_once('/').expect("network/len");
        let addr: IpAddr = addr.parse().expect("network address");
        let mut len: usize = len.parse().expect("prefix length");
        let bits: Vec<bool> = match (addr, self.ip_version) {
            (IpAddr::V4(v4), 4) => octet_bits(&v4.octets()),
            (IpAddr::V4(v4), _) => {
                len += 96;
                octet_bits(&v4.to_ipv6_compatible().octets())
            }
            (IpAddr::V6(v6), 6) => octet_bits(&v6.octets()),
            (IpAddr::V6(_), _) => panic!("IPv6 network in an IPv4 database"),
        };
        assert!(len >= 1 && len <= bits.len(), "prefix length of {network}");
        let offset = self.data.len();
        encode(&mut self.data, value);
        let mut node = 0;
        for (depth, &bit) in bits[..len].iter().enumerate() {
            let side = usize::from(bit);
            if depth + 1 == len {
                assert_eq!(self.nodes[node][side], Rec::Empty, "{network} overlaps");
                self.nodes[node][side] = Rec::Data(offset);
                break;
            }
            node = match self.nodes[node][side] {
                Rec::Node(next) => next,
                Rec::Empty => {
                    self.nodes.push([Rec::Empty; 2]);
                    let next = self.nodes.len() - 1;
                    self.nodes[node][side] = Rec::Node(next);
                    next
                }
                Rec::Data(_) => panic!("{network} overlaps"),
            };
        }
    }

    /// The database file's bytes.
    pub(crate) fn finish(&self) -> Vec<u8> {
        let node_count = self.nodes.len();
        let mut out = Vec::new();
        for [left, right] in &self.nodes {
            let (l, r) = (self.record(*left), self.record(*right));
            match self.record_size {
                24 => {
                    out.extend_from_slice(&l.to_be_bytes()[1..]);
                    out.extend_from_slice(&r.to_be_bytes()[1..]);
                }
                28 => {
                    // The middle byte: the left record's top nibble, then
                    // the right record's.
                    out.extend_from_slice(&l.to_be_bytes()[1..]);
                    out.push((((l >> 24) & 0x0f) << 4) as u8 | ((r >> 24) & 0x0f) as u8);
                    out.extend_from_slice(&r.to_be_bytes()[1..]);
                }
                32 => {
                    out.extend_from_slice(&l.to_be_bytes());
                    out.extend_from_slice(&r.to_be_bytes());
                }
                other => panic!("record size {other}"),
            }
        }
        assert_eq!(out.len(), node_count * usize::from(self.record_size) / 4);
        out.extend_from_slice(&[0; 16]);
        out.extend_from_slice(&self.data);
        out.extend_from_slice(b"\xAB\xCD\xEFMaxMind.com");
        let node_count = u32::try_from(node_count).expect("node count");
        encode(
            &mut out,
            &V::Map(vec![
                ("node_count", V::U32(node_count)),
                ("record_size", V::U16(self.record_size)),
                ("ip_version", V::U16(self.ip_version)),
                ("database_type", V::Str(self.database_type)),
                ("languages", V::Array(vec![V::Str("en")])),
                ("binary_format_major_version", V::U16(2)),
                ("binary_format_minor_version", V::U16(0)),
                ("build_epoch", V::U64(1_700_000_000)),
                (
                    "description",
                    V::Map(vec![("en", V::Str("pushtail geoip test database"))]),
                ),
            ]),
        );
        out
    }

    /// A child's record value: a node number, `node_count` for empty, or
    /// past it for data (`node_count + 16 + offset`).
    fn record(&self, rec: Rec) -> u32 {
        let node_count = self.nodes.len();
        let value = match rec {
            Rec::Empty => node_count,
            Rec::Node(n) => n,
            Rec::Data(offset) => node_count + 16 + offset,
        };
        let value = u32::try_from(value).expect("record value");
        assert!(
            u64::from(value) < 1 << self.record_size,
            "record too big for {} bits",
            self.record_size
        );
        value
    }
}

fn octet_bits(octets: &[u8]) -> Vec<bool> {
    octets
        .iter()
        .flat_map(|b| (0..8).rev().map(move |i| b >> i & 1 == 1))
        .collect()
}

/// Type numbers of the format.
const STRING: u8 = 2;
const DOUBLE: u8 = 3;
const UINT16: u8 = 5;
const UINT32: u8 = 6;
const MAP: u8 = 7;
const UINT64: u8 = 9;
const ARRAY: u8 = 11;
const BOOLEAN: u8 = 14;

/// Appends a control byte (with the extended type byte for types past 7
/// and the size's extra bytes).
fn control(out: &mut Vec<u8>, ty: u8, size: usize) {
    let (size_bits, extra): (u8, Vec<u8>) = match size {
        0..=28 => (size as u8, vec![]),
        29..=284 => (29, vec![(size - 29) as u8]),
        285..=65_820 => (30, ((size - 285) as u16).to_be_bytes().to_vec()),
        _ => (31, ((size - 65_821) as u32).to_be_bytes()[1..].to_vec()),
    };
    if ty <= 7 {
        out.push(ty << 5 | size_bits);
    } else {
        out.push(size_bits);
        out.push(ty - 7);
    }
    out.extend_from_slice(&extra);
}

/// Appends an unsigned integer in as few big-endian bytes as it needs.
fn uint(out: &mut Vec<u8>, ty: u8, v: u64) {
    let bytes = v.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    control(out, ty, 8 - skip);
    out.extend_from_slice(&bytes[skip..]);
}

fn encode(out: &mut Vec<u8>, v: &V) {
    match v {
        V::Str(s) => {
            control(out, STRING, s.len());
            out.extend_from_slice(s.as_bytes());
        }
        V::U16(n) => uint(out, UINT16, u64::from(*n)),
        V::U32(n) => uint(out, UINT32, u64::from(*n)),
        V::U64(n) => uint(out, UINT64, *n),
        V::F64(f) => {
            control(out, DOUBLE, 8);
            out.extend_from_slice(&f.to_be_bytes());
        }
        V::Bool(b) => control(out, BOOLEAN, usize::from(*b)),
        V::Array(items) => {
            control(out, ARRAY, items.len());
            for item in items {
                encode(out, item);
            }
        }
        V::Map(pairs) => {
            control(out, MAP, pairs.len());
            for (k, v) in pairs {
                encode(out, &V::Str(k));
                encode(out, v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::net::IpAddr;

    use super::{Writer, V};

    /// The reader accepts what the writer writes, for every record size and
    /// IP version, including a string long enough for the extended size.
    #[test]
    fn maxminddb_reads_what_the_writer_writes() {
        let long: &'static str = Box::leak("x".repeat(300).into_boxed_str());
        for (ip_version, record_size) in [(4, 24), (4, 28), (4, 32), (6, 24), (6, 28), (6, 32)] {
            let mut w = Writer::new(ip_version, record_size, "Test");
            w.insert(
                "10.0.0.0/8",
                &V::Map(vec![("n", V::U32(7)), ("s", V::Str(long))]),
            );
            w.insert("192.168.1.0/24", &V::Map(vec![("ok", V::Bool(true))]));
            if ip_version == 6 {
                w.insert("2001:db8::/32", &V::Map(vec![("f", V::F64(-1.5))]));
            }
            let reader = maxminddb::Reader::from_source(w.finish()).unwrap();
            reader.verify().unwrap();
            let md = reader.metadata();
            assert_eq!((md.ip_version, md.record_size), (ip_version, record_size));
            assert_eq!(md.database_type, "Test");

            let get = |ip: &str| {
                let ip: IpAddr = ip.parse().unwrap();
                reader
                    .lookup(ip)
                    .unwrap()
                    .decode::<BTreeMap<String, serde_json::Value>>()
                    .unwrap()
            };
            let ten = get("10.1.2.3").unwrap();
            assert_eq!(ten["n"], 7);
            assert_eq!(ten["s"].as_str().map(str::len), Some(300));
            assert_eq!(get("192.168.1.200").unwrap()["ok"], true);
            assert_eq!(get("192.168.2.1"), None);
            assert_eq!(get("11.0.0.0"), None);
            if ip_version == 6 {
                assert_eq!(get("2001:db8:1::1").unwrap()["f"], -1.5);
                assert_eq!(get("2001:db9::1"), None);
            }
        }
    }
}
