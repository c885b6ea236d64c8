//! `ps`: each declared service with its container's state, health, image
//! and where to reach it.

use bollard::Docker;
use serde::Serialize;

use super::containers;
use super::up::describe_endpoint;
use crate::compose::Project;
use crate::image::short_id;

/// One service's state.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceState {
    pub service: String,
    /// The container, or `None` when the service has none.
    pub container: Option<String>,
    /// `running`, `exited`, ..., or `absent`.
    pub state: String,
    pub health: Option<String>,
    pub image_id: Option<String>,
    pub endpoints: Vec<String>,
    /// The TLS certificates it presents (fingerprints, never keys).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub certificates: Vec<crate::secrets::Certificate>,
}

/// Every declared service (and any orphan container) of the project.
pub async fn ps(docker: &Docker, project: &Project) -> anyhow::Result<Vec<ServiceState>> {
    let existing = containers(docker, &project.name).await?;
    let mut states: Vec<ServiceState> = project
        .model
        .services
        .keys()
        .map(|service| {
            let container = existing.iter().find(|e| e.service == *service);
            ServiceState {
                service: service.clone(),
                container: container.map(|c| c.name.clone()),
                state: container.map_or_else(|| "absent".to_owned(), |c| c.state.clone()),
                health: container.and_then(|c| c.health.clone()),
                image_id: container.map(|c| short_id(&c.image_id).to_owned()),
                // As the container was started; the file's (with today's variables) otherwise.
                endpoints: match container {
                    Some(c) if !c.reach.is_empty() => c.reach.clone(),
                    _ => project
                        .extensions
                        .get(service)
                        .map(|e| e.listen.iter().map(describe_endpoint).collect())
                        .unwrap_or_default(),
                },
                certificates: crate::secrets::certificates(project, service),
            }
        })
        .collect();
    for orphan in existing
        .iter()
        .filter(|e| !project.model.services.contains_key(&e.service))
    {
        states.push(ServiceState {
            service: format!("{} (orphan)", orphan.service),
            container: Some(orphan.name.clone()),
            state: orphan.state.clone(),
            health: orphan.health.clone(),
            image_id: Some(short_id(&orphan.image_id).to_owned()),
            endpoints: orphan.reach.clone(),
            certificates: Vec::new(),
        });
    }
    Ok(states)
}
