//! Every check the audit makes, in one table: its id, its official title
//! (CIS Docker Benchmark v1.6.0 numbering, where section 5 starts with 5.1
//! "swarm mode", so host networking is 5.10), where it comes from, its usual
//! severity, and what it protects. Output formats and `x-stackctl.accept`
//! refer to checks by these ids.

use super::finding::Severity;

/// Where a check comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Cis,
    HostNetwork,
}

impl Source {
    pub fn name(self) -> &'static str {
        match self {
            Source::Cis => "CIS Docker Benchmark v1.6.0",
            Source::HostNetwork => "stackctl host-network",
        }
    }
}

/// One check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Check {
    /// `CIS-5.10` for a benchmark recommendation, a short word otherwise.
    pub id: &'static str,
    pub title: &'static str,
    pub source: Source,
    /// The severity of a plain failure; some findings are graded up or down.
    pub severity: Severity,
    /// Why it matters, in a sentence (SARIF's rule help).
    pub help: &'static str,
    /// Only in `--live` audits.
    pub live_only: bool,
}

pub(crate) const fn cis(
    id: &'static str,
    title: &'static str,
    severity: Severity,
    help: &'static str,
) -> Check {
    Check {
        id,
        title,
        source: Source::Cis,
        severity,
        help,
        live_only: false,
    }
}

const fn pitfall(
    id: &'static str,
    title: &'static str,
    severity: Severity,
    help: &'static str,
) -> Check {
    Check {
        id,
        title,
        source: Source::HostNetwork,
        severity,
        help,
        live_only: false,
    }
}

use Severity::{Critical, High, Low, Medium};

pub const USER: Check = cis(
    "CIS-4.1",
    "Ensure that a user for the container has been created",
    Medium,
    "A container running as root is root on the host's kernel; one escape away from the host.",
);
pub const IMAGE_HEALTHCHECK: Check = cis(
    "CIS-4.6",
    "Ensure that HEALTHCHECK instructions have been added to container images",
    Low,
    "An image that says how to check its health is checked wherever it runs.",
);
pub const APPARMOR: Check = cis(
    "CIS-5.2",
    "Ensure that, if applicable, an AppArmor Profile is enabled",
    High,
    "AppArmor confines what the container's processes may touch on hosts that have it.",
);
pub const SELINUX: Check = cis(
    "CIS-5.3",
    "Ensure that, if applicable, SELinux security options are set",
    Low,
    "SELinux labels separate containers from each other and the host on SELinux hosts.",
);
pub const CAPABILITIES: Check = cis(
    "CIS-5.4",
    "Ensure that Linux kernel capabilities are restricted within containers",
    Medium,
    "Every capability a container keeps is kernel privilege an attacker inherits.",
);
pub const PRIVILEGED: Check = cis(
    "CIS-5.5",
    "Ensure that privileged containers are not used",
    Critical,
    "A privileged container has every capability and every device: it is the host.",
);
pub const HOST_DIRS: Check = cis(
    "CIS-5.6",
    "Ensure sensitive host system directories are not mounted on containers",
    High,
    "Host system directories in a container let it read or rewrite the host.",
);
pub const SSHD: Check = cis(
    "CIS-5.7",
    "Ensure sshd is not run within containers",
    Medium,
    "An SSH daemon is another way in, with its own keys and patches to manage.",
);
pub const PRIVILEGED_PORTS: Check = cis(
    "CIS-5.8",
    "Ensure privileged ports are not mapped within containers",
    Medium,
    "Ports below 1024 are the host's well-known services; a container should not take them.",
);
pub const NEEDED_PORTS: Check = cis(
    "CIS-5.9",
    "Ensure that only needed ports are open on the container",
    Low,
    "Every open port is attack surface; declare the ones the service needs.",
);
pub const HOST_NETWORK: Check = cis(
    "CIS-5.10",
    "Ensure that the host's network namespace is not shared",
    High,
    "On the host network a container shares the host's interfaces, ports and loopback services: one isolation boundary fewer.",
);
pub const MEMORY: Check = cis(
    "CIS-5.11",
    "Ensure that the memory usage for containers is limited",
    Medium,
    "Without a limit one container can exhaust the host's memory.",
);
pub const CPU: Check = cis(
    "CIS-5.12",
    "Ensure that CPU priority is set appropriately on containers",
    Low,
    "Without a CPU limit or share one container can starve the others.",
);
pub const READ_ONLY: Check = cis(
    "CIS-5.13",
    "Ensure that the container's root filesystem is mounted as read only",
    Medium,
    "A read-only root filesystem keeps an intruder from changing the container's programs.",
);
pub const BIND_INTERFACE: Check = cis(
    "CIS-5.14",
    "Ensure that incoming container traffic is bound to a specific host interface",
    Medium,
    "A service bound to every interface is reachable from every network the host is on.",
);
pub const RESTART: Check = cis(
    "CIS-5.15",
    "Ensure that the 'on-failure' container restart policy is set to '5'",
    Low,
    "Unbounded restarts hide a crash loop and can be abused to exhaust the host.",
);
pub const PID_NS: Check = cis(
    "CIS-5.16",
    "Ensure that the host's process namespace is not shared",
    High,
    "Sharing the host's PIDs lets the container see and signal the host's processes.",
);
pub const IPC_NS: Check = cis(
    "CIS-5.17",
    "Ensure that the host's IPC namespace is not shared",
    High,
    "Sharing the host's IPC lets the container read the host's shared memory.",
);
pub const DEVICES: Check = cis(
    "CIS-5.18",
    "Ensure that host devices are not directly exposed to containers",
    Medium,
    "A host device in a container gives it raw access to hardware.",
);
pub const PROPAGATION: Check = cis(
    "CIS-5.20",
    "Ensure mount propagation mode is not set to shared",
    Medium,
    "A shared mount lets mounts made in the container appear on the host.",
);
pub const UTS_NS: Check = cis(
    "CIS-5.21",
    "Ensure that the host's UTS namespace is not shared",
    Medium,
    "Sharing the host's UTS namespace lets the container change the host's name.",
);
pub const SECCOMP: Check = cis(
    "CIS-5.22",
    "Ensure the default seccomp profile is not Disabled",
    High,
    "The default seccomp profile blocks the system calls most container escapes use.",
);
pub const CGROUP: Check = cis(
    "CIS-5.25",
    "Ensure that cgroup usage is confirmed",
    Low,
    "A custom cgroup parent can take the container out of the engine's resource accounting.",
);
pub const NO_NEW_PRIVILEGES: Check = cis(
    "CIS-5.26",
    "Ensure that the container is restricted from acquiring additional privileges",
    Medium,
    "no-new-privileges stops setuid programs from raising a process's privileges.",
);
pub const HEALTH: Check = cis(
    "CIS-5.27",
    "Ensure that container health is checked at runtime",
    Low,
    "A health check lets the engine and dependants tell a running service from a working one.",
);
pub const IMAGE_VERSION: Check = cis(
    "CIS-5.28",
    "Ensure that Docker commands always make use of the latest version of their image",
    Low,
    "An image named by a moving tag may not be the image that was reviewed.",
);
pub const PIDS: Check = cis(
    "CIS-5.29",
    "Ensure that the PIDs cgroup limit is used",
    Medium,
    "Without a PIDs limit a fork bomb in one container takes down the host.",
);
pub const USERNS: Check = cis(
    "CIS-5.31",
    "Ensure that the host's user namespaces are not shared",
    High,
    "Sharing the host's user namespace disables user remapping for the container.",
);
pub const DOCKER_SOCKET: Check = cis(
    "CIS-5.32",
    "Ensure that the Docker socket is not mounted inside any containers",
    Critical,
    "The Docker socket is root on the host: whoever can reach it can start a privileged container.",
);

pub const HOST_PORTS: Check = pitfall(
    "host-ports",
    "`ports` has no effect on the host network",
    Medium,
    "The engine discards published ports of a host-network container and docker-compose refuses the file: the port is whatever the service binds.",
);
pub const LAN_BIND: Check = pitfall(
    "lan-bind",
    "Listens on every interface without needing the LAN",
    Medium,
    "On the host network a 0.0.0.0 bind is on the host's LAN addresses; a service that does not serve the LAN should bind loopback.",
);
pub const OPEN_TOKEN: Check = pitfall(
    "open-token",
    "Notebook or admin token disabled or empty",
    High,
    "An empty token or password turns a notebook or an admin interface into remote code execution for anyone who can reach it.",
);
pub const PLAINTEXT: Check = pitfall(
    "plaintext",
    "Plaintext protocol reachable beyond this host",
    High,
    "Telnet, FTP and the r-commands send everything, credentials included, in clear text.",
);
pub const SENSITIVE_PLAINTEXT: Check = pitfall(
    "sensitive-plaintext",
    "Credentials or personal data served in clear text beyond this host",
    High,
    "A service that declares it carries credentials or personal data (`x-stackctl.carries`) and serves an unencrypted protocol beyond loopback sends them across the LAN readable by anyone on it.",
);
pub const DB_EXPOSED: Check = pitfall(
    "db-exposed",
    "Database port reachable beyond loopback",
    High,
    "A database on the host network bound beyond loopback is on the LAN.",
);
pub const LOW_PORT: Check = pitfall(
    "low-port",
    "Port below 1024 needs NET_BIND_SERVICE",
    Medium,
    "Binding a port below 1024 needs NET_BIND_SERVICE; without it the bind fails, with it the service can take any well-known port.",
);
pub const NO_EGRESS: Check = pitfall(
    "no-egress",
    "No egress policy",
    Medium,
    "Without an egress policy a compromised service on the host network can reach every address the host can.",
);
pub const LISTEN_DRIFT: Check = Check {
    id: "listen-drift",
    title: "Listening sockets differ from those compose.yaml declares",
    source: Source::HostNetwork,
    severity: Medium,
    help: "What really listens in the host's network namespace should be what x-stackctl.listen declares.",
    live_only: true,
};
pub const NOT_RUNNING: Check = Check {
    id: "not-running",
    title: "Service is not running",
    source: Source::HostNetwork,
    // Medium, so that `--live` on a stopped stack fails at the default
    // threshold rather than passing with nothing looked at.
    severity: Medium,
    help: "A live audit can only look at running containers: a service that is not running was not audited.",
    live_only: true,
};

/// Every check, in report order.
pub const CHECKS: &[Check] = &[
    USER,
    IMAGE_HEALTHCHECK,
    APPARMOR,
    SELINUX,
    CAPABILITIES,
    PRIVILEGED,
    HOST_DIRS,
    SSHD,
    PRIVILEGED_PORTS,
    NEEDED_PORTS,
    HOST_NETWORK,
    MEMORY,
    CPU,
    READ_ONLY,
    BIND_INTERFACE,
    RESTART,
    PID_NS,
    IPC_NS,
    DEVICES,
    PROPAGATION,
    UTS_NS,
    SECCOMP,
    CGROUP,
    NO_NEW_PRIVILEGES,
    HEALTH,
    IMAGE_VERSION,
    PIDS,
    USERNS,
    DOCKER_SOCKET,
    HOST_PORTS,
    LAN_BIND,
    OPEN_TOKEN,
    PLAINTEXT,
    SENSITIVE_PLAINTEXT,
    DB_EXPOSED,
    LOW_PORT,
    NO_EGRESS,
    LISTEN_DRIFT,
    NOT_RUNNING,
];

/// Every check: the file's and the running stack's ([`CHECKS`]), then the
/// host's (`stackctl audit --host`).
pub fn all() -> impl Iterator<Item = &'static Check> {
    CHECKS.iter().chain(super::host::catalog::CHECKS)
}

/// The check named `id`: its full id (`CIS-5.10`, `plaintext`) or a bare
/// CIS number (`5.10`).
pub fn find(id: &str) -> Option<&'static Check> {
    let id = id.trim();
    all().find(|c| c.id.eq_ignore_ascii_case(id) || c.id.strip_prefix("CIS-") == Some(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_found_with_or_without_the_cis_prefix() {
        let mut ids: Vec<&str> = CHECKS.iter().map(|c| c.id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), CHECKS.len());
        assert_eq!(find("5.10").map(|c| c.id), Some("CIS-5.10"));
        assert_eq!(find("cis-5.10").map(|c| c.id), Some("CIS-5.10"));
        assert_eq!(find("plaintext").map(|c| c.id), Some("plaintext"));
        assert_eq!(
            find("5.1").map(|c| c.id),
            Some("CIS-5.1"),
            "5.1 (swarm mode) is a host check"
        );
        let mut all: Vec<&str> = all().map(|c| c.id).collect();
        let count = all.len();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), count, "host check ids are unique too");
    }

    #[test]
    fn the_issue_list_of_cis_checks_is_covered() {
        for id in [
            "4.1", "4.6", "5.2", "5.3", "5.4", "5.5", "5.6", "5.8", "5.10", "5.11", "5.12", "5.13",
            "5.14", "5.15", "5.16", "5.17", "5.20", "5.21", "5.22", "5.26", "5.27", "5.29", "5.31",
            "5.32",
        ] {
            assert!(find(id).is_some(), "CIS {id}");
        }
    }
}
