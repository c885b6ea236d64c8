//! `stackctl config`: the validated, normalized model.

use std::io::Write;

use crate::cli::Format;
use crate::compose::Project;

pub(crate) fn run(project: &Project, format: Format, out: &mut dyn Write) -> anyhow::Result<()> {
    // What `up` would refuse on this host (uids the firewall cannot police)
    // is refused here too.
    crate::firewall::plan(project)?;
    match format {
        Format::Yaml => out.write_all(project.to_yaml().as_bytes())?,
        Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(&project.model)?)?,
    }
    Ok(())
}
