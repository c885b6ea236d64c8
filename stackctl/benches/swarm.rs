//! Wall time to all healthy: `stackctl swarm deploy` of the stack on a
//! single-node swarm against `stackctl up` of the same `compose.yaml` on the
//! same machine, interleaved in one run, median of the measured rounds.
//!
//! Run: `cargo bench -p stackctl --bench swarm` (ROUNDS sets the measured
//! rounds, default 3). Images are built and pinned first; each round starts
//! with the stack removed (`down`, `swarm rm`; the database volume kept),
//! after a warm-up round of each. The swarm is a `LocalSwarm` session: made
//! only if the engine is in none, and then left. Both copies run on free
//! ports under their own names, beside anything else on the machine.

#![allow(
    clippy::print_stdout,
    reason = "a benchmark program's result is the table it prints"
)]

use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::bail;

const UP_PROJECT: &str = "stackctl-bench-up";
const SWARM_STACK: &str = "stackctl-bench-swarm";

fn main() -> anyhow::Result<()> {
    let rounds: usize = std::env::var("ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3);
    let runtime = tokio::runtime::Runtime::new()?;
    // A private copy's variables (free ports, its own secrets directory,
    // the images' tag); each command names its project with `-p`.
    let bed = runtime.block_on(stackctl::testbed::Testbed::new("bench-swarm"))?;
    let env = bed.shell_env();
    let file = stackctl::testbed::stack_compose_file();
    let stackctl = |project: &str, args: &[&str]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_stackctl"));
        command
            .arg("-f")
            .arg(&file)
            .args(["-p", project])
            .args(args)
            .envs(env.clone());
        command
    };
    let docker = runtime.block_on(stackctl::engine::connect())?;
    let session = runtime.block_on(stackctl::swarm::local::LocalSwarm::ensure(&docker))?;
    eprintln!("building the images ...");
    let mut times: Vec<(f64, f64)> = Vec::new();
    let result = (|| -> anyhow::Result<()> {
        check(stackctl(UP_PROJECT, &["build"]).status()?, "stackctl build")?;
        for round in 0..=rounds {
            let up = timed(stackctl(UP_PROJECT, &["up"]))?;
            timed(stackctl(UP_PROJECT, &["down"]))?;
            let deploy = timed(stackctl(SWARM_STACK, &["swarm", "deploy"]))?;
            timed(stackctl(SWARM_STACK, &["swarm", "rm"]))?;
            eprintln!("round {round}: up {up:.2}s; swarm deploy {deploy:.2}s");
            if round > 0 {
                times.push((up, deploy));
            }
        }
        Ok(())
    })();
    let _ = stackctl(UP_PROJECT, &["down", "-v"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let _ = stackctl(SWARM_STACK, &["swarm", "rm", "-v"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    runtime.block_on(session.release())?;
    for project in [UP_PROJECT, SWARM_STACK] {
        let _ = std::fs::remove_dir_all(
            file.parent()
                .unwrap_or(std::path::Path::new("."))
                .join(".stackctl")
                .join(project),
        );
    }
    result?;

    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        (v[v.len() / 2], v[0], v[v.len() - 1])
    };
    let (up, up_min, up_max) = median(times.iter().map(|t| t.0).collect());
    let (deploy, deploy_min, deploy_max) = median(times.iter().map(|t| t.1).collect());
    println!();
    println!(
        "{rounds} rounds after a warm-up; images built and pinned, stack removed, database volume kept"
    );
    println!();
    println!("| to all healthy | median | min | max |");
    println!("| --- | ---: | ---: | ---: |");
    println!("| `stackctl up` | {up:.2} s | {up_min:.2} s | {up_max:.2} s |");
    println!(
        "| `stackctl swarm deploy` (single-node swarm) | {deploy:.2} s | {deploy_min:.2} s | {deploy_max:.2} s |"
    );
    println!();
    println!("swarm deploy / up: x{:.2} (medians)", deploy / up);
    Ok(())
}

fn check(status: std::process::ExitStatus, what: &str) -> anyhow::Result<()> {
    if !status.success() {
        bail!("{what} failed ({status})");
    }
    Ok(())
}

/// Runs a command to its end; its wall time.
fn timed(mut command: Command) -> anyhow::Result<f64> {
    let started = Instant::now();
    let output = command
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()?;
    if !output.status.success() {
        bail!(
            "{command:?} failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(started.elapsed().as_secs_f64())
}
