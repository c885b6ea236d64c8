//! The text report: one row per metric, one column per path with its median,
//! its ratio to native (the median of the per-round ratios) and its spread
//! over the rounds, then the bridge/host
//! ratio beside the seed's; and whether the goal (host within 5% of
//! native on every metric) was met.

use std::io::Write;

use super::Report;
use super::paths::Path;
use super::stats::{Metric, within};

/// The goal: the host path within this fraction of native on every metric.
pub const HOST_TOLERANCE: f64 = 0.05;

/// A value in its unit's precision.
pub fn format_value(metric: Metric, value: f64) -> String {
    match metric.unit() {
        "req/s" => format!("{value:.0}"),
        "Gbit/s" => format!("{value:.2}"),
        _ if value >= 1000.0 => format!("{value:.0}"),
        _ => format!("{value:.1}"),
    }
}

/// Writes the table and the notes under it.
pub fn write(report: &Report, out: &mut dyn Write) -> std::io::Result<()> {
    let o = &report.options;
    writeln!(
        out,
        "stackctl bench: {} rounds; median over the rounds, ×median of the per-round ratios to native, (spread: (max-min)/median)",
        o.rounds
    )?;
    writeln!(
        out,
        "latency: {} round trips per path per round after {} warm-up; HTTP: {} connections, {:.2} s after {:.2} s warm-up; bulk: {:.2} s per transfer",
        o.round_trips,
        o.warmup_round_trips,
        o.connections,
        o.http_duration.as_secs_f64(),
        o.http_warmup.as_secs_f64(),
        o.bulk_duration.as_secs_f64()
    )?;
    writeln!(out)?;
    write!(out, "{:<26} {:<6}", "METRIC", "UNIT")?;
    for path in Path::ALL {
        write!(out, " {:<22}", path.name())?;
    }
    writeln!(out, " {:<11} SEED host→bridge", "bridge/host")?;
    for metric in Metric::ALL {
        write!(out, "{:<26} {:<6}", metric.label(o.streams), metric.unit())?;
        for path in Path::ALL {
            let cell = match report.samples.summary(metric, path) {
                Some(s) => format!(
                    "{} ×{:.2} ({:.0}%)",
                    format_value(metric, s.median),
                    s.ratio_to_native.unwrap_or(f64::NAN),
                    s.spread_pct
                ),
                None => "-".to_owned(),
            };
            write!(out, " {cell:<22}")?;
        }
        let ours =
            bridge_over_host(report, metric).map_or_else(|| "-".to_owned(), |r| format!("×{r:.2}"));
        let seed = metric.seed().map_or_else(String::new, |(host, bridge)| {
            format!(
                "{} → {} {} (×{:.2})",
                format_value(metric, host),
                format_value(metric, bridge),
                metric.unit(),
                bridge / host
            )
        });
        writeln!(out, " {ours:<11} {seed}")?;
    }
    writeln!(out)?;
    for (path, target) in &report.targets {
        writeln!(
            out,
            "{:<13} probe {:<21} api {:<21} {}",
            path.name(),
            target.probe.to_string(),
            target.api.to_string(),
            path.description()
        )?;
    }
    let proxy = match report.userland_proxy {
        Some(true) => "on (a docker-proxy process serves the published ports)",
        Some(false) => "off (published ports are iptables DNAT only)",
        None => "unknown",
    };
    writeln!(out, "userland proxy: {proxy}")?;
    let load = |l: Option<f64>| l.map_or_else(|| "?".to_owned(), |l| format!("{l:.2}"));
    writeln!(
        out,
        "machine: {} cores, load average {} before, {} after",
        report.cores,
        load(report.load_before),
        load(report.load_after)
    )?;
    let misses = host_misses(report);
    if misses.is_empty() {
        writeln!(
            out,
            "goal met: host within {:.0}% of native on every metric",
            HOST_TOLERANCE * 100.0
        )?;
    } else {
        writeln!(
            out,
            "goal missed: host not within {:.0}% of native on {}",
            HOST_TOLERANCE * 100.0,
            misses
                .iter()
                .map(|(m, r)| format!("{} (×{r:.2})", m.label(o.streams)))
                .collect::<Vec<_>>()
                .join(", ")
        )?;
    }
    Ok(())
}

/// The bridge-proxy median over the host median: the seed's comparison.
pub fn bridge_over_host(report: &Report, metric: Metric) -> Option<f64> {
    let host = report.samples.summary(metric, Path::Host)?.median;
    let bridge = report.samples.summary(metric, Path::BridgeProxy)?.median;
    (host != 0.0).then(|| bridge / host)
}

/// The metrics on which the host path is worse than native by more than
/// [`HOST_TOLERANCE`], with the ratio.
pub fn host_misses(report: &Report) -> Vec<(Metric, f64)> {
    Metric::ALL
        .into_iter()
        .filter_map(|metric| {
            let ratio = report
                .samples
                .summary(metric, Path::Host)?
                .ratio_to_native?;
            (!within(metric, ratio, HOST_TOLERANCE)).then_some((metric, ratio))
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::bench::stats::Samples;
    use crate::bench::{Options, paths::Target};

    /// A report with made-up rounds: bridge-proxy slower than the rest.
    pub(crate) fn sample_report() -> Report {
        let mut samples = Samples::default();
        for round in 0..3 {
            let jitter = f64::from(round);
            for (path, factor) in [
                (Path::Native, 1.0),
                (Path::Host, 1.02),
                (Path::BridgeProxy, 1.8),
                (Path::BridgeIp, 1.1),
            ] {
                for metric in Metric::ALL {
                    let base = match metric.unit() {
                        "req/s" => 20_000.0,
                        "Gbit/s" => 10.0,
                        _ => 20.0,
                    };
                    let value = if metric.higher_is_better() {
                        base / factor
                    } else {
                        base * factor
                    };
                    samples.record(metric, path, value + jitter);
                }
            }
        }
        let target = Target {
            probe: "127.0.0.1:1".parse().unwrap(),
            api: "127.0.0.1:2".parse().unwrap(),
        };
        Report {
            session: "stackctl-bench-test".into(),
            options: Options::quick(),
            targets: Path::ALL.iter().map(|p| (*p, target)).collect(),
            userland_proxy: Some(true),
            load_before: Some(0.5),
            load_after: Some(0.7),
            cores: 2,
            samples,
        }
    }

    #[test]
    fn the_table_has_a_row_per_metric_and_a_column_per_path_with_the_seed() {
        let mut out = Vec::new();
        write(&sample_report(), &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        for path in Path::ALL {
            assert!(text.contains(path.name()), "{text}");
        }
        for metric in Metric::ALL {
            assert!(text.contains(&metric.label(4)), "{text}");
        }
        assert!(text.contains("21.0 → 28.0 µs (×1.33)"), "{text}");
        assert!(text.contains("18248 → 17603 req/s"), "{text}");
        assert!(text.contains("userland proxy: on"), "{text}");
        let p50 = text
            .lines()
            .find(|l| l.starts_with("TCP 1-byte RTT p50"))
            .unwrap();
        assert!(p50.contains("21.0 ×1.00"), "native is its own ratio: {p50}");
        assert!(
            p50.contains("37.0 ×1.76"),
            "bridge-proxy median over native's: {p50}"
        );
    }

    #[test]
    fn the_goal_is_reported_as_met_when_host_is_within_five_percent() {
        let mut out = Vec::new();
        write(&sample_report(), &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("goal met"), "{text}");
        assert!(host_misses(&sample_report()).is_empty());
    }

    #[test]
    fn a_slow_host_path_is_reported_as_a_miss_with_its_ratio() {
        let mut report = sample_report();
        for _ in 0..3 {
            report
                .samples
                .record(Metric::LatencyP99, Path::Native, 20.0);
            report
                .samples
                .record(Metric::LatencyP99, Path::Host, 1000.0);
        }
        let misses = host_misses(&report);
        assert_eq!(misses.len(), 1);
        assert_eq!(misses[0].0, Metric::LatencyP99);
        let mut out = Vec::new();
        write(&report, &mut out).unwrap();
        assert!(String::from_utf8(out).unwrap().contains("goal missed"));
    }
}
