//! The checks serde cannot make: unknown keys, keys that contradict each
//! other (`ports` on the host network, `network_mode` with `networks`),
//! references that lead nowhere or in a circle, and values whose meaning is
//! wrong although their type is right.

use std::collections::BTreeMap;

use super::extension::{self, ProjectExtension, SecretExtension, ServiceExtension};
use super::model::{ComposeFile, Extensions, Service};
use super::positions::KeyPath;
use super::units::parse_size;

/// A problem before it is given its file and line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Finding {
    pub path: KeyPath,
    pub problem: String,
    pub fix: String,
}

/// What validation yields: the problems, and the parsed `x-stackctl`
/// extensions of the services and secrets (default where absent).
#[derive(Debug, Default)]
pub(super) struct Validated {
    pub findings: Vec<Finding>,
    /// Problems that stop `up` (keys it does not apply, `ports` on the host
    /// network) but not `audit`, which reads any Compose file and reports
    /// the risky ones as findings of its own.
    pub tolerated: Vec<Finding>,
    pub project: ProjectExtension,
    pub services: BTreeMap<String, ServiceExtension>,
    pub secrets: BTreeMap<String, SecretExtension>,
}

const TOP_KEYS: &[&str] = &[
    "name", "version", "services", "volumes", "networks", "secrets",
];
const SERVICE_KEYS: &[&str] = &[
    "image",
    "build",
    "command",
    "entrypoint",
    "environment",
    "env_file",
    "network_mode",
    "networks",
    "ports",
    "volumes",
    "tmpfs",
    "user",
    "cap_add",
    "cap_drop",
    "read_only",
    "security_opt",
    "pids_limit",
    "mem_limit",
    "cpus",
    "ulimits",
    "healthcheck",
    "depends_on",
    "restart",
    "labels",
    "logging",
    "secrets",
    "stop_grace_period",
    "stop_signal",
    "working_dir",
    "privileged",
    "pid",
    "ipc",
    "uts",
    "userns_mode",
    "cgroup_parent",
    "devices",
    "sysctls",
    "cpu_shares",
];
/// Service keys of the Compose Specification that stackctl does not implement:
/// they get their own message, since they are not typos.
const UNSUPPORTED_SERVICE_KEYS: &[&str] = &[
    "annotations",
    "attach",
    "blkio_config",
    "cgroup",
    "configs",
    "container_name",
    "cpu_count",
    "cpu_percent",
    "cpu_period",
    "cpu_quota",
    "cpu_rt_period",
    "cpu_rt_runtime",
    "cpuset",
    "credential_spec",
    "deploy",
    "develop",
    "device_cgroup_rules",
    "dns",
    "dns_opt",
    "dns_search",
    "domainname",
    "expose",
    "extends",
    "external_links",
    "extra_hosts",
    "gpus",
    "group_add",
    "hostname",
    "init",
    "isolation",
    "links",
    "mac_address",
    "mem_reservation",
    "mem_swappiness",
    "memswap_limit",
    "oom_kill_disable",
    "oom_score_adj",
    "platform",
    "post_start",
    "pre_stop",
    "profiles",
    "pull_policy",
    "runtime",
    "scale",
    "shm_size",
    "stdin_open",
    "storage_opt",
    "tty",
    "volumes_from",
];
const BUILD_KEYS: &[&str] = &["context", "dockerfile", "args", "target"];
const HEALTHCHECK_KEYS: &[&str] = &[
    "test",
    "interval",
    "timeout",
    "retries",
    "start_period",
    "start_interval",
    "disable",
];
const LOGGING_KEYS: &[&str] = &["driver", "options"];
const DEPENDENCY_KEYS: &[&str] = &["condition", "required", "restart"];
const PORT_KEYS: &[&str] = &["target", "published", "host_ip", "protocol", "mode"];
const VOLUME_MOUNT_KEYS: &[&str] = &["type", "source", "target", "read_only"];
const SERVICE_SECRET_KEYS: &[&str] = &["source", "target"];
const TOP_VOLUME_KEYS: &[&str] = &["driver", "driver_opts", "external", "name", "labels"];
const TOP_NETWORK_KEYS: &[&str] = &["driver", "external", "internal", "name"];
const TOP_SECRET_KEYS: &[&str] = &["file", "environment"];

/// Runs every check on a file that deserialized.
pub(super) fn validate(file: &ComposeFile) -> Validated {
    let mut v = Validated::default();
    let root = KeyPath::root();
    unknown_keys(
        &mut v.findings,
        &mut v.tolerated,
        &root,
        &file.extensions,
        TOP_KEYS,
        &["configs", "include"],
    );
    v.project = parse_extension(&mut v.findings, &root, &file.extensions);

    if file.services.is_empty() {
        v.findings.push(Finding {
            path: root.key("services"),
            problem: "the file declares no services".to_owned(),
            fix: "add a `services:` mapping with at least one service".to_owned(),
        });
    }
    for (name, service) in &file.services {
        let path = root.key("services").key(name);
        check_service(&mut v, file, name, service, &path);
    }
    check_dependency_cycles(&mut v.findings, file);

    for (name, volume) in &file.volumes {
        unknown_keys(
            &mut v.findings,
            &mut v.tolerated,
            &root.key("volumes").key(name),
            &volume.extensions,
            TOP_VOLUME_KEYS,
            &[],
        );
    }
    for (name, network) in &file.networks {
        unknown_keys(
            &mut v.findings,
            &mut v.tolerated,
            &root.key("networks").key(name),
            &network.extensions,
            TOP_NETWORK_KEYS,
            &[],
        );
    }
    for (name, secret) in &file.secrets {
        let path = root.key("secrets").key(name);
        unknown_keys(
            &mut v.findings,
            &mut v.tolerated,
            &path,
            &secret.extensions,
            TOP_SECRET_KEYS,
            &["external", "name"],
        );
        if secret.file.is_some() == secret.environment.is_some() {
            v.findings.push(Finding {
                path: path.clone(),
                problem: "a secret needs exactly one source".to_owned(),
                fix: "give it either `file: PATH` or `environment: VARIABLE`".to_owned(),
            });
        }
        let ext: SecretExtension = parse_extension(&mut v.findings, &path, &secret.extensions);
        if ext.generate.any() && secret.file.is_none() {
            v.findings.push(Finding {
                path: path.key(extension::KEY).key("generate"),
                problem: "`generate` needs a `file` to write the secret to".to_owned(),
                fix: "give the secret a `file:` path, or remove `generate`".to_owned(),
            });
        }
        v.secrets.insert(name.clone(), ext);
    }
    v
}

fn check_service(
    v: &mut Validated,
    file: &ComposeFile,
    name: &str,
    service: &Service,
    path: &KeyPath,
) {
    let findings = &mut v.findings;
    let tolerated = &mut v.tolerated;
    unknown_keys(
        findings,
        tolerated,
        path,
        &service.extensions,
        SERVICE_KEYS,
        UNSUPPORTED_SERVICE_KEYS,
    );

    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        findings.push(Finding {
            path: path.clone(),
            problem: format!("`{name}` is not a valid service name"),
            fix: "use letters, digits, `-`, `_` and `.` only".to_owned(),
        });
    }
    if service.image.is_none() && service.build.is_none() {
        findings.push(Finding {
            path: path.clone(),
            problem: "the service has neither `image` nor `build`".to_owned(),
            fix: "add `image: NAME:TAG`, `build: DIRECTORY`, or both (build it and tag it as the image)".to_owned(),
        });
    }
    if let Some(build) = &service.build {
        unknown_keys(
            findings,
            tolerated,
            &path.key("build"),
            &build.extensions,
            BUILD_KEYS,
            &[
                "cache_from",
                "cache_to",
                "extra_hosts",
                "isolation",
                "labels",
                "network",
                "platforms",
                "privileged",
                "secrets",
                "shm_size",
                "ssh",
                "tags",
                "ulimits",
                "additional_contexts",
            ],
        );
    }

    check_networking(findings, tolerated, service, path);
    check_audit_only_keys(tolerated, service, path);

    for (i, port) in service.ports.iter().enumerate() {
        unknown_keys(
            findings,
            tolerated,
            &path.key("ports").index(i),
            &port.extensions,
            PORT_KEYS,
            &["name", "app_protocol"],
        );
    }
    for (i, mount) in service.volumes.iter().enumerate() {
        let item = path.key("volumes").index(i);
        unknown_keys(
            findings,
            tolerated,
            &item,
            &mount.extensions,
            VOLUME_MOUNT_KEYS,
            &["bind", "volume", "tmpfs", "consistency"],
        );
        check_volume_mount(findings, file, mount, &item);
    }
    for (i, entry) in service.tmpfs.iter().enumerate() {
        check_tmpfs(findings, entry, &path.key("tmpfs").index(i));
    }
    for (i, secret) in service.secrets.iter().enumerate() {
        let item = path.key("secrets").index(i);
        unknown_keys(
            findings,
            tolerated,
            &item,
            &secret.extensions,
            SERVICE_SECRET_KEYS,
            &["uid", "gid", "mode"],
        );
        if !file.secrets.contains_key(&secret.source) {
            findings.push(Finding {
                path: item,
                problem: format!("secret `{}` is not declared", secret.source),
                fix: format!(
                    "declare it under the top-level `secrets:` (e.g. `{}: {{file: ./path}}`)",
                    secret.source
                ),
            });
        }
    }
    if let Some(user) = &service.user
        && user.trim().is_empty()
    {
        findings.push(Finding {
            path: path.key("user"),
            problem: "`user` is empty".to_owned(),
            fix: "write a uid, `uid:gid` or a user name; or remove the key to use the image's user"
                .to_owned(),
        });
    }
    for key in ["cap_add", "cap_drop"] {
        let caps = if key == "cap_add" {
            &service.cap_add
        } else {
            &service.cap_drop
        };
        for (i, cap) in caps.iter().enumerate() {
            if cap.is_empty() || !cap.chars().all(|c| c.is_ascii_uppercase() || c == '_') {
                findings.push(Finding {
                    path: path.key(key).index(i),
                    problem: format!("`{cap}` is not a capability name"),
                    fix: "write capabilities in upper case, e.g. `NET_BIND_SERVICE` or `ALL`"
                        .to_owned(),
                });
            }
        }
    }
    if let Some(limit) = service.pids_limit
        && limit != -1
        && limit <= 0
    {
        findings.push(Finding {
            path: path.key("pids_limit"),
            problem: format!("`{limit}` is not a process limit"),
            fix: "write a positive number of processes (or -1 for unlimited)".to_owned(),
        });
    }
    for (limit, value) in &service.ulimits {
        if value.soft > value.hard {
            findings.push(Finding {
                path: path.key("ulimits").key(limit),
                problem: format!(
                    "the soft limit {} is above the hard limit {}",
                    value.soft, value.hard
                ),
                fix: "make `soft` at most `hard`".to_owned(),
            });
        }
    }
    if let Some(health) = &service.healthcheck {
        let hpath = path.key("healthcheck");
        unknown_keys(
            findings,
            tolerated,
            &hpath,
            &health.extensions,
            HEALTHCHECK_KEYS,
            &[],
        );
        if let Some(test) = &health.test {
            let valid = match test.first().map(String::as_str) {
                Some("NONE") => test.len() == 1,
                Some("CMD" | "CMD-SHELL") => test.len() >= 2,
                _ => false,
            };
            if !valid {
                findings.push(Finding {
                    path: hpath.key("test"),
                    problem: "the health check test must start with `CMD`, `CMD-SHELL` or `NONE`".to_owned(),
                    fix: "write e.g. `[\"CMD\", \"/usr/local/bin/api\", \"healthcheck\"]`, or a string to run it in a shell".to_owned(),
                });
            }
        }
    }
    for (dep, dependency) in &service.depends_on.0 {
        let dpath = path.key("depends_on").key(dep);
        unknown_keys(
            findings,
            tolerated,
            &dpath,
            &dependency.extensions,
            DEPENDENCY_KEYS,
            &[],
        );
        if !file.services.contains_key(dep) {
            let known: Vec<&str> = file
                .services
                .keys()
                .map(String::as_str)
                .filter(|s| *s != name)
                .collect();
            findings.push(Finding {
                path: dpath.clone(),
                problem: format!("depends on `{dep}`, which is not a service in this file"),
                fix: if known.is_empty() {
                    format!("declare a service `{dep}`, or remove it from `depends_on`")
                } else {
                    format!(
                        "{}name one of: {}",
                        suggestion(dep, &known),
                        known.join(", ")
                    )
                },
            });
        } else if dep == name {
            findings.push(Finding {
                path: dpath.clone(),
                problem: "the service depends on itself".to_owned(),
                fix: format!("remove `{dep}` from its own `depends_on`"),
            });
        }
    }
    if let Some(logging) = &service.logging {
        let lpath = path.key("logging");
        unknown_keys(
            findings,
            tolerated,
            &lpath,
            &logging.extensions,
            LOGGING_KEYS,
            &[],
        );
        if let Some(size) = logging.options.get("max-size")
            && let Err(problem) = parse_size(size)
        {
            findings.push(Finding {
                path: lpath.key("options").key("max-size"),
                problem: problem.problem,
                fix: "write a size such as `10m`".to_owned(),
            });
        }
        if let Some(count) = logging.options.get("max-file")
            && count.parse::<u32>().map_or(true, |n| n == 0)
        {
            findings.push(Finding {
                path: lpath.key("options").key("max-file"),
                problem: format!("`{count}` is not a number of log files"),
                fix: "write a positive number such as `3`".to_owned(),
            });
        }
    }
    let ext: ServiceExtension = parse_extension(findings, path, &service.extensions);
    v.services.insert(name.to_owned(), ext);
}

fn check_networking(
    findings: &mut Vec<Finding>,
    tolerated: &mut Vec<Finding>,
    service: &Service,
    path: &KeyPath,
) {
    let mode = service.network_mode.as_deref();
    if let Some(mode) = mode {
        let valid = matches!(mode, "host" | "bridge" | "none")
            || mode.strip_prefix("service:").is_some_and(|s| !s.is_empty())
            || mode
                .strip_prefix("container:")
                .is_some_and(|s| !s.is_empty());
        if !valid {
            findings.push(Finding {
                path: path.key("network_mode"),
                problem: format!("`{mode}` is not a network mode"),
                fix: "use `host` (as this stack does), `bridge`, `none`, `service:NAME` or `container:NAME`".to_owned(),
            });
        }
        if service.networks.is_some() {
            findings.push(Finding {
                path: path.key("networks"),
                problem: format!(
                    "`networks` and `network_mode: {mode}` are mutually exclusive: a container either joins networks or takes another network stack"
                ),
                fix: "keep `network_mode` and remove `networks` (or the reverse)".to_owned(),
            });
        }
    }
    if mode == Some("host") && !service.ports.is_empty() {
        tolerated.push(Finding {
            path: path.key("ports"),
            problem: "`ports` has no effect with `network_mode: host`: the container shares the host's network \
                      stack, so the engine discards published ports (with only a warning) and docker-compose \
                      refuses the file"
                .to_owned(),
            fix: "remove `ports`; the service binds its port on the host itself (set its listen address), \
                  and `x-stackctl.listen` records where"
                .to_owned(),
        });
    }
}

fn check_volume_mount(
    findings: &mut Vec<Finding>,
    file: &ComposeFile,
    mount: &super::model::VolumeMount,
    path: &KeyPath,
) {
    if !matches!(mount.kind.as_str(), "volume" | "bind" | "tmpfs") {
        findings.push(Finding {
            path: path.key("type"),
            problem: format!("`{}` is not a mount type", mount.kind),
            fix: "use `volume`, `bind` or `tmpfs`".to_owned(),
        });
    }
    if !mount.target.starts_with('/') {
        findings.push(Finding {
            path: path.clone(),
            problem: format!(
                "the mount target `{}` is not an absolute path",
                mount.target
            ),
            fix: "write the path inside the container from `/`".to_owned(),
        });
    }
    if mount.kind == "volume"
        && let Some(source) = &mount.source
        && !file.volumes.contains_key(source)
    {
        findings.push(Finding {
            path: path.clone(),
            problem: format!("named volume `{source}` is not declared"),
            fix: format!("declare it under the top-level `volumes:` (`{source}:`), or write a path starting with `./` for a bind mount"),
        });
    }
}

fn check_tmpfs(findings: &mut Vec<Finding>, entry: &str, path: &KeyPath) {
    let (target, options) = entry.split_once(':').unwrap_or((entry, ""));
    if !target.starts_with('/') {
        findings.push(Finding {
            path: path.clone(),
            problem: format!("the tmpfs target `{target}` is not an absolute path"),
            fix: "write `/PATH` or `/PATH:size=64m,mode=1777`".to_owned(),
        });
    }
    for option in options.split(',').filter(|o| !o.is_empty()) {
        if let Some(size) = option.strip_prefix("size=")
            && let Err(problem) = parse_size(size)
        {
            findings.push(Finding {
                path: path.clone(),
                problem: problem.problem,
                fix: "write the tmpfs size like `size=64m`".to_owned(),
            });
        }
    }
}

/// Keys the model reads for `stackctl audit` but `up` does not apply: set
/// to anything but their harmless default, `up` refuses the file rather
/// than run a container that differs from it.
fn check_audit_only_keys(tolerated: &mut Vec<Finding>, service: &Service, path: &KeyPath) {
    let mut set: Vec<(&str, String)> = Vec::new();
    if service.privileged {
        set.push(("privileged", "true".to_owned()));
    }
    for (key, value) in [
        ("pid", &service.pid),
        ("ipc", &service.ipc),
        ("uts", &service.uts),
        ("userns_mode", &service.userns_mode),
        ("cgroup_parent", &service.cgroup_parent),
    ] {
        if let Some(value) = value {
            set.push((key, value.clone()));
        }
    }
    if !service.devices.is_empty() {
        set.push(("devices", format!("{} device(s)", service.devices.len())));
    }
    if !service.sysctls.is_empty() {
        set.push(("sysctls", format!("{} setting(s)", service.sysctls.0.len())));
    }
    if let Some(shares) = service.cpu_shares {
        set.push(("cpu_shares", shares.to_string()));
    }
    for (key, value) in set {
        tolerated.push(Finding {
            path: path.key(key),
            problem: format!(
                "`{key}: {value}` is read by `stackctl audit`, but `stackctl up` does not apply it"
            ),
            fix: format!(
                "remove `{key}` (run `stackctl audit` to see what it would weaken), or run this file with docker compose"
            ),
        });
    }
    for (i, mount) in service.volumes.iter().enumerate() {
        if let Some(propagation) = &mount.propagation {
            tolerated.push(Finding {
                path: path.key("volumes").index(i),
                problem: format!(
                    "bind propagation `{propagation}` is read by `stackctl audit`, but `stackctl up` does not apply it"
                ),
                fix: "remove the propagation mode; the engine's default is `rprivate`".to_owned(),
            });
        }
    }
}

/// Reports dependency cycles once each, naming the whole circle.
fn check_dependency_cycles(findings: &mut Vec<Finding>, file: &ComposeFile) {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Visiting,
        Done,
    }
    fn visit<'a>(
        file: &'a ComposeFile,
        name: &'a str,
        marks: &mut BTreeMap<&'a str, Mark>,
        stack: &mut Vec<&'a str>,
        cycles: &mut Vec<Vec<&'a str>>,
    ) {
        match marks.get(name) {
            Some(Mark::Done) => return,
            Some(Mark::Visiting) => {
                let start = stack.iter().position(|s| *s == name).unwrap_or(0);
                let mut cycle = stack[start..].to_vec();
                cycle.push(name);
                cycles.push(cycle);
                return;
            }
            None => {}
        }
        marks.insert(name, Mark::Visiting);
        stack.push(name);
        if let Some(service) = file.services.get(name) {
            for dep in service.depends_on.0.keys() {
                if dep != name && file.services.contains_key(dep) {
                    visit(file, dep, marks, stack, cycles);
                }
            }
        }
        stack.pop();
        marks.insert(name, Mark::Done);
    }

    let mut marks = BTreeMap::new();
    let mut cycles = Vec::new();
    for name in file.services.keys() {
        visit(file, name, &mut marks, &mut Vec::new(), &mut cycles);
    }
    for cycle in cycles {
        let (from, to) = (cycle[cycle.len() - 2], cycle[cycle.len() - 1]);
        findings.push(Finding {
            path: KeyPath::root()
                .key("services")
                .key(from)
                .key("depends_on")
                .key(to),
            problem: format!("dependency cycle: {}", cycle.join(" -> ")),
            fix: "remove one of these `depends_on` entries; services must start in some order"
                .to_owned(),
        });
    }
}

/// Reports every key in `extensions` that is not an `x-` extension.
fn unknown_keys(
    findings: &mut Vec<Finding>,
    tolerated: &mut Vec<Finding>,
    path: &KeyPath,
    extensions: &Extensions,
    known: &[&str],
    unsupported: &[&str],
) {
    for key in extensions.keys().filter(|k| !k.starts_with("x-")) {
        if unsupported.contains(&key.as_str()) {
            tolerated.push(Finding {
                path: path.key(key.clone()),
                problem: format!("`{key}` is a Compose key that stackctl does not support"),
                fix: "remove it, or rename it to `x-...` to keep it for other tools".to_owned(),
            });
            continue;
        }
        let (problem, fix) = {
            let fix = match suggestion(key, known) {
                hint if !hint.is_empty() => format!("{hint}(extensions must start with `x-`)"),
                _ => format!(
                    "known keys here are: {}; extensions must start with `x-`",
                    known.join(", ")
                ),
            };
            (format!("unknown key `{key}`"), fix)
        };
        findings.push(Finding {
            path: path.key(key.clone()),
            problem,
            fix,
        });
    }
}

/// "did you mean `ports`? " when a known word is close to the one written.
fn suggestion(written: &str, known: &[&str]) -> String {
    known
        .iter()
        .map(|k| (strsim::damerau_levenshtein(written, k), *k))
        .filter(|(distance, k)| *distance <= 2.max(k.len() / 4))
        .min()
        .map(|(_, k)| format!("did you mean `{k}`? "))
        .unwrap_or_default()
}

/// Parses the `x-stackctl` entry of a mapping; a problem in it is a finding.
fn parse_extension<T: Default + serde::de::DeserializeOwned>(
    findings: &mut Vec<Finding>,
    path: &KeyPath,
    extensions: &Extensions,
) -> T {
    let Some(value) = extensions.get(extension::KEY) else {
        return T::default();
    };
    let path = path.key(extension::KEY);
    match serde_path_to_error::deserialize::<_, T>(value.clone()) {
        Ok(parsed) => parsed,
        Err(err) => {
            let at = super::path_from_serde(&path, err.path());
            let (problem, fix) = super::split_message(&err.inner().to_string());
            findings.push(Finding {
                path: at,
                problem,
                fix,
            });
            T::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_catch_typos_but_not_strangers() {
        assert_eq!(suggestion("prots", SERVICE_KEYS), "did you mean `ports`? ");
        assert_eq!(
            suggestion("healtcheck", SERVICE_KEYS),
            "did you mean `healthcheck`? "
        );
        assert_eq!(suggestion("frobnicate", SERVICE_KEYS), "");
    }
}
