//! Compensating controls: the hardening that makes up for an accepted risk
//! (host networking above all), computed from the same facts the checks
//! judge, so the report lists what is in place, not what a comment claims.

use super::subject::{Subject, uid_of};

/// One control, by the name `x-stackctl.accept[].controls` uses.
#[derive(Debug, Clone, Copy)]
pub struct Control {
    pub name: &'static str,
    /// Describes the control as found, or says why it is not in place.
    judge: fn(&Subject) -> Result<String, String>,
}

impl Control {
    /// `Ok(description)` when in place, `Err(why not)` otherwise.
    pub fn judge(&self, subject: &Subject) -> Result<String, String> {
        (self.judge)(subject)
    }
}

/// The control read from an image's files, which only some audits read.
const NO_SETUID_FILES: &str = "no-setuid-files";

/// Every control the audit knows, in report order.
pub const CONTROLS: &[Control] = &[
    Control {
        name: "cap-drop-all",
        judge: |s| {
            if !s.cap_drop.iter().any(|c| c == "ALL") || s.privileged {
                return Err("capabilities are not dropped (`cap_drop: [ALL]`)".to_owned());
            }
            Ok(if s.cap_add.is_empty() {
                "no capabilities (cap_drop ALL)".to_owned()
            } else {
                format!("cap_drop ALL, adding only {}", s.cap_add.join(", "))
            })
        },
    },
    Control {
        name: "no-new-privileges",
        judge: |s| {
            no_new_privileges(&s.security_opt)
                .then(|| "no-new-privileges".to_owned())
                .ok_or_else(|| "no `no-new-privileges`".to_owned())
        },
    },
    Control {
        name: "read-only-rootfs",
        judge: |s| {
            s.read_only
                .then(|| "read-only root filesystem".to_owned())
                .ok_or_else(|| "the root filesystem is writable".to_owned())
        },
    },
    Control {
        name: "non-root-user",
        judge: |s| match s.user.as_deref() {
            Some(user) if uid_of(user) != Some(0) => Ok(format!("runs as {user}, not root")),
            Some(user) => Err(format!("runs as root (`{user}`)")),
            None => Err("no user is set: root unless the image says otherwise".to_owned()),
        },
    },
    Control {
        name: "egress-policy",
        judge: |s| match &s.egress {
            Some(rules) if rules.is_empty() => Ok(format!(
                "egress: no connections allowed ({})",
                s.egress_source
            )),
            Some(rules) => Ok(format!(
                "egress only to {} ({})",
                rules
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
                s.egress_source
            )),
            None => Err(format!("no egress policy ({})", s.egress_source)),
        },
    },
    Control {
        name: "seccomp-default",
        judge: |s| {
            if s.privileged
                || s.security_opt
                    .iter()
                    .any(|o| o.starts_with("seccomp") && o.ends_with("unconfined"))
            {
                Err("the default seccomp profile is off".to_owned())
            } else {
                Ok("the engine's default seccomp profile".to_owned())
            }
        },
    },
    Control {
        name: "declared-binds",
        judge: |s| {
            if s.declared_listen.is_none() {
                return Err("no `x-stackctl.listen`".to_owned());
            }
            let mut parts = Vec::new();
            for e in s.exposures.iter().filter(|e| !e.published) {
                if e.on_every_interface() {
                    match &s.lan {
                        Some(_) => parts.push(format!("{} (declared for the LAN)", e.describe())),
                        None => {
                            return Err(format!("binds {} without `x-stackctl.lan`", e.describe()));
                        }
                    }
                } else if e.ip.is_loopback() {
                    parts.push(format!("{} (loopback)", e.describe()));
                } else {
                    parts.push(e.describe());
                }
            }
            Ok(format!("binds {}", parts.join(", ")))
        },
    },
    Control {
        name: "resource-limits",
        judge: |s| {
            let judged = [memory_limit(s), cpu_limit(s), pids_limit(s)];
            let missing: Vec<&str> = judged
                .iter()
                .zip(["memory", "cpu", "pids"])
                .filter(|(j, _)| j.is_err())
                .map(|(_, name)| name)
                .collect();
            if missing.is_empty() {
                Ok("memory, CPU and PIDs limits".to_owned())
            } else {
                Err(format!("no {} limit", missing.join(", ")))
            }
        },
    },
    Control {
        name: NO_SETUID_FILES,
        judge: |s| {
            match &s.setuid_files {
            None => Err("the image's files were not read here, so cannot read whether it has setuid or setgid files".to_owned()),
            Some(files) if files.is_empty() => Ok("no setuid or setgid file in the image".to_owned()),
            Some(files) => Err(format!(
                "the image has setuid or setgid files: {}",
                files.join(", ")
            )),
        }
        },
    },
];

/// Whether `security_opt` turns no-new-privileges on: `no-new-privileges`,
/// `no-new-privileges:true` or `no-new-privileges=true` (the last one
/// written wins, as in the engine).
pub fn no_new_privileges(security_opt: &[String]) -> bool {
    security_opt
        .iter()
        .filter_map(|opt| {
            let (key, value) = match opt.split_once([':', '=']) {
                Some((key, value)) => (key, Some(value)),
                None => (opt.as_str(), None),
            };
            (key.trim() == "no-new-privileges")
                .then(|| value.is_none_or(|v| v.trim().eq_ignore_ascii_case("true")))
        })
        .next_back()
        .unwrap_or(false)
}

/// CIS 5.11: a memory limit.
pub fn memory_limit(s: &Subject) -> Result<String, String> {
    match s.memory {
        Some(bytes) if bytes > 0 => Ok(format!("memory limit {bytes} bytes")),
        _ => Err("no memory limit".to_owned()),
    }
}

/// CIS 5.12: a CPU limit (`cpus`, a CFS quota) or at least a CPU share.
pub fn cpu_limit(s: &Subject) -> Result<String, String> {
    if let Some(nano) = s.nano_cpus.filter(|c| *c > 0) {
        return Ok(format!("CPU limit {} CPUs", nano as f64 / 1e9));
    }
    if let Some(quota) = s.cpu_quota.filter(|q| *q > 0) {
        return Ok(format!("CPU quota {quota} µs per period"));
    }
    if let Some(shares) = s.cpu_shares.filter(|c| *c > 0) {
        return Ok(format!(
            "CPU shares {shares} (a relative weight, not a cap)"
        ));
    }
    Err("no CPU limit or share".to_owned())
}

/// CIS 5.29: a PIDs limit.
pub fn pids_limit(s: &Subject) -> Result<String, String> {
    match s.pids_limit {
        Some(pids) if pids > 0 => Ok(format!("PIDs limit {pids}")),
        _ => Err("no limit on the number of processes".to_owned()),
    }
}

/// The control named `name`.
pub fn find(name: &str) -> Option<&'static Control> {
    CONTROLS.iter().find(|c| c.name == name)
}

/// Every control judged on `subject`: (in place, missing), each described.
pub fn judge_all(subject: &Subject) -> (Vec<String>, Vec<String>) {
    let mut in_place = Vec::new();
    let mut missing = Vec::new();
    for control in CONTROLS {
        // A fact this audit did not gather (the image's files, in an audit
        // of the file) is neither in place nor missing here; an acceptance
        // that names the control is judged by `judge` and fails closed.
        if control.name == NO_SETUID_FILES && subject.setuid_files.is_none() {
            continue;
        }
        match control.judge(subject) {
            Ok(found) => in_place.push(found),
            Err(why) => missing.push(format!("{}: {why}", control.name)),
        }
    }
    (in_place, missing)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn no_new_privileges_is_read_in_every_form_the_engine_takes() {
        for on in [
            &["no-new-privileges"][..],
            &["no-new-privileges:true"],
            &["no-new-privileges=true"],
            &["no-new-privileges=false", "no-new-privileges:true"],
        ] {
            assert!(no_new_privileges(&opts(on)), "{on:?}");
        }
        for off in [
            &[][..],
            &["no-new-privileges:false"],
            &["no-new-privileges=false"],
            &["no-new-privileges:true", "no-new-privileges=false"],
            &["seccomp:unconfined"],
        ] {
            assert!(!no_new_privileges(&opts(off)), "{off:?}");
        }
    }

    #[test]
    fn a_cfs_quota_is_a_cpu_limit() {
        let mut s = Subject::blank("x");
        assert!(cpu_limit(&s).is_err());
        s.cpu_quota = Some(50_000);
        assert!(cpu_limit(&s).is_ok());
    }
}
