//! Routing: path → (target, endpoint) by stripping a known suffix and
//! looking the rest up as a base URL. A lookup, never a scan of targets.
//!
//! Pure: no I/O, no request bodies.

use std::collections::HashMap;

use http::Method;

/// What a path asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint {
    /// Loki push (JSON or protobuf+snappy).
    Push,
    /// Loki's legacy `/api/prom/push`: protobuf+snappy, or the legacy JSON
    /// shape with selector strings and RFC3339 timestamps.
    LegacyPush,
    /// Newline-delimited lines.
    Raw,
    /// Plaintext push with labels in the path.
    Plain,
    /// `B`ready, `B`loki/ready, or the shared `/ready`.
    Ready,
    /// The shared `/metrics`.
    Metrics,
}

impl Endpoint {
    /// The `Allow` header value for this endpoint.
    pub(crate) fn allow(self) -> &'static str {
        match self {
            Endpoint::Push | Endpoint::LegacyPush | Endpoint::Raw | Endpoint::Plain => "POST",
            Endpoint::Ready | Endpoint::Metrics => "GET, HEAD",
        }
    }

    pub(crate) fn allows(self, method: &Method) -> bool {
        match self {
            Endpoint::Push | Endpoint::LegacyPush | Endpoint::Raw | Endpoint::Plain => {
                method == Method::POST
            }
            Endpoint::Ready | Endpoint::Metrics => method == Method::GET || method == Method::HEAD,
        }
    }
}

/// A resolved path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Route<'a> {
    pub endpoint: Endpoint,
    /// Index of the target; `None` for the shared `/metrics` and `/ready`.
    pub target: Option<usize>,
    /// The `route` metric label: the endpoint's path without base URL.
    pub label: &'static str,
    /// For [`Endpoint::Plain`]: the `name/value/…` part of the path.
    pub rest: &'a str,
}

/// Suffixes after a base URL, longest first so that `/loki/api/v1/push`
/// prefers base `/` over base `/loki/` with suffix `api/v1/push`.
const SUFFIXES: &[(&str, Endpoint, &str)] = &[
    ("promtail/api/v1/raw", Endpoint::Raw, "promtail_api_v1_raw"),
    ("loki/api/v1/push", Endpoint::Push, "loki_api_v1_push"),
    ("loki/api/v1/raw", Endpoint::Raw, "loki_api_v1_raw"),
    ("api/prom/push", Endpoint::LegacyPush, "api_prom_push"),
    ("api/v1/push", Endpoint::Push, "api_v1_push"),
    ("loki/ready", Endpoint::Ready, "loki_ready"),
    ("api/v1/raw", Endpoint::Raw, "api_v1_raw"),
    ("ready", Endpoint::Ready, "ready"),
];

/// The `route` label of requests that matched nothing.
pub(crate) const NOT_FOUND_LABEL: &str = "not_found";

/// Base URL → target index for one listener.
#[derive(Debug, Default)]
pub(crate) struct RouteTable {
    bases: HashMap<String, usize>,
    shared: bool,
}

impl RouteTable {
    /// `bases` must be normalised (start and end with `/`) and unique.
    pub(crate) fn new(bases: impl IntoIterator<Item = String>, shared: bool) -> Self {
        RouteTable {
            bases: bases.into_iter().enumerate().map(|(i, b)| (b, i)).collect(),
            shared,
        }
    }

    /// The target whose (normalised) base URL is `base`: how gRPC pushes,
    /// which have a fixed path, find theirs.
    pub(crate) fn target_for_base(&self, base: &str) -> Option<usize> {
        self.bases.get(base).copied()
    }

    pub(crate) fn lookup<'a>(&self, path: &'a str) -> Option<Route<'a>> {
        if self.shared {
            match path {
                "/metrics" => return Some(shared(Endpoint::Metrics, "metrics")),
                "/ready" => return Some(shared(Endpoint::Ready, "ready")),
                _ => {}
            }
        }
        for &(suffix, endpoint, label) in SUFFIXES {
            if let Some(base) = path.strip_suffix(suffix) {
                if let Some(&target) = self.bases.get(base) {
                    return Some(Route {
                        endpoint,
                        target: Some(target),
                        label,
                        rest: "",
                    });
                }
            }
        }
        self.lookup_plain(path)
    }

    /// `B`push, `B`push/ and `B`push/name/value…; the leftmost base that
    /// is configured wins.
    fn lookup_plain<'a>(&self, path: &'a str) -> Option<Route<'a>> {
        if let Some(base) = path
            .strip_suffix("push")
            .or_else(|| path.strip_suffix("push/"))
        {
            if let Some(&target) = self.bases.get(base) {
                return Some(plain(target, ""));
            }
        }
        for (at, _) in path.match_indices("/push/") {
            if let Some(&target) = self.bases.get(&path[..=at]) {
                return Some(plain(target, &path[at + "/push/".len()..]));
            }
        }
        None
    }
}

fn shared(endpoint: Endpoint, label: &'static str) -> Route<'static> {
    Route {
        endpoint,
        target: None,
        label,
        rest: "",
    }
}

fn plain(target: usize, rest: &str) -> Route<'_> {
    Route {
        endpoint: Endpoint::Plain,
        target: Some(target),
        label: "push",
        rest,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_resolve_by_base_url() {
        let table = RouteTable::new(["/", "/app/", "/a/b/", "/loki/"].map(String::from), true);
        let t = |target: usize, endpoint: Endpoint, label: &'static str, rest: &'static str| {
            Some(Route {
                endpoint,
                target: Some(target),
                label,
                rest,
            })
        };
        let cases: &[(&str, Option<Route<'static>>)] = &[
            (
                "/loki/api/v1/push",
                t(0, Endpoint::Push, "loki_api_v1_push", ""),
            ),
            ("/api/v1/push", t(0, Endpoint::Push, "api_v1_push", "")),
            (
                "/api/prom/push",
                t(0, Endpoint::LegacyPush, "api_prom_push", ""),
            ),
            (
                "/app/api/prom/push",
                t(1, Endpoint::LegacyPush, "api_prom_push", ""),
            ),
            ("/app/api/prom/pushx", None),
            (
                "/loki/api/v1/raw",
                t(0, Endpoint::Raw, "loki_api_v1_raw", ""),
            ),
            ("/api/v1/raw", t(0, Endpoint::Raw, "api_v1_raw", "")),
            (
                "/promtail/api/v1/raw",
                t(0, Endpoint::Raw, "promtail_api_v1_raw", ""),
            ),
            ("/loki/ready", t(0, Endpoint::Ready, "loki_ready", "")),
            (
                "/app/loki/api/v1/push",
                t(1, Endpoint::Push, "loki_api_v1_push", ""),
            ),
            ("/app/api/v1/push", t(1, Endpoint::Push, "api_v1_push", "")),
            (
                "/app/loki/api/v1/raw",
                t(1, Endpoint::Raw, "loki_api_v1_raw", ""),
            ),
            ("/app/api/v1/raw", t(1, Endpoint::Raw, "api_v1_raw", "")),
            (
                "/app/promtail/api/v1/raw",
                t(1, Endpoint::Raw, "promtail_api_v1_raw", ""),
            ),
            ("/app/loki/ready", t(1, Endpoint::Ready, "loki_ready", "")),
            ("/app/ready", t(1, Endpoint::Ready, "ready", "")),
            (
                "/a/b/loki/api/v1/push",
                t(2, Endpoint::Push, "loki_api_v1_push", ""),
            ),
            (
                "/loki/loki/api/v1/push",
                t(3, Endpoint::Push, "loki_api_v1_push", ""),
            ),
            (
                "/app/push/job/x/env/y",
                t(1, Endpoint::Plain, "push", "job/x/env/y"),
            ),
            ("/push/job/x", t(0, Endpoint::Plain, "push", "job/x")),
            ("/app/push", t(1, Endpoint::Plain, "push", "")),
            ("/app/push/", t(1, Endpoint::Plain, "push", "")),
            (
                "/push/a/push/b/c",
                t(0, Endpoint::Plain, "push", "a/push/b/c"),
            ),
            ("/metrics", Some(shared(Endpoint::Metrics, "metrics"))),
            ("/ready", Some(shared(Endpoint::Ready, "ready"))),
            ("/nope/loki/api/v1/push", None),
            ("/app/loki/api/v1/pushx", None),
            ("/app", None),
            ("", None),
            ("/app/api/v2/push", None),
        ];
        for (path, want) in cases {
            assert_eq!(&table.lookup(path), want, "{path}");
        }
    }

    #[test]
    fn metrics_only_on_the_shared_listener() {
        let table = RouteTable::new(["/x/".to_owned()], false);
        assert_eq!(table.lookup("/metrics"), None);
        assert_eq!(table.lookup("/ready"), None);
        let root = RouteTable::new(["/".to_owned()], false);
        assert_eq!(root.lookup("/ready").map(|r| r.target), Some(Some(0)));
    }

    #[test]
    fn methods() {
        assert!(Endpoint::Push.allows(&Method::POST));
        assert!(!Endpoint::Push.allows(&Method::GET));
        assert!(Endpoint::LegacyPush.allows(&Method::POST));
        assert!(!Endpoint::LegacyPush.allows(&Method::GET));
        assert!(Endpoint::Ready.allows(&Method::GET));
        assert!(!Endpoint::Ready.allows(&Method::POST));
        assert!(!Endpoint::Metrics.allows(&Method::PUT));
    }
}
