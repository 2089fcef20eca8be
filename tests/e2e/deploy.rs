//! The files in `deploy/`: each is parsed (YAML with serde_yaml; the
//! Dockerfile, the systemd unit and nginx.conf with small parsers here) and
//! cross-checked: ports agree between configs, Services, probes, compose and
//! nginx; config paths agree between images, units and mounts; probe paths
//! are answered by the real binary; every pushtail config passes
//! `-check-syntax`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use pushtail_tests::agent::{run_to_end, write_config};
use serde_yaml::Value;

use crate::support::*;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(rel: &str) -> String {
    let path = repo().join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn yaml(text: &str, what: &str) -> Value {
    serde_yaml::from_str(text).unwrap_or_else(|e| panic!("{what}: {e}"))
}

/// `v[a][b]...` as a string, failing the test with the path if absent.
fn string<'a>(v: &'a Value, path: &[&str], what: &str) -> &'a str {
    let mut at = v;
    for key in path {
        at = &at[*key];
    }
    at.as_str()
        .unwrap_or_else(|| panic!("{what}: no string at {}", path.join(".")))
}

/// Runs `-check-syntax -config.expand-env` on `text`, which must pass.
fn check_syntax(text: &str, what: &str) {
    let path = write_config(text);
    let arg = format!("-config.file={}", path.display());
    let (code, stdout, stderr) = run_to_end(bin(), &[&arg, "-check-syntax", "-config.expand-env"]);
    let _ = std::fs::remove_file(path);
    assert_eq!(code, Some(0), "{what}: {stdout}{stderr}");
}

/// A pushtail config's shared-server port (9080 by default).
fn listen_port(config: &Value) -> u64 {
    config["server"]["http_listen_port"]
        .as_u64()
        .unwrap_or(9080)
}

fn graceful_seconds(config: &Value) -> u64 {
    let text = config["server"]["graceful_shutdown_timeout"]
        .as_str()
        .unwrap_or("30s");
    seconds(text)
}

/// `45s`, `1m`: the simple durations these files use.
fn seconds(text: &str) -> u64 {
    if let Some(s) = text.strip_suffix('s') {
        return s.parse().unwrap_or_else(|_| panic!("duration {text:?}"));
    }
    if let Some(m) = text.strip_suffix('m') {
        return 60
            * m.parse::<u64>()
                .unwrap_or_else(|_| panic!("duration {text:?}"));
    }
    text.parse().unwrap_or_else(|_| panic!("duration {text:?}"))
}

/// Starts the real binary with `config` moved to a free loopback port and
/// checks that every path in `paths` answers 200.
async fn paths_answer(config: &Value, paths: &[&str], what: &str) {
    let mut local = config.clone();
    local["server"]["http_listen_address"] = "127.0.0.1".into();
    local["server"]["http_listen_port"] = 0.into();
    let text = serde_yaml::to_string(&local).expect("yaml");
    let agent = Agent::start(bin(), &text, &["-dry-run", "-config.expand-env"], 1);
    for path in paths {
        let resp = reqwest::get(agent.url(0, path)).await.expect("request");
        assert_eq!(resp.status().as_u16(), 200, "{what}: GET {path}");
    }
}

// ---------------------------------------------------------------- Dockerfile

/// One instruction: keyword (upper case) and its arguments, continuation
/// lines joined.
type Instruction = (String, String);

fn dockerfile(text: &str) -> Vec<Instruction> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if current.is_empty() && (trimmed.is_empty() || trimmed.starts_with('#')) {
            continue;
        }
        if let Some(head) = trimmed.strip_suffix('\\') {
            current.push_str(head);
            current.push(' ');
            continue;
        }
        current.push_str(trimmed);
        let (word, rest) = current.split_once(' ').unwrap_or((&current, ""));
        out.push((word.to_ascii_uppercase(), rest.trim().to_owned()));
        current.clear();
    }
    out
}

/// The image's runtime stage and what the tests need from it.
struct Image {
    config_path: String,
    config_source: String,
    exposed: BTreeSet<u64>,
    command: Vec<String>,
}

fn image() -> Image {
    let all = dockerfile(&read("deploy/Dockerfile"));
    let froms: Vec<&String> = all
        .iter()
        .filter(|(w, _)| w == "FROM")
        .map(|(_, r)| r)
        .collect();
    assert!(froms.len() >= 2, "a multi-stage build: {froms:?}");
    let builder = froms[0];
    let rust = builder
        .strip_prefix("rust:")
        .unwrap_or_else(|| panic!("the builder is a rust image: {builder}"));
    let version: Vec<u32> = rust
        .split(['-', ' '])
        .next()
        .unwrap_or_default()
        .split('.')
        .map(|n| n.parse().expect("rust version"))
        .collect();
    let msrv: Vec<u32> = yaml_toml_value(&read("Cargo.toml"), "rust-version")
        .split('.')
        .map(|n| n.parse().expect("rust-version"))
        .collect();
    assert!(
        version >= msrv,
        "builder {rust} older than rust-version {msrv:?}"
    );
    let stage_name = builder
        .split_whitespace()
        .skip_while(|w| !w.eq_ignore_ascii_case("as"))
        .nth(1)
        .expect("the builder stage is named");

    let last_from = all.iter().rposition(|(w, _)| w == "FROM").expect("FROM");
    let runtime = &all[last_from..];
    let base = &runtime[0].1;
    assert!(
        base.contains("distroless") || base.starts_with("scratch"),
        "the runtime image is distroless or static: {base}"
    );
    let user = runtime
        .iter()
        .rfind(|(w, _)| w == "USER")
        .map(|(_, r)| r.as_str())
        .expect("the runtime stage sets USER");
    let name = user.split(':').next().unwrap_or_default();
    assert!(!matches!(name, "root" | "0" | ""), "non-root user: {user}");

    let mut binary = None;
    let mut config = None;
    for (word, rest) in runtime {
        if word != "COPY" {
            continue;
        }
        let parts: Vec<&str> = rest.split_whitespace().collect();
        match parts.as_slice() {
            [from, _, dest] if *from == format!("--from={stage_name}") => binary = Some(*dest),
            [src, dest] if dest.ends_with(".yaml") => config = Some((*src, *dest)),
            _ => {}
        }
    }
    let binary = binary.expect("the binary is copied from the builder");
    let (config_source, config_path) = config.expect("a config is copied into the image");
    assert_eq!(config_path, "/etc/pushtail/config.yaml");
    let json_array = |word: &str| -> Vec<String> {
        let text = &runtime
            .iter()
            .find(|(w, _)| w == word)
            .unwrap_or_else(|| panic!("{word}"))
            .1;
        serde_json::from_str(text).unwrap_or_else(|e| panic!("{word} as a JSON array: {e}"))
    };
    let entrypoint = json_array("ENTRYPOINT");
    assert_eq!(entrypoint, [binary], "ENTRYPOINT runs the copied binary");
    let exposed = runtime
        .iter()
        .filter(|(w, _)| w == "EXPOSE")
        .flat_map(|(_, r)| r.split_whitespace())
        .map(|p| p.trim_end_matches("/tcp").parse().expect("EXPOSE port"))
        .collect();
    Image {
        config_path: config_path.to_owned(),
        config_source: config_source.to_owned(),
        exposed,
        command: json_array("CMD"),
    }
}

/// `key = "value"` from a TOML file (only what these tests read).
fn yaml_toml_value(text: &str, key: &str) -> String {
    text.lines()
        .find_map(|l| {
            let (k, v) = l.split_once('=')?;
            (k.trim() == key).then(|| v.trim().trim_matches('"').to_owned())
        })
        .unwrap_or_else(|| panic!("{key} in Cargo.toml"))
}

#[tokio::test(flavor = "multi_thread")]
async fn dockerfile_builds_a_non_root_image_with_a_valid_config() {
    let image = image();
    let text = read(&image.config_source);
    check_syntax(&text, &image.config_source);
    let config = yaml(&text, &image.config_source);
    assert!(
        image.exposed.contains(&listen_port(&config)),
        "EXPOSE {:?} includes the config's port",
        image.exposed
    );
    assert!(
        image
            .command
            .contains(&format!("-config.file={}", image.config_path)),
        "CMD reads the baked-in config: {:?}",
        image.command
    );
    assert!(image.command.iter().any(|a| a == "-config.expand-env"));
    let ignore = read("deploy/Dockerfile.dockerignore");
    assert!(
        ignore.lines().any(|l| l.trim() == "target"),
        "target/ is not sent to the builder"
    );
    paths_answer(&config, &["/ready", "/"], "deploy/config.yaml").await;
}

// ------------------------------------------------------------------ systemd

fn unit(text: &str) -> BTreeMap<String, Vec<(String, String)>> {
    let mut sections: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    let mut current = String::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = name.to_owned();
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("not key=value: {line}"));
        assert!(!current.is_empty(), "{key} outside a section");
        sections
            .entry(current.clone())
            .or_default()
            .push((key.trim().to_owned(), value.trim().to_owned()));
    }
    sections
}

#[test]
fn systemd_unit_is_hardened_and_matches_its_config() {
    let sections = unit(&read("deploy/systemd/pushtail.service"));
    let service = &sections["Service"];
    let get = |key: &str| -> &str {
        service
            .iter()
            .rfind(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("[Service] {key}"))
    };
    let wanted: &[(&str, &str)] = &[
        ("DynamicUser", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("NoNewPrivileges", "yes"),
        ("PrivateTmp", "yes"),
        ("ExecReload", "/bin/kill -HUP $MAINPID"),
        ("CapabilityBoundingSet", ""),
    ];
    for (key, value) in wanted {
        assert_eq!(get(key), *value, "{key}");
    }
    assert!(matches!(get("Restart"), "on-failure" | "always"));
    assert!(sections["Install"].iter().any(|(k, _)| k == "WantedBy"));

    let exec: Vec<&str> = get("ExecStart").split_whitespace().collect();
    let config_path = exec
        .iter()
        .find_map(|a| a.strip_prefix("-config.file="))
        .expect("ExecStart names the config");
    assert_eq!(
        config_path,
        format!("/etc/{}/config.yaml", get("ConfigurationDirectory")),
        "the config is in the unit's ConfigurationDirectory"
    );
    let text = read("deploy/systemd/config.yaml");
    check_syntax(&text, "deploy/systemd/config.yaml");
    let config = yaml(&text, "deploy/systemd/config.yaml");
    if config["wal"]["enabled"].as_bool() == Some(true) {
        let dir = string(&config, &["wal", "dir"], "systemd config");
        let state = format!("/var/lib/{}/", get("StateDirectory"));
        assert!(
            dir.starts_with(&state),
            "wal.dir {dir} is under {state}, the only writable place"
        );
    }
    assert!(
        seconds(get("TimeoutStopSec")) > graceful_seconds(&config),
        "systemd waits longer than graceful_shutdown_timeout before SIGKILL"
    );
}

// --------------------------------------------------------------- Kubernetes

fn manifests() -> BTreeMap<String, Value> {
    let dir = "deploy/kubernetes";
    let kustomization = yaml(&read(&format!("{dir}/kustomization.yaml")), "kustomization");
    let listed: BTreeSet<String> = kustomization["resources"]
        .as_sequence()
        .expect("resources")
        .iter()
        .map(|r| r.as_str().expect("resource").to_owned())
        .collect();
    let on_disk: BTreeSet<String> = std::fs::read_dir(repo().join(dir))
        .expect("deploy/kubernetes")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml") && n != "kustomization.yaml")
        .collect();
    assert_eq!(listed, on_disk, "kustomization lists every manifest");
    let mut by_kind = BTreeMap::new();
    for file in listed {
        let doc = yaml(&read(&format!("{dir}/{file}")), &file);
        let kind = string(&doc, &["kind"], &file).to_owned();
        assert!(by_kind.insert(kind.clone(), doc).is_none(), "one {kind}");
    }
    by_kind
}

/// `selector` (a map of labels) is a subset of `labels`.
fn selects(selector: &Value, labels: &Value) -> bool {
    let Some(selector) = selector.as_mapping() else {
        return false;
    };
    !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

#[tokio::test(flavor = "multi_thread")]
async fn kubernetes_manifests_agree() {
    let m = manifests();
    let cm = &m["ConfigMap"];
    let deploy = &m["Deployment"];
    let service = &m["Service"];
    let pdb = &m["PodDisruptionBudget"];
    let hpa = &m["HorizontalPodAutoscaler"];
    let deploy_name = string(deploy, &["metadata", "name"], "Deployment");

    // The config, loaded by the real binary.
    let cm_name = string(cm, &["metadata", "name"], "ConfigMap");
    let text = string(cm, &["data", "config.yaml"], "ConfigMap");
    check_syntax(text, "ConfigMap config.yaml");
    let config = yaml(text, "ConfigMap config.yaml");
    let port = listen_port(&config);

    // Labels and selectors.
    let pod = &deploy["spec"]["template"];
    let labels = &pod["metadata"]["labels"];
    assert!(
        selects(&deploy["spec"]["selector"]["matchLabels"], labels),
        "Deployment selector"
    );
    assert!(
        selects(&service["spec"]["selector"], labels),
        "Service selector"
    );
    assert!(
        selects(&pdb["spec"]["selector"]["matchLabels"], labels),
        "PDB selector"
    );

    // The container: config mount, ports, probes.
    let containers = pod["spec"]["containers"].as_sequence().expect("containers");
    assert_eq!(containers.len(), 1);
    let c = &containers[0];
    let volume = pod["spec"]["volumes"]
        .as_sequence()
        .expect("volumes")
        .iter()
        .find(|v| v["configMap"]["name"].as_str() == Some(cm_name))
        .expect("a volume from the ConfigMap");
    let mount = c["volumeMounts"]
        .as_sequence()
        .expect("volumeMounts")
        .iter()
        .find(|m| m["name"] == volume["name"])
        .expect("the ConfigMap volume is mounted");
    let config_file = format!("{}/config.yaml", string(mount, &["mountPath"], "mount"));
    let args: Vec<&str> = c["args"]
        .as_sequence()
        .expect("args")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        args.contains(&format!("-config.file={config_file}").as_str()),
        "{args:?}"
    );
    if text.contains("${") {
        assert!(
            args.contains(&"-config.expand-env"),
            "the config uses ${{VAR}}"
        );
    }
    let ports: BTreeMap<&str, u64> = c["ports"]
        .as_sequence()
        .expect("ports")
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap_or_default(),
                p["containerPort"].as_u64().expect("containerPort"),
            )
        })
        .collect();
    assert!(
        ports.values().any(|p| *p == port),
        "containerPort {port}: {ports:?}"
    );
    let resolve = |v: &Value| -> u64 {
        v.as_u64()
            .or_else(|| v.as_str().and_then(|name| ports.get(name).copied()))
            .unwrap_or_else(|| panic!("port {v:?} is not a container port"))
    };
    let mut probe_paths = Vec::new();
    for probe in ["readinessProbe", "livenessProbe"] {
        let get = &c[probe]["httpGet"];
        if get.is_null() {
            continue;
        }
        assert_eq!(resolve(&get["port"]), port, "{probe} port");
        probe_paths.push(string(get, &["path"], probe).to_owned());
    }
    assert_eq!(
        c["readinessProbe"]["httpGet"]["path"].as_str(),
        Some("/ready"),
        "readiness on /ready"
    );
    let service_ports = service["spec"]["ports"]
        .as_sequence()
        .expect("Service ports");
    assert!(
        service_ports
            .iter()
            .any(|p| resolve(&p["targetPort"]) == port),
        "the Service targets the push port"
    );

    // Scaling and disruption.
    assert!(
        c["resources"]["requests"]["cpu"].is_string(),
        "HPA on CPU needs a CPU request"
    );
    assert_eq!(hpa["spec"]["scaleTargetRef"]["kind"], "Deployment");
    assert_eq!(
        string(hpa, &["spec", "scaleTargetRef", "name"], "HPA"),
        deploy_name
    );
    let metric = &hpa["spec"]["metrics"][0];
    assert_eq!(metric["resource"]["name"], "cpu");
    let min = hpa["spec"]["minReplicas"].as_u64().expect("minReplicas");
    let min_available = pdb["spec"]["minAvailable"].as_u64().expect("minAvailable");
    assert!(
        min > min_available,
        "a voluntary eviction can always proceed"
    );
    let grace = pod["spec"]["terminationGracePeriodSeconds"]
        .as_u64()
        .expect("grace");
    assert!(
        grace > graceful_seconds(&config),
        "the pod outlives graceful_shutdown_timeout"
    );

    let paths: Vec<&str> = probe_paths.iter().map(String::as_str).collect();
    paths_answer(&config, &paths, "ConfigMap config.yaml").await;
}

// ------------------------------------------------------------ docker compose

/// What nginx.conf says: upstream name → servers, listen ports, proxy_pass
/// targets.
struct Nginx {
    upstreams: BTreeMap<String, BTreeSet<String>>,
    listens: BTreeSet<u64>,
    proxy_passes: BTreeSet<String>,
}

fn nginx(text: &str) -> Nginx {
    let mut out = Nginx {
        upstreams: BTreeMap::new(),
        listens: BTreeSet::new(),
        proxy_passes: BTreeSet::new(),
    };
    let mut blocks: Vec<String> = Vec::new();
    let mut depth = 0i32;
    for raw in text.lines() {
        let line = raw.split('#').next().unwrap_or_default().trim();
        if line.is_empty() {
            continue;
        }
        if let Some(head) = line.strip_suffix('{') {
            blocks.push(head.trim().to_owned());
            depth += 1;
            continue;
        }
        if line == "}" {
            blocks.pop();
            depth -= 1;
            assert!(depth >= 0, "unbalanced braces in nginx.conf");
            continue;
        }
        let statement = line
            .strip_suffix(';')
            .unwrap_or_else(|| panic!("nginx.conf: no ';' after {line}"));
        let mut words = statement.split_whitespace();
        let directive = words.next().unwrap_or_default();
        let arg = words.next().unwrap_or_default();
        let block = blocks.last().map(String::as_str).unwrap_or_default();
        match (block.split_whitespace().next(), directive) {
            (Some("upstream"), "server") => {
                let name = block.split_whitespace().nth(1).expect("upstream name");
                out.upstreams
                    .entry(name.to_owned())
                    .or_default()
                    .insert(arg.to_owned());
            }
            (Some("server"), "listen") => {
                out.listens.insert(arg.parse().expect("listen port"));
            }
            (_, "proxy_pass") => {
                out.proxy_passes.insert(arg.to_owned());
            }
            _ => {}
        }
    }
    assert_eq!(depth, 0, "unbalanced braces in nginx.conf");
    out
}

/// A compose `ports` entry `"HOST:CONTAINER"` → the container port.
fn container_ports(service: &Value) -> BTreeSet<u64> {
    service["ports"]
        .as_sequence()
        .map(|ports| {
            ports
                .iter()
                .filter_map(Value::as_str)
                .map(|p| p.rsplit(':').next().unwrap_or(p).parse().expect("port"))
                .collect()
        })
        .unwrap_or_default()
}

/// The host file mounted at `target` in a compose service.
fn mounted<'a>(service: &'a Value, target: &str) -> Option<&'a str> {
    service["volumes"].as_sequence()?.iter().find_map(|v| {
        let mut parts = v.as_str()?.split(':');
        let (source, dest) = (parts.next()?, parts.next()?);
        (dest == target).then_some(source)
    })
}

/// `http://host:port/path` → (host, port, path).
fn split_url(url: &str) -> (String, u64, String) {
    let rest = url.split_once("://").expect("a URL").1;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let (host, port) = authority.split_once(':').expect("an explicit port");
    (
        host.to_owned(),
        port.parse().expect("port"),
        path.to_owned(),
    )
}

#[test]
fn compose_chain_agrees_with_nginx_and_the_configs() {
    let dir = "deploy/compose";
    let compose = yaml(
        &read(&format!("{dir}/docker-compose.yaml")),
        "docker-compose.yaml",
    );
    let services = compose["services"].as_mapping().expect("services");
    let image = image();

    // The image is built from this repository's Dockerfile.
    let builds: Vec<&Value> = services
        .values()
        .filter(|s| !s["build"].is_null())
        .collect();
    assert_eq!(builds.len(), 1, "one service builds the image");
    let context = repo()
        .join(dir)
        .join(string(builds[0], &["build", "context"], "build"));
    assert!(
        context.join("Cargo.toml").is_file(),
        "the build context is the repository"
    );
    assert!(context
        .join(string(builds[0], &["build", "dockerfile"], "build"))
        .ends_with("deploy/Dockerfile"));

    // Every pushtail: its config mounted where the image reads it, valid.
    let mut pushtails: BTreeMap<String, Value> = BTreeMap::new();
    for (name, service) in services {
        let name = name.as_str().expect("service name").to_owned();
        let Some(source) = mounted(service, &image.config_path) else {
            continue;
        };
        let file = format!("{dir}/{}", source.trim_start_matches("./"));
        let text = read(&file);
        check_syntax(&text, &file);
        pushtails.insert(name, yaml(&text, &file));
    }
    let edge = &pushtails["edge"];
    let aggregators: BTreeMap<&String, &Value> =
        pushtails.iter().filter(|(n, _)| *n != "edge").collect();
    assert!(
        aggregators.len() >= 2,
        "two replicas: {:?}",
        pushtails.keys()
    );

    // nginx balances over exactly the aggregators, on their ports.
    let lb = &compose["services"]["lb"];
    let conf = mounted(lb, "/etc/nginx/nginx.conf").expect("nginx.conf mounted");
    let ngx = nginx(&read(&format!("{dir}/{}", conf.trim_start_matches("./"))));
    assert_eq!(ngx.upstreams.len(), 1);
    let (upstream, servers) = ngx.upstreams.iter().next().expect("an upstream");
    let want: BTreeSet<String> = aggregators
        .iter()
        .map(|(name, config)| format!("{name}:{}", listen_port(config)))
        .collect();
    assert_eq!(*servers, want, "upstream servers are the aggregators");
    assert_eq!(
        ngx.proxy_passes,
        BTreeSet::from([format!("http://{upstream}")])
    );
    assert_eq!(
        container_ports(lb),
        ngx.listens,
        "the lb publishes what nginx listens on"
    );

    // The edge pushes to the lb, on a push path the aggregators serve.
    let (host, port, path) = split_url(string(&edge["clients"][0], &["url"], "edge client"));
    assert_eq!(host, "lb");
    assert!(ngx.listens.contains(&port), "edge → lb port {port}");
    for (name, config) in &aggregators {
        let base = config["scrape_configs"][0]["http"]["base_url"]
            .as_str()
            .unwrap_or("/");
        assert_eq!(
            format!("{base}loki/api/v1/push"),
            path,
            "{name} serves {path}"
        );
        let (host, port, _) = split_url(string(&config["clients"][0], &["url"], name));
        assert_eq!(host, "loki", "{name} forwards to loki");
        assert!(
            container_ports(&compose["services"]["loki"]).contains(&port),
            "loki port {port}"
        );
    }
    assert!(
        container_ports(&compose["services"]["edge"]).contains(&listen_port(edge)),
        "the edge publishes its listen port"
    );
}
