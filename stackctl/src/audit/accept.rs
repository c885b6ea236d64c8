//! Accepted risks: `x-stackctl.accept` entries (on a service, or at the top
//! of the file for several services) matched to findings. An accepted
//! finding is still reported, with the reason and the compensating controls
//! found in place; a control the entry relies on that is not in place voids
//! it, and a malformed entry is an error, never silently ignored.

use anyhow::bail;

use super::catalog;
use super::controls;
use super::finding::{Accepted, Finding};
use super::subject::Subject;
use crate::compose::Project;
use crate::compose::extension::{Acceptance, KEY};
use crate::compose::positions::KeyPath;

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
        let at = || match project.line_of(&entry.path) {
            Some(line) => format!("{}:{line}: `{}`", project.file.display(), entry.path),
            None => format!("{}: `{}`", project.file.display(), entry.path),
        };
        let a = entry.acceptance;
        if catalog::find(&a.check).is_none() {
            bail!(
                "{}: `{}` is not an audit check\n  fix: use an id from `stackctl audit --list-checks`, e.g. \"5.10\" or `plaintext`",
                at(),
                a.check
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
                    controls::CONTROLS
                        .iter()
                        .map(|c| c.name)
                        .collect::<Vec<_>>()
                        .join(", ")
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

/// Marks the findings that an acceptance covers; returns notes about
/// acceptances that matched nothing.
pub(super) fn apply(
    project: &Project,
    subjects: &[Subject],
    findings: &mut [Finding],
) -> anyhow::Result<Vec<String>> {
    let mut entries = entries(project)?;
    for finding in findings.iter_mut() {
        let Some(subject) = subjects.iter().find(|s| s.service == finding.service) else {
            continue;
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
        let missing: Vec<String> = entry
            .acceptance
            .controls
            .iter()
            .filter_map(|name| {
                let control = controls::find(name)?;
                control
                    .judge(subject)
                    .err()
                    .map(|why| format!("`{name}` ({why})"))
            })
            .collect();
        if !missing.is_empty() {
            finding.acceptance_void = Some(format!(
                "accepted in {} on condition of {}, which {} not in place",
                entry.path,
                missing.join(", "),
                if missing.len() == 1 { "is" } else { "are" }
            ));
            continue;
        }
        let (in_place, missing) = controls::judge_all(subject);
        finding.accepted = Some(Accepted {
            reason: entry.acceptance.reason.trim().to_owned(),
            controls_in_place: in_place,
            controls_missing: missing,
        });
    }
    Ok(entries
        .iter()
        .filter(|e| !e.used)
        .map(|e| {
            format!(
                "`{}` accepts `{}`, but no finding matches it (remove it if the risk is gone)",
                e.path, e.acceptance.check
            )
        })
        .collect())
}
