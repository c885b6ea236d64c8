//! The measurements of a run and what is reported of them. Each metric on
//! each route is measured once per round, in an order shuffled anew every
//! round; the report gives the median over the rounds, their spread, and
//! the route's ratio to native: the geometric mean of the per-round ratios
//! (each route against native measured moments apart in the same round),
//! with a 95% percentile-bootstrap confidence interval over the rounds and
//! a verdict that says only what the interval resolves.

use std::collections::BTreeMap;

use serde::Serialize;

use super::paths::Route;

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

    /// The guide's table for host and bridge (it credits a Container
    /// Solutions benchmark), where it has a figure for this metric.
    pub fn guide(self) -> Option<(f64, f64)> {
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

/// Spread of `values` around their median, in percent of the median.
pub fn spread_pct(values: &[f64]) -> Option<f64> {
    let median = median(values)?;
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (median != 0.0).then(|| (max - min) / median * 100.0)
}

/// A small deterministic pseudo-random generator (SplitMix64): the same
/// seed gives the same path orders and the same bootstrap, so a run can be
/// replayed and a test can rely on its numbers. Not for secrets.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`), without modulo bias worth speaking of
    /// for the small `n` used here.
    pub fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Fisher–Yates.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i + 1));
        }
    }
}

/// Resamples of the bootstrap.
pub const BOOTSTRAP_RESAMPLES: usize = 10_000;
/// The confidence level of every interval.
pub const CONFIDENCE: f64 = 0.95;
/// Fewest rounds for an interval: with fewer, a bootstrap has almost
/// nothing to resample and its interval would claim more than it knows.
pub const MIN_ROUNDS_FOR_CI: usize = 3;
/// The seed of the bootstrap: fixed, so the same rounds give the same interval.
const BOOTSTRAP_SEED: u64 = 0x5eed_b007;

/// The geometric mean of `ratios` (each > 0) with its percentile-bootstrap
/// confidence interval at [`CONFIDENCE`]: rounds are resampled with
/// replacement, the mean of the log-ratios taken each time, and the
/// interval is the central 95% of those means, back on the ratio scale.
/// Logs, because a ratio of 2 and one of 1/2 are equally far from 1. `None`
/// when a ratio is not positive or there are too few for an interval.
pub fn ratio_interval(ratios: &[f64]) -> Option<(f64, f64, f64)> {
    if ratios.len() < MIN_ROUNDS_FOR_CI || ratios.iter().any(|r| !(*r > 0.0 && r.is_finite())) {
        return None;
    }
    let logs: Vec<f64> = ratios.iter().map(|r| r.ln()).collect();
    let n = logs.len();
    let point = logs.iter().sum::<f64>() / n as f64;
    let mut rng = Rng::new(BOOTSTRAP_SEED);
    let mut means: Vec<f64> = (0..BOOTSTRAP_RESAMPLES)
        .map(|_| (0..n).map(|_| logs[rng.below(n)]).sum::<f64>() / n as f64)
        .collect();
    means.sort_by(f64::total_cmp);
    let tail = (1.0 - CONFIDENCE) / 2.0;
    let at = |q: f64| means[((q * (means.len() - 1) as f64).round() as usize).min(means.len() - 1)];
    Some((point.exp(), at(tail).exp(), at(1.0 - tail).exp()))
}

/// What an interval resolves about a route against native.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    /// The whole interval is on the better side of native.
    Faster,
    /// The whole interval is on the worse side of native.
    Slower,
    /// The interval holds 1: no difference this run can resolve; the
    /// interval's half-width in percent says how small a difference it
    /// could have seen.
    NoResolvableDifference { half_width_pct: f64 },
}

impl Verdict {
    /// The verdict of interval `[low, high]` on `metric`, decided on the
    /// bounds as the table prints them (two decimals), so that no row shows
    /// 1.00 inside its interval beside a verdict of faster or slower.
    pub fn of(metric: Metric, low: f64, high: f64) -> Verdict {
        let (shown_low, shown_high) = (as_printed(low), as_printed(high));
        let (better, worse) = if metric.higher_is_better() {
            (shown_low > 1.0, shown_high < 1.0)
        } else {
            (shown_high < 1.0, shown_low > 1.0)
        };
        if better {
            Verdict::Faster
        } else if worse {
            Verdict::Slower
        } else {
            Verdict::NoResolvableDifference {
                half_width_pct: half_width_pct(low, high),
            }
        }
    }

    /// `faster`, `slower`, or `no difference we can resolve (CI ±x%)`.
    pub fn describe(self) -> String {
        match self {
            Verdict::Faster => "faster".into(),
            Verdict::Slower => "slower".into(),
            Verdict::NoResolvableDifference { half_width_pct } => {
                format!("no difference we can resolve (CI ±{half_width_pct:.1}%)")
            }
        }
    }
}

/// A ratio as the tables print it (`{:.2}`, as `table::interval` does),
/// read back as a number, so that a verdict agrees with the printed bounds
/// to the last digit (0.995 prints as 0.99, not 1.00).
pub fn as_printed(ratio: f64) -> f64 {
    format!("{ratio:.2}").parse().unwrap_or(ratio)
}

/// Half the width of a ratio interval, in percent of native.
pub fn half_width_pct(low: f64, high: f64) -> f64 {
    (high - low) / 2.0 * 100.0
}

/// One metric on one route over the rounds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    /// `(max - min) / median` in percent: how far the rounds disagree.
    pub spread_pct: f64,
    /// The geometric mean over the rounds of this route's value over the
    /// native route's value in the same round (1.0 for native itself).
    pub ratio_to_native: Option<f64>,
    /// The 95% bootstrap interval of that ratio (`None` for native and
    /// with fewer than [`MIN_ROUNDS_FOR_CI`] rounds).
    pub ratio_ci: Option<(f64, f64)>,
    /// Half the interval's width in percent of native.
    pub ci_half_width_pct: Option<f64>,
    pub verdict: Option<Verdict>,
    /// Every round's value, in round order.
    pub rounds: Vec<f64>,
}

/// Every value measured, by metric and route, in round order.
#[derive(Debug, Clone, Default)]
pub struct Samples {
    values: BTreeMap<(Metric, Route), Vec<f64>>,
}

impl Samples {
    pub fn record(&mut self, metric: Metric, route: Route, value: f64) {
        self.values.entry((metric, route)).or_default().push(value);
    }

    pub fn get(&self, metric: Metric, route: Route) -> &[f64] {
        self.values
            .get(&(metric, route))
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// The routes with at least one value.
    pub fn routes(&self) -> Vec<Route> {
        let mut routes: Vec<Route> = self.values.keys().map(|(_, r)| *r).collect();
        routes.dedup();
        routes.sort();
        routes.dedup();
        routes
    }

    /// The summary of one metric on one route, `None` when nothing was measured.
    pub fn summary(&self, metric: Metric, route: Route) -> Option<Summary> {
        let native = self.get(metric, Route::NATIVE);
        let rounds = self.get(metric, route).to_vec();
        let median = median(&rounds)?;
        // Each round's value over native's in the same round: routes
        // measured moments apart are compared, so a disturbance that lasts
        // a round moves both sides together.
        let ratios: Vec<f64> = rounds
            .iter()
            .zip(native)
            .filter(|(_, n)| **n != 0.0)
            .map(|(v, n)| v / n)
            .collect();
        let (ratio, ci) = if route == Route::NATIVE {
            (Some(1.0), None)
        } else {
            match ratio_interval(&ratios) {
                Some((point, low, high)) => (Some(point), Some((low, high))),
                None => (geometric_mean(&ratios), None),
            }
        };
        Some(Summary {
            median,
            min: rounds.iter().copied().fold(f64::INFINITY, f64::min),
            max: rounds.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            spread_pct: spread_pct(&rounds).unwrap_or(0.0),
            ratio_to_native: ratio,
            ratio_ci: ci,
            ci_half_width_pct: ci.map(|(low, high)| half_width_pct(low, high)),
            verdict: ci.map(|(low, high)| Verdict::of(metric, low, high)),
            rounds,
        })
    }
}

/// The geometric mean of positive values, `None` when there are none.
pub fn geometric_mean(values: &[f64]) -> Option<f64> {
    let positive: Vec<f64> = values.iter().copied().filter(|v| *v > 0.0).collect();
    (!positive.is_empty())
        .then(|| (positive.iter().map(|v| v.ln()).sum::<f64>() / positive.len() as f64).exp())
}

/// True when a ratio is within `tolerance` (0.05 for 5%) of native on
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
    use crate::bench::paths::{Client, Path};

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

    /// A standard normal deviate (Box–Muller) from the generator.
    fn normal(rng: &mut Rng) -> f64 {
        let u = rng.unit().max(f64::MIN_POSITIVE);
        let v = rng.unit();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }

    #[test]
    fn the_generator_is_uniform_enough_and_replays_from_its_seed() {
        let mut rng = Rng::new(7);
        let mut counts = [0usize; 4];
        for _ in 0..40_000 {
            counts[rng.below(4)] += 1;
        }
        for count in counts {
            assert!((9_500..10_500).contains(&count), "{counts:?}");
        }
        let a: Vec<u64> = (0..5)
            .map({
                let mut r = Rng::new(42);
                move |_| r.next_u64()
            })
            .collect();
        let b: Vec<u64> = (0..5)
            .map({
                let mut r = Rng::new(42);
                move |_| r.next_u64()
            })
            .collect();
        assert_eq!(a, b);
    }

    #[test]
    fn a_shuffle_keeps_every_item_and_changes_the_order() {
        let mut rng = Rng::new(1);
        let mut items: Vec<u32> = (0..10).collect();
        let mut orders = std::collections::BTreeSet::new();
        for _ in 0..20 {
            rng.shuffle(&mut items);
            let mut sorted = items.clone();
            sorted.sort();
            assert_eq!(sorted, (0..10).collect::<Vec<_>>());
            orders.insert(items.clone());
        }
        assert!(
            orders.len() > 15,
            "orders repeat too often: {}",
            orders.len()
        );
    }

    #[test]
    fn identical_ratios_give_an_interval_of_zero_width_around_them() {
        let (point, low, high) = ratio_interval(&[1.25; 8]).unwrap();
        assert!((point - 1.25).abs() < 1e-12);
        assert!((low - 1.25).abs() < 1e-12 && (high - 1.25).abs() < 1e-12);
    }

    #[test]
    fn too_few_rounds_or_a_non_positive_ratio_give_no_interval() {
        assert_eq!(ratio_interval(&[1.0, 1.1]), None);
        assert_eq!(ratio_interval(&[1.0, 0.0, 1.1]), None);
        assert_eq!(ratio_interval(&[1.0, f64::NAN, 1.1]), None);
    }

    /// Log-ratios drawn from a normal distribution with a known mean and
    /// deviation: over many simulated runs, the 95% interval holds the
    /// true ratio in about 95% of them (the percentile bootstrap runs a
    /// little narrow for few rounds), and its half-width is about
    /// 1.96·σ/√n, as the normal theory of the mean says.
    #[test]
    fn the_interval_covers_a_known_ratio_about_95_percent_of_the_time() {
        let (mu, sigma, n, runs) = (0.10_f64, 0.08_f64, 20, 300);
        let mut rng = Rng::new(2026);
        let mut covered = 0;
        let mut widths = Vec::new();
        for _ in 0..runs {
            let ratios: Vec<f64> = (0..n)
                .map(|_| (mu + sigma * normal(&mut rng)).exp())
                .collect();
            let (_, low, high) = ratio_interval(&ratios).unwrap();
            if low <= mu.exp() && mu.exp() <= high {
                covered += 1;
            }
            widths.push((high.ln() - low.ln()) / 2.0);
        }
        let coverage = f64::from(covered) / f64::from(runs);
        assert!((0.90..=0.98).contains(&coverage), "coverage {coverage}");
        let expected = 1.96 * sigma / (n as f64).sqrt();
        let mean_width = widths.iter().sum::<f64>() / widths.len() as f64;
        assert!(
            (mean_width / expected - 1.0).abs() < 0.1,
            "half-width {mean_width} vs {expected}"
        );
    }

    /// A heavy-tailed case: log-ratios from a uniform distribution (flat,
    /// known mean) and the interval of a skewed sample still covers the
    /// true geometric mean at close to the nominal rate.
    #[test]
    fn the_interval_covers_a_uniform_distributions_mean_too() {
        let (center, half, n, runs) = (-0.05_f64, 0.3_f64, 30, 300);
        let mut rng = Rng::new(99);
        let mut covered = 0;
        for _ in 0..runs {
            let ratios: Vec<f64> = (0..n)
                .map(|_| (center + half * (2.0 * rng.unit() - 1.0)).exp())
                .collect();
            let (_, low, high) = ratio_interval(&ratios).unwrap();
            if low <= center.exp() && center.exp() <= high {
                covered += 1;
            }
        }
        let coverage = f64::from(covered) / f64::from(runs);
        assert!((0.90..=0.98).contains(&coverage), "coverage {coverage}");
    }

    #[test]
    fn verdicts_say_only_what_the_interval_resolves() {
        assert_eq!(Verdict::of(Metric::LatencyP50, 1.05, 1.20), Verdict::Slower);
        assert_eq!(Verdict::of(Metric::LatencyP50, 0.80, 0.95), Verdict::Faster);
        assert_eq!(Verdict::of(Metric::HttpRps, 1.05, 1.20), Verdict::Faster);
        assert_eq!(Verdict::of(Metric::HttpRps, 0.80, 0.95), Verdict::Slower);
        // [0.87, 0.998] prints as [0.87, 1.00]: 1.00 is inside it; the
        // half-width stays the interval's own.
        assert_eq!(
            Verdict::of(Metric::LatencyP50, 0.87, 0.998),
            Verdict::NoResolvableDifference {
                half_width_pct: half_width_pct(0.87, 0.998)
            }
        );
        assert_eq!(
            Verdict::of(Metric::LatencyP50, 0.87, 0.994),
            Verdict::Faster
        );
        let unresolved = Verdict::of(Metric::LatencyP50, 0.97, 1.03);
        assert_eq!(
            unresolved.describe(),
            "no difference we can resolve (CI ±3.0%)"
        );
    }

    #[test]
    fn summaries_carry_the_ratio_to_native_with_its_interval() {
        let bridge = Route::new(Path::BridgeProxy, Client::Host);
        let mut samples = Samples::default();
        for (native, proxied) in [(20.0, 30.0), (22.0, 33.0), (21.0, 31.5), (20.0, 30.0)] {
            samples.record(Metric::LatencyP50, Route::NATIVE, native);
            samples.record(Metric::LatencyP50, bridge, proxied);
        }
        let native = samples.summary(Metric::LatencyP50, Route::NATIVE).unwrap();
        assert_eq!(native.ratio_to_native, Some(1.0));
        assert_eq!(native.verdict, None);
        let s = samples.summary(Metric::LatencyP50, bridge).unwrap();
        assert_eq!(s.median, 30.75);
        assert_eq!((s.min, s.max), (30.0, 33.0));
        // Every round is exactly 1.5 times native: a point interval.
        assert!((s.ratio_to_native.unwrap() - 1.5).abs() < 1e-12);
        let (low, high) = s.ratio_ci.unwrap();
        assert!((low - 1.5).abs() < 1e-9 && (high - 1.5).abs() < 1e-9);
        assert_eq!(s.verdict, Some(Verdict::Slower));
        assert_eq!(s.rounds, [30.0, 33.0, 31.5, 30.0]);
        assert!(samples.summary(Metric::HttpRps, bridge).is_none());
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
