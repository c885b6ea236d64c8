//! The whole stack, brought up once by stackctl's library as `stackctl up`
//! brings it up (a private copy: its own project name, ports, secrets and
//! volume), then checked from the outside: localhost reachability from the
//! host and from inside each container, isolation from a LAN client and by
//! the firewall, hardening as the engine and the kernel report it, and
//! `stackctl verify`'s matrix. Everything is removed at the end, also when
//! a test fails.

#![allow(unreachable_pub, reason = "test binary: `pub` is for testkit's macro")]

use std::net::{SocketAddr, TcpStream};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, ensure};
use integration_tests::console::{self, Console};
use integration_tests::transcript::{self, Names};
use mysql_async::prelude::Queryable as _;
use stackctl::image::BuildOptions;
use stackctl::progress::Progress;
use stackctl::stack::{self, up::UpOptions};
use stackctl::testbed::Testbed;
use stackctl::verify::lan::LanClient;
use stackctl::verify::uid::{Attempt, connect_as};
use stackctl::verify::{self, Outcome, hardening, probe};

const CONNECT: Duration = Duration::from_secs(3);

/// The running copy of the stack shared by every test.
pub struct Stack {
    bed: Testbed,
    db_password: String,
}

impl Stack {
    async fn start() -> anyhow::Result<Stack> {
        // Connections as a service's uid re-execute the stackctl binary.
        tokio::task::spawn_blocking(stackctl::testbed::build_stackctl).await??;
        let mut bed = Testbed::new("integration").await?;
        let db_password = format!("it-{}-{}", std::process::id(), rand_suffix());
        bed.set_secret("db_api_password", &db_password)?;
        let options = UpOptions {
            services: Vec::new(),
            firewall: true,
            timeout: Duration::from_secs(180),
            build: BuildOptions::default(),
        };
        stack::up::up(&bed.docker, bed.project(), &options, &Progress::plain()).await?;
        Ok(Stack { bed, db_password })
    }

    async fn stop(self) {
        drop(self.bed);
    }

    fn port(&self, variable: &str) -> u16 {
        self.bed.port(variable).unwrap()
    }

    fn local(&self, variable: &str) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port(variable)))
    }

    /// The uid `compose.yaml` gives `service` (`user: "UID:GID"`).
    fn uid(&self, service: &str) -> u32 {
        let user = self.bed.project().service(service).unwrap().user.clone();
        user.as_deref()
            .and_then(|u| u.split(':').next())
            .and_then(|u| u.parse().ok())
            .unwrap_or_else(|| panic!("{service} has no numeric user: {user:?}"))
    }

    fn url(&self, variable: &str, path: &str) -> String {
        format!("http://localhost:{}{path}", self.port(variable))
    }
}

/// Some bits that differ between runs (the clock), for a throwaway password.
fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default()
}

testkit::tests!(Stack;
    every_service_answers_over_localhost_from_the_host,
    each_service_reaches_its_upstream_over_localhost_from_inside_its_container,
    a_lan_client_reaches_the_api_and_terminal_but_not_the_database_or_gateway,
    the_lan_gets_the_public_api_over_tls_only_and_never_the_admin_plane,
    the_firewall_keeps_the_gateway_uid_off_the_database_and_the_database_uid_from_connecting_out,
    every_container_runs_hardened_as_the_engine_and_the_kernel_report,
    verify_passes_every_claim_on_the_running_stack,
    verify_fails_on_a_stack_that_is_not_running,
    verify_fails_when_its_ports_are_not_the_ones_the_stack_was_started_with,
    every_console_block_of_the_readme_the_docs_and_the_lab_prints_what_the_page_shows,
);

fn main() -> ExitCode {
    testkit::run(TESTS.to_vec(), Stack::start, Stack::stop)
}

async fn every_service_answers_over_localhost_from_the_host(
    stack: Arc<Stack>,
) -> anyhow::Result<()> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()?;

    // The API, with data from the database behind it.
    let products: serde_json::Value = http
        .get(stack.url("SHOP_API_PORT", "/api/products?limit=5"))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let items = products["items"]
        .as_array()
        .context("no `items` in the product list")?;
    ensure!(items.len() == 5, "expected 5 products, got {products}");

    // The gateway's dashboard and its analysis.
    let page = http
        .get(stack.url("SHOP_GATEWAY_PORT", "/"))
        .send()
        .await?
        .error_for_status()?
        .text()
        .await?;
    ensure!(page.contains("<svg"), "the dashboard has no chart");
    let summary: serde_json::Value = http
        .get(stack.url("SHOP_GATEWAY_PORT", "/api/summary"))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    ensure!(summary.is_object(), "{summary}");

    // The terminal, over Telnet.
    let telnet = stack.local("SHOP_TELNET_PORT");
    let banner = probe::telnet_banner(telnet).await?;
    ensure!(
        banner.starts_with("ShopDotCom warehouse terminal"),
        "{banner}"
    );
    let pong = probe::telnet_command(telnet, "PING").await?;
    ensure!(pong.contains("PONG"), "{pong}");

    // The database, with the API's own account, on 127.0.0.1.
    let url = format!(
        "mysql://shop_api:{}@127.0.0.1:{}/shop",
        stack.db_password,
        stack.port("SHOP_DB_PORT")
    );
    let mut conn = mysql_async::Conn::from_url(url).await?;
    let count: Option<u64> = conn.query_first("SELECT COUNT(*) FROM products").await?;
    ensure!(
        count.unwrap_or(0) >= 40,
        "the seed catalog is missing: {count:?}"
    );
    conn.disconnect().await?;
    Ok(())
}

async fn each_service_reaches_its_upstream_over_localhost_from_inside_its_container(
    stack: Arc<Stack>,
) -> anyhow::Result<()> {
    // api -> db over 127.0.0.1: /readyz runs a query from the api process.
    let ready = probe::http_get(stack.local("SHOP_API_PORT"), "/readyz").await?;
    ensure!(
        ready.status == 200,
        "api /readyz: {} {}",
        ready.status,
        ready.body
    );
    ensure!(ready.body.contains("\"ready\""), "{}", ready.body);

    // notebook-gateway -> api over localhost: what the gateway process saw.
    let status = probe::http_get(stack.local("SHOP_GATEWAY_PORT"), "/api/status").await?;
    let status: serde_json::Value = serde_json::from_str(&status.body)?;
    ensure!(
        status["api"]["reachable"] == true,
        "gateway status: {status}"
    );
    let expected = format!("http://localhost:{}", stack.port("SHOP_API_PORT"));
    ensure!(
        status["api"]["url"] == expected.as_str(),
        "gateway status: {status}"
    );

    // legacy-telnet -> api over localhost: NETINFO is run by the terminal
    // process, as its own uid, and a product lookup goes through the API.
    let telnet = stack.local("SHOP_TELNET_PORT");
    let netinfo = probe::telnet_command(telnet, "NETINFO").await?;
    let terminal_uid = stack.uid("legacy-telnet");
    ensure!(
        netinfo.contains(&format!("running as  uid {terminal_uid}")),
        "{netinfo}"
    );
    let api_port = stack.port("SHOP_API_PORT");
    let api_line = netinfo
        .lines()
        .find(|l| l.trim_start().starts_with("api "))
        .context("NETINFO has no api line")?;
    ensure!(
        api_line.contains(&format!("127.0.0.1:{api_port}"))
            && api_line.trim_end().ends_with("reachable"),
        "{api_line}"
    );
    let product = probe::telnet_command(telnet, "PRODUCT 1").await?;
    ensure!(
        !product.to_lowercase().contains("not reachable") && product.contains('$'),
        "PRODUCT 1 through the API: {product}"
    );
    Ok(())
}

async fn a_lan_client_reaches_the_api_and_terminal_but_not_the_database_or_gateway(
    stack: Arc<Stack>,
) -> anyhow::Result<()> {
    let lan = LanClient::create()?;
    let reach = |variable: &str| lan.connect_to_host(stack.port(variable), CONNECT);
    ensure!(
        reach("SHOP_API_PORT").is_ok(),
        "the API binds 0.0.0.0: the LAN must reach it"
    );
    ensure!(
        reach("SHOP_TELNET_PORT").is_ok(),
        "the terminal binds 0.0.0.0: the LAN must reach it"
    );
    for private in ["SHOP_DB_PORT", "SHOP_GATEWAY_PORT"] {
        let err = reach(private)
            .err()
            .with_context(|| format!("{private}: the LAN reached a loopback-only port"))?;
        ensure!(
            err.kind() == std::io::ErrorKind::ConnectionRefused,
            "{private}: {err}"
        );
        // ...while the same port does answer on loopback.
        ensure!(
            TcpStream::connect_timeout(&stack.local(private), CONNECT).is_ok(),
            "{private} is not listening at all"
        );
    }
    Ok(())
}

async fn the_lan_gets_the_public_api_over_tls_only_and_never_the_admin_plane(
    stack: Arc<Stack>,
) -> anyhow::Result<()> {
    use servicekit::probe::{HttpAnswer, Request, request};
    let certificates = stackctl::secrets::certificates(stack.bed.project(), "api");
    let pin = certificates
        .first()
        .and_then(|c| c.sha256.clone())
        .with_context(|| format!("the API's certificate: {certificates:?}"))?;
    let token = std::fs::read_to_string(stack.bed.secret_path("api_admin_token")?)?;
    let bearer = format!("Bearer {}", token.trim());
    let lan = LanClient::create()?;
    let port = stack.port("SHOP_API_PORT");
    let remote = SocketAddr::from((lan.host_ip, port));
    let send = |method: &'static str, path: &'static str, auth: bool, tls: bool| {
        let (pin, bearer) = (pin.clone(), bearer.clone());
        lan.inside(move || -> Result<HttpAnswer, String> {
            let headers = if auth {
                vec![("authorization", bearer.as_str())]
            } else {
                vec![]
            };
            let req = Request {
                method,
                path,
                headers,
                pinned_tls: tls.then_some(pin.as_str()),
            };
            request(&req, remote, CONNECT)
        })
    };

    // Public reads: over TLS, with the certificate up generated.
    let products =
        send("GET", "/api/products?limit=2", false, true)?.map_err(anyhow::Error::msg)?;
    ensure!(products.status == 200, "{products:?}");
    ensure!(products.body.contains("\"items\""), "{products:?}");
    // Clear text from the LAN: a 400 that names the https URL.
    let clear = send("GET", "/api/products?limit=2", false, false)?.map_err(anyhow::Error::msg)?;
    ensure!(clear.status == 400, "{clear:?}");
    ensure!(
        clear.body.contains(&format!("https://{remote}")),
        "{clear:?}"
    );
    // The admin plane and the metrics do not exist for the LAN, token or not.
    for (method, path) in [
        ("PATCH", "/api/products/1"),
        ("GET", "/metrics"),
        ("GET", "/api/orders"),
    ] {
        let answer = send(method, path, true, true)?.map_err(anyhow::Error::msg)?;
        ensure!(
            answer.status == 404,
            "{method} {path} from the LAN: {answer:?}"
        );
    }
    // The real token on a public route from the LAN is refused, not used.
    let order = send("GET", "/api/orders/1", true, true)?.map_err(anyhow::Error::msg)?;
    ensure!(order.status == 403, "{order:?}");
    ensure!(order.body.contains("loopback-only"), "{order:?}");

    // The same operations answer on loopback, in plain HTTP.
    let local = stack.local("SHOP_API_PORT");
    let metrics = request(&Request::get("/metrics"), local, CONNECT).map_err(anyhow::Error::msg)?;
    ensure!(metrics.status == 200, "{metrics:?}");
    let refused = metrics
        .body
        .lines()
        .find_map(|l| {
            l.strip_prefix("api_connections_total{side=\"network\",outcome=\"plaintext-refused\"} ")
        })
        .and_then(|n| n.parse::<u64>().ok());
    ensure!(
        refused.is_some_and(|n| n >= 1),
        "the refusal is counted: {refused:?}"
    );
    let patch = request(
        &Request {
            method: "PATCH",
            ..Request::get("/api/products/1")
        },
        local,
        CONNECT,
    )
    .map_err(anyhow::Error::msg)?;
    ensure!(
        patch.status == 401,
        "the admin route answers on loopback: {patch:?}"
    );
    Ok(())
}

async fn the_firewall_keeps_the_gateway_uid_off_the_database_and_the_database_uid_from_connecting_out(
    stack: Arc<Stack>,
) -> anyhow::Result<()> {
    let db = stack.local("SHOP_DB_PORT");
    let api = stack.local("SHOP_API_PORT");
    let (db_uid, gateway_uid) = (stack.uid("db"), stack.uid("notebook-gateway"));
    // A host on the LAN, in a namespace of our own, that root can reach.
    let lan = LanClient::create()?;
    let listener = lan.listen()?;
    let lan_host = listener.local_addr()?;

    // Controls: without the firewall's say, these connections go through.
    for addr in [db, api, lan_host] {
        ensure!(
            TcpStream::connect_timeout(&addr, CONNECT).is_ok(),
            "root cannot reach {addr}"
        );
    }
    ensure!(
        connect_as(gateway_uid, gateway_uid, api, CONNECT) == Attempt::Connected,
        "the gateway's uid may reach the API"
    );

    let cases = [
        (gateway_uid, db, "the gateway's uid to the database"),
        (db_uid, api, "the database's uid to the API"),
        (db_uid, lan_host, "the database's uid to a LAN host"),
    ];
    for (uid, addr, what) in cases {
        let attempt = connect_as(uid, uid, addr, CONNECT);
        ensure!(
            attempt == Attempt::Refused,
            "{what} ({addr}): {attempt:?}, expected a refusal"
        );
    }
    Ok(())
}

async fn every_container_runs_hardened_as_the_engine_and_the_kernel_report(
    stack: Arc<Stack>,
) -> anyhow::Result<()> {
    let containers = stack::containers(&stack.bed.docker, &stack.bed.project().name).await?;
    ensure!(
        containers.len() == 4,
        "expected 4 containers: {containers:?}"
    );
    for container in containers {
        let inspected = stack
            .bed
            .docker
            .inspect_container(&container.id, None)
            .await?;
        let host = inspected.host_config.clone().unwrap_or_default();
        ensure!(
            host.network_mode.as_deref() == Some("host"),
            "{}: {:?}",
            container.name,
            host.network_mode
        );
        let properties = hardening::properties(&inspected);
        ensure!(
            properties.len() == 11,
            "{}: the kernel's view is missing: {properties:?}",
            container.name
        );
        let failing: Vec<_> = properties.iter().filter(|p| !p.holds).collect();
        ensure!(failing.is_empty(), "{}: {failing:?}", container.name);
        // The limits are the ones compose.yaml declares.
        let declared = stack.bed.project().service(&container.service)?;
        ensure!(
            host.pids_limit == declared.pids_limit,
            "{}: pids {:?}",
            container.name,
            host.pids_limit
        );
    }
    Ok(())
}

async fn verify_passes_every_claim_on_the_running_stack(stack: Arc<Stack>) -> anyhow::Result<()> {
    let report = verify::verify(&stack.bed.docker, stack.bed.project()).await?;
    let not_passed: Vec<_> = report
        .checks
        .iter()
        .filter(|c| c.outcome != Outcome::Pass)
        .collect();
    ensure!(
        not_passed.is_empty(),
        "claims that did not pass: {not_passed:#?}"
    );
    ensure!(report.passed());
    for (service, claim) in [
        ("api", "host -> api"),
        ("api", "api -> db"),
        ("notebook-gateway", "notebook-gateway -> api"),
        ("legacy-telnet", "legacy-telnet -> api"),
        ("db", "not reachable"),
        ("notebook-gateway", "not reachable"),
        ("api", "reachable"),
        ("notebook-gateway", "may not connect to db"),
        ("db", "may not connect to a LAN host"),
        ("db", "kernel:"),
    ] {
        ensure!(
            report.find(service, claim).is_some(),
            "no claim `{claim}` for {service}"
        );
    }
    Ok(())
}

async fn verify_fails_on_a_stack_that_is_not_running(_stack: Arc<Stack>) -> anyhow::Result<()> {
    // A copy of the stack that was never started: nothing answers.
    let idle = Testbed::new("integration-idle").await?;
    let report = verify::verify(&idle.docker, idle.project()).await?;
    ensure!(
        !report.passed(),
        "verify passed a stack that is not running"
    );
    let reach = report
        .find("api", "host -> api")
        .context("no reachability claim for the api")?;
    ensure!(
        reach.outcome == Outcome::Fail && reach.detail.contains("stackctl up"),
        "{reach:?}"
    );
    Ok(())
}

async fn verify_fails_when_its_ports_are_not_the_ones_the_stack_was_started_with(
    stack: Arc<Stack>,
) -> anyhow::Result<()> {
    // The running copy, read with another API port than `up` had: verify
    // must not judge whatever listens there as this project's API.
    let elsewhere = stackctl::testbed::free_port()?.to_string();
    let lookup = |name: &str| match name {
        "SHOP_API_PORT" => Some(elsewhere.clone()),
        other if other.ends_with("_PORT") => stack.bed.port(other).ok().map(|p| p.to_string()),
        _ => None,
    };
    let mut project =
        stackctl::compose::Project::load_with(&stackctl::testbed::stack_compose_file(), &lookup)?;
    project.rename(&stack.bed.project().name);
    let report = verify::verify(&stack.bed.docker, &project).await?;
    ensure!(!report.passed(), "verify passed with the wrong API port");
    for (service, claim) in [
        ("api", "host -> api"),
        ("api", "api -> db"),
        ("notebook-gateway", "notebook-gateway -> api"),
    ] {
        let check = report
            .find(service, claim)
            .with_context(|| format!("no claim `{claim}`"))?;
        ensure!(
            check.outcome == Outcome::Fail && check.detail.contains("was started listening at"),
            "{check:?}"
        );
    }
    Ok(())
}

async fn every_console_block_of_the_readme_the_docs_and_the_lab_prints_what_the_page_shows(
    stack: Arc<Stack>,
) -> anyhow::Result<()> {
    let root = stackctl::testbed::stack_compose_file()
        .parent()
        .context("compose.yaml has no directory")?
        .to_owned();
    let renamed = stack.bed.renamed()?;
    let (page_project, run_project) = renamed.project;
    let mut names = Names::default().add_project(page_project, run_project);
    for (page, run) in renamed.values {
        names = names.add(page, run);
    }
    let console = Console {
        bin: stackctl::verify::uid::stackctl_program()
            .map_err(anyhow::Error::msg)?
            .parent()
            .context("the stackctl program has no directory")?
            .to_owned(),
        root: root.clone(),
        env: stack.bed.shell_env(),
        names,
        timeout: Duration::from_secs(600),
    };
    let project = stack.bed.project().name.clone();
    let outcome = tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<String>> {
        let mut failures = Vec::new();
        let mut steps = 0;
        for page in console::pages(&root)? {
            let text = std::fs::read_to_string(root.join(&page))?;
            for block in transcript::blocks(&text, &page).map_err(anyhow::Error::msg)? {
                steps += block.steps.len();
                failures.extend(console.run(&block));
            }
        }
        ensure!(
            steps > 0,
            "no console block was found in the lab or the README"
        );
        Ok(failures)
    })
    .await?;
    remove_lesson_leftovers(&stack.bed.docker, &project).await;
    let failures = outcome?;
    ensure!(
        failures.is_empty(),
        "{} command(s) of the pages did not print what the page shows:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    Ok(())
}

/// Removes what a lesson started beside the stack and a failure left: the
/// containers named after `project` (`PROJECT-...`) that are not the
/// stack's own, for a lesson's own project (`PROJECT-lab`) its volumes and
/// firewall chain too, and the files the pages write to `/tmp` (they name
/// them after the page's project, so this run's are `/tmp/PROJECT-...`).
async fn remove_lesson_leftovers(docker: &bollard::Docker, project: &str) {
    use bollard::query_parameters::ListContainersOptions;
    use stackctl::container::PROJECT_LABEL;
    let prefix = format!("{project}-");
    for file in std::fs::read_dir("/tmp").into_iter().flatten().flatten() {
        if file.file_name().to_string_lossy().starts_with(&prefix) {
            let _ = std::fs::remove_file(file.path());
        }
    }
    let Ok(all) = docker
        .list_containers(Some(ListContainersOptions {
            all: true,
            ..Default::default()
        }))
        .await
    else {
        return;
    };
    let mut lesson_projects = std::collections::BTreeSet::new();
    for container in all {
        let named = container
            .names
            .iter()
            .flatten()
            .any(|n| n.trim_start_matches('/').starts_with(&prefix));
        let label = container
            .labels
            .as_ref()
            .and_then(|l| l.get(PROJECT_LABEL).cloned());
        if !named || label.as_deref() == Some(project) {
            continue;
        }
        lesson_projects.extend(label.filter(|l| l.starts_with(&prefix)));
        let id = container.id.unwrap_or_default();
        let options = stackctl::container::remove_options();
        let _ = docker.remove_container(&id, Some(options)).await;
    }
    for lesson in lesson_projects {
        stackctl::testbed::remove_project(docker, &lesson).await;
    }
}
