//! stackctl: brings the ShopDotCom stack up on Docker's host network.
//!
//! The library holds all the logic so that tests and other crates can call
//! it without a process; `main.rs` only parses arguments and reports errors.
//! Modules: [`compose`] reads and validates `compose.yaml`, [`image`] builds
//! every image locally, [`container`] maps a service onto the engine's
//! container configuration, [`engine`] connects to Docker.

pub mod cli;
mod commands;
pub mod compose;
pub mod container;
pub mod engine;
pub mod image;
pub mod progress;
pub mod testbed;

use std::io::Write;

use cli::{Cli, Command};
use compose::Project;

/// Runs one stackctl command, writing its result to `out`.
pub async fn run(cli: Cli, out: &mut dyn Write) -> anyhow::Result<()> {
    let mut project = Project::load(&cli.file)?;
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
    }
}
