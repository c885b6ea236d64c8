//! Wall time of bringing the stack up to all-healthy and down again, for
//! `stackctl` and for Debian's `docker-compose` on the same `compose.yaml`,
//! in the same run, and stackctl's peak memory.
//!
//! Run: `cargo bench -p stackctl --bench up` (ROUNDS sets the measured
//! rounds, default 3). Images are built first; each round starts from the
//! stack down (containers removed, the database volume kept), as after a
//! `down`. The copy runs on free ports under its own project names, beside
//! anything else on the machine; a warm-up round of each tool goes first.

#![allow(
    clippy::print_stdout,
    reason = "a benchmark program's result is the table it prints"
)]

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use bollard::models::HealthStatusEnum;
use bollard::query_parameters::ListContainersOptionsBuilder;

const COMPOSE_PROJECT: &str = "stackctl-bench-compose";
const STACKCTL_PROJECT: &str = "stackctl-bench";

fn main() -> anyhow::Result<()> {
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3);
    let runtime = tokio::runtime::Runtime::new()?;
    // A private copy's variables (free ports, its own secrets directory,
    // the images' tag); each command names its project with `-p`.
    let bed = runtime.block_on(stackctl::testbed::Testbed::new("bench-up"))?;
    let env = bed.shell_env();
    let file = stackctl::testbed::stack_compose_file();
    let stackctl = |args: &[&str]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_stackctl"));
        command
            .arg("-f")
            .arg(&file)
            .args(["-p", STACKCTL_PROJECT])
            .args(args)
            .envs(env.clone());
        command
    };
    let compose = |args: &[&str]| {
        let mut command = Command::new("docker-compose");
        command
            .arg("-f")
            .arg(&file)
            .args(["-p", COMPOSE_PROJECT])
            .args(args)
            .envs(env.clone());
        command
    };

    eprintln!("building the images ...");
    check(stackctl(&["build"]).status()?, "stackctl build")?;
    // The bench runs whatever images there are now: pin them.
    check(
        stackctl(&["lock"]).stdout(Stdio::null()).status()?,
        "stackctl lock",
    )?;
    // docker-compose installs no firewall; where another stack's firewall
    // polices the same uids, its containers would be refused their own
    // ports. Give its project the same allowances stackctl would.
    let vars: HashMap<String, String> = env.iter().cloned().collect();
    let mut compose_project =
        stackctl::compose::Project::load_with(&file, &|name| vars.get(name).cloned())?;
    compose_project.rename(COMPOSE_PROJECT);
    stackctl::firewall::install(&stackctl::firewall::plan(&compose_project)?)?;
    let mut rows: HashMap<&str, Vec<f64>> = HashMap::new();
    let mut peak_kib = 0;
    let result = (|| -> anyhow::Result<()> {
        for round in 0..=rounds {
            let (seconds, peak) = timed(stackctl(&["up"]))?;
            let down = timed(stackctl(&["down"]))?.0;
            let compose_up = timed(compose(&["up", "-d"]))?.0
                + runtime.block_on(wait_healthy(COMPOSE_PROJECT))?;
            let compose_down = timed(compose(&["down"]))?.0;
            eprintln!(
                "round {round}: stackctl up {seconds:.2}s down {down:.2}s; docker-compose up {compose_up:.2}s down {compose_down:.2}s"
            );
            if round == 0 {
                continue;
            }
            peak_kib = peak_kib.max(peak);
            rows.entry("stackctl up").or_default().push(seconds);
            rows.entry("stackctl down").or_default().push(down);
            rows.entry("docker-compose up")
                .or_default()
                .push(compose_up);
            rows.entry("docker-compose down")
                .or_default()
                .push(compose_down);
        }
        Ok(())
    })();
    let _ = stackctl(&["down", "-v"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let _ = compose(&["down", "-v"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let _ = stackctl::firewall::remove(COMPOSE_PROJECT);
    let _ = std::fs::remove_dir_all(
        file.parent()
            .unwrap_or(std::path::Path::new("."))
            .join(".stackctl")
            .join(STACKCTL_PROJECT),
    );
    result?;

    println!();
    println!("{rounds} rounds after a warm-up; images built, stack down, database volume kept");
    println!();
    println!("| step | median | min | max |");
    println!("| --- | ---: | ---: | ---: |");
    for step in [
        "stackctl up",
        "docker-compose up",
        "stackctl down",
        "docker-compose down",
    ] {
        let mut times = rows.remove(step).unwrap_or_default();
        times.sort_by(f64::total_cmp);
        let median = times.get(times.len() / 2).copied().unwrap_or_default();
        let (min, max) = (
            times.first().copied().unwrap_or_default(),
            times.last().copied().unwrap_or_default(),
        );
        let label = if step.ends_with("up") {
            format!("`{step}` to all healthy")
        } else {
            format!("`{step}`")
        };
        println!("| {label} | {median:.2} s | {min:.2} s | {max:.2} s |");
    }
    println!();
    println!(
        "stackctl peak resident memory during `up`: {:.1} MiB",
        peak_kib as f64 / 1024.0
    );
    Ok(())
}

fn check(status: std::process::ExitStatus, what: &str) -> anyhow::Result<()> {
    if !status.success() {
        bail!("{what} failed ({status})");
    }
    Ok(())
}

/// Runs a command to its end; returns the wall time and its peak resident
/// memory (KiB), sampled from /proc every few milliseconds.
fn timed(mut command: Command) -> anyhow::Result<(f64, u64)> {
    let started = Instant::now();
    let mut child = command
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    let pid = child.id();
    let mut peak = 0;
    let status = loop {
        if let Some((_, hwm)) = loadgen::memory_kib(pid) {
            peak = peak.max(hwm);
        }
        if let Some(status) = child.try_wait()? {
            break status;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let elapsed = started.elapsed().as_secs_f64();
    if !status.success() {
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().context("stderr")?, &mut stderr)?;
        bail!("{command:?} failed ({status}):\n{stderr}");
    }
    Ok((elapsed, peak))
}

/// Seconds until every container of a docker-compose project is healthy.
async fn wait_healthy(project: &str) -> anyhow::Result<f64> {
    let docker = stackctl::engine::connect().await?;
    let started = Instant::now();
    let filters = HashMap::from([(
        "label",
        vec![format!("com.docker.compose.project={project}")],
    )]);
    loop {
        let listed = docker
            .list_containers(Some(
                ListContainersOptionsBuilder::default()
                    .all(true)
                    .filters(&filters)
                    .build(),
            ))
            .await?;
        let mut healthy = !listed.is_empty();
        for container in listed {
            let state = docker
                .inspect_container(container.id.as_deref().unwrap_or_default(), None)
                .await?
                .state
                .unwrap_or_default();
            healthy &= state.health.and_then(|h| h.status) == Some(HealthStatusEnum::HEALTHY);
        }
        if healthy {
            return Ok(started.elapsed().as_secs_f64());
        }
        if started.elapsed() > Duration::from_secs(180) {
            bail!("docker-compose's stack was not healthy within 180 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
