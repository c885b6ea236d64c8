//! `stackctl verify --swarm`: the same claims on a stack deployed to a
//! swarm, judged by what runs on this node: the tasks' containers (found by
//! the stack's label), their processes in `/proc`, the firewall agent's
//! rules in this host's iptables. A hardening property that the export
//! reports as an accepted loss (no-new-privileges on Swarm) is shown as
//! ACCEPTED, with where it is accepted, never as a pass; one that is lost
//! and not accepted fails.

use bollard::Docker;

use super::{Check, Group, Outcome, Report, hardening, isolation};
use crate::compose::Project;
use crate::export::fidelity::{LossStatus, Outcome as Fidelity, Report as FidelityReport};
use crate::export::swarm::AGENT_SERVICE;
use crate::stack::{self, Existing};
use crate::swarm::spec::NAMESPACE_LABEL;

/// Hardening properties an export loss explains: the loss id and the
/// property names (engine and kernel views) it covers.
const EXPLAINED: &[(&str, &[&str])] = &[(
    "swarm:no-new-privileges",
    &["no-new-privileges", "kernel: no_new_privs set"],
)];

/// The stack's task containers on this node, by service (`STACK_db` -> `db`).
pub async fn task_containers(docker: &Docker, stack: &str) -> anyhow::Result<Vec<Existing>> {
    let prefix = format!("{stack}_");
    stack::containers_where(docker, &format!("{NAMESPACE_LABEL}={stack}"), &|labels| {
        labels
            .get("com.docker.swarm.service.name")
            .map(|s| s.strip_prefix(&prefix).unwrap_or(s).to_owned())
            .unwrap_or_default()
    })
    .await
}

/// Every claim on the stack `project.name` as deployed to the swarm, with
/// `fidelity` (the export's judged report) deciding which failed hardening
/// properties are accepted losses.
pub async fn verify_swarm(
    docker: &Docker,
    project: &Project,
    fidelity: &FidelityReport,
) -> anyhow::Result<Report> {
    let all = task_containers(docker, &project.name).await?;
    // The newest running container of each service (older tasks' stay as exited).
    let mut containers: Vec<Existing> = Vec::new();
    for c in all {
        match containers.iter_mut().find(|e| e.service == c.service) {
            Some(existing) if !existing.running && c.running => *existing = c,
            Some(_) => {}
            None => containers.push(c),
        }
    }
    let mut checks = Vec::new();
    super::reachability(project, &containers, &mut checks).await;
    let inputs =
        isolation::Inputs::of(project, &|service| super::not_running(service, &containers));
    let cancel = super::CancelOnDrop(std::sync::Arc::new(std::sync::atomic::AtomicBool::new(
        false,
    )));
    let cancelled = cancel.0.clone();
    checks
        .extend(tokio::task::spawn_blocking(move || isolation::check(&inputs, &cancelled)).await?);
    agent_check(project, &containers, &mut checks);
    for service in project.model.services.keys() {
        hardening_of(docker, service, &containers, fidelity, &mut checks).await;
    }
    Ok(Report {
        project: project.name.clone(),
        checks,
    })
}

/// The firewall agent runs healthy on this node and the stack's rules are
/// installed here.
fn agent_check(project: &Project, containers: &[Existing], checks: &mut Vec<Check>) {
    let claim = "the firewall agent runs here and its rules are installed".to_owned();
    let agent = containers
        .iter()
        .find(|c| c.service == AGENT_SERVICE && c.running);
    let (outcome, detail) = match (agent, crate::firewall::plan(project)) {
        (None, _) => (
            Outcome::Fail,
            format!("no running `{AGENT_SERVICE}` task on this node"),
        ),
        (_, Err(err)) => (
            Outcome::Fail,
            format!("cannot tell what the rules should be: {err:#}"),
        ),
        (Some(agent), Ok(plan)) => match crate::swarm::agent::in_place(&plan) {
            Ok(()) => (
                Outcome::Pass,
                format!(
                    "{} {}; chain {} with {} allowances and {} rejects",
                    agent.name,
                    agent.health.as_deref().unwrap_or("(no health check)"),
                    plan.chain,
                    plan.allow.len(),
                    plan.deny.len()
                ),
            ),
            Err(why) if why.contains("failed") || why.contains("cannot run") => (
                Outcome::Skip,
                format!("cannot read the firewall here: {why}"),
            ),
            Err(why) => (Outcome::Fail, why),
        },
    };
    checks.push(Check {
        group: Group::Isolation,
        service: AGENT_SERVICE.to_owned(),
        claim,
        outcome,
        detail,
    });
}

/// The hardening of one service's task here, property by property, with
/// the properties an accepted loss explains shown as accepted.
async fn hardening_of(
    docker: &Docker,
    service: &str,
    containers: &[Existing],
    fidelity: &FidelityReport,
    checks: &mut Vec<Check>,
) {
    let check = |claim: String, outcome, detail: String| Check {
        group: Group::Hardening,
        service: service.to_owned(),
        claim,
        outcome,
        detail,
    };
    let Some(container) = containers
        .iter()
        .find(|c| c.service == service && c.running)
    else {
        checks.push(check(
            "hardened as exported".into(),
            Outcome::Fail,
            super::not_running(service, containers)
                .unwrap_or_else(|| "no running task on this node".into()),
        ));
        return;
    };
    let inspected = match docker.inspect_container(&container.id, None).await {
        Ok(inspected) => inspected,
        Err(err) => {
            checks.push(check(
                "hardened as exported".into(),
                Outcome::Fail,
                format!("cannot inspect {}: {err}", container.name),
            ));
            return;
        }
    };
    let properties = hardening::properties(&inspected);
    if !properties.iter().any(|p| p.name.starts_with("kernel:")) {
        checks.push(check(
            "kernel: hardening applied".into(),
            Outcome::Skip,
            "the task's process is not visible here (needs root)".into(),
        ));
    }
    let mut held = Vec::new();
    for p in &properties {
        if p.holds {
            held.push(format!("{}: {}", p.name, p.seen));
            continue;
        }
        let (outcome, detail) = match accepted_loss(service, p.name, fidelity) {
            Some(Ok(at)) => (
                Outcome::Accepted,
                format!("{}; an accepted loss on Swarm ({at})", p.seen),
            ),
            Some(Err(why)) => (
                Outcome::Fail,
                format!("{}; lost on Swarm and not accepted: {why}", p.seen),
            ),
            None => (Outcome::Fail, p.seen.clone()),
        };
        checks.push(check(p.name.to_owned(), outcome, detail));
    }
    checks.push(check(
        format!("{} properties hold", held.len()),
        Outcome::Pass,
        held.join("; "),
    ));
}

/// Whether the export lost `property` of `service` on Swarm: `Ok(where
/// it is accepted)`, `Err(why it is not)`, or `None` when no loss explains it.
fn accepted_loss(
    service: &str,
    property: &str,
    fidelity: &FidelityReport,
) -> Option<Result<String, String>> {
    let (loss_id, _) = EXPLAINED
        .iter()
        .find(|(_, names)| names.contains(&property))?;
    fidelity
        .entries
        .iter()
        .filter(|e| e.service == service)
        .find_map(|e| match &e.outcome {
            Fidelity::Lost { loss, status, .. } if loss == loss_id => Some(match status {
                LossStatus::Accepted { at, .. } => Ok(format!("{loss}, accepted in {at}")),
                LossStatus::Void { why } => Err(why.clone()),
                LossStatus::Open => Err(format!("`{loss}` is not in `x-stackctl.accept`")),
            }),
            _ => None,
        })
}
