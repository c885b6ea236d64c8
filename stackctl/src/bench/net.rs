//! The networks the alternative paths need, made by the bench and removed by
//! it: a parent link for macvlan or ipvlan (a dummy interface where the
//! kernel has the dummy driver, else one end of a veth pair whose other end
//! carries nothing), the engine's macvlan, ipvlan and overlay networks on
//! subnets of 10.214.0.0/16 that nothing on the host uses, and a route that
//! keeps the host's own traffic for those subnets on the bench's link
//! (never out of the host's default route).

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::process::Command;

use anyhow::{Context as _, bail};
use bollard::Docker;
use bollard::models::{Ipam, IpamConfig, NetworkCreateRequest};
use bollard::query_parameters::ListNetworksOptionsBuilder;

use super::paths::BENCH_LABEL;
use crate::verify::lan::ip;

/// The first two octets of every subnet the bench gives a network.
const RANGE: [u8; 2] = [10, 214];

/// A link the bench made; deleted when dropped (with its routes, and with
/// the veth's other end).
#[derive(Debug)]
pub struct Link {
    pub name: String,
    /// `dummy`, or `veth` where the kernel has no dummy driver.
    pub kind: &'static str,
}

impl Link {
    /// A parent link named `name`: a dummy interface, else a veth pair
    /// (`name` and `name` + `x`), up, with no address.
    pub fn parent(name: &str) -> anyhow::Result<Link> {
        let kind = match ip(&["link", "add", name, "type", "dummy"]) {
            Ok(()) => "dummy",
            Err(dummy) => {
                let peer = format!("{name}x");
                ip(&["link", "add", name, "type", "veth", "peer", "name", &peer]).with_context(
                    || format!("the kernel has no dummy driver ({dummy:#}) and no veth either"),
                )?;
                ip(&["link", "set", &peer, "up"])?;
                "veth"
            }
        };
        let link = Link {
            name: name.to_owned(),
            kind,
        };
        ip(&["link", "set", name, "up"])?;
        Ok(link)
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        if let Err(err) = ip(&["link", "delete", &self.name]) {
            eprintln!("warning: cannot remove link {}: {err:#}", self.name);
        }
    }
}

/// A /24 of 10.214.0.0/16 that no address or route of the host and no
/// network of the engine uses, chosen from `seed` on; `taken` are more to
/// avoid (those picked earlier in this run).
pub async fn free_subnet(
    docker: &Docker,
    seed: u32,
    taken: &[Ipv4Addr],
) -> anyhow::Result<Ipv4Addr> {
    let mut used = String::new();
    let listings: [&[&str]; 2] = [
        &["-4", "-o", "addr", "show"],
        &["-4", "route", "show", "table", "all"],
    ];
    for args in listings {
        let out = Command::new("ip")
            .args(args)
            .output()
            .context("cannot run `ip`")?;
        used.push_str(&String::from_utf8_lossy(&out.stdout));
    }
    for network in docker.list_networks(None).await? {
        for config in network.ipam.and_then(|i| i.config).unwrap_or_default() {
            used.push_str(&format!(" {} ", config.subnet.unwrap_or_default()));
        }
    }
    for k in 0..256u32 {
        let third = ((seed.wrapping_mul(37) + k) % 256) as u8;
        let net = Ipv4Addr::new(RANGE[0], RANGE[1], third, 0);
        let prefix = format!("{}.{}.{third}.", RANGE[0], RANGE[1]);
        if !used.contains(&prefix) && !taken.contains(&net) {
            return Ok(net);
        }
    }
    bail!("every /24 of 10.214.0.0/16 is in use")
}

/// The address `host` (1–254) of the /24 `net`.
pub fn in_subnet(net: Ipv4Addr, host: u8) -> Ipv4Addr {
    let [a, b, c, _] = net.octets();
    Ipv4Addr::new(a, b, c, host)
}

/// Creates network `name` of `driver` on the /24 `net`, labelled with the
/// session. The engine hands out addresses from the lower half only; the
/// upper half is the bench's (its LAN clients).
pub async fn create(
    docker: &Docker,
    session: &str,
    name: &str,
    driver: &str,
    net: Ipv4Addr,
    options: HashMap<String, String>,
    attachable: bool,
) -> anyhow::Result<()> {
    let request = NetworkCreateRequest {
        name: name.to_owned(),
        driver: Some(driver.to_owned()),
        attachable: attachable.then_some(true),
        options: Some(options),
        ipam: Some(Ipam {
            config: Some(vec![IpamConfig {
                subnet: Some(format!("{net}/24")),
                ip_range: Some(format!("{net}/25")),
                gateway: Some(in_subnet(net, 1).to_string()),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        labels: Some(HashMap::from([(
            BENCH_LABEL.to_owned(),
            session.to_owned(),
        )])),
        ..Default::default()
    };
    docker
        .create_network(request)
        .await
        .with_context(|| format!("the engine cannot make the {driver} network {name}"))?;
    Ok(())
}

/// The networks labelled with `session`.
pub async fn networks(docker: &Docker, session: &str) -> anyhow::Result<Vec<String>> {
    let filters = HashMap::from([("label", vec![format!("{BENCH_LABEL}={session}")])]);
    let options = ListNetworksOptionsBuilder::default()
        .filters(&filters)
        .build();
    Ok(docker
        .list_networks(Some(options))
        .await
        .context("cannot list networks")?
        .into_iter()
        .filter_map(|n| n.name)
        .collect())
}

/// Whether the engine forwards `address:port` with an iptables DNAT rule
/// (`iptables -t nat -S DOCKER`), which connections from the host to that
/// address take instead of the userland proxy; `Err` says why not.
pub fn dnat_rule(address: Ipv4Addr, port: u16) -> Result<String, String> {
    let out = Command::new("iptables")
        .args(["-w", "-t", "nat", "-S", "DOCKER"])
        .output()
        .map_err(|e| format!("cannot run iptables ({e})"))?;
    if !out.status.success() {
        return Err(format!(
            "the engine has no DOCKER chain in iptables' nat table (`dockerd --iptables=false`?): {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let rules = String::from_utf8_lossy(&out.stdout);
    find_dnat(&rules, address, port).ok_or_else(|| {
        format!("the engine wrote no DNAT rule for {address}:{port}, so only its userland proxy serves that port")
    })
}

fn find_dnat(rules: &str, address: Ipv4Addr, port: u16) -> Option<String> {
    let dest = format!("-d {address}/32");
    let dport = format!("--dport {port} ");
    rules
        .lines()
        .find(|l| l.contains(&dest) && format!("{l} ").contains(&dport) && l.contains("-j DNAT"))
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dnat_rule_is_found_for_its_address_and_port_only() {
        let rules = "-N DOCKER\n-A DOCKER -i docker0 -j RETURN\n-A DOCKER -d 10.213.4.1/32 ! -i docker0 -p tcp -m tcp --dport 40123 -j DNAT --to-destination 172.17.0.3:7777\n";
        let addr = Ipv4Addr::new(10, 213, 4, 1);
        assert!(
            find_dnat(rules, addr, 40123)
                .unwrap()
                .contains("172.17.0.3:7777")
        );
        assert_eq!(find_dnat(rules, addr, 4012), None);
        assert_eq!(find_dnat(rules, Ipv4Addr::new(127, 0, 0, 1), 40123), None);
    }

    #[test]
    fn addresses_in_a_subnet_keep_its_first_three_octets() {
        assert_eq!(
            in_subnet(Ipv4Addr::new(10, 214, 7, 0), 200),
            Ipv4Addr::new(10, 214, 7, 200)
        );
    }
}
