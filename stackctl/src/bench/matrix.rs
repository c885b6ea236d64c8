//! The isolation matrix beside the numbers: for every path, measured on the
//! running servers (nothing here is written by hand):
//! - whether a LAN client reaches the probe: the verify module's LAN
//!   namespace (joined to the host by a veth pair) for the paths served on
//!   the host, the namespace on the parent link for macvlan and ipvlan;
//! - whether another container reaches it over localhost, tried from the
//!   path's client container (`probe client connect 127.0.0.1:…`);
//! - whether it holds a port in the host's network namespace (a second copy
//!   would collide): the listening sockets of the host's namespace
//!   (`/proc/net/tcp`) on the path's addresses, with their owners;
//! - for macvlan and ipvlan, whether the host itself reaches the container
//!   (their known limitation: the parent does not deliver to its children);
//! - what `stackctl audit --live` reports about the path's server
//!   containers, for the checks about networking.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use bollard::Docker;
use serde::Serialize;

use super::exec;
use super::paths::Path;
use super::servers::PathFacts;
use crate::audit::catalog;
use crate::compose::Project;
use crate::image::binary;

/// How long one connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// One cell: what was tried and what happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Cell {
    Yes {
        detail: String,
    },
    No {
        detail: String,
    },
    /// It could not be tried here (why).
    NotTried {
        why: String,
    },
}

impl Cell {
    /// `yes`, `no` or `?` for the table.
    pub fn short(&self) -> &'static str {
        match self {
            Cell::Yes { .. } => "yes",
            Cell::No { .. } => "no",
            Cell::NotTried { .. } => "?",
        }
    }

    pub fn detail(&self) -> &str {
        match self {
            Cell::Yes { detail } | Cell::No { detail } => detail,
            Cell::NotTried { why } => why,
        }
    }
}

/// A path's row.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub path: Path,
    pub lan_reaches: Cell,
    pub container_over_localhost: Cell,
    pub holds_host_port: Cell,
    /// macvlan and ipvlan only.
    pub host_reaches: Option<Cell>,
    /// The audit's network findings on the server containers.
    pub audit: Audit,
}

/// What the audit says about a path's server containers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Audit {
    /// `check (service): message` for each network finding (none: empty).
    Findings { findings: Vec<String> },
    /// Nothing to audit, or the audit failed (why).
    NotAudited { why: String },
}

/// The checks of the audit that are about networking.
fn network_checks() -> [&'static str; 10] {
    [
        catalog::HOST_NETWORK.id,
        catalog::BIND_INTERFACE.id,
        catalog::SSHD.id,
        catalog::PRIVILEGED_PORTS.id,
        catalog::NEEDED_PORTS.id,
        catalog::LAN_BIND.id,
        catalog::DB_EXPOSED.id,
        catalog::PLAINTEXT.id,
        catalog::HOST_PORTS.id,
        catalog::LOW_PORT.id,
    ]
}

/// Measures every row.
pub async fn measure(
    docker: &Docker,
    session: &str,
    facts: &BTreeMap<Path, PathFacts>,
    skipped: &[Path],
) -> Vec<Row> {
    let mut rows = Vec::new();
    for (path, facts) in facts {
        if skipped.contains(path) {
            continue;
        }
        rows.push(Row {
            path: *path,
            lan_reaches: lan(facts).await,
            container_over_localhost: localhost(docker, facts).await,
            holds_host_port: host_port(docker, session, facts).await,
            host_reaches: match facts.from_host {
                Some(addr) => Some(connect_from_host(addr).await),
                None => None,
            },
            audit: match audit(docker, session, facts).await {
                Ok(findings) => Audit::Findings { findings },
                Err(why) => Audit::NotAudited { why },
            },
        });
    }
    rows
}

fn outcome(addr: SocketAddr, result: std::io::Result<()>) -> Cell {
    match result {
        Ok(()) => Cell::Yes {
            detail: format!("connected to {addr}"),
        },
        Err(err) => Cell::No {
            detail: format!("{addr}: {err}"),
        },
    }
}

async fn lan(facts: &PathFacts) -> Cell {
    let Some((addr, client)) = facts.lan_target.clone() else {
        return Cell::NotTried {
            why: "no LAN client here (making a network namespace needs root and iproute2)".into(),
        };
    };
    let result = tokio::task::spawn_blocking(move || {
        client
            .inside(move || probe::client::connect(addr, CONNECT_TIMEOUT))
            .and_then(|r| r)
    })
    .await
    .unwrap_or_else(|e| Err(std::io::Error::other(e.to_string())));
    outcome(addr, result)
}

async fn connect_from_host(addr: SocketAddr) -> Cell {
    let result = tokio::task::spawn_blocking(move || probe::client::connect(addr, CONNECT_TIMEOUT))
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(e.to_string())));
    outcome(addr, result)
}

async fn localhost(docker: &Docker, facts: &PathFacts) -> Cell {
    let Some((container, addr)) = &facts.localhost_check else {
        return Cell::NotTried {
            why: "no client container on this path in this run".into(),
        };
    };
    let argv = [
        binary::binary_path_in_image("probe"),
        "client".into(),
        "connect".into(),
        "--target".into(),
        addr.to_string(),
        "--timeout".into(),
        CONNECT_TIMEOUT.as_secs_f64().to_string(),
    ];
    match exec::run(docker, container, &argv).await {
        Ok(out) if out.exit_code == Some(0) => Cell::Yes {
            detail: format!("{container} connected to {addr}"),
        },
        Ok(out) => Cell::No {
            detail: format!("{container} → {addr}: {}", out.stdout.trim()),
        },
        Err(err) => Cell::NotTried {
            why: format!("cannot run the check in {container}: {err:#}"),
        },
    }
}

async fn host_port(docker: &Docker, session: &str, facts: &PathFacts) -> Cell {
    let listening = crate::listeners::listening();
    let mut held = Vec::new();
    for addr in &facts.host_addresses {
        for listener in crate::listeners::conflicts(*addr, &listening) {
            let owner = listener.process.map_or_else(
                || "an unseen process".to_owned(),
                |(pid, name)| format!("{name} (pid {pid})"),
            );
            held.push(format!("{} by {owner}", listener.addr));
        }
    }
    // The server containers' own sockets in the host's namespace (a
    // host-network server's), whatever their address.
    let mut server_pids = Vec::new();
    for role in &facts.server_roles {
        let name = format!("{session}-{role}-1");
        if let Ok(top) = docker.top_processes(&name, None).await {
            let column = top
                .titles
                .unwrap_or_default()
                .iter()
                .position(|t| t == "PID");
            for process in top.processes.unwrap_or_default() {
                if let Some(pid) = column.and_then(|c| process.get(c)?.parse::<u32>().ok()) {
                    server_pids.push(pid);
                }
            }
        }
    }
    for listener in &listening {
        if let Some((pid, name)) = &listener.process
            && server_pids.contains(pid)
        {
            let line = format!("{} by {name} (pid {pid})", listener.addr);
            if !held.contains(&line) {
                held.push(line);
            }
        }
    }
    if held.is_empty() {
        Cell::No {
            detail: "no socket of the path listens in the host's network namespace".into(),
        }
    } else {
        held.sort();
        held.dedup();
        Cell::Yes {
            detail: held.join(", "),
        }
    }
}

/// `stackctl audit --live` on the path's server containers, through a
/// project that names them; only the network checks are kept.
async fn audit(docker: &Docker, session: &str, facts: &PathFacts) -> Result<Vec<String>, String> {
    if facts.server_roles.is_empty() {
        return Err("a plain process: no container to audit".into());
    }
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let file = dir.path().join("compose.yaml");
    let mut yaml = String::from("services:\n");
    for role in &facts.server_roles {
        yaml.push_str(&format!(
            "  {role}:\n    image: {}\n",
            super::paths::probe_image()
        ));
    }
    std::fs::write(&file, yaml).map_err(|e| e.to_string())?;
    let mut project = Project::load(&file).map_err(|e| e.to_string())?;
    project.rename(session);
    let report = crate::audit::audit_live(docker, &project)
        .await
        .map_err(|e| format!("the audit failed: {e:#}"))?;
    let checks = network_checks();
    let mut findings: Vec<String> = report
        .findings
        .iter()
        .filter(|f| checks.contains(&f.check) && f.check != catalog::NOT_RUNNING.id)
        .map(|f| format!("{} ({}): {}", f.check, f.service, f.message))
        .collect();
    findings.sort();
    findings.dedup();
    Ok(findings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_say_yes_no_or_not_tried_with_their_detail() {
        let addr: SocketAddr = "127.0.0.1:9".parse().unwrap();
        assert_eq!(outcome(addr, Ok(())).short(), "yes");
        let refused = outcome(addr, Err(std::io::ErrorKind::ConnectionRefused.into()));
        assert_eq!(refused.short(), "no");
        assert!(
            refused.detail().starts_with("127.0.0.1:9: "),
            "{}",
            refused.detail()
        );
        let not = Cell::NotTried {
            why: "needs root".into(),
        };
        assert_eq!((not.short(), not.detail()), ("?", "needs root"));
    }

    #[test]
    fn the_network_checks_are_checks_of_the_audit() {
        for id in network_checks() {
            assert!(catalog::find(id).is_some(), "{id}");
        }
    }
}
