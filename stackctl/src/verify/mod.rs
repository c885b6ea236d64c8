//! `stackctl verify`: checks, on a running stack, the three things host
//! networking changes, and prints them as a matrix a user can read.
//!
//! - Reachability: every service answers over `localhost` from the host
//!   (a real protocol exchange, not just an accepted connection), and each
//!   service reaches its upstream over `localhost`, as the service's own
//!   process reports it (`upstream`).
//! - Isolation: a LAN client in a namespace of its own ([`lan`]) reaches
//!   what binds every address and not what binds loopback; a service that
//!   serves TLS to the LAN does so with its pinned certificate, refuses
//!   plain HTTP there and keeps its loopback-only operations off the LAN
//!   (`planes`); the firewall
//!   refuses each service's uid what its egress policy does not allow
//!   ([`uid`]), while the same connection as root goes through.
//! - Hardening: what the engine and the kernel report for each container
//!   ([`hardening`]).
//!
//! [`swarm`] judges a stack deployed to a swarm the same way, from its
//! task containers on this node.

pub mod hardening;
mod isolation;
pub mod lan;
mod planes;
pub mod probe;
pub mod swarm;
pub mod uid;
mod upstream;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bollard::Docker;
use serde::Serialize;

use crate::compose::Project;
use crate::compose::extension::Endpoint;
use crate::stack::{self, Existing};

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
    /// Does not hold, as a loss accepted in `x-stackctl.accept` says it
    /// will not (a swarm deployment's no-new-privileges): reported, never
    /// counted as a pass.
    Accepted,
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
    // On a blocking thread, told to stop if this future is dropped (Ctrl-C).
    let inputs = isolation::Inputs::of(project, &|service| {
        unavailable(project, service, &containers)
    });
    let cancel = CancelOnDrop(Arc::new(AtomicBool::new(false)));
    let cancelled = cancel.0.clone();
    checks
        .extend(tokio::task::spawn_blocking(move || isolation::check(&inputs, &cancelled)).await?);
    hardening_checks(docker, project, &containers, &mut checks).await;
    Ok(Report {
        project: project.name.clone(),
        checks,
    })
}

/// Sets its flag when dropped: the blocking isolation checks stop early
/// when `verify` is abandoned, and remove their namespace on the way out.
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// The services (by name) with their `listen` endpoints.
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
        let (outcome, detail) = match unavailable(project, service, containers) {
            Some(why) => (Outcome::Fail, why),
            None => match speak(project, service, endpoint).await {
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
        let unavailable = |name: &str| unavailable(project, name, containers);
        if let Some(check) = upstream::check(project, service, &unavailable).await {
            checks.push(check);
        }
    }
}

/// Why `service` cannot be checked at the addresses `compose.yaml` gives
/// it: no running container of this project, or one that `up` started
/// listening elsewhere (other port variables than this run's), whose
/// ports may now belong to another stack.
fn unavailable(project: &Project, service: &str, containers: &[Existing]) -> Option<String> {
    if let Some(why) = not_running(service, containers) {
        return Some(why);
    }
    let container = containers.iter().find(|c| c.service == service)?;
    let declared: Vec<String> = project
        .extensions
        .get(service)
        .map(|e| e.listen.iter().map(stack::up::describe_endpoint).collect())
        .unwrap_or_default();
    (!container.reach.is_empty() && container.reach != declared).then(|| {
        format!(
            "container {} was started listening at {}, but compose.yaml with this environment says {}: \
             run verify with the port variables `up` had",
            container.name,
            container.reach.join(", "),
            declared.join(", ")
        )
    })
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
async fn speak(project: &Project, service: &str, endpoint: &Endpoint) -> anyhow::Result<String> {
    let addr = local_addr(endpoint);
    match endpoint.scheme.as_str() {
        "https" => {
            let pin = planes::pin_of(project, service).map_err(anyhow::Error::msg)?;
            let answer = tokio::task::spawn_blocking(move || {
                let req = servicekit::probe::Request {
                    pinned_tls: Some(&pin),
                    ..servicekit::probe::Request::get("/healthz")
                };
                servicekit::probe::request(&req, addr, probe::PROBE_TIMEOUT)
            })
            .await?
            .map_err(anyhow::Error::msg)?;
            anyhow::ensure!(
                answer.status == 200,
                "GET /healthz answered {}",
                answer.status
            );
            Ok("GET /healthz over TLS, certificate pinned: 200".into())
        }
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
}
