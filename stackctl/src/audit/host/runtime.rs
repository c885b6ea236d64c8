//! The section-5 checks that need the engine rather than the Compose file:
//! ulimits (5.19), `docker exec` sessions with `--privileged` or as root
//! (5.23, 5.24), and containers on the default bridge (5.30).

use super::catalog as c;
use super::facts::HostFacts;
use super::{Out, Place};
use crate::audit::finding::Severity;
use crate::audit::subject::Subject;

/// 5.19, 5.23, 5.24, 5.30.
pub(super) fn check(facts: &HostFacts, out: &mut Out) {
    let daemon_ulimits = facts
        .daemon
        .setting("--default-ulimit", "default-ulimits")
        .ok()
        .flatten()
        .is_some_and(|s| s.value != "{}" && !s.value.is_empty());
    for service in &facts.services {
        let at = |key: &str| Place::Service(service.service.clone(), Subject::key(key));
        if service.ulimits.is_empty() && !daemon_ulimits {
            out.push(&c::ULIMIT, Severity::Info, at("ulimits"),
                "sets no ulimits and the daemon has no defaults: it gets the daemon's own limits (nofile and nproc as dockerd has them); its pids_limit still bounds its processes".into(),
                "set `ulimits: {nofile: {soft: 1024, hard: 4096}}` if the service should hold fewer files");
        }
        for exec in &service.execs {
            if exec.privileged {
                out.push(&c::EXEC_PRIVILEGED, Severity::High, at("cap_drop"),
                    format!("a privileged exec session runs in it now (`{}`): it has every capability, whatever `cap_drop` says", exec.command),
                    "end it; exec without --privileged");
            }
            let root = matches!(exec.user.split(':').next(), Some("root" | "0"));
            if root {
                out.push(&c::EXEC_ROOT, Severity::Medium, at("user"),
                    format!("an exec session runs in it as root now (`{}`, user `{}`); on the host network uid 0's connections are not policed by the per-uid egress firewall, which keys on the service's uid", exec.command, exec.user),
                    "end it; exec as the service's user (the default) unless root is needed");
            }
        }
        match &service.past_execs {
            Ok(past) if !past.is_empty() => out.note(format!(
                "CIS-5.23/5.24: `{}` had {} exec session(s) since it started ({}); the engine keeps no record of their user or privileges once they end, so they were not judged (docker-bench reads auditd's log for this)",
                service.service,
                past.len(),
                past.join("; ")
            )),
            Ok(_) => {}
            Err(why) => out.note(format!(
                "CIS-5.23/5.24: the engine's events for `{}` could not be read ({why}); past exec sessions were not judged",
                service.service
            )),
        }
        if matches!(service.network_mode.as_deref(), Some("bridge" | "default")) {
            out.push(
                &c::DOCKER0,
                Severity::Low,
                at("network_mode"),
                "runs on the default bridge (docker0), with every other container there".into(),
                "use the host network as the stack intends, or a user-defined network",
            );
        }
    }
}
