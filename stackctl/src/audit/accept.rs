//! Accepted risks: `x-stackctl.accept` entries (on a service, or at the top
//! of the file for several services) matched to findings. An accepted
//! finding is still reported, with the reason and the compensating controls
//! found in place; a control the entry relies on that is not in place voids
//! it, and a malformed entry is an error, never silently ignored.

use anyhow::bail;

use super::catalog;
use super::controls;
use super::finding::{Accepted, Finding, Severity};
use super::subject::Subject;
use crate::compose::Project;
use crate::compose::extension::{Acceptance, KEY};
use crate::compose::positions::KeyPath;
use crate::export::fidelity;

/// One acceptance, with where it was written.
struct Entry<'a> {
    acceptance: &'a Acceptance,
    path: KeyPath,
    /// The services it covers (`None`: all).
    services: Option<&'a [String]>,
    /// Whether any finding matched it.
    used: bool,
}

/// Checks every acceptance in the file: a known check, a reason, known
/// controls and services.
fn entries(project: &Project) -> anyhow::Result<Vec<Entry<'_>>> {
    let mut entries = Vec::new();
    for (i, acceptance) in project.extension.accept.iter().enumerate() {
        let services = (!acceptance.services.is_empty()).then_some(acceptance.services.as_slice());
        entries.push(Entry {
            acceptance,
            path: KeyPath::root().key(KEY).key("accept").index(i),
            services,
            used: false,
        });
    }
    for (name, extension) in &project.extensions {
        for (i, acceptance) in extension.accept.iter().enumerate() {
            entries.push(Entry {
                acceptance,
                path: KeyPath::root()
                    .key("services")
                    .key(name.clone())
                    .key(KEY)
                    .key("accept")
                    .index(i),
                services: Some(std::slice::from_ref(name)),
                used: false,
            });
        }
    }
    for entry in &entries {
        let at = || at(project, &entry.path);
        let a = entry.acceptance;
        // An export's loss (`swarm:no-new-privileges`) is accepted the same
        // way; its id names a loss kind, not an audit check.
        let export_loss = fidelity::is_loss_id(&a.check);
        if export_loss && fidelity::find_loss(&a.check).is_none() {
            bail!(
                "{}: `{}` is not a loss any export reports\n  fix: use a loss id from `stackctl export swarm`'s report, e.g. \"swarm:no-new-privileges\"",
                at(),
                a.check
            );
        }
        let check = catalog::find(&a.check);
        if !export_loss && check.is_none() {
            bail!(
                "{}: `{}` is not an audit check\n  fix: use an id from `stackctl audit --list-checks`, e.g. \"5.10\" or `plaintext`",
                at(),
                a.check
            );
        }
        if let Some(check) = check
            && check.severity == Severity::Critical
        {
            bail!(
                "{}: `{}` ({}) is a critical check, and a critical risk cannot be accepted: it gives the host away whatever else is in place\n  fix: remove this entry and fix the finding",
                at(),
                check.id,
                check.title
            );
        }
        if a.controls.is_empty() {
            bail!(
                "{}: the acceptance of `{}` names no compensating control, so it would accept the risk unconditionally\n  fix: list in `controls:` what makes up for it, from: {}",
                at(),
                a.check,
                control_names()
            );
        }
        if a.reason.trim().is_empty() {
            bail!(
                "{}: the acceptance of `{}` gives no reason\n  fix: say in `reason:` why the risk is taken",
                at(),
                a.check
            );
        }
        for control in &a.controls {
            if controls::find(control).is_none() {
                bail!(
                    "{}: `{control}` is not a control the audit can verify\n  fix: use one of: {}",
                    at(),
                    control_names()
                );
            }
        }
        for service in a.services.iter() {
            if !project.model.services.contains_key(service) {
                bail!(
                    "{}: `{service}` is not a service of this file\n  fix: name one of its services",
                    at()
                );
            }
        }
    }
    Ok(entries)
}

/// `FILE:LINE: `KEY`` of an entry, for messages.
fn at(project: &Project, path: &KeyPath) -> String {
    match project.line_of(path) {
        Some(line) => format!("{}:{line}: `{path}`", project.file.display()),
        None => format!("{}: `{path}`", project.file.display()),
    }
}

fn control_names() -> String {
    controls::CONTROLS
        .iter()
        .map(|c| c.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Marks the findings that an acceptance covers; returns notes about
/// acceptances that matched nothing.
pub(super) fn apply(
    project: &Project,
    subjects: &[Subject],
    findings: &mut [Finding],
) -> anyhow::Result<Vec<String>> {
    let mut entries = entries(project)?;
    for finding in findings.iter_mut() {
        // A host finding is accepted on the controls of every service.
        let scope: Vec<&Subject> = match subjects.iter().find(|s| s.service == finding.service) {
            Some(subject) => vec![subject],
            None if finding.service == super::host::HOST => subjects.iter().collect(),
            None => continue,
        };
        // A service's own entry wins over a top-level one.
        let mut matching: Vec<&mut Entry> = entries
            .iter_mut()
            .filter(|e| catalog::find(&e.acceptance.check).map(|c| c.id) == Some(finding.check))
            .filter(|e| e.services.is_none_or(|s| s.contains(&finding.service)))
            .collect();
        matching.sort_by_key(|e| e.services.is_none());
        let Some(entry) = matching.into_iter().next() else {
            continue;
        };
        entry.used = true;
        if finding.severity == Severity::Critical {
            finding.acceptance_void = Some(format!(
                "accepted in {}, but this finding is critical, and a critical risk cannot be accepted",
                at(project, &entry.path)
            ));
            continue;
        }
        match judge_controls(entry, &scope) {
            Ok(accepted) => finding.accepted = Some(accepted),
            Err(why) => finding.acceptance_void = Some(why),
        }
    }
    // An entry for a service that was not audited (not running, in a live
    // audit) matched nothing because nothing was looked at, not because the
    // risk is gone.
    let audited = |e: &Entry| match e.services {
        Some(services) => services
            .iter()
            .all(|name| subjects.iter().any(|s| &s.service == name)),
        None => project
            .model
            .services
            .keys()
            .all(|name| subjects.iter().any(|s| &s.service == name)),
    };
    Ok(entries
        .iter()
        .filter(|e| !e.used && audited(e) && !fidelity::is_loss_id(&e.acceptance.check))
        .map(|e| {
            format!(
                "`{}` accepts `{}`, but no finding matches it (remove it if the risk is gone)",
                e.path, e.acceptance.check
            )
        })
        .collect())
}

/// The acceptance's named controls judged on every subject of its `scope`
/// (one service, or every service for a host finding): what the audit
/// reports as accepted, or why the acceptance is void.
fn judge_controls(entry: &Entry, scope: &[&Subject]) -> Result<Accepted, String> {
    if scope.is_empty() {
        return Err(format!(
            "accepted in {} on condition of its controls, but no service was audited to verify them",
            entry.path
        ));
    }
    let missing: Vec<String> = entry
        .acceptance
        .controls
        .iter()
        .filter_map(|name| {
            let control = controls::find(name)?;
            let why: Vec<String> = scope
                .iter()
                .filter_map(|subject| match control.judge(subject) {
                    Ok(_) => None,
                    Err(why) if scope.len() == 1 => Some(why),
                    Err(why) => Some(format!("{}: {why}", subject.service)),
                })
                .collect();
            (!why.is_empty()).then(|| format!("`{name}` ({})", why.join("; ")))
        })
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "accepted in {} on condition of {}, which {} not in place",
            entry.path,
            missing.join(", "),
            if missing.len() == 1 { "is" } else { "are" }
        ));
    }
    let (in_place, missing) = match scope {
        [subject] => controls::judge_all(subject),
        _ => (
            entry
                .acceptance
                .controls
                .iter()
                .map(|name| {
                    let services: Vec<&str> = scope.iter().map(|s| s.service.as_str()).collect();
                    format!("{name} on every service ({})", services.join(", "))
                })
                .collect(),
            Vec::new(),
        ),
    };
    Ok(Accepted {
        reason: entry.acceptance.reason.trim().to_owned(),
        controls_in_place: in_place,
        controls_missing: missing,
    })
}

/// How `x-stackctl.accept` judges one risk of one service outside the
/// audit's own findings (an export's loss, `swarm:no-new-privileges`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Judged {
    /// No acceptance names this risk for this service.
    NotAccepted,
    /// Accepted, every named control in place; `at` is where it is written.
    Accepted { accepted: Accepted, at: String },
    /// Named, but a control it relies on is not in place.
    Void { why: String },
}

/// Judges the risk `check` of `subject`'s service against the file's
/// acceptances, exactly as the audit judges a finding: a service's own
/// entry wins over a top-level one, and every control it names must be in
/// place on `subject`. Every acceptance in the file is validated first, so
/// a malformed one is an error here too.
pub fn judge(project: &Project, subject: &Subject, check: &str) -> anyhow::Result<Judged> {
    let entries = entries(project)?;
    let mut matching: Vec<&Entry> = entries
        .iter()
        .filter(|e| e.acceptance.check == check)
        .filter(|e| e.services.is_none_or(|s| s.contains(&subject.service)))
        .collect();
    matching.sort_by_key(|e| e.services.is_none());
    let Some(entry) = matching.into_iter().next() else {
        return Ok(Judged::NotAccepted);
    };
    Ok(match judge_controls(entry, &[subject]) {
        Ok(accepted) => Judged::Accepted {
            accepted,
            at: at(project, &entry.path),
        },
        Err(why) => Judged::Void { why },
    })
}
