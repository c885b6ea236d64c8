//! The live audit: each running service's facts as the engine reports them
//! (`docker inspect` of the container and its image), its sockets as the
//! kernel reports them (`/proc/net/tcp*` of the host's network namespace,
//! owned by the container's processes), and its egress policy as the
//! firewall has it installed. The same checks then run as on the file,
//! plus `listen-drift`: sockets that differ from `x-stackctl.listen`. What
//! cannot be read without root (the firewall, the owners of sockets) is said
//! in a note, never taken for absent.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};

use bollard::Docker;
use bollard::models::{ContainerInspectResponse, RestartPolicyNameEnum};

use super::Raw;
use super::catalog;
use super::controls;
use super::finding::{Finding, Mode, Report, Severity};
use super::subject::{self, Exposure, Health, MountFact, Subject, normalize_cap};
use crate::compose::Project;
use crate::compose::extension::Endpoint;
use crate::compose::model::Restart;
use crate::firewall;
use crate::listeners::{self, Listener};

/// Audits the running containers of `project`.
pub async fn audit_live(docker: &Docker, project: &Project) -> anyhow::Result<Report> {
    let (subjects, extra, notes) = collect(docker, project).await?;
    let mut report = super::report(project, Mode::Live, &subjects, extra)?;
    report.notes.extend(notes);
    Ok(report)
}

/// The running services' facts, the live-only findings and the notes on
/// what could not be read: what a live audit judges.
pub(crate) async fn collect(
    docker: &Docker,
    project: &Project,
) -> anyhow::Result<(Vec<Subject>, Vec<Raw>, Vec<String>)> {
    let containers = crate::stack::containers(docker, &project.name).await?;
    let sockets = listeners::listening();
    let firewall = Firewall::read(&project.name);
    let mut notes = Vec::new();
    if let Err(why) = &firewall.v4 {
        notes.push(format!(
            "the firewall could not be read ({why}); each service's egress policy is reported as declared in `x-stackctl.egress`, not as installed: run `stackctl audit --live` as root to verify it"
        ));
    }
    let mut subjects = Vec::new();
    let mut extra: Vec<Raw> = Vec::new();
    let mut engine_cgroupns = Vec::new();
    for (name, service) in &project.model.services {
        let declared = subject::from_compose(project, name, service);
        let Some(container) = containers.iter().find(|c| &c.service == name && c.running) else {
            extra.push((
                Finding::new(
                    &catalog::NOT_RUNNING,
                    catalog::NOT_RUNNING.severity,
                    name,
                    format!(
                        "no running container of project `{}`: none of its live checks ran, so nothing is known about it",
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
        let mut live = from_inspect(&declared, inspected, image_health);
        if live.cgroupns.as_deref() == Some("host") && declared.cgroupns.is_none() {
            // Not the file's doing, so not its finding: the daemon's default.
            live.cgroupns = None;
            engine_cgroupns.push(name.clone());
        }
        if live.on_host_network() {
            let pids = container_pids(docker, &container.id).await;
            let visible = owners_visible(&pids);
            let owned = owned_sockets(&sockets, &pids, visible, live.declared_listen.as_deref());
            if !visible {
                notes.push(format!(
                    "`{name}`: which sockets its processes hold could not be determined (their /proc/PID/fd is not readable: run as root); the sockets on its declared ports with no visible owner were taken as its own, so undeclared sockets are not reported"
                ));
            }
            live.exposures = host_exposures(&declared, &owned);
            extra.extend(drift(&live, declared.declared_listen.as_deref()));
        }
        match firewall.policed(&project.name, name) {
            Ok(true) => {
                live.egress = declared.egress.clone();
                live.egress_source = "enforced by the firewall chain `up` installed";
            }
            Ok(false) => {
                live.egress = None;
                live.egress_source = "no firewall rules are installed for it";
            }
            Err(_) => {
                live.egress = declared.egress.clone();
                live.egress_source =
                    "declared in x-stackctl.egress; not verified: the firewall could not be read";
            }
        }
        subjects.push(live);
    }
    if !engine_cgroupns.is_empty() {
        notes.push(format!(
            "{} share the host's cgroup namespace although the file does not ask for it: that is the engine's default on this host (cgroup v1, or `default-cgroupns-mode: host` in daemon.json); CIS 5.25 is better served by `\"default-cgroupns-mode\": \"private\"`",
            engine_cgroupns.join(", ")
        ));
    }
    if subjects.is_empty() {
        notes.push(format!(
            "no container of project `{}` is running: nothing was audited live",
            project.name
        ));
    }
    Ok((subjects, extra, notes))
}

/// The project's installed firewall rules, or why they cannot be read.
struct Firewall {
    v4: Result<Vec<String>, String>,
    v6: Result<Vec<String>, String>,
}

impl Firewall {
    fn read(project: &str) -> Firewall {
        Firewall {
            v4: firewall::try_installed(project, firewall::Family::V4),
            v6: firewall::try_installed(project, firewall::Family::V6),
        }
    }

    /// Whether `service`'s egress rules are installed: in IPv4, and in IPv6
    /// too where the project has IPv6 rules at all (`up` skips IPv6 only
    /// where the host has it turned off). `Err` when iptables cannot be read.
    fn policed(&self, project: &str, service: &str) -> Result<bool, String> {
        let comment = format!("stackctl:{project}:{service}");
        let v4 = self.v4.as_ref().map_err(Clone::clone)?;
        let in_v4 = v4.iter().any(|rule| has_comment(rule, &comment));
        let in_v6 = match &self.v6 {
            Ok(v6) if !v6.is_empty() => v6.iter().any(|rule| has_comment(rule, &comment)),
            _ => true,
        };
        Ok(in_v4 && in_v6)
    }
}

/// Whether a rule as `iptables -S` prints it carries exactly `comment`
/// (so `api` is not matched by `api-admin`'s rules).
fn has_comment(rule: &str, comment: &str) -> bool {
    let mut words = rule.split_whitespace();
    while let Some(word) = words.next() {
        if word == "--comment" && words.next().map(|c| c.trim_matches('"')) == Some(comment) {
            return true;
        }
    }
    false
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

/// Whether `/proc` shows which sockets the container's processes hold: the
/// `/proc/PID/fd` of each of them is readable (as root, or as their own
/// uid). A process that has exited since it was listed does not count.
fn owners_visible(pids: &BTreeSet<u32>) -> bool {
    let mut readable = 0;
    for pid in pids {
        match std::fs::read_dir(format!("/proc/{pid}/fd")) {
            Ok(_) => readable += 1,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(_) => return false,
        }
    }
    readable > 0
}

/// The sockets the container's processes hold. When their owners are not
/// `visible`, the sockets on the declared ports that no visible process
/// holds stand in (a socket some other, visible process holds is not the
/// container's).
fn owned_sockets(
    sockets: &[Listener],
    pids: &BTreeSet<u32>,
    visible: bool,
    declared: Option<&[Endpoint]>,
) -> Vec<Listener> {
    let mut owned: Vec<Listener> = sockets
        .iter()
        .filter(|l| match &l.process {
            Some((pid, _)) => pids.contains(pid),
            None if visible => false,
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

/// The sockets of a host-network container as exposures, keyed to the
/// declaration of their port where there is one.
fn host_exposures(declared: &Subject, owned: &[Listener]) -> Vec<Exposure> {
    let listen = declared.declared_listen.as_deref().unwrap_or_default();
    owned
        .iter()
        .map(|l| {
            let port = l.addr.port();
            let at = listen.iter().position(|e| e.addr.port() == port);
            Exposure {
                ip: l.addr.ip(),
                host_port: Some(port),
                port,
                scheme: at.map(|i| listen[i].scheme.clone()),
                published: false,
                inferred: None,
                key: match at {
                    Some(i) => Subject::key("x-stackctl").key("listen").index(i),
                    None => Subject::key("x-stackctl").key("listen"),
                },
            }
        })
        .collect()
}

/// A container's facts from its inspect data alone (no Compose file): what
/// `stackctl verify` judges the hardening on, with the audit's controls.
pub(crate) fn facts_of(inspected: &ContainerInspectResponse) -> Subject {
    let name = inspected
        .name
        .as_deref()
        .unwrap_or_default()
        .trim_start_matches('/');
    from_inspect(&Subject::blank(name), inspected.clone(), None)
}

/// The hardening of a running container as the audit judges it (its
/// controls, on the engine's facts): `(name, Ok(what is in place) or
/// Err(what is missing))`, for `stackctl verify`.
pub(crate) fn engine_hardening(
    inspected: &ContainerInspectResponse,
) -> Vec<(&'static str, Result<String, String>)> {
    let facts = facts_of(inspected);
    let control = |name: &str| match controls::find(name) {
        Some(control) => control.judge(&facts),
        None => Err(format!("no control `{name}`")),
    };
    vec![
        ("capabilities dropped", control("cap-drop-all")),
        ("no-new-privileges", control("no-new-privileges")),
        ("read-only root", control("read-only-rootfs")),
        ("non-root user", control("non-root-user")),
        ("memory limit", controls::memory_limit(&facts)),
        ("CPU limit", controls::cpu_limit(&facts)),
        ("PIDs limit", controls::pids_limit(&facts)),
    ]
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.is_empty())
}

/// The running container's facts, keeping from `declared` only what is a
/// declaration (the LAN reason, the declared listen addresses, the keys).
fn from_inspect(
    declared: &Subject,
    inspected: ContainerInspectResponse,
    image_health: Option<bool>,
) -> Subject {
    let host = inspected.host_config.unwrap_or_default();
    let config = inspected.config.unwrap_or_default();
    let network_mode = non_empty(host.network_mode.clone());
    let on_host = network_mode.as_deref() == Some("host");
    let mut exposures = Vec::new();
    // A host-network container's sockets are the kernel's to tell (`host_exposures`).
    if !on_host {
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
                    inferred: None,
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
        cgroupns: host
            .cgroupns_mode
            .map(|m| m.to_string())
            .filter(|m| !m.is_empty()),
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
        cpu_quota: host.cpu_quota,
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
        setuid_files: None,
        carries: declared.carries.clone(),
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
        let owned = owned_sockets(&sockets, &BTreeSet::from([7]), true, None);
        assert_eq!(owned.len(), 1, "{owned:?}");
        assert_eq!(owned[0].addr, "0.0.0.0:3000".parse().unwrap());
    }

    #[test]
    fn without_root_a_users_own_listener_does_not_hide_the_containers_sockets() {
        // Not root: the user's own listener shows its owner, the container's does not.
        let sockets = [
            listener("127.0.0.1:8000", 4242),
            Listener {
                addr: "127.0.0.1:3306".parse().unwrap(),
                process: None,
            },
            Listener {
                addr: "127.0.0.1:9999".parse().unwrap(),
                process: None,
            },
        ];
        let declared: Vec<Endpoint> = vec!["mysql://127.0.0.1:3306".parse().unwrap()];
        let owned = owned_sockets(&sockets, &BTreeSet::from([77]), false, Some(&declared));
        let addrs: Vec<String> = owned.iter().map(|l| l.addr.to_string()).collect();
        assert_eq!(addrs, ["127.0.0.1:3306"]);
    }

    #[test]
    fn a_socket_another_visible_process_holds_is_not_credited_to_the_service() {
        let sockets = [listener("127.0.0.1:3306", 4242)];
        let declared: Vec<Endpoint> = vec!["mysql://127.0.0.1:3306".parse().unwrap()];
        assert!(owned_sockets(&sockets, &BTreeSet::from([77]), false, Some(&declared)).is_empty());
    }

    #[test]
    fn owners_are_visible_for_readable_processes_only() {
        assert!(owners_visible(&BTreeSet::from([std::process::id()])));
        assert!(!owners_visible(&BTreeSet::new()), "no process seen");
        assert!(
            !owners_visible(&BTreeSet::from([u32::MAX])),
            "no such process"
        );
    }

    #[test]
    fn a_services_rules_are_matched_by_their_exact_comment() {
        let rule = r#"-A STACKCTL-0123456789 -m owner --uid-owner 10011 -m comment --comment "stackctl:shop:api-admin" -j ACCEPT"#;
        assert!(!has_comment(rule, "stackctl:shop:api"));
        assert!(has_comment(rule, "stackctl:shop:api-admin"));
        let bare = "-A STACKCTL-DENY -m owner --uid-owner 10010 -m comment --comment stackctl:shop:api -j REJECT";
        assert!(has_comment(bare, "stackctl:shop:api"));
    }

    #[test]
    fn an_unreadable_firewall_is_not_an_absent_policy() {
        let firewall = Firewall {
            v4: Err("iptables: Permission denied (you must be root)".to_owned()),
            v6: Err("ip6tables: Permission denied (you must be root)".to_owned()),
        };
        assert!(firewall.policed("shop", "api").is_err());
        let installed = Firewall {
            v4: Ok(vec![
                r#"-A X -m comment --comment "stackctl:shop:api" -j ACCEPT"#.to_owned(),
            ]),
            v6: Ok(Vec::new()),
        };
        assert_eq!(installed.policed("shop", "api"), Ok(true));
        assert_eq!(installed.policed("shop", "db"), Ok(false));
        let v4_only = Firewall {
            v4: installed.v4.clone(),
            v6: Ok(vec![
                r#"-A X -m comment --comment "stackctl:shop:db" -j ACCEPT"#.to_owned(),
            ]),
        };
        assert_eq!(
            v4_only.policed("shop", "api"),
            Ok(false),
            "unpoliced over IPv6"
        );
    }
}
