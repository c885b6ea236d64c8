//! The report's three renderings: for people ([`human`]), for scripts
//! ([`json`]) and for code-scanning views ([`sarif`]), plus the threshold
//! verdict they share.

pub mod human;
pub mod json;
pub mod sarif;

use super::finding::{Report, Severity};

/// Whether the report passes `threshold` (`None`: always).
pub fn passes(report: &Report, threshold: Option<Severity>) -> bool {
    threshold.is_none_or(|t| report.failing(t).next().is_none())
}
