//! The docs a fresh clone reads: every relative link in README.md,
//! ARCHITECTURE.md and docs/*.md points at a file or directory that exists
//! inside the repository.

use std::path::{Component, Path, PathBuf};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The targets of inline Markdown links (`[text](target)`) in `text`.
fn link_targets(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_code_block = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_code_block = !in_code_block;
            continue;
        }
        if in_code_block {
            continue;
        }
        let mut rest = line;
        while let Some(pos) = rest.find("](") {
            let after = &rest[pos + 2..];
            let Some(end) = after.find(')') else { break };
            let target = after[..end].split_whitespace().next().unwrap_or("");
            out.push(target.to_owned());
            rest = &after[end..];
        }
    }
    out
}

/// `path` with `.` and `..` resolved lexically; `None` if it climbs above
/// the root it started from.
fn normalise(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    Some(out)
}

#[test]
fn relative_links_point_at_files_in_the_repository() {
    let root = repo_root();
    let mut files = vec![PathBuf::from("README.md"), PathBuf::from("ARCHITECTURE.md")];
    for entry in std::fs::read_dir(root.join("docs")).expect("docs/ exists") {
        let path = entry.expect("dir entry").path();
        if path.extension().and_then(|e| e.to_str()) == Some("md") {
            let name = path.file_name().expect("file name").to_owned();
            files.push(Path::new("docs").join(name));
        }
    }
    assert!(
        files.len() >= 3,
        "expected docs/configuration.md: {files:?}"
    );
    let mut checked = 0;
    let mut broken = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(root.join(file)).expect("readable doc");
        for target in link_targets(&text) {
            if target.is_empty()
                || target.starts_with('#')
                || target.contains("://")
                || target.starts_with("mailto:")
            {
                continue;
            }
            checked += 1;
            let path = target.split('#').next().unwrap_or_default();
            let dir = file.parent().unwrap_or(Path::new(""));
            match normalise(&dir.join(path)) {
                Some(inside) if root.join(&inside).exists() => {}
                Some(_) => broken.push(format!("{}: {target} does not exist", file.display())),
                None => broken.push(format!(
                    "{}: {target} points outside the repository",
                    file.display()
                )),
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
    assert!(checked >= 3, "only {checked} relative links found");
}

#[test]
fn link_scanner_finds_links_outside_code_blocks() {
    let text = "see [a](docs/a.md) and [b](../b.md#x \"title\")\n```\n[c](c.md)\n```\n";
    assert_eq!(link_targets(text), ["docs/a.md", "../b.md#x"]);
    assert_eq!(
        normalise(Path::new("docs/../README.md")),
        Some(PathBuf::from("README.md"))
    );
    assert_eq!(normalise(Path::new("../shared/DESIGN.md")), None);
}
