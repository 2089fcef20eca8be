//! The top-level `wal` block: Promtail's keys plus pushtail's `max_size` and
//! `sync`. Parsing only; no I/O happens here.

use std::path::PathBuf;

use pushtail_proto::units::{ByteSize, Duration};
use serde::{Deserialize, Serialize};

/// `wal:`. Off by default; with it off nothing of this crate runs.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WalConfig {
    #[serde(default)]
    pub enabled: bool,
    #[serde(default = "default_dir")]
    pub dir: PathBuf,
    /// pushtail: the most bytes the log may hold; appends beyond it are
    /// refused (the push gets 503) until clients catch up.
    #[serde(default = "default_max_size")]
    pub max_size: ByteSize,
    /// pushtail: when a push is acknowledged.
    #[serde(default)]
    pub sync: SyncMode,
    /// Promtail's key, accepted: pushtail deletes a segment as soon as every
    /// client has passed it and never before, whatever its age, so an
    /// acknowledged entry is never cleaned away undelivered.
    #[serde(
        default,
        rename = "cleanSegmentsOlderThan",
        skip_serializing_if = "Option::is_none"
    )]
    pub clean_segments_older_than: Option<Duration>,
    /// Promtail's key: how often a client's reader looks for new records
    /// when it was not woken (it is woken at once by every append).
    #[serde(default, rename = "watchConfig")]
    pub watch_config: WatchConfig,
}

/// `wal.watchConfig`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WatchConfig {
    #[serde(default = "default_min_read", rename = "minReadFrequency")]
    pub min_read_frequency: Duration,
    #[serde(default = "default_max_read", rename = "maxReadFrequency")]
    pub max_read_frequency: Duration,
}

/// `wal.sync`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SyncMode {
    /// fsync before the 204, one fsync for every request written together
    /// (group commit): survives a power cut.
    #[default]
    Request,
    /// Written to the OS before the 204: survives a crash of the process,
    /// not of the machine.
    None,
}

impl Default for WalConfig {
    fn default() -> Self {
        WalConfig {
            enabled: false,
            dir: default_dir(),
            max_size: default_max_size(),
            sync: SyncMode::default(),
            clean_segments_older_than: None,
            watch_config: WatchConfig::default(),
        }
    }
}

impl Default for WatchConfig {
    fn default() -> Self {
        WatchConfig {
            min_read_frequency: default_min_read(),
            max_read_frequency: default_max_read(),
        }
    }
}

fn default_dir() -> PathBuf {
    PathBuf::from("wal")
}

fn default_max_size() -> ByteSize {
    ByteSize(1 << 30)
}

fn default_min_read() -> Duration {
    Duration::from_millis(250)
}

fn default_max_read() -> Duration {
    Duration::from_secs(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn promtail_and_pushtail_keys_parse() {
        let yaml = "enabled: true\ndir: /var/lib/pushtail/wal\nmax_size: 64MiB\nsync: none\n\
                    cleanSegmentsOlderThan: 1h\nwatchConfig: {minReadFrequency: 100ms, maxReadFrequency: 2s}\n";
        let c: WalConfig = serde_yaml::from_str(yaml).unwrap();
        assert!(c.enabled);
        assert_eq!(c.dir, PathBuf::from("/var/lib/pushtail/wal"));
        assert_eq!(c.max_size, ByteSize(64 << 20));
        assert_eq!(c.sync, SyncMode::None);
        assert_eq!(c.watch_config.max_read_frequency, Duration::from_secs(2));
        let d: WalConfig = serde_yaml::from_str("enabled: false").unwrap();
        assert_eq!(d, WalConfig::default());
        assert!(serde_yaml::from_str::<WalConfig>("sync: sometimes").is_err());
        assert!(serde_yaml::from_str::<WalConfig>("maxsize: 1").is_err());
    }
}
