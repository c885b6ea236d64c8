//! Reachability from inside the containers: each ShopDotCom service reports,
//! from its own process, whether it reaches its upstream over `localhost`.
//! The API's `/readyz` runs a query on the database at 127.0.0.1; the
//! gateway's `/api/status` says whether its last call to the API succeeded;
//! the terminal's `NETINFO` opens the stack's ports from the terminal
//! process. A service without such a report gets no check here.

use crate::compose::Project;
use crate::compose::extension::Endpoint;

use super::{Check, Group, Outcome, local_addr, pass_if, probe};

/// The check of `service`'s upstream, for the services that report one;
/// failed without asking when the service or its upstream is `unavailable`
/// (no container of this project answers at its address).
pub(super) async fn check(
    project: &Project,
    service: &str,
    unavailable: &(dyn Fn(&str) -> Option<String> + Sync),
) -> Option<Check> {
    let upstream_of = match service {
        "api" => "db",
        "notebook-gateway" | "legacy-telnet" => "api",
        _ => return None,
    };
    let endpoint = project.extensions.get(service)?.listen.first().cloned()?;
    let upstream = |name: &str| -> String {
        project
            .extensions
            .get(name)
            .and_then(|e| e.listen.first())
            .map_or_else(
                || name.to_owned(),
                |e| format!("{name} at {}", local_addr(e)),
            )
    };
    let claim = match service {
        "api" => format!("api -> {} (its /readyz queries it)", upstream(upstream_of)),
        "notebook-gateway" => format!(
            "notebook-gateway -> {} (its /api/status)",
            upstream(upstream_of)
        ),
        _ => format!("legacy-telnet -> {} (its NETINFO)", upstream(upstream_of)),
    };
    let (outcome, detail) = match unavailable(service).or_else(|| unavailable(upstream_of)) {
        Some(why) => (Outcome::Fail, why),
        None => {
            let result = match service {
                "api" => api_ready(&endpoint).await,
                "notebook-gateway" => gateway_status(&endpoint).await,
                _ => terminal_netinfo(&endpoint).await,
            };
            match result {
                Ok((holds, detail)) => (pass_if(holds), detail),
                Err(err) => (Outcome::Fail, format!("no report: {err:#}")),
            }
        }
    };
    Some(Check {
        group: Group::Reachability,
        service: service.to_owned(),
        claim,
        outcome,
        detail,
    })
}

async fn api_ready(api: &Endpoint) -> anyhow::Result<(bool, String)> {
    let answer = probe::http_get(local_addr(api), "/readyz").await?;
    Ok((
        answer.status == 200,
        format!("/readyz {}: {}", answer.status, answer.body.trim()),
    ))
}

async fn gateway_status(gateway: &Endpoint) -> anyhow::Result<(bool, String)> {
    let answer = probe::http_get(local_addr(gateway), "/api/status").await?;
    anyhow::ensure!(
        answer.status == 200,
        "/api/status answered {}",
        answer.status
    );
    let status: serde_json::Value = serde_json::from_str(&answer.body)?;
    let api = &status["api"];
    let reachable = api["reachable"].as_bool().unwrap_or(false);
    Ok((
        reachable,
        format!(
            "uses {}: {}",
            api["url"].as_str().unwrap_or("?"),
            api["detail"].as_str().unwrap_or("?")
        ),
    ))
}

async fn terminal_netinfo(terminal: &Endpoint) -> anyhow::Result<(bool, String)> {
    let answer = probe::telnet_command(local_addr(terminal), "NETINFO").await?;
    let line = answer
        .lines()
        .map(str::trim)
        .find(|l| l.split_whitespace().next() == Some("api"))
        .ok_or_else(|| anyhow::anyhow!("NETINFO has no `api` line"))?;
    let reachable = line.split_whitespace().nth(2) == Some("reachable");
    let uid = answer
        .lines()
        .find_map(|l| l.trim().strip_prefix("running as"))
        .map(str::trim)
        .unwrap_or("?");
    Ok((reachable, format!("NETINFO (as {uid}): {line}")))
}
