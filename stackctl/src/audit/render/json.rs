//! The report as one JSON document (`--format json`), with the verdict, for
//! scripts.

use std::io::{self, Write};

use serde::Serialize;

use crate::audit::finding::{Report, Severity};

#[derive(Serialize)]
struct Document<'a> {
    #[serde(flatten)]
    report: &'a Report,
    summary: Summary,
}

#[derive(Serialize)]
struct Summary {
    open: std::collections::BTreeMap<&'static str, usize>,
    accepted: usize,
    /// The `--fail-on` severity; `null` for `none`.
    fail_on: Option<Severity>,
    passed: bool,
}

pub fn write(report: &Report, threshold: Option<Severity>, out: &mut dyn Write) -> io::Result<()> {
    let document = Document {
        report,
        summary: Summary {
            open: report
                .counts()
                .into_iter()
                .map(|(s, n)| (s.as_str(), n))
                .collect(),
            accepted: report.accepted(),
            fail_on: threshold,
            passed: super::passes(report, threshold),
        },
    };
    serde_json::to_writer_pretty(&mut *out, &document)?;
    writeln!(out)
}
