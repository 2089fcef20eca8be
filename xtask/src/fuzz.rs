//! `cargo xtask fuzz`: runs every cargo-fuzz target in `fuzz/` for a fixed
//! time on the nightly toolchain, starting from the committed seed corpus
//! (`fuzz/corpus/<target>/`, never written to), and prints executions per
//! target and any crash.
//!
//! New inputs libFuzzer finds go to `fuzz/target/corpus/<target>/`; crashes
//! to `fuzz/artifacts/<target>/` (both ignored by git).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Parser;

/// The targets, in the order they run; each is `fuzz/fuzz_targets/<name>.rs`.
pub const TARGETS: &[&str] = &[
    "labels",
    "push_json",
    "push_proto",
    "encodings",
    "lines",
    "pipeline_parsers",
    "go_layout",
    "relabel_config",
    "stage_config",
    "template",
];

#[derive(Parser, Debug)]
#[command(
    name = "cargo xtask fuzz",
    bin_name = "cargo xtask fuzz",
    about = "Run the cargo-fuzz targets for a while each"
)]
struct Args {
    /// Seconds per target.
    #[arg(long, default_value_t = 30)]
    seconds: u64,
    /// Run only this target (repeatable).
    #[arg(long = "target")]
    targets: Vec<String>,
}

/// What one target's run gave.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    executions: Option<u64>,
    crash: Option<String>,
}

/// Reads libFuzzer's output: `stat::number_of_executed_units: N` (with
/// `-print_final_stats=1`), else the `Done N runs` line; a crash names its
/// artifact in `Test unit written to PATH`.
fn parse_output(text: &str) -> Outcome {
    let executions = text
        .lines()
        .find_map(|l| l.strip_prefix("stat::number_of_executed_units:"))
        .and_then(|v| v.trim().parse().ok())
        .or_else(|| {
            text.lines()
                .find_map(|l| l.strip_prefix("Done "))
                .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        });
    let crash = text
        .lines()
        .find_map(|l| l.split("Test unit written to ").nth(1))
        .map(|p| p.trim().to_owned());
    Outcome { executions, crash }
}

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("fuzz"), |root| root.join("fuzz"))
}

/// `cargo +nightly fuzz ...` in `fuzz/`, with the caller's cargo settings
/// (its toolchain, its target dir) removed so cargo-fuzz uses its own.
fn cargo_fuzz(dir: &Path) -> Command {
    let mut cmd = Command::new("cargo");
    cmd.current_dir(dir)
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("RUSTUP_TOOLCHAIN")
        .env_remove("CARGO")
        .env_remove("RUSTFLAGS")
        .args(["+nightly", "fuzz"]);
    cmd
}

/// Entry point of `cargo xtask fuzz ARGS`; `argv[0]` is `fuzz`.
pub fn main(argv: Vec<String>) -> Result<()> {
    let args = Args::parse_from(&argv);
    let targets: Vec<&str> = if args.targets.is_empty() {
        TARGETS.to_vec()
    } else {
        for t in &args.targets {
            if !TARGETS.contains(&t.as_str()) {
                bail!("unknown fuzz target {t:?}; targets: {}", TARGETS.join(", "));
            }
        }
        args.targets.iter().map(String::as_str).collect()
    };
    let dir = fuzz_dir();
    let version = cargo_fuzz(&dir)
        .arg("--version")
        .output()
        .context("running `cargo +nightly fuzz --version`")?;
    if !version.status.success() {
        bail!(
            "cargo-fuzz is not available on the nightly toolchain: `rustup toolchain install nightly` and `cargo install cargo-fuzz`\n{}",
            String::from_utf8_lossy(&version.stderr)
        );
    }

    eprintln!("$ cargo +nightly fuzz build --debug-assertions");
    let started = Instant::now();
    let status = cargo_fuzz(&dir)
        .args(["build", "--debug-assertions"])
        .status()
        .context("running cargo fuzz build")?;
    if !status.success() {
        bail!("cargo fuzz build failed: {status}");
    }
    eprintln!("built in {:.0}s", started.elapsed().as_secs_f64());

    let mut rows = Vec::new();
    for target in &targets {
        let work = dir.join("target").join("corpus").join(target);
        std::fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
        let seeds = dir.join("corpus").join(target);
        eprintln!("fuzzing {target} for {}s", args.seconds);
        let output = cargo_fuzz(&dir)
            .args(["run", "--debug-assertions", target])
            .arg(&work)
            .arg(&seeds)
            .args([
                "--",
                &format!("-max_total_time={}", args.seconds),
                "-print_final_stats=1",
                "-timeout=10",
                "-rss_limit_mb=2048",
                "-max_len=65536",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .with_context(|| format!("running cargo fuzz run {target}"))?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let mut outcome = parse_output(&text);
        if !output.status.success() && outcome.crash.is_none() {
            let tail: Vec<&str> = text.lines().rev().take(30).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            outcome.crash = Some(format!("exit {}:\n{}", output.status, tail.join("\n")));
        } else if outcome.crash.is_some() {
            eprintln!("{text}");
        }
        rows.push((*target, outcome));
    }

    println!("{:<18} {:>14}  result", "target", "executions");
    let mut crashes = 0;
    for (target, o) in &rows {
        let execs = o
            .executions
            .map_or_else(|| "?".to_owned(), |n| n.to_string());
        let result = match &o.crash {
            None => "ok".to_owned(),
            Some(c) => {
                crashes += 1;
                format!("CRASH {c}")
            }
        };
        println!("{target:<18} {execs:>14}  {result}");
    }
    if crashes > 0 {
        bail!("{crashes} fuzz target(s) crashed; reproduce with `cargo +nightly fuzz run TARGET ARTIFACT` in fuzz/");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libfuzzer_output_parses() {
        let cases: &[(&str, Option<u64>, Option<&str>)] = &[
            (
                "#1234\tDONE cov: 10\nDone 1234 runs in 10 second(s)\nstat::number_of_executed_units: 1240\nstat::average_exec_per_sec:     124\n",
                Some(1240),
                None,
            ),
            ("Done 77 runs in 1 second(s)\n", Some(77), None),
            (
                "==1== ERROR: libFuzzer: deadly signal\nartifact_prefix='/f/artifacts/labels/'; Test unit written to /f/artifacts/labels/crash-abc\n",
                None,
                Some("/f/artifacts/labels/crash-abc"),
            ),
            ("error: no such command\n", None, None),
        ];
        for (text, execs, crash) in cases {
            let got = parse_output(text);
            assert_eq!(got.executions, *execs, "{text}");
            assert_eq!(got.crash.as_deref(), *crash, "{text}");
        }
    }

    #[test]
    fn every_target_has_a_source_and_seeds() {
        let dir = fuzz_dir();
        for t in TARGETS {
            assert!(
                dir.join("fuzz_targets").join(format!("{t}.rs")).is_file(),
                "{t}"
            );
            let seeds = std::fs::read_dir(dir.join("corpus").join(t))
                .map(|d| d.count())
                .unwrap_or(0);
            assert!(seeds > 0, "{t} has no seed corpus");
        }
    }
}
