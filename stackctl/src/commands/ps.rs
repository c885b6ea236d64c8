//! `stackctl ps`: the services' state as a table or JSON.

use std::io::Write;

use crate::cli::TableFormat;
use crate::compose::Project;
use crate::engine;
use crate::stack::status::ps;

pub(crate) async fn run(
    project: &Project,
    format: TableFormat,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let docker = engine::connect().await?;
    let states = ps(&docker, project).await?;
    if format == TableFormat::Json {
        writeln!(out, "{}", serde_json::to_string_pretty(&states)?)?;
        return Ok(());
    }
    writeln!(
        out,
        "{:<18} {:<30} {:<9} {:<10} {:<13} REACH",
        "SERVICE", "CONTAINER", "STATE", "HEALTH", "IMAGE"
    )?;
    for s in &states {
        writeln!(
            out,
            "{:<18} {:<30} {:<9} {:<10} {:<13} {}",
            s.service,
            s.container.as_deref().unwrap_or("-"),
            s.state,
            s.health.as_deref().unwrap_or("-"),
            s.image_id.as_deref().unwrap_or("-"),
            if s.endpoints.is_empty() {
                "-".to_owned()
            } else {
                s.endpoints.join(", ")
            }
        )?;
    }
    for s in &states {
        for certificate in &s.certificates {
            writeln!(
                out,
                "{}",
                crate::secrets::describe_certificate(&s.service, certificate)
            )?;
        }
    }
    Ok(())
}
