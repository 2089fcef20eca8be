//! Config reload through the real binary: a changed file or SIGHUP swaps
//! targets in; a bad file or a change that needs a restart is refused and
//! the running config stays.

use std::time::Duration;

use crate::support::*;

fn config(labels: &str, extra_top: &str) -> String {
    format!(
        "server:\n  http_listen_address: 127.0.0.1\n  http_listen_port: 0\n{extra_top}\
         scrape_configs:\n  - job_name: app\n    http:\n      base_url: /app/\n      labels: {labels}\n      use_incoming_timestamp: true\n"
    )
}

async fn reloads(agent: &Agent, name: &str) -> f64 {
    let Ok(resp) = reqwest::get(agent.url(0, "/metrics")).await else {
        return -1.0;
    };
    let text = resp.text().await.unwrap_or_default();
    text.lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0.0)
}

async fn wait_reloads(agent: &Agent, name: &str, at_least: f64) -> f64 {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let n = reloads(agent, name).await;
        if n >= at_least || tokio::time::Instant::now() >= deadline {
            return n;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until the agent's stderr mentions `needle`: file events can come in
/// twos, so a failure count may move before the reload under test has run.
async fn wait_stderr(agent: &Agent, needle: &str) -> bool {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !agent.stderr().contains(needle) {
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    true
}

async fn push_one(agent: &Agent, line: &str) -> Vec<String> {
    let body = format!(r#"{{"streams":[{{"stream":{{"a":"1"}},"values":[["1","{line}"]]}}]}}"#);
    let before = agent.stdout().len();
    let (status, text) = post(
        &reqwest::Client::new(),
        &agent.url(0, "/app/loki/api/v1/push"),
        &[JSON],
        body,
    )
    .await;
    assert_eq!(status, 204, "{text}");
    agent.wait_stdout(before + 1, WAIT)
}

const OK: &str = "promtail_config_reload_success_total";
const FAIL: &str = "promtail_config_reload_fail_total";

#[tokio::test(flavor = "multi_thread")]
async fn targets_reload_on_file_change_and_sighup_and_bad_configs_are_refused() {
    let agent = dry_run(&config("{v: one}", ""));
    assert_eq!(reloads(&agent, OK).await, 0.0);
    let out = push_one(&agent, "first").await;
    assert!(
        out.last().is_some_and(|l| l.contains("v=\"one\"")),
        "{out:?}"
    );

    // The file changes: the watcher reloads it.
    std::fs::write(agent.config_path(), config("{v: two}", "")).expect("rewrite config");
    assert!(
        wait_reloads(&agent, OK, 1.0).await >= 1.0,
        "{}",
        agent.stderr()
    );
    let out = push_one(&agent, "second").await;
    assert!(
        out.last().is_some_and(|l| l.contains("v=\"two\"")),
        "{out:?}"
    );

    // SIGHUP reloads too, even without a change.
    let before = reloads(&agent, OK).await;
    agent.signal("HUP");
    assert!(wait_reloads(&agent, OK, before + 1.0).await >= before + 1.0);

    // A file that does not validate is refused; the running targets stay.
    std::fs::write(
        agent.config_path(),
        config("{v: three}", "no_such_key: 1\n"),
    )
    .expect("rewrite");
    assert!(
        wait_reloads(&agent, FAIL, 1.0).await >= 1.0,
        "{}",
        agent.stderr()
    );
    let out = push_one(&agent, "third").await;
    assert!(
        out.last().is_some_and(|l| l.contains("v=\"two\"")),
        "{out:?}"
    );
    assert!(agent.stderr().contains("no_such_key"), "{}", agent.stderr());

    // Clients cannot change while running.
    let fails = reloads(&agent, FAIL).await;
    let with_client = config(
        "{v: four}",
        "clients:\n  - url: http://127.0.0.1:1/loki/api/v1/push\n",
    );
    std::fs::write(agent.config_path(), with_client).expect("rewrite");
    assert!(wait_reloads(&agent, FAIL, fails + 1.0).await >= fails + 1.0);
    assert!(
        wait_stderr(&agent, "clients changed").await,
        "{}",
        agent.stderr()
    );

    // Nor can the write-ahead log.
    let fails = reloads(&agent, FAIL).await;
    let with_wal = config(
        "{v: five}",
        "wal:\n  enabled: true\n  dir: /nonexistent/pushtail-wal\n",
    );
    std::fs::write(agent.config_path(), with_wal).expect("rewrite");
    assert!(wait_reloads(&agent, FAIL, fails + 1.0).await >= fails + 1.0);
    assert!(
        wait_stderr(&agent, "wal changed").await,
        "{}",
        agent.stderr()
    );
}

/// Longer than the watcher's settle time (200 ms): if an event were going to
/// reload, it would have by then.
const QUIET: Duration = Duration::from_millis(700);

#[tokio::test(flavor = "multi_thread")]
async fn only_changes_to_the_config_file_reload() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("pushtail.yaml");
    std::fs::write(&path, config("{v: one}", "")).expect("write config");
    let agent = Agent::start_at(bin(), path.clone(), &["-dry-run"], 1);
    assert_eq!(reloads(&agent, OK).await, 0.0);

    // A busy neighbour: a log file written many times, a temp file renamed
    // onto another name, a file removed. None of it is the config.
    {
        use std::io::Write;
        let mut log = std::fs::File::create(dir.path().join("app.log")).expect("create log");
        for i in 0..20_000 {
            writeln!(log, "line {i}").expect("write log");
        }
    }
    std::fs::write(dir.path().join("other.tmp"), "x").expect("write tmp");
    std::fs::rename(dir.path().join("other.tmp"), dir.path().join("other.yaml")).expect("rename");
    std::fs::remove_file(dir.path().join("other.yaml")).expect("remove");
    tokio::time::sleep(QUIET).await;
    assert_eq!(reloads(&agent, OK).await, 0.0, "{}", agent.stderr());
    assert_eq!(reloads(&agent, FAIL).await, 0.0, "{}", agent.stderr());

    // An editor's temp file renamed onto the config reloads it.
    let tmp = dir.path().join(".pushtail.yaml.tmp");
    std::fs::write(&tmp, config("{v: two}", "")).expect("write temp");
    std::fs::rename(&tmp, &path).expect("rename onto config");
    assert_eq!(
        wait_reloads(&agent, OK, 1.0).await,
        1.0,
        "{}",
        agent.stderr()
    );
    let out = push_one(&agent, "renamed").await;
    assert!(
        out.last().is_some_and(|l| l.contains("v=\"two\"")),
        "{out:?}"
    );

    // vim's backup-rename: the file is renamed away, then written anew.
    std::fs::rename(&path, dir.path().join("pushtail.yaml~")).expect("backup rename");
    std::fs::write(&path, config("{v: three}", "")).expect("write anew");
    assert!(
        wait_reloads(&agent, OK, 2.0).await >= 2.0,
        "{}",
        agent.stderr()
    );
    let out = push_one(&agent, "vim").await;
    assert!(
        out.last().is_some_and(|l| l.contains("v=\"three\"")),
        "{out:?}"
    );
    assert_eq!(reloads(&agent, FAIL).await, 0.0, "{}", agent.stderr());
}

/// A Kubernetes ConfigMap volume: the config is a symlink through `..data`,
/// and an update swaps `..data` to a new directory atomically.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn a_configmap_symlink_swap_reloads() {
    use std::os::unix::fs::symlink;

    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    std::fs::create_dir(d.join("..v1")).expect("mkdir v1");
    std::fs::write(d.join("..v1/pushtail.yaml"), config("{v: one}", "")).expect("write v1");
    symlink("..v1", d.join("..data")).expect("link ..data");
    symlink("..data/pushtail.yaml", d.join("pushtail.yaml")).expect("link config");
    let agent = Agent::start_at(bin(), d.join("pushtail.yaml"), &["-dry-run"], 1);

    std::fs::create_dir(d.join("..v2")).expect("mkdir v2");
    std::fs::write(d.join("..v2/pushtail.yaml"), config("{v: two}", "")).expect("write v2");
    symlink("..v2", d.join("..data_tmp")).expect("link ..data_tmp");
    std::fs::rename(d.join("..data_tmp"), d.join("..data")).expect("swap ..data");
    std::fs::remove_dir_all(d.join("..v1")).expect("remove v1");

    assert!(
        wait_reloads(&agent, OK, 1.0).await >= 1.0,
        "{}",
        agent.stderr()
    );
    let out = push_one(&agent, "swapped").await;
    assert!(
        out.last().is_some_and(|l| l.contains("v=\"two\"")),
        "{out:?}"
    );
}
