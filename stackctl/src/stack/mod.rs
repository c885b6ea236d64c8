//! A project on the engine: what `up`, `down`, `ps` and `logs` act on. The
//! project's containers and volumes are found by their labels, so two
//! projects never touch each other and `down` removes exactly what `up` made.

pub mod down;
pub mod logs;
pub mod status;
pub mod up;
pub(crate) mod wait;

use std::collections::HashMap;

use anyhow::Context as _;
use bollard::Docker;
use bollard::models::{ContainerCreateBody, HealthStatusEnum};
use bollard::query_parameters::{ListContainersOptionsBuilder, ListVolumesOptionsBuilder};
use sha2::{Digest, Sha256};

use crate::container::{PROJECT_LABEL, SERVICE_LABEL};

/// The label holding the hash of the configuration a container was made from.
pub const CONFIG_HASH_LABEL: &str = "dev.shopdotcom.stackctl.config-hash";
/// The label holding where the service listens, as `up` started it.
pub const REACH_LABEL: &str = "dev.shopdotcom.stackctl.reach";

/// A container of the project, as the engine reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Existing {
    pub id: String,
    pub name: String,
    pub service: String,
    pub running: bool,
    /// `running`, `exited`, `restarting`, ...
    pub state: String,
    /// `healthy`, `unhealthy`, `starting`; `None` without a health check.
    pub health: Option<String>,
    pub exit_code: Option<i64>,
    pub config_hash: Option<String>,
    /// The image ID it runs.
    pub image_id: String,
    /// Where it listens, as it was started (`REACH_LABEL`).
    pub reach: Vec<String>,
}

/// Every container of `project` (running or not), by service name.
pub async fn containers(docker: &Docker, project: &str) -> anyhow::Result<Vec<Existing>> {
    let label = format!("{PROJECT_LABEL}={project}");
    containers_where(docker, &label, &|labels| {
        labels.get(SERVICE_LABEL).cloned().unwrap_or_default()
    })
    .await
}

/// Every container carrying `label` (`KEY=VALUE`), running or not, with
/// its service named by `service_of` from its labels (a swarm task's
/// containers carry other labels than `up`'s).
pub async fn containers_where(
    docker: &Docker,
    label: &str,
    service_of: &(dyn Fn(&HashMap<String, String>) -> String + Sync),
) -> anyhow::Result<Vec<Existing>> {
    let filters = HashMap::from([("label", vec![label.to_owned()])]);
    let options = ListContainersOptionsBuilder::default()
        .all(true)
        .filters(&filters)
        .build();
    let summaries = docker
        .list_containers(Some(options))
        .await
        .context("cannot list containers")?;
    let mut found = Vec::new();
    for summary in summaries {
        let Some(id) = summary.id else { continue };
        let labels = summary.labels.unwrap_or_default();
        let inspected = match docker.inspect_container(&id, None).await {
            Ok(inspected) => inspected,
            // Removed between the listing and now.
            Err(err) if crate::engine::is_not_found(&err) => continue,
            Err(err) => return Err(err.into()),
        };
        let state = inspected.state.unwrap_or_default();
        found.push(Existing {
            name: inspected
                .name
                .unwrap_or_default()
                .trim_start_matches('/')
                .to_owned(),
            service: service_of(&labels),
            running: state.running == Some(true),
            state: state.status.map(|s| s.to_string()).unwrap_or_default(),
            health: state
                .health
                .and_then(|h| h.status)
                .filter(|s| !matches!(s, HealthStatusEnum::EMPTY | HealthStatusEnum::NONE))
                .map(|s| s.to_string()),
            exit_code: state.exit_code,
            config_hash: labels.get(CONFIG_HASH_LABEL).cloned(),
            reach: labels
                .get(REACH_LABEL)
                .map(|r| {
                    r.split("; ")
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
            image_id: inspected.image.unwrap_or_default(),
            id,
        });
    }
    found.sort_by(|a, b| a.service.cmp(&b.service));
    Ok(found)
}

/// The project's volumes (by label).
pub async fn volumes(docker: &Docker, project: &str) -> anyhow::Result<Vec<String>> {
    let filters = HashMap::from([("label", vec![format!("{PROJECT_LABEL}={project}")])]);
    let options = ListVolumesOptionsBuilder::default()
        .filters(&filters)
        .build();
    let listing = docker
        .list_volumes(Some(options))
        .await
        .context("cannot list volumes")?;
    Ok(listing
        .volumes
        .unwrap_or_default()
        .into_iter()
        .map(|v| v.name)
        .collect())
}

/// A hash of a container configuration that is the same in every run: the
/// configuration as JSON with every object's keys sorted.
pub fn config_hash(config: &ContainerCreateBody) -> String {
    let value = serde_json::to_value(config).unwrap_or_default();
    let mut canonical = String::new();
    write_canonical(&value, &mut canonical);
    hex::encode(Sha256::digest(canonical.as_bytes()))
}

fn write_canonical(value: &serde_json::Value, out: &mut String) {
    match value {
        serde_json::Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(&map[key], out);
            }
            out.push('}');
        }
        serde_json::Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_hash_ignores_map_order_but_not_values() {
        let labels = |pairs: [(&str, &str); 2]| {
            Some(
                pairs
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .into_iter()
                    .collect(),
            )
        };
        let a = ContainerCreateBody {
            labels: labels([("x", "1"), ("y", "2")]),
            ..Default::default()
        };
        let mut b = ContainerCreateBody {
            labels: labels([("y", "2"), ("x", "1")]),
            ..Default::default()
        };
        assert_eq!(config_hash(&a), config_hash(&b));
        b.env = Some(vec!["A=1".to_owned()]);
        assert_ne!(config_hash(&a), config_hash(&b));
    }
}
