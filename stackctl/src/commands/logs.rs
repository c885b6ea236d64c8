//! `stackctl logs`: the services' output; `-f` follows until Ctrl-C.

use std::io::{IsTerminal as _, Write};

use crate::compose::Project;
use crate::engine;
use crate::stack::logs::logs;

pub(crate) async fn run(
    project: &Project,
    services: &[String],
    follow: bool,
    tail: &str,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let docker = engine::connect().await?;
    let color = crate::progress::color(std::io::stdout().is_terminal());
    tokio::select! {
        result = logs(&docker, project, services, follow, tail, color, out) => result,
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
}
