//! Running the API: liveness and readiness, metrics, request ids, the
//! `healthcheck` subcommand of the image, and a clean stop on SIGTERM.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::fixture::Shared;

testkit::tests!(Shared;
    health_and_readiness_answer_when_the_database_does,
    metrics_count_requests_by_route_and_report_the_pool,
    every_response_carries_a_request_id,
    the_healthcheck_subcommand_reports_readiness_by_exit_code,
    the_binary_stops_cleanly_on_sigterm,
);

async fn health_and_readiness_answer_when_the_database_does(
    shared: Arc<Shared>,
) -> anyhow::Result<()> {
    let client = shared.client();
    assert_eq!(client.get_json("/healthz", 200).await?["status"], "ok");
    assert_eq!(client.get_json("/readyz", 200).await?["status"], "ready");
    Ok(())
}

async fn metrics_count_requests_by_route_and_report_the_pool(
    shared: Arc<Shared>,
) -> anyhow::Result<()> {
    let client = shared.client();
    client.get_json("/api/products/1", 200).await?;
    client.get("/api/products/999999999").await?;
    let response = client.get("/metrics").await?;
    assert!(
        response.headers()["content-type"]
            .to_str()?
            .starts_with("text/plain")
    );
    let text = response.text().await?;
    assert!(
        text.contains(
            "http_requests_total{method=\"GET\",route=\"/api/products/{id}\",status=\"200\"}"
        ),
        "{text}"
    );
    assert!(text.contains(
        "http_requests_total{method=\"GET\",route=\"/api/products/{id}\",status=\"404\"}"
    ));
    assert!(text.contains("http_request_duration_seconds_bucket{method=\"GET\",route=\"/api/products/{id}\",le=\"+Inf\"}"));
    assert!(
        text.contains("db_pool_connections{state=\"in_use\"}")
            && text.contains("db_pool_connections{state=\"idle\"}")
    );
    assert!(
        !text.contains("/api/products/1\""),
        "raw paths never become labels"
    );
    Ok(())
}

async fn every_response_carries_a_request_id(shared: Arc<Shared>) -> anyhow::Result<()> {
    let client = shared.client();
    let generated = client.get("/healthz").await?;
    let id = generated
        .headers()
        .get("x-request-id")
        .map(|v| v.to_str().unwrap().to_owned());
    assert!(id.is_some_and(|id| id.len() == 36), "a UUID is generated");
    let given = client
        .http
        .get(client.url("/api/nope"))
        .header("x-request-id", "trace-me-42")
        .send()
        .await?;
    assert_eq!(
        given.headers()["x-request-id"],
        "trace-me-42",
        "an incoming id is kept, errors included"
    );
    Ok(())
}

async fn the_healthcheck_subcommand_reports_readiness_by_exit_code(
    shared: Arc<Shared>,
) -> anyhow::Result<()> {
    let bind = shared.api.base.trim_start_matches("http://").to_owned();
    let ready = Command::new(env!("CARGO_BIN_EXE_api"))
        .args(["--bind", &bind, "healthcheck"])
        .output()?;
    assert!(
        ready.status.success(),
        "{}",
        String::from_utf8_lossy(&ready.stderr)
    );
    assert!(String::from_utf8_lossy(&ready.stderr).contains("ready"));
    let free = stackctl::testbed::free_port()?;
    let nobody = Command::new(env!("CARGO_BIN_EXE_api"))
        .args([
            "--bind",
            &format!("127.0.0.1:{free}"),
            "healthcheck",
            "--live",
        ])
        .output()?;
    assert!(!nobody.status.success());
    assert!(
        String::from_utf8_lossy(&nobody.stderr).contains("cannot connect"),
        "{}",
        String::from_utf8_lossy(&nobody.stderr)
    );
    Ok(())
}

async fn the_binary_stops_cleanly_on_sigterm(shared: Arc<Shared>) -> anyhow::Result<()> {
    let port = stackctl::testbed::free_port()?;
    let mut child = Command::new(env!("CARGO_BIN_EXE_api"))
        .args([
            "--bind",
            &format!("127.0.0.1:{port}"),
            "--database-url",
            &shared.db.api_url(),
            "--seed",
            "false",
        ])
        .env("API_ADMIN_TOKEN", crate::fixture::ADMIN_TOKEN)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    let client = crate::fixture::Client {
        base: format!("http://127.0.0.1:{port}"),
        admin_token: None,
        http: reqwest::Client::new(),
    };
    let ready = client.wait_ready(Duration::from_secs(30)).await;
    let pid = child.id().to_string();
    let signal = Command::new("kill").args(["-TERM", &pid]).status()?;
    assert!(signal.success());
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if started.elapsed() > Duration::from_secs(15) {
            child.kill()?;
            anyhow::bail!("the API did not stop within 15 s of SIGTERM");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut log = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut log)?;
    ready?;
    assert!(status.success(), "exit {status}: {log}");
    assert!(
        log.contains("shutting down") && log.contains("stopped"),
        "{log}"
    );
    assert!(
        !log.contains(&shared.db.password),
        "the database password was logged"
    );
    assert!(
        !log.contains(crate::fixture::ADMIN_TOKEN),
        "the admin token was logged"
    );
    assert!(
        client.get("/healthz").await.is_err(),
        "nothing listens after the stop"
    );
    Ok(())
}
