//! Reads CPU time and memory of the agent's process tree from `/proc`.
//!
//! Only the agent (the root pid and its descendants) is measured, never the
//! harness itself. Parsing is split from reading so it can be tested with
//! fixed samples. Linux only; this module must never signal or alter the
//! processes it reads.

use std::collections::HashMap;

/// The fields of `/proc/<pid>/stat` the harness uses (times in clock ticks).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stat {
    pub ppid: u32,
    pub utime: u64,
    pub stime: u64,
    /// CPU of waited-for children that already exited.
    pub cutime: u64,
    pub cstime: u64,
}

/// Parses one `/proc/<pid>/stat` line. The command name may contain spaces
/// and parentheses, so fields are counted from the last `)`.
pub fn parse_stat(text: &str) -> Option<Stat> {
    let rest = &text[text.rfind(')')? + 1..];
    // After the name: state(3) ppid(4) ... utime(14) stime(15) cutime(16) cstime(17).
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<u64>().ok());
    Some(Stat {
        ppid: u32::try_from(field(4)?).ok()?,
        utime: field(14)?,
        stime: field(15)?,
        cutime: field(16)?,
        cstime: field(17)?,
    })
}

/// Reads a `kB` field (`VmRSS`, `VmHWM`) of `/proc/<pid>/status`, in bytes.
pub fn parse_status_kb(text: &str, key: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|n| n.parse::<u64>().ok())
        .map(|kb| kb * 1024)
}

/// `root` and every live descendant of it, given (pid, ppid) pairs.
pub fn tree(root: u32, parents: &[(u32, u32)]) -> Vec<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for &(pid, ppid) in parents {
        children.entry(ppid).or_default().push(pid);
    }
    let mut out = vec![root];
    let mut i = 0;
    while i < out.len() {
        if let Some(kids) = children.get(&out[i]) {
            out.extend(kids.iter().copied().filter(|k| *k != root));
        }
        i += 1;
    }
    out
}

fn read_stat(pid: u32) -> Option<Stat> {
    parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

fn read_status(pid: u32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/status")).ok()
}

/// The live processes of the tree rooted at `root`.
fn live_tree(root: u32) -> Vec<u32> {
    let parents: Vec<(u32, u32)> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| Some((pid, read_stat(pid)?.ppid)))
        .collect();
    tree(root, &parents)
}

/// Clock ticks per second (`getconf CLK_TCK`; 100 if that fails).
pub fn clock_ticks() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .filter(|t| *t > 0)
        .unwrap_or(100)
}

/// Measures one process tree.
pub struct Probe {
    root: u32,
    ticks: u64,
}

/// Memory of the tree at one instant, in bytes.
#[derive(Clone, Copy, Debug, Default)]
pub struct Memory {
    pub rss: u64,
    /// Sum of the processes' own high-water marks.
    pub hwm: u64,
}

impl Probe {
    pub fn new(root: u32) -> Probe {
        Probe {
            root,
            ticks: clock_ticks(),
        }
    }

    /// CPU seconds used so far by the tree (user + system, including
    /// exited, waited-for children).
    pub fn cpu_seconds(&self) -> f64 {
        let ticks: u64 = live_tree(self.root)
            .into_iter()
            .filter_map(read_stat)
            .map(|s| s.utime + s.stime + s.cutime + s.cstime)
            .sum();
        ticks as f64 / self.ticks as f64
    }

    pub fn memory(&self) -> Memory {
        live_tree(self.root)
            .into_iter()
            .filter_map(read_status)
            .fold(Memory::default(), |m, text| Memory {
                rss: m.rss + parse_status_kb(&text, "VmRSS").unwrap_or(0),
                hwm: m.hwm + parse_status_kb(&text, "VmHWM").unwrap_or(0),
            })
    }
}

/// On-CPU nanoseconds of the calling thread (`/proc/thread-self/schedstat`),
/// for the single-thread codec floor.
pub fn thread_cpu_ns() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_parse() {
        type Want = Option<(u32, u64, u64, u64, u64)>;
        // (sample, expected (ppid, utime, stime, cutime, cstime))
        let cases: &[(&str, Want)] = &[
            (
                "4242 (pushtail) S 4200 4242 4200 0 -1 4194560 1234 0 0 0 250 75 3 1 20 0 3 0 \
                 99 123456 789 18446744073709551615",
                Some((4200, 250, 75, 3, 1)),
            ),
            (
                "17 (a b) c)) R 1 17 17 0 -1 0 0 0 0 0 7 8 9 10 20 0 1 0",
                Some((1, 7, 8, 9, 10)),
            ),
            ("17 (short) R 1 17", None),
            ("no parenthesis here", None),
            ("17 (x) R notanumber 17 17 0 -1 0 0 0 0 0 7 8 9 10", None),
        ];
        for (text, want) in cases {
            let got = parse_stat(text).map(|s| (s.ppid, s.utime, s.stime, s.cutime, s.cstime));
            assert_eq!(got, *want, "{text}");
        }
    }

    #[test]
    fn status_fields_parse_in_bytes() {
        let sample =
            "Name:\tpushtail\nVmPeak:\t  200000 kB\nVmHWM:\t   23456 kB\nVmRSS:\t   20480 kB\n";
        let cases = [
            ("VmRSS", Some(20480 * 1024)),
            ("VmHWM", Some(23456 * 1024)),
            ("VmSwap", None),
        ];
        for (key, want) in cases {
            assert_eq!(parse_status_kb(sample, key), want, "{key}");
        }
    }

    #[test]
    fn tree_collects_descendants_only() {
        let parents = [(10, 1), (11, 10), (12, 11), (13, 1), (14, 13), (15, 10)];
        let mut got = tree(10, &parents);
        got.sort_unstable();
        assert_eq!(got, vec![10, 11, 12, 15]);
        assert_eq!(tree(99, &parents), vec![99]);
    }

    #[test]
    fn own_process_is_readable() {
        let probe = Probe::new(std::process::id());
        let mem = probe.memory();
        assert!(mem.rss > 0 && mem.hwm >= mem.rss, "{mem:?}");
    }
}
