//! CPU pinning: the client on one CPU, the servers on another, so that the
//! scheduler moving them around (or putting both on one CPU for a while)
//! does not show up as a difference between paths. Done where the machine
//! allows it: at least two CPUs for this process, and an engine that can
//! give a container a cpuset. What carries the traffic between them (the
//! engine's proxy, HAProxy, sshd and ssh) is left to the scheduler: it is
//! part of the path.

use anyhow::Context as _;
use nix::sched::{CpuSet, sched_getaffinity, sched_setaffinity};
use nix::unistd::Pid;
use serde::Serialize;

/// Whether and where the bench pins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Pinning {
    Pinned {
        client_cpu: usize,
        server_cpu: usize,
    },
    NotPinned {
        reason: String,
    },
}

impl Pinning {
    /// Pins when `allowed` (the CPUs this process may run on) has two and
    /// the engine can pin containers (`engine_cpuset`).
    pub fn plan(allowed: &[usize], engine_cpuset: bool) -> Pinning {
        match allowed {
            [] | [_] => Pinning::NotPinned {
                reason: format!(
                    "only {} CPU is available to the bench, so client and servers share it",
                    allowed.len()
                ),
            },
            _ if !engine_cpuset => Pinning::NotPinned {
                reason: "the engine cannot give containers a cpuset (no cpuset cgroup controller)"
                    .into(),
            },
            // The first two: on a two-core machine, both.
            [client, server, ..] => Pinning::Pinned {
                client_cpu: *client,
                server_cpu: *server,
            },
        }
    }

    /// A container's `cpuset_cpus` for a server (`server = true`) or a client.
    pub fn cpuset(&self, server: bool) -> Option<String> {
        match self {
            Pinning::Pinned {
                client_cpu,
                server_cpu,
            } => Some(if server { server_cpu } else { client_cpu }.to_string()),
            Pinning::NotPinned { .. } => None,
        }
    }

    /// One line for the report.
    pub fn describe(&self) -> String {
        match self {
            Pinning::Pinned {
                client_cpu,
                server_cpu,
            } => format!(
                "client on CPU {client_cpu}, servers on CPU {server_cpu} (proxies, tunnels and the engine unpinned)"
            ),
            Pinning::NotPinned { reason } => format!("not pinned: {reason}"),
        }
    }
}

/// The CPUs this process may run on.
pub fn allowed_cpus() -> Vec<usize> {
    match sched_getaffinity(Pid::from_raw(0)) {
        Ok(set) => (0..CpuSet::count())
            .filter(|cpu| set.is_set(*cpu).unwrap_or(false))
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// Pins every thread of process `pid` (`0` for this one) to `cpu`; threads
/// started later inherit it from the thread that starts them.
pub fn pin_process(pid: u32, cpu: usize) -> anyhow::Result<()> {
    let pid = if pid == 0 { std::process::id() } else { pid };
    let mut set = CpuSet::new();
    set.set(cpu)?;
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task"))
        .with_context(|| format!("cannot list the threads of process {pid}"))?;
    for task in tasks.flatten() {
        let Some(tid) = task
            .file_name()
            .to_str()
            .and_then(|t| t.parse::<i32>().ok())
        else {
            continue;
        };
        // A thread that ended since the listing is not an error.
        match sched_setaffinity(Pid::from_raw(tid), &set) {
            Ok(()) | Err(nix::errno::Errno::ESRCH) => {}
            Err(err) => {
                return Err(err).with_context(|| format!("cannot pin thread {tid} to CPU {cpu}"));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_cpus_and_an_engine_cpuset_pin_client_and_server_apart() {
        let pinning = Pinning::plan(&[0, 1], true);
        assert_eq!(
            pinning,
            Pinning::Pinned {
                client_cpu: 0,
                server_cpu: 1
            }
        );
        assert_eq!(pinning.cpuset(true).as_deref(), Some("1"));
        assert_eq!(pinning.cpuset(false).as_deref(), Some("0"));
    }

    #[test]
    fn one_cpu_or_no_engine_cpuset_is_said_not_pinned_with_the_reason() {
        let one = Pinning::plan(&[3], true);
        assert!(one.describe().contains("only 1 CPU"), "{}", one.describe());
        assert_eq!(one.cpuset(true), None);
        let engine = Pinning::plan(&[0, 1], false);
        assert!(
            engine.describe().contains("cpuset"),
            "{}",
            engine.describe()
        );
    }

    #[test]
    fn this_process_may_run_on_some_cpu() {
        assert!(!allowed_cpus().is_empty());
    }
}
