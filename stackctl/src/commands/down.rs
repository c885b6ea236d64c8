//! `stackctl down`: what was stopped and removed.

use std::io::Write;

use crate::compose::Project;
use crate::engine;
use crate::progress::Progress;
use crate::stack::down::down;

pub(crate) async fn run(
    project: &Project,
    volumes: bool,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let docker = engine::connect().await?;
    let report = down(&docker, project, volumes, &Progress::new()).await?;
    for warning in &report.warnings {
        eprintln!("warning: {warning}");
    }
    writeln!(
        out,
        "removed {} container(s) of project `{}`",
        report.containers.len(),
        project.name
    )?;
    if report.firewall_removed {
        writeln!(
            out,
            "removed the firewall chain {}",
            crate::firewall::chain_name(&project.name)
        )?;
    }
    if volumes && report.volumes.is_empty() {
        writeln!(out, "no volumes to remove")?;
    } else if volumes {
        writeln!(
            out,
            "removed {} volume(s): {}",
            report.volumes.len(),
            report.volumes.join(", ")
        )?;
    } else {
        writeln!(
            out,
            "volumes kept (the data survives); `stackctl down -v` removes them"
        )?;
    }
    Ok(())
}
