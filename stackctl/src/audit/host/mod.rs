//! `stackctl audit --host`: what docker-bench-security checks beyond the
//! containers, judged from the Engine API and the host's own files: the
//! host (CIS 1), the daemon (2), its files (3), the services' images (4, with
//! their layers read for setuid/setgid files), swarm mode (5.1, 7), and the
//! runtime checks the engine answers (5.19, 5.23, 5.24, 5.30).
//!
//! [`gather`] reads the system into [`facts::HostFacts`]; the checks
//! (`daemon`, `files`, `images`, `runtime`) only judge those facts,
//! so the parity test runs them on fixtures with known verdicts. The
//! findings join the ordinary report: the same renderers, `--fail-on` and
//! `x-stackctl.accept` (a host finding is accepted on controls that must
//! hold on every service). What cannot be read is a note, never a pass.

pub mod catalog;
mod daemon;
pub mod facts;
mod files;
pub mod gather;
mod images;
pub mod parity;
mod runtime;

use bollard::Docker;

use super::catalog::Check;
use super::finding::{Finding, Location, Mode, Report, Severity};
use super::subject::Subject;
use crate::compose::Project;
use crate::compose::positions::KeyPath;
pub use daemon::PROXY_COST;
use facts::HostFacts;

/// The group of the report that holds the host's findings (not a valid
/// Compose service name, so it cannot clash with one).
pub const HOST: &str = "(host)";

/// Where a host finding points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// A file of the host (`/etc/docker/daemon.json`).
    File(String),
    /// What the engine reports (`/info LiveRestoreEnabled`).
    Engine(String),
    /// A service's key in the Compose file (its image, its user).
    Service(String, KeyPath),
}

/// What the checks produce: findings with their places, and notes.
#[derive(Debug, Default)]
pub struct Out {
    pub findings: Vec<(Finding, Place)>,
    pub notes: Vec<String>,
}

impl Out {
    fn push(
        &mut self,
        check: &Check,
        severity: Severity,
        place: Place,
        message: String,
        fix: &str,
    ) {
        let service = match &place {
            Place::Service(service, _) => service.clone(),
            _ => HOST.to_owned(),
        };
        self.findings
            .push((Finding::new(check, severity, &service, message, fix), place));
    }

    fn note(&mut self, note: String) {
        self.notes.push(note);
    }
}

/// Runs every host check on `facts`; `subjects` are the services as the
/// ordinary audit sees them (for the controls an image finding depends on).
pub fn judge(facts: &HostFacts, subjects: &[Subject]) -> Out {
    let mut out = Out::default();
    files::check(facts, &mut out);
    daemon::check(facts, &mut out);
    images::check(facts, subjects, &mut out);
    runtime::check(facts, &mut out);
    out
}

/// The findings of `out` located: host files and engine facts as they are,
/// service keys at their line in the Compose file.
fn locate(project: &Project, out: Out) -> (Vec<Finding>, Vec<String>) {
    let findings = out
        .findings
        .into_iter()
        .map(|(mut finding, place)| {
            finding.location = match place {
                Place::File(path) => Some(Location {
                    file: path,
                    line: None,
                    key: String::new(),
                }),
                Place::Engine(what) => Some(Location {
                    file: "docker engine".to_owned(),
                    line: None,
                    key: what,
                }),
                Place::Service(service, key) => {
                    let mut path = KeyPath::root().key("services").key(service);
                    path.0.extend(key.0);
                    Some(Location {
                        file: project.file.display().to_string(),
                        line: project.line_of(&path),
                        key: path.to_string(),
                    })
                }
            };
            finding
        })
        .collect();
    (findings, out.notes)
}

/// The audit of `project` (its file, or its running containers with
/// `live`) with the host's checks added.
pub async fn audit(docker: &Docker, project: &Project, live: bool) -> anyhow::Result<Report> {
    let (subjects, extra, mut notes) = if live {
        super::live::collect(docker, project).await?
    } else {
        let subjects: Vec<Subject> = project
            .model
            .services
            .iter()
            .map(|(name, service)| super::subject::from_compose(project, name, service))
            .collect();
        (subjects, Vec::new(), Vec::new())
    };
    let facts = gather::gather(docker, project, &subjects).await;
    let (located, host_notes) = locate(project, judge(&facts, &subjects));
    notes.extend(host_notes);
    let mode = if live { Mode::Live } else { Mode::Static };
    let mut report = super::report_with(project, mode, &subjects, extra, located)?;
    report.host = true;
    if !report.services.iter().any(|s| s == HOST) {
        report.services.insert(0, HOST.to_owned());
    }
    report.notes.extend(notes);
    Ok(report)
}
