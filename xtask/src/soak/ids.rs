//! A growable bit set of line ids: which ids the sink decoded, how many
//! distinct, how many seen again.

#[derive(Default)]
pub struct IdSet {
    words: Vec<u64>,
    distinct: u64,
    repeats: u64,
}

impl IdSet {
    /// Marks `id`; false when it was marked already.
    pub fn insert(&mut self, id: u64) -> bool {
        let (w, bit) = ((id / 64) as usize, 1u64 << (id % 64));
        if w >= self.words.len() {
            self.words.resize(w + 1, 0);
        }
        if self.words[w] & bit != 0 {
            self.repeats += 1;
            return false;
        }
        self.words[w] |= bit;
        self.distinct += 1;
        true
    }

    pub fn contains(&self, id: u64) -> bool {
        self.words
            .get((id / 64) as usize)
            .is_some_and(|w| w & (1u64 << (id % 64)) != 0)
    }

    pub fn distinct(&self) -> u64 {
        self.distinct
    }

    pub fn repeats(&self) -> u64 {
        self.repeats
    }

    /// Ids in `0..end` that are in `self` but not in `other`.
    pub fn missing_from(&self, other: &IdSet, end: u64) -> u64 {
        (0..end)
            .filter(|&id| self.contains(id) && !other.contains(id))
            .count() as u64
    }
}

/// The id a soak line carries: `soak id=<n> ...`.
pub fn line_id(line: &[u8]) -> Option<u64> {
    let rest = line.strip_prefix(b"soak id=")?;
    let end = rest
        .iter()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(rest.len());
    std::str::from_utf8(&rest[..end]).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_count_distinct_and_repeats() {
        let mut a = IdSet::default();
        for id in [0, 5, 64, 5, 1000] {
            a.insert(id);
        }
        assert_eq!((a.distinct(), a.repeats()), (4, 1));
        assert!(a.contains(1000) && !a.contains(999) && !a.contains(1 << 40));
        let mut b = IdSet::default();
        b.insert(5);
        assert_eq!(a.missing_from(&b, 2000), 3);
        assert_eq!(b.missing_from(&a, 2000), 0);
    }

    #[test]
    fn line_ids_parse() {
        let cases: &[(&[u8], Option<u64>)] = &[
            (b"soak id=42 payload", Some(42)),
            (b"soak id=7", Some(7)),
            (b"soak id= x", None),
            (b"other id=1", None),
        ];
        for (line, want) in cases {
            assert_eq!(line_id(line), *want, "{}", String::from_utf8_lossy(line));
        }
    }
}
