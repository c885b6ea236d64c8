//! Vulnerabilities left in place on purpose: `x-stackctl.scan.ignore`
//! entries, each with an id, a reason and an expiry date. An ignored finding
//! is still reported, marked ignored with its reason; after its expiry date
//! it counts again, and the report says the ignore has expired. An entry
//! without a reason or a valid date is an error with its file and line.

use anyhow::bail;
use time::Date;
use time::macros::format_description;

use super::{Ignored, Report};
use crate::compose::Project;
use crate::compose::extension::KEY;
use crate::compose::positions::KeyPath;

/// One checked ignore.
#[derive(Debug, Clone)]
pub struct Ignore {
    pub id: String,
    pub reason: String,
    pub expires: Date,
    /// `FILE:LINE` of the entry, for notes.
    pub at: String,
}

/// The file's ignores, checked.
pub fn load(project: &Project) -> anyhow::Result<Vec<Ignore>> {
    let Some(scan) = &project.extension.scan else {
        return Ok(Vec::new());
    };
    let format = format_description!("[year]-[month]-[day]");
    let mut out = Vec::new();
    for (i, entry) in scan.ignore.iter().enumerate() {
        let path = KeyPath::root().key(KEY).key("scan").key("ignore").index(i);
        let at = match project.line_of(&path) {
            Some(line) => format!("{}:{line}", project.file.display()),
            None => project.file.display().to_string(),
        };
        if entry.id.trim().is_empty() {
            bail!(
                "{at}: `{path}` names no id\n  fix: give `id:` a RustSec id (RUSTSEC-2024-0421), a CVE or `debian:SOURCE`"
            );
        }
        if entry.reason.trim().is_empty() {
            bail!(
                "{at}: the ignore of `{}` gives no reason\n  fix: say in `reason:` why it is left in place",
                entry.id
            );
        }
        let Ok(expires) = Date::parse(entry.expires.trim(), format) else {
            bail!(
                "{at}: the ignore of `{}` has {} as its expiry date\n  fix: give `expires: YYYY-MM-DD`, the last day it is ignored",
                entry.id,
                if entry.expires.trim().is_empty() {
                    "nothing".to_owned()
                } else {
                    format!("`{}`", entry.expires)
                }
            );
        };
        out.push(Ignore {
            id: entry.id.trim().to_owned(),
            reason: entry.reason.trim().to_owned(),
            expires,
            at,
        });
    }
    Ok(out)
}

/// Marks the findings an unexpired ignore covers; notes expired ignores and
/// ignores that match nothing.
pub fn apply(ignores: &[Ignore], report: &mut Report) {
    apply_on(ignores, report, time::OffsetDateTime::now_utc().date());
}

/// [`apply`] as of `today`.
pub fn apply_on(ignores: &[Ignore], report: &mut Report, today: Date) {
    for ignore in ignores {
        let mut matched = 0;
        for finding in &mut report.findings {
            let hit = finding.id.eq_ignore_ascii_case(&ignore.id)
                || finding
                    .aliases
                    .iter()
                    .any(|a| a.eq_ignore_ascii_case(&ignore.id));
            if !hit {
                continue;
            }
            matched += 1;
            if ignore.expires >= today {
                finding.ignored = Some(Ignored {
                    reason: ignore.reason.clone(),
                    expires: ignore.expires.to_string(),
                });
            }
        }
        if ignore.expires < today && matched > 0 {
            report.notes.push(format!(
                "{}: the ignore of `{}` expired on {}, so its {matched} finding(s) count again",
                ignore.at, ignore.id, ignore.expires
            ));
        } else if matched == 0 {
            report.notes.push(format!(
                "{}: the ignore of `{}` matches nothing (remove it if the issue is gone)",
                ignore.at, ignore.id
            ));
        }
    }
}
