//! The hardening of a running container, as the engine reports it (inspect)
//! and as the kernel applies it to the container's main process
//! (`/proc/PID/status`): no capabilities, no-new-privileges, a read-only
//! root, a non-root user, and memory, CPU and PIDs limits.

use bollard::models::ContainerInspectResponse;

/// One hardening property: its name, whether it holds, and what was seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Property {
    pub name: &'static str,
    pub holds: bool,
    pub seen: String,
}

/// Every property of `container`, from the engine's view and, when the
/// process is visible (same PID namespace, root), the kernel's.
pub fn properties(container: &ContainerInspectResponse) -> Vec<Property> {
    let host = container.host_config.clone().unwrap_or_default();
    let config = container.config.clone().unwrap_or_default();
    let cap_drop = host.cap_drop.clone().unwrap_or_default();
    let cap_add = host.cap_add.clone().unwrap_or_default();
    let security = host.security_opt.clone().unwrap_or_default();
    let user = config.user.clone().unwrap_or_default();
    let mut found = vec![
        Property {
            name: "no capabilities",
            holds: cap_drop.iter().any(|c| c.eq_ignore_ascii_case("ALL")) && cap_add.is_empty(),
            seen: format!("cap_drop {cap_drop:?}, cap_add {cap_add:?}"),
        },
        Property {
            name: "no-new-privileges",
            holds: security
                .iter()
                .any(|o| o == "no-new-privileges" || o == "no-new-privileges:true"),
            seen: format!("security_opt {security:?}"),
        },
        Property {
            name: "read-only root",
            holds: host.readonly_rootfs == Some(true),
            seen: format!("readonly_rootfs {}", host.readonly_rootfs.unwrap_or(false)),
        },
        Property {
            name: "non-root user",
            holds: is_non_root(&user),
            seen: format!("user `{user}`"),
        },
        Property {
            name: "memory limit",
            holds: host.memory.unwrap_or(0) > 0,
            seen: format!("memory {} bytes", host.memory.unwrap_or(0)),
        },
        Property {
            name: "CPU limit",
            holds: host.nano_cpus.unwrap_or(0) > 0 || host.cpu_quota.unwrap_or(0) > 0,
            seen: format!("nano_cpus {}", host.nano_cpus.unwrap_or(0)),
        },
        Property {
            name: "PIDs limit",
            holds: host.pids_limit.unwrap_or(0) > 0,
            seen: format!("pids_limit {}", host.pids_limit.unwrap_or(0)),
        },
    ];
    let pid = container.state.as_ref().and_then(|s| s.pid).unwrap_or(0);
    if pid > 0
        && let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status"))
    {
        found.extend(kernel_view(&status));
    }
    found
}

/// What the kernel applies to the process: effective capabilities, the
/// no_new_privs bit, the uid, and the seccomp mode.
pub fn kernel_view(status: &str) -> Vec<Property> {
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_owned())
            .unwrap_or_default()
    };
    let cap_eff = field("CapEff:");
    let no_new_privs = field("NoNewPrivs:");
    let uid = field("Uid:");
    let seccomp = field("Seccomp:");
    vec![
        Property {
            name: "kernel: no effective capabilities",
            holds: !cap_eff.is_empty() && cap_eff.chars().all(|c| c == '0'),
            seen: format!("CapEff {cap_eff}"),
        },
        Property {
            name: "kernel: no_new_privs set",
            holds: no_new_privs == "1",
            seen: format!("NoNewPrivs {no_new_privs}"),
        },
        Property {
            name: "kernel: non-root uid",
            holds: uid
                .split_whitespace()
                .all(|u| u.parse::<u32>().is_ok_and(|u| u != 0)),
            seen: format!("Uid {uid}"),
        },
        Property {
            name: "kernel: seccomp filter on",
            holds: seccomp == "2",
            seen: format!("Seccomp {seccomp}"),
        },
    ]
}

/// A `user` of `NAME`, `UID` or `UID:GID` that is not root.
fn is_non_root(user: &str) -> bool {
    let name = user.split(':').next().unwrap_or_default();
    !(name.is_empty() || name == "0" || name == "root")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_and_an_empty_user_are_root() {
        assert!(!is_non_root(""));
        assert!(!is_non_root("0:0"));
        assert!(!is_non_root("root"));
        assert!(is_non_root("10010:10010"));
        assert!(is_non_root("mysql"));
    }

    #[test]
    fn the_kernel_view_reads_proc_status() {
        let status = "Name:\tapi\nUid:\t10010\t10010\t10010\t10010\nCapEff:\t0000000000000000\nNoNewPrivs:\t1\nSeccomp:\t2\n";
        assert!(kernel_view(status).iter().all(|p| p.holds));
        let root = "Uid:\t0\t0\t0\t0\nCapEff:\t000001ffffffffff\nNoNewPrivs:\t0\nSeccomp:\t0\n";
        assert!(kernel_view(root).iter().all(|p| !p.holds));
    }
}
