//! Starts the agent under test as a separate process and tells when it is
//! ready: the release `pushtail` with a generated config, or any command
//! (`sh -c CMD`) in its own process group.
//!
//! The agent's output is drained continuously (a full pipe would stall it)
//! and its last lines are kept for error messages. Only the process group
//! this module started is ever signalled.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

const TAIL_LINES: usize = 40;
const START_TIMEOUT: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(50);

/// Client settings in the generated pushtail config.
pub const BATCHWAIT: &str = "1s";
pub const BATCHSIZE: &str = "1MiB";

/// The pushtail config for a run: one `http` target at `/` taking incoming
/// timestamps, one client to the sink, the shared server on a free loopback
/// port; with `wal` (a directory and a sync mode), the write-ahead log on.
pub fn pushtail_config(sink_port: u16, wal: Option<(&Path, &str)>) -> String {
    let wal = wal.map_or_else(String::new, |(dir, sync)| {
        format!(
            "wal:\n  enabled: true\n  dir: {}\n  sync: {sync}\n",
            dir.display()
        )
    });
    format!(
        "server:\n\
         \x20 http_listen_address: 127.0.0.1\n\
         \x20 http_listen_port: 0\n\
         \x20 log_level: info\n\
         clients:\n\
         \x20 - url: http://127.0.0.1:{sink_port}/loki/api/v1/push\n\
         \x20   batchwait: {BATCHWAIT}\n\
         \x20   batchsize: {BATCHSIZE}\n\
         scrape_configs:\n\
         \x20 - job_name: bench\n\
         \x20   http:\n\
         \x20     base_url: /\n\
         \x20     use_incoming_timestamp: true\n\
         {wal}"
    )
}

/// Drops ANSI escape sequences (`ESC [ ... letter`).
fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The address of listener 0 if `line` is pushtail's `listening` log line.
pub fn listening_addr(line: &str) -> Option<SocketAddr> {
    let line = strip_ansi(line);
    if !line.contains("listening") || !line.contains("listener=0") {
        return None;
    }
    let rest = line
        .split(" address=")
        .nth(1)
        .or_else(|| line.split("addr=").nth(1))?;
    rest.split_whitespace()
        .next()?
        .trim_matches('"')
        .parse()
        .ok()
}

/// A running agent; killed (its whole process group) when dropped.
pub struct Agent {
    child: Child,
    tail: Arc<Mutex<VecDeque<String>>>,
    config: Option<PathBuf>,
}

fn collect(
    pipe: impl std::io::Read + Send + 'static,
    tail: Arc<Mutex<VecDeque<String>>>,
    addr: Option<mpsc::Sender<SocketAddr>>,
) {
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            if let (Some(tx), Some(a)) = (&addr, listening_addr(&line)) {
                let _ = tx.send(a);
            }
            let mut t = tail.lock().unwrap_or_else(|e| e.into_inner());
            if t.len() == TAIL_LINES {
                t.pop_front();
            }
            t.push_back(line);
        }
    });
}

impl Agent {
    fn spawn(
        mut cmd: Command,
        config: Option<PathBuf>,
    ) -> Result<(Agent, mpsc::Receiver<SocketAddr>)> {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .env("NO_COLOR", "1")
            .process_group(0);
        let mut child = cmd.spawn().with_context(|| format!("starting {cmd:?}"))?;
        let tail = Arc::new(Mutex::new(VecDeque::new()));
        let (tx, rx) = mpsc::channel();
        if let Some(out) = child.stdout.take() {
            collect(out, Arc::clone(&tail), None);
        }
        if let Some(err) = child.stderr.take() {
            collect(err, Arc::clone(&tail), Some(tx));
        }
        Ok((
            Agent {
                child,
                tail,
                config,
            },
            rx,
        ))
    }

    /// Starts `bin` with the generated config; returns it with the address
    /// of its shared server once `/ready` answers 200.
    pub fn start_pushtail(
        bin: &Path,
        sink_port: u16,
        wal: Option<(&Path, &str)>,
    ) -> Result<(Agent, SocketAddr)> {
        Agent::start_pushtail_with(bin, &pushtail_config(sink_port, wal))
    }

    /// Starts `bin` with `config` (which must listen on loopback, port 0).
    pub fn start_pushtail_with(bin: &Path, config: &str) -> Result<(Agent, SocketAddr)> {
        let path = std::env::temp_dir().join(format!("pushtail-bench-{}.yaml", std::process::id()));
        std::fs::write(&path, config).with_context(|| format!("writing {}", path.display()))?;
        let mut cmd = Command::new(bin);
        cmd.arg(format!("-config.file={}", path.display()));
        let (mut agent, rx) = Agent::spawn(cmd, Some(path))?;
        let addr = match rx.recv_timeout(START_TIMEOUT) {
            Ok(a) => a,
            Err(_) => bail!(
                "{} did not log its listen address\n{}",
                bin.display(),
                agent.tail()
            ),
        };
        let deadline = Instant::now() + START_TIMEOUT;
        while !ready(addr) {
            agent.check_running()?;
            if Instant::now() > deadline {
                bail!(
                    "pushtail at {addr} never answered /ready with 200\n{}",
                    agent.tail()
                );
            }
            std::thread::sleep(POLL);
        }
        Ok((agent, addr))
    }

    /// Runs `sh -c CMD`; ready once `authority` accepts TCP connections.
    pub fn start_command(command: &str, authority: &str) -> Result<Agent> {
        let mut cmd = Command::new("sh");
        cmd.arg("-c").arg(command);
        let (mut agent, _) = Agent::spawn(cmd, None)?;
        let deadline = Instant::now() + START_TIMEOUT;
        while TcpStream::connect(authority).is_err() {
            agent.check_running()?;
            if Instant::now() > deadline {
                bail!(
                    "agent command never listened on {authority}\n{}",
                    agent.tail()
                );
            }
            std::thread::sleep(POLL);
        }
        Ok(agent)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` (`HUP`, `TERM`) to the agent process.
    pub fn signal(&self, signal: &str) -> Result<()> {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .context("running kill")?;
        anyhow::ensure!(status.success(), "kill -{signal} failed: {status}");
        Ok(())
    }

    /// Waits up to `timeout` for the agent to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(POLL);
        }
    }

    /// Errors (with the agent's last output) if the agent has exited.
    pub fn check_running(&mut self) -> Result<()> {
        if let Ok(Some(status)) = self.child.try_wait() {
            bail!("agent exited early ({status})\n{}", self.tail());
        }
        Ok(())
    }

    /// The agent's last output lines.
    pub fn tail(&self) -> String {
        let t = self.tail.lock().unwrap_or_else(|e| e.into_inner());
        t.iter().map(String::as_str).collect::<Vec<_>>().join("\n")
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        // The child leads its own process group: signal the group, then reap.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(p) = &self.config {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// One blocking `GET /ready`; true on a 200.
fn ready(addr: SocketAddr) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let req = format!("GET /ready HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    if s.write_all(req.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    s.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.1 200")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listening_lines_give_listener_zero() {
        let cases = [
            ("2026-11-21T11:00:00Z  INFO listening listener=0 addr=127.0.0.1:4567", Some("127.0.0.1:4567")),
            ("\u{1b}[32m INFO\u{1b}[0m listening \u{1b}[3mlistener\u{1b}[0m\u{1b}[2m=\u{1b}[0m0 \u{1b}[3maddr\u{1b}[0m\u{1b}[2m=\u{1b}[0m127.0.0.1:80", Some("127.0.0.1:80")),
            ("INFO listening listener=1 addr=127.0.0.1:3500", None),
            ("INFO listening listener=0 addr=\"[::1]:9080\"", Some("[::1]:9080")),
            ("INFO something else addr=127.0.0.1:1", None),
            ("level=info ts=2026-12-01T05:30:00.123Z caller=run.rs:42 msg=\"listening\" listener=0 address=127.0.0.1:9080 jobs=app base_urls=/app/", Some("127.0.0.1:9080")),
        ];
        for (line, want) in cases {
            assert_eq!(
                listening_addr(line),
                want.map(|a| a.parse().unwrap()),
                "{line}"
            );
        }
    }

    #[test]
    fn generated_config_has_one_target_and_one_client() {
        let yaml = pushtail_config(4321, None);
        let v: serde_json::Value = serde_yaml_like(&yaml);
        assert_eq!(
            v["clients"][0]["url"],
            "http://127.0.0.1:4321/loki/api/v1/push"
        );
        assert_eq!(v["clients"][0]["batchwait"], BATCHWAIT);
        assert_eq!(v["clients"].as_array().map(Vec::len), Some(1));
        assert_eq!(v["scrape_configs"][0]["http"]["base_url"], "/");
        assert_eq!(
            v["scrape_configs"][0]["http"]["use_incoming_timestamp"],
            true
        );
        assert_eq!(v["server"]["http_listen_port"], 0);
    }

    /// Parses the YAML with the same library the agent uses.
    fn serde_yaml_like(yaml: &str) -> serde_json::Value {
        serde_yaml::from_str(yaml).unwrap()
    }
}
