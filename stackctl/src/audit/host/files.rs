//! CIS section 1 (the host: a partition for the engine, who controls the
//! daemon, audit rules) and section 3 (owners and modes of the daemon's
//! files and sockets). Modes are compared bit by bit against the most
//! permissive allowed mode: docker-bench compares the octal digits as a
//! number, so it passes 0602 (world-writable) as "644 or less".

use super::catalog as c;
use super::facts::{FileFact, HostFacts};
use super::{Out, Place};
use crate::audit::catalog::Check;
use crate::audit::finding::Severity;

/// The auditing checks, in order, by the key `gather` finds their path under.
pub(super) const AUDITED: &[(&str, Check)] = &[
    ("dockerd", c::AUDIT_DOCKERD),
    ("/run/containerd", c::AUDIT_RUN_CONTAINERD),
    ("root-dir", c::AUDIT_VAR_LIB_DOCKER),
    ("/etc/docker", c::AUDIT_ETC_DOCKER),
    ("docker.service", c::AUDIT_SERVICE),
    ("containerd.sock", c::AUDIT_CONTAINERD_SOCK),
    ("docker.socket", c::AUDIT_SOCKET_UNIT),
    ("/etc/default/docker", c::AUDIT_DEFAULT),
    ("daemon.json", c::AUDIT_DAEMON_JSON),
    ("/etc/containerd/config.toml", c::AUDIT_CONTAINERD_CONFIG),
    ("/etc/sysconfig/docker", c::AUDIT_SYSCONFIG),
    ("containerd", c::AUDIT_CONTAINERD),
    ("containerd-shim", c::AUDIT_SHIM),
    ("containerd-shim-runc-v1", c::AUDIT_SHIM_V1),
    ("containerd-shim-runc-v2", c::AUDIT_SHIM_V2),
    ("runc", c::AUDIT_RUNC),
];

/// Sections 1 and 3.
pub(super) fn check(facts: &HostFacts, out: &mut Out) {
    host(facts, out);
    for file in &facts.files {
        judge_file(file, out);
    }
}

fn host(facts: &HostFacts, out: &mut Out) {
    let root = facts
        .engine
        .as_ref()
        .map(|e| e.root_dir.clone())
        .unwrap_or_else(|_| "/var/lib/docker".to_owned());
    match &facts.root_dir_mounted {
        Ok(true) => {}
        Ok(false) => out.push(&c::SEPARATE_PARTITION, Severity::Low, Place::File(root.clone()),
            format!("the engine's root directory {root} is on the root filesystem: images, containers and their logs can fill it"),
            "give it a partition (or a logical volume) of its own"),
        Err(why) => out.note(format!("CIS-1.1.1: the mounts could not be read ({why}); not judged")),
    }
    match &facts.docker_group {
        Ok(Some(members)) if !members.is_empty() => out.push(
            &c::DOCKER_GROUP,
            Severity::Info,
            Place::File("/etc/group".into()),
            format!(
                "members of the `docker` group, each root on this host through the socket: {}",
                members.join(", ")
            ),
            "keep only trusted administrators in it (`gpasswd -d USER docker`)",
        ),
        Ok(_) => {}
        Err(why) => out.note(format!(
            "CIS-1.1.2: the `docker` group could not be looked up ({why}); not judged"
        )),
    }
    let rules = match &facts.audit_rules {
        Ok(rules) => rules,
        Err(why) => {
            out.note(format!(
                "CIS-1.1.3 to 1.1.18: the audit rules could not be read ({why}); not judged"
            ));
            return;
        }
    };
    for (key, check) in AUDITED {
        let Some((_, Some(path))) = facts.audit_paths.iter().find(|(k, _)| k == key) else {
            continue; // not on this host
        };
        let covered = rules.iter().any(|rule| {
            rule.split_whitespace()
                .any(|w| w == path || w.strip_prefix("path=") == Some(path.as_str()))
        });
        if !covered {
            out.push(
                check,
                Severity::Low,
                Place::File(path.clone()),
                format!(
                    "no audit rule watches {path}{}",
                    if rules.is_empty() {
                        " (no audit rules at all: is auditd installed?)"
                    } else {
                        ""
                    }
                ),
                &format!(
                    "add `-w {path} -k docker` to /etc/audit/rules.d/docker.rules and reload auditd"
                ),
            );
        }
    }
}

fn judge_file(file: &FileFact, out: &mut Out) {
    let owner_check = super::catalog::CHECKS
        .iter()
        .find(|c| c.id == file.owner_check);
    let mode_check = super::catalog::CHECKS
        .iter()
        .find(|c| c.id == file.mode_check);
    let (Some(owner_check), Some(mode_check)) = (owner_check, mode_check) else {
        return;
    };
    let stat = match &file.stat {
        Ok(Some(stat)) => stat,
        Ok(None) => return, // not present: nothing to protect
        Err(why) => {
            out.note(format!(
                "{} and {}: {} could not be read ({why}); not judged",
                file.owner_check, file.mode_check, file.path
            ));
            return;
        }
    };
    let (want_user, want_group) = file.owner;
    let user = stat
        .user
        .clone()
        .unwrap_or_else(|| format!("uid {}", stat.uid));
    let group = stat
        .group
        .clone()
        .unwrap_or_else(|| format!("gid {}", stat.gid));
    if user != want_user || group != want_group {
        out.push(
            owner_check,
            owner_check.severity,
            Place::File(file.path.clone()),
            format!(
                "{} is owned by {user}:{group}, not {want_user}:{want_group}",
                file.path
            ),
            &format!("chown {want_user}:{want_group} {}", file.path),
        );
    }
    let extra = stat.mode & !file.max_mode & 0o7777;
    if extra != 0 {
        let severity = if stat.mode & 0o002 != 0 {
            Severity::Critical.min(bump(mode_check.severity))
        } else {
            mode_check.severity
        };
        out.push(
            mode_check,
            severity,
            Place::File(file.path.clone()),
            format!(
                "{} has mode {:04o}; at most {:04o} is allowed ({:04o} too much{})",
                file.path,
                stat.mode,
                file.max_mode,
                extra,
                if stat.mode & 0o002 != 0 {
                    ", writable by every user"
                } else {
                    ""
                }
            ),
            &format!("chmod {:o} {}", stat.mode & file.max_mode, file.path),
        );
    }
}

/// One step more severe.
fn bump(severity: Severity) -> Severity {
    match severity {
        Severity::Info => Severity::Low,
        Severity::Low => Severity::Medium,
        Severity::Medium => Severity::High,
        Severity::High | Severity::Critical => Severity::Critical,
    }
}
