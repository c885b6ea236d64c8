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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::Severity;
    use crate::scan::Finding;
    use time::macros::date;

    fn report() -> Report {
        Report {
            project: "p".into(),
            sources: Vec::new(),
            scanned: Vec::new(),
            findings: vec![Finding {
                id: "debian:openssl".into(),
                aliases: vec!["CVE-2025-9230".into()],
                severity: Severity::Medium,
                service: "db".into(),
                image: "i".into(),
                component: "dpkg".into(),
                package: "libssl3".into(),
                installed: "1".into(),
                fixed: "2".into(),
                title: "t".into(),
                since: None,
                url: None,
                ignored: None,
            }],
            notes: Vec::new(),
        }
    }

    fn ignore(id: &str, expires: Date) -> Ignore {
        Ignore {
            id: id.into(),
            reason: "no exploit path: the service never parses certificates".into(),
            expires,
            at: "compose.yaml:9".into(),
        }
    }

    #[test]
    fn an_ignore_holds_until_its_expiry_date_and_then_counts_again() {
        let mut r = report();
        apply_on(
            &[ignore("CVE-2025-9230", date!(2026 - 01 - 31))],
            &mut r,
            date!(2026 - 01 - 31),
        );
        assert!(!r.findings[0].is_open(), "ignored on its last day");
        assert_eq!(r.failing(Severity::Medium).count(), 0);
        let mut r = report();
        apply_on(
            &[ignore("debian:openssl", date!(2026 - 01 - 31))],
            &mut r,
            date!(2026 - 02 - 01),
        );
        assert!(r.findings[0].is_open(), "expired");
        assert!(
            r.notes[0].contains("expired on 2026-01-31"),
            "{:?}",
            r.notes
        );
        let mut r = report();
        apply_on(
            &[ignore("RUSTSEC-2000-0001", date!(2030 - 01 - 01))],
            &mut r,
            date!(2026 - 01 - 01),
        );
        assert!(r.findings[0].is_open());
        assert!(r.notes[0].contains("matches nothing"), "{:?}", r.notes);
    }
}
