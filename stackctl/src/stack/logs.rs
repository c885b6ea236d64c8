//! `logs`: the services' output, each line prefixed by its service (in a
//! color of its own on a terminal), optionally followed.

use std::io::Write;

use bollard::Docker;
use bollard::query_parameters::LogsOptionsBuilder;
use futures_util::StreamExt as _;

use super::containers;
use crate::compose::Project;

const COLORS: [&str; 6] = ["36", "32", "33", "35", "34", "31"];

/// Writes the logs of `services` (all when empty) to `out` until they end,
/// or, with `follow`, until the streams close or the caller stops waiting.
pub async fn logs(
    docker: &Docker,
    project: &Project,
    services: &[String],
    follow: bool,
    tail: &str,
    color: bool,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    for name in services {
        project.service(name)?;
    }
    let existing = containers(docker, &project.name).await?;
    let chosen: Vec<_> = existing
        .iter()
        .filter(|e| services.is_empty() || services.contains(&e.service))
        .collect();
    if chosen.is_empty() {
        anyhow::bail!(
            "no containers of project `{}` to show logs of; start them with `stackctl up`",
            project.name
        );
    }
    let width = chosen.iter().map(|c| c.service.len()).max().unwrap_or(0);
    let streams = chosen.iter().enumerate().map(|(i, container)| {
        let prefix = if color {
            format!(
                "\x1b[{}m{:<width$} |\x1b[0m ",
                COLORS[i % COLORS.len()],
                container.service
            )
        } else {
            format!("{:<width$} | ", container.service)
        };
        let options = LogsOptionsBuilder::default()
            .stdout(true)
            .stderr(true)
            .follow(follow)
            .tail(tail)
            .build();
        docker
            .logs(&container.id, Some(options))
            .map(move |chunk| (prefix.clone(), chunk))
    });
    let mut merged = futures_util::stream::select_all(streams);
    let mut partial: std::collections::HashMap<String, String> = Default::default();
    while let Some((prefix, chunk)) = merged.next().await {
        let Ok(chunk) = chunk else { continue };
        let buffer = partial.entry(prefix.clone()).or_default();
        buffer.push_str(&chunk.to_string());
        while let Some(end) = buffer.find('\n') {
            let line: String = buffer.drain(..=end).collect();
            write!(out, "{prefix}{line}")?;
        }
        out.flush()?;
    }
    for (prefix, rest) in partial {
        if !rest.is_empty() {
            writeln!(out, "{prefix}{rest}")?;
        }
    }
    Ok(())
}
