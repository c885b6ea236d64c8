//! A "LAN client" made on the spot: a network namespace of its own, joined
//! to the host by a veth pair on a /30 from a range this project owns
//! (10.213.0.0/16). From inside it the host is another machine at the far
//! end of a cable, so what it reaches is what a LAN would reach: services
//! bound to every address, and not those bound to loopback. The namespace
//! and its link are removed when the client is dropped.
//!
//! Sockets are made inside the namespace by a short-lived thread that joins
//! it (`setns`), so no process is started and nothing else moves.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use anyhow::{Context as _, bail};

/// The first two octets of every address this module gives out.
const RANGE: [u8; 2] = [10, 213];

/// A network namespace joined to the host by a veth pair.
#[derive(Debug)]
pub struct LanClient {
    namespace: String,
    /// The host's end of the link: the address the LAN client connects to.
    pub host_ip: Ipv4Addr,
    /// The client's own address, inside the namespace.
    pub client_ip: Ipv4Addr,
}

impl LanClient {
    /// Makes the namespace and its link (needs root and `ip`, from iproute2).
    pub fn create() -> anyhow::Result<LanClient> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let serial = NEXT.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        let namespace = format!("stackctl-lan-{pid}-{serial}");
        // Interface names have at most 15 bytes.
        let host_if = format!("stk{:x}h{serial}", pid & 0xff_ffff);
        let client_if = format!("stk{:x}c{serial}", pid & 0xff_ffff);
        let (host_ip, client_ip) = free_subnet(pid, serial)?;
        ip(&["netns", "add", &namespace])?;
        let lan = LanClient {
            namespace,
            host_ip,
            client_ip,
        };
        let ns = lan.namespace.as_str();
        let (host_cidr, client_cidr) = (format!("{host_ip}/30"), format!("{client_ip}/30"));
        let steps: [&[&str]; 6] = [
            &[
                "link", "add", &host_if, "type", "veth", "peer", "name", &client_if, "netns", ns,
            ],
            &["addr", "add", &host_cidr, "dev", &host_if],
            &["link", "set", &host_if, "up"],
            &["-n", ns, "addr", "add", &client_cidr, "dev", &client_if],
            &["-n", ns, "link", "set", &client_if, "up"],
            &["-n", ns, "link", "set", "lo", "up"],
        ];
        for step in steps {
            ip(step)?;
        }
        Ok(lan)
    }

    /// The namespace's name (under `/run/netns`).
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// Opens a TCP connection from inside the namespace to `port` on the
    /// host's end of the link; `Ok` when the host accepted it.
    pub fn connect_to_host(&self, port: u16, timeout: Duration) -> std::io::Result<()> {
        let addr = SocketAddr::from((self.host_ip, port));
        self.inside(move || TcpStream::connect_timeout(&addr, timeout).map(drop))?
    }

    /// A listener inside the namespace on the client's address (a LAN host
    /// that the host's processes could try to reach).
    pub fn listen(&self) -> anyhow::Result<TcpListener> {
        let addr = SocketAddrV4::new(self.client_ip, 0);
        Ok(self.inside(move || TcpListener::bind(addr))??)
    }

    /// Runs `work` on a thread that has joined the namespace: every socket
    /// it opens is the LAN client's.
    pub fn inside<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> std::io::Result<T> {
        let path = format!("/run/netns/{}", self.namespace);
        std::thread::spawn(move || {
            let file = std::fs::File::open(&path)?;
            nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET)
                .map_err(std::io::Error::from)?;
            Ok(work())
        })
        .join()
        .map_err(|_| std::io::Error::other("the namespace thread panicked"))?
    }
}

impl Drop for LanClient {
    fn drop(&mut self) {
        // Deleting the namespace deletes the veth inside it, and with it the peer.
        if let Err(err) = ip(&["netns", "delete", &self.namespace]) {
            eprintln!(
                "warning: cannot remove network namespace {}: {err:#}",
                self.namespace
            );
        }
    }
}

/// Whether this process can make namespaces (root with `ip` available), or why not.
pub fn available() -> Result<(), String> {
    if !nix::unistd::geteuid().is_root() {
        return Err("making a network namespace needs root".into());
    }
    match Command::new("ip").arg("-V").output() {
        Ok(out) if out.status.success() => Ok(()),
        _ => Err("`ip` (Debian's iproute2) is not installed".into()),
    }
}

/// A /30 of the range that no interface of the host uses yet: (host end, client end).
fn free_subnet(pid: u32, serial: u32) -> anyhow::Result<(Ipv4Addr, Ipv4Addr)> {
    let listing = Command::new("ip")
        .args(["-4", "-o", "addr", "show"])
        .output()
        .context("cannot run `ip` (install Debian's iproute2)")?;
    let used = String::from_utf8_lossy(&listing.stdout).into_owned();
    let subnets = 1u32 << 14; // /30s in a /16
    let start = pid
        .wrapping_mul(131)
        .wrapping_add(serial.wrapping_mul(7919))
        % subnets;
    for k in 0..subnets {
        let base = ((start + k) % subnets) * 4;
        let octets = |n: u32| Ipv4Addr::new(RANGE[0], RANGE[1], (n >> 8) as u8, n as u8);
        let (host, client) = (octets(base + 1), octets(base + 2));
        let taken = [host, client]
            .iter()
            .any(|a| used.contains(&format!("inet {a}/")));
        if !taken {
            return Ok((host, client));
        }
    }
    bail!("every /30 of 10.213.0.0/16 is in use")
}

fn ip(args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .context("cannot run `ip` (install Debian's iproute2)")?;
    if !out.status.success() {
        bail!(
            "`ip {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}
