//! The live audit: each running service's facts as the engine reports them
//! (`docker inspect` of the container and its image), its sockets as the
//! kernel reports them (`/proc/net/tcp*` of the host's network namespace,
//! owned by the container's processes), and its egress policy as the
//! firewall has it installed. The same checks then run as on the file,
//! plus `listen-drift`: sockets that differ from `x-stackctl.listen`.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};

use bollard::Docker;
use bollard::models::{ContainerInspectResponse, RestartPolicyNameEnum};

use super::Raw;
use super::catalog;
use super::finding::{Finding, Mode, Report, Severity};
use super::subject::{self, Exposure, Health, MountFact, Subject, normalize_cap};
use crate::compose::Project;
use crate::compose::extension::Endpoint;
use crate::compose::model::Restart;
use crate::firewall;
use crate::listeners::{self, Listener};

/// Audits the running containers of `project`.
pub async fn audit_live(docker: &Docker, project: &Project) -> anyhow::Result<Report> {
    let containers = crate::stack::containers(docker, &project.name).await?;
    let sockets = listeners::listening();
    let rules = firewall::installed(&project.name, firewall::Family::V4);
    let mut subjects = Vec::new();
    let mut extra: Vec<Raw> = Vec::new();
    for (name, service) in &project.model.services {
        let declared = subject::from_compose(project, name, service);
        let Some(container) = containers.iter().find(|c| &c.service == name && c.running) else {
            extra.push((
                Finding::new(
                    &catalog::NOT_RUNNING,
                    Severity::Info,
                    name,
                    format!(
                        "no running container of project `{}`; its live checks were skipped",
                        project.name
                    ),
                    "start it (`stackctl up`) and audit again",
                ),
                Subject::key("image"),
            ));
            continue;
        };
        let inspected = docker.inspect_container(&container.id, None).await?;
        let image_health = match docker.inspect_image(&container.image_id).await {
            Ok(image) => Some(
                image
                    .config
                    .and_then(|c| c.healthcheck)
                    .and_then(|h| h.test)
                    .is_some_and(|t| t.first().map(String::as_str) != Some("NONE")),
            ),
            Err(_) => None,
        };
        let pids = container_pids(docker, &container.id).await;
        let owned = owned_sockets(&sockets, &pids, declared.declared_listen.as_deref());
        let policed = rules
            .iter()
            .any(|rule| rule.contains(&format!("stackctl:{}:{name}", project.name)));
        let mut live = from_inspect(&declared, inspected, &owned, image_health);
        if policed {
            live.egress = declared.egress.clone();
            live.egress_source = "enforced by the firewall chain `up` installed";
        } else {
            live.egress = None;
            live.egress_source = "no firewall rules are installed for it";
        }
        if live.on_host_network() {
            extra.extend(drift(&live, declared.declared_listen.as_deref()));
        }
        subjects.push(live);
    }
    super::report(project, Mode::Live, &subjects, extra)
}

/// The host PIDs of the container's processes.
async fn container_pids(docker: &Docker, id: &str) -> BTreeSet<u32> {
    let Ok(top) = docker.top_processes(id, None).await else {
        return BTreeSet::new();
    };
    let column = top
        .titles
        .unwrap_or_default()
        .iter()
        .position(|t| t == "PID");
    let Some(column) = column else {
        return BTreeSet::new();
    };
    top.processes
        .unwrap_or_default()
        .iter()
        .filter_map(|p| p.get(column)?.parse().ok())
        .collect()
}

/// The sockets the container's processes hold. Where `/proc` does not show
/// socket owners (not root), the sockets on the declared ports stand in.
fn owned_sockets(
    sockets: &[Listener],
    pids: &BTreeSet<u32>,
    declared: Option<&[Endpoint]>,
) -> Vec<Listener> {
    let owners_visible = sockets.iter().any(|l| l.process.is_some());
    let mut owned: Vec<Listener> = sockets
        .iter()
        .filter(|l| match &l.process {
            Some((pid, _)) => pids.contains(pid),
            None if owners_visible => false,
            None => declared.is_some_and(|d| d.iter().any(|e| e.addr.port() == l.addr.port())),
        })
        .cloned()
        .collect();
    // A dual-stack wildcard often shows as both 0.0.0.0:P and [::]:P: one exposure.
    owned.sort_by_key(|l| (l.addr.port(), !l.addr.is_ipv4(), l.addr.ip()));
    let mut seen = BTreeSet::new();
    owned.retain(|l| {
        let ip = if l.addr.ip().is_unspecified() {
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        } else {
            l.addr.ip()
        };
        seen.insert((ip, l.addr.port()))
    });
    owned
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.is_empty())
}

/// The running container's facts, keeping from `declared` only what is a
/// declaration (the LAN reason, the declared listen addresses, the keys).
fn from_inspect(
    declared: &Subject,
    inspected: ContainerInspectResponse,
    owned: &[Listener],
    image_health: Option<bool>,
) -> Subject {
    let host = inspected.host_config.unwrap_or_default();
    let config = inspected.config.unwrap_or_default();
    let network_mode = non_empty(host.network_mode.clone());
    let on_host = network_mode.as_deref() == Some("host");
    let listen_key = |port: u16| {
        declared
            .declared_listen
            .as_deref()
            .and_then(|d| d.iter().position(|e| e.addr.port() == port))
            .map(|i| Subject::key("x-stackctl").key("listen").index(i))
            .unwrap_or_else(|| Subject::key("x-stackctl").key("listen"))
    };
    let scheme_of = |port: u16| {
        declared
            .declared_listen
            .as_deref()
            .and_then(|d| d.iter().find(|e| e.addr.port() == port))
            .map(|e| e.scheme.clone())
    };
    let mut exposures = Vec::new();
    if on_host {
        for l in owned {
            exposures.push(Exposure {
                ip: l.addr.ip(),
                host_port: Some(l.addr.port()),
                port: l.addr.port(),
                scheme: scheme_of(l.addr.port()),
                published: false,
                key: listen_key(l.addr.port()),
            });
        }
    } else {
        let mut bindings: Vec<_> = host
            .port_bindings
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect();
        bindings.sort_by(|a, b| a.0.cmp(&b.0));
        for (i, (port, bound)) in bindings.into_iter().enumerate() {
            let target: u16 = port
                .split('/')
                .next()
                .and_then(|p| p.parse().ok())
                .unwrap_or(0);
            for binding in bound.unwrap_or_default() {
                exposures.push(Exposure {
                    ip: binding
                        .host_ip
                        .as_deref()
                        .filter(|ip| !ip.is_empty())
                        .and_then(|ip| ip.parse().ok())
                        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
                    host_port: binding.host_port.as_deref().and_then(|p| p.parse().ok()),
                    port: target,
                    scheme: None,
                    published: true,
                    key: Subject::key("ports").index(i),
                });
            }
        }
    }
    let mounts = inspected
        .mounts
        .unwrap_or_default()
        .into_iter()
        .map(|m| {
            let target = m.destination.unwrap_or_default();
            let key = declared
                .mounts
                .iter()
                .find(|d| d.target == target)
                .map(|d| d.key.clone())
                .unwrap_or_else(|| Subject::key("secrets"));
            MountFact {
                kind: m.typ.unwrap_or_default(),
                source: match &m.name {
                    Some(name) if !name.is_empty() => Some(name.clone()),
                    _ => m.source,
                },
                target,
                read_only: m.rw == Some(false),
                propagation: m.propagation.filter(|p| !p.is_empty() && p != "rprivate"),
                key,
            }
        })
        .collect();
    let health = match config.healthcheck.and_then(|h| h.test) {
        Some(test) if test.first().map(String::as_str) == Some("NONE") => Health::Disabled,
        Some(test) if !test.is_empty() => Health::Test(test),
        _ => Health::Unknown,
    };
    let restart = host.restart_policy.as_ref().and_then(|p| {
        Some(match p.name? {
            RestartPolicyNameEnum::ALWAYS => Restart::Always,
            RestartPolicyNameEnum::UNLESS_STOPPED => Restart::UnlessStopped,
            RestartPolicyNameEnum::ON_FAILURE => Restart::OnFailure {
                max_retries: p.maximum_retry_count.filter(|n| *n > 0).map(|n| n as u32),
            },
            _ => Restart::No,
        })
    });
    let mut command = config.entrypoint.unwrap_or_default();
    command.extend(config.cmd.unwrap_or_default());
    Subject {
        service: declared.service.clone(),
        image: non_empty(config.image),
        built_locally: declared.built_locally,
        privileged: host.privileged == Some(true),
        cap_add: host
            .cap_add
            .unwrap_or_default()
            .iter()
            .map(|c| normalize_cap(c))
            .collect(),
        cap_drop: host
            .cap_drop
            .unwrap_or_default()
            .iter()
            .map(|c| normalize_cap(c))
            .collect(),
        security_opt: host.security_opt.unwrap_or_default(),
        read_only: host.readonly_rootfs == Some(true),
        user: non_empty(config.user),
        user_source: "engine",
        network_mode,
        pid: non_empty(host.pid_mode),
        ipc: non_empty(host.ipc_mode),
        uts: non_empty(host.uts_mode),
        userns: non_empty(host.userns_mode),
        cgroup_parent: non_empty(host.cgroup_parent),
        devices: host
            .devices
            .unwrap_or_default()
            .into_iter()
            .map(|d| {
                format!(
                    "{}:{}:{}",
                    d.path_on_host.unwrap_or_default(),
                    d.path_in_container.unwrap_or_default(),
                    d.cgroup_permissions.unwrap_or_default()
                )
            })
            .collect(),
        mounts,
        ports_written: declared.ports_written,
        port_ranges: declared.port_ranges.clone(),
        exposures,
        declared_listen: declared.declared_listen.clone(),
        memory: host.memory,
        nano_cpus: host.nano_cpus,
        cpu_shares: host.cpu_shares,
        pids_limit: host.pids_limit,
        restart,
        health,
        image_health,
        command,
        environment: config
            .env
            .unwrap_or_default()
            .into_iter()
            .filter_map(|e| e.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
            .collect::<BTreeMap<_, _>>(),
        egress: None,
        egress_source: "",
        lan: declared.lan.clone(),
    }
}

/// Same port and the same address (any wildcard matches any wildcard).
fn same_bind(a: IpAddr, b: IpAddr) -> bool {
    a == b || (a.is_unspecified() && b.is_unspecified())
}

/// Sockets that differ from what the file declares.
fn drift(live: &Subject, declared: Option<&[Endpoint]>) -> Vec<Raw> {
    let Some(declared) = declared else {
        return Vec::new(); // CIS 5.9 already asks for the declaration
    };
    let mut out = Vec::new();
    for e in &live.exposures {
        if declared
            .iter()
            .any(|d| d.addr.port() == e.port && same_bind(d.addr.ip(), e.ip))
        {
            continue;
        }
        let message = match declared.iter().find(|d| d.addr.port() == e.port) {
            Some(d) => format!("listens on {} but declares {}", e.describe(), d.addr),
            None => format!(
                "listens on {}, which `x-stackctl.listen` does not declare",
                e.describe()
            ),
        };
        out.push((
            Finding::new(
                &catalog::LISTEN_DRIFT,
                Severity::Medium,
                &live.service,
                message,
                "make the service bind what `x-stackctl.listen` says, or correct the declaration",
            ),
            e.key.clone(),
        ));
    }
    for (i, d) in declared.iter().enumerate() {
        if live
            .exposures
            .iter()
            .any(|e| e.port == d.addr.port() && same_bind(d.addr.ip(), e.ip))
        {
            continue;
        }
        if live.exposures.iter().any(|e| e.port == d.addr.port()) {
            continue; // reported above as a different address
        }
        out.push((
            Finding::new(
                &catalog::LISTEN_DRIFT,
                Severity::Low,
                &live.service,
                format!("declares {d} but nothing of the service listens there"),
                "check the service's bind address and port, or correct the declaration",
            ),
            Subject::key("x-stackctl").key("listen").index(i),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listener(addr: &str, pid: u32) -> Listener {
        Listener {
            addr: addr.parse().unwrap(),
            process: Some((pid, "x".to_owned())),
        }
    }

    #[test]
    fn a_dual_stack_wildcard_is_one_socket_and_other_processes_are_not_ours() {
        let sockets = [
            listener("0.0.0.0:3000", 7),
            listener("[::]:3000", 7),
            listener("127.0.0.1:3306", 8),
        ];
        let owned = owned_sockets(&sockets, &BTreeSet::from([7]), None);
        assert_eq!(owned.len(), 1, "{owned:?}");
        assert_eq!(owned[0].addr, "0.0.0.0:3000".parse().unwrap());
    }
}
