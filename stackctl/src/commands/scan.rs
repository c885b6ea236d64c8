//! `stackctl scan`: scans the services' images, writes the report in the
//! chosen format and fails when an open finding reaches `--fail-on`.

use std::io::Write;
use std::path::PathBuf;

use anyhow::bail;

use crate::cli::{AuditFormat, FailOn};
use crate::compose::Project;
use crate::engine;
use crate::scan::{self, DebianSource, ScanOptions, render};

pub(crate) async fn run(
    project: &Project,
    services: Vec<String>,
    advisory_db: Option<PathBuf>,
    format: AuditFormat,
    fail_on: FailOn,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let docker = engine::connect().await?;
    let report = scan::scan(
        &docker,
        project,
        ScanOptions {
            services,
            advisory_db,
            debian: DebianSource::HostApt,
        },
    )
    .await?;
    let threshold = super::audit::threshold(fail_on);
    match format {
        AuditFormat::Human => render::human(&report, threshold, out)?,
        AuditFormat::Json => render::json(&report, threshold, out)?,
        AuditFormat::Sarif => render::sarif(&report, out)?,
    }
    out.flush()?;
    if let Some(t) = threshold {
        let failing = report.failing(t).count();
        if failing > 0 {
            bail!(
                "scan failed: {failing} open finding(s) at {t} or above\n  fix: rebuild the images with the fixed versions (`stackctl build --force`), or ignore one in `x-stackctl.scan.ignore` with a reason and an expiry date"
            );
        }
    }
    Ok(())
}
