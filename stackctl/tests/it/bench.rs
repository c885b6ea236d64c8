//! `stackctl bench` as a user runs it, on the real engine, with bounds small
//! enough for a test: every path measured with numbers that make sense, and
//! nothing left behind, whether the run ends or is interrupted with Ctrl-C.
//! No timing is asserted here; the figures belong to the README's run.

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bollard::query_parameters::ListContainersOptionsBuilder;
use stackctl::bench::paths::BENCH_LABEL;
use stackctl::firewall::Family;
use stackctl::testbed::Testbed;

/// `stackctl -f <the stack> -p <project> bench <args>`.
fn bench(project: &str, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_stackctl"));
    command
        .arg("-f")
        .arg(stackctl::testbed::stack_compose_file())
        .args(["-p", project, "bench"])
        .args(args);
    command
}

/// The containers of the benches run with `-p project` (running or not):
/// their sessions are `PROJECT-bench-PID`.
async fn leftovers(project: &str) -> Vec<String> {
    let docker = stackctl::engine::connect().await.unwrap();
    let filters = std::collections::HashMap::from([("label", vec![BENCH_LABEL.to_owned()])]);
    let options = ListContainersOptionsBuilder::default()
        .all(true)
        .filters(&filters)
        .build();
    let prefix = format!("{project}-bench-");
    docker
        .list_containers(Some(options))
        .await
        .unwrap()
        .into_iter()
        .filter(|c| {
            c.labels
                .as_ref()
                .and_then(|l| l.get(BENCH_LABEL))
                .is_some_and(|session| session.starts_with(&prefix))
        })
        .flat_map(|c| c.names.unwrap_or_default())
        .collect()
}

#[tokio::test]
async fn a_small_run_measures_all_four_paths_and_removes_its_containers() {
    let project = format!("stackctl-test-bench-{}", std::process::id());
    let svg = tempfile::NamedTempFile::new().unwrap();
    let output = bench(
        &project,
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
    assert_eq!(leftovers(&project).await, Vec::<String>::new());
}

#[tokio::test]
async fn ctrl_c_in_the_middle_of_a_run_removes_every_container_it_started() {
    let project = format!("stackctl-test-bench-int-{}", std::process::id());
    let mut child = bench(
        &project,
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
        !leftovers(&project).await.is_empty(),
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
    assert_eq!(leftovers(&project).await, Vec::<String>::new());
}

#[tokio::test]
async fn a_bench_named_like_a_running_stack_leaves_that_stack_alone() {
    let mut bed = Testbed::new("bench-beside").await.unwrap();
    let name = bed.project().name.clone();
    // As root this installs the copy's firewall too.
    bed.start("db").await.unwrap();
    // The firewall part is judged only where the rules can be read: without
    // root, "no rules" before and after would prove nothing.
    let rules_before = match stackctl::firewall::try_installed(&name, Family::V4) {
        Ok(rules) => {
            let db_rule = format!("stackctl:{name}:db");
            assert!(
                rules.iter().any(|r| r.contains(&db_rule)),
                "the copy's firewall holds the database's rules: {rules:?}"
            );
            Some(rules)
        }
        Err(why) => {
            eprintln!("the firewall part is not checked: cannot read the rules ({why})");
            None
        }
    };

    let output = bench(
        &name,
        &[
            "--rounds",
            "1",
            "--round-trips",
            "100",
            "--seconds",
            "0.05",
            "--format",
            "json",
        ],
    )
    .stderr(Stdio::inherit())
    .output()
    .unwrap();
    assert!(output.status.success(), "{}", output.status);
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let session = report["session"].as_str().unwrap();
    assert_ne!(session, name, "the bench has a session of its own");

    if let Some(rules_before) = rules_before {
        assert_eq!(
            stackctl::firewall::try_installed(&name, Family::V4),
            Ok(rules_before),
            "the stack's firewall chain is intact"
        );
    }
    let containers = stackctl::stack::containers(&bed.docker, &name)
        .await
        .unwrap();
    assert_eq!(containers.len(), 1, "{containers:?}");
    assert!(containers[0].running, "the stack's database still runs");
    assert_eq!(leftovers(&name).await, Vec::<String>::new());
}

#[tokio::test]
async fn a_session_with_containers_or_rules_of_its_own_is_refused() {
    let mut bed = Testbed::new("bench-taken").await.unwrap();
    let name = bed.project().name.clone();
    bed.start("db").await.unwrap();
    let err = stackctl::bench::paths::check_unused(&bed.docker, &name)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains(&format!("`{name}` is in use")), "{err}");
    assert!(err.contains("containers of project"), "{err}");
    let unused = format!("{name}-bench-unused");
    stackctl::bench::paths::check_unused(&bed.docker, &unused)
        .await
        .unwrap();
}
