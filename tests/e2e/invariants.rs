//! Architecture invariants from ARCHITECTURE.md that a test can check:
//! which crates may (transitively) depend on which. Read from Cargo.lock,
//! which lists every package's dependencies (dev-dependencies included, so
//! the check is stricter than `cargo tree -e normal`).

use std::collections::{BTreeMap, BTreeSet};

/// Package name → names of its dependencies (versions stripped).
fn lock_graph() -> BTreeMap<String, Vec<String>> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../Cargo.lock");
    let text = std::fs::read_to_string(path).expect("reading Cargo.lock");
    let mut graph = BTreeMap::new();
    for package in text.split("[[package]]").skip(1) {
        let name = package
            .lines()
            .find_map(|l| l.strip_prefix("name = "))
            .map(|n| n.trim_matches('"').to_owned())
            .unwrap_or_default();
        let deps = package
            .split("dependencies = [")
            .nth(1)
            .and_then(|rest| rest.split(']').next())
            .map(|list| {
                list.lines()
                    .map(|l| l.trim().trim_end_matches(',').trim_matches('"'))
                    .filter(|l| !l.is_empty())
                    .map(|l| l.split(' ').next().unwrap_or(l).to_owned())
                    .collect()
            })
            .unwrap_or_default();
        graph.insert(name, deps);
    }
    graph
}

fn closure(graph: &BTreeMap<String, Vec<String>>, root: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut todo = vec![root.to_owned()];
    while let Some(name) = todo.pop() {
        for dep in graph.get(&name).into_iter().flatten() {
            if seen.insert(dep.clone()) {
                todo.push(dep.clone());
            }
        }
    }
    seen
}

#[test]
fn crate_dependencies_point_one_way() {
    let graph = lock_graph();
    let rules: &[(&str, &[&str])] = &[
        (
            "pushtail-pipeline",
            &[
                "tokio",
                "hyper",
                "reqwest",
                "pushtail-receiver",
                "pushtail-client",
            ],
        ),
        (
            "pushtail-proto",
            &[
                "tokio",
                "hyper",
                "reqwest",
                "pushtail-pipeline",
                "pushtail-receiver",
                "pushtail-client",
            ],
        ),
        ("pushtail-receiver", &["pushtail-client", "reqwest"]),
        (
            "pushtail-wal",
            &[
                "hyper",
                "reqwest",
                "tower",
                "pushtail-pipeline",
                "pushtail-receiver",
                "pushtail-client",
            ],
        ),
    ];
    for (krate, forbidden) in rules {
        assert!(
            graph.contains_key(*krate),
            "{krate} missing from Cargo.lock"
        );
        let deps = closure(&graph, krate);
        for f in *forbidden {
            assert!(!deps.contains(*f), "{krate} depends on {f}");
        }
    }
    // The client may not know the receiver or the pipeline (its tests use the
    // test kit, which knows neither).
    let client = closure(&graph, "pushtail-client");
    for f in ["pushtail-receiver", "pushtail-pipeline", "pushtail-wal"] {
        assert!(!client.contains(f), "pushtail-client depends on {f}");
    }
}

#[test]
fn only_the_binary_and_xtask_use_anyhow() {
    let graph = lock_graph();
    for krate in [
        "pushtail-proto",
        "pushtail-pipeline",
        "pushtail-receiver",
        "pushtail-client",
        "pushtail-wal",
    ] {
        let direct = graph.get(krate).cloned().unwrap_or_default();
        assert!(
            !direct.iter().any(|d| d == "anyhow"),
            "{krate} uses anyhow directly"
        );
    }
}

/// Stage lists are typed (`Vec<StageConfig>`), so the pipeline library
/// needs no YAML model: serde_yaml (and serde_ignored, which the binary
/// applies) may only be its dev-dependencies.
#[test]
fn the_pipeline_library_does_not_depend_on_serde_yaml() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../pushtail-pipeline/Cargo.toml"
    );
    let text = std::fs::read_to_string(path).expect("reading the pipeline's Cargo.toml");
    let normal = text
        .split("\n[dependencies]\n")
        .nth(1)
        .and_then(|rest| rest.split("\n[").next())
        .expect("a [dependencies] table");
    for dep in ["serde_yaml", "serde_ignored"] {
        assert!(
            !normal.lines().any(|l| l.starts_with(dep)),
            "pushtail-pipeline depends on {dep}"
        );
    }
}
