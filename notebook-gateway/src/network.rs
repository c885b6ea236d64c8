//! What the gateway's network namespace holds, for the Network page: the
//! interfaces it sees (`getifaddrs`), every listening TCP socket in its
//! `/proc/net/tcp` and `/proc/net/tcp6` (decoded by `servicekit::sockets`),
//! and the stack's status from a `stackctl verify` report ([`verify_report`]).
//!
//! In its container on the host network the gateway has no namespace of
//! its own: what it reads here is the host's. A container on a bridge
//! network would see its own `lo` and `eth0`, and only its own sockets.
//!
//! [`verify_report`]: crate::verify_report

use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use nix::net::if_::InterfaceFlags;
use serde::Serialize;
use servicekit::sockets::{self, SocketRow};

use crate::verify_report::{self, VerifyStatus};

/// Everything the Network page shows, as `/api/network` serves it.
#[derive(Debug, Clone, Serialize)]
pub struct NetworkView {
    /// The interfaces, in the kernel's order (by index).
    pub interfaces: Vec<Interface>,
    /// Why the interfaces could not be read; `None` when they were.
    pub interfaces_error: Option<String>,
    /// Every listening TCP socket, by port then address.
    pub listening: Vec<Listener>,
    /// The socket tables read, each with its row count or why it could not
    /// be read (a host without IPv6 has no `/proc/net/tcp6`).
    pub tables: Vec<Table>,
    /// The stack's status from `stackctl verify`'s JSON, or why there is none.
    pub verify: VerifyStatus,
}

/// One network interface.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Interface {
    pub name: String,
    /// Administratively up (`IFF_UP`).
    pub up: bool,
    /// Up with a carrier (`IFF_RUNNING`): it can carry traffic now.
    pub running: bool,
    pub loopback: bool,
    /// Its IPv4 and IPv6 addresses.
    pub addresses: Vec<Address>,
}

/// An address of an interface, with its prefix length (`127.0.0.1/8`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Address {
    pub address: IpAddr,
    pub prefix: u8,
}

/// One listening TCP socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Listener {
    pub address: IpAddr,
    pub port: u16,
    /// Who can reach it: the whole point on a shared namespace.
    pub scope: Scope,
    /// The uid that owns the socket (each service of the stack runs as its own).
    pub uid: u32,
    /// Which ShopDotCom service this port is, when the gateway knows it.
    pub service: Option<PortLabel>,
    /// The gateway's own listener.
    pub this_gateway: bool,
}

/// Which addresses a listening socket answers on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scope {
    /// 127.0.0.0/8 or ::1: this host only.
    Loopback,
    /// 0.0.0.0 or `::`: every address of the host, so the LAN too.
    AllAddresses,
    /// One address of the host (reachable by whoever reaches that address).
    OneAddress,
}

impl Scope {
    /// The scope of a socket bound to `ip`.
    pub fn of(ip: IpAddr) -> Scope {
        // `::ffff:127.0.0.1` is loopback too.
        let ip = ip.to_canonical();
        if ip.is_loopback() {
            Scope::Loopback
        } else if ip.is_unspecified() {
            Scope::AllAddresses
        } else {
            Scope::OneAddress
        }
    }
}

/// A ShopDotCom service named for a port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PortLabel {
    pub service: String,
    pub source: LabelSource,
}

/// Where a port's label comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LabelSource {
    /// The gateway's own configuration (its API URL, its own listener).
    Config,
    /// The stack's default port for that service (`compose.yaml`'s defaults):
    /// likely that service, not known to be.
    Default,
}

/// One socket table and what reading it gave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Table {
    pub path: String,
    /// How many rows it had (every state, not only listening).
    pub rows: usize,
    /// Why it could not be read; `None` when it was.
    pub error: Option<String>,
}

/// What the gateway knows of the stack's ports from its own configuration.
#[derive(Debug, Clone)]
pub struct Known {
    /// The API's URL, as the gateway reaches it.
    pub api_url: String,
    /// Where the gateway itself listens.
    pub own: Option<SocketAddr>,
}

/// The stack's default ports (`compose.yaml`'s), for the ports the
/// gateway's configuration does not name.
const DEFAULT_PORTS: [(u16, &str); 4] = [
    (3000, "api"),
    (3306, "db"),
    (8888, "notebook-gateway"),
    (2323, "legacy-telnet"),
];

impl Known {
    /// The label of `port` on this host.
    pub fn label(&self, port: u16) -> Option<PortLabel> {
        let configured = [
            self.api_port().map(|p| (p, "api")),
            self.own.map(|a| (a.port(), "notebook-gateway")),
        ];
        if let Some((_, service)) = configured.into_iter().flatten().find(|(p, _)| *p == port) {
            return Some(PortLabel {
                service: service.to_owned(),
                source: LabelSource::Config,
            });
        }
        DEFAULT_PORTS
            .iter()
            .find(|(p, _)| *p == port)
            .map(|(_, service)| PortLabel {
                service: (*service).to_owned(),
                source: LabelSource::Default,
            })
    }

    /// The API's port on this host, when its URL names this host (on the
    /// host network it does: `http://localhost:3000`).
    pub fn api_port(&self) -> Option<u16> {
        let url = reqwest::Url::parse(&self.api_url).ok()?;
        let host = url.host_str()?;
        let local = match host.trim_matches(['[', ']']).parse::<IpAddr>() {
            Ok(ip) => ip.is_loopback(),
            Err(_) => host.eq_ignore_ascii_case("localhost"),
        };
        local.then(|| url.port_or_known_default()).flatten()
    }
}

/// Looks at the namespace now, and at the verify report at `verify_report`.
/// Blocking: it reads files and asks the kernel.
pub fn look(known: &Known, verify_report: Option<&Path>) -> NetworkView {
    let (interfaces, interfaces_error) = match interfaces() {
        Ok(list) => (list, None),
        Err(err) => (
            Vec::new(),
            Some(format!("cannot read the interfaces: {err}")),
        ),
    };
    let mut rows = Vec::new();
    let tables = sockets::TABLES
        .into_iter()
        .map(|path| match sockets::read_table(path) {
            Ok(table) => {
                let count = table.len();
                rows.extend(table);
                Table {
                    path: path.to_owned(),
                    rows: count,
                    error: None,
                }
            }
            Err(err) => Table {
                path: path.to_owned(),
                rows: 0,
                error: Some(format!("cannot read {path}: {err}")),
            },
        })
        .collect();
    NetworkView {
        interfaces,
        interfaces_error,
        listening: listening(&rows, known),
        tables,
        verify: verify_report::read(verify_report),
    }
}

/// The listening sockets among `rows`, labelled, by port then address; a
/// socket shared by several processes (`SO_REUSEPORT`) is one row.
pub fn listening(rows: &[SocketRow], known: &Known) -> Vec<Listener> {
    let mut list: Vec<Listener> = rows
        .iter()
        .filter(|r| r.state == sockets::LISTEN)
        .map(|r| Listener {
            address: r.local.ip(),
            port: r.local.port(),
            scope: Scope::of(r.local.ip()),
            uid: r.uid,
            service: known.label(r.local.port()),
            this_gateway: known.own == Some(r.local),
        })
        .collect();
    list.sort_by_key(|l| (l.port, l.address, l.uid));
    list.dedup();
    list
}

/// Every interface with its addresses, in the kernel's order.
fn interfaces() -> nix::Result<Vec<Interface>> {
    let mut list: Vec<Interface> = Vec::new();
    for entry in nix::ifaddrs::getifaddrs()? {
        let position = match list.iter().position(|i| i.name == entry.interface_name) {
            Some(at) => at,
            None => {
                list.push(Interface {
                    name: entry.interface_name.clone(),
                    up: entry.flags.contains(InterfaceFlags::IFF_UP),
                    running: entry.flags.contains(InterfaceFlags::IFF_RUNNING),
                    loopback: entry.flags.contains(InterfaceFlags::IFF_LOOPBACK),
                    addresses: Vec::new(),
                });
                list.len() - 1
            }
        };
        let address = entry.address.as_ref().and_then(ip_of);
        if let Some(address) = address {
            let prefix = entry.netmask.as_ref().and_then(ip_of).map_or(0, prefix_len);
            list[position].addresses.push(Address { address, prefix });
        }
    }
    Ok(list)
}

/// The IP address in `storage`, when it holds one (not a link address).
fn ip_of(storage: &nix::sys::socket::SockaddrStorage) -> Option<IpAddr> {
    if let Some(v4) = storage.as_sockaddr_in() {
        return Some(IpAddr::V4(v4.ip()));
    }
    storage.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip()))
}

/// The prefix length of a netmask (`255.255.255.0` is 24).
fn prefix_len(mask: IpAddr) -> u8 {
    let ones = match mask {
        IpAddr::V4(m) => u32::from(m).count_ones(),
        IpAddr::V6(m) => u128::from(m).count_ones(),
    };
    ones as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(api_url: &str, own: &str) -> Known {
        Known {
            api_url: api_url.to_owned(),
            own: Some(own.parse().unwrap()),
        }
    }

    #[test]
    fn a_socket_bound_to_loopback_every_address_or_one_address_says_which() {
        for (ip, scope) in [
            ("127.0.0.1", Scope::Loopback),
            ("127.0.0.53", Scope::Loopback),
            ("::1", Scope::Loopback),
            ("::ffff:127.0.0.1", Scope::Loopback),
            ("0.0.0.0", Scope::AllAddresses),
            ("::", Scope::AllAddresses),
            ("10.213.0.1", Scope::OneAddress),
            ("fe80::1", Scope::OneAddress),
        ] {
            assert_eq!(Scope::of(ip.parse().unwrap()), scope, "{ip}");
        }
    }

    #[test]
    fn ports_from_the_configuration_win_over_the_stacks_defaults() {
        let k = known("http://localhost:41000", "127.0.0.1:42000");
        let label = |port| k.label(port).map(|l| (l.service, l.source));
        assert_eq!(label(41000), Some(("api".into(), LabelSource::Config)));
        assert_eq!(
            label(42000),
            Some(("notebook-gateway".into(), LabelSource::Config))
        );
        assert_eq!(label(3306), Some(("db".into(), LabelSource::Default)));
        assert_eq!(label(3000), Some(("api".into(), LabelSource::Default)));
        assert_eq!(label(5432), None);
    }

    #[test]
    fn an_api_elsewhere_names_no_port_of_this_host() {
        assert_eq!(
            known("http://localhost", "127.0.0.1:1").api_port(),
            Some(80)
        );
        assert_eq!(
            known("http://[::1]:3000", "127.0.0.1:1").api_port(),
            Some(3000)
        );
        assert_eq!(
            known("http://127.0.0.2:3000", "127.0.0.1:1").api_port(),
            Some(3000)
        );
        assert_eq!(
            known("http://shop.example:3000", "127.0.0.1:1").api_port(),
            None
        );
        assert_eq!(known("not a url", "127.0.0.1:1").api_port(), None);
    }

    #[test]
    fn only_listening_sockets_are_listed_once_each_with_the_gateways_own_marked() {
        let row = |local: &str, state, uid| SocketRow {
            local: local.parse().unwrap(),
            remote: "0.0.0.0:0".parse().unwrap(),
            state,
            uid,
            inode: 1,
        };
        let rows = [
            row("0.0.0.0:3000", sockets::LISTEN, 10010),
            row("127.0.0.1:8888", sockets::LISTEN, 10020),
            row("127.0.0.1:3306", sockets::LISTEN, 10001),
            row("127.0.0.1:3306", sockets::LISTEN, 10001),
            row("127.0.0.1:40000", 0x01, 10010),
        ];
        let list = listening(&rows, &known("http://localhost:3000", "127.0.0.1:8888"));
        let ports: Vec<u16> = list.iter().map(|l| l.port).collect();
        assert_eq!(ports, [3000, 3306, 8888]);
        assert_eq!(list[0].scope, Scope::AllAddresses);
        assert_eq!(list[1].scope, Scope::Loopback);
        assert!(list[2].this_gateway && !list[0].this_gateway);
        assert_eq!(
            list[0].service.as_ref().unwrap().source,
            LabelSource::Config
        );
    }

    #[test]
    fn netmasks_become_prefix_lengths() {
        assert_eq!(prefix_len("255.0.0.0".parse().unwrap()), 8);
        assert_eq!(prefix_len("255.255.255.0".parse().unwrap()), 24);
        assert_eq!(prefix_len("ffff:ffff:ffff:ffff::".parse().unwrap()), 64);
    }

    #[test]
    fn this_hosts_loopback_interface_is_seen_up_with_its_address() {
        let list = interfaces().unwrap();
        let lo = list.iter().find(|i| i.name == "lo").expect("lo is listed");
        assert!(lo.up && lo.loopback, "{lo:?}");
        assert!(
            lo.addresses.contains(&Address {
                address: "127.0.0.1".parse().unwrap(),
                prefix: 8
            }),
            "{lo:?}"
        );
    }
}
