//! What listens on TCP in the host's network namespace (which every
//! host-network container shares), read from `/proc/net/tcp` and `tcp6`,
//! with the process holding each socket where `/proc` shows it. `up` uses it
//! to find a port taken before anything starts; the audit compares it with
//! what `compose.yaml` declares.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use servicekit::sockets::{self, LISTEN};

/// A listening socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    pub addr: SocketAddr,
    /// The process holding it, `(pid, name)`, if visible.
    pub process: Option<(u32, String)>,
}

/// Every listening TCP socket of this network namespace.
pub fn listening() -> Vec<Listener> {
    let owners = socket_owners();
    sockets::read_tables()
        .into_iter()
        .filter(|row| row.state == LISTEN)
        .map(|row| Listener {
            addr: row.local,
            process: owners.get(&row.inode).cloned(),
        })
        .collect()
}

/// The listeners that would stop something from binding `wanted`.
pub fn conflicts(wanted: SocketAddr, listeners: &[Listener]) -> Vec<Listener> {
    listeners
        .iter()
        .filter(|l| l.addr.port() == wanted.port())
        .filter(|l| {
            let (a, b) = (l.addr.ip(), wanted.ip());
            // A wildcard holds the port on every address (`::` usually on both families).
            a == b || a.is_unspecified() || b.is_unspecified()
        })
        .cloned()
        .collect()
}

/// The container a process runs in: the engine's container ID from its
/// `/proc/PID/cgroup` (`/docker/ID` or `docker-ID.scope`), if any.
pub fn container_of(pid: u32) -> Option<String> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    container_in_cgroup(&text)
}

fn container_in_cgroup(text: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let last = line.rsplit('/').next()?;
        let id = last.strip_prefix("docker-").unwrap_or(last);
        let id = id.strip_suffix(".scope").unwrap_or(id);
        (id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit())).then(|| id.to_owned())
    })
}

/// A port near `busy` that nothing listens on and that can be bound on
/// `ip` now: `busy + 10000` if it is, else the kernel's choice.
pub fn free_port_near(ip: IpAddr, busy: u16, listening: &[Listener]) -> Option<u16> {
    let usable = |port: u16| {
        port != busy
            && conflicts(SocketAddr::new(ip, port), listening).is_empty()
            && std::net::TcpListener::bind((ip, port)).is_ok()
    };
    if let Some(near) = busy.checked_add(10_000).filter(|p| usable(*p)) {
        return Some(near);
    }
    let chosen = std::net::TcpListener::bind((ip, 0))
        .ok()?
        .local_addr()
        .ok()?
        .port();
    usable(chosen).then_some(chosen)
}

/// Socket inode to `(pid, process name)`, for the processes `/proc` lets us see.
fn socket_owners() -> HashMap<u64, (u32, String)> {
    let mut owners = HashMap::new();
    let Ok(processes) = std::fs::read_dir("/proc") else {
        return owners;
    };
    for process in processes.filter_map(Result::ok) {
        let Some(pid) = process
            .file_name()
            .to_str()
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(process.path().join("fd")) else {
            continue;
        };
        let name = std::fs::read_to_string(process.path().join("comm"))
            .unwrap_or_default()
            .trim()
            .to_owned();
        for fd in fds.filter_map(Result::ok) {
            let Ok(target) = std::fs::read_link(fd.path()) else {
                continue;
            };
            let target = target.to_string_lossy();
            if let Some(inode) = target
                .strip_prefix("socket:[")
                .and_then(|t| t.strip_suffix(']'))
                .and_then(|i| i.parse().ok())
            {
                owners.insert(inode, (pid, name.clone()));
            }
        }
    }
    owners
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_port_held_by_this_test_is_found_with_its_process() {
        let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = held.local_addr().unwrap();
        let found = conflicts(addr, &listening());
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(
            found[0].process.as_ref().map(|p| p.0),
            Some(std::process::id())
        );
        let wildcard: SocketAddr = format!("0.0.0.0:{}", addr.port()).parse().unwrap();
        assert_eq!(
            conflicts(wildcard, &listening()).len(),
            1,
            "a wildcard bind conflicts too"
        );
    }

    #[test]
    fn a_container_is_found_in_either_cgroup_layout() {
        let id = "b39c4ae640f19d8f0580cc339944fc3e2baf747822528edc00308f3a0c1f7ba6";
        assert_eq!(
            container_in_cgroup(&format!("1:cpu:/docker/{id}\n0::/docker/{id}\n")),
            Some(id.to_owned())
        );
        assert_eq!(
            container_in_cgroup(&format!("0::/system.slice/docker-{id}.scope\n")),
            Some(id.to_owned())
        );
        assert_eq!(
            container_in_cgroup("0::/user.slice/session-2.scope\n"),
            None
        );
    }

    #[test]
    fn the_suggested_port_is_not_the_busy_one_and_can_be_bound() {
        let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let busy = held.local_addr().unwrap().port();
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let port = free_port_near(ip, busy, &listening()).unwrap();
        assert_ne!(port, busy);
        std::net::TcpListener::bind((ip, port)).unwrap();
    }
}
