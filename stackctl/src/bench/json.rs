//! `--format json`: the whole report for scripts: the options, the routes
//! and where their clients sat, every metric's summary per route (median,
//! spread, ratio to native with its interval and verdict, every round's
//! value) beside the guide's figures, the isolation matrix, and what was
//! skipped or does not apply, with why.

use std::collections::BTreeMap;

use serde::Serialize;

use super::matrix::Row;
use super::paths::Route;
use super::pin::Pinning;
use super::stats::{Metric, Summary};
use super::table::{HOST_TOLERANCE, bridge_over_host, host_misses};
use super::{Report, RouteInfo};

#[derive(Debug, Serialize)]
struct Document<'a> {
    session: &'a str,
    options: &'a super::Options,
    routes: Vec<RouteEntry<'a>>,
    skipped: Vec<Why>,
    not_applicable: Vec<Why>,
    userland_proxy: Option<bool>,
    pinning: &'a Pinning,
    parent_link: Option<&'static str>,
    cores: usize,
    load_average_before: Option<f64>,
    load_average_after: Option<f64>,
    metrics: Vec<MetricEntry>,
    isolation: &'a [Row],
    made_swarm: bool,
    goal: Goal,
}

#[derive(Debug, Serialize)]
struct RouteEntry<'a> {
    name: String,
    path: &'static str,
    client: &'static str,
    description: &'static str,
    #[serde(flatten)]
    info: &'a RouteInfo,
}

#[derive(Debug, Serialize)]
struct Why {
    route: String,
    why: String,
}

#[derive(Debug, Serialize)]
struct MetricEntry {
    metric: Metric,
    label: String,
    unit: &'static str,
    higher_is_better: bool,
    routes: BTreeMap<String, Summary>,
    bridge_proxy_over_host: Option<f64>,
    guide: Option<Guide>,
}

#[derive(Debug, Serialize)]
struct Guide {
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

fn why(list: &[(Route, String)]) -> Vec<Why> {
    list.iter()
        .map(|(route, why)| Why {
            route: route.name(),
            why: why.clone(),
        })
        .collect()
}

/// The report as pretty-printed JSON.
pub fn to_string(report: &Report) -> serde_json::Result<String> {
    let streams = report.options.streams;
    let misses = host_misses(report);
    let routes = report.measured();
    let document = Document {
        session: &report.session,
        options: &report.options,
        routes: report
            .routes
            .iter()
            .map(|info| RouteEntry {
                name: info.route.name(),
                path: info.route.path.name(),
                client: info.route.client.name(),
                description: info.route.path.description(),
                info,
            })
            .collect(),
        skipped: why(&report.skipped),
        not_applicable: why(&report.not_applicable),
        userland_proxy: report.userland_proxy,
        pinning: &report.pinning,
        parent_link: report.parent_kind,
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
                routes: routes
                    .iter()
                    .filter_map(|r| Some((r.name(), report.samples.summary(metric, *r)?)))
                    .collect(),
                bridge_proxy_over_host: bridge_over_host(
                    report,
                    metric,
                    super::paths::Path::BridgeProxy,
                ),
                guide: metric.guide().map(|(host, bridge)| Guide {
                    host,
                    bridge,
                    bridge_over_host: bridge / host,
                }),
            })
            .collect(),
        isolation: &report.matrix,
        made_swarm: report.made_swarm,
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
    use crate::bench::table::tests::{FACTORS, sample_report};

    #[test]
    fn the_json_holds_every_metric_on_every_route_with_intervals_and_rounds() {
        let text = to_string(&sample_report()).unwrap();
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        let metrics = value["metrics"].as_array().unwrap();
        assert_eq!(metrics.len(), Metric::ALL.len());
        for metric in metrics {
            for (route, _) in FACTORS {
                let summary = &metric["routes"][route.name()];
                assert!(summary["median"].is_f64(), "{metric}");
                assert_eq!(summary["rounds"].as_array().unwrap().len(), 4);
                if route != Route::NATIVE {
                    assert_eq!(summary["ratio_ci"].as_array().unwrap().len(), 2);
                    assert!(summary["verdict"]["verdict"].is_string(), "{summary}");
                }
            }
        }
        let p50 = metrics
            .iter()
            .find(|m| m["metric"] == "latency_p50")
            .unwrap();
        assert_eq!(p50["routes"]["native"]["ratio_to_native"], 1.0);
        assert_eq!(
            p50["routes"]["bridge-proxy"]["verdict"]["verdict"],
            "slower"
        );
        assert_eq!(value["routes"].as_array().unwrap().len(), FACTORS.len());
        assert_eq!(value["routes"][0]["client_at"], "host");
        assert_eq!(value["skipped"][0]["route"], "ipvlan-l2/lan");
        assert_eq!(value["isolation"][0]["lan_reaches"]["result"], "no");
        assert_eq!(value["pinning"]["pinned"]["server_cpu"], 1);
        assert_eq!(value["goal"]["met"], true);
        let rps = metrics.iter().find(|m| m["metric"] == "http_rps").unwrap();
        assert_eq!(rps["guide"]["host"], 18248.0);
    }
}
