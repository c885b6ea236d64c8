//! The text report: one block per metric with a row per route (median over
//! the rounds, the ratio to native with its 95% interval, and the verdict),
//! the comparison with the guide's table, the isolation matrix, what was
//! skipped and why, and the conditions of the run (CPU pinning, load).

use std::io::Write;

use super::Report;
use super::matrix::{Audit, Cell};
use super::paths::{Path, Route};
use super::stats::{Metric, within};

/// The goal: the host path no more than this fraction worse than native on
/// every metric.
pub const HOST_TOLERANCE: f64 = 0.05;
/// What a debug build of stackctl does to the figures: the client on the
/// host and in a LAN namespace is stackctl itself, while a client
/// container runs the release probe.
pub const DEBUG_BUILD: &str = "this stackctl is a debug build, and it is the client of every host→service and LAN→service route: those routes carry its unoptimised code (the HTTP rate most), while service→service routes use the release probe. Compare routes whose client is stackctl with each other; for figures to publish, run `cargo build --release -p stackctl` and `target/release/stackctl bench`";

/// The interval the full run aims for on host vs native p50: ±3%.
pub const TARGET_HALF_WIDTH_PCT: f64 = 3.0;

/// A value in its unit's precision.
pub fn format_value(metric: Metric, value: f64) -> String {
    match metric.unit() {
        "req/s" => format!("{value:.0}"),
        "Gbit/s" => format!("{value:.2}"),
        _ if value >= 1000.0 => format!("{value:.0}"),
        _ => format!("{value:.1}"),
    }
}

/// `[0.98, 1.04]` or blank.
fn interval(ci: Option<(f64, f64)>) -> String {
    ci.map_or_else(String::new, |(low, high)| format!("[{low:.2}, {high:.2}]"))
}

/// Writes the whole report.
pub fn write(report: &Report, out: &mut dyn Write) -> std::io::Result<()> {
    let o = &report.options;
    writeln!(
        out,
        "stackctl bench: {} rounds, the routes in a new random order every round (seed {}); ×NATIVE is the geometric mean of the per-round ratios to native, with its 95% bootstrap interval over the rounds",
        o.rounds, o.seed
    )?;
    writeln!(
        out,
        "latency: {} round trips per route per round after {} warm-up; HTTP: {} connections, {:.2} s after {:.2} s warm-up; bulk: {:.2} s per transfer",
        o.round_trips,
        o.warmup_round_trips,
        o.connections,
        o.http_duration.as_secs_f64(),
        o.http_warmup.as_secs_f64(),
        o.bulk_duration.as_secs_f64()
    )?;
    writeln!(out, "CPUs: {}", report.pinning.describe())?;
    let routes = report.measured();
    for metric in Metric::ALL {
        writeln!(out)?;
        let better = if metric.higher_is_better() {
            "higher"
        } else {
            "lower"
        };
        writeln!(
            out,
            "{} ({}, {better} is better)",
            metric.label(o.streams),
            metric.unit()
        )?;
        writeln!(
            out,
            "  {:<24} {:<16} {:>9} {:>8}  {:<14} VERDICT",
            "ROUTE", "CLIENT", "MEDIAN", "×NATIVE", "95% CI"
        )?;
        for route in &routes {
            let Some(s) = report.samples.summary(metric, *route) else {
                continue;
            };
            let verdict = match (route == &Route::NATIVE, s.verdict) {
                (true, _) => "baseline".to_owned(),
                (false, Some(v)) => v.describe(),
                (false, None) => "too few rounds for an interval".to_owned(),
            };
            writeln!(
                out,
                "  {:<24} {:<16} {:>9} {:>8}  {:<14} {verdict}",
                route.name(),
                route.client.describe(),
                format_value(metric, s.median),
                format!("×{:.2}", s.ratio_to_native.unwrap_or(f64::NAN)),
                interval(s.ratio_ci)
            )?;
        }
    }
    writeln!(out)?;
    writeln!(out, "The guide's table (host → bridge) beside this run's:")?;
    for metric in Metric::ALL {
        let Some((host, bridge)) = metric.guide() else {
            continue;
        };
        let ours = |path: Path| {
            bridge_over_host(report, metric, path)
                .map_or_else(|| "-".to_owned(), |r| format!("×{r:.2}"))
        };
        writeln!(
            out,
            "  {:<24} guide {} → {} {} (×{:.2}); here host → bridge-proxy {}, host → bridge-ip {}",
            metric.label(o.streams),
            format_value(metric, host),
            format_value(metric, bridge),
            metric.unit(),
            bridge / host,
            ours(Path::BridgeProxy),
            ours(Path::BridgeIp)
        )?;
    }
    write_matrix(report, out)?;
    if !report.skipped.is_empty() {
        writeln!(out)?;
        writeln!(out, "Skipped here (could not run on this machine):")?;
        for (route, why) in &report.skipped {
            writeln!(out, "  {:<24} {why}", route.name())?;
        }
    }
    if !report.not_applicable.is_empty() {
        writeln!(out)?;
        writeln!(out, "Not a route of its path:")?;
        for (route, why) in &report.not_applicable {
            writeln!(
                out,
                "  {:<24} {}",
                format!("{} ({})", route.path.name(), route.client.describe()),
                why
            )?;
        }
    }
    writeln!(out)?;
    for info in &report.routes {
        writeln!(
            out,
            "{:<24} probe {:<21} api {:<21} client in {}; {}",
            info.route.name(),
            info.target.probe.to_string(),
            info.target.api.to_string(),
            info.client_at,
            info.route.path.description()
        )?;
    }
    let proxy = match report.userland_proxy {
        Some(true) => "on (a docker-proxy process serves the ports published on 127.0.0.1)",
        Some(false) => "off (published ports are iptables DNAT only)",
        None => "not looked at (no published path in this run)",
    };
    writeln!(out, "userland proxy: {proxy}")?;
    if let Some(kind) = report.parent_kind {
        writeln!(
            out,
            "macvlan/ipvlan parent: a {kind} link the bench made{}",
            if kind == "veth" {
                " (this kernel has no dummy driver)"
            } else {
                ""
            }
        )?;
    }
    let load = |l: Option<f64>| l.map_or_else(|| "?".to_owned(), |l| format!("{l:.2}"));
    writeln!(
        out,
        "machine: {} cores, load average {} before, {} after",
        report.cores,
        load(report.load_before),
        load(report.load_after)
    )?;
    if cfg!(debug_assertions) {
        writeln!(out, "build: {DEBUG_BUILD}")?;
    }
    if let Some(s) = report.samples.summary(
        Metric::LatencyP50,
        Route::new(Path::Host, super::paths::Client::Host),
    ) && let (Some(ratio), Some(hw)) = (s.ratio_to_native, s.ci_half_width_pct)
    {
        writeln!(
            out,
            "host vs native, TCP p50: ×{ratio:.3} {} (CI ±{hw:.1}%; the aim is ±{TARGET_HALF_WIDTH_PCT:.0}% or less{})",
            interval(s.ratio_ci),
            if hw <= TARGET_HALF_WIDTH_PCT {
                ": reached"
            } else {
                ": not reached in this run"
            }
        )?;
    }
    let misses = host_misses(report);
    if misses.is_empty() {
        writeln!(
            out,
            "goal met: host no more than {:.0}% worse than native on every metric",
            HOST_TOLERANCE * 100.0
        )?;
    } else {
        writeln!(
            out,
            "goal missed: host more than {:.0}% worse than native on {}",
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

fn write_matrix(report: &Report, out: &mut dyn Write) -> std::io::Result<()> {
    if report.matrix.is_empty() {
        return Ok(());
    }
    writeln!(out)?;
    writeln!(
        out,
        "Isolation, measured on the running servers (details below the table):"
    )?;
    writeln!(
        out,
        "  {:<16} {:<12} {:<24} {:<16} {:<13} AUDIT (network checks)",
        "PATH", "LAN REACHES", "CONTAINER OVER LOCALHOST", "HOLDS HOST PORT", "HOST REACHES"
    )?;
    for row in &report.matrix {
        let audit = match &row.audit {
            Audit::Findings { findings } if findings.is_empty() => "nothing".to_owned(),
            Audit::Findings { findings } => {
                let mut ids: Vec<&str> = findings
                    .iter()
                    .filter_map(|f| f.split_whitespace().next())
                    .collect();
                ids.dedup();
                ids.join(", ")
            }
            Audit::NotAudited { why } => why.clone(),
        };
        writeln!(
            out,
            "  {:<16} {:<12} {:<24} {:<16} {:<13} {audit}",
            row.path.name(),
            row.lan_reaches.short(),
            row.container_over_localhost.short(),
            row.holds_host_port.short(),
            row.host_reaches.as_ref().map_or("-", Cell::short)
        )?;
    }
    for row in &report.matrix {
        writeln!(out, "  {}:", row.path.name())?;
        writeln!(out, "    LAN: {}", row.lan_reaches.detail())?;
        writeln!(
            out,
            "    localhost: {}",
            row.container_over_localhost.detail()
        )?;
        writeln!(out, "    host port: {}", row.holds_host_port.detail())?;
        if let Some(cell) = &row.host_reaches {
            writeln!(out, "    from the host: {}", cell.detail())?;
        }
        if let Audit::Findings { findings } = &row.audit {
            for finding in findings {
                writeln!(out, "    audit: {finding}")?;
            }
        }
    }
    Ok(())
}

/// A bridge path's median over the host median: the guide's comparison.
pub fn bridge_over_host(report: &Report, metric: Metric, bridge: Path) -> Option<f64> {
    let host = report
        .samples
        .summary(metric, Route::new(Path::Host, super::paths::Client::Host))?
        .median;
    let bridge = report
        .samples
        .summary(metric, Route::new(bridge, super::paths::Client::Host))?
        .median;
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
                .summary(metric, Route::new(Path::Host, super::paths::Client::Host))?
                .ratio_to_native?;
            (!within(metric, ratio, HOST_TOLERANCE)).then_some((metric, ratio))
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::bench::matrix::Row;
    use crate::bench::paths::Client;
    use crate::bench::pin::Pinning;
    use crate::bench::servers::Target;
    use crate::bench::stats::Samples;
    use crate::bench::{Options, RouteInfo};

    /// The routes of the made-up report and how much slower each is.
    pub(crate) const FACTORS: [(Route, f64); 5] = [
        (Route::NATIVE, 1.0),
        (Route::new(Path::Host, Client::Host), 1.02),
        (Route::new(Path::Host, Client::Container), 1.03),
        (Route::new(Path::BridgeProxy, Client::Host), 1.8),
        (Route::new(Path::BridgeIp, Client::Host), 1.1),
    ];

    /// A report with made-up rounds: bridge-proxy slower than the rest.
    pub(crate) fn sample_report() -> Report {
        let mut samples = Samples::default();
        for round in 0..4 {
            let jitter = f64::from(round) * 0.1;
            for (route, factor) in FACTORS {
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
                    samples.record(metric, route, value * (1.0 + jitter / 100.0));
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
            routes: FACTORS
                .iter()
                .map(|(route, _)| RouteInfo {
                    route: *route,
                    target,
                    client_at: "host".into(),
                })
                .collect(),
            skipped: vec![(
                Route::new(Path::IpvlanL2, Client::Lan),
                "the kernel cannot make a ipvlan link here".into(),
            )],
            not_applicable: vec![(
                Route::new(Path::Overlay, Client::Host),
                "the host has no address on an overlay network".into(),
            )],
            userland_proxy: Some(true),
            pinning: Pinning::Pinned {
                client_cpu: 0,
                server_cpu: 1,
            },
            parent_kind: Some("veth"),
            load_before: Some(0.5),
            load_after: Some(0.7),
            cores: 2,
            samples,
            made_swarm: false,
            matrix: vec![Row {
                path: Path::Host,
                lan_reaches: Cell::No {
                    detail: "10.213.0.1:5: Connection refused".into(),
                },
                container_over_localhost: Cell::Yes {
                    detail: "connected".into(),
                },
                holds_host_port: Cell::Yes {
                    detail: "127.0.0.1:5 by probe".into(),
                },
                host_reaches: None,
                audit: Audit::Findings {
                    findings: vec!["CIS-5.10 (probe-host): runs on the host network".into()],
                },
            }],
        }
    }

    fn text() -> String {
        let mut out = Vec::new();
        write(&sample_report(), &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn the_table_has_a_block_per_metric_and_a_row_per_route_with_the_guides_figures() {
        let text = text();
        for metric in Metric::ALL {
            assert!(text.contains(&metric.label(4)), "{text}");
        }
        for (route, _) in FACTORS {
            assert!(text.contains(&route.name()), "{text}");
        }
        assert!(text.contains("guide 21.0 → 28.0 µs (×1.33)"), "{text}");
        assert!(text.contains("18248 → 17603 req/s"), "{text}");
        assert!(text.contains("userland proxy: on"), "{text}");
        assert!(text.contains("client on CPU 0, servers on CPU 1"), "{text}");
    }

    #[test]
    fn each_route_has_its_ratio_interval_and_verdict() {
        let text = text();
        let p50 = text.split("TCP 1-byte RTT p90").next().unwrap().to_owned();
        let line = |name: &str| {
            p50.lines()
                .find(|l| l.trim_start().starts_with(&format!("{name} ")))
                .unwrap_or_else(|| panic!("{name}: {p50}"))
                .to_owned()
        };
        assert!(line("native").contains("baseline"), "{p50}");
        let proxy = line("bridge-proxy");
        assert!(
            proxy.contains("×1.80") && proxy.contains("[1.80, 1.80]"),
            "{proxy}"
        );
        assert!(proxy.ends_with("slower"), "{proxy}");
        assert!(line("host/container").contains("service→service"), "{p50}");
        assert!(text.contains("host vs native, TCP p50: ×1.020"), "{text}");
    }

    #[test]
    fn skipped_routes_the_matrix_and_the_parent_link_are_said() {
        let text = text();
        assert!(text.contains("Skipped here"), "{text}");
        assert!(text.contains("ipvlan-l2/lan"), "{text}");
        assert!(text.contains("Not a route of its path"), "{text}");
        assert!(text.contains("this kernel has no dummy driver"), "{text}");
        let row = text
            .lines()
            .find(|l| l.trim_start().starts_with("host ") && l.contains("CIS-5.10"))
            .unwrap_or_else(|| panic!("{text}"));
        assert!(row.contains("no") && row.contains("yes"), "{row}");
    }

    #[test]
    fn the_goal_is_reported_as_met_when_host_is_within_five_percent() {
        assert!(text().contains("goal met"));
        assert!(host_misses(&sample_report()).is_empty());
    }

    #[test]
    fn a_debug_build_says_its_own_client_is_unoptimised() {
        assert_eq!(text().contains(DEBUG_BUILD), cfg!(debug_assertions));
    }

    #[test]
    fn a_slow_host_path_is_reported_as_a_miss_with_its_ratio() {
        let mut report = sample_report();
        let host = Route::new(Path::Host, Client::Host);
        let mut samples = Samples::default();
        for _ in 0..4 {
            samples.record(Metric::LatencyP99, Route::NATIVE, 20.0);
            samples.record(Metric::LatencyP99, host, 1000.0);
        }
        report.samples = samples;
        let misses = host_misses(&report);
        assert_eq!(misses.len(), 1);
        assert_eq!(misses[0].0, Metric::LatencyP99);
        let mut out = Vec::new();
        write(&report, &mut out).unwrap();
        assert!(String::from_utf8(out).unwrap().contains("goal missed"));
    }
}
