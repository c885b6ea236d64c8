//! `down`: stop the project's containers (SIGTERM, their grace period, then
//! SIGKILL, as the engine's stop does), remove them and the project's
//! firewall chain, and keep its volumes unless asked to remove them too.

use anyhow::Context as _;
use bollard::Docker;
use bollard::query_parameters::{RemoveVolumeOptions, StopContainerOptionsBuilder};
use serde::Serialize;

use super::{containers, volumes};
use crate::compose::Project;
use crate::firewall;
use crate::progress::Progress;

/// What `down` removed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DownReport {
    pub containers: Vec<String>,
    pub volumes: Vec<String>,
    pub firewall_removed: bool,
    pub warnings: Vec<String>,
}

/// Stops and removes the project; with `remove_volumes`, its volumes too.
pub async fn down(
    docker: &Docker,
    project: &Project,
    remove_volumes: bool,
    progress: &Progress,
) -> anyhow::Result<DownReport> {
    let mut report = DownReport::default();
    let existing = containers(docker, &project.name).await?;
    let stops = existing.iter().map(|container| {
        let grace = project
            .model
            .services
            .get(&container.service)
            .and_then(|s| s.stop_grace_period)
            .map_or(10, |d| d.0.as_secs() as i32);
        let task = progress.task(&container.service);
        async move {
            if container.running {
                task.step(&format!("stopping (SIGTERM, then SIGKILL after {grace}s)"));
                let stop = StopContainerOptionsBuilder::default().t(grace).build();
                docker.stop_container(&container.id, Some(stop)).await.ok();
            }
            task.step("removing");
            let remove = crate::container::remove_options();
            let removed = docker.remove_container(&container.id, Some(remove)).await;
            match &removed {
                Ok(()) => task.finish("removed"),
                Err(err) => task.fail(&format!("not removed: {err}")),
            }
            removed
                .map(|()| container.name.clone())
                .with_context(|| format!("cannot remove {}", container.name))
        }
    });
    for result in futures_util::future::join_all(stops).await {
        report.containers.push(result?);
    }

    match firewall::check_available() {
        Ok(()) => report.firewall_removed = firewall::remove(&project.name)?,
        Err(err) => report
            .warnings
            .push(format!("the firewall rules were not checked: {err:#}")),
    }

    if remove_volumes {
        // Everything `up` made for the project goes, but for its secrets.
        if let Some(state) = crate::pins::path(project).parent() {
            let _ = std::fs::remove_dir_all(state);
        }
        for volume in volumes(docker, &project.name).await? {
            docker
                .remove_volume(&volume, None::<RemoveVolumeOptions>)
                .await
                .with_context(|| format!("cannot remove volume {volume}"))?;
            report.volumes.push(volume);
        }
    }
    Ok(report)
}
