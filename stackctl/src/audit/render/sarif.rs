//! The report as SARIF 2.1.0 (`--format sarif`), for code-scanning views:
//! one rule per check (id, title, help, default level), one result per
//! finding pointing at its line in the Compose file, accepted risks as
//! suppressed results with their justification.

use std::io::{self, Write};

use serde_json::{Value, json};

use crate::audit::catalog::{CHECKS, Check};
use crate::audit::finding::{Finding, Report, Severity};

/// SARIF's level for a severity.
fn level(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "note",
    }
}

/// The numeric `security-severity` code-scanning tools sort by.
fn security_severity(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "3.0",
        Severity::Info => "0.0",
    }
}

fn rule(check: &Check) -> Value {
    json!({
        "id": check.id,
        "name": check.id.replace(['-', '.'], "_"),
        "shortDescription": { "text": check.title },
        "fullDescription": { "text": check.help },
        "help": { "text": format!("{} ({})", check.help, check.source.name()) },
        "defaultConfiguration": { "level": level(check.severity) },
        "properties": {
            "tags": ["security", check.source.name()],
            "security-severity": security_severity(check.severity),
        },
    })
}

fn result(finding: &Finding) -> Value {
    let index = CHECKS.iter().position(|c| c.id == finding.check);
    let mut result = json!({
        "ruleId": finding.check,
        "level": level(finding.severity),
        "message": {
            "text": format!("service `{}`: {}. Fix: {}", finding.service, finding.message, finding.fix),
        },
        "properties": {
            "service": finding.service,
            "severity": finding.severity.as_str(),
        },
    });
    if let Some(index) = index {
        result["ruleIndex"] = json!(index);
    }
    if let Some(location) = &finding.location {
        // A relative path is a relative URI reference; an absolute one needs its scheme.
        let uri = if location.file.starts_with('/') {
            format!("file://{}", crate::percent::encode(&location.file, b"/"))
        } else {
            crate::percent::encode(&location.file, b"/")
        };
        let mut physical = json!({ "artifactLocation": { "uri": uri } });
        if let Some(line) = location.line {
            physical["region"] = json!({ "startLine": line });
        }
        result["locations"] = json!([{
            "physicalLocation": physical,
            "logicalLocations": [{ "fullyQualifiedName": location.key, "kind": "member" }],
        }]);
    }
    if let Some(accepted) = &finding.accepted {
        result["suppressions"] = json!([{
            "kind": "external",
            "status": "accepted",
            "justification": format!(
                "{} Compensating controls in place: {}.",
                accepted.reason,
                accepted.controls_in_place.join("; ")
            ),
        }]);
    }
    result
}

pub fn write(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    let document = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "stackctl audit",
                    "version": env!("CARGO_PKG_VERSION"),
                    "rules": CHECKS.iter().map(rule).collect::<Vec<_>>(),
                }
            },
            "automationDetails": { "id": format!("stackctl-audit/{}/{}", report.project, match report.mode {
                crate::audit::Mode::Static => "static",
                crate::audit::Mode::Live => "live",
            }) },
            "results": report.findings.iter().map(result).collect::<Vec<_>>(),
        }]
    });
    serde_json::to_writer_pretty(&mut *out, &document)?;
    writeln!(out)
}
