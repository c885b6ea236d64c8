//! The measurements of a run and what is reported of them: each metric on
//! each path is measured once per round; the report gives the median over
//! the rounds, its spread (lowest and highest round) and its ratio to the
//! native path's median.

use std::collections::BTreeMap;

use serde::Serialize;

use super::paths::Path;

/// What is measured on every path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    LatencyP50,
    LatencyP90,
    LatencyP99,
    LatencyP999,
    LatencyMean,
    HttpRps,
    HttpP50,
    HttpP99,
    BulkOneStream,
    BulkStreams,
    BulkDownload,
}

impl Metric {
    pub const ALL: [Metric; 11] = [
        Metric::LatencyP50,
        Metric::LatencyP90,
        Metric::LatencyP99,
        Metric::LatencyP999,
        Metric::LatencyMean,
        Metric::HttpRps,
        Metric::HttpP50,
        Metric::HttpP99,
        Metric::BulkOneStream,
        Metric::BulkStreams,
        Metric::BulkDownload,
    ];

    /// The row label of the table (`streams` is the number of parallel
    /// streams of [`Metric::BulkStreams`]).
    pub fn label(self, streams: usize) -> String {
        match self {
            Metric::LatencyP50 => "TCP 1-byte RTT p50".into(),
            Metric::LatencyP90 => "TCP 1-byte RTT p90".into(),
            Metric::LatencyP99 => "TCP 1-byte RTT p99".into(),
            Metric::LatencyP999 => "TCP 1-byte RTT p99.9".into(),
            Metric::LatencyMean => "TCP 1-byte RTT mean".into(),
            Metric::HttpRps => "HTTP GET /healthz".into(),
            Metric::HttpP50 => "HTTP latency p50".into(),
            Metric::HttpP99 => "HTTP latency p99".into(),
            Metric::BulkOneStream => "bulk upload, 1 stream".into(),
            Metric::BulkStreams => format!("bulk upload, {streams} streams"),
            Metric::BulkDownload => "bulk download, 1 stream".into(),
        }
    }

    pub fn unit(self) -> &'static str {
        match self {
            Metric::HttpRps => "req/s",
            Metric::BulkOneStream | Metric::BulkStreams | Metric::BulkDownload => "Gbit/s",
            _ => "µs",
        }
    }

    /// True for throughput, false for latency.
    pub fn higher_is_better(self) -> bool {
        matches!(
            self,
            Metric::HttpRps | Metric::BulkOneStream | Metric::BulkStreams | Metric::BulkDownload
        )
    }

    /// The seed's figures for host and bridge, where it published one.
    pub fn seed(self) -> Option<(f64, f64)> {
        match self {
            Metric::LatencyMean => Some((21.0, 28.0)),
            Metric::HttpRps => Some((18_248.0, 17_603.0)),
            Metric::BulkOneStream => Some((3.8, 3.5)),
            _ => None,
        }
    }
}

/// The median of `values` (the mean of the middle two for an even count);
/// `None` when there are none.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    Some(if sorted.len().is_multiple_of(2) {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    } else {
        sorted[mid]
    })
}

/// One metric on one path over the rounds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    /// `(max - min) / median` in percent: how far the rounds disagree.
    pub spread_pct: f64,
    /// The median over the rounds of this path's value over the native
    /// path's value in the same round (1.0 for native itself).
    pub ratio_to_native: Option<f64>,
    /// Every round's value, in round order.
    pub rounds: Vec<f64>,
}

/// Spread of `values` around their median, in percent of the median.
pub fn spread_pct(values: &[f64]) -> Option<f64> {
    let median = median(values)?;
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (median != 0.0).then(|| (max - min) / median * 100.0)
}

/// Every value measured, by metric and path, in round order.
#[derive(Debug, Clone, Default)]
pub struct Samples {
    values: BTreeMap<(Metric, Path), Vec<f64>>,
}

impl Samples {
    pub fn record(&mut self, metric: Metric, path: Path, value: f64) {
        self.values.entry((metric, path)).or_default().push(value);
    }

    pub fn get(&self, metric: Metric, path: Path) -> &[f64] {
        self.values
            .get(&(metric, path))
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// The summary of one metric on one path, `None` when nothing was measured.
    pub fn summary(&self, metric: Metric, path: Path) -> Option<Summary> {
        let native = self.get(metric, Path::Native);
        let rounds = self.get(metric, path).to_vec();
        // Each round's value over native's in the same round, then the
        // median of those: paths measured moments apart are compared, so a
        // disturbance that lasts a round or two moves both sides together.
        let ratios: Vec<f64> = rounds
            .iter()
            .zip(native)
            .filter(|(_, n)| **n != 0.0)
            .map(|(v, n)| v / n)
            .collect();
        let median = median(&rounds)?;
        Some(Summary {
            median,
            min: rounds.iter().copied().fold(f64::INFINITY, f64::min),
            max: rounds.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            spread_pct: spread_pct(&rounds).unwrap_or(0.0),
            ratio_to_native: self::median(&ratios),
            rounds,
        })
    }
}

/// True when `path` is within `tolerance` (0.05 for 5%) of native on
/// `metric`, in the direction that matters: not slower, not less.
pub fn within(metric: Metric, ratio: f64, tolerance: f64) -> bool {
    if metric.higher_is_better() {
        ratio >= 1.0 - tolerance
    } else {
        ratio <= 1.0 + tolerance
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_of_an_odd_count_is_the_middle_value() {
        assert_eq!(median(&[5.0, 1.0, 3.0]), Some(3.0));
    }

    #[test]
    fn the_median_of_an_even_count_is_the_mean_of_the_middle_two() {
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
    }

    #[test]
    fn no_values_have_no_median() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[f64::NAN]), None);
    }

    #[test]
    fn spread_is_the_range_over_the_median_in_percent() {
        assert_eq!(spread_pct(&[9.0, 10.0, 11.0]), Some(20.0));
        assert_eq!(spread_pct(&[10.0]), Some(0.0));
    }

    #[test]
    fn summaries_carry_the_ratio_to_native() {
        let mut samples = Samples::default();
        for (native, bridge) in [(20.0, 30.0), (22.0, 28.0), (21.0, 26.0)] {
            samples.record(Metric::LatencyP50, Path::Native, native);
            samples.record(Metric::LatencyP50, Path::BridgeProxy, bridge);
        }
        let native = samples.summary(Metric::LatencyP50, Path::Native).unwrap();
        assert_eq!(native.ratio_to_native, Some(1.0));
        let bridge = samples
            .summary(Metric::LatencyP50, Path::BridgeProxy)
            .unwrap();
        assert_eq!(bridge.median, 28.0);
        assert_eq!((bridge.min, bridge.max), (26.0, 30.0));
        // Per round: 30/20, 28/22, 26/21; the median is 28/22, not 28/21.
        assert_eq!(bridge.ratio_to_native, Some(28.0 / 22.0));
        assert_eq!(bridge.rounds, [30.0, 28.0, 26.0]);
        assert!(samples.summary(Metric::HttpRps, Path::Host).is_none());
    }

    #[test]
    fn within_tolerance_depends_on_which_direction_is_better() {
        assert!(within(Metric::LatencyP50, 1.04, 0.05));
        assert!(!within(Metric::LatencyP50, 1.06, 0.05));
        assert!(within(Metric::LatencyP50, 0.80, 0.05), "faster is fine");
        assert!(within(Metric::HttpRps, 0.96, 0.05));
        assert!(!within(Metric::HttpRps, 0.94, 0.05));
    }
}
