//! What the audit reports: severities, findings (open or accepted), and the
//! report of one run, with the threshold decision `--fail-on` acts on.

use std::fmt;

use serde::Serialize;

use super::catalog::Check;

/// How bad a finding is, from `info` (no action needed) to `critical`
/// (the host is as good as given away).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 5] = [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Info,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// Where in the Compose file a finding points.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Location {
    pub file: String,
    /// 1-based; `None` when the key is not written in the file (a default).
    pub line: Option<usize>,
    /// The key, e.g. `services.api.network_mode`.
    pub key: String,
}

/// An accepted risk as the audit judged it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Accepted {
    /// The reason given in `x-stackctl.accept`.
    pub reason: String,
    /// The compensating controls found in place, each described.
    pub controls_in_place: Vec<String>,
    /// The controls that are not in place (named ones void the acceptance);
    /// one whose facts this audit does not gather (`no-setuid-files` in an
    /// audit of the file, which reads no image) is in neither list.
    pub controls_missing: Vec<String>,
}

/// One failed check on one service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The check's id: `CIS-5.10`, `plaintext`, ...
    pub check: &'static str,
    pub title: &'static str,
    /// `CIS Docker Benchmark v1.6.0` or `stackctl host-network`.
    pub source: &'static str,
    pub severity: Severity,
    pub service: String,
    /// What was found, with the values involved.
    pub message: String,
    /// What to do, in one line.
    pub fix: String,
    pub location: Option<Location>,
    /// Set when `x-stackctl.accept` covers the finding and holds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accepted: Option<Accepted>,
    /// Why an acceptance written for this finding does not hold.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acceptance_void: Option<String>,
}

impl Finding {
    pub(super) fn new(
        check: &Check,
        severity: Severity,
        service: &str,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> Finding {
        Finding {
            check: check.id,
            title: check.title,
            source: check.source.name(),
            severity,
            service: service.to_owned(),
            message: message.into(),
            fix: fix.into(),
            location: None,
            accepted: None,
            acceptance_void: None,
        }
    }

    /// Whether the finding counts against the threshold.
    pub fn is_open(&self) -> bool {
        self.accepted.is_none()
    }
}

/// How the stack was looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// The Compose file alone.
    Static,
    /// The running containers as the engine reports them, and the sockets
    /// listening in the host's network namespace.
    Live,
}

/// Everything one audit found.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub file: String,
    pub project: String,
    pub mode: Mode,
    /// With `--host`: the daemon, its files, the images and swarm mode too,
    /// reported under [`HOST`](crate::audit::host::HOST) and the services.
    pub host: bool,
    /// The services looked at, in order.
    pub services: Vec<String>,
    pub findings: Vec<Finding>,
    /// Remarks on the run: acceptances that matched nothing, a file `up`
    /// would refuse.
    pub notes: Vec<String>,
}

impl Report {
    /// Open findings at or above `threshold`.
    pub fn failing(&self, threshold: Severity) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(move |f| f.is_open() && f.severity >= threshold)
    }

    /// Open findings per severity, most severe first.
    pub fn counts(&self) -> Vec<(Severity, usize)> {
        Severity::ALL
            .iter()
            .map(|s| {
                (
                    *s,
                    self.findings
                        .iter()
                        .filter(|f| f.is_open() && f.severity == *s)
                        .count(),
                )
            })
            .collect()
    }

    pub fn accepted(&self) -> usize {
        self.findings.iter().filter(|f| !f.is_open()).count()
    }
}
