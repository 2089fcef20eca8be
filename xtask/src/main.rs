//! Project automation: `cargo xtask ci`, `cargo xtask bench`, `cargo xtask fuzz`,
//! `cargo xtask soak`.

use std::process::Command;

use anyhow::{bail, Context, Result};

mod bench;
mod fuzz;
mod soak;

fn main() -> Result<()> {
    let task = std::env::args().nth(1).unwrap_or_default();
    match task.as_str() {
        "ci" => ci(),
        "bench" => bench::main(std::env::args().skip(1).collect()),
        "fuzz" => fuzz::main(std::env::args().skip(1).collect()),
        "soak" => soak::main(std::env::args().skip(1).collect()),
        other => bail!("unknown task {other:?}; tasks: ci, bench, fuzz, soak"),
    }
}

/// The same steps as `.ci/run`.
fn ci() -> Result<()> {
    run("cargo", &["fmt", "--all", "--check"])?;
    run(
        "cargo",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
    )?;
    run("cargo", &["test", "--workspace"])?;
    Ok(())
}

fn run(cmd: &str, args: &[&str]) -> Result<()> {
    eprintln!("$ {cmd} {}", args.join(" "));
    let status = Command::new(cmd)
        .args(args)
        .status()
        .with_context(|| format!("running {cmd}"))?;
    if !status.success() {
        bail!("{cmd} {} failed: {status}", args.join(" "));
    }
    Ok(())
}
