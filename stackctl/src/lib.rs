//! stackctl: brings the ShopDotCom stack up on Docker's host network.
//!
//! The library holds all the logic so that tests and other crates can call
//! it without a process; `main.rs` only parses arguments and reports errors.
//! Modules: [`compose`] reads and validates `compose.yaml`; [`image`] builds
//! every image locally; [`container`] maps a service onto the engine's
//! container configuration; [`stack`] runs a project (`up`, `down`, `ps`,
//! `logs`) with [`firewall`], [`pins`], [`secrets`] and [`listeners`];
//! [`engine`] connects to Docker; [`testbed`] runs private copies of the
//! stack's services for tests and benchmarks; [`audit`] judges any Compose
//! file, or the running stack, on the CIS Docker Benchmark and the pitfalls
//! of host networking; [`verify`] checks a running stack's reachability,
//! isolation and hardening; [`bench`](mod@bench) measures host networking against the
//! bridge and a plain process.

pub mod audit;
pub mod bench;
pub mod cli;
mod commands;
pub mod compose;
pub mod container;
pub mod engine;
pub mod firewall;
pub mod graph;
pub mod image;
pub mod listeners;
pub mod machine_lock;
pub mod percent;
pub mod pins;
pub mod progress;
pub mod secrets;
pub mod stack;
pub mod swarm;
pub mod testbed;
pub mod verify;

use std::io::Write;

use cli::{Cli, Command};
use compose::Project;

/// Runs one stackctl command, writing its result to `out`.
pub async fn run(cli: Cli, out: &mut dyn Write) -> anyhow::Result<()> {
    // Run as another uid by `verify`: no file to read, and the status is the answer.
    if let Command::ConnectAs { addr, timeout_ms } = cli.command {
        let status = verify::uid::connect_here(addr, std::time::Duration::from_millis(timeout_ms));
        std::process::exit(status);
    }
    // The audit reads files `up` would refuse, so it loads its own.
    if let Command::Audit { .. } = cli.command {
        return commands::audit::run(cli, out).await;
    }
    let mut project = Project::load(&cli.file)?;
    for warning in &project.warnings {
        eprintln!("warning: {warning}");
    }
    if let Some(name) = &cli.project_name {
        project.rename(name);
    }
    match cli.command {
        Command::Config { format } => commands::config::run(&project, format, out),
        Command::Build {
            services,
            mirror,
            force,
        } => commands::build::run(&project, &services, mirror, force, out).await,
        Command::Up {
            services,
            no_firewall,
            timeout,
            mirror,
            format,
        } => {
            commands::up::run(
                &project,
                services,
                !no_firewall,
                timeout,
                mirror,
                format,
                out,
            )
            .await
        }
        Command::Down { volumes } => commands::down::run(&project, volumes, out).await,
        Command::Ps { format } => commands::ps::run(&project, format, out).await,
        Command::Logs {
            services,
            follow,
            tail,
        } => commands::logs::run(&project, &services, follow, &tail, out).await,
        Command::Lock { services } => commands::lock::run(&project, &services, out).await,
        Command::Audit { .. } | Command::ConnectAs { .. } => {
            unreachable!("dispatched before the file is loaded")
        }
        Command::Bench(flags) => {
            commands::bench::run(&project, cli.project_name.clone(), flags, out).await
        }
        Command::Verify { format } => commands::verify::run(&project, format, out).await,
    }
}
