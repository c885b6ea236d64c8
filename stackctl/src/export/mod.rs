//! Exports of `compose.yaml` to orchestrators, which stays the one source
//! of truth. [`fidelity`] is the model every target shares (what each key
//! became, what was lost, whether the loss is accepted); [`swarm`] is the
//! Docker Swarm target and [`kubernetes`] the Kubernetes one; both place
//! the services that talk over loopback together ([`colocation_groups`]). [`prepare_swarm`] gathers what the conversion needs
//! from the engine (built and pinned images, the firewall agent's image
//! and policy, the images' setuid files for the controls) and converts;
//! `stackctl export swarm` writes the result, `stackctl swarm deploy` runs it.

pub mod fidelity;
pub mod kubernetes;
pub mod setuid;
pub mod swarm;

use std::collections::{BTreeMap, BTreeSet};

use bollard::Docker;

use crate::audit::subject::{self, Subject};
use crate::compose::Project;
use crate::compose::extension::EgressHost;
use crate::image::{self, BuildOptions};
use crate::progress::Progress;
use serde_yaml_ng::Value;

/// A converted, judged Swarm export.
#[derive(Debug, Clone)]
pub struct SwarmExport {
    pub stack: String,
    pub converted: swarm::Converted,
    /// Each service's image ID, and the agent's (`firewall-agent`).
    pub images: BTreeMap<String, String>,
}

/// Builds what is stale, pins the images (as `up` does), builds the
/// firewall agent when a service has an egress policy, reads each image's
/// setuid and setgid files, converts `project` for the stack `stack`, and
/// judges the losses. Refused input is an error with file:line; an open
/// loss is not an error here: the caller reads [`fidelity::Report::passed`].
pub async fn prepare_swarm(
    docker: &Docker,
    project: &Project,
    stack: &str,
    build: &BuildOptions,
    progress: &Progress,
) -> anyhow::Result<SwarmExport> {
    let all: BTreeSet<String> = project.model.services.keys().cloned().collect();
    crate::secrets::ensure_and_say(project, &all, progress)?;
    // Every service that has a `build` (none given means all of them).
    let built = image::build(docker, project, &[], build, progress).await?;
    let order: Vec<String> = all.iter().cloned().collect();
    let mut images =
        crate::stack::up::pinned_images(docker, project, &order, &built, progress).await?;
    let agent = match swarm_policy(project)? {
        Some(policy) => {
            let built = crate::swarm::agent::build_image(docker, &project.dir, progress).await?;
            images.insert(swarm::AGENT_SERVICE.to_owned(), built.id.clone());
            Some(swarm::AgentInputs {
                image: built.id,
                policy,
            })
        }
        None => None,
    };
    let mut subjects = Vec::new();
    for (name, service) in &project.model.services {
        let mut facts: Subject = subject::from_compose(project, name, service);
        facts.setuid_files = Some(setuid::files(docker, &images[name]).await?);
        swarm::as_deployed(&mut facts);
        subjects.push(facts);
    }
    let inputs = swarm::Inputs {
        stack: stack.to_owned(),
        images: images.clone(),
        agent,
    };
    let mut converted = swarm::convert(project, &inputs)?;
    converted.report.finish(project, &subjects)?;
    Ok(SwarmExport {
        stack: stack.to_owned(),
        converted,
        images,
    })
}

/// Builds what is stale of `project`'s images, and the firewall agent's
/// when `agent` (for `export kubernetes --build`, whose manifests name the
/// images the nodes must load).
pub async fn build_images(
    project: &Project,
    agent: bool,
    build: &BuildOptions,
    progress: &Progress,
) -> anyhow::Result<()> {
    let docker = crate::engine::connect().await?;
    let to_build: Vec<String> = project
        .model
        .services
        .iter()
        .filter(|(_, s)| s.build.is_some())
        .map(|(n, _)| n.clone())
        .collect();
    if !to_build.is_empty() {
        image::build(&docker, project, &to_build, build, progress).await?;
    }
    if agent {
        crate::swarm::agent::build_image(&docker, &project.dir, progress).await?;
    }
    Ok(())
}

/// The firewall policy the agent installs, named for the project so that
/// its chain and comments are the stack's own.
fn swarm_policy(project: &Project) -> anyhow::Result<Option<String>> {
    crate::swarm::agent::policy(project)
}

/// Services that reach each other over loopback (an egress rule to
/// localhost or 127.0.0.0/8 on a port another service listens on, or a
/// `depends_on`), grouped; each service maps to its group's name, the first
/// of its members in name order.
pub fn colocation_groups(project: &Project) -> BTreeMap<String, String> {
    let names: Vec<&String> = project.model.services.keys().collect();
    let mut parent: Vec<usize> = (0..names.len()).collect();
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    let index = |name: &str| names.iter().position(|n| *n == name);
    let mut join = |a: usize, b: usize| {
        let (ra, rb) = (root(&mut parent, a), root(&mut parent, b));
        if ra != rb {
            parent[ra.max(rb)] = ra.min(rb);
        }
    };
    for (i, name) in names.iter().enumerate() {
        let service = &project.model.services[*name];
        for dependency in service.depends_on.0.keys() {
            if let Some(j) = index(dependency) {
                join(i, j);
            }
        }
        let egress = project
            .extensions
            .get(*name)
            .and_then(|e| e.egress.clone())
            .unwrap_or_default();
        for rule in egress {
            let loopback = match rule.host {
                EgressHost::Localhost => true,
                EgressHost::Net { addr, .. } => addr.is_loopback(),
            };
            if !loopback {
                continue;
            }
            for (j, other) in names.iter().enumerate() {
                let listens = project
                    .extensions
                    .get(*other)
                    .is_some_and(|e| e.listen.iter().any(|l| l.addr.port() == rule.port));
                if j != i && listens {
                    join(i, j);
                }
            }
        }
    }
    (0..names.len())
        .map(|i| {
            let r = root(&mut parent, i);
            (names[i].clone(), names[r].clone())
        })
        .collect()
}

/// A YAML scalar as text (`"8"`, `8`, `true`), as Compose reads the values
/// of keys it keeps as YAML (`deploy`); `None` for a mapping or a list.
fn scalar(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}
