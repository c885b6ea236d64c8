//! `stackctl bench`: the flags turned into bench options, the run, and the
//! result as a table or JSON on stdout and, if asked, an SVG chart.

use std::io::Write;
use std::time::Duration;

use anyhow::{Context as _, bail};

use crate::bench::paths::Path;
use crate::bench::{self, Options};
use crate::cli::{BenchArgs, TableFormat};
use crate::compose::Project;
use crate::engine;
use crate::progress::Progress;

impl BenchArgs {
    fn options(&self) -> anyhow::Result<Options> {
        let mut options = if self.quick {
            Options::quick()
        } else {
            Options::full()
        };
        if let Some(rounds) = self.rounds {
            options.rounds = rounds as usize;
        }
        if let Some(round_trips) = self.round_trips {
            options.round_trips = round_trips;
            options.warmup_round_trips = options.warmup_round_trips.min(round_trips / 10).max(10);
        }
        if let Some(seconds) = self.seconds {
            if !(0.05..=60.0).contains(&seconds) {
                bail!("--seconds {seconds} is out of range; give 0.05 to 60");
            }
            let measured = Duration::from_secs_f64(seconds);
            options.http_duration = measured;
            options.bulk_duration = measured;
            options.http_warmup = options.http_warmup.min(measured);
        }
        options.connections = self.connections as usize;
        options.streams = self.streams as usize;
        options.hold = Duration::from_secs(self.hold);
        options.seed = self.seed;
        if !self.paths.is_empty() {
            options.paths = self.paths.iter().copied().collect();
            options.paths.insert(Path::Native);
        }
        Ok(options)
    }
}

/// The bench's own session name: derived from `-p` (or `stackctl`) and the
/// process id, never `-p` itself. The session's containers and firewall rules
/// are removed at the end, so a session named like a running stack would
/// take that stack's firewall chain with it.
fn session_name(project_name: Option<&str>, pid: u32) -> String {
    format!("{}-bench-{pid}", project_name.unwrap_or("stackctl"))
}

pub(crate) async fn run(
    project: &Project,
    session: Option<String>,
    flags: BenchArgs,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let options = flags.options()?;
    let docker = engine::connect().await?;
    let session = session_name(session.as_deref(), std::process::id());
    // Plain lines, not spinners: a spinner's redraws would take CPU from
    // the measurement on a small machine.
    let progress = Progress::plain();
    let report = bench::run(&docker, project, &session, &options, &progress).await?;
    if let Some(path) = &flags.svg {
        std::fs::write(path, bench::svg::render(&report))
            .with_context(|| format!("cannot write the chart to {}", path.display()))?;
        progress.println(&format!("bench: chart written to {}", path.display()));
    }
    match flags.format {
        TableFormat::Table => bench::table::write(&report, out)?,
        TableFormat::Json => writeln!(out, "{}", bench::json::to_string(&report)?)?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_is_never_the_project_name_itself() {
        assert_eq!(session_name(Some("shopdotcom"), 42), "shopdotcom-bench-42");
        assert_eq!(session_name(None, 42), "stackctl-bench-42");
    }
}
