//! Connection attempts made as another user: the firewall keys on the
//! socket owner's uid, so the only honest test of a service's egress policy
//! is a socket that its uid owns. A uid cannot be taken by one thread of a
//! multi-threaded process, so each attempt is a short child process: stackctl
//! itself, re-executed with the service's uid and gid (and no supplementary
//! groups) as the hidden `stackctl connect-as ADDR` ([`connect_here`]), which
//! reports what became of its connection by its exit status alone.

use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt as _;
use std::path::PathBuf;
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

/// The exit status of `stackctl connect-as` for each [`Attempt`]; 1 and 2
/// stay stackctl's and clap's own (an error, bad arguments).
const CONNECTED: i32 = 0;
const REFUSED: i32 = 10;
const TIMED_OUT: i32 = 11;
const OTHER_ERROR: i32 = 12;

/// The hidden subcommand's name.
pub const SUBCOMMAND: &str = "connect-as";

/// Opens (and closes) a TCP connection to `addr` as `uid:gid`, from a child
/// `stackctl connect-as` process running as that user.
pub fn connect_as(uid: u32, gid: u32, addr: SocketAddr, timeout: Duration) -> Attempt {
    let program = match stackctl_program() {
        Ok(program) => program,
        Err(why) => return Attempt::Error(why),
    };
    let output = Command::new(&program)
        .args([SUBCOMMAND, &addr.to_string(), "--timeout-ms"])
        .arg(timeout.as_millis().to_string())
        .uid(uid)
        .gid(gid)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .output();
    let output = match output {
        Ok(output) => output,
        Err(err) => {
            return Attempt::Error(format!(
                "cannot run {} as uid {uid}: {err}",
                program.display()
            ));
        }
    };
    match output.status.code() {
        Some(CONNECTED) => Attempt::Connected,
        Some(REFUSED) => Attempt::Refused,
        Some(TIMED_OUT) => Attempt::TimedOut,
        _ => Attempt::Error(format!(
            "`stackctl {SUBCOMMAND}` as uid {uid} ended with {}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )),
    }
}

/// The body of `stackctl connect-as`: one connection attempt, with the
/// outcome as the process's exit status (see [`connect_as`]).
pub fn connect_here(addr: SocketAddr, timeout: Duration) -> i32 {
    match TcpStream::connect_timeout(&addr, timeout) {
        Ok(_) => CONNECTED,
        Err(err) => match err.kind() {
            std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::ConnectionReset => REFUSED,
            std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => TIMED_OUT,
            _ => {
                eprintln!("{err}");
                OTHER_ERROR
            }
        },
    }
}

/// The stackctl executable to re-execute: this process when it is stackctl;
/// otherwise (a test binary of this workspace) the `stackctl` that cargo
/// builds into the same target directory (`target/PROFILE/stackctl`, beside
/// `target/PROFILE/deps/TEST`).
pub fn stackctl_program() -> Result<PathBuf, String> {
    let me = std::env::current_exe()
        .map_err(|err| format!("cannot find this program's own path: {err}"))?;
    if me.file_name().is_some_and(|name| name == "stackctl") {
        return Ok(me);
    }
    me.ancestors()
        .skip(1)
        .take(2)
        .map(|dir| dir.join("stackctl"))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| {
            format!(
                "connections as another uid re-execute the stackctl binary, and there is none beside {}; build it \
                 (`cargo build -p stackctl`)",
                me.display()
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_attempt_here_reports_connected_and_refused_by_status() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let open = listener.local_addr().unwrap();
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let second = Duration::from_secs(1);
        assert_eq!(connect_here(open, second), CONNECTED);
        assert_eq!(connect_here(closed, second), REFUSED);
    }
}
