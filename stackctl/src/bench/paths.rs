//! The paths from a client to a server that the bench compares, and where
//! the client sits on each (a route is a path with a client placement):
//!
//! 1. `native`: a plain process on loopback (the physical limit);
//! 2. `host`: a container on the host network, over loopback;
//! 3. `bridge-proxy`: a container on the default bridge, through a port
//!    published on `127.0.0.1` (Docker's userland proxy when it is on);
//! 4. `bridge-ip`: a container on the default bridge at its address (veth);
//! 5. `published-dnat`: a port published on an address of a link the bench
//!    made, which the engine forwards with iptables DNAT, not the proxy;
//! 6. `macvlan` and 7. `ipvlan-l2`: a container with an address of its own on
//!    a parent link the bench made, reached from a namespace on that parent
//!    (a LAN host) or from another container on the network;
//! 8. `overlay`: an attachable overlay network on a single-node swarm;
//! 9. `haproxy`: HAProxy in front of a bridged container (a sidecar proxy);
//! 10. `ssh-tunnel`: OpenSSH local forwarding into the server's pod;
//! 11. `shared-netns`: a client container in the server's own network
//!     namespace (`network_mode: service:…`, the Kubernetes pod), over its
//!     loopback.
//!
//! [`servers`](super::servers) starts what each path needs; this module only
//! says what the paths and routes are. The bench's containers are labelled
//! with the bench's session ([`BENCH_LABEL`]) and removed by [`remove`].

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{Context as _, bail};
use bollard::Docker;
use bollard::query_parameters::ListContainersOptionsBuilder;
use serde::Serialize;

/// Label on everything the bench starts (value: its session name).
pub const BENCH_LABEL: &str = "dev.shopdotcom.stackctl.bench";
/// The probe's own non-root uid and gid (the services use 10001–10030).
pub const PROBE_ID: u32 = 10040;

/// The probe's image: `shopdotcom/probe`, tagged like the stack's images
/// (`SHOP_IMAGE_TAG`, else `local`), so two checkouts on one engine do not
/// retag each other's probe.
pub fn probe_image() -> String {
    let tag = std::env::var(crate::testbed::IMAGE_TAG_VARIABLE)
        .ok()
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| "local".to_owned());
    format!("shopdotcom/probe:{tag}")
}

/// One way from a client to a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Path {
    Native,
    Host,
    BridgeProxy,
    BridgeIp,
    PublishedDnat,
    Macvlan,
    IpvlanL2,
    Overlay,
    Haproxy,
    SshTunnel,
    SharedNetns,
}

impl Path {
    /// Every path, in the order the tables list them.
    pub const ALL: [Path; 11] = [
        Path::Native,
        Path::Host,
        Path::BridgeProxy,
        Path::BridgeIp,
        Path::PublishedDnat,
        Path::Macvlan,
        Path::IpvlanL2,
        Path::Overlay,
        Path::Haproxy,
        Path::SshTunnel,
        Path::SharedNetns,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Path::Native => "native",
            Path::Host => "host",
            Path::BridgeProxy => "bridge-proxy",
            Path::BridgeIp => "bridge-ip",
            Path::PublishedDnat => "published-dnat",
            Path::Macvlan => "macvlan",
            Path::IpvlanL2 => "ipvlan-l2",
            Path::Overlay => "overlay",
            Path::Haproxy => "haproxy",
            Path::SshTunnel => "ssh-tunnel",
            Path::SharedNetns => "shared-netns",
        }
    }

    /// The path named `name`, as `--paths` spells it.
    pub fn from_name(name: &str) -> Option<Path> {
        Path::ALL.into_iter().find(|p| p.name() == name)
    }

    pub fn description(self) -> &'static str {
        match self {
            Path::Native => "plain process on loopback",
            Path::Host => "container on the host network, over loopback",
            Path::BridgeProxy => "container on the default bridge, port published on 127.0.0.1",
            Path::BridgeIp => "container on the default bridge, at its bridge address (veth)",
            Path::PublishedDnat => {
                "the published port on a bench link's address: iptables DNAT, no userland proxy"
            }
            Path::Macvlan => "macvlan network (bridge mode) on a parent link the bench made",
            Path::IpvlanL2 => "ipvlan network (L2 mode) on a parent link the bench made",
            Path::Overlay => "attachable overlay network on a single-node swarm",
            Path::Haproxy => "HAProxy (TCP) in front of a bridged container",
            Path::SshTunnel => "OpenSSH local forwarding into the server's pod",
            Path::SharedNetns => "the server's own network namespace (network_mode: service:…)",
        }
    }

    /// Where a client of this path can sit: each placement, or why it does
    /// not apply to this path.
    pub fn placements(self) -> [(Client, Result<(), &'static str>); 2] {
        let outside = match self {
            Path::Native
            | Path::Host
            | Path::BridgeProxy
            | Path::BridgeIp
            | Path::PublishedDnat
            | Path::Haproxy
            | Path::SshTunnel => (Client::Host, Ok(())),
            Path::Macvlan | Path::IpvlanL2 => (Client::Lan, Ok(())),
            Path::Overlay => (
                Client::Host,
                Err(
                    "the host has no address on an overlay network; only containers attached to it reach it",
                ),
            ),
            Path::SharedNetns => (
                Client::Host,
                Err("the pod's loopback is reached only from inside the pod"),
            ),
        };
        let container = match self {
            Path::Native => Err(
                "native is the plain process reached from the host, the baseline of every ratio",
            ),
            Path::BridgeProxy | Path::PublishedDnat => Err(
                "another container reaches a published port only through an address of the host; it reaches the container directly (bridge-ip)",
            ),
            _ => Ok(()),
        };
        [outside, (Client::Container, container)]
    }
}

/// Where the client sits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Client {
    /// The bench itself, in the host's network namespace: host to service.
    Host,
    /// The bench, from a network namespace of its own on the macvlan or
    /// ipvlan parent: a LAN host to the service.
    Lan,
    /// A client container (the probe image running `probe client`): service
    /// to service, the guide's notebooks reaching the API over localhost.
    Container,
}

impl Client {
    pub fn name(self) -> &'static str {
        match self {
            Client::Host => "host",
            Client::Lan => "lan",
            Client::Container => "container",
        }
    }

    /// How the tables say it: who talks to whom.
    pub fn describe(self) -> &'static str {
        match self {
            Client::Host => "host→service",
            Client::Lan => "LAN→service",
            Client::Container => "service→service",
        }
    }
}

/// A path with a client placement: what one column of measurements is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Route {
    pub path: Path,
    pub client: Client,
}

impl Route {
    /// The baseline of every ratio: the plain process, from the host.
    pub const NATIVE: Route = Route {
        path: Path::Native,
        client: Client::Host,
    };

    pub const fn new(path: Path, client: Client) -> Route {
        Route { path, client }
    }

    /// `host`, `macvlan/lan`, `host/container`: the path alone for its
    /// first placement, with the client otherwise.
    pub fn name(self) -> String {
        match self.client {
            Client::Container => format!("{}/container", self.path.name()),
            Client::Lan => format!("{}/lan", self.path.name()),
            Client::Host => self.path.name().to_owned(),
        }
    }

    /// Every route of `paths` that applies, and those that do not with why.
    pub fn of(paths: &[Path]) -> (Vec<Route>, Vec<(Route, &'static str)>) {
        let mut routes = Vec::new();
        let mut not_applicable = Vec::new();
        for path in paths {
            for (client, applies) in path.placements() {
                match applies {
                    Ok(()) => routes.push(Route::new(*path, client)),
                    Err(why) => not_applicable.push((Route::new(*path, client), why)),
                }
            }
        }
        (routes, not_applicable)
    }
}

/// Kept here for the callers that build the probe's image themselves.
pub use super::servers::build_probe_image;

/// The bench's containers still on the engine: those labelled with `session`.
pub async fn containers(docker: &Docker, session: &str) -> anyhow::Result<Vec<String>> {
    let filters = HashMap::from([("label", vec![format!("{BENCH_LABEL}={session}")])]);
    let options = ListContainersOptionsBuilder::default()
        .all(true)
        .filters(&filters)
        .build();
    Ok(docker
        .list_containers(Some(options))
        .await
        .context("cannot list containers")?
        .into_iter()
        .filter_map(|c| c.id)
        .collect())
}

/// Fails when containers (of a bench or of a stack) or firewall rules
/// already exist under `session`: the bench removes everything under its
/// session at the end, so it must start from nothing.
pub async fn check_unused(docker: &Docker, session: &str) -> anyhow::Result<()> {
    let mut found = Vec::new();
    let bench = containers(docker, session).await?;
    if !bench.is_empty() {
        found.push(format!("{} bench containers", bench.len()));
    }
    let stack = crate::stack::containers(docker, session).await?;
    if !stack.is_empty() {
        found.push(format!("{} containers of project `{session}`", stack.len()));
    }
    let networks = super::net::networks(docker, session).await?;
    if !networks.is_empty() {
        found.push(format!("{} bench networks", networks.len()));
    }
    if let Ok(rules) = crate::firewall::try_installed(session, crate::firewall::Family::V4)
        && !rules.is_empty()
    {
        found.push(format!("{} firewall rules", rules.len()));
    }
    if !found.is_empty() {
        bail!(
            "the bench's session name `{session}` is in use ({}); the bench removes everything under its \
             session when it ends, so it will not start. Run it with another `-p`, or remove what is left \
             of an earlier bench with `stackctl -p {session} down`",
            found.join(", ")
        );
    }
    Ok(())
}

/// What [`remove`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Removed {
    pub containers: usize,
    pub networks: usize,
}

/// Removes every container of `session` (with its anonymous volumes), then
/// its networks, then its firewall rules. Bounded: each engine call has its
/// own timeout.
pub async fn remove(docker: &Docker, session: &str) -> anyhow::Result<Removed> {
    let timeout = Duration::from_secs(30);
    let ids = tokio::time::timeout(timeout, containers(docker, session))
        .await
        .context("the engine did not list containers within 30 s")??;
    let removals = ids.iter().map(|id| async move {
        let options = crate::container::remove_options();
        tokio::time::timeout(timeout, docker.remove_container(id, Some(options))).await
    });
    let results = futures_util::future::join_all(removals).await;
    let mut removed = 0;
    for result in results {
        match result {
            Ok(Ok(())) => removed += 1,
            Ok(Err(err)) if crate::engine::is_not_found(&err) => {}
            Ok(Err(err)) => bail!("cannot remove a bench container: {err}"),
            Err(_) => bail!("the engine did not remove a bench container within 30 s"),
        }
    }
    let mut networks = 0;
    let names = tokio::time::timeout(timeout, super::net::networks(docker, session))
        .await
        .context("the engine did not list networks within 30 s")??;
    for network in names {
        match tokio::time::timeout(timeout, docker.remove_network(&network)).await {
            Ok(Ok(())) => networks += 1,
            Ok(Err(err)) if crate::engine::is_not_found(&err) => {}
            Ok(Err(err)) => bail!("cannot remove the bench network {network}: {err}"),
            Err(_) => bail!("the engine did not remove the network {network} within 30 s"),
        }
    }
    if crate::firewall::check_available().is_ok() {
        crate::firewall::remove(session)?;
    }
    Ok(Removed {
        containers: removed,
        networks,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_listed_from_the_physical_limit_outwards() {
        let names: Vec<&str> = Path::ALL.iter().map(|p| p.name()).collect();
        assert_eq!(
            names,
            [
                "native",
                "host",
                "bridge-proxy",
                "bridge-ip",
                "published-dnat",
                "macvlan",
                "ipvlan-l2",
                "overlay",
                "haproxy",
                "ssh-tunnel",
                "shared-netns"
            ]
        );
        for path in Path::ALL {
            assert_eq!(Path::from_name(path.name()), Some(path));
        }
        assert_eq!(Path::from_name("bridge"), None);
    }

    #[test]
    fn every_path_has_a_client_placement_and_says_why_of_the_one_it_lacks() {
        let (routes, not_applicable) = Route::of(&Path::ALL);
        for path in Path::ALL {
            assert!(
                routes.iter().any(|r| r.path == path),
                "{} has no route",
                path.name()
            );
        }
        assert_eq!(routes.len() + not_applicable.len(), 2 * Path::ALL.len());
        for (route, why) in &not_applicable {
            assert!(!why.is_empty(), "{}", route.name());
        }
        assert!(routes.contains(&Route::new(Path::Host, Client::Container)));
        assert!(routes.contains(&Route::new(Path::Macvlan, Client::Lan)));
        assert!(!routes.contains(&Route::new(Path::Overlay, Client::Host)));
        assert!(!routes.contains(&Route::new(Path::SharedNetns, Client::Host)));
        assert_eq!(Route::NATIVE.name(), "native");
        assert_eq!(
            Route::new(Path::Host, Client::Container).name(),
            "host/container"
        );
    }

    #[test]
    fn the_probe_image_follows_the_image_tag_variable() {
        // The variable is the process's: read what it says rather than set it.
        let expected = match std::env::var(crate::testbed::IMAGE_TAG_VARIABLE) {
            Ok(tag) if !tag.is_empty() => format!("shopdotcom/probe:{tag}"),
            _ => "shopdotcom/probe:local".to_owned(),
        };
        assert_eq!(probe_image(), expected);
    }
}
