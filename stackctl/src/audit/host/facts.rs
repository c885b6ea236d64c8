//! The facts the host checks judge, in plain structs: what the engine says
//! (`/info`, the default bridge, images and their history, the project's
//! containers and their exec sessions, swarm), what the daemon was told (its
//! command line in `/proc` and its configuration file), and the host's files
//! (owners and modes, audit rules, mounts). Every fact that could not be read
//! carries why (`Err`), so a check says "cannot read" instead of passing.
//! Gathering lives in [`super::gather`]; the checks never touch the system,
//! so tests judge fixtures.

use std::collections::BTreeMap;
use std::net::SocketAddr;

/// Everything `audit --host` looks at.
#[derive(Debug, Clone)]
pub struct HostFacts {
    /// What `/info` reports; `Err` when the engine did not answer.
    pub engine: Result<EngineFacts, String>,
    /// What the daemon was started with.
    pub daemon: DaemonConfig,
    /// The daemon's files (CIS section 3), each with the checks it serves.
    pub files: Vec<FileFact>,
    /// Members of the `docker` group (`None`: no such group).
    pub docker_group: Result<Option<Vec<String>>, String>,
    /// The audit rules in force (`auditctl -l`) or configured (rules files).
    pub audit_rules: Result<Vec<String>, String>,
    /// The paths the auditing checks (1.1.3 to 1.1.18) are about, as found
    /// on this host (`None`: not present here).
    pub audit_paths: Vec<(&'static str, Option<String>)>,
    /// Whether the engine's root directory is a mount point of its own.
    pub root_dir_mounted: Result<bool, String>,
    /// `docker-proxy` processes running now.
    pub proxy_processes: Result<usize, String>,
    /// TCP sockets the daemon listens on.
    pub daemon_tcp: Result<Vec<SocketAddr>, String>,
    /// `DOCKER_CONTENT_TRUST` in stackctl's environment.
    pub content_trust: Option<String>,
    /// One per service image.
    pub images: Vec<ImageFacts>,
    /// One per service.
    pub services: Vec<ServiceFacts>,
    /// Swarm mode's facts when it is active.
    pub swarm: Option<SwarmFacts>,
}

impl Default for EngineFacts {
    fn default() -> Self {
        EngineFacts {
            version: String::new(),
            security_options: Vec::new(),
            live_restore: false,
            logging_driver: "json-file".to_owned(),
            storage_driver: "overlay2".to_owned(),
            insecure_registries: Vec::new(),
            experimental: false,
            authorization_plugins: Vec::new(),
            debug: false,
            root_dir: "/var/lib/docker".to_owned(),
            swarm_active: false,
            bridge_icc: Ok(Some(true)),
        }
    }
}

/// What the engine reports about itself.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineFacts {
    pub version: String,
    /// `name=seccomp,profile=default`, `name=userns`, `name=rootless`, ...
    pub security_options: Vec<String>,
    pub live_restore: bool,
    pub logging_driver: String,
    pub storage_driver: String,
    /// Registries reached without verified TLS, beyond the engine's built-in
    /// `127.0.0.0/8`.
    pub insecure_registries: Vec<String>,
    pub experimental: bool,
    pub authorization_plugins: Vec<String>,
    /// The daemon runs with `debug` (its log level is then `debug`).
    pub debug: bool,
    pub root_dir: String,
    pub swarm_active: bool,
    /// The default bridge's `com.docker.network.bridge.enable_icc`
    /// (`None`: no default bridge).
    pub bridge_icc: Result<Option<bool>, String>,
}

impl EngineFacts {
    /// Whether `/info`'s security options name `name` (`seccomp`, `userns`).
    pub fn has_security_option(&self, name: &str) -> bool {
        self.security_options.iter().any(|o| {
            o.split(',')
                .any(|part| part == format!("name={name}") || part == name)
        })
    }
}

/// The daemon's own settings: its command line and its configuration file.
#[derive(Debug, Clone)]
pub struct DaemonConfig {
    /// `dockerd`'s arguments (without the program).
    pub cmdline: Result<Vec<String>, String>,
    /// The configuration file: its path and JSON (`None` for the path when
    /// there is no file).
    pub file: Result<Option<(String, serde_json::Value)>, String>,
    /// Where the file would be (`--config-file` or `/etc/docker/daemon.json`).
    pub file_path: String,
}

/// One setting as the daemon has it.
#[derive(Debug, Clone, PartialEq)]
pub struct Setting {
    /// The value as text (`true` for a bare flag).
    pub value: String,
    /// Where it was found, for the report.
    pub source: String,
}

impl DaemonConfig {
    /// The setting `flag` (`--userland-proxy`) or `key` (`userland-proxy`
    /// in the file): the command line's, else the file's; `Ok(None)` when
    /// neither sets it, `Err` when one of them could not be read.
    pub fn setting(&self, flag: &str, key: &str) -> Result<Option<Setting>, String> {
        let args = self.cmdline.as_ref().map_err(Clone::clone)?;
        let mut found = None;
        let mut words = args.iter().peekable();
        while let Some(word) = words.next() {
            if let Some(value) = word.strip_prefix(&format!("{flag}=")) {
                found = Some(value.to_owned());
            } else if word == flag {
                let boolean = words.peek().is_none_or(|next| next.starts_with('-'));
                found = Some(if boolean {
                    "true".to_owned()
                } else {
                    words.next().cloned().unwrap_or_default()
                });
            }
        }
        if let Some(value) = found {
            return Ok(Some(Setting {
                value,
                source: format!("dockerd {flag}"),
            }));
        }
        let file = self.file.as_ref().map_err(Clone::clone)?;
        Ok(file.as_ref().and_then(|(path, json)| {
            let value = json.get(key)?;
            Some(Setting {
                value: match value {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                },
                source: format!("{path} `{key}`"),
            })
        }))
    }
}

/// A path's owner and mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stat {
    pub uid: u32,
    pub gid: u32,
    /// Permission bits with setuid, setgid and sticky.
    pub mode: u32,
    /// The owner's and group's names, as the host's user database has them.
    pub user: Option<String>,
    pub group: Option<String>,
}

/// One of the daemon's files and what it must be.
#[derive(Debug, Clone, PartialEq)]
pub struct FileFact {
    /// The ownership check and the permissions check it serves.
    pub owner_check: &'static str,
    pub mode_check: &'static str,
    pub path: String,
    /// `Ok(None)`: not present here.
    pub stat: Result<Option<Stat>, String>,
    /// The owner it must have: `root:root` or `root:docker`.
    pub owner: (&'static str, &'static str),
    /// The most permissive mode allowed (`0o644`).
    pub max_mode: u32,
}

/// One service's image.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageFacts {
    pub service: String,
    pub image: String,
    /// Built here by stackctl (its fingerprint label), not pulled.
    pub built_locally: bool,
    /// `Err`: the image could not be inspected (not built, engine error).
    pub history: Result<Vec<String>, String>,
    /// `KEY=VALUE` of the image's configuration.
    pub env: Vec<String>,
    /// Setuid and setgid files of the final filesystem: (path, mode).
    pub setid_files: Result<Vec<(String, u32)>, String>,
}

/// One service's runtime facts beyond its container checks.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceFacts {
    pub service: String,
    /// `nofile=1024:2048`, ...: the running container's, else the file's.
    pub ulimits: Vec<String>,
    pub running: bool,
    /// Its container's network mode when running (`host`, `bridge`, `default`).
    pub network_mode: Option<String>,
    /// Exec sessions running in it now.
    pub execs: Vec<ExecFact>,
    /// Exec sessions the engine's event log shows since the container
    /// started, whose user and privilege the engine no longer knows.
    pub past_execs: Result<Vec<String>, String>,
}

/// One `docker exec` session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecFact {
    pub command: String,
    /// As given to exec (empty: the container's user).
    pub user: String,
    pub privileged: bool,
}

/// Swarm mode on this node.
#[derive(Debug, Clone, PartialEq)]
pub struct SwarmFacts {
    pub managers: i64,
    pub is_manager: bool,
    /// The node's listeners on the management port 2377.
    pub management_listeners: Vec<SocketAddr>,
    pub overlays: Vec<(String, bool)>,
    /// Swarm secrets defined (managers only).
    pub secrets: Result<usize, String>,
    pub autolock: Option<bool>,
    /// Node certificates' validity in hours.
    pub node_cert_hours: Option<f64>,
    pub node_addr: String,
    pub data_path_addr: Option<String>,
}

/// The facts of a host where every host check passes: the starting point
/// of fixtures that change one fact at a time.
pub fn fixture_host() -> HostFacts {
    HostFacts {
        engine: Ok(EngineFacts {
            version: "20.10.24".to_owned(),
            security_options: vec![
                "name=seccomp,profile=default".to_owned(),
                "name=userns".to_owned(),
                "name=rootless".to_owned(),
            ],
            live_restore: true,
            logging_driver: "syslog".to_owned(),
            authorization_plugins: vec!["authz-broker".to_owned()],
            bridge_icc: Ok(Some(false)),
            ..EngineFacts::default()
        }),
        daemon: DaemonConfig {
            cmdline: Ok(Vec::new()),
            file: Ok(Some((
                "/etc/docker/daemon.json".to_owned(),
                serde_json::json!({
                    "icc": false,
                    "no-new-privileges": true,
                    "userland-proxy": false,
                    "live-restore": true,
                    "default-ulimits": {"nofile": {"Name": "nofile", "Soft": 1024, "Hard": 4096}},
                }),
            ))),
            file_path: "/etc/docker/daemon.json".to_owned(),
        },
        files: vec![FileFact {
            owner_check: "CIS-3.15",
            mode_check: "CIS-3.16",
            path: "/var/run/docker.sock".to_owned(),
            stat: Ok(Some(Stat {
                uid: 0,
                gid: 998,
                mode: 0o660,
                user: Some("root".to_owned()),
                group: Some("docker".to_owned()),
            })),
            owner: ("root", "docker"),
            max_mode: 0o660,
        }],
        docker_group: Ok(Some(Vec::new())),
        audit_rules: Ok(vec!["-w /usr/sbin/dockerd -k docker".to_owned()]),
        audit_paths: vec![("dockerd", Some("/usr/sbin/dockerd".to_owned()))],
        root_dir_mounted: Ok(true),
        proxy_processes: Ok(0),
        daemon_tcp: Ok(Vec::new()),
        content_trust: None,
        images: vec![ImageFacts {
            service: "api".to_owned(),
            image: "shopdotcom/api:test".to_owned(),
            built_locally: true,
            history: Ok(vec!["COPY rootfs/ / # buildkit".to_owned()]),
            env: vec!["PATH=/usr/local/bin".to_owned()],
            setid_files: Ok(Vec::new()),
        }],
        services: vec![ServiceFacts {
            service: "api".to_owned(),
            ulimits: vec!["nofile=1024:4096".to_owned()],
            running: true,
            network_mode: Some("host".to_owned()),
            execs: Vec::new(),
            past_execs: Ok(Vec::new()),
        }],
        swarm: None,
    }
}

/// `KEY=VALUE` environment entries as a map.
pub fn env_map(env: &[String]) -> BTreeMap<&str, &str> {
    env.iter().filter_map(|e| e.split_once('=')).collect()
}
