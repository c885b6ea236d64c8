//! The four paths from the bench client to a server, and the servers behind
//! them: the probe and the real API, each run
//! 1. as a plain process on loopback (`native`, the physical limit),
//! 2. in a container on the host network (`host`),
//! 3. in a container on the default bridge, through a port published on
//!    `127.0.0.1` (`bridge-proxy`: Docker's userland proxy when it is on),
//! 4. in that same container, at its bridge address (`bridge-ip`: veth only).
//!
//! The bridge containers share one network namespace, a small pod owned by
//! the bridge probe: the database and the API join it (`network_mode:
//! container:…`), so the bridge API reaches its own database over loopback,
//! exactly as the native and host APIs reach theirs on the host. The native
//! and host APIs share one database on the host network. The bench's
//! containers run the stack's images with the stack's hardening, but without
//! its CPU quota, so that a path differs from native only by its network.
//!
//! Everything is labelled with the bench's project (`PROJECT_LABEL`) and
//! [`BENCH_LABEL`], named after it, and removed by [`remove`].

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use bollard::Docker;
use bollard::models::{ContainerCreateBody, HostConfig, Mount, MountType, PortBinding};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, ListContainersOptionsBuilder, RemoveContainerOptionsBuilder,
};
use serde::Serialize;

use crate::compose::Project;
use crate::container::{PROJECT_LABEL, SERVICE_LABEL, container_config};
use crate::image::{self, BuildOptions, binary};
use crate::progress::Progress;

/// Label on everything the bench starts (value: its project name).
pub const BENCH_LABEL: &str = "dev.shopdotcom.stackctl.bench";
/// The probe's image.
pub const PROBE_IMAGE: &str = "shopdotcom/probe:local";
/// The probe's own non-root uid and gid (the services use 10001–10030).
pub const PROBE_ID: u32 = 10040;
/// Ports inside the bridge pod (its own namespace: no collisions there).
const PROBE_PORT: u16 = 7777;
const API_PORT: u16 = 3000;
const DB_PORT: u16 = 3306;
/// How long servers may take to become ready.
const READY_TIMEOUT: Duration = Duration::from_secs(180);
/// The API's log level in every copy: request logs would cost the API time
/// that has nothing to do with the network.
const API_LOG: &str = "warn";

/// One way from the client to a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Path {
    Native,
    Host,
    BridgeProxy,
    BridgeIp,
}

impl Path {
    /// The paths in the order every round measures them.
    pub const ALL: [Path; 4] = [Path::Native, Path::Host, Path::BridgeProxy, Path::BridgeIp];

    pub fn name(self) -> &'static str {
        match self {
            Path::Native => "native",
            Path::Host => "host",
            Path::BridgeProxy => "bridge-proxy",
            Path::BridgeIp => "bridge-ip",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            Path::Native => "plain process on loopback",
            Path::Host => "container, host network, loopback",
            Path::BridgeProxy => "container on the default bridge, published 127.0.0.1 port",
            Path::BridgeIp => "the same container at its bridge address (veth, no proxy)",
        }
    }
}

/// Where the client reaches the servers on one path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Target {
    pub probe: SocketAddr,
    pub api: SocketAddr,
}

/// The running servers: their addresses per path, and the native processes
/// (killed when this is dropped). Containers are removed by [`remove`].
pub struct Servers {
    pub targets: BTreeMap<Path, Target>,
    /// Whether a `docker-proxy` process serves the published ports (`None`
    /// when that cannot be told).
    pub userland_proxy: Option<bool>,
    processes: Vec<tokio::process::Child>,
    _secrets: tempfile::TempDir,
}

/// Builds what is missing and starts every server on every path, under the
/// project name `session`; returns once all of them answer.
pub async fn start(
    docker: &Docker,
    stack: &Project,
    session: &str,
    progress: &Progress,
) -> anyhow::Result<Servers> {
    let built = image::build(
        docker,
        stack,
        &["db".to_owned(), "api".to_owned()],
        &BuildOptions::default(),
        progress,
    )
    .await?;
    let image_of = |service: &str| {
        built
            .iter()
            .find(|b| b.service == service)
            .map(|b| b.id.clone())
            .with_context(|| format!("the `{service}` image was not built"))
    };
    let (db_image, api_image) = (image_of("db")?, image_of("api")?);
    let probe_image = build_probe_image(docker, &stack.dir, progress).await?.id;
    // Already compiled by the image builds: these only return the paths.
    let api_bin = binary::compile(&stack.dir, "api")?;
    let probe_bin = binary::compile(&stack.dir, "probe")?;

    let free = crate::testbed::free_port;
    let db_port = free()?;
    let api_native = loopback(free()?);
    let api_host = loopback(free()?);
    let probe_native = loopback(free()?);
    let probe_host = loopback(free()?);
    let probe_published = loopback(free()?);
    let api_published = loopback(free()?);

    // The stack's own services, on the bench's ports and secrets.
    let secrets = tempfile::tempdir()?;
    let vars: HashMap<String, String> = [
        ("SHOP_DB_PORT".to_owned(), db_port.to_string()),
        ("SHOP_API_PORT".to_owned(), api_host.port().to_string()),
        (
            "SHOP_SECRETS_DIR".to_owned(),
            secrets.path().display().to_string(),
        ),
    ]
    .into();
    let mut project = Project::load_with(&stack.file, &|name| vars.get(name).cloned())?;
    project.rename(session);
    crate::secrets::ensure(&project, &BTreeSet::from(["db".into(), "api".into()]))?;
    // Where a stack's firewall polices the services' uids, the host API may
    // reach the bench's database only with allowances of the bench's own.
    if crate::firewall::check_available().is_ok() {
        crate::firewall::install(&crate::firewall::plan(&project)?)?;
    }

    let name = |role: &str| format!("{session}-{role}-1");
    let pod = name("probe-bridge");

    progress.println("bench: starting the probe, database and API containers");
    // The pod owner: the bridge probe, publishing the probe's and the API's ports.
    let mut bridge_probe = probe_config(&probe_image, &format!("0.0.0.0:{PROBE_PORT}"), "bridge");
    let host_config = bridge_probe.host_config.get_or_insert_default();
    host_config.port_bindings = Some(
        [(PROBE_PORT, probe_published), (API_PORT, api_published)]
            .into_iter()
            .map(|(port, published)| {
                (
                    format!("{port}/tcp"),
                    Some(vec![PortBinding {
                        host_ip: Some(published.ip().to_string()),
                        host_port: Some(published.port().to_string()),
                    }]),
                )
            })
            .collect(),
    );
    bridge_probe.exposed_ports = Some(vec![format!("{PROBE_PORT}/tcp"), format!("{API_PORT}/tcp")]);
    create_and_start(docker, session, "probe-bridge", &pod, bridge_probe).await?;
    create_and_start(
        docker,
        session,
        "probe-host",
        &name("probe-host"),
        probe_config(&probe_image, &probe_host.to_string(), "host"),
    )
    .await?;

    let mut db_host = service_config(&project, "db", &db_image)?;
    scratch_data_dir(&mut db_host);
    create_and_start(docker, session, "db-host", &name("db-host"), db_host).await?;

    let in_pod = format!("container:{pod}");
    let mut db_bridge = service_config(&project, "db", &db_image)?;
    scratch_data_dir(&mut db_bridge);
    set_env(&mut db_bridge, "MARIADB_PORT", &DB_PORT.to_string());
    db_bridge.host_config.get_or_insert_default().network_mode = Some(in_pod.clone());
    create_and_start(docker, session, "db-bridge", &name("db-bridge"), db_bridge).await?;

    let mut api_bridge = service_config(&project, "api", &api_image)?;
    set_env(&mut api_bridge, "API_BIND", &format!("0.0.0.0:{API_PORT}"));
    set_env(
        &mut api_bridge,
        "API_DATABASE_URL",
        &format!("mysql://shop_api@127.0.0.1:{DB_PORT}/shop"),
    );
    // Its clients arrive through docker-proxy or the bridge, never from its
    // own loopback; the container is reached only at its 127.0.0.1-published
    // port and its bridge address, so plain HTTP from any peer is the bench's.
    set_env(&mut api_bridge, "API_PLAINTEXT_FROM", "0.0.0.0/0,::/0");
    api_bridge.host_config.get_or_insert_default().network_mode = Some(in_pod);
    create_and_start(
        docker,
        session,
        "api-bridge",
        &name("api-bridge"),
        api_bridge,
    )
    .await?;

    let bridge_ip = bridge_address(docker, &pod).await?;
    let mut servers = Servers {
        targets: BTreeMap::from([
            (
                Path::Native,
                Target {
                    probe: probe_native,
                    api: api_native,
                },
            ),
            (
                Path::Host,
                Target {
                    probe: probe_host,
                    api: api_host,
                },
            ),
            (
                Path::BridgeProxy,
                Target {
                    probe: probe_published,
                    api: api_published,
                },
            ),
            (
                Path::BridgeIp,
                Target {
                    probe: SocketAddr::new(bridge_ip, PROBE_PORT),
                    api: SocketAddr::new(bridge_ip, API_PORT),
                },
            ),
        ]),
        userland_proxy: None,
        processes: Vec::new(),
        _secrets: secrets,
    };

    servers.processes.push(
        tokio::process::Command::new(&probe_bin)
            .args(["--bind", &probe_native.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {}", probe_bin.display()))?,
    );

    let deadline = Instant::now() + READY_TIMEOUT;
    progress.println("bench: waiting for the host database");
    crate::stack::wait::until_healthy(docker, &name("db-host"), deadline).await?;
    // The native API first, alone on the shared database while it creates
    // and seeds the schema; then the host API on the same database.
    let password_file = project.resolve(
        project
            .model
            .secrets
            .get("db_api_password")
            .and_then(|s| s.file.as_deref())
            .context("compose.yaml declares no file for secret db_api_password")?,
    );
    servers.processes.push(
        tokio::process::Command::new(&api_bin)
            .args(["--bind", &api_native.to_string()])
            .arg("--database-url")
            .arg(format!("mysql://shop_api@127.0.0.1:{db_port}/shop"))
            .arg("--database-password-file")
            .arg(&password_file)
            .env("RUST_LOG", API_LOG)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {}", api_bin.display()))?,
    );
    progress.println("bench: waiting for the native API");
    wait_api(api_native, deadline, None).await?;
    let mut api_host_config = service_config(&project, "api", &api_image)?;
    // Loopback only: the bench reaches it there, and nothing else should.
    set_env(&mut api_host_config, "API_BIND", &api_host.to_string());
    create_and_start(
        docker,
        session,
        "api-host",
        &name("api-host"),
        api_host_config,
    )
    .await?;

    progress.println("bench: waiting for every server on every path");
    for (path, target) in &servers.targets {
        wait_probe(target.probe, deadline)
            .await
            .with_context(|| format!("the probe on the {} path", path.name()))?;
        let container = match path {
            Path::Native => None,
            Path::Host => Some(name("api-host")),
            Path::BridgeProxy | Path::BridgeIp => Some(name("api-bridge")),
        };
        wait_api(target.api, deadline, container.map(|c| (docker, c)))
            .await
            .with_context(|| format!("the API on the {} path", path.name()))?;
    }
    servers.userland_proxy = userland_proxy(probe_published.port());
    Ok(servers)
}

/// The probe's shell-less image ([`PROBE_IMAGE`], running as [`PROBE_ID`]),
/// built from the workspace at `workspace` or confirmed up to date.
pub async fn build_probe_image(
    docker: &Docker,
    workspace: &std::path::Path,
    progress: &Progress,
) -> anyhow::Result<image::Built> {
    let account = binary::Account {
        name: "probe".into(),
        uid: PROBE_ID,
        gid: PROBE_ID,
    };
    image::build_binary_image(docker, workspace, "probe", &account, PROBE_IMAGE, progress).await
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// The probe's container: hardened like the stack's services, without a
/// memory limit (socket buffers are charged to it; native has none).
fn probe_config(image: &str, bind: &str, network_mode: &str) -> ContainerCreateBody {
    ContainerCreateBody {
        image: Some(image.to_owned()),
        user: Some(format!("{PROBE_ID}:{PROBE_ID}")),
        cmd: Some(vec!["--bind".into(), bind.into()]),
        host_config: Some(HostConfig {
            network_mode: Some(network_mode.to_owned()),
            cap_drop: Some(vec!["ALL".into()]),
            security_opt: Some(vec!["no-new-privileges:true".into()]),
            readonly_rootfs: Some(true),
            pids_limit: Some(128),
            ..HostConfig::default()
        }),
        ..ContainerCreateBody::default()
    }
}

/// A service of the stack as `compose.yaml` configures it, minus the CPU
/// quota (it would throttle the container where the native process runs
/// free) and with quiet logs.
fn service_config(
    project: &Project,
    service: &str,
    image: &str,
) -> anyhow::Result<ContainerCreateBody> {
    let mut config = container_config(project, service, image, &|_| None)?;
    let host = config.host_config.get_or_insert_default();
    host.nano_cpus = None;
    set_env(&mut config, "RUST_LOG", API_LOG);
    Ok(config)
}

/// The database's data directory in an anonymous volume, removed with the
/// container: the bench keeps no data.
fn scratch_data_dir(config: &mut ContainerCreateBody) {
    let host = config.host_config.get_or_insert_default();
    let mounts = host.mounts.get_or_insert_default();
    mounts.retain(|m| m.typ != Some(MountType::VOLUME));
    mounts.push(Mount {
        typ: Some(MountType::VOLUME),
        target: Some("/var/lib/mysql".into()),
        ..Mount::default()
    });
}

/// Sets (or replaces) one environment variable of a container.
fn set_env(config: &mut ContainerCreateBody, key: &str, value: &str) {
    let env = config.env.get_or_insert_default();
    env.retain(|entry| entry.split_once('=').map_or(entry.as_str(), |(k, _)| k) != key);
    env.push(format!("{key}={value}"));
}

async fn create_and_start(
    docker: &Docker,
    session: &str,
    role: &str,
    name: &str,
    mut config: ContainerCreateBody,
) -> anyhow::Result<()> {
    let labels = config.labels.get_or_insert_default();
    labels.insert(PROJECT_LABEL.to_owned(), session.to_owned());
    labels.insert(SERVICE_LABEL.to_owned(), role.to_owned());
    labels.insert(BENCH_LABEL.to_owned(), session.to_owned());
    let options = CreateContainerOptionsBuilder::default().name(name).build();
    docker
        .create_container(Some(options), config)
        .await
        .with_context(|| format!("cannot create container {name}"))?;
    docker
        .start_container(name, None)
        .await
        .with_context(|| format!("cannot start container {name}"))?;
    Ok(())
}

async fn bridge_address(docker: &Docker, container: &str) -> anyhow::Result<IpAddr> {
    let inspected = docker.inspect_container(container, None).await?;
    let address = inspected
        .network_settings
        .and_then(|n| n.networks)
        .and_then(|n| n.get("bridge").and_then(|b| b.ip_address.clone()))
        .filter(|ip| !ip.is_empty())
        .with_context(|| format!("{container} has no address on the default bridge"))?;
    Ok(address.parse()?)
}

async fn wait_probe(target: SocketAddr, deadline: Instant) -> anyhow::Result<()> {
    loop {
        let answer = tokio::task::spawn_blocking(move || probe::check(target)).await?;
        match answer {
            Ok(_) => return Ok(()),
            Err(why) if Instant::now() > deadline => bail!("no echo from {target}: {why}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

async fn wait_api(
    target: SocketAddr,
    deadline: Instant,
    container: Option<(&Docker, String)>,
) -> anyhow::Result<()> {
    // A public read that queries the database: `/readyz` answers on the
    // API's own loopback only, and the bridge paths reach it from elsewhere.
    loop {
        let answer = tokio::task::spawn_blocking(move || {
            servicekit::probe::http_get(target, "/api/products?limit=1")
        })
        .await?;
        match answer {
            Ok(_) => return Ok(()),
            Err(why) if Instant::now() > deadline => {
                let log = match &container {
                    Some((docker, name)) => {
                        format!(
                            "; the log of {name}:\n{}",
                            crate::stack::wait::log_tail(docker, name, 30).await
                        )
                    }
                    None => String::new(),
                };
                bail!("the API at {target} is not ready: {why}{log}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// Whether a `docker-proxy` process listens on `port` (Linux `/proc`);
/// `None` when `/proc` cannot be read.
pub fn userland_proxy(port: u16) -> Option<bool> {
    let port = port.to_string();
    let entries = std::fs::read_dir("/proc").ok()?;
    Some(entries.flatten().any(|entry| {
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            return false;
        };
        let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        args.first().is_some_and(|a| a.ends_with(b"docker-proxy"))
            && args
                .windows(2)
                .any(|w| w[0] == b"-host-port" && w[1] == port.as_bytes())
    }))
}

/// The bench's containers still on the engine: those labelled with `session`.
pub async fn containers(docker: &Docker, session: &str) -> anyhow::Result<Vec<String>> {
    let filters = HashMap::from([("label", vec![format!("{BENCH_LABEL}={session}")])]);
    let options = ListContainersOptionsBuilder::default()
        .all(true)
        .filters(&filters)
        .build();
    Ok(docker
        .list_containers(Some(options))
        .await
        .context("cannot list containers")?
        .into_iter()
        .filter_map(|c| c.id)
        .collect())
}

/// Fails when containers (of a bench or of a stack) or firewall rules
/// already exist under `session`: the bench removes everything under its
/// session at the end, so it must start from nothing.
pub async fn check_unused(docker: &Docker, session: &str) -> anyhow::Result<()> {
    let mut found = Vec::new();
    let bench = containers(docker, session).await?;
    if !bench.is_empty() {
        found.push(format!("{} bench containers", bench.len()));
    }
    let stack = crate::stack::containers(docker, session).await?;
    if !stack.is_empty() {
        found.push(format!("{} containers of project `{session}`", stack.len()));
    }
    if let Ok(rules) = crate::firewall::try_installed(session, crate::firewall::Family::V4)
        && !rules.is_empty()
    {
        found.push(format!("{} firewall rules", rules.len()));
    }
    if !found.is_empty() {
        bail!(
            "the bench's session name `{session}` is in use ({}); the bench removes everything under its \
             session when it ends, so it will not start. Run it with another `-p`, or remove what is left \
             of an earlier bench with `stackctl -p {session} down`",
            found.join(", ")
        );
    }
    Ok(())
}

/// Removes every container of `session` (with its anonymous volumes) and
/// its firewall rules. Bounded: each engine call has its own timeout.
pub async fn remove(docker: &Docker, session: &str) -> anyhow::Result<usize> {
    let timeout = Duration::from_secs(30);
    let ids = tokio::time::timeout(timeout, containers(docker, session))
        .await
        .context("the engine did not list containers within 30 s")??;
    let removals = ids.iter().map(|id| async move {
        let options = RemoveContainerOptionsBuilder::default()
            .force(true)
            .v(true)
            .build();
        tokio::time::timeout(timeout, docker.remove_container(id, Some(options))).await
    });
    let results = futures_util::future::join_all(removals).await;
    let mut removed = 0;
    for result in results {
        match result {
            Ok(Ok(())) => removed += 1,
            Ok(Err(err)) if crate::engine::is_not_found(&err) => {}
            Ok(Err(err)) => bail!("cannot remove a bench container: {err}"),
            Err(_) => bail!("the engine did not remove a bench container within 30 s"),
        }
    }
    if crate::firewall::check_available().is_ok() {
        crate::firewall::remove(session)?;
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_env_replaces_a_variable_and_keeps_the_others() {
        let mut config = ContainerCreateBody {
            env: Some(vec!["A=1".into(), "API_BIND=0.0.0.0:3000".into()]),
            ..Default::default()
        };
        set_env(&mut config, "API_BIND", "127.0.0.1:4000");
        assert_eq!(
            config.env.unwrap(),
            ["A=1".to_owned(), "API_BIND=127.0.0.1:4000".to_owned()]
        );
    }

    #[test]
    fn the_database_keeps_its_data_in_an_anonymous_volume() {
        let mut config = ContainerCreateBody {
            host_config: Some(HostConfig {
                mounts: Some(vec![Mount {
                    typ: Some(MountType::VOLUME),
                    source: Some("shop_db-data".into()),
                    target: Some("/var/lib/mysql".into()),
                    ..Mount::default()
                }]),
                ..HostConfig::default()
            }),
            ..Default::default()
        };
        scratch_data_dir(&mut config);
        let mounts = config.host_config.unwrap().mounts.unwrap();
        assert_eq!(mounts.len(), 1);
        assert_eq!(mounts[0].source, None);
        assert_eq!(mounts[0].target.as_deref(), Some("/var/lib/mysql"));
    }

    #[test]
    fn paths_are_measured_in_the_order_of_the_issue() {
        let names: Vec<&str> = Path::ALL.iter().map(|p| p.name()).collect();
        assert_eq!(names, ["native", "host", "bridge-proxy", "bridge-ip"]);
    }
}
