//! The CIS Docker Benchmark v1.6.0 checks a Compose file can express (and
//! the engine reports), judged on a [`Subject`]: image user and health
//! check (4.1, 4.6) and the container runtime section (5.x).

use super::Raw;
use super::catalog::{self, Check};
use super::controls;
use super::finding::{Finding, Severity};
use super::subject::{Health, Subject, normalize_path, uid_of};
use crate::compose::model::Restart;
use crate::compose::positions::KeyPath;

/// Host directories whose mount lets a container read or change the host:
/// the directory and everything under it (`/etc/shadow`, `/sys/fs/cgroup`,
/// `/var/lib/docker/containers`).
const SENSITIVE_TREES: &[&str] = &[
    "/boot",
    "/dev",
    "/etc",
    "/lib",
    "/lib64",
    "/proc",
    "/sys",
    "/usr",
    "/bin",
    "/sbin",
    "/root",
    "/var/lib/docker",
    "/run",
    "/var/run",
];
/// Directories sensitive as a whole, whose subdirectories are where
/// applications keep their own data (`/var/lib/mysql`, `/var/log/app`), so
/// only the directory itself is reported.
const SENSITIVE_ROOTS: &[&str] = &["/", "/var"];

/// The sensitive host directory a (normalised) path is, or lies under.
fn sensitive_dir(path: &str) -> Option<&'static str> {
    SENSITIVE_ROOTS
        .iter()
        .find(|d| path == **d)
        .or_else(|| {
            SENSITIVE_TREES.iter().find(|d| {
                path == **d
                    || path
                        .strip_prefix(**d)
                        .is_some_and(|rest| rest.starts_with('/'))
            })
        })
        .copied()
}

/// Capabilities that amount to (or lead straight to) root on the host.
const DANGEROUS_CAPS: &[&str] = &[
    "ALL",
    "SYS_ADMIN",
    "SYS_MODULE",
    "SYS_PTRACE",
    "SYS_RAWIO",
    "SYS_BOOT",
    "SYS_TIME",
    "DAC_READ_SEARCH",
    "DAC_OVERRIDE",
    "NET_ADMIN",
    "NET_RAW",
    "MKNOD",
    "SETUID",
    "SETGID",
    "SETFCAP",
    "BPF",
    "PERFMON",
    "SYSLOG",
    "MAC_ADMIN",
    "MAC_OVERRIDE",
];

fn raw(
    check: &Check,
    severity: Severity,
    s: &Subject,
    key: KeyPath,
    message: String,
    fix: &str,
) -> Raw {
    (Finding::new(check, severity, &s.service, message, fix), key)
}

fn option_value<'a>(s: &'a Subject, name: &str) -> impl Iterator<Item = (usize, &'a str)> + 'a {
    let name = name.to_owned();
    s.security_opt
        .iter()
        .enumerate()
        .filter_map(move |(i, opt)| {
            let (k, v) = opt.split_once([':', '='])?;
            (k == name).then_some((i, v))
        })
}

/// Runs every CIS check on one service.
pub(super) fn check(s: &Subject, out: &mut Vec<Raw>) {
    user(s, out);
    image_healthcheck(s, out);
    mac(s, out);
    capabilities(s, out);
    if s.privileged {
        out.push(raw(
            &catalog::PRIVILEGED,
            Severity::Critical,
            s,
            Subject::key("privileged"),
            "runs privileged: every capability, every device, no seccomp or AppArmor".to_owned(),
            "remove `privileged: true`; add the one capability or device the service needs",
        ));
    }
    mounts(s, out);
    sshd(s, out);
    ports(s, out);
    if s.on_host_network() {
        out.push(raw(&catalog::HOST_NETWORK, Severity::High, s, Subject::key("network_mode"),
            "shares the host's network namespace (`network_mode: host`)".to_owned(),
            "use a bridge network, or accept the risk in `x-stackctl.accept` with compensating controls"));
    }
    limits(s, out);
    if !s.read_only {
        out.push(raw(
            &catalog::READ_ONLY,
            Severity::Medium,
            s,
            Subject::key("read_only"),
            "the root filesystem is writable".to_owned(),
            "set `read_only: true` and give writable paths a `tmpfs` or a volume",
        ));
    }
    restart(s, out);
    namespaces(s, out);
    for (i, device) in s.devices.iter().enumerate() {
        out.push(raw(
            &catalog::DEVICES,
            Severity::Medium,
            s,
            Subject::key("devices").index(i),
            format!("host device `{device}` is exposed to the container"),
            "remove the device, or narrow it to read-only (`:r`) if the service truly needs it",
        ));
    }
    for (i, value) in option_value(s, "seccomp") {
        if value == "unconfined" {
            out.push(raw(&catalog::SECCOMP, Severity::High, s, Subject::key("security_opt").index(i),
                "the default seccomp profile is disabled (`seccomp:unconfined`)".to_owned(),
                "remove `seccomp:unconfined`; if one system call is missing, use a profile that adds just it"));
        }
    }
    if s.cgroupns.as_deref() == Some("host") {
        out.push(raw(
            &catalog::CGROUP,
            Severity::Medium,
            s,
            Subject::key("cgroup"),
            "shares the host's cgroup namespace (`cgroup: host`): it sees the host's whole cgroup tree".to_owned(),
            "remove `cgroup: host` (the engine's default is a private cgroup namespace)",
        ));
    }
    if let Some(parent) = &s.cgroup_parent {
        out.push(raw(
            &catalog::CGROUP,
            Severity::Low,
            s,
            Subject::key("cgroup_parent"),
            format!("runs under the custom cgroup parent `{parent}`"),
            "remove `cgroup_parent` unless that cgroup's limits are reviewed",
        ));
    }
    if !controls::no_new_privileges(&s.security_opt) {
        out.push(raw(
            &catalog::NO_NEW_PRIVILEGES,
            Severity::Medium,
            s,
            Subject::key("security_opt"),
            "processes may gain privileges through setuid programs (no `no-new-privileges`)"
                .to_owned(),
            "add `no-new-privileges:true` to `security_opt`",
        ));
    }
    health(s, out);
    image_version(s, out);
}

fn user(s: &Subject, out: &mut Vec<Raw>) {
    let message = match s.user.as_deref() {
        Some(user) if uid_of(user) == Some(0) => {
            format!("runs as root (`{user}`, from {})", s.user_source)
        }
        Some(_) => return,
        None if s.built_locally => {
            "runs as root: neither `user` nor the Dockerfile names a user".to_owned()
        }
        None => "runs as the image's default user, which may be root".to_owned(),
    };
    out.push(raw(
        &catalog::USER,
        Severity::Medium,
        s,
        Subject::key("user"),
        message,
        "set `user: \"UID:GID\"` to an unprivileged account (and `USER` in the image)",
    ));
}

fn image_healthcheck(s: &Subject, out: &mut Vec<Raw>) {
    match s.image_health {
        Some(true) => {}
        Some(false) => out.push(raw(
            &catalog::IMAGE_HEALTHCHECK,
            Severity::Low,
            s,
            Subject::key("build"),
            "the image has no HEALTHCHECK instruction".to_owned(),
            "add `HEALTHCHECK CMD [...]` to the Dockerfile (a probe the image itself carries)",
        )),
        None => {
            let declared = matches!(s.health, Health::Test(_));
            let mut message =
                "the image is not built from this file, so its HEALTHCHECK cannot be read here"
                    .to_owned();
            let mut fix = "run `stackctl audit --live` to read it from the image".to_owned();
            if declared {
                message.push_str("; the service's own `healthcheck` is what runs");
            } else {
                fix.push_str(", or declare a `healthcheck`");
            }
            out.push(raw(
                &catalog::IMAGE_HEALTHCHECK,
                Severity::Info,
                s,
                Subject::key("image"),
                message,
                &fix,
            ));
        }
    }
}

fn mac(s: &Subject, out: &mut Vec<Raw>) {
    for (i, value) in option_value(s, "apparmor") {
        if value == "unconfined" {
            out.push(raw(&catalog::APPARMOR, Severity::High, s, Subject::key("security_opt").index(i),
                "AppArmor confinement is switched off (`apparmor:unconfined`)".to_owned(),
                "remove `apparmor:unconfined`; the engine applies `docker-default` where the host has AppArmor"));
        }
    }
    let labels: Vec<(usize, &str)> = option_value(s, "label").collect();
    if labels.is_empty() {
        out.push(raw(
            &catalog::SELINUX,
            Severity::Info,
            s,
            Subject::key("security_opt"),
            "no SELinux label options; not applicable unless the host runs SELinux".to_owned(),
            "on an SELinux host, add e.g. `label:type:container_t` to `security_opt`",
        ));
    }
    for (i, value) in labels {
        if value == "disable" {
            out.push(raw(
                &catalog::SELINUX,
                Severity::Medium,
                s,
                Subject::key("security_opt").index(i),
                "SELinux separation is disabled (`label:disable`)".to_owned(),
                "remove `label:disable`",
            ));
        }
    }
}

fn capabilities(s: &Subject, out: &mut Vec<Raw>) {
    if s.privileged {
        return; // 5.5 says it all
    }
    for (i, cap) in s.cap_add.iter().enumerate() {
        let key = Subject::key("cap_add").index(i);
        if cap == "ALL" {
            out.push(raw(
                &catalog::CAPABILITIES,
                Severity::Critical,
                s,
                key,
                "adds every capability (`cap_add: [ALL]`)".to_owned(),
                "remove `ALL` from `cap_add`; add only the capability the service needs",
            ));
        } else if DANGEROUS_CAPS.contains(&cap.as_str()) {
            out.push(raw(
                &catalog::CAPABILITIES,
                Severity::High,
                s,
                key,
                format!("adds {cap}, which leads to control of the host"),
                &format!("remove {cap} from `cap_add`"),
            ));
        }
    }
    if !s.cap_drop.iter().any(|c| c == "ALL") {
        out.push(raw(
            &catalog::CAPABILITIES,
            Severity::Medium,
            s,
            Subject::key("cap_drop"),
            "keeps the engine's default capabilities (no `cap_drop: [ALL]`)".to_owned(),
            "set `cap_drop: [ALL]` and add back only what the service needs",
        ));
    }
}

fn mounts(s: &Subject, out: &mut Vec<Raw>) {
    for m in &s.mounts {
        let Some(source) = m.source.as_deref() else {
            continue;
        };
        if m.kind != "bind" {
            continue;
        }
        let normalized = normalize_path(source);
        if normalized.ends_with("/docker.sock") {
            out.push(raw(&catalog::DOCKER_SOCKET, Severity::Critical, s, m.key.clone(),
                format!("mounts the Docker socket `{source}` at `{}`: whoever controls the service controls the host", m.target),
                "remove the mount; give the service a narrower API (a socket proxy allowing only what it needs)"));
            continue;
        }
        if let Some(dir) = sensitive_dir(&normalized) {
            let (severity, how) = if m.read_only {
                (Severity::Medium, "read-only")
            } else {
                (Severity::High, "writable")
            };
            let what = if normalized == dir {
                format!("the host's `{dir}`")
            } else {
                format!("the host's `{normalized}` (under `{dir}`)")
            };
            out.push(raw(
                &catalog::HOST_DIRS,
                severity,
                s,
                m.key.clone(),
                format!("mounts {what} at `{}` ({how})", m.target),
                "mount only the file the service needs, read-only, or use a named volume",
            ));
        }
        if let Some(p) = &m.propagation
            && matches!(p.as_str(), "shared" | "rshared")
        {
            out.push(raw(&catalog::PROPAGATION, Severity::Medium, s, m.key.clone(),
                format!("mount `{}` propagates mounts to the host (`{p}`)", m.target),
                "remove the propagation mode (the default `rprivate` keeps mounts in the container)"));
        }
    }
}

fn sshd(s: &Subject, out: &mut Vec<Raw>) {
    let runs_sshd = s.command.iter().any(|w| {
        let base = w.rsplit('/').next().unwrap_or(w);
        base == "sshd" || base == "dropbear" || w.contains(" sshd") || w.starts_with("sshd ")
    });
    if runs_sshd {
        let key = if s.command.is_empty() {
            Subject::key("image")
        } else {
            Subject::key("command")
        };
        out.push(raw(
            &catalog::SSHD,
            Severity::Medium,
            s,
            key,
            "runs an SSH daemon".to_owned(),
            "remove sshd; use `docker exec` (or `stackctl logs`) to look inside",
        ));
    }
}

fn ports(s: &Subject, out: &mut Vec<Raw>) {
    for e in &s.exposures {
        let host_port = e.host_port.unwrap_or(e.port);
        if e.published && e.host_port.is_some_and(|p| p < 1024) {
            out.push(raw(
                &catalog::PRIVILEGED_PORTS,
                Severity::Medium,
                s,
                e.key.clone(),
                format!("publishes privileged port {host_port} ({})", e.describe()),
                "publish a port from 1024 up (e.g. 8080) and let a proxy hold the well-known one",
            ));
        } else if !e.published && host_port < 1024 {
            out.push(raw(
                &catalog::PRIVILEGED_PORTS,
                Severity::Medium,
                s,
                e.key.clone(),
                format!(
                    "binds privileged port {host_port} on the host ({})",
                    e.describe()
                ),
                "listen on a port from 1024 up; a host proxy can hold the well-known port",
            ));
        }
    }
    for range in &s.port_ranges {
        out.push(raw(
            &catalog::NEEDED_PORTS,
            Severity::Medium,
            s,
            Subject::key("ports"),
            format!("publishes the port range {range}"),
            "publish the ports the service uses, one by one",
        ));
    }
    if s.on_host_network() && s.declared_listen.is_none() {
        out.push(raw(&catalog::NEEDED_PORTS, Severity::Low, s, Subject::key("x-stackctl"),
            "on the host network every socket it opens is open on the host, and it declares none".to_owned(),
            "declare its sockets in `x-stackctl.listen` (e.g. `[\"http://127.0.0.1:8080\"]`); `--live` then checks them"));
    }
}

fn limits(s: &Subject, out: &mut Vec<Raw>) {
    if let Err(why) = controls::memory_limit(s) {
        out.push(raw(
            &catalog::MEMORY,
            Severity::Medium,
            s,
            Subject::key("mem_limit"),
            why,
            "set `mem_limit` (e.g. `256m`)",
        ));
    }
    if let Err(why) = controls::cpu_limit(s) {
        out.push(raw(
            &catalog::CPU,
            Severity::Low,
            s,
            Subject::key("cpus"),
            why,
            "set `cpus` (e.g. `0.5`)",
        ));
    }
    if let Err(why) = controls::pids_limit(s) {
        out.push(raw(
            &catalog::PIDS,
            Severity::Medium,
            s,
            Subject::key("pids_limit"),
            why,
            "set `pids_limit` (e.g. `128`)",
        ));
    }
}

fn restart(s: &Subject, out: &mut Vec<Raw>) {
    let message = match s.restart {
        None | Some(Restart::No) => return,
        // The engine reads 0 retries as no bound at all.
        Some(Restart::OnFailure {
            max_retries: Some(1..=5),
        }) => return,
        Some(Restart::OnFailure {
            max_retries: Some(0),
        }) => "restarts on failure without a bound (`on-failure:0` means unlimited)".to_owned(),
        Some(Restart::OnFailure {
            max_retries: Some(n),
        }) => format!("restarts up to {n} times on failure (more than 5)"),
        Some(Restart::OnFailure { max_retries: None }) => {
            "restarts on failure without a bound".to_owned()
        }
        Some(other) => format!("restarts without a bound (`restart: {other}`)"),
    };
    out.push(raw(
        &catalog::RESTART,
        Severity::Low,
        s,
        Subject::key("restart"),
        message,
        "set `restart: on-failure:5`",
    ));
}

fn namespaces(s: &Subject, out: &mut Vec<Raw>) {
    for (check, key, value, what, severity) in [
        (&catalog::PID_NS, "pid", &s.pid, "process", Severity::High),
        (&catalog::IPC_NS, "ipc", &s.ipc, "IPC", Severity::High),
        (&catalog::UTS_NS, "uts", &s.uts, "UTS", Severity::Medium),
        (
            &catalog::USERNS,
            "userns_mode",
            &s.userns,
            "user",
            Severity::High,
        ),
    ] {
        if value.as_deref() == Some("host") {
            out.push(raw(
                check,
                severity,
                s,
                Subject::key(key),
                format!("shares the host's {what} namespace (`{key}: host`)"),
                &format!("remove `{key}: host`"),
            ));
        }
    }
}

fn health(s: &Subject, out: &mut Vec<Raw>) {
    let message = match &s.health {
        Health::Test(_) => return,
        Health::Disabled => "the health check is disabled",
        Health::Unknown => "no health check",
    };
    out.push(raw(
        &catalog::HEALTH,
        Severity::Low,
        s,
        Subject::key("healthcheck"),
        message.to_owned(),
        "add a `healthcheck` whose test probes the service itself",
    ));
}

fn image_version(s: &Subject, out: &mut Vec<Raw>) {
    if s.built_locally {
        return; // built here; stackctl's lock file pins the image ID it starts
    }
    let Some(image) = s.image.as_deref() else {
        return;
    };
    if image.starts_with("sha256:") || image.contains("@sha256:") {
        return;
    }
    let name = image.rsplit('/').next().unwrap_or(image);
    let (severity, message) = match name.split_once(':') {
        None => (
            Severity::Medium,
            format!("image `{image}` has no tag: it means `latest`, whatever that is today"),
        ),
        Some((_, "latest")) => (
            Severity::Medium,
            format!("image `{image}` is the moving `latest` tag"),
        ),
        Some(_) => (
            Severity::Low,
            format!("image `{image}` is named by a tag, which can be moved"),
        ),
    };
    out.push(raw(
        &catalog::IMAGE_VERSION,
        severity,
        s,
        Subject::key("image"),
        message,
        "pin the image by digest (`name@sha256:...`) and update it deliberately",
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_under_a_sensitive_tree_is_sensitive_and_a_lookalike_is_not() {
        assert_eq!(sensitive_dir("/etc"), Some("/etc"));
        assert_eq!(sensitive_dir("/etc/shadow"), Some("/etc"));
        assert_eq!(sensitive_dir("/sys/fs/cgroup"), Some("/sys"));
        assert_eq!(sensitive_dir("/proc/sys"), Some("/proc"));
        assert_eq!(
            sensitive_dir("/var/lib/docker/containers"),
            Some("/var/lib/docker")
        );
        assert_eq!(sensitive_dir("/"), Some("/"));
        assert_eq!(sensitive_dir("/var"), Some("/var"));
        assert_eq!(sensitive_dir("/etcetera"), None);
        assert_eq!(sensitive_dir("/srv/app"), None);
        assert_eq!(sensitive_dir("/var/lib/mysql"), None);
    }

    #[test]
    fn on_failure_passes_only_with_one_to_five_retries() {
        let mut s = Subject::blank("x");
        let judged = |s: &Subject| {
            let mut out = Vec::new();
            restart(s, &mut out);
            out.len()
        };
        for (retries, findings) in [(0, 1), (1, 0), (5, 0), (6, 1)] {
            s.restart = Some(Restart::OnFailure {
                max_retries: Some(retries),
            });
            assert_eq!(judged(&s), findings, "on-failure:{retries}");
        }
    }

    #[test]
    fn an_unread_image_healthcheck_asks_for_a_healthcheck_only_where_none_is_declared() {
        let fix = |s: &Subject| {
            let mut out = Vec::new();
            image_healthcheck(s, &mut out);
            out[0].0.fix.clone()
        };
        let mut s = Subject::blank("x");
        assert!(fix(&s).contains("declare a `healthcheck`"));
        s.health = Health::Test(vec!["CMD".into(), "true".into()]);
        assert!(!fix(&s).contains("declare"), "{}", fix(&s));
    }
}
