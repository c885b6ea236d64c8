//! `stackctl export swarm`: the stack file and its fidelity report. Fails
//! closed: nothing is written while a loss is not accepted.

use std::io::Write;

use anyhow::bail;

use crate::cli::{ExportSwarmArgs, ReportFormat};
use crate::compose::Project;
use crate::engine;
use crate::export::{self, fidelity::Report};
use crate::image::{BootstrapOptions, BuildOptions};
use crate::progress::Progress;

pub(crate) async fn swarm(
    project: &Project,
    args: ExportSwarmArgs,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let docker = engine::connect().await?;
    let build = BuildOptions {
        bootstrap: BootstrapOptions {
            mirror: args.mirror,
        },
        force: false,
    };
    let export =
        export::prepare_swarm(&docker, project, &project.name, &build, &Progress::new()).await?;
    let report = &export.converted.report;
    let yaml = export
        .converted
        .file
        .to_yaml(&export.stack, &export.converted.groups);
    match &args.output {
        Some(path) => {
            write_report(report, args.format, out)?;
            if report.passed() {
                std::fs::write(path, yaml).map_err(|err| {
                    anyhow::anyhow!("cannot write the stack file {}: {err}", path.display())
                })?;
            }
        }
        None => {
            let mut stderr = std::io::stderr();
            write_report(report, args.format, &mut stderr)?;
            if report.passed() {
                out.write_all(yaml.as_bytes())?;
            }
        }
    }
    if !report.passed() {
        bail!(
            "{} loss(es) on Swarm not accepted (listed above); no stack file was written",
            report.open_losses
        );
    }
    Ok(())
}

/// The fidelity report, for people or as JSON.
pub(crate) fn write_report(
    report: &Report,
    format: ReportFormat,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    match format {
        ReportFormat::Human => out.write_all(report.render_human().as_bytes())?,
        ReportFormat::Json => writeln!(out, "{}", serde_json::to_string_pretty(report)?)?,
    }
    Ok(())
}
