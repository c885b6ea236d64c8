//! `stackctl bench` as a user runs it, on the real engine, with bounds small
//! enough for a test: every path measured with numbers that make sense, and
//! nothing left behind, whether the run ends or is interrupted with Ctrl-C.
//! No timing is asserted here; the figures belong to the README's run.

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bollard::query_parameters::ListContainersOptionsBuilder;
use stackctl::bench::paths::BENCH_LABEL;

/// `stackctl -f <the stack> -p <session> bench <args>`.
fn bench(session: &str, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_stackctl"));
    command
        .arg("-f")
        .arg(stackctl::testbed::stack_compose_file())
        .args(["-p", session, "bench"])
        .args(args);
    command
}

/// The containers labelled as this session's (running or not).
async fn leftovers(session: &str) -> Vec<String> {
    let docker = stackctl::engine::connect().await.unwrap();
    let filters =
        std::collections::HashMap::from([("label", vec![format!("{BENCH_LABEL}={session}")])]);
    let options = ListContainersOptionsBuilder::default()
        .all(true)
        .filters(&filters)
        .build();
    docker
        .list_containers(Some(options))
        .await
        .unwrap()
        .into_iter()
        .flat_map(|c| c.names.unwrap_or_default())
        .collect()
}

#[tokio::test]
async fn a_small_run_measures_all_four_paths_and_removes_its_containers() {
    let session = format!("stackctl-test-bench-{}", std::process::id());
    let svg = tempfile::NamedTempFile::new().unwrap();
    let output = bench(
        &session,
        &[
            "--rounds",
            "2",
            "--round-trips",
            "500",
            "--seconds",
            "0.2",
            "--format",
            "json",
            "--svg",
        ],
    )
    .arg(svg.path())
    .stderr(Stdio::inherit())
    .output()
    .unwrap();
    assert!(output.status.success(), "{}", output.status);
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();

    let paths: Vec<&str> = report["paths"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["native", "host", "bridge-proxy", "bridge-ip"]);
    let bridge_ip = report["paths"][3]["probe"].as_str().unwrap();
    assert!(
        bridge_ip.starts_with("172."),
        "the bridge-ip path is a bridge address: {bridge_ip}"
    );
    for path in &report["paths"].as_array().unwrap()[..3] {
        let probe = path["probe"].as_str().unwrap();
        assert!(probe.starts_with("127.0.0.1:"), "loopback only: {probe}");
    }
    for metric in report["metrics"].as_array().unwrap() {
        for path in &paths {
            let summary = &metric["paths"][path];
            let median = summary["median"].as_f64().unwrap();
            assert!(
                median.is_finite() && median > 0.0,
                "{} on {path}: {median}",
                metric["metric"]
            );
            assert_eq!(summary["rounds"].as_array().unwrap().len(), 2);
            assert!(summary["min"].as_f64().unwrap() <= median);
            assert!(median <= summary["max"].as_f64().unwrap());
        }
        assert_eq!(metric["paths"]["native"]["ratio_to_native"], 1.0);
    }
    let p50 = |path: &str| {
        report["metrics"][0]["paths"][path]["median"]
            .as_f64()
            .unwrap()
    };
    let p999 = |path: &str| {
        report["metrics"][3]["paths"][path]["median"]
            .as_f64()
            .unwrap()
    };
    for path in &paths {
        assert!(p50(path) <= p999(path), "percentiles in order on {path}");
    }
    let chart = std::fs::read_to_string(svg.path()).unwrap();
    assert!(chart.starts_with("<svg") && chart.contains("bridge-proxy"));
    assert_eq!(leftovers(&session).await, Vec::<String>::new());
}

#[tokio::test]
async fn ctrl_c_in_the_middle_of_a_run_removes_every_container_it_started() {
    let session = format!("stackctl-test-bench-int-{}", std::process::id());
    let mut child = bench(
        &session,
        &["--rounds", "50", "--round-trips", "20000", "--seconds", "2"],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    // Wait until the measurements run: every server is up by then.
    let stderr = child.stderr.take().unwrap();
    let (lines_tx, lines_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("{line}");
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let line = lines_rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("the bench never started measuring");
        if line.starts_with("round 1/") {
            break;
        }
    }
    assert!(
        !leftovers(&session).await.is_empty(),
        "the containers run while it measures"
    );
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the bench did not stop on SIGINT"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(!status.success(), "an interrupted run is not a success");
    let mut said = Vec::new();
    while let Ok(line) = lines_rx.recv_timeout(Duration::from_secs(10)) {
        said.push(line);
    }
    assert!(
        said.iter().any(|l| l.contains("interrupted; removing")),
        "it said it was interrupted and cleaned up: {said:?}"
    );
    assert_eq!(leftovers(&session).await, Vec::<String>::new());
}
