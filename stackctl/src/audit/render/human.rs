//! The report for people: findings grouped by service, most severe first,
//! each with its check id and title, where it is, and the fix in one line;
//! accepted risks with their reason and the controls in place.

use std::io::{self, Write};

use crate::audit::finding::{Mode, Report, Severity};

/// Writes the report; `threshold` is what `--fail-on` judges against.
pub fn write(report: &Report, threshold: Option<Severity>, out: &mut dyn Write) -> io::Result<()> {
    let mode = match report.mode {
        Mode::Static => "static: the Compose file",
        Mode::Live => "live: the running containers and the host's listening sockets",
    };
    writeln!(
        out,
        "audit of {} (project {}, {mode})\nchecks: CIS Docker Benchmark v1.6.0 and host-network pitfalls\n",
        report.file, report.project
    )?;
    for service in &report.services {
        let findings: Vec<_> = report
            .findings
            .iter()
            .filter(|f| &f.service == service)
            .collect();
        if findings.is_empty() {
            writeln!(out, "{service}: no findings\n")?;
            continue;
        }
        writeln!(out, "{service}")?;
        for f in findings {
            let label = match (&f.accepted, &f.acceptance_void) {
                (Some(_), _) => format!("accepted {}", f.severity),
                (None, _) => f.severity.to_string(),
            };
            writeln!(out, "  [{label}] {} {}", f.check, f.title)?;
            let at = f
                .location
                .as_ref()
                .map(|l| match l.line {
                    Some(line) => format!("{}:{line}  ", l.file),
                    None => format!("{}  ", l.file),
                })
                .unwrap_or_default();
            writeln!(out, "      {at}{}", f.message)?;
            match &f.accepted {
                Some(accepted) => {
                    writeln!(out, "      accepted risk: {}", accepted.reason)?;
                    writeln!(
                        out,
                        "      controls in place: {}",
                        accepted.controls_in_place.join("; ")
                    )?;
                    if !accepted.controls_missing.is_empty() {
                        writeln!(
                            out,
                            "      controls not in place: {}",
                            accepted.controls_missing.join("; ")
                        )?;
                    }
                }
                None => {
                    if let Some(void) = &f.acceptance_void {
                        writeln!(out, "      acceptance void: {void}")?;
                    }
                    writeln!(out, "      fix: {}", f.fix)?;
                }
            }
        }
        writeln!(out)?;
    }
    for note in &report.notes {
        writeln!(out, "note: {note}")?;
    }
    let counts: Vec<String> = report
        .counts()
        .iter()
        .map(|(severity, n)| format!("{n} {severity}"))
        .collect();
    writeln!(
        out,
        "summary: {} open; {} accepted",
        counts.join(", "),
        report.accepted()
    )?;
    match threshold {
        None => writeln!(out, "result: not judged (--fail-on none)")?,
        Some(t) => {
            let failing = report.failing(t).count();
            if failing == 0 {
                writeln!(out, "result: passed (no open finding at {t} or above)")?;
            } else {
                writeln!(
                    out,
                    "result: FAILED ({failing} open finding(s) at {t} or above)"
                )?;
            }
        }
    }
    Ok(())
}
