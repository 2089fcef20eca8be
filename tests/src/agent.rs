//! Runs the real `pushtail` binary for a test: writes its config to a temp
//! file, starts it, learns its listen addresses from its log, collects its
//! stdout (the dry-run output), and kills it when dropped.
//!
//! Blocking std code on purpose: it works from sync and async tests alike.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// Lines a child wrote to one of its pipes, with a condition variable that
/// wakes waiters on every new line or on EOF.
#[derive(Default)]
struct Lines {
    state: Mutex<(Vec<String>, bool)>,
    changed: Condvar,
}

impl Lines {
    fn collect(self: &Arc<Self>, pipe: impl std::io::Read + Send + 'static) {
        let me = Arc::clone(self);
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                let mut st = me.state.lock().unwrap_or_else(|e| e.into_inner());
                st.0.push(line);
                me.changed.notify_all();
            }
            let mut st = me.state.lock().unwrap_or_else(|e| e.into_inner());
            st.1 = true;
            me.changed.notify_all();
        });
    }

    /// Waits until `done(lines)` holds or the pipe closes or time runs out;
    /// returns a snapshot either way.
    fn wait_until(&self, timeout: Duration, done: impl Fn(&[String]) -> bool) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if done(&st.0) || st.1 {
                return st.0.clone();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return st.0.clone();
            }
            st = self
                .changed
                .wait_timeout(st, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    fn snapshot(&self) -> Vec<String> {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .0
            .clone()
    }
}

/// A running pushtail process.
pub struct Agent {
    child: Child,
    addrs: Vec<SocketAddr>,
    stdout: Arc<Lines>,
    stderr: Arc<Lines>,
    config_path: PathBuf,
}

static CONFIG_SEQ: AtomicU32 = AtomicU32::new(0);

/// The start-up line naming a listener's address, in the agent's logfmt
/// (`msg="listening" listener=0 address=127.0.0.1:9080 ...`) or JSON
/// (`{..."msg":"listening","listener":0,"address":"127.0.0.1:9080",...}`).
fn is_listening_line(line: &str) -> bool {
    line.contains("msg=\"listening\" listener=") || line.contains("\"msg\":\"listening\"")
}

/// The address of a listening line, in either format.
fn listening_address(line: &str) -> Option<SocketAddr> {
    let rest = line
        .split(" address=")
        .nth(1)
        .or_else(|| line.split("\"address\":\"").nth(1))?;
    rest.split([' ', '"']).next()?.parse().ok()
}

/// Writes `yaml` to a fresh temp file and returns its path.
pub fn write_config(yaml: &str) -> PathBuf {
    let n = CONFIG_SEQ.fetch_add(1, Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!("pushtail-test-{}-{n}.yaml", std::process::id()));
    std::fs::write(&path, yaml).expect("writing test config");
    path
}

impl Agent {
    /// Starts `bin` with `yaml` as its config plus `args`, and waits until it
    /// has logged `listeners` listen addresses. Panics (failing the test) with
    /// the agent's stderr if it does not come up within 20 s.
    pub fn start(bin: &Path, yaml: &str, args: &[&str], listeners: usize) -> Agent {
        Agent::start_at(bin, write_config(yaml), args, listeners)
    }

    /// Like [`Agent::start`], with the config already written at
    /// `config_path` (a test that needs the file in a directory of its own).
    pub fn start_at(bin: &Path, config_path: PathBuf, args: &[&str], listeners: usize) -> Agent {
        Agent::start_with_env(bin, config_path, args, &[], listeners)
    }

    /// Like [`Agent::start_at`], with extra environment variables.
    pub fn start_with_env(
        bin: &Path,
        config_path: PathBuf,
        args: &[&str],
        env: &[(&str, &str)],
        listeners: usize,
    ) -> Agent {
        let mut child = Command::new(bin)
            .arg(format!("-config.file={}", config_path.display()))
            .args(args)
            .envs(env.iter().copied())
            .env("RUST_LOG", "")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting pushtail");
        let stdout = Arc::new(Lines::default());
        let stderr = Arc::new(Lines::default());
        stdout.collect(child.stdout.take().expect("stdout piped"));
        stderr.collect(child.stderr.take().expect("stderr piped"));
        let log = stderr.wait_until(Duration::from_secs(20), |lines| {
            lines.iter().filter(|l| is_listening_line(l)).count() >= listeners
        });
        let addrs: Vec<SocketAddr> = log
            .iter()
            .filter(|l| is_listening_line(l))
            .filter_map(|l| listening_address(l))
            .collect();
        let mut agent = Agent {
            child,
            addrs,
            stdout,
            stderr,
            config_path,
        };
        if agent.addrs.len() < listeners {
            let _ = agent.child.kill();
            panic!("pushtail did not start; stderr:\n{}", log.join("\n"));
        }
        agent
    }

    /// Address of listener `i` (0 is the shared server).
    pub fn addr(&self, i: usize) -> SocketAddr {
        self.addrs[i]
    }

    /// `http://ADDR{path}` on listener `i`.
    pub fn url(&self, i: usize, path: &str) -> String {
        format!("http://{}{path}", self.addrs[i])
    }

    /// Waits until stdout has at least `n` lines (or the timeout passes) and
    /// returns them.
    pub fn wait_stdout(&self, n: usize, timeout: Duration) -> Vec<String> {
        self.stdout.wait_until(timeout, |lines| lines.len() >= n)
    }

    /// Waits until a stdout line contains `needle` (or the timeout passes)
    /// and returns stdout's lines.
    pub fn wait_stdout_line(&self, needle: &str, timeout: Duration) -> Vec<String> {
        self.stdout
            .wait_until(timeout, |lines| lines.iter().any(|l| l.contains(needle)))
    }

    pub fn stdout(&self) -> Vec<String> {
        self.stdout.snapshot()
    }

    /// Waits until a stderr line contains `needle` (or the timeout passes)
    /// and returns stderr's lines.
    pub fn wait_stderr(&self, needle: &str, timeout: Duration) -> Vec<String> {
        self.stderr
            .wait_until(timeout, |lines| lines.iter().any(|l| l.contains(needle)))
    }

    /// Waits until at least `n` stderr lines contain `needle` (or the
    /// timeout passes) and returns stderr's lines.
    pub fn wait_stderr_count(&self, needle: &str, n: usize, timeout: Duration) -> Vec<String> {
        self.stderr.wait_until(timeout, |lines| {
            lines.iter().filter(|l| l.contains(needle)).count() >= n
        })
    }

    pub fn stderr(&self) -> String {
        self.stderr.snapshot().join("\n")
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        self.signal("TERM");
    }

    /// Sends the signal `name` (`TERM`, `HUP`, ...).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .expect("running kill");
        assert!(status.success(), "kill -{name} failed");
    }

    /// The config file the agent was started with (tests may rewrite it).
    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    /// Waits for the process to exit, up to `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                // Let the pipe readers see EOF so stdout is complete.
                self.stdout.wait_until(Duration::from_secs(5), |_| false);
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.config_path);
    }
}

/// Runs `bin` to completion with `args` and returns (exit code, stdout, stderr).
pub fn run_to_end(bin: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    run_to_end_with_env(bin, args, &[])
}

/// [`run_to_end`] with extra environment variables.
pub fn run_to_end_with_env(
    bin: &Path,
    args: &[&str],
    env: &[(&str, &Path)],
) -> (Option<i32>, String, String) {
    let out = Command::new(bin)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("running pushtail");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
