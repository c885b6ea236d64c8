//! The scan's report for people (grouped by service), as JSON (with the
//! verdict) and as SARIF 2.1.0 (one rule per advisory, ignored findings as
//! suppressed results), with the audit's severities and SARIF levels.

use std::io::{self, Write};

use serde_json::{Value, json};

use super::Report;
use crate::audit::Severity;
use crate::audit::render::sarif::{level, security_severity};

/// Writes the report for people; `threshold` is what `--fail-on` judges.
pub fn human(report: &Report, threshold: Option<Severity>, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "scan of project {}", report.project)?;
    for source in &report.sources {
        writeln!(
            out,
            "database: {} at {}, {}",
            source.name, source.location, source.date
        )?;
    }
    writeln!(out)?;
    for scanned in &report.scanned {
        writeln!(
            out,
            "{} ({}: {})",
            scanned.service,
            scanned.image,
            scanned.contents.join(", ")
        )?;
        let findings: Vec<_> = report
            .findings
            .iter()
            .filter(|f| f.service == scanned.service)
            .collect();
        if findings.is_empty() {
            writeln!(out, "  no known vulnerability\n")?;
            continue;
        }
        for f in findings {
            let label = match &f.ignored {
                Some(_) => format!("ignored {}", f.severity),
                None => f.severity.to_string(),
            };
            writeln!(out, "  [{label}] {} {}", f.id, f.title)?;
            writeln!(
                out,
                "      {} {} in {}; fixed in {}",
                f.package, f.installed, f.component, f.fixed
            )?;
            if let Some(since) = &f.since {
                writeln!(out, "      since: {since}")?;
            }
            if let Some(ignored) = &f.ignored {
                writeln!(
                    out,
                    "      ignored until {}: {}",
                    ignored.expires, ignored.reason
                )?;
            }
        }
        writeln!(out)?;
    }
    for note in &report.notes {
        writeln!(out, "note: {note}")?;
    }
    let open = report.findings.iter().filter(|f| f.is_open()).count();
    writeln!(
        out,
        "summary: {open} open, {} ignored",
        report.findings.len() - open
    )?;
    match threshold {
        None => writeln!(out, "result: not judged (--fail-on none)"),
        Some(t) => match report.failing(t).count() {
            0 => writeln!(out, "result: passed (no open finding at {t} or above)"),
            n => writeln!(out, "result: FAILED ({n} open finding(s) at {t} or above)"),
        },
    }
}

/// The report as one JSON document with the verdict.
pub fn json(report: &Report, threshold: Option<Severity>, out: &mut dyn Write) -> io::Result<()> {
    let mut document = serde_json::to_value(report)?;
    document["summary"] = json!({
        "open": report.findings.iter().filter(|f| f.is_open()).count(),
        "ignored": report.findings.iter().filter(|f| !f.is_open()).count(),
        "fail_on": threshold,
        "passed": threshold.is_none_or(|t| report.failing(t).next().is_none()),
    });
    serde_json::to_writer_pretty(&mut *out, &document)?;
    writeln!(out)
}

/// The report as SARIF 2.1.0.
pub fn sarif(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    let mut rules: Vec<Value> = Vec::new();
    let mut ids: Vec<&str> = Vec::new();
    for f in &report.findings {
        if !ids.contains(&f.id.as_str()) {
            ids.push(&f.id);
            rules.push(json!({
                "id": f.id,
                "shortDescription": { "text": f.title },
                "helpUri": f.url,
                "defaultConfiguration": { "level": level(f.severity) },
                "properties": { "tags": ["security", "vulnerability"], "security-severity": security_severity(f.severity) },
            }));
        }
    }
    let results: Vec<Value> = report
        .findings
        .iter()
        .map(|f| {
            let mut result = json!({
                "ruleId": f.id,
                "ruleIndex": ids.iter().position(|i| *i == f.id),
                "level": level(f.severity),
                "message": { "text": format!("service `{}`, image {}: {} {} in {} ({}). Fixed in {}.", f.service, f.image, f.package, f.installed, f.component, f.title, f.fixed) },
                "locations": [{ "logicalLocations": [{ "fullyQualifiedName": format!("{}:{}", f.image, f.component), "kind": "module" }] }],
                "properties": { "service": f.service, "severity": f.severity.as_str(), "aliases": f.aliases },
            });
            if let Some(ignored) = &f.ignored {
                result["suppressions"] = json!([{ "kind": "external", "status": "accepted", "justification": format!("{} (ignored until {})", ignored.reason, ignored.expires) }]);
            }
            result
        })
        .collect();
    let document = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": { "name": "stackctl scan", "version": env!("CARGO_PKG_VERSION"), "rules": rules } },
            "automationDetails": { "id": format!("stackctl-scan/{}", report.project) },
            "results": results,
        }]
    });
    serde_json::to_writer_pretty(&mut *out, &document)?;
    writeln!(out)
}
