//! The hardening of a running container, as the engine reports it (inspect)
//! and as the kernel applies it to the container's main process
//! (`/proc/PID/status`): capabilities dropped, no-new-privileges, a
//! read-only root, a non-root user, and memory, CPU and PIDs limits. The
//! engine's view is judged by the audit's controls ([`crate::audit::controls`]).

use bollard::models::ContainerInspectResponse;

/// One hardening property: its name, whether it holds, and what was seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Property {
    pub name: &'static str,
    pub holds: bool,
    pub seen: String,
}

/// Every property of `container`, from the engine's view and, when the
/// process is visible (same PID namespace, root), the kernel's. The engine
/// view is the audit's judgement of its controls (`cap-drop-all`,
/// `no-new-privileges`, `read-only-rootfs`, `non-root-user` and the three
/// resource limits) on the same inspect data, so `verify` and `audit --live`
/// cannot disagree.
pub fn properties(container: &ContainerInspectResponse) -> Vec<Property> {
    let mut found: Vec<Property> = crate::audit::live::engine_hardening(container)
        .into_iter()
        .map(|(name, judged)| {
            let holds = judged.is_ok();
            Property {
                name,
                holds,
                seen: judged.unwrap_or_else(|why| why),
            }
        })
        .collect();
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

#[cfg(test)]
mod tests {
    use super::*;

    use bollard::models::{ContainerConfig, HostConfig};

    fn inspected(host: HostConfig, user: &str) -> ContainerInspectResponse {
        ContainerInspectResponse {
            host_config: Some(host),
            config: Some(ContainerConfig {
                user: Some(user.to_owned()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn holds(properties: &[Property], name: &str) -> bool {
        properties
            .iter()
            .find(|p| p.name == name)
            .unwrap_or_else(|| panic!("no {name} in {properties:?}"))
            .holds
    }

    #[test]
    fn the_engine_view_is_seven_properties_and_root_is_root() {
        for user in ["", "0:0", "root"] {
            let p = properties(&inspected(HostConfig::default(), user));
            assert_eq!(p.len(), 7, "no process, no kernel view: {p:?}");
            assert!(!holds(&p, "non-root user"), "`{user}`");
        }
        let p = properties(&inspected(HostConfig::default(), "10010:10010"));
        assert!(holds(&p, "non-root user"));
    }

    #[test]
    fn the_engine_view_agrees_with_the_audit_on_every_form_of_no_new_privileges() {
        let host = |opt: &str| HostConfig {
            security_opt: Some(vec![opt.to_owned()]),
            ..Default::default()
        };
        for opt in [
            "no-new-privileges",
            "no-new-privileges:true",
            "no-new-privileges=true",
        ] {
            let p = properties(&inspected(host(opt), "1"));
            assert!(holds(&p, "no-new-privileges"), "{opt}");
        }
        let p = properties(&inspected(host("no-new-privileges:false"), "1"));
        assert!(!holds(&p, "no-new-privileges"));
    }

    #[test]
    fn a_cfs_quota_is_a_cpu_limit_in_the_engine_view() {
        let host = HostConfig {
            cpu_quota: Some(50_000),
            ..Default::default()
        };
        assert!(holds(&properties(&inspected(host, "1")), "CPU limit"));
    }

    #[test]
    fn the_kernel_view_reads_proc_status() {
        let status = "Name:\tapi\nUid:\t10010\t10010\t10010\t10010\nCapEff:\t0000000000000000\nNoNewPrivs:\t1\nSeccomp:\t2\n";
        assert!(kernel_view(status).iter().all(|p| p.holds));
        let root = "Uid:\t0\t0\t0\t0\nCapEff:\t000001ffffffffff\nNoNewPrivs:\t0\nSeccomp:\t0\n";
        assert!(kernel_view(root).iter().all(|p| !p.holds));
    }
}
