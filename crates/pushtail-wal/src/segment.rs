//! Segment files: naming, listing, and reading records back with their
//! checksums verified.
//!
//! A segment is named by the log position of its first byte
//! (`00000000000000000000.wal`), starts with an 8-byte magic, and holds
//! framed records (see `record.rs`) back to back. The position of a byte is
//! its segment's start plus its offset in the file, so positions grow
//! across segments and one `u64` says where a reader is.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use bytes::{Bytes, BytesMut};

use crate::record::{checksum, parse_header, HEADER};

/// The first bytes of every segment: format name and version.
pub(crate) const MAGIC: &[u8; 8] = b"PTWAL\0\0\x01";

pub(crate) const SUFFIX: &str = ".wal";

pub(crate) fn file_name(start: u64) -> String {
    format!("{start:020}{SUFFIX}")
}

/// A segment on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SegmentFile {
    pub start: u64,
    pub path: PathBuf,
    pub len: u64,
}

/// The segments in `dir`, oldest first. Other files are left alone.
pub(crate) fn list(dir: &Path) -> io::Result<Vec<SegmentFile>> {
    let mut found = Vec::new();
    for item in std::fs::read_dir(dir)? {
        let item = item?;
        let name = item.file_name();
        let Some(start) = name
            .to_str()
            .and_then(|n| n.strip_suffix(SUFFIX))
            .filter(|n| n.len() == 20)
            .and_then(|n| n.parse::<u64>().ok())
        else {
            continue;
        };
        found.push(SegmentFile {
            start,
            path: item.path(),
            len: item.metadata()?.len(),
        });
    }
    found.sort_by_key(|s| s.start);
    Ok(found)
}

/// What reading the next record found.
#[derive(Debug)]
pub(crate) enum Next {
    /// A record whose checksum matched; `len` is its whole frame.
    Record { payload: Bytes, len: u64 },
    /// The clean end of what is there: no bytes at all after the last record.
    End,
    /// Something that is not a whole, intact record starts here.
    Bad(BadRecord),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BadRecord {
    /// Fewer bytes than the frame says (a torn write).
    Torn,
    /// The checksum does not match (a flipped bit, or garbage).
    Checksum,
}

impl BadRecord {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            BadRecord::Torn => "torn record",
            BadRecord::Checksum => "checksum mismatch",
        }
    }
}

/// Reads records of one segment in order.
pub(crate) struct SegmentReader {
    file: BufReader<File>,
    /// Offset in the file of the next record.
    offset: u64,
    /// File length when opened or last refreshed: no length field is
    /// trusted beyond it.
    file_len: u64,
}

impl SegmentReader {
    /// Opens `path` at `offset` (past the magic when 0 or less). A file
    /// whose magic is wrong reads as one bad record.
    pub(crate) fn open(path: &Path, offset: u64) -> io::Result<(SegmentReader, bool)> {
        let mut file = File::open(path)?;
        let file_len = file.metadata()?.len();
        let mut magic = [0u8; 8];
        let magic_ok = file_len >= MAGIC.len() as u64
            && file.read_exact(&mut magic).is_ok()
            && &magic == MAGIC;
        let offset = offset.max(MAGIC.len() as u64);
        file.seek(SeekFrom::Start(offset))?;
        Ok((
            SegmentReader {
                file: BufReader::with_capacity(256 * 1024, file),
                offset,
                file_len,
            },
            magic_ok,
        ))
    }

    pub(crate) fn offset(&self) -> u64 {
        self.offset
    }

    /// Reads the file length again (the writer may have appended).
    pub(crate) fn refresh_len(&mut self) -> io::Result<()> {
        self.file_len = self.file.get_ref().metadata()?.len();
        Ok(())
    }

    /// The next record, without reading past `limit` (a file offset).
    pub(crate) fn next(&mut self, limit: u64) -> io::Result<Next> {
        let limit = limit.min(self.file_len);
        let left = limit.saturating_sub(self.offset);
        if left == 0 {
            return Ok(Next::End);
        }
        if left < HEADER as u64 {
            return Ok(Next::Bad(BadRecord::Torn));
        }
        let mut header = [0u8; HEADER];
        self.file.read_exact(&mut header)?;
        let (len, crc) = parse_header(&header);
        if u64::from(len) > left - HEADER as u64 {
            // Seek back so a retry after the writer appended reads it again.
            self.file.seek_relative(-(HEADER as i64))?;
            return Ok(Next::Bad(BadRecord::Torn));
        }
        let mut payload = BytesMut::zeroed(len as usize);
        self.file.read_exact(&mut payload)?;
        if checksum(&len.to_le_bytes(), &payload) != crc {
            return Ok(Next::Bad(BadRecord::Checksum));
        }
        let frame = HEADER as u64 + u64::from(len);
        self.offset += frame;
        Ok(Next::Record {
            payload: payload.freeze(),
            len: frame,
        })
    }
}

/// How much of a segment is intact: the offset just past its last good
/// record, and what was wrong after it, if anything.
pub(crate) fn scan(path: &Path) -> io::Result<(u64, Option<BadRecord>)> {
    let (mut reader, magic_ok) = SegmentReader::open(path, 0)?;
    if !magic_ok {
        return Ok((0, Some(BadRecord::Checksum)));
    }
    loop {
        match reader.next(u64::MAX)? {
            Next::Record { .. } => {}
            Next::End => return Ok((reader.offset(), None)),
            Next::Bad(bad) => return Ok((reader.offset(), Some(bad))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::encode;
    use pushtail_proto::model::{Entry, Stream, TenantBatch};

    fn frame(line: &str) -> Vec<u8> {
        let mut out = Vec::new();
        let batch = TenantBatch {
            tenant: None,
            streams: vec![Stream {
                labels: Default::default(),
                entries: vec![Entry::new(1, line.to_owned())],
            }],
        };
        encode(&[batch], &mut out);
        out
    }

    #[test]
    fn names_sort_as_positions() {
        assert_eq!(file_name(0), "00000000000000000000.wal");
        assert!(file_name(9) < file_name(10));
    }

    #[test]
    fn scan_finds_the_last_intact_record() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(file_name(0));
        let one = frame("one");
        let two = frame("two");
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&one);
        bytes.extend_from_slice(&two);
        let good = bytes.len() as u64;
        let cases: Vec<(&str, Vec<u8>, u64, Option<BadRecord>)> = vec![
            ("intact", bytes.clone(), good, None),
            (
                "torn tail",
                bytes[..bytes.len() - 3].to_vec(),
                8 + one.len() as u64,
                Some(BadRecord::Torn),
            ),
            (
                "short header",
                [bytes.clone(), vec![1, 2]].concat(),
                good,
                Some(BadRecord::Torn),
            ),
            (
                "flipped byte",
                {
                    let mut b = bytes.clone();
                    let last = b.len() - 1;
                    b[last] ^= 0x40;
                    b
                },
                8 + one.len() as u64,
                Some(BadRecord::Checksum),
            ),
            (
                "bad magic",
                b"garbage!".to_vec(),
                0,
                Some(BadRecord::Checksum),
            ),
            ("empty", Vec::new(), 0, Some(BadRecord::Checksum)),
        ];
        for (name, content, want_len, want_bad) in cases {
            std::fs::write(&path, &content).unwrap();
            assert_eq!(scan(&path).unwrap(), (want_len, want_bad), "{name}");
        }
    }

    #[test]
    fn listing_ignores_other_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(file_name(100)), MAGIC).unwrap();
        std::fs::write(dir.path().join(file_name(8)), MAGIC).unwrap();
        std::fs::write(dir.path().join("checkpoint-a"), "x").unwrap();
        std::fs::write(dir.path().join("12.wal"), "x").unwrap();
        let starts: Vec<u64> = list(dir.path()).unwrap().iter().map(|s| s.start).collect();
        assert_eq!(starts, [8, 100]);
    }
}
