//! `--format json`: the whole report for scripts: the options, the paths and
//! their addresses, and for every metric each path's summary (median,
//! spread, ratio to native, every round's value) beside the seed's figures.

use std::collections::BTreeMap;

use serde::Serialize;

use super::Report;
use super::paths::Path;
use super::stats::{Metric, Summary};
use super::table::{HOST_TOLERANCE, bridge_over_host, host_misses};

#[derive(Debug, Serialize)]
struct Document<'a> {
    session: &'a str,
    options: &'a super::Options,
    paths: Vec<PathEntry>,
    userland_proxy: Option<bool>,
    cores: usize,
    load_average_before: Option<f64>,
    load_average_after: Option<f64>,
    metrics: Vec<MetricEntry>,
    goal: Goal,
}

#[derive(Debug, Serialize)]
struct PathEntry {
    name: &'static str,
    description: &'static str,
    probe: String,
    api: String,
}

#[derive(Debug, Serialize)]
struct MetricEntry {
    metric: Metric,
    label: String,
    unit: &'static str,
    higher_is_better: bool,
    paths: BTreeMap<&'static str, Summary>,
    bridge_over_host: Option<f64>,
    seed: Option<Seed>,
}

#[derive(Debug, Serialize)]
struct Seed {
    host: f64,
    bridge: f64,
    bridge_over_host: f64,
}

#[derive(Debug, Serialize)]
struct Goal {
    host_tolerance: f64,
    met: bool,
    /// The metrics where host is worse than native by more than the tolerance.
    missed: BTreeMap<String, f64>,
}

/// The report as pretty-printed JSON.
pub fn to_string(report: &Report) -> serde_json::Result<String> {
    let streams = report.options.streams;
    let misses = host_misses(report);
    let document = Document {
        session: &report.session,
        options: &report.options,
        paths: report
            .targets
            .iter()
            .map(|(path, target)| PathEntry {
                name: path.name(),
                description: path.description(),
                probe: target.probe.to_string(),
                api: target.api.to_string(),
            })
            .collect(),
        userland_proxy: report.userland_proxy,
        cores: report.cores,
        load_average_before: report.load_before,
        load_average_after: report.load_after,
        metrics: Metric::ALL
            .into_iter()
            .map(|metric| MetricEntry {
                metric,
                label: metric.label(streams),
                unit: metric.unit(),
                higher_is_better: metric.higher_is_better(),
                paths: Path::ALL
                    .into_iter()
                    .filter_map(|p| Some((p.name(), report.samples.summary(metric, p)?)))
                    .collect(),
                bridge_over_host: bridge_over_host(report, metric),
                seed: metric.seed().map(|(host, bridge)| Seed {
                    host,
                    bridge,
                    bridge_over_host: bridge / host,
                }),
            })
            .collect(),
        goal: Goal {
            host_tolerance: HOST_TOLERANCE,
            met: misses.is_empty(),
            missed: misses
                .into_iter()
                .map(|(m, r)| (m.label(streams), r))
                .collect(),
        },
    };
    serde_json::to_string_pretty(&document)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::table::tests::sample_report;

    #[test]
    fn the_json_holds_every_metric_on_every_path_with_ratios_and_rounds() {
        let text = to_string(&sample_report()).unwrap();
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        let metrics = value["metrics"].as_array().unwrap();
        assert_eq!(metrics.len(), Metric::ALL.len());
        for metric in metrics {
            for path in Path::ALL {
                let summary = &metric["paths"][path.name()];
                assert!(summary["median"].is_f64(), "{metric}");
                assert_eq!(summary["rounds"].as_array().unwrap().len(), 3);
            }
        }
        let p50 = metrics
            .iter()
            .find(|m| m["metric"] == "latency_p50")
            .unwrap();
        assert_eq!(p50["paths"]["native"]["ratio_to_native"], 1.0);
        assert_eq!(p50["paths"]["bridge-proxy"]["median"], 37.0);
        assert_eq!(value["paths"].as_array().unwrap().len(), 4);
        assert_eq!(value["goal"]["met"], true);
        let rps = metrics.iter().find(|m| m["metric"] == "http_rps").unwrap();
        assert_eq!(rps["seed"]["host"], 18248.0);
    }
}
