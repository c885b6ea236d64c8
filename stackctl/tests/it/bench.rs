//! `stackctl bench` as a user runs it, on the real engine, with bounds small
//! enough for a test: every path measured or skipped with its reason, with
//! numbers that make sense, and nothing left behind (containers, networks,
//! network namespaces, links, a swarm it made), whether the run ends or is
//! interrupted with Ctrl-C. No timing is asserted here; the figures belong
//! to the full run in docs/bench.md.

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bollard::query_parameters::{ListContainersOptionsBuilder, ListNetworksOptionsBuilder};
use stackctl::bench::paths::{BENCH_LABEL, Path};
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

/// A bench process that is interrupted (SIGINT, so it cleans up) if the
/// test ends before it: a failing test never leaves a bench running.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = Command::new("kill")
                .args(["-INT", &self.0.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(120);
            while matches!(self.0.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(200));
            }
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// What the benches run with `-p project` left on the engine: containers
/// and networks labelled with a session `PROJECT-bench-PID`.
async fn leftovers(project: &str) -> Vec<String> {
    let docker = stackctl::engine::connect().await.unwrap();
    let filters = std::collections::HashMap::from([("label", vec![BENCH_LABEL.to_owned()])]);
    let prefix = format!("{project}-bench-");
    let ours = |labels: Option<&std::collections::HashMap<String, String>>| {
        labels
            .and_then(|l| l.get(BENCH_LABEL))
            .is_some_and(|session| session.starts_with(&prefix))
    };
    let options = ListContainersOptionsBuilder::default()
        .all(true)
        .filters(&filters)
        .build();
    let mut found: Vec<String> = docker
        .list_containers(Some(options))
        .await
        .unwrap()
        .into_iter()
        .filter(|c| ours(c.labels.as_ref()))
        .flat_map(|c| c.names.unwrap_or_default())
        .collect();
    let options = ListNetworksOptionsBuilder::default()
        .filters(&filters)
        .build();
    found.extend(
        docker
            .list_networks(Some(options))
            .await
            .unwrap()
            .into_iter()
            .filter(|n| ours(n.labels.as_ref()))
            .filter_map(|n| n.name.map(|name| format!("network {name}"))),
    );
    found
}

/// The network namespaces and links the bench process `pid` made and did
/// not remove (their names carry its pid).
fn kernel_leftovers(pid: u32) -> Vec<String> {
    let run = |args: &[&str]| {
        let out = Command::new("ip").args(args).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let mut found = Vec::new();
    for ns in run(&["netns", "list"]).lines() {
        let name = ns.split_whitespace().next().unwrap_or_default();
        if name.starts_with("stackctl-") && name.contains(&format!("-{pid}-")) {
            found.push(format!("namespace {name}"));
        }
    }
    let short = format!("{:x}", pid & 0xff_ffff);
    for line in run(&["-o", "link", "show"]).lines() {
        let name = line.split(':').nth(1).unwrap_or_default().trim();
        let name = name.split('@').next().unwrap_or_default();
        if name.starts_with(&format!("stb{short}")) || name.starts_with(&format!("stk{short}")) {
            found.push(format!("link {name}"));
        }
    }
    found
}

/// When the bench made a swarm, the engine is in none once no swarm
/// session runs (checked holding the sessions' lock), and swarm mode's
/// networks are gone.
async fn swarm_left(made_swarm: bool) {
    if !made_swarm {
        return;
    }
    let _lock = stackctl::machine_lock::MachineLock::acquire(
        "swarm",
        "swarm session",
        Duration::from_secs(20 * 60),
    )
    .await
    .unwrap();
    let docker = stackctl::engine::connect().await.unwrap();
    crate::swarm_local::assert_no_swarm_left(&docker).await;
}

#[tokio::test]
async fn a_small_run_measures_or_skips_every_path_and_leaves_nothing_behind() {
    let project = format!("stackctl-test-bench-{}", std::process::id());
    let svg = tempfile::NamedTempFile::new().unwrap();
    let output = bench(
        &project,
        &[
            "--rounds",
            "3",
            "--round-trips",
            "300",
            "--seconds",
            "0.05",
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
    let session = report["session"].as_str().unwrap();
    let pid: u32 = session.rsplit('-').next().unwrap().parse().unwrap();

    let routes: Vec<&str> = report["routes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    let named = |list: &str| -> Vec<(String, String)> {
        report[list]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["route"].as_str().unwrap().to_owned(),
                    s["why"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let (skipped, not_applicable) = (named("skipped"), named("not_applicable"));
    for (route, why) in skipped.iter().chain(&not_applicable) {
        assert!(
            !why.trim().is_empty(),
            "{route} is left out without a reason"
        );
    }
    // Never silently: every path is measured, or each of its routes is
    // skipped with a reason.
    for path in Path::ALL {
        let name = path.name();
        let of = |r: &str| r == name || r.starts_with(&format!("{name}/"));
        assert!(
            routes.iter().any(|r| of(r)) || skipped.iter().any(|(r, _)| of(r)),
            "{name} was neither measured nor skipped: {routes:?} {skipped:?}"
        );
    }
    for core in ["native", "host", "bridge-proxy", "bridge-ip"] {
        assert!(routes.contains(&core), "{core} always runs: {routes:?}");
    }
    for route in &report["routes"].as_array().unwrap()[..] {
        let (name, probe) = (
            route["name"].as_str().unwrap(),
            route["target"]["probe"].as_str().unwrap(),
        );
        if ["native", "host", "bridge-proxy", "haproxy", "ssh-tunnel"].contains(&name) {
            assert!(
                probe.starts_with("127.0.0.1:"),
                "{name} is on loopback: {probe}"
            );
        }
    }
    for metric in report["metrics"].as_array().unwrap() {
        for route in &routes {
            let summary = &metric["routes"][route];
            let median = summary["median"].as_f64().unwrap();
            assert!(
                median.is_finite() && median > 0.0,
                "{} on {route}: {median}",
                metric["metric"]
            );
            assert_eq!(summary["rounds"].as_array().unwrap().len(), 3);
            if *route != "native" {
                let ci = summary["ratio_ci"].as_array().unwrap();
                let (low, high) = (ci[0].as_f64().unwrap(), ci[1].as_f64().unwrap());
                let ratio = summary["ratio_to_native"].as_f64().unwrap();
                assert!(
                    low <= ratio && ratio <= high,
                    "{route}: {low} {ratio} {high}"
                );
                assert!(summary["verdict"]["verdict"].is_string());
            }
        }
        assert_eq!(metric["routes"]["native"]["ratio_to_native"], 1.0);
    }
    let isolation = report["isolation"].as_array().unwrap();
    let row = |path: &str| {
        isolation
            .iter()
            .find(|r| r["path"] == path)
            .unwrap_or_else(|| panic!("no isolation row for {path}"))
    };
    // Measured, not written: a host-network container holds host ports and
    // shows in the audit as CIS 5.10; the bridge container holds none.
    assert_eq!(row("host")["holds_host_port"]["result"], "yes");
    assert!(
        row("host")["audit"]["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f.as_str().unwrap().starts_with("CIS-5.10")),
        "{}",
        row("host")
    );
    assert_eq!(row("bridge-ip")["holds_host_port"]["result"], "no");
    assert_eq!(
        row("shared-netns")["container_over_localhost"]["result"],
        "yes"
    );
    let chart = std::fs::read_to_string(svg.path()).unwrap();
    assert!(chart.starts_with("<svg") && chart.contains("bridge-proxy"));

    assert_eq!(leftovers(&project).await, Vec::<String>::new());
    assert_eq!(kernel_leftovers(pid), Vec::<String>::new());
    swarm_left(report["made_swarm"].as_bool().unwrap()).await;
}

#[tokio::test]
async fn ctrl_c_in_the_middle_of_a_run_removes_everything_it_made() {
    let project = format!("stackctl-test-bench-int-{}", std::process::id());
    let mut child = Running(
        bench(
            &project,
            &[
                "--paths",
                "host,macvlan,overlay,haproxy",
                "--rounds",
                "50",
                "--round-trips",
                "20000",
                "--seconds",
                "2",
            ],
        )
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap(),
    );
    // Wait until the measurements run: every server is up by then. On a
    // machine where others build images, the bench waits for the build
    // lock first.
    let stderr = child.0.stderr.take().unwrap();
    let (lines_tx, lines_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("{line}");
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut said = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(1800);
    loop {
        let line = lines_rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("the bench never started measuring");
        let started = line.starts_with("round 1/");
        said.push(line);
        if started {
            break;
        }
    }
    assert!(
        !leftovers(&project).await.is_empty(),
        "the containers run while it measures"
    );
    let sent = Command::new("kill")
        .args(["-INT", &child.0.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let deadline = Instant::now() + Duration::from_secs(180);
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the bench did not stop on SIGINT"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(!status.success(), "an interrupted run is not a success");
    while let Ok(line) = lines_rx.recv_timeout(Duration::from_secs(10)) {
        said.push(line);
    }
    assert!(
        said.iter().any(|l| l.contains("interrupted; removing")),
        "it said it was interrupted and cleaned up: {said:?}"
    );
    assert_eq!(leftovers(&project).await, Vec::<String>::new());
    assert_eq!(kernel_leftovers(child.0.id()), Vec::<String>::new());
    swarm_left(said.iter().any(|l| l.contains("made a single-node swarm"))).await;
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
            "--paths",
            "host",
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

#[test]
fn an_unknown_path_is_refused_with_the_list_of_paths() {
    let output = bench(
        "stackctl-test-bench-flags",
        &["--paths", "host,carrier-pigeon"],
    )
    .output()
    .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no path `carrier-pigeon`"), "{stderr}");
    assert!(
        stderr.contains("macvlan") && stderr.contains("ssh-tunnel"),
        "{stderr}"
    );
}
