//! The isolation claims: what a LAN client reaches, and what the firewall
//! lets each service's uid connect to. They are blocking work (a namespace,
//! child processes, connects with timeouts), so they run on a blocking
//! thread with owned inputs, and stop between probes once `cancelled` is
//! set; the LAN client's namespace is removed however they end.

use std::net::{IpAddr, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::compose::Project;
use crate::compose::extension::{EgressHost, EgressRule, Endpoint};
use crate::firewall::{self, Family};

use super::lan::{self, LanClient};
use super::uid::{self, Attempt};
use super::{Check, Group, Outcome, endpoints, local_addr, pass_if};

/// How long a connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// What the isolation claims need to know of one service.
#[derive(Debug, Clone)]
pub(super) struct Service {
    name: String,
    user: Option<String>,
    /// `x-stackctl.egress`; `None` when the service declares no policy.
    egress: Option<Vec<EgressRule>>,
    /// Whether this project's firewall holds rules for the service
    /// (`None`: cannot tell without root).
    firewalled: Option<bool>,
}

/// The inputs of [`check`], taken from the project.
#[derive(Debug, Clone)]
pub(super) struct Inputs {
    /// Each service's endpoints, with why its container cannot be checked
    /// there, if it cannot.
    endpoints: Vec<(String, Endpoint, Option<String>)>,
    services: Vec<Service>,
    /// The services that serve TLS to the LAN, for the plane claims.
    tls: Vec<super::planes::TlsService>,
}

impl Inputs {
    pub(super) fn of(project: &Project, unavailable: &dyn Fn(&str) -> Option<String>) -> Inputs {
        let is_root = nix::unistd::geteuid().is_root();
        let rules = if is_root {
            firewall::installed(&project.name, Family::V4)
        } else {
            Vec::new()
        };
        let services = project
            .model
            .services
            .iter()
            .map(|(name, service)| {
                let comment = format!("stackctl:{}:{name}", project.name);
                Service {
                    name: name.clone(),
                    user: service.user.clone(),
                    egress: project.extensions.get(name).and_then(|e| e.egress.clone()),
                    firewalled: is_root.then(|| {
                        rules.iter().any(|rule| {
                            rule.split_whitespace()
                                .any(|word| word.trim_matches('"') == comment)
                        })
                    }),
                }
            })
            .collect();
        let endpoints: Vec<_> = endpoints(project)
            .into_iter()
            .map(|(service, endpoint)| (service.to_owned(), endpoint.clone(), unavailable(service)))
            .collect();
        let tls = endpoints
            .iter()
            .filter(|(_, endpoint, _)| super::planes::serves_the_lan_over_tls(endpoint))
            .map(
                |(service, endpoint, unavailable)| super::planes::TlsService {
                    service: service.clone(),
                    endpoint: endpoint.clone(),
                    pin: super::planes::pin_of(project, service),
                    unavailable: unavailable.clone(),
                },
            )
            .collect();
        Inputs {
            endpoints,
            services,
            tls,
        }
    }
}

/// Every isolation claim.
pub(super) fn check(inputs: &Inputs, cancelled: &AtomicBool) -> Vec<Check> {
    let lan = match lan::available() {
        Ok(()) => LanClient::create().map_err(|e| format!("{e:#}")),
        Err(why) => Err(why),
    };
    let mut checks = Vec::new();
    lan_claims(inputs, lan.as_ref(), cancelled, &mut checks);
    checks.extend(super::planes::check(&inputs.tls, lan.as_ref(), cancelled));
    firewall_claims(inputs, lan.as_ref(), cancelled, &mut checks);
    checks
}

/// The LAN client reaches what binds every address, and nothing else.
fn lan_claims(
    inputs: &Inputs,
    lan: Result<&LanClient, &String>,
    cancelled: &AtomicBool,
    checks: &mut Vec<Check>,
) {
    for (service, endpoint, unavailable) in &inputs.endpoints {
        if cancelled.load(Ordering::Relaxed) {
            return;
        }
        let for_lan = endpoint.addr.ip().is_unspecified();
        let port = endpoint.addr.port();
        let (claim, outcome, detail) = match (lan, unavailable) {
            (_, Some(why)) => (format!("LAN client -> :{port}"), Outcome::Skip, why.clone()),
            (Err(why), None) => (format!("LAN client -> :{port}"), Outcome::Skip, why.clone()),
            (Ok(lan), None) => {
                let target = format!("{}:{port}", lan.host_ip);
                let result = lan.connect_to_host(port, CONNECT_TIMEOUT);
                let claim = if for_lan {
                    format!("LAN client -> {target} reachable")
                } else {
                    format!("LAN client -> {target} not reachable")
                };
                let seen = match &result {
                    Ok(()) => "connected".to_owned(),
                    Err(err) => err.to_string(),
                };
                (
                    claim,
                    pass_if(result.is_ok() == for_lan),
                    format!(
                        "binds {}; from {}: {seen}",
                        endpoint.addr.ip(),
                        lan.client_ip
                    ),
                )
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

/// Each policed uid is refused what its policy does not allow (the other
/// services' ports, and a host on the LAN) and allowed what it does; each
/// refusal is checked against root making the same connection, and against
/// this project's own rules (another stack's rules police the same uids).
fn firewall_claims(
    inputs: &Inputs,
    lan: Result<&LanClient, &String>,
    cancelled: &AtomicBool,
    checks: &mut Vec<Check>,
) {
    let listener = lan.ok().map(|l| l.listen());
    let lan_target = match &listener {
        Some(Ok(l)) => l.local_addr().ok(),
        _ => None,
    };
    if let Some(Err(err)) = &listener {
        checks.push(isolation(
            "-",
            "a LAN host to connect out to",
            Outcome::Skip,
            format!("{err:#}"),
        ));
    }
    for service in &inputs.services {
        let name = service.name.as_str();
        let Some(egress) = &service.egress else {
            checks.push(isolation(
                name,
                "egress policed by the firewall",
                Outcome::Fail,
                "no `x-stackctl.egress`: this service may connect anywhere".into(),
            ));
            continue;
        };
        let Some((uid, gid)) = numeric_user(service.user.as_deref()) else {
            checks.push(isolation(
                name,
                "egress policed by the firewall",
                Outcome::Skip,
                format!(
                    "`user` is {:?}, not UID:GID: the firewall keys on a numeric uid",
                    service.user
                ),
            ));
            continue;
        };
        let mut targets: Vec<(String, SocketAddr)> = inputs
            .endpoints
            .iter()
            .filter(|(other, _, unavailable)| other != name && unavailable.is_none())
            .map(|(other, e, _)| (format!("{other} {}", local_addr(e)), local_addr(e)))
            .collect();
        if let Some(addr) = lan_target {
            targets.push((format!("a LAN host {addr}"), addr));
        }
        for (target, addr) in targets {
            if cancelled.load(Ordering::Relaxed) {
                return;
            }
            let allowed = egress.iter().any(|rule| allows(rule, addr));
            let verb = if allowed { "may" } else { "may not" };
            let claim = format!("uid {uid} {verb} connect to {target}");
            let (outcome, detail) = match service.firewalled {
                None => (Outcome::Skip, "connecting as another uid needs root".into()),
                Some(false) if !allowed => (
                    Outcome::Fail,
                    "this project's firewall has no rules for the service (started with --no-firewall?)".into(),
                ),
                _ => attempt(uid, gid, addr, allowed),
            };
            checks.push(isolation(name, &claim, outcome, detail));
        }
    }
}

/// Connects as `uid` and as root (the control), and judges the pair.
fn attempt(uid: u32, gid: u32, addr: SocketAddr, allowed: bool) -> (Outcome, String) {
    let control = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT).is_ok();
    if !control {
        return (
            Outcome::Skip,
            "nothing accepts connections there, even from root".into(),
        );
    }
    match (allowed, uid::connect_as(uid, gid, addr, CONNECT_TIMEOUT)) {
        (true, Attempt::Connected) => (Outcome::Pass, "connected".into()),
        (false, Attempt::Refused) => (
            Outcome::Pass,
            "refused with a reset; root's connection went through".into(),
        ),
        (_, other) => (
            Outcome::Fail,
            format!("{other:?} (root's connection went through)"),
        ),
    }
}

fn isolation(service: &str, claim: &str, outcome: Outcome, detail: String) -> Check {
    Check {
        group: Group::Isolation,
        service: service.to_owned(),
        claim: claim.to_owned(),
        outcome,
        detail,
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
    fn numeric_users_are_read_with_or_without_a_group() {
        assert_eq!(numeric_user(Some("10010:10011")), Some((10010, 10011)));
        assert_eq!(numeric_user(Some("10010")), Some((10010, 10010)));
        assert_eq!(numeric_user(Some("mysql")), None);
        assert_eq!(numeric_user(None), None);
    }

    #[test]
    fn a_service_without_its_projects_rules_fails_its_refusals_without_probing() {
        let inputs = Inputs {
            endpoints: vec![
                ("db".into(), "mysql://127.0.0.1:1".parse().unwrap(), None),
                ("api".into(), "http://0.0.0.0:2".parse().unwrap(), None),
            ],
            services: vec![Service {
                name: "api".into(),
                user: Some("10010:10010".into()),
                egress: Some(vec![]),
                firewalled: Some(false),
            }],
            tls: Vec::new(),
        };
        let mut checks = Vec::new();
        firewall_claims(
            &inputs,
            Err(&"no LAN here".to_owned()),
            &AtomicBool::new(false),
            &mut checks,
        );
        assert_eq!(checks.len(), 1, "{checks:?}");
        assert_eq!(checks[0].outcome, Outcome::Fail);
        assert!(checks[0].detail.contains("--no-firewall"), "{checks:?}");
    }

    #[test]
    fn a_port_without_this_projects_container_is_not_judged_from_the_lan() {
        let inputs = Inputs {
            endpoints: vec![(
                "db".into(),
                "mysql://127.0.0.1:1".parse().unwrap(),
                Some("no container".into()),
            )],
            services: Vec::new(),
            tls: Vec::new(),
        };
        let mut checks = Vec::new();
        lan_claims(
            &inputs,
            Err(&"x".to_owned()),
            &AtomicBool::new(false),
            &mut checks,
        );
        assert_eq!(checks[0].outcome, Outcome::Skip);
        assert_eq!(checks[0].detail, "no container");
    }

    #[test]
    fn a_cancelled_check_stops_before_probing() {
        let inputs = Inputs {
            endpoints: vec![("db".into(), "mysql://127.0.0.1:1".parse().unwrap(), None)],
            services: Vec::new(),
            tls: Vec::new(),
        };
        let mut checks = Vec::new();
        lan_claims(
            &inputs,
            Err(&"x".to_owned()),
            &AtomicBool::new(true),
            &mut checks,
        );
        assert!(checks.is_empty());
    }
}
