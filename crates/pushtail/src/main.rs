//! The pushtail binary: CLI, config, wiring.

fn main() {
    eprintln!("pushtail: not yet: the agent is being built; see README.md for status");
    std::process::exit(2);
}
