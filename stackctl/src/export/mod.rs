//! Exports of `compose.yaml` to orchestrators, which stays the one source
//! of truth. [`fidelity`] is the model every target shares (what each key
//! became, what was lost, whether the loss is accepted); [`swarm`] is the
//! Docker Swarm target. [`prepare_swarm`] gathers what the conversion needs
//! from the engine (built and pinned images, the firewall agent's image
//! and policy, the images' setuid files for the controls) and converts;
//! `stackctl export swarm` writes the result, `stackctl swarm deploy` runs it.

pub mod fidelity;
pub mod setuid;
pub mod swarm;

use std::collections::{BTreeMap, BTreeSet};

use bollard::Docker;

use crate::audit::subject::{self, Subject};
use crate::compose::Project;
use crate::image::{self, BuildOptions};
use crate::progress::Progress;

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
    for path in crate::secrets::ensure(project, &all)? {
        progress.println(&format!(
            "generated a secret in {} (value not shown)",
            path.display()
        ));
    }
    let order: Vec<String> = all.iter().cloned().collect();
    let to_build: Vec<String> = order
        .iter()
        .filter(|s| project.model.services[s.as_str()].build.is_some())
        .cloned()
        .collect();
    let built = if to_build.is_empty() {
        Vec::new()
    } else {
        image::build(docker, project, &to_build, build, progress).await?
    };
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

/// The firewall policy the agent installs, named for the project so that
/// its chain and comments are the stack's own.
fn swarm_policy(project: &Project) -> anyhow::Result<Option<String>> {
    crate::swarm::agent::policy(project)
}
