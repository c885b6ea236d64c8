//! `stackctl swarm deploy|ps|logs|rm|save-images`: the stack on a swarm.

use std::io::Write;
use std::time::Duration;

use bollard::query_parameters::LogsOptionsBuilder;
use futures_util::StreamExt as _;

use crate::cli::{SwarmCommand, TableFormat};
use crate::compose::Project;
use crate::engine;
use crate::image::{BootstrapOptions, BuildOptions};
use crate::progress::Progress;
use crate::swarm::deploy::{self, DeployOptions};
use crate::swarm::spec::scoped;

pub(crate) async fn run(
    project: &Project,
    command: SwarmCommand,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let docker = engine::connect().await?;
    let stack = &project.name;
    match command {
        SwarmCommand::Deploy {
            nodes,
            timeout,
            mirror,
        } => {
            let options = DeployOptions {
                nodes,
                timeout: Duration::from_secs(timeout),
                build: BuildOptions {
                    bootstrap: BootstrapOptions { mirror },
                    force: false,
                },
            };
            let deployed = deploy::deploy(&docker, project, &options, &Progress::new()).await?;
            let report = &deployed.export.converted.report;
            writeln!(
                out,
                "{:<18} {:<12} {:<22} NODES",
                "SERVICE", "STATE", "IMAGE"
            )?;
            for s in &deployed.services {
                writeln!(
                    out,
                    "{:<18} {:<12} {:<22} {}",
                    s.service,
                    "healthy",
                    crate::image::short_id(&s.image),
                    s.nodes.join(", ")
                )?;
            }
            writeln!(
                out,
                "stack `{stack}`: every task runs its pinned image; {} loss(es) on Swarm accepted (`stackctl export swarm` lists them); the firewall agent polices the uids on each node",
                report.accepted_losses
            )?;
        }
        SwarmCommand::Ps { format } => {
            let rows = deploy::ps(&docker, stack).await?;
            if rows.is_empty() {
                anyhow::bail!(
                    "stack `{stack}` has no tasks on this swarm; deploy it with `stackctl -p {stack} swarm deploy`"
                );
            }
            match format {
                TableFormat::Json => writeln!(out, "{}", serde_json::to_string_pretty(&rows)?)?,
                TableFormat::Table => {
                    writeln!(
                        out,
                        "{:<18} {:<16} {:<9} {:<9} {:<14} ERROR",
                        "SERVICE", "NODE", "DESIRED", "STATE", "IMAGE"
                    )?;
                    for r in rows {
                        writeln!(
                            out,
                            "{:<18} {:<16} {:<9} {:<9} {:<14} {}",
                            r.service,
                            r.node,
                            r.desired,
                            r.state,
                            crate::image::short_id(&r.image),
                            r.error.as_deref().unwrap_or("-")
                        )?;
                    }
                }
            }
        }
        SwarmCommand::Logs {
            services,
            follow,
            tail,
        } => {
            let names: Vec<String> = if services.is_empty() {
                deploy::ps(&docker, stack)
                    .await?
                    .into_iter()
                    .map(|r| r.service)
                    .collect()
            } else {
                services
            };
            let mut names = names;
            names.sort();
            names.dedup();
            let width = names.iter().map(String::len).max().unwrap_or(0);
            let streams = names.iter().map(|name| {
                let prefix = format!("{name:<width$} | ");
                let options = LogsOptionsBuilder::default()
                    .stdout(true)
                    .stderr(true)
                    .follow(follow)
                    .tail(&tail)
                    .build();
                docker
                    .service_logs(&scoped(stack, name), Some(options))
                    .map(move |chunk| (prefix.clone(), chunk))
            });
            let mut merged = futures_util::stream::select_all(streams.map(Box::pin));
            let printing = async {
                while let Some((prefix, chunk)) = merged.next().await {
                    let chunk = chunk?;
                    for line in String::from_utf8_lossy(&chunk.into_bytes()).lines() {
                        writeln!(out, "{prefix}{line}")?;
                    }
                }
                anyhow::Ok(())
            };
            tokio::select! {
                result = printing => result?,
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        SwarmCommand::Rm { volumes } => {
            let removed = deploy::remove(&docker, project, volumes).await?;
            if removed.is_empty() {
                writeln!(out, "stack `{stack}`: nothing to remove")?;
            }
            for item in removed {
                writeln!(out, "removed {item}")?;
            }
        }
        SwarmCommand::SaveImages { output } => {
            let names = deploy::save_images(&docker, project, &output, &Progress::new()).await?;
            writeln!(
                out,
                "saved {} to {}; on each other node: `docker load -i {}`",
                names.join(", "),
                output.display(),
                output.display()
            )?;
        }
    }
    Ok(())
}
