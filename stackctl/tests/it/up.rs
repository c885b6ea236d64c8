//! `up`, `down` and the firewall on the real engine, each test with a copy
//! of the stack of its own (project name, ports, secrets, volume), beside
//! whatever else runs on the machine.

use std::net::TcpListener;
use std::process::Command;
use std::time::Duration;

use stackctl::firewall::{self, Family};
use stackctl::image::BuildOptions;
use stackctl::progress::Progress;
use stackctl::stack::up::{Action, UpOptions, UpReport};
use stackctl::stack::{self, containers};
use stackctl::testbed::Testbed;
use stackctl::verify::uid::{Attempt, connect_as};

fn options() -> UpOptions {
    UpOptions {
        services: Vec::new(),
        firewall: true,
        timeout: Duration::from_secs(120),
        build: BuildOptions::default(),
    }
}

async fn up(bed: &Testbed) -> anyhow::Result<UpReport> {
    stack::up::up(&bed.docker, bed.project(), &options(), &Progress::plain()).await
}

fn action_of(report: &UpReport, service: &str) -> Action {
    report
        .services
        .iter()
        .find(|s| s.service == service)
        .map(|s| s.action)
        .unwrap()
}

fn id_of(report: &UpReport, service: &str) -> String {
    report
        .services
        .iter()
        .find(|s| s.service == service)
        .map(|s| s.container_id.clone())
        .unwrap()
}

/// Whether a process with `uid` can open a TCP connection to `port` on
/// loopback (a reset from the firewall is a refusal).
fn can_connect_as(uid: u32, port: u16) -> bool {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    connect_as(uid, uid, addr, Duration::from_secs(3)) == Attempt::Connected
}

fn api_url(bed: &Testbed, path: &str) -> String {
    format!(
        "http://localhost:{}{path}",
        bed.port("SHOP_API_PORT").unwrap()
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn up_brings_every_service_to_healthy_and_the_api_answers_on_localhost() -> anyhow::Result<()>
{
    let bed = Testbed::new("up-healthy").await?;
    let report = up(&bed).await?;
    for service in &report.services {
        assert_eq!(service.state, "running", "{service:?}");
        assert_eq!(service.health.as_deref(), Some("healthy"), "{service:?}");
        assert_eq!(service.action, Action::Created);
    }
    let api = report.services.iter().find(|s| s.service == "api").unwrap();
    assert_eq!(
        api.endpoints[0],
        format!(
            "https://localhost:{} (also the LAN, at this host's addresses)",
            bed.port("SHOP_API_PORT")?
        )
    );
    let ready: serde_json::Value = reqwest::get(api_url(&bed, "/readyz")).await?.json().await?;
    assert_eq!(ready["status"], "ready");
    let names: Vec<String> = containers(&bed.docker, &bed.project().name)
        .await?
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert!(
        names.contains(&format!("{}-api-1", bed.project().name)),
        "compose-style names: {names:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_up_changes_nothing() -> anyhow::Result<()> {
    let bed = Testbed::new("up-twice").await?;
    let first = up(&bed).await?;
    let second = up(&bed).await?;
    for service in ["db", "api"] {
        assert_eq!(action_of(&second, service), Action::Unchanged);
        assert_eq!(
            id_of(&first, service),
            id_of(&second, service),
            "{service} kept its container"
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn changing_one_services_environment_recreates_only_that_service() -> anyhow::Result<()> {
    let mut bed = Testbed::new("up-change").await?;
    let first = up(&bed).await?;
    bed.set_env("api", "RUST_LOG", "debug")?;
    let second = up(&bed).await?;
    assert_eq!(action_of(&second, "api"), Action::Recreated);
    assert_ne!(id_of(&first, "api"), id_of(&second, "api"));
    assert_eq!(action_of(&second, "db"), Action::Unchanged);
    assert_eq!(id_of(&first, "db"), id_of(&second, "db"));
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn down_removes_containers_and_firewall_keeps_the_volume_and_data_survives()
-> anyhow::Result<()> {
    let bed = Testbed::new("up-down").await?;
    up(&bed).await?;
    let token = std::fs::read_to_string(
        bed.project().resolve(
            bed.project().model.secrets["api_admin_token"]
                .file
                .as_deref()
                .unwrap(),
        ),
    )?;
    let sku = format!("KEEP-{}", std::process::id());
    let created = reqwest::Client::new()
        .post(api_url(&bed, "/api/products"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"sku": sku, "name": "Kept", "category": "kept", "price_cents": 1, "stock": 1}))
        .send()
        .await?;
    assert_eq!(created.status(), 201);
    assert!(!firewall::installed(&bed.project().name, Family::V4).is_empty());

    let report = stack::down::down(&bed.docker, bed.project(), false, &Progress::plain()).await?;
    assert_eq!(report.containers.len(), bed.project().model.services.len());
    assert!(report.firewall_removed);
    assert!(
        containers(&bed.docker, &bed.project().name)
            .await?
            .is_empty()
    );
    assert!(
        firewall::installed(&bed.project().name, Family::V4).is_empty(),
        "the rules are gone"
    );
    assert!(firewall::installed(&bed.project().name, Family::V6).is_empty());
    assert_eq!(
        stack::volumes(&bed.docker, &bed.project().name)
            .await?
            .len(),
        1,
        "the volume is kept"
    );

    up(&bed).await?;
    let kept = reqwest::get(api_url(&bed, &format!("/api/products/sku/{sku}"))).await?;
    assert_eq!(kept.status(), 200, "the product survived down and up");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_firewall_lets_each_uid_reach_only_its_allowlist() -> anyhow::Result<()> {
    let bed = Testbed::new("up-firewall").await?;
    up(&bed).await?;
    let (db, api) = (bed.port("SHOP_DB_PORT")?, bed.port("SHOP_API_PORT")?);
    let outsider = TcpListener::bind("127.0.0.1:0")?;
    let other = outsider.local_addr()?.port();
    let (db_uid, api_uid, gateway_uid) = (10001, 10010, 10020);
    assert!(
        can_connect_as(api_uid, db),
        "the API's uid reaches the database"
    );
    assert!(
        !can_connect_as(api_uid, other),
        "the API's uid reaches nothing else on loopback"
    );
    assert!(
        can_connect_as(gateway_uid, api),
        "the gateway's uid reaches the API"
    );
    assert!(
        !can_connect_as(gateway_uid, db),
        "the gateway's uid cannot open the database's port"
    );
    assert!(
        !can_connect_as(db_uid, api),
        "the database's uid opens no connections"
    );
    assert!(!can_connect_as(db_uid, other));
    assert!(can_connect_as(0, other), "other users are not policed");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tampered_pin_is_refused() -> anyhow::Result<()> {
    let bed = Testbed::new("up-pins").await?;
    up(&bed).await?;
    let path = stackctl::pins::path(bed.project());
    let text = std::fs::read_to_string(&path)?;
    let mut pins: serde_json::Value = serde_json::from_str(&text)?;
    pins["images"]["api"]["id"] =
        "sha256:0000000000000000000000000000000000000000000000000000000000000000".into();
    std::fs::write(&path, pins.to_string())?;
    let err = up(&bed).await.unwrap_err().to_string();
    assert!(
        err.contains("service `api`") && err.contains("is pinned to 000000000000"),
        "{err}"
    );
    assert!(err.contains("stackctl lock"), "{err}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_port_held_by_another_process_is_reported_before_anything_starts() -> anyhow::Result<()> {
    let bed = Testbed::new("up-port").await?;
    let port = bed.port("SHOP_API_PORT")?;
    let _squatter = TcpListener::bind(("127.0.0.1", port))?;
    let err = up(&bed).await.unwrap_err().to_string();
    assert!(
        err.contains(&format!("service `api` must listen on port {port}")),
        "{err}"
    );
    assert!(
        err.contains(&format!("process {}", std::process::id())),
        "names the holder: {err}"
    );
    assert!(err.contains("Nothing was started"), "{err}");
    assert!(
        containers(&bed.docker, &bed.project().name)
            .await?
            .is_empty(),
        "no container was made"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_service_that_fails_stops_up_with_its_logs() -> anyhow::Result<()> {
    let mut bed = Testbed::new("up-fail").await?;
    bed.set_env("api", "API_POOL_MAX", "0")?;
    let mut options = options();
    options.timeout = Duration::from_secs(60);
    let err = stack::up::up(&bed.docker, bed.project(), &options, &Progress::plain())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("service `api` failed"), "{err}");
    assert!(err.contains("last log lines of"), "{err}");
    assert!(
        err.contains("pool-max"),
        "the API's own error is shown: {err}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn without_the_firewall_up_says_so_and_installs_no_rules() -> anyhow::Result<()> {
    let mut bed = Testbed::new("up-nofw").await?;
    // Other copies' firewalls (tests run in parallel) police the same uids and
    // would refuse this copy's health check on its own port: without a check,
    // nothing here opens a connection.
    bed.project_mut()
        .model
        .services
        .get_mut("db")
        .unwrap()
        .healthcheck = Some(stackctl::compose::model::Healthcheck {
        disable: true,
        ..Default::default()
    });
    let mut options = options();
    options.firewall = false;
    options.services = vec!["db".to_owned()];
    let report = stack::up::up(&bed.docker, bed.project(), &options, &Progress::plain()).await?;
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.contains("THE FIREWALL IS OFF")),
        "{:?}",
        report.warnings
    );
    assert!(firewall::installed(&bed.project().name, Family::V4).is_empty());
    assert_eq!(
        report.services.len(),
        1,
        "only the service asked for (and its dependencies)"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn lock_refuses_a_project_that_never_ran_and_creates_nothing() -> anyhow::Result<()> {
    let name = format!("stackctl-test-lock-nosuch-{}", std::process::id());
    let file = stackctl::testbed::stack_compose_file();
    let output = Command::new(env!("CARGO_BIN_EXE_stackctl"))
        .arg("-f")
        .arg(&file)
        .args(["-p", &name, "lock"])
        .output()?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("nothing to pin"), "{stderr}");
    assert!(
        stderr.contains(&format!("stackctl -p {name} up")),
        "{stderr}"
    );
    let dir = file.parent().unwrap().join(".stackctl").join(&name);
    assert!(!dir.exists(), "{} was created", dir.display());
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn up_reports_as_json_for_scripts() -> anyhow::Result<()> {
    let name = format!("stackctl-test-up-json-{}", std::process::id());
    let secrets = tempfile::tempdir()?;
    let db_port = stackctl::testbed::free_port()?;
    let stackctl = |args: &[&str]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_stackctl"));
        command
            .arg("-f")
            .arg(stackctl::testbed::stack_compose_file())
            .args(["-p", &name])
            .args(args)
            .env("SHOP_SECRETS_DIR", secrets.path())
            .env("SHOP_DB_PORT", db_port.to_string());
        command
    };
    let output = stackctl(&["up", "--format", "json", "db"]).output()?;
    let down = stackctl(&["down", "-v"]).output()?;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        down.status.success(),
        "{}",
        String::from_utf8_lossy(&down.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout)?;
    assert_eq!(report["project"], name.as_str());
    assert_eq!(report["services"][0]["service"], "db");
    assert_eq!(report["services"][0]["health"], "healthy");
    assert_eq!(report["services"][0]["action"], "created");
    assert_eq!(
        report["services"][0]["endpoints"][0],
        format!("mysql://127.0.0.1:{db_port} (this host only)")
    );
    assert_eq!(report["firewall"], true);
    assert!(
        report["firewall_chain"]
            .as_str()
            .is_some_and(|c| c.starts_with("STACKCTL-")),
        "{report}"
    );
    Ok(())
}
