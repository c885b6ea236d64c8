//! `stackctl build` as a user runs it, against the real engine: a second
//! build rebuilds nothing, a missing engine or a service that cannot be
//! built yet is one clear message.

use std::process::{Command, Output};

use stackctl::testbed;

fn stackctl(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_stackctl"));
    command
        .arg("-f")
        .arg(testbed::stack_compose_file())
        .args(args);
    for (k, v) in envs {
        command.env(k, v);
    }
    command.output().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_build_of_an_unchanged_image_rebuilds_nothing() {
    let docker = stackctl::engine::connect().await.unwrap();
    let first = testbed::build(&docker, &["db"]).await.unwrap();
    let second = testbed::build(&docker, &["db"]).await.unwrap();
    assert!(
        !second[0].rebuilt,
        "the second build rebuilt {}",
        second[0].image
    );
    assert_eq!(first[0].id, second[0].id);

    // Under a project of its own, whose pins are removed again.
    let project = format!("stackctl-test-build-{}", std::process::id());
    let output = stackctl(&["-p", &project, "build", "db"], &[]);
    let pins = testbed::stack_compose_file()
        .parent()
        .unwrap()
        .join(".stackctl")
        .join(&project);
    let _ = std::fs::remove_dir_all(pins);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("shopdotcom/db:local") && stdout.contains("up to date"),
        "{stdout}"
    );
}

#[test]
fn an_engine_that_does_not_answer_is_one_line_saying_how_to_start_it() {
    for command in [&["build"][..], &["up"], &["down"], &["ps"], &["logs"]] {
        let output = stackctl(
            command,
            &[("DOCKER_HOST", "unix:///nonexistent/docker.sock")],
        );
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.trim().lines().count(), 1, "{command:?}: {stderr}");
        assert!(
            stderr.starts_with(
                "error: the Docker engine does not answer at unix:///nonexistent/docker.sock"
            ),
            "{command:?}: {stderr}"
        );
        assert!(stderr.contains("systemctl start docker"), "{stderr}");
    }
}

#[test]
fn an_image_that_fails_to_build_stops_up_with_the_engines_reason() {
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/broken-build/compose.yaml");
    let output = Command::new(env!("CARGO_BIN_EXE_stackctl"))
        .arg("-f")
        .arg(&file)
        .args([
            "-p",
            &format!("stackctl-test-broken-{}", std::process::id()),
            "up",
            "--no-firewall",
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("service `broken`: the image build failed"),
        "{stderr}"
    );
    assert!(
        stderr.contains("no-such-file"),
        "the engine's reason is shown: {stderr}"
    );
}

#[test]
fn a_service_whose_binary_is_not_in_the_workspace_cannot_be_built_yet() {
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/valid/future-service.yaml");
    let output = Command::new(env!("CARGO_BIN_EXE_stackctl"))
        .arg("-f")
        .arg(&file)
        .arg("build")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("service `terminal` cannot be built yet: the workspace has no binary `warehouse-terminal-not-written-yet`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("future-service.yaml:9"),
        "names where it is declared: {stderr}"
    );
}

#[test]
fn an_unknown_service_name_lists_the_services_there_are() {
    let output = stackctl(&["build", "dbb"], &[]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("has no service `dbb`; its services are: ") && stderr.contains(" db"),
        "{stderr}"
    );
}
