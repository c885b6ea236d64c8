//! `stackctl verify`: the reachability, isolation and hardening matrix of a
//! running stack, as a table or JSON; an error (and so a non-zero exit)
//! when a claim fails.

use std::io::Write;

use anyhow::bail;

use crate::cli::TableFormat;
use crate::compose::Project;
use crate::engine;
use crate::verify::{Group, Outcome, Report, verify};

pub(crate) async fn run(
    project: &Project,
    format: TableFormat,
    swarm: bool,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let docker = engine::connect().await?;
    // On Ctrl-C the checks stop between probes and remove their namespace
    // before the process exits (the runtime waits for its blocking threads).
    let report = tokio::select! {
        report = judge(&docker, project, swarm) => report?,
        _ = tokio::signal::ctrl_c() => bail!("interrupted; nothing was left behind"),
    };
    match format {
        TableFormat::Json => writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?,
        TableFormat::Table => table(&report, out)?,
    }
    let failed = report.count(Outcome::Fail);
    if failed > 0 {
        bail!(
            "{failed} of {} claims failed on project {} (see FAIL above)",
            report.checks.len(),
            report.project
        );
    }
    Ok(())
}

/// The local stack's report, or with `swarm` the swarm deployment's.
async fn judge(docker: &bollard::Docker, project: &Project, swarm: bool) -> anyhow::Result<Report> {
    if !swarm {
        return verify(docker, project).await;
    }
    crate::swarm::deploy::require_manager(docker).await?;
    let export = crate::export::prepare_swarm(
        docker,
        project,
        &project.name,
        &Default::default(),
        &crate::progress::Progress::new(),
    )
    .await?;
    crate::verify::swarm::verify_swarm(docker, project, &export.converted.report).await
}

fn table(report: &Report, out: &mut dyn Write) -> anyhow::Result<()> {
    writeln!(out, "Project {}", report.project)?;
    for (group, title) in [
        (
            Group::Reachability,
            "REACHABILITY: every service over localhost, from the host and from inside the containers",
        ),
        (
            Group::Isolation,
            "ISOLATION: what a LAN client reaches, and what each service's uid may connect to",
        ),
        (
            Group::Hardening,
            "HARDENING: as the engine reports it and as the kernel applies it",
        ),
    ] {
        writeln!(out, "\n{title}")?;
        for check in report.checks.iter().filter(|c| c.group == group) {
            let mark = match check.outcome {
                Outcome::Pass => "PASS",
                Outcome::Fail => "FAIL",
                Outcome::Skip => "SKIP",
                Outcome::Accepted => "ACCEPTED",
            };
            writeln!(
                out,
                "  {mark}  {:<17} {}\n{:25}{}",
                check.service, check.claim, "", check.detail
            )?;
        }
    }
    writeln!(
        out,
        "\n{} claims: {} passed, {} failed, {} skipped",
        report.checks.len(),
        report.count(Outcome::Pass),
        report.count(Outcome::Fail),
        report.count(Outcome::Skip)
    )?;
    let accepted = report.count(Outcome::Accepted);
    if accepted > 0 {
        writeln!(
            out,
            "{accepted} accepted loss(es): they do not hold, as accepted in `x-stackctl.accept`"
        )?;
    }
    Ok(())
}
