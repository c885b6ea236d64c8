//! `up`: the whole stack running, hardened and healthy, in one idempotent
//! step. Before anything starts it checks the firewall can be installed and
//! that no other process holds a service's port (common on the host network),
//! then builds what is stale, verifies image pins, creates volumes and the
//! firewall, and brings each service up once its dependencies meet their
//! conditions, independent services concurrently. A service whose
//! configuration and image did not change is left alone.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use anyhow::{Context as _, bail};
use bollard::Docker;
use bollard::models::{ContainerCreateBody, VolumeCreateRequest};
use bollard::query_parameters::{CreateContainerOptionsBuilder, StopContainerOptionsBuilder};
use serde::Serialize;
use tokio::sync::watch;

use super::wait::{self, Status};
use super::{CONFIG_HASH_LABEL, Existing, config_hash, containers};
use crate::compose::Condition;
use crate::compose::Project;
use crate::compose::extension::Endpoint;
use crate::container::{PROJECT_LABEL, container_config, container_name, volume_name};
use crate::image::{self, BuildOptions, base, image_name};
use crate::pins::{self, Pins};
use crate::progress::Progress;
use crate::{firewall, graph, listeners, secrets};

/// Options of `up`.
#[derive(Debug, Clone)]
pub struct UpOptions {
    /// The services to bring up, with their dependencies (all when empty).
    pub services: Vec<String>,
    /// Install the per-service firewall (`--no-firewall` turns it off).
    pub firewall: bool,
    /// How long to wait for each dependency condition and for health.
    pub timeout: Duration,
    pub build: BuildOptions,
}

/// What `up` did to a service's container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    Created,
    Recreated,
    Started,
    Restarted,
    Unchanged,
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Action::Created => "created",
            Action::Recreated => "recreated",
            Action::Started => "started",
            Action::Restarted => "restarted",
            Action::Unchanged => "unchanged",
        })
    }
}

/// One service after `up`.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceReport {
    pub service: String,
    pub container: String,
    pub container_id: String,
    pub action: Action,
    pub state: String,
    pub health: Option<String>,
    pub endpoints: Vec<String>,
}

/// What `up` did.
#[derive(Debug, Clone, Serialize)]
pub struct UpReport {
    pub services: Vec<ServiceReport>,
    pub firewall: bool,
    pub warnings: Vec<String>,
}

/// Brings the project up; see the module documentation.
pub async fn up(
    docker: &Docker,
    project: &Project,
    options: &UpOptions,
    progress: &Progress,
) -> anyhow::Result<UpReport> {
    for name in &options.services {
        project.service(name)?;
    }
    let selected = graph::with_dependencies(&project.model, &options.services);
    let order = graph::start_order(&project.model, &selected);
    let mut warnings = Vec::new();

    // Checked before anything slow: the rules need root, iptables and numeric uids.
    let firewall_plan = if options.firewall {
        firewall::check_available()?;
        Some(firewall::plan(project)?)
    } else {
        let cleared = firewall::check_available().is_ok() && firewall::remove(&project.name)?;
        warnings.push(format!(
            "THE FIREWALL IS OFF (--no-firewall): every service may open connections anywhere, \
             including the database's port{}; run `stackctl up` as root to restore it",
            if cleared {
                " (the rules of an earlier `up` were removed)"
            } else {
                ""
            }
        ));
        let others = if cleared || firewall::check_available().is_ok() {
            firewall::other_projects(&project.name)
        } else {
            Vec::new()
        };
        if !others.is_empty() {
            warnings.push(format!(
                "the firewall of {} polices the same uids: this stack's services will be refused every connection \
                 those stacks do not allow; give this stack its own firewall (as root, without --no-firewall)",
                others.join(", ")
            ));
        }
        None
    };
    let existing = containers(docker, &project.name).await?;
    check_ports_free(docker, project, &order, &existing).await?;
    secrets::ensure_and_say(project, &selected, progress)?;

    let to_build: Vec<String> = order
        .iter()
        .filter(|s| project.model.services[s.as_str()].build.is_some())
        .cloned()
        .collect();
    let built = if to_build.is_empty() {
        Vec::new()
    } else {
        image::build(docker, project, &to_build, &options.build, progress).await?
    };
    let images = pinned_images(docker, project, &order, &built, progress).await?;
    create_volumes(docker, project, &selected).await?;

    if let Some(plan) = &firewall_plan {
        warnings.extend(firewall::install(plan)?);
        for service in &plan.unpoliced {
            warnings.push(format!("service `{service}` declares no `x-stackctl.egress`, so the firewall does not limit it"));
        }
    }

    let mut desired = BTreeMap::new();
    for name in &order {
        let mut config =
            container_config(project, name, &images[name], &|key| std::env::var(key).ok())?;
        let reach: Vec<String> = project
            .extensions
            .get(name)
            .map(|e| e.listen.iter().map(describe_endpoint).collect())
            .unwrap_or_default();
        config
            .labels
            .get_or_insert_with(Default::default)
            .insert(super::REACH_LABEL.to_owned(), reach.join("; "));
        // A secret's new value must reach the service: its file is part of the hash.
        let hash = config_hash(&config) + &secrets::digest(project, name)?;
        config
            .labels
            .get_or_insert_with(Default::default)
            .insert(CONFIG_HASH_LABEL.to_owned(), hash.clone());
        desired.insert(name.clone(), (config, hash));
    }
    let actions = plan_actions(project, &order, &existing, &desired);
    let orphans: Vec<&Existing> = existing
        .iter()
        .filter(|e| !project.model.services.contains_key(&e.service))
        .collect();
    for orphan in orphans {
        warnings.push(format!(
            "container {} belongs to service `{}`, which compose.yaml no longer declares; `stackctl down` removes it",
            orphan.name, orphan.service
        ));
    }

    let services = bring_up(
        docker,
        project,
        &order,
        actions,
        desired,
        options.timeout,
        progress,
    )
    .await?;
    Ok(UpReport {
        services,
        firewall: options.firewall,
        warnings,
    })
}

/// Fails, before anything starts, when another process holds a port a
/// service that is not running yet must bind; the fix names a port that is
/// free now, and the stackctl project whose container holds the port.
async fn check_ports_free(
    docker: &Docker,
    project: &Project,
    order: &[String],
    existing: &[Existing],
) -> anyhow::Result<()> {
    let listening = listeners::listening();
    let mut taken = Vec::new();
    let mut moves = Vec::new();
    for name in order {
        if existing.iter().any(|e| e.service == *name && e.running) {
            continue;
        }
        for endpoint in project
            .extensions
            .get(name)
            .map(|e| e.listen.as_slice())
            .unwrap_or_default()
        {
            let holders = listeners::conflicts(endpoint.addr, &listening);
            for holder in &holders {
                let by = match &holder.process {
                    Some((pid, process)) => {
                        let owner = match listeners::container_of(*pid) {
                            Some(id) => holder_project(docker, &id).await,
                            None => None,
                        };
                        match owner {
                            Some(other) => format!(
                                "process {pid} ({process}, a container of stackctl project `{other}`)"
                            ),
                            None => format!("process {pid} ({process})"),
                        }
                    }
                    None => "a process this user cannot see".to_owned(),
                };
                taken.push(format!(
                    "service `{name}` must listen on port {} ({endpoint}), but {by} already listens on {}",
                    endpoint.addr.port(),
                    holder.addr
                ));
            }
            let port = endpoint.addr.port();
            if holders.is_empty() || moves.iter().any(|(_, busy, _)| *busy == port) {
                continue;
            }
            let variable = project.port_variable(port).map(str::to_owned);
            let free = listeners::free_port_near(endpoint.addr.ip(), port, &listening);
            if let (Some(variable), Some(free)) = (variable, free) {
                moves.push((variable, port, free));
            }
        }
    }
    if !taken.is_empty() {
        bail!(
            "{}\n  fix: {}",
            taken.join("\n"),
            port_fix(&project.name, &moves)
        );
    }
    Ok(())
}

/// The stackctl project of container `id` (its Compose project label).
async fn holder_project(docker: &Docker, id: &str) -> Option<String> {
    let inspected = docker.inspect_container(id, None).await.ok()?;
    inspected.config?.labels?.get(PROJECT_LABEL).cloned()
}

/// The fix for taken ports: each `(variable, busy port, free port)` moved
/// to its free port in one command line.
fn port_fix(project: &str, moves: &[(String, u16, u16)]) -> String {
    let mut fix =
        "on the host network a container binds the host's own ports; stop that process, or give \
                   the service another port"
            .to_owned();
    if !moves.is_empty() {
        let assignments: Vec<String> = moves
            .iter()
            .map(|(variable, _, free)| format!("{variable}={free}"))
            .collect();
        fix.push_str(&format!(
            " (free now: `{} stackctl -p {project} up`)",
            assignments.join(" ")
        ));
    }
    fix.push_str(". Nothing was started.");
    fix
}

/// The image ID each service runs: just built (and pinned), or checked
/// against its pin. Image-only services are pulled if missing.
pub(crate) async fn pinned_images(
    docker: &Docker,
    project: &Project,
    order: &[String],
    built: &[image::Built],
    progress: &Progress,
) -> anyhow::Result<BTreeMap<String, String>> {
    let mut pins = Pins::load(project)?;
    let lock_file = pins::path(project);
    let mut images = BTreeMap::new();
    for name in order {
        let service = project.service(name)?;
        let tag = image_name(project, name, service);
        let id = match built.iter().find(|b| b.service == *name) {
            Some(b) if b.rebuilt => {
                pins.pin(name, &tag, &b.id);
                b.id.clone()
            }
            Some(b) => {
                pins.verify_or_pin(name, &tag, &b.id, &lock_file)?;
                b.id.clone()
            }
            None => {
                let id = base::ensure(docker, &tag, &Default::default(), progress).await?;
                pins.verify_or_pin(name, &tag, &id, &lock_file)?;
                id
            }
        };
        images.insert(name.clone(), id);
    }
    pins.save(project)?;
    Ok(images)
}

/// Creates the named volumes the services use, labelled with the project.
async fn create_volumes(
    docker: &Docker,
    project: &Project,
    selected: &BTreeSet<String>,
) -> anyhow::Result<()> {
    let used: BTreeSet<&String> = selected
        .iter()
        .flat_map(|s| project.model.services[s.as_str()].volumes.iter())
        .filter(|m| m.kind == "volume")
        .filter_map(|m| m.source.as_ref())
        .collect();
    for volume in used {
        if project
            .model
            .volumes
            .get(volume)
            .is_some_and(|v| v.external)
        {
            continue;
        }
        let name = volume_name(project, volume);
        if docker.inspect_volume(&name).await.is_ok() {
            continue;
        }
        docker
            .create_volume(VolumeCreateRequest {
                name: Some(name.clone()),
                labels: Some(
                    [
                        (PROJECT_LABEL.to_owned(), project.name.clone()),
                        ("com.docker.compose.volume".to_owned(), volume.clone()),
                    ]
                    .into(),
                ),
                ..Default::default()
            })
            .await
            .with_context(|| format!("cannot create volume {name}"))?;
    }
    Ok(())
}

/// What to do with each service's container.
fn plan_actions(
    project: &Project,
    order: &[String],
    existing: &[Existing],
    desired: &BTreeMap<String, (ContainerCreateBody, String)>,
) -> BTreeMap<String, Action> {
    let mut actions = BTreeMap::new();
    for name in order {
        let current = existing
            .iter()
            .find(|e| e.service == *name && e.name == container_name(&project.name, name));
        let action = match current {
            None => Action::Created,
            Some(c) if c.config_hash.as_ref() != Some(&desired[name].1) => Action::Recreated,
            Some(c) if !c.running => Action::Started,
            Some(_) => Action::Unchanged,
        };
        actions.insert(name.clone(), action);
    }
    let recreated: Vec<String> = actions
        .iter()
        .filter(|(_, a)| **a == Action::Recreated)
        .map(|(s, _)| s.clone())
        .collect();
    for name in recreated {
        for follower in graph::restart_followers(&project.model, &name) {
            if let Some(action @ Action::Unchanged) = actions.get_mut(&follower) {
                *action = Action::Restarted;
            }
        }
    }
    actions
}

/// Brings every service up, each as soon as its dependencies allow.
async fn bring_up(
    docker: &Docker,
    project: &Project,
    order: &[String],
    actions: BTreeMap<String, Action>,
    desired: BTreeMap<String, (ContainerCreateBody, String)>,
    timeout: Duration,
    progress: &Progress,
) -> anyhow::Result<Vec<ServiceReport>> {
    let mut senders = BTreeMap::new();
    let mut receivers = BTreeMap::new();
    for name in order {
        let (tx, rx) = watch::channel(Status::Pending);
        senders.insert(name.clone(), tx);
        receivers.insert(name.clone(), rx);
    }
    let awaited_exits: BTreeSet<&String> = order
        .iter()
        .flat_map(|name| project.model.services[name.as_str()].depends_on.0.iter())
        .filter(|(_, d)| d.condition == Condition::CompletedSuccessfully)
        .map(|(dep, _)| dep)
        .collect();
    let mut tasks = Vec::new();
    for name in order {
        let service = project.service(name)?;
        let dependencies: Vec<(String, Condition, watch::Receiver<Status>)> = service
            .depends_on
            .0
            .iter()
            .filter_map(|(dep, d)| Some((dep.clone(), d.condition, receivers.get(dep)?.clone())))
            .collect();
        let job = Job {
            docker: docker.clone(),
            service: name.clone(),
            container: container_name(&project.name, name),
            action: actions[name],
            config: desired[name].0.clone(),
            grace: service
                .stop_grace_period
                .map_or(10, |d| d.0.as_secs() as i32),
            endpoints: project
                .extensions
                .get(name)
                .map(|e| e.listen.clone())
                .unwrap_or_default(),
            dependencies,
            await_exit: awaited_exits.contains(name),
            timeout,
            status: senders.remove(name).context("status channel")?,
        };
        let task = progress.task(name);
        tasks.push((
            name.clone(),
            tokio::spawn(async move { job.run(task).await }),
        ));
    }

    let mut reports = Vec::new();
    let mut failures = Vec::new();
    for (name, handle) in tasks {
        match handle.await {
            Ok(Ok(report)) => reports.push(report),
            Ok(Err(failure)) => failures.push(failure),
            Err(err) => failures.push(ServiceFailure::Task {
                service: name,
                message: err.to_string(),
            }),
        }
    }
    if !failures.is_empty() {
        // A dependent's failure only repeats its dependency's; show the causes first.
        failures.sort_by_key(ServiceFailure::is_consequence);
        let messages: Vec<String> = failures.iter().map(ToString::to_string).collect();
        bail!(
            "{}\n  fix: `stackctl logs SERVICE` shows more; what did start is left running for inspection (`stackctl down` stops it)",
            messages.join("\n")
        );
    }
    Ok(reports)
}

/// Why one service did not come up. The printed messages are the ones users
/// know; the variants let `up` order them (causes before consequences).
#[derive(Debug, thiserror::Error)]
enum ServiceFailure {
    /// A dependency never reached its condition, so this service was not
    /// started: a consequence of the dependency's own failure.
    #[error("service `{service}` did not start because {why}")]
    DependencyNotMet { service: String, why: String },
    /// Started, but it exited, turned unhealthy or ran out of time; `details`
    /// are its last log lines and health-check output.
    #[error("service `{service}` failed: {why}\n{details}")]
    DidNotComeUp {
        service: String,
        why: String,
        details: String,
    },
    /// The engine refused to create, start, stop or inspect its container.
    #[error("service `{service}`: the engine refused: {source}")]
    Engine {
        service: String,
        source: bollard::errors::Error,
    },
    /// Its task ended without an answer (a panic).
    #[error("service `{service}`: its task failed: {message}")]
    Task { service: String, message: String },
}

impl ServiceFailure {
    /// True for failures that only follow from another service's.
    fn is_consequence(&self) -> bool {
        matches!(self, ServiceFailure::DependencyNotMet { .. })
    }
}

/// Bringing up one service.
struct Job {
    docker: Docker,
    service: String,
    container: String,
    action: Action,
    config: ContainerCreateBody,
    grace: i32,
    endpoints: Vec<Endpoint>,
    dependencies: Vec<(String, Condition, watch::Receiver<Status>)>,
    /// Whether a dependent waits for this service to complete, so its exit
    /// must be awaited rather than its start.
    await_exit: bool,
    timeout: Duration,
    status: watch::Sender<Status>,
}

/// A service's line once `up` is done with it, e.g. `created, healthy`
/// (the progress line adds the time in parentheses).
fn summary(report: &ServiceReport) -> String {
    format!(
        "{}, {}",
        report.action,
        report.health.as_deref().unwrap_or(&report.state)
    )
}

impl Job {
    async fn run(mut self, task: crate::progress::Task) -> Result<ServiceReport, ServiceFailure> {
        match self.steps(&task).await {
            Ok(report) => {
                task.finish(&summary(&report));
                Ok(report)
            }
            Err(failure) => {
                let message = failure.to_string();
                task.fail(message.lines().next().unwrap_or_default());
                let _ = self.status.send(Status::Failed(message));
                Err(failure)
            }
        }
    }

    async fn steps(
        &mut self,
        task: &crate::progress::Task,
    ) -> Result<ServiceReport, ServiceFailure> {
        let service = self.service.clone();
        let engine = |source: bollard::errors::Error| ServiceFailure::Engine {
            service: service.clone(),
            source,
        };
        // A new container can be made while its dependencies come up; only
        // starting it waits for them.
        if self.action == Action::Created {
            task.step("creating");
            self.create().await.map_err(engine)?;
        }
        for (dependency, condition, receiver) in &mut self.dependencies {
            task.step(&format!("waiting for `{dependency}` to be {condition}"));
            // No clock here: the dependency's own job is bounded by the
            // timeout and always ends with a final status.
            let met = loop {
                if let Some(met) = receiver.borrow().satisfies(*condition) {
                    break met;
                }
                if receiver.changed().await.is_err() {
                    break receiver.borrow().satisfies(*condition).unwrap_or(false);
                }
            };
            if !met {
                let why = match &*receiver.borrow() {
                    Status::Running {
                        has_healthcheck: false,
                    } if *condition == Condition::Healthy => {
                        format!("`{dependency}` has no health check, so it is never {condition}")
                    }
                    Status::Exited(code) => format!(
                        "`{dependency}` exited with code {code} instead of being {condition}"
                    ),
                    Status::Failed(_) => format!("`{dependency}` failed"),
                    other => format!("`{dependency}` was not {condition} ({other:?})"),
                };
                return Err(ServiceFailure::DependencyNotMet { service, why });
            }
        }

        match self.action {
            Action::Unchanged => {}
            Action::Started => {
                task.step("starting");
                self.docker
                    .start_container(&self.container, None)
                    .await
                    .map_err(engine)?;
            }
            Action::Restarted => {
                task.step("restarting after its dependency was recreated");
                let options = bollard::query_parameters::RestartContainerOptionsBuilder::default()
                    .t(self.grace)
                    .build();
                self.docker
                    .restart_container(&self.container, Some(options))
                    .await
                    .map_err(engine)?;
            }
            Action::Created => {
                task.step("starting");
                self.docker
                    .start_container(&self.container, None)
                    .await
                    .map_err(engine)?;
            }
            Action::Recreated => {
                task.step("stopping the old container");
                let stop = StopContainerOptionsBuilder::default().t(self.grace).build();
                let _ = self
                    .docker
                    .stop_container(&self.container, Some(stop))
                    .await;
                let remove = crate::container::remove_options();
                self.docker
                    .remove_container(&self.container, Some(remove))
                    .await
                    .map_err(engine)?;
                task.step("creating");
                self.create().await.map_err(engine)?;
                task.step("starting");
                self.docker
                    .start_container(&self.container, None)
                    .await
                    .map_err(engine)?;
            }
        }

        let status = self.status.clone();
        let outcome = wait::follow(
            &self.docker,
            &self.container,
            self.timeout,
            self.await_exit,
            task,
            |s| {
                let _ = status.send(s);
            },
        )
        .await;
        match outcome {
            Status::Healthy | Status::Running { .. } => {}
            Status::Exited(0) => {}
            failed => {
                let why = match failed {
                    Status::Exited(code) => format!("exited with code {code}"),
                    Status::Failed(why) => why,
                    _ => "did not come up".to_owned(),
                };
                let details = wait::diagnostics(&self.docker, &self.container).await;
                return Err(ServiceFailure::DidNotComeUp {
                    service,
                    why,
                    details,
                });
            }
        }
        let inspected = self
            .docker
            .inspect_container(&self.container, None)
            .await
            .map_err(engine)?;
        let state = inspected.state.unwrap_or_default();
        Ok(ServiceReport {
            service: service.clone(),
            container: self.container.clone(),
            container_id: inspected.id.unwrap_or_default(),
            action: self.action,
            state: state.status.map(|s| s.to_string()).unwrap_or_default(),
            health: state.health.and_then(|h| h.status).map(|s| s.to_string()),
            endpoints: self.endpoints.iter().map(describe_endpoint).collect(),
        })
    }
}

impl Job {
    async fn create(&self) -> Result<(), bollard::errors::Error> {
        let options = CreateContainerOptionsBuilder::default()
            .name(&self.container)
            .build();
        self.docker
            .create_container(Some(options), self.config.clone())
            .await
            .map(drop)
    }
}

/// `http://localhost:3000 (also the LAN, at this host's addresses)`.
pub fn describe_endpoint(endpoint: &Endpoint) -> String {
    let scope = if endpoint.is_loopback() {
        "this host only"
    } else if endpoint.addr.ip().is_unspecified() {
        "also the LAN, at this host's addresses"
    } else {
        "at this address"
    };
    format!("{} ({scope})", endpoint.reach())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "services:\n  api:\n    image: x\n    environment:\n      API_BIND: \"0.0.0.0:${SHOP_API_PORT:-3000}\"\n      DB: \"127.0.0.1:${SHOP_DB_PORT:-3306}\"\n      X: ${SHOP_SECRETS_DIR:-./s}\n";

    #[test]
    fn causes_are_listed_before_the_failures_they_cause() {
        let mut failures = [
            ServiceFailure::DependencyNotMet {
                service: "api".into(),
                why: "`db` failed".into(),
            },
            ServiceFailure::DidNotComeUp {
                service: "db".into(),
                why: "exited with code 1".into(),
                details: String::new(),
            },
        ];
        failures.sort_by_key(ServiceFailure::is_consequence);
        let messages: Vec<String> = failures.iter().map(ToString::to_string).collect();
        assert!(messages[0].starts_with("service `db` failed: exited with code 1"));
        assert_eq!(
            messages[1],
            "service `api` did not start because `db` failed"
        );
    }

    #[test]
    fn a_service_summary_has_one_pair_of_parentheses_at_most() {
        let mut report = ServiceReport {
            service: "db".into(),
            container: "shop-db-1".into(),
            container_id: "abc".into(),
            action: Action::Created,
            state: "running".into(),
            health: Some("healthy".into()),
            endpoints: Vec::new(),
        };
        assert_eq!(summary(&report), "created, healthy");
        report.health = None;
        report.action = Action::Unchanged;
        assert_eq!(summary(&report), "unchanged, running");
    }

    fn project(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Project {
        Project::parse_with(text, std::path::Path::new("compose.yaml"), env).unwrap()
    }

    #[test]
    fn the_variable_of_a_port_is_found_by_its_value() {
        let none = |_: &str| None;
        let p = project(TEXT, &none);
        assert_eq!(p.port_variable(3306), Some("SHOP_DB_PORT"));
        assert_eq!(p.port_variable(3000), Some("SHOP_API_PORT"));
        let api_moved = |key: &str| (key == "SHOP_API_PORT").then(|| "13000".to_owned());
        let p = project(TEXT, &api_moved);
        assert_eq!(p.port_variable(13000), Some("SHOP_API_PORT"));
        assert_eq!(p.port_variable(3000), None);
    }

    #[test]
    fn the_port_hint_suggests_a_free_port_not_the_busy_one() {
        let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let busy = held.local_addr().unwrap().port();
        let text = TEXT.replace("3000", &busy.to_string());
        let variable = project(&text, &|_| None)
            .port_variable(busy)
            .unwrap()
            .to_owned();
        let free =
            listeners::free_port_near("127.0.0.1".parse().unwrap(), busy, &listeners::listening())
                .unwrap();
        let fix = port_fix("newuser2", &[(variable, busy, free)]);
        assert!(
            fix.contains(&format!("`SHOP_API_PORT={free} stackctl -p newuser2 up`")),
            "{fix}"
        );
        assert!(!fix.contains(&format!("={busy} ")), "{fix}");
        assert!(fix.ends_with("Nothing was started."), "{fix}");
    }
}
