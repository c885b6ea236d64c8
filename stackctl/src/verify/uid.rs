//! Connection attempts made as another user: the firewall keys on the
//! socket owner's uid, so the only honest test of a service's egress policy
//! is a socket that its uid owns. A uid cannot be taken by one thread alone,
//! so each attempt is a short child process (`bash`'s `/dev/tcp`, bounded by
//! `timeout`), started with the service's uid and gid.

use std::net::SocketAddr;
use std::os::unix::process::CommandExt as _;
use std::process::{Command, Stdio};
use std::time::Duration;

/// What became of a connection attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    Connected,
    /// Refused: a reset (from the firewall's reject, or no listener).
    Refused,
    TimedOut,
    /// The attempt could not be made at all.
    Error(String),
}

/// Opens (and closes) a TCP connection to `addr` as `uid:gid`.
pub fn connect_as(uid: u32, gid: u32, addr: SocketAddr, timeout: Duration) -> Attempt {
    let host = match addr {
        SocketAddr::V4(a) => a.ip().to_string(),
        SocketAddr::V6(a) => a.ip().to_string(),
    };
    let script = format!("exec 3<>/dev/tcp/{host}/{}", addr.port());
    let output = Command::new("timeout")
        .arg(format!("{}", timeout.as_secs_f64()))
        .args(["bash", "-c", &script])
        // bash's message for a refusal is read below: keep it in English.
        .env("LC_ALL", "C")
        .uid(uid)
        .gid(gid)
        .stdin(Stdio::null())
        .output();
    match output {
        Err(err) => Attempt::Error(format!("cannot run timeout/bash: {err}")),
        Ok(out) if out.status.success() => Attempt::Connected,
        Ok(out) if out.status.code() == Some(124) => Attempt::TimedOut,
        Ok(out) => {
            let stderr = String::from_utf8_lossy(&out.stderr);
            if stderr.contains("refused") {
                Attempt::Refused
            } else {
                Attempt::Error(stderr.trim().to_owned())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_uid_connects_to_a_listener_and_is_refused_by_a_closed_port() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let open = listener.local_addr().unwrap();
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let second = Duration::from_secs(3);
        assert_eq!(connect_as(0, 0, open, second), Attempt::Connected);
        assert_eq!(connect_as(0, 0, closed, second), Attempt::Refused);
        assert_eq!(connect_as(65534, 65534, open, second), Attempt::Connected);
    }
}
