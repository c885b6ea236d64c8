//! Reads the facts the host checks judge: the engine's `/info`, the default
//! bridge, images (inspect, history, layers), the project's containers and
//! their exec sessions, swarm; the daemon's command line (`/proc`) and
//! configuration file; owners and modes of the daemon's files; the audit
//! rules and the mounts. Nothing here judges; every failure to read is kept
//! as the reason, for the report's notes.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

use bollard::Docker;
use bollard::query_parameters::{EventsOptions, ListNetworksOptions};
use futures_util::StreamExt as _;

use super::facts::{
    DaemonConfig, EngineFacts, ExecFact, FileFact, HostFacts, ImageFacts, ServiceFacts, Stat,
    SwarmFacts,
};
use super::files::AUDITED;
use crate::audit::subject::Subject;
use crate::compose::Project;
use crate::image::FINGERPRINT_LABEL;
use crate::image::layers::ImageFs;
use crate::listeners;

/// Where systemd looks for units, most specific first.
const UNIT_DIRS: &[&str] = &[
    "/etc/systemd/system",
    "/run/systemd/system",
    "/usr/lib/systemd/system",
    "/lib/systemd/system",
];

/// Reads everything `audit --host` judges.
pub async fn gather(docker: &Docker, project: &Project, subjects: &[Subject]) -> HostFacts {
    let dockerd = find_process("dockerd");
    let engine = engine(docker).await;
    let daemon = daemon_config(dockerd);
    let root_dir = engine
        .as_ref()
        .map(|e| e.root_dir.clone())
        .unwrap_or_else(|_| "/var/lib/docker".to_owned());
    let setting_path = |flag: &str, key: &str| {
        daemon
            .setting(flag, key)
            .ok()
            .flatten()
            .map(|s| s.value)
            .filter(|v| !v.is_empty())
    };
    let unit = |name: &str| {
        UNIT_DIRS
            .iter()
            .map(|d| format!("{d}/{name}"))
            .find(|p| Path::new(p).exists())
    };
    let mut files = Vec::new();
    let mut file = |owner_check, mode_check, path: String, owner, max_mode| {
        files.push(FileFact {
            owner_check,
            mode_check,
            stat: stat(&path),
            path,
            owner,
            max_mode,
        });
    };
    let root = ("root", "root");
    if let Some(path) = unit("docker.service") {
        file("CIS-3.1", "CIS-3.2", path, root, 0o644);
    }
    if let Some(path) = unit("docker.socket") {
        file("CIS-3.3", "CIS-3.4", path, root, 0o644);
    }
    file("CIS-3.5", "CIS-3.6", "/etc/docker".into(), root, 0o755);
    for cert in certs("/etc/docker/certs.d") {
        file("CIS-3.7", "CIS-3.8", cert, root, 0o444);
    }
    for (flag, key, owner_check, mode_check, max) in [
        ("--tlscacert", "tlscacert", "CIS-3.9", "CIS-3.10", 0o444),
        ("--tlscert", "tlscert", "CIS-3.11", "CIS-3.12", 0o444),
        ("--tlskey", "tlskey", "CIS-3.13", "CIS-3.14", 0o400),
    ] {
        if let Some(path) = setting_path(flag, key) {
            file(owner_check, mode_check, path, root, max);
        }
    }
    for socket in docker_sockets(&daemon) {
        file("CIS-3.15", "CIS-3.16", socket, ("root", "docker"), 0o660);
    }
    file(
        "CIS-3.17",
        "CIS-3.18",
        daemon.file_path.clone(),
        root,
        0o644,
    );
    file(
        "CIS-3.19",
        "CIS-3.20",
        "/etc/default/docker".into(),
        root,
        0o644,
    );
    file(
        "CIS-3.22",
        "CIS-3.21",
        "/etc/sysconfig/docker".into(),
        root,
        0o644,
    );
    let containerd_socks = containerd_sockets(&daemon);
    for socket in &containerd_socks {
        file("CIS-3.23", "CIS-3.24", socket.clone(), root, 0o660);
    }

    let exists = |p: &str| Path::new(p).exists().then(|| p.to_owned());
    let audit_paths: Vec<(&'static str, Option<String>)> = AUDITED
        .iter()
        .map(|(key, _)| {
            let path = match *key {
                "dockerd" => dockerd
                    .and_then(|pid| std::fs::read_link(format!("/proc/{pid}/exe")).ok())
                    .map(|p| p.display().to_string())
                    .or_else(|| which("dockerd")),
                "root-dir" => exists(&root_dir),
                "docker.service" => unit("docker.service"),
                "docker.socket" => unit("docker.socket"),
                "daemon.json" => exists(&daemon.file_path),
                "containerd.sock" => containerd_socks.first().cloned(),
                path if path.starts_with('/') => exists(path),
                binary => which(binary),
            };
            (*key, path)
        })
        .collect();

    let images = images(docker, project, subjects).await;
    let services = services(docker, project).await;
    let swarm = match &engine {
        Ok(e) if e.swarm_active => Some(swarm(docker).await),
        _ => None,
    };
    let daemon_tcp = daemon_tcp(dockerd).map(|sockets| {
        // Swarm's management and gossip ports and the metrics address are
        // dockerd's too, but they are not the API.
        let swarm = engine.as_ref().is_ok_and(|e| e.swarm_active);
        let metrics = setting_path("--metrics-addr", "metrics-addr");
        sockets
            .into_iter()
            .filter(|a| !(swarm && matches!(a.port(), 2377 | 7946)))
            .filter(|a| metrics.as_deref() != Some(a.to_string().as_str()))
            .collect()
    });
    HostFacts {
        root_dir_mounted: mounted(&root_dir),
        engine,
        files,
        docker_group: docker_group(),
        audit_rules: audit_rules(),
        audit_paths,
        proxy_processes: count_processes("docker-proxy"),
        daemon_tcp,
        content_trust: std::env::var("DOCKER_CONTENT_TRUST").ok(),
        daemon,
        images,
        services,
        swarm,
    }
}

async fn engine(docker: &Docker) -> Result<EngineFacts, String> {
    let info = docker.info().await.map_err(|e| e.to_string())?;
    let registry = info.registry_config.clone().unwrap_or_default();
    let mut insecure: Vec<String> = registry
        .insecure_registry_cidrs
        .unwrap_or_default()
        .into_iter()
        .filter(|cidr| cidr != "127.0.0.0/8" && cidr != "::1/128")
        .collect();
    for (name, index) in registry.index_configs.unwrap_or_default() {
        if index.secure == Some(false) && !insecure.contains(&name) {
            insecure.push(name);
        }
    }
    insecure.sort();
    let bridge_icc = match docker
        .inspect_network(
            "bridge",
            None::<bollard::query_parameters::InspectNetworkOptions>,
        )
        .await
    {
        Ok(network) => Ok(Some(
            network
                .options
                .unwrap_or_default()
                .get("com.docker.network.bridge.enable_icc")
                .is_none_or(|v| v != "false"),
        )),
        Err(err) if crate::engine::is_not_found(&err) => Ok(None),
        Err(err) => Err(err.to_string()),
    };
    let swarm_active = info
        .swarm
        .as_ref()
        .and_then(|s| s.local_node_state.as_ref())
        .is_some_and(|s| s.to_string() == "active");
    Ok(EngineFacts {
        version: info.server_version.unwrap_or_default(),
        security_options: info.security_options.unwrap_or_default(),
        live_restore: info.live_restore_enabled == Some(true),
        logging_driver: info.logging_driver.unwrap_or_default(),
        storage_driver: info.driver.unwrap_or_default(),
        insecure_registries: insecure,
        experimental: info.experimental_build == Some(true),
        authorization_plugins: info
            .plugins
            .and_then(|p| p.authorization)
            .unwrap_or_default(),
        debug: info.debug == Some(true),
        root_dir: info
            .docker_root_dir
            .unwrap_or_else(|| "/var/lib/docker".to_owned()),
        swarm_active,
        bridge_icc,
    })
}

/// The PID of the first process named `name` (its `comm`).
fn find_process(name: &str) -> Option<u32> {
    let entries = std::fs::read_dir("/proc").ok()?;
    entries.flatten().find_map(|entry| {
        let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
        let comm = std::fs::read_to_string(entry.path().join("comm")).ok()?;
        (comm.trim() == name).then_some(pid)
    })
}

fn count_processes(name: &str) -> Result<usize, String> {
    let entries = std::fs::read_dir("/proc").map_err(|e| format!("/proc: {e}"))?;
    Ok(entries
        .flatten()
        .filter(|entry| {
            std::fs::read_to_string(entry.path().join("comm")).is_ok_and(|comm| comm.trim() == name)
        })
        .count())
}

fn daemon_config(dockerd: Option<u32>) -> DaemonConfig {
    let cmdline = match dockerd {
        None => Err("no dockerd process is visible on this host (a remote engine, or one in another PID namespace)".to_owned()),
        Some(pid) => std::fs::read(format!("/proc/{pid}/cmdline"))
            .map(|bytes| {
                bytes
                    .split(|b| *b == 0)
                    .skip(1)
                    .filter(|w| !w.is_empty())
                    .map(|w| String::from_utf8_lossy(w).into_owned())
                    .collect()
            })
            .map_err(|e| format!("/proc/{pid}/cmdline: {e}")),
    };
    let mut config = DaemonConfig {
        cmdline,
        file: Ok(None),
        file_path: "/etc/docker/daemon.json".to_owned(),
    };
    if let Ok(Some(path)) = config
        .setting("--config-file", "")
        .map(|s| s.map(|s| s.value))
    {
        config.file_path = path;
    }
    config.file = match std::fs::read_to_string(&config.file_path) {
        Ok(text) => serde_json::from_str(&text)
            .map(|json| Some((config.file_path.clone(), json)))
            .map_err(|e| format!("{} is not valid JSON: {e}", config.file_path)),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(format!("{}: {err}", config.file_path)),
    };
    config
}

fn stat(path: &str) -> Result<Option<Stat>, String> {
    match std::fs::metadata(path) {
        Ok(meta) => Ok(Some(Stat {
            uid: meta.uid(),
            gid: meta.gid(),
            mode: meta.mode() & 0o7777,
            user: nix::unistd::User::from_uid(meta.uid().into())
                .ok()
                .flatten()
                .map(|u| u.name),
            group: nix::unistd::Group::from_gid(meta.gid().into())
                .ok()
                .flatten()
                .map(|g| g.name),
        })),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err.to_string()),
    }
}

/// Every `*.crt` under `dir`, recursively.
fn certs(dir: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![PathBuf::from(dir)];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "crt") {
                found.push(path.display().to_string());
            }
        }
    }
    found.sort();
    found
}

/// The engine's unix sockets: `DOCKER_HOST`'s, the daemon's `-H unix://`
/// ones, else the default.
fn docker_sockets(daemon: &DaemonConfig) -> Vec<String> {
    let mut sockets = Vec::new();
    if let Ok(host) = std::env::var("DOCKER_HOST")
        && let Some(path) = host.strip_prefix("unix://")
    {
        sockets.push(path.to_owned());
    }
    if let Ok(args) = &daemon.cmdline {
        let mut words = args.iter();
        while let Some(word) = words.next() {
            let value = match word.as_str() {
                "-H" | "--host" => words.next().cloned(),
                w => w
                    .strip_prefix("--host=")
                    .or_else(|| w.strip_prefix("-H="))
                    .map(str::to_owned),
            };
            if let Some(path) = value.as_deref().and_then(|v| v.strip_prefix("unix://")) {
                sockets.push(path.to_owned());
            }
        }
    }
    if sockets.is_empty() {
        sockets.push("/var/run/docker.sock".to_owned());
    }
    let mut seen: Vec<PathBuf> = Vec::new();
    sockets.retain(|s| {
        let real = std::fs::canonicalize(s).unwrap_or_else(|_| PathBuf::from(s));
        let new = !seen.contains(&real);
        seen.push(real);
        new
    });
    sockets
}

/// containerd's sockets: the system one and the one the daemon uses
/// (`--containerd`, or the one dockerd starts itself).
fn containerd_sockets(daemon: &DaemonConfig) -> Vec<String> {
    let mut found = Vec::new();
    if let Ok(Some(s)) = daemon.setting("--containerd", "containerd") {
        found.push(s.value);
    }
    for path in [
        "/run/containerd/containerd.sock",
        "/var/run/docker/containerd/containerd.sock",
    ] {
        if Path::new(path).exists() {
            found.push(path.to_owned());
        }
    }
    found.dedup();
    found
}

fn which(binary: &str) -> Option<String> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/bin", "/sbin", "/bin"].map(PathBuf::from))
        .map(|dir| dir.join(binary))
        .find(|p| p.is_file())
        .map(|p| p.display().to_string())
}

fn mounted(dir: &str) -> Result<bool, String> {
    let text =
        std::fs::read_to_string("/proc/self/mountinfo").map_err(|e| format!("mountinfo: {e}"))?;
    // With user-namespace remapping the root is a subdirectory of the data root.
    let parent = Path::new(dir)
        .parent()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    Ok(text.lines().any(|line| {
        let mount = line.split_whitespace().nth(4).unwrap_or_default();
        mount == dir || (dir.contains('.') && mount == parent)
    }))
}

fn docker_group() -> Result<Option<Vec<String>>, String> {
    nix::unistd::Group::from_name("docker")
        .map(|g| g.map(|g| g.mem))
        .map_err(|e| format!("NSS lookup of group `docker`: {e}"))
}

fn audit_rules() -> Result<Vec<String>, String> {
    if let Some(auditctl) = which("auditctl") {
        let output = std::process::Command::new(&auditctl)
            .arg("-l")
            .output()
            .map_err(|e| format!("{auditctl} -l: {e}"))?;
        if !output.status.success() {
            return Err(format!(
                "`auditctl -l` failed ({}): run as root",
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
        return Ok(String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(str::to_owned)
            .collect());
    }
    let mut rules = Vec::new();
    let mut files = vec![PathBuf::from("/etc/audit/audit.rules")];
    match std::fs::read_dir("/etc/audit/rules.d") {
        Ok(dir) => files.extend(dir.flatten().map(|e| e.path())),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => return Err(format!("/etc/audit/rules.d: {err}")),
    }
    for file in files {
        match std::fs::read_to_string(&file) {
            Ok(text) => rules.extend(
                text.lines()
                    .filter(|l| !l.trim_start().starts_with('#'))
                    .map(str::to_owned),
            ),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => return Err(format!("{}: {err}", file.display())),
        }
    }
    Ok(rules)
}

fn daemon_tcp(dockerd: Option<u32>) -> Result<Vec<std::net::SocketAddr>, String> {
    let pid = dockerd.ok_or("no dockerd process is visible on this host")?;
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map_err(|e| format!("/proc/{pid}/fd: {e} (run as root)"))?;
    Ok(listeners::listening()
        .into_iter()
        .filter(|l| l.process.as_ref().is_some_and(|(p, _)| *p == pid))
        .map(|l| l.addr)
        .collect())
}

async fn images(docker: &Docker, project: &Project, subjects: &[Subject]) -> Vec<ImageFacts> {
    let mut found = Vec::new();
    for (name, service) in &project.model.services {
        let image = subjects
            .iter()
            .find(|s| &s.service == name)
            .and_then(|s| s.image.clone())
            .unwrap_or_else(|| crate::image::image_name(project, name, service));
        let mut facts = ImageFacts {
            service: name.clone(),
            image: image.clone(),
            built_locally: service.build.is_some(),
            history: Err(String::new()),
            env: Vec::new(),
            setid_files: Ok(Vec::new()),
        };
        let inspected = match docker.inspect_image(&image).await {
            Ok(inspected) => inspected,
            Err(err) => {
                facts.history = Err(if crate::engine::is_not_found(&err) {
                    "not on this engine: build it with `stackctl build`".to_owned()
                } else {
                    err.to_string()
                });
                found.push(facts);
                continue;
            }
        };
        let config = inspected.config.unwrap_or_default();
        facts.built_locally = config
            .labels
            .as_ref()
            .is_some_and(|l| l.contains_key(FINGERPRINT_LABEL));
        facts.env = config.env.unwrap_or_default();
        facts.history = docker
            .image_history(&image)
            .await
            .map(|h| h.into_iter().map(|item| item.created_by).collect())
            .map_err(|e| e.to_string());
        facts.setid_files = match ImageFs::export(docker, &image).await {
            Ok(fs) => Ok(fs
                .entries()
                .filter(|(_, e)| e.is_setuid() || e.is_setgid())
                .map(|(path, e)| (path, e.mode))
                .collect()),
            Err(err) => Err(format!("{err:#}")),
        };
        found.push(facts);
    }
    found
}

async fn services(docker: &Docker, project: &Project) -> Vec<ServiceFacts> {
    let containers = crate::stack::containers(docker, &project.name)
        .await
        .unwrap_or_default();
    let mut found = Vec::new();
    for (name, service) in &project.model.services {
        let mut facts = ServiceFacts {
            service: name.clone(),
            ulimits: service
                .ulimits
                .iter()
                .map(|(k, v)| format!("{k}={}:{}", v.soft, v.hard))
                .collect(),
            running: false,
            network_mode: None,
            execs: Vec::new(),
            past_execs: Ok(Vec::new()),
        };
        let Some(container) = containers.iter().find(|c| &c.service == name && c.running) else {
            found.push(facts);
            continue;
        };
        let Ok(inspected) = docker.inspect_container(&container.id, None).await else {
            found.push(facts);
            continue;
        };
        facts.running = true;
        let host = inspected.host_config.clone().unwrap_or_default();
        facts.network_mode = host.network_mode.clone();
        facts.ulimits = host
            .ulimits
            .unwrap_or_default()
            .into_iter()
            .map(|u| {
                format!(
                    "{}={}:{}",
                    u.name.unwrap_or_default(),
                    u.soft.unwrap_or_default(),
                    u.hard.unwrap_or_default()
                )
            })
            .collect();
        for exec_id in inspected.exec_ids.clone().unwrap_or_default() {
            if let Ok(exec) = docker.inspect_exec(&exec_id).await
                && exec.running == Some(true)
                && let Some(process) = exec.process_config
            {
                let mut command = vec![process.entrypoint.unwrap_or_default()];
                command.extend(process.arguments.unwrap_or_default());
                facts.execs.push(ExecFact {
                    command: command.join(" "),
                    user: process.user.unwrap_or_default(),
                    privileged: process.privileged == Some(true),
                });
            }
        }
        let started = inspected
            .state
            .and_then(|s| s.started_at)
            .and_then(|t| {
                time::OffsetDateTime::parse(&t, &time::format_description::well_known::Rfc3339).ok()
            })
            .map(|t| t.unix_timestamp());
        facts.past_execs = past_execs(docker, &container.id, started, &facts.execs).await;
        found.push(facts);
    }
    found
}

/// The exec sessions the engine's event log shows for a container since it
/// started, other than those still running.
async fn past_execs(
    docker: &Docker,
    id: &str,
    since: Option<i64>,
    running: &[ExecFact],
) -> Result<Vec<String>, String> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let options = EventsOptions {
        since: Some(since.unwrap_or(now - 24 * 3600).to_string()),
        until: Some(now.to_string()),
        filters: Some(HashMap::from([
            ("type".to_owned(), vec!["container".to_owned()]),
            ("container".to_owned(), vec![id.to_owned()]),
            ("event".to_owned(), vec!["exec_create".to_owned()]),
        ])),
    };
    let mut stream = docker.events(Some(options));
    let mut found = Vec::new();
    let limit = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let next = tokio::time::timeout_at(limit, stream.next())
            .await
            .map_err(|_| "the event log did not end within 10 s".to_owned())?;
        let Some(event) = next else { break };
        let event = event.map_err(|e| e.to_string())?;
        let command = event
            .action
            .unwrap_or_default()
            .trim_start_matches("exec_create:")
            .trim()
            .to_owned();
        if !running.iter().any(|r| r.command == command) {
            found.push(format!("`{command}`"));
        }
    }
    Ok(found)
}

async fn swarm(docker: &Docker) -> SwarmFacts {
    let info = docker
        .info()
        .await
        .ok()
        .and_then(|i| i.swarm)
        .unwrap_or_default();
    let spec = info.cluster.as_ref().and_then(|c| c.spec.clone());
    let filters = HashMap::from([("driver".to_owned(), vec!["overlay".to_owned()])]);
    let overlays = docker
        .list_networks(Some(ListNetworksOptions {
            filters: Some(filters),
        }))
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|n| {
            (
                n.name.unwrap_or_default(),
                n.options.unwrap_or_default().contains_key("encrypted"),
            )
        })
        .collect();
    let is_manager = info.control_available == Some(true);
    SwarmFacts {
        managers: info.managers.unwrap_or_default(),
        is_manager,
        management_listeners: listeners::listening()
            .into_iter()
            .filter(|l| l.addr.port() == 2377)
            .map(|l| l.addr)
            .collect(),
        overlays,
        secrets: if is_manager {
            docker
                .list_secrets(None::<bollard::query_parameters::ListSecretsOptions>)
                .await
                .map(|s| s.len())
                .map_err(|e| e.to_string())
        } else {
            Err("this node is not a manager".to_owned())
        },
        autolock: spec
            .as_ref()
            .and_then(|s| s.encryption_config.as_ref())
            .and_then(|e| e.auto_lock_managers),
        node_cert_hours: spec
            .as_ref()
            .and_then(|s| s.ca_config.as_ref())
            .and_then(|c| c.node_cert_expiry)
            .map(|ns| ns as f64 / 3.6e12),
        node_addr: info.node_addr.unwrap_or_default(),
        data_path_addr: None,
    }
}
