//! `stackctl audit`: the CIS Docker Benchmark v1.6.0 container checks a
//! Compose file can express, and the pitfalls of host networking, judged on
//! any Compose file (static) or on the running stack (live: the engine's
//! inspect data and the sockets listening in the host's network namespace).
//!
//! Both modes turn each service into the same [`subject::Subject`] facts,
//! so the same checks (`cis`, `pitfalls`) run on both and a healthy
//! stack audits the same live as on paper. Findings can be accepted risks
//! ([`accept`]), listed with the compensating [`controls`] in place; the
//! report renders for people, as JSON or as SARIF ([`render`]).

pub mod accept;
pub mod catalog;
mod cis;
pub mod controls;
pub mod finding;
pub mod host;
pub mod live;

pub use live::audit_live;
mod pitfalls;
pub mod render;
mod sensitive;
pub mod subject;

use crate::compose::Project;
use crate::compose::positions::KeyPath;

pub use finding::{Finding, Mode, Report, Severity};
use subject::Subject;

/// A finding and the key it is about, relative to its service.
pub(crate) type Raw = (Finding, KeyPath);

/// Audits the Compose file alone.
pub fn audit_static(project: &Project) -> anyhow::Result<Report> {
    let subjects: Vec<Subject> = project
        .model
        .services
        .iter()
        .map(|(name, service)| subject::from_compose(project, name, service))
        .collect();
    report(project, Mode::Static, &subjects, Vec::new())
}

/// Runs every check on `subjects`, adds `extra` findings (the live-only
/// ones), applies the acceptances, and orders the findings.
pub(crate) fn report(
    project: &Project,
    mode: Mode,
    subjects: &[Subject],
    extra: Vec<Raw>,
) -> anyhow::Result<Report> {
    report_with(project, mode, subjects, extra, Vec::new())
}

/// [`report`], with `located` findings that carry their own location (the
/// host checks': a host file, the engine, or a service key already
/// resolved), judged and accepted with the others.
pub(crate) fn report_with(
    project: &Project,
    mode: Mode,
    subjects: &[Subject],
    extra: Vec<Raw>,
    located: Vec<Finding>,
) -> anyhow::Result<Report> {
    let host = !located.is_empty();
    let mut raw = Vec::new();
    for subject in subjects {
        cis::check(subject, &mut raw);
        pitfalls::check(subject, &mut raw);
        sensitive::check(subject, &mut raw);
    }
    raw.extend(extra);
    let mut findings: Vec<Finding> = raw
        .into_iter()
        .map(|(mut finding, key)| {
            let mut path = KeyPath::root().key("services").key(finding.service.clone());
            path.0.extend(key.0);
            finding.location = Some(finding::Location {
                file: project.file.display().to_string(),
                line: project.line_of(&path),
                key: path.to_string(),
            });
            finding
        })
        .chain(located)
        .collect();
    let order = |id: &str| catalog::all().position(|c| c.id == id);
    findings.sort_by(|a, b| {
        (&a.service, std::cmp::Reverse(a.severity), order(a.check)).cmp(&(
            &b.service,
            std::cmp::Reverse(b.severity),
            order(b.check),
        ))
    });
    let mut notes = accept::apply(project, subjects, &mut findings)?;
    if !project.tolerated.is_empty() {
        notes.push(format!(
            "`stackctl up` would refuse this file ({} problem(s); `stackctl config` shows them); the audit reads it anyway",
            project.tolerated.len()
        ));
    }
    let mut services: Vec<String> = project.model.services.keys().cloned().collect();
    if host {
        services.insert(0, host::HOST.to_owned());
    }
    Ok(Report {
        file: project.file.display().to_string(),
        project: project.name.clone(),
        mode,
        host,
        services,
        findings,
        notes,
    })
}
