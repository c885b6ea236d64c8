//! `stackctl verify` as a user runs it: on a project with nothing running,
//! every reachability claim fails, the table says why, and the exit code
//! is non-zero. (The passing matrix on a running stack is proved in
//! `integration-tests`, which brings a whole copy up.)

use std::process::Command;

use std::time::Duration;

use stackctl::testbed::{free_port, stack_compose_file};
use stackctl::verify::uid::{Attempt, connect_as};

#[test]
fn connections_as_another_uid_are_made_by_stackctl_running_as_that_uid() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let open = listener.local_addr().unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let timeout = Duration::from_secs(3);
    assert_eq!(connect_as(65534, 65534, open, timeout), Attempt::Connected);
    assert_eq!(connect_as(65534, 65534, closed, timeout), Attempt::Refused);
    // That the socket is the uid's own, so the firewall polices it, is
    // `up`'s firewall test (up::the_firewall_lets_each_uid_reach_only_its_allowlist).
}

#[test]
fn verify_exits_non_zero_and_says_why_when_the_stack_is_not_running() {
    let project = format!("stackctl-test-verify-cli-{}", std::process::id());
    let secrets = tempfile::tempdir().unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_stackctl"));
    command
        .arg("-f")
        .arg(stack_compose_file())
        .args(["-p", &project, "verify"])
        .env("SHOP_SECRETS_DIR", secrets.path());
    for variable in [
        "SHOP_DB_PORT",
        "SHOP_API_PORT",
        "SHOP_GATEWAY_PORT",
        "SHOP_TELNET_PORT",
    ] {
        command.env(variable, free_port().unwrap().to_string());
    }
    let output = command.output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("FAIL  api               host -> api"),
        "{stdout}"
    );
    assert!(
        stdout.contains("no container (is the stack up? run `stackctl up`)"),
        "{stdout}"
    );
    assert!(
        stderr.contains("claims failed on project stackctl-test-verify-cli-"),
        "{stderr}"
    );
}
