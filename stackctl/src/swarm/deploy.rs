//! `stackctl swarm deploy|ps|rm|save-images`: the stack on a swarm through
//! the Engine API. A deployment is `stackctl export swarm`'s stack file,
//! refused while the export fails closed, made into service specs by
//! [`super::spec`]. The firewall agent starts first, so no service runs a
//! moment unpoliced; then each service in `depends_on` order, each once its
//! dependencies are running and healthy on every node that carries their
//! label. A task that cannot find its image on a node stops the deployment
//! with the node's name and how to carry the images there.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use base64::Engine as _;
use bollard::Docker;
use bollard::models::{Node, SecretSpec, Task, TaskState};
use bollard::query_parameters::{
    InspectServiceOptions, ListNodesOptions, ListSecretsOptionsBuilder, ListServicesOptionsBuilder,
    ListTasksOptionsBuilder, UpdateServiceOptionsBuilder,
};
use sha2::{Digest as _, Sha256};

use super::spec::{self, NAMESPACE_LABEL, scoped};
use crate::compose::Project;
use crate::export::{self, SwarmExport, swarm::AGENT_SERVICE};
use crate::image::BuildOptions;
use crate::progress::Progress;

/// Options of `stackctl swarm deploy`.
#[derive(Debug, Clone)]
pub struct DeployOptions {
    /// Nodes (hostname or ID) to label for the stack; empty: this node.
    pub nodes: Vec<String>,
    /// How long each service may take to be running and healthy everywhere.
    pub timeout: Duration,
    pub build: BuildOptions,
}

/// One service as deployed.
#[derive(Debug, Clone, PartialEq)]
pub struct DeployedService {
    /// The stack file's name (`db`, `firewall-agent`).
    pub service: String,
    /// The nodes (hostnames) running a healthy task of it.
    pub nodes: Vec<String>,
    /// The image ID every task runs.
    pub image: String,
    pub seconds: f64,
}

/// What `deploy` did.
#[derive(Debug, Clone)]
pub struct Deployed {
    pub export: SwarmExport,
    pub services: Vec<DeployedService>,
}

/// Fails unless this engine manages a swarm, naming what is missing.
pub async fn require_manager(docker: &Docker) -> anyhow::Result<String> {
    let info = docker
        .info()
        .await
        .context("cannot ask the Docker engine about its swarm")?;
    let swarm = info.swarm.unwrap_or_default();
    use bollard::models::LocalNodeState as S;
    match swarm.local_node_state {
        Some(S::ACTIVE) if swarm.control_available == Some(true) => swarm
            .node_id
            .filter(|id| !id.is_empty())
            .context("the engine is a manager but reports no node ID"),
        Some(S::ACTIVE) => bail!(
            "this engine is a worker of its swarm, and only a manager can deploy\n  fix: run this on a manager node \
             (`docker node ls` there), or promote this one there: `docker node promote NODE`"
        ),
        Some(S::INACTIVE) | Some(S::EMPTY) | None => bail!(
            "this engine is not in a swarm, so there is nothing to deploy to\n  fix: make one with \
             `docker swarm init --advertise-addr ADDRESS`, or join one with `docker swarm join`"
        ),
        Some(other) => bail!(
            "this engine's swarm is {other}{}\n  fix: repair it (`docker info`), then run this again",
            swarm
                .error
                .filter(|e| !e.is_empty())
                .map(|e| format!(" ({e})"))
                .unwrap_or_default()
        ),
    }
}

/// Deploys (or updates) the stack named `project.name`; see the module docs.
pub async fn deploy(
    docker: &Docker,
    project: &Project,
    options: &DeployOptions,
    progress: &Progress,
) -> anyhow::Result<Deployed> {
    let this_node = require_manager(docker).await?;
    let stack = project.name.clone();
    let export = export::prepare_swarm(docker, project, &stack, &options.build, progress).await?;
    let report = &export.converted.report;
    if !report.passed() {
        bail!(
            "{}\nthe stack has {} loss(es) on Swarm that are not accepted, so it is not deployed\n  fix: accept each in \
             `x-stackctl.accept` with the controls that make up for it, or change the service",
            report.render_human().trim_end(),
            report.open_losses
        );
    }
    let nodes = resolve_nodes(docker, &options.nodes, &this_node).await?;
    for node in &nodes {
        label_node(docker, node, export.converted.groups.keys(), true).await?;
    }
    let secret_ids = ensure_secrets(docker, &stack, &export).await?;
    let host_network = docker
        .inspect_network(
            "host",
            None::<bollard::query_parameters::InspectNetworkOptions>,
        )
        .await
        .context("cannot find the engine's `host` network")?
        .id
        .context("the `host` network has no ID")?;
    remove_orphans(docker, &stack, &export, progress).await?;
    let mut order = vec![AGENT_SERVICE.to_owned()];
    let names: BTreeSet<String> = project.model.services.keys().cloned().collect();
    order.extend(crate::graph::start_order(&project.model, &names));
    let mut services = Vec::new();
    for name in order {
        let Some(service) = export.converted.file.services.get(&name) else {
            continue;
        };
        let task = progress.task(&name);
        task.step("creating the service");
        let spec = spec::service_spec(&stack, &name, service, &secret_ids, &host_network)?;
        create_or_update(docker, &scoped(&stack, &name), spec).await?;
        let started = Instant::now();
        match wait_healthy(
            docker,
            &stack,
            &name,
            &service.image,
            options.timeout,
            &task,
        )
        .await
        {
            Ok(on) => {
                task.finish(&format!("running, healthy on {}", on.join(", ")));
                services.push(DeployedService {
                    service: name.clone(),
                    nodes: on,
                    image: service.image.clone(),
                    seconds: started.elapsed().as_secs_f64(),
                });
            }
            Err(err) => {
                task.fail("not healthy");
                return Err(err);
            }
        }
    }
    Ok(Deployed { export, services })
}

/// Removes the stack's services that the file no longer has (as `docker
/// stack deploy --prune` does), so a deployment is exactly the file.
async fn remove_orphans(
    docker: &Docker,
    stack: &str,
    export: &SwarmExport,
    progress: &Progress,
) -> anyhow::Result<()> {
    let filter = HashMap::from([("label", vec![format!("{NAMESPACE_LABEL}={stack}")])]);
    let services = docker
        .list_services(Some(
            ListServicesOptionsBuilder::new().filters(&filter).build(),
        ))
        .await
        .context("cannot list the swarm's services")?;
    for name in services.into_iter().filter_map(|s| s.spec?.name) {
        let short = name.strip_prefix(&format!("{stack}_")).unwrap_or(&name);
        if !export.converted.file.services.contains_key(short) {
            docker
                .delete_service(&name)
                .await
                .with_context(|| format!("cannot remove service {name}"))?;
            progress.println(&format!(
                "removed service {name}, which the stack no longer has"
            ));
        }
    }
    Ok(())
}

/// The nodes named (hostname or ID), or this one.
async fn resolve_nodes(
    docker: &Docker,
    names: &[String],
    this_node: &str,
) -> anyhow::Result<Vec<Node>> {
    let all = docker
        .list_nodes(None::<ListNodesOptions>)
        .await
        .context("cannot list the swarm's nodes")?;
    let wanted: Vec<&str> = if names.is_empty() {
        vec![this_node]
    } else {
        names.iter().map(String::as_str).collect()
    };
    let mut nodes = Vec::new();
    for name in wanted {
        let node = all
            .iter()
            .find(|n| n.id.as_deref() == Some(name) || hostname(n) == name)
            .with_context(|| {
                format!(
                    "the swarm has no node `{name}`; its nodes are: {}",
                    all.iter().map(hostname).collect::<Vec<_>>().join(", ")
                )
            })?;
        nodes.push(node.clone());
    }
    Ok(nodes)
}

/// A node's hostname (its ID when it has none).
pub fn hostname(node: &Node) -> String {
    node.description
        .as_ref()
        .and_then(|d| d.hostname.clone())
        .or_else(|| node.id.clone())
        .unwrap_or_default()
}

/// Adds (or removes) the stack's labels on a node.
async fn label_node<'a>(
    docker: &Docker,
    node: &Node,
    labels: impl Iterator<Item = &'a String>,
    add: bool,
) -> anyhow::Result<()> {
    let id = node.id.clone().context("a node without an ID")?;
    // Read again: the version must be current for the update.
    let node = docker.inspect_node(&id).await?;
    let version = node
        .version
        .and_then(|v| v.index)
        .context("a node without a version")?;
    let mut spec = node.spec.unwrap_or_default();
    let mut map = spec.labels.take().unwrap_or_default();
    let mut changed = false;
    for label in labels {
        changed |= if add {
            map.insert(label.clone(), "true".to_owned()).as_deref() != Some("true")
        } else {
            map.remove(label).is_some()
        };
    }
    if !changed {
        return Ok(());
    }
    spec.labels = Some(map);
    docker
        .update_node(
            &id,
            spec,
            bollard::query_parameters::UpdateNodeOptionsBuilder::new()
                .version(version as i64)
                .build(),
        )
        .await
        .with_context(|| format!("cannot label node {id}"))?;
    Ok(())
}

/// Creates each secret of the stack file as a Swarm secret named
/// `STACK_NAME-HASH` (a changed value is a new secret: Swarm's cannot
/// change), unless it exists; returns stack-file name -> (ID, Swarm name).
async fn ensure_secrets(
    docker: &Docker,
    stack: &str,
    export: &SwarmExport,
) -> anyhow::Result<HashMap<String, (String, String)>> {
    let existing = docker
        .list_secrets(Some(
            ListSecretsOptionsBuilder::new()
                .filters(&HashMap::from([(
                    "label",
                    vec![format!("{NAMESPACE_LABEL}={stack}")],
                )]))
                .build(),
        ))
        .await
        .context("cannot list the swarm's secrets")?;
    let mut ids = HashMap::new();
    for (name, secret) in &export.converted.file.secrets {
        let data = std::fs::read(&secret.file)
            .with_context(|| format!("cannot read secret `{name}` from {}", secret.file))?;
        let digest = hex::encode(Sha256::digest(&data));
        let swarm_name = format!("{}-{}", scoped(stack, name), &digest[..12]);
        let found = existing.iter().find(|s| {
            s.spec.as_ref().and_then(|spec| spec.name.as_deref()) == Some(swarm_name.as_str())
        });
        let id = match found.and_then(|s| s.id.clone()) {
            Some(id) => id,
            None => {
                let spec = SecretSpec {
                    name: Some(swarm_name.clone()),
                    labels: Some(HashMap::from([(
                        NAMESPACE_LABEL.to_owned(),
                        stack.to_owned(),
                    )])),
                    data: Some(base64::engine::general_purpose::STANDARD.encode(&data)),
                    ..Default::default()
                };
                docker
                    .create_secret(spec)
                    .await
                    .with_context(|| format!("cannot create the Swarm secret for `{name}`"))?
                    .id
            }
        };
        ids.insert(name.clone(), (id, swarm_name));
    }
    Ok(ids)
}

async fn create_or_update(
    docker: &Docker,
    name: &str,
    spec: bollard::models::ServiceSpec,
) -> anyhow::Result<()> {
    match docker
        .inspect_service(name, None::<InspectServiceOptions>)
        .await
    {
        Ok(existing) => {
            let version = existing
                .version
                .and_then(|v| v.index)
                .context("a service without a version")?;
            docker
                .update_service(
                    name,
                    spec,
                    UpdateServiceOptionsBuilder::new()
                        .version(version as i32)
                        .build(),
                    None,
                )
                .await
                .with_context(|| format!("cannot update service {name}"))?;
        }
        Err(err) if crate::engine::is_not_found(&err) => {
            docker
                .create_service(spec, None)
                .await
                .with_context(|| format!("cannot create service {name}"))?;
        }
        Err(err) => return Err(err).with_context(|| format!("cannot inspect service {name}")),
    }
    Ok(())
}

/// The tasks of one service of the stack, newest first.
pub async fn tasks(
    docker: &Docker,
    stack: &str,
    service: Option<&str>,
) -> anyhow::Result<Vec<Task>> {
    let mut filters = HashMap::from([("label", vec![format!("{NAMESPACE_LABEL}={stack}")])]);
    if let Some(service) = service {
        filters.insert("service", vec![scoped(stack, service)]);
    }
    let mut tasks = docker
        .list_tasks(Some(
            ListTasksOptionsBuilder::new().filters(&filters).build(),
        ))
        .await
        .context("cannot list the stack's tasks")?;
    // `created_at` is a String or a time, by which bollard features the
    // build unifies; comparing by reference works for both.
    #[allow(clippy::unnecessary_sort_by)]
    tasks.sort_by(|a, b| b.created_at.cmp(&a.created_at));
    Ok(tasks)
}

/// The nodes that may run `service`: ready, active, and carrying every
/// `node.labels.X == true` of its constraints.
async fn eligible_nodes(docker: &Docker, constraints: &[String]) -> anyhow::Result<Vec<Node>> {
    let labels: Vec<&str> = constraints
        .iter()
        .filter_map(|c| c.strip_prefix("node.labels.")?.strip_suffix(" == true"))
        .collect();
    let nodes = docker.list_nodes(None::<ListNodesOptions>).await?;
    Ok(nodes
        .into_iter()
        .filter(|n| {
            let ready =
                n.status.as_ref().and_then(|s| s.state) == Some(bollard::models::NodeState::READY);
            let active = n.spec.as_ref().and_then(|s| s.availability)
                == Some(bollard::models::NodeSpecAvailabilityEnum::ACTIVE);
            let carries = labels.iter().all(|l| {
                n.spec
                    .as_ref()
                    .and_then(|s| s.labels.as_ref())
                    .and_then(|m| m.get(*l))
                    .map(String::as_str)
                    == Some("true")
            });
            ready && active && carries
        })
        .collect())
}

/// Waits until every eligible node runs a task of `service` that is
/// running (which, for a service with a health check, Swarm reports only
/// once it is healthy) from `image`. A missing image on a node fails at
/// once, naming the node and the fix.
async fn wait_healthy(
    docker: &Docker,
    stack: &str,
    service: &str,
    image: &str,
    timeout: Duration,
    task: &crate::progress::Task,
) -> anyhow::Result<Vec<String>> {
    let deadline = Instant::now() + timeout;
    let spec = docker
        .inspect_service(&scoped(stack, service), None::<InspectServiceOptions>)
        .await?
        .spec
        .and_then(|s| s.task_template)
        .and_then(|t| t.placement)
        .and_then(|p| p.constraints)
        .unwrap_or_default();
    loop {
        let nodes = eligible_nodes(docker, &spec).await?;
        if nodes.is_empty() {
            bail!(
                "no ready node carries the labels of service `{service}` ({})\n  fix: label a node: `docker node update --label-add LABEL=true NODE`",
                spec.join(", ")
            );
        }
        let tasks = tasks(docker, stack, Some(service)).await?;
        let mut healthy = Vec::new();
        let mut waiting = Vec::new();
        let unique = nodes.iter().map(hostname).collect::<BTreeSet<_>>().len() == nodes.len();
        for node in &nodes {
            let node_id = node.id.clone().unwrap_or_default();
            // Two nodes on one machine share a hostname: name them by ID too.
            let name = if unique {
                hostname(node)
            } else {
                format!("{} ({})", hostname(node), &node_id[..node_id.len().min(12)])
            };
            let latest: Vec<&Task> = tasks
                .iter()
                .filter(|t| t.node_id.as_deref() == Some(node_id.as_str()))
                .collect();
            // Only the newest task counts: an older one may have failed
            // before the images were carried there.
            if let Some(missing) = latest.first().and_then(|t| missing_image(t)) {
                bail!(
                    "node `{name}` cannot run service `{service}`: {missing}; there is no registry to pull it from\n  fix: carry the \
                     stack's images there: `stackctl -p {stack} swarm save-images -o {stack}-images.tar`, copy the file to \
                     that node, run `docker load -i {stack}-images.tar` there, then deploy again"
                );
            }
            let running = latest.first().is_some_and(|t| {
                t.status.as_ref().and_then(|s| s.state) == Some(TaskState::RUNNING)
                    && t.spec
                        .as_ref()
                        .and_then(|s| s.container_spec.as_ref())
                        .and_then(|c| c.image.as_deref())
                        == Some(image)
            });
            if running {
                healthy.push(name);
            } else {
                let state = latest
                    .first()
                    .and_then(|t| t.status.as_ref())
                    .map(|s| {
                        format!(
                            "{}{}",
                            s.state.map(|s| s.to_string()).unwrap_or_default(),
                            s.err
                                .as_deref()
                                .map(|e| format!(": {e}"))
                                .unwrap_or_default()
                        )
                    })
                    .unwrap_or_else(|| "no task yet".to_owned());
                waiting.push(format!("{name} {state}"));
            }
        }
        if waiting.is_empty() {
            return Ok(healthy);
        }
        // Swarm gave up (the restart policy's attempts are spent): no task
        // of the service is meant to run any more.
        let given_up = !tasks.is_empty()
            && tasks
                .iter()
                .all(|t| t.desired_state != Some(TaskState::RUNNING))
            && tasks
                .iter()
                .any(|t| t.status.as_ref().and_then(|s| s.state) == Some(TaskState::FAILED));
        if given_up {
            bail!(
                "service `{service}` of stack `{stack}` failed and Swarm stopped restarting it (its restart policy's attempts are spent): {}\n{}\n  fix: \
                 `stackctl -p {stack} swarm logs {service}` shows the whole log; fix the cause and deploy again",
                waiting.join("; "),
                last_lines(docker, stack, service).await
            );
        }
        let failures = tasks
            .iter()
            .filter(|t| t.status.as_ref().and_then(|s| s.state) == Some(TaskState::FAILED))
            .count();
        task.step(&format!(
            "{}/{} node(s) healthy; waiting for {}{}",
            healthy.len(),
            nodes.len(),
            waiting.join(", "),
            if failures > 0 {
                format!(" ({failures} failed task(s))")
            } else {
                String::new()
            }
        ));
        if Instant::now() > deadline {
            bail!(
                "service `{service}` of stack `{stack}` is not running and healthy on every node after {}s: {}\n  fix: \
                 `stackctl -p {stack} swarm ps` and `stackctl -p {stack} swarm logs {service}` show why",
                timeout.as_secs(),
                waiting.join("; ")
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The last lines the service's tasks logged, for an error message.
async fn last_lines(docker: &Docker, stack: &str, service: &str) -> String {
    use futures_util::StreamExt as _;
    let options = bollard::query_parameters::LogsOptionsBuilder::default()
        .stdout(true)
        .stderr(true)
        .tail("5")
        .build();
    let mut stream = docker.service_logs(&scoped(stack, service), Some(options));
    let mut lines = Vec::new();
    while let Some(Ok(chunk)) = stream.next().await {
        lines.extend(
            String::from_utf8_lossy(&chunk.into_bytes())
                .lines()
                .map(|l| format!("  | {l}")),
        );
    }
    if lines.is_empty() {
        "  (no log lines)".to_owned()
    } else {
        lines.join("\n")
    }
}

/// The "No such image" error of a task, if that is why it failed.
fn missing_image(task: &Task) -> Option<String> {
    let err = task.status.as_ref()?.err.as_deref()?;
    (err.contains("No such image")
        || err.contains("pull access denied")
        || err.contains("not found"))
    .then(|| err.to_owned())
}

/// Removes the stack: its services (each task gets its stop grace period;
/// the firewall agent removes its rules on SIGTERM), secrets, the node
/// labels it set and, with `volumes`, its volumes on this node. Returns
/// what was removed.
pub async fn remove(
    docker: &Docker,
    project: &Project,
    volumes: bool,
) -> anyhow::Result<Vec<String>> {
    let stack = &project.name;
    let filter = HashMap::from([("label", vec![format!("{NAMESPACE_LABEL}={stack}")])]);
    let mut removed = Vec::new();
    let services = docker
        .list_services(Some(
            ListServicesOptionsBuilder::new().filters(&filter).build(),
        ))
        .await
        .context("cannot list the swarm's services")?;
    for service in &services {
        if let Some(name) = service.spec.as_ref().and_then(|s| s.name.clone()) {
            docker
                .delete_service(&name)
                .await
                .with_context(|| format!("cannot remove service {name}"))?;
            removed.push(format!("service {name}"));
        }
    }
    // Wait for the tasks' containers to stop, so the agent's rules are gone
    // and the volumes are free.
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let left = docker
            .list_containers(Some(
                bollard::query_parameters::ListContainersOptionsBuilder::new()
                    .all(true)
                    .filters(&HashMap::from([(
                        "label",
                        vec![format!("{NAMESPACE_LABEL}={stack}")],
                    )]))
                    .build(),
            ))
            .await?;
        if left.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let secrets = docker
        .list_secrets(Some(
            ListSecretsOptionsBuilder::new().filters(&filter).build(),
        ))
        .await?;
    for secret in secrets {
        if let Some(id) = secret.id {
            docker.delete_secret(&id).await?;
            removed.push(format!(
                "secret {}",
                secret.spec.and_then(|s| s.name).unwrap_or(id)
            ));
        }
    }
    let prefix = format!("stackctl.{stack}.");
    for node in docker.list_nodes(None::<ListNodesOptions>).await? {
        let ours: Vec<String> = node
            .spec
            .as_ref()
            .and_then(|s| s.labels.as_ref())
            .map(|m| {
                m.keys()
                    .filter(|k| k.starts_with(&prefix))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        if !ours.is_empty() {
            label_node(docker, &node, ours.iter(), false).await?;
            removed.push(format!(
                "labels {} of node {}",
                ours.join(", "),
                hostname(&node)
            ));
        }
    }
    if volumes {
        for volume in project.model.volumes.keys() {
            let name = scoped(stack, volume);
            match docker
                .remove_volume(
                    &name,
                    None::<bollard::query_parameters::RemoveVolumeOptions>,
                )
                .await
            {
                Ok(()) => removed.push(format!("volume {name}")),
                Err(err) if crate::engine::is_not_found(&err) => {}
                Err(err) => {
                    return Err(err).with_context(|| format!("cannot remove volume {name}"));
                }
            }
        }
    }
    Ok(removed)
}

/// One task as `swarm ps` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TaskRow {
    pub service: String,
    pub node: String,
    pub desired: String,
    pub state: String,
    pub image: String,
    /// The task's container on this node, if it has one here.
    pub container: Option<String>,
    pub error: Option<String>,
}

/// The current tasks of the stack (the newest per service and node).
pub async fn ps(docker: &Docker, stack: &str) -> anyhow::Result<Vec<TaskRow>> {
    let nodes: BTreeMap<String, String> = docker
        .list_nodes(None::<ListNodesOptions>)
        .await?
        .iter()
        .map(|n| (n.id.clone().unwrap_or_default(), hostname(n)))
        .collect();
    let services: BTreeMap<String, String> = docker
        .list_services(Some(
            ListServicesOptionsBuilder::new()
                .filters(&HashMap::from([(
                    "label",
                    vec![format!("{NAMESPACE_LABEL}={stack}")],
                )]))
                .build(),
        ))
        .await?
        .into_iter()
        .filter_map(|s| Some((s.id?, s.spec?.name?)))
        .collect();
    let mut seen = BTreeSet::new();
    let mut rows = Vec::new();
    for task in tasks(docker, stack, None).await? {
        let service = task
            .service_id
            .as_ref()
            .and_then(|id| services.get(id))
            .map(|n| n.strip_prefix(&format!("{stack}_")).unwrap_or(n).to_owned())
            .unwrap_or_default();
        let node = task.node_id.clone().unwrap_or_default();
        if !seen.insert((service.clone(), node.clone())) {
            continue;
        }
        let status = task.status.clone().unwrap_or_default();
        rows.push(TaskRow {
            service,
            node: nodes.get(&node).cloned().unwrap_or(node),
            desired: task
                .desired_state
                .map(|s| s.to_string())
                .unwrap_or_default(),
            state: status.state.map(|s| s.to_string()).unwrap_or_default(),
            image: task
                .spec
                .and_then(|s| s.container_spec)
                .and_then(|c| c.image)
                .unwrap_or_default(),
            container: status.container_status.and_then(|c| c.container_id),
            error: status.err.filter(|e| !e.is_empty()),
        });
    }
    rows.sort_by(|a, b| (&a.service, &a.node).cmp(&(&b.service, &b.node)));
    Ok(rows)
}

/// Writes every image the stack runs (by pinned ID, tagged as built) to one
/// tar file for `docker load` on another node.
pub async fn save_images(
    docker: &Docker,
    project: &Project,
    output: &std::path::Path,
    progress: &Progress,
) -> anyhow::Result<Vec<String>> {
    use futures_util::StreamExt as _;
    use tokio::io::AsyncWriteExt as _;
    let export = export::prepare_swarm(
        docker,
        project,
        &project.name,
        &BuildOptions::default(),
        progress,
    )
    .await?;
    let mut names = Vec::new();
    for id in export.images.values() {
        let image = docker.inspect_image(id).await?;
        // A tag makes the loaded image readable in `docker images`; the ID is what runs.
        names.push(
            image
                .repo_tags
                .and_then(|t| t.into_iter().next())
                .unwrap_or_else(|| id.clone()),
        );
    }
    names.sort();
    names.dedup();
    let mut stream = docker.export_images(&names.iter().map(String::as_str).collect::<Vec<_>>());
    let mut file = tokio::fs::File::create(output)
        .await
        .with_context(|| format!("cannot create {}", output.display()))?;
    while let Some(chunk) = stream.next().await {
        file.write_all(&chunk.context("the engine stopped sending the images")?)
            .await?;
    }
    file.flush().await?;
    Ok(names)
}
