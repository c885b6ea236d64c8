//! `stackctl verify`: checks, on a running stack, the three things host
//! networking changes, and prints them as a matrix a user can read.
//!
//! - Reachability: every service answers over `localhost` from the host
//!   (a real protocol exchange, not just an accepted connection), and each
//!   service reaches its upstream over `localhost`, as the service's own
//!   process reports it ([`upstream`]).
//! - Isolation: a LAN client in a namespace of its own ([`lan`]) reaches
//!   what binds every address and not what binds loopback; the firewall
//!   refuses each service's uid what its egress policy does not allow
//!   ([`uid`]), while the same connection as root goes through.
//! - Hardening: what the engine and the kernel report for each container
//!   ([`hardening`]).

pub mod hardening;
pub mod lan;
pub mod probe;
pub mod uid;
mod upstream;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::time::Duration;

use bollard::Docker;
use serde::Serialize;

use crate::compose::Project;
use crate::compose::extension::{EgressHost, EgressRule, Endpoint};
use crate::stack::{self, Existing};
use lan::LanClient;
use uid::Attempt;

/// How long a connection attempt of the isolation checks may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// What a claim is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Group {
    Reachability,
    Isolation,
    Hardening,
}

/// Whether a claim held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Pass,
    Fail,
    /// Could not be checked here (the reason is in the detail).
    Skip,
}

/// One claim about the running stack and what was found.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub group: Group,
    pub service: String,
    pub claim: String,
    pub outcome: Outcome,
    pub detail: String,
}

/// Every claim checked on one project.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub project: String,
    pub checks: Vec<Check>,
}

impl Report {
    /// True when no claim failed (skipped claims do not fail the report).
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|c| c.outcome != Outcome::Fail)
    }

    /// The check of `service` whose claim contains `text`, if any.
    pub fn find(&self, service: &str, text: &str) -> Option<&Check> {
        self.checks
            .iter()
            .find(|c| c.service == service && c.claim.contains(text))
    }

    pub fn count(&self, outcome: Outcome) -> usize {
        self.checks.iter().filter(|c| c.outcome == outcome).count()
    }
}

/// Checks every claim on the running copy of `project`.
pub async fn verify(docker: &Docker, project: &Project) -> anyhow::Result<Report> {
    let containers = stack::containers(docker, &project.name).await?;
    let mut checks = Vec::new();
    reachability(project, &containers, &mut checks).await;
    let lan = match lan::available() {
        Ok(()) => LanClient::create().map_err(|e| format!("{e:#}")),
        Err(why) => Err(why),
    };
    lan_isolation(project, lan.as_ref(), &mut checks);
    firewall_isolation(project, lan.as_ref(), &mut checks);
    drop(lan);
    hardening_checks(docker, project, &containers, &mut checks).await;
    Ok(Report {
        project: project.name.clone(),
        checks,
    })
}

/// The services in file order with their `listen` endpoints.
fn endpoints(project: &Project) -> Vec<(&str, &Endpoint)> {
    project
        .model
        .services
        .keys()
        .flat_map(|name| {
            project
                .extensions
                .get(name)
                .into_iter()
                .flat_map(|e| e.listen.iter())
                .map(move |endpoint| (name.as_str(), endpoint))
        })
        .collect()
}

/// Where a client on this host connects to reach `endpoint`: loopback for
/// a service bound to every address.
pub fn local_addr(endpoint: &Endpoint) -> SocketAddr {
    let ip = match endpoint.addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, endpoint.addr.port())
}

async fn reachability(project: &Project, containers: &[Existing], checks: &mut Vec<Check>) {
    for (service, endpoint) in endpoints(project) {
        let claim = format!("host -> {service} at {}", endpoint.reach());
        let (outcome, detail) = match not_running(service, containers) {
            Some(why) => (Outcome::Fail, why),
            None => match speak(endpoint).await {
                Ok(answer) => (Outcome::Pass, answer),
                Err(err) => (Outcome::Fail, format!("{err:#}")),
            },
        };
        checks.push(Check {
            group: Group::Reachability,
            service: service.to_owned(),
            claim,
            outcome,
            detail,
        });
    }
    for service in project.model.services.keys() {
        if let Some(check) = upstream::check(project, service).await {
            checks.push(check);
        }
    }
}

/// Why `service` cannot answer, when its container is not running.
fn not_running(service: &str, containers: &[Existing]) -> Option<String> {
    match containers.iter().find(|c| c.service == service) {
        None => Some("no container (is the stack up? run `stackctl up`)".into()),
        Some(c) if !c.running => Some(format!("container {} is {}", c.name, c.state)),
        Some(_) => None,
    }
}

/// A real exchange in the endpoint's protocol; what the service said.
async fn speak(endpoint: &Endpoint) -> anyhow::Result<String> {
    let addr = local_addr(endpoint);
    match endpoint.scheme.as_str() {
        "http" => {
            let answer = probe::http_get(addr, "/healthz").await?;
            anyhow::ensure!(
                answer.status == 200,
                "GET /healthz answered {}",
                answer.status
            );
            Ok("GET /healthz: 200".into())
        }
        "telnet" => Ok(format!("banner `{}`", probe::telnet_banner(addr).await?)),
        "mysql" => Ok(format!(
            "server greeting: {}",
            probe::mysql_greeting(addr).await?
        )),
        _ => {
            tokio::time::timeout(probe::PROBE_TIMEOUT, tokio::net::TcpStream::connect(addr))
                .await
                .map_err(|_| anyhow::anyhow!("{addr}: no answer"))??;
            Ok("TCP connection accepted".into())
        }
    }
}

/// The LAN client reaches what binds every address, and nothing else.
fn lan_isolation(project: &Project, lan: Result<&LanClient, &String>, checks: &mut Vec<Check>) {
    for (service, endpoint) in endpoints(project) {
        let for_lan = endpoint.addr.ip().is_unspecified();
        let port = endpoint.addr.port();
        let (claim, outcome, detail) = match lan {
            Err(why) => (format!("LAN client -> :{port}"), Outcome::Skip, why.clone()),
            Ok(lan) => {
                let target = format!("{}:{port}", lan.host_ip);
                let result = lan.connect_to_host(port, CONNECT_TIMEOUT);
                let reached = result.is_ok();
                let claim = if for_lan {
                    format!("LAN client -> {target} reachable")
                } else {
                    format!("LAN client -> {target} not reachable")
                };
                let seen = match result {
                    Ok(()) => "connected".to_owned(),
                    Err(err) => err.to_string(),
                };
                let bound = format!("binds {}", endpoint.addr.ip());
                (
                    claim,
                    pass_if(reached == for_lan),
                    format!("{bound}; from {}: {seen}", lan.client_ip),
                )
            }
        };
        checks.push(Check {
            group: Group::Isolation,
            service: service.to_owned(),
            claim,
            outcome,
            detail,
        });
    }
}

/// Each policed uid is refused what its policy does not allow (the other
/// services' ports, and a host on the LAN) and allowed what it does; each
/// refusal is checked against root making the same connection.
fn firewall_isolation(
    project: &Project,
    lan: Result<&LanClient, &String>,
    checks: &mut Vec<Check>,
) {
    let listener = lan.ok().map(|l| l.listen());
    let lan_target = match &listener {
        Some(Ok(l)) => l.local_addr().ok(),
        _ => None,
    };
    let all = endpoints(project);
    for (service, definition) in &project.model.services {
        let Some(egress) = project
            .extensions
            .get(service)
            .and_then(|e| e.egress.as_ref())
        else {
            checks.push(Check {
                group: Group::Isolation,
                service: service.clone(),
                claim: "egress policed by the firewall".into(),
                outcome: Outcome::Fail,
                detail: "no `x-stackctl.egress`: this service may connect anywhere".into(),
            });
            continue;
        };
        let Some((uid, gid)) = numeric_user(definition.user.as_deref()) else {
            continue;
        };
        let mut targets: Vec<(String, SocketAddr)> = all
            .iter()
            .filter(|(other, _)| *other != service)
            .map(|(other, e)| (format!("{other} {}", local_addr(e)), local_addr(e)))
            .collect();
        if let Some(addr) = lan_target {
            targets.push((format!("a LAN host {addr}"), addr));
        }
        for (name, addr) in targets {
            let allowed = egress.iter().any(|rule| allows(rule, addr));
            let verb = if allowed { "may" } else { "may not" };
            let claim = format!("uid {uid} {verb} connect to {name}");
            let (outcome, detail) = if !nix::unistd::geteuid().is_root() {
                (Outcome::Skip, "connecting as another uid needs root".into())
            } else {
                let control = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT).is_ok();
                let attempt = uid::connect_as(uid, gid, addr, CONNECT_TIMEOUT);
                match (allowed, control, &attempt) {
                    (_, false, _) => (
                        Outcome::Skip,
                        "nothing accepts connections there, even from root".into(),
                    ),
                    (true, true, Attempt::Connected) => (Outcome::Pass, "connected".into()),
                    (false, true, Attempt::Refused) => (
                        Outcome::Pass,
                        "refused with a reset; root's connection went through".into(),
                    ),
                    (_, true, other) => (
                        Outcome::Fail,
                        format!("{other:?} (root's connection went through)"),
                    ),
                }
            };
            checks.push(Check {
                group: Group::Isolation,
                service: service.clone(),
                claim,
                outcome,
                detail,
            });
        }
    }
    if let Some(Err(err)) = listener {
        checks.push(Check {
            group: Group::Isolation,
            service: "-".into(),
            claim: "a LAN host to connect out to".into(),
            outcome: Outcome::Skip,
            detail: format!("{err:#}"),
        });
    }
}

/// Whether egress `rule` lets a connection to `addr` through.
fn allows(rule: &EgressRule, addr: SocketAddr) -> bool {
    if rule.port != addr.port() {
        return false;
    }
    match rule.host {
        EgressHost::Localhost => addr.ip().is_loopback(),
        EgressHost::Net { addr: net, prefix } => match (net, addr.ip()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        },
    }
}

/// `UID:GID` (or `UID`) as numbers.
fn numeric_user(user: Option<&str>) -> Option<(u32, u32)> {
    let user = user?;
    let (uid, gid) = user.split_once(':').unwrap_or((user, user));
    Some((uid.parse().ok()?, gid.parse().ok()?))
}

async fn hardening_checks(
    docker: &Docker,
    project: &Project,
    containers: &[Existing],
    checks: &mut Vec<Check>,
) {
    for service in project.model.services.keys() {
        let Some(container) = containers
            .iter()
            .find(|c| &c.service == service && c.running)
        else {
            checks.push(Check {
                group: Group::Hardening,
                service: service.clone(),
                claim: "hardened as declared".into(),
                outcome: Outcome::Fail,
                detail: not_running(service, containers).unwrap_or_default(),
            });
            continue;
        };
        let inspected = match docker.inspect_container(&container.id, None).await {
            Ok(inspected) => inspected,
            Err(err) => {
                checks.push(Check {
                    group: Group::Hardening,
                    service: service.clone(),
                    claim: "hardened as declared".into(),
                    outcome: Outcome::Fail,
                    detail: format!("cannot inspect {}: {err}", container.name),
                });
                continue;
            }
        };
        let properties = hardening::properties(&inspected);
        for (view, kernel) in [("engine", false), ("kernel", true)] {
            let mine: Vec<_> = properties
                .iter()
                .filter(|p| p.name.starts_with("kernel:") == kernel)
                .collect();
            if mine.is_empty() {
                checks.push(Check {
                    group: Group::Hardening,
                    service: service.clone(),
                    claim: format!("{view}: hardening applied"),
                    outcome: Outcome::Skip,
                    detail: "the container's process is not visible here (needs root)".into(),
                });
                continue;
            }
            let failing: Vec<String> = mine
                .iter()
                .filter(|p| !p.holds)
                .map(|p| format!("{}: {}", p.name, p.seen))
                .collect();
            let names: Vec<&str> = mine
                .iter()
                .map(|p| p.name.trim_start_matches("kernel: "))
                .collect();
            checks.push(Check {
                group: Group::Hardening,
                service: service.clone(),
                claim: format!("{view}: {}", names.join(", ")),
                outcome: pass_if(failing.is_empty()),
                detail: if failing.is_empty() {
                    mine.iter()
                        .map(|p| p.seen.as_str())
                        .collect::<Vec<_>>()
                        .join("; ")
                } else {
                    failing.join("; ")
                },
            });
        }
    }
}

fn pass_if(holds: bool) -> Outcome {
    if holds { Outcome::Pass } else { Outcome::Fail }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn egress_rules_allow_their_port_on_their_hosts_only() {
        let rule: EgressRule = "localhost:3000".parse().unwrap();
        assert!(allows(&rule, "127.0.0.1:3000".parse().unwrap()));
        assert!(allows(&rule, "[::1]:3000".parse().unwrap()));
        assert!(!allows(&rule, "127.0.0.1:3306".parse().unwrap()));
        assert!(!allows(&rule, "10.213.0.2:3000".parse().unwrap()));
        let net: EgressRule = "10.213.0.0/16:443".parse().unwrap();
        assert!(allows(&net, "10.213.7.2:443".parse().unwrap()));
        assert!(!allows(&net, "10.214.0.2:443".parse().unwrap()));
    }

    #[test]
    fn a_report_fails_only_on_a_failed_claim() {
        let check = |outcome| Check {
            group: Group::Isolation,
            service: "db".into(),
            claim: "x".into(),
            outcome,
            detail: String::new(),
        };
        let mut report = Report {
            project: "p".into(),
            checks: vec![check(Outcome::Pass), check(Outcome::Skip)],
        };
        assert!(report.passed());
        report.checks.push(check(Outcome::Fail));
        assert!(!report.passed());
    }

    #[test]
    fn numeric_users_are_read_with_or_without_a_group() {
        assert_eq!(numeric_user(Some("10010:10011")), Some((10010, 10011)));
        assert_eq!(numeric_user(Some("10010")), Some((10010, 10010)));
        assert_eq!(numeric_user(Some("mysql")), None);
        assert_eq!(numeric_user(None), None);
    }
}
