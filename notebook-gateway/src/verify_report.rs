//! The stack's status as `stackctl verify --format json > FILE` wrote it:
//! the gateway reads the file named by `--verify-report`
//! (`GATEWAY_VERIFY_REPORT`) each time the Network page is shown, and sums
//! it up. The gateway cannot run `verify` itself (that needs the Docker
//! engine and root), so it shows the last report it is given, with the time
//! the file was written.
//!
//! Only the fields the page shows are read (`project`, and each check's
//! `group`, `service`, `claim`, `outcome`, `detail`, as stackctl's
//! `verify::Report` serializes them); other fields are ignored, an unknown
//! outcome is an error. A file that is missing, empty, unreadable or not
//! such a report is shown as such on the page: never a failed page.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// How to make a report, as the page and the JSON say it.
pub const HOW_TO_PRODUCE: &str = "stackctl verify --format json > FILE, then serve the gateway with --verify-report FILE (or GATEWAY_VERIFY_REPORT=FILE)";

/// A verify report is a few KiB; anything this large is not one.
const MAX_BYTES: u64 = 4 * 1024 * 1024;

/// What the gateway knows of the stack's status.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum VerifyStatus {
    /// No report file configured.
    NotConfigured { produce: String },
    /// A report file is configured and is not there (yet).
    Missing { path: PathBuf, produce: String },
    /// The file is there and empty: `verify` stopped before its report
    /// (its error went to the terminal, not to the file).
    Empty { path: PathBuf, produce: String },
    /// The file is there and cannot be read.
    Unreadable { path: PathBuf, error: String },
    /// The file is not a verify report.
    Malformed { path: PathBuf, error: String },
    /// The report, summed up.
    Present(Summary),
}

/// A verify report summed up.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub path: PathBuf,
    /// The compose project it judged.
    pub project: String,
    /// When the file was last written (its modification time).
    #[serde(with = "time::serde::rfc3339::option")]
    pub written_at: Option<OffsetDateTime>,
    pub claims: usize,
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
    pub accepted: usize,
    /// The claims that failed, in the report's order.
    pub failures: Vec<Check>,
}

/// The part of stackctl's `verify::Report` the page needs.
#[derive(Debug, Deserialize)]
struct Report {
    project: String,
    checks: Vec<Check>,
}

/// One claim, as stackctl's `verify::Check` serializes it.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Check {
    /// `reachability`, `isolation` or `hardening`.
    pub group: String,
    pub service: String,
    pub claim: String,
    pub outcome: Outcome,
    pub detail: String,
}

/// stackctl's `verify::Outcome`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Pass,
    Fail,
    Skip,
    Accepted,
}

/// The status from the report at `path` (`None`: none configured).
pub fn read(path: Option<&Path>) -> VerifyStatus {
    let Some(path) = path else {
        return VerifyStatus::NotConfigured {
            produce: HOW_TO_PRODUCE.to_owned(),
        };
    };
    let path_buf = path.to_owned();
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            return VerifyStatus::Missing {
                path: path_buf,
                produce: HOW_TO_PRODUCE.to_owned(),
            };
        }
        Err(err) => return unreadable(path_buf, &err),
    };
    let written_at = file
        .metadata()
        .and_then(|m| m.modified())
        .ok()
        .map(OffsetDateTime::from);
    let mut bytes = Vec::new();
    if let Err(err) = file.take(MAX_BYTES + 1).read_to_end(&mut bytes) {
        return unreadable(path_buf, &err);
    }
    if bytes.len() as u64 > MAX_BYTES {
        return VerifyStatus::Unreadable {
            path: path_buf,
            error: format!(
                "larger than {} MiB: a verify report is a few KiB",
                MAX_BYTES >> 20
            ),
        };
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return VerifyStatus::Empty {
            path: path_buf,
            produce: HOW_TO_PRODUCE.to_owned(),
        };
    }
    match serde_json::from_slice::<Report>(&bytes) {
        Ok(report) => VerifyStatus::Present(summarise(path_buf, report, written_at)),
        Err(err) => VerifyStatus::Malformed {
            path: path_buf,
            error: format!("not a `stackctl verify --format json` report: {err}"),
        },
    }
}

fn unreadable(path: PathBuf, err: &std::io::Error) -> VerifyStatus {
    VerifyStatus::Unreadable {
        error: format!("cannot read {}: {err}", path.display()),
        path,
    }
}

fn summarise(path: PathBuf, report: Report, written_at: Option<OffsetDateTime>) -> Summary {
    let count = |outcome| {
        report
            .checks
            .iter()
            .filter(|c| c.outcome == outcome)
            .count()
    };
    Summary {
        path,
        written_at,
        claims: report.checks.len(),
        passed: count(Outcome::Pass),
        failed: count(Outcome::Fail),
        skipped: count(Outcome::Skip),
        accepted: count(Outcome::Accepted),
        failures: report
            .checks
            .iter()
            .filter(|c| c.outcome == Outcome::Fail)
            .cloned()
            .collect(),
        project: report.project,
    }
}
