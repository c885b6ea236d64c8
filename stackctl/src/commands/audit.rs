//! `stackctl audit`: loads any Compose file (also one `up` would refuse),
//! audits it, or the running stack with `--live`, writes the report in the
//! chosen format and fails when an open finding reaches `--fail-on`.

use std::io::Write;

use anyhow::bail;

use crate::audit::{self, Severity, catalog, controls, render};
use crate::cli::{AuditFormat, Cli, Command, FailOn};
use crate::compose::Project;
use crate::engine;

pub(crate) async fn run(cli: Cli, out: &mut dyn Write) -> anyhow::Result<()> {
    let Command::Audit {
        live,
        host,
        format,
        fail_on,
        list_checks,
    } = cli.command
    else {
        unreachable!("dispatched on Command::Audit")
    };
    if list_checks {
        return write_checks(out);
    }
    let mut project = Project::load_for_audit(&cli.file)?;
    for warning in &project.warnings {
        eprintln!("warning: {warning}");
    }
    if let Some(name) = &cli.project_name {
        project.rename(name);
    }
    let report = if host {
        let docker = engine::connect().await?;
        audit::host::audit(&docker, &project, live).await?
    } else if live {
        let docker = engine::connect().await?;
        audit::live::audit_live(&docker, &project).await?
    } else {
        audit::audit_static(&project)?
    };
    let threshold = threshold(fail_on);
    match format {
        AuditFormat::Human => render::human::write(&report, threshold, out)?,
        AuditFormat::Json => render::json::write(&report, threshold, out)?,
        AuditFormat::Sarif => render::sarif::write(&report, out)?,
    }
    out.flush()?;
    if let Some(t) = threshold {
        let failing = report.failing(t).count();
        if failing > 0 {
            bail!(
                "audit failed: {failing} open finding(s) at {t} or above\n  fix: apply the fixes above, or accept a deliberate risk in `x-stackctl.accept` with its reason"
            );
        }
    }
    Ok(())
}

/// The severity `--fail-on` names (`None` for `none`).
pub(crate) fn threshold(fail_on: FailOn) -> Option<Severity> {
    match fail_on {
        FailOn::Info => Some(Severity::Info),
        FailOn::Low => Some(Severity::Low),
        FailOn::Medium => Some(Severity::Medium),
        FailOn::High => Some(Severity::High),
        FailOn::Critical => Some(Severity::Critical),
        FailOn::None => None,
    }
}

fn write_checks(out: &mut dyn Write) -> anyhow::Result<()> {
    writeln!(out, "{:<13} {:<9} TITLE", "CHECK", "SEVERITY")?;
    for check in catalog::all() {
        let live = if check.live_only {
            " (--live only)"
        } else if audit::host::catalog::CHECKS.contains(check) {
            " (--host)"
        } else {
            ""
        };
        writeln!(
            out,
            "{:<13} {:<9} {}{live}",
            check.id, check.severity, check.title
        )?;
    }
    writeln!(
        out,
        "\ncontrols an `x-stackctl.accept` entry can rely on: {}",
        controls::CONTROLS
            .iter()
            .map(|c| c.name)
            .collect::<Vec<_>>()
            .join(", ")
    )?;
    Ok(())
}
