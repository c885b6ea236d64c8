//! Starting what every selected path needs and telling the clients where to
//! go. The probe and the real API run
//! - as plain processes on loopback (native) and in host-network containers
//!   (host), sharing one database on the host network;
//! - in the `published` pod: a probe container on the default bridge that
//!   publishes its ports (on 127.0.0.1, and on the LAN link's address for the
//!   DNAT path), with the API and a database joined to its network namespace;
//! - in the `bridge` pod, which publishes nothing: the same three, reached at
//!   the pod's bridge address, on the macvlan, ipvlan and overlay networks the
//!   pod is also connected to, through HAProxy, through an SSH tunnel (sshd
//!   joins the pod), and from a client container inside the pod.
//!
//! A pod's API reaches its own database over the pod's loopback, as the
//! native and host APIs reach theirs on the host. The containers run the
//! stack's images with the stack's hardening, without its CPU quota, so that
//! a path differs from native only by its network. A path whose network
//! cannot be made here (no such kernel driver, no root, no swarm) is skipped
//! with the reason, and the others run.
//!
//! What is not a container (native processes, namespaces, links, the swarm
//! session) is held in [`Held`] and released by [`Held::release`].

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use bollard::Docker;
use bollard::models::{
    ContainerCreateBody, HostConfig, Mount, MountType, NetworkConnectRequest, PortBinding,
};
use bollard::query_parameters::{CreateContainerOptionsBuilder, LogsOptionsBuilder};
use futures_util::StreamExt as _;
use serde::Serialize;

use super::exec;
use super::net::{self, Link};
use super::paths::{BENCH_LABEL, Client, PROBE_ID, Path, Route};
use super::pin::{self, Pinning};
use crate::compose::Project;
use crate::container::{PROJECT_LABEL, SERVICE_LABEL, container_config};
use crate::image::{self, BuildOptions, binary};
use crate::progress::Progress;
use crate::swarm::local::LocalSwarm;
use crate::verify::lan::{self, ChildKind, LanClient};

/// Ports inside the pods (their own namespaces: no collisions there).
pub const PROBE_PORT: u16 = 7777;
pub const API_PORT: u16 = 3000;
const DB_PORT: u16 = 3306;
/// sshd's port inside the bridge pod.
const SSH_PORT: u16 = 2222;
/// Where the sidecars listen inside a client container's namespace.
const SIDECAR_PROBE_PORT: u16 = 17777;
const SIDECAR_API_PORT: u16 = 13000;
/// How long servers may take to become ready.
const READY_TIMEOUT: Duration = Duration::from_secs(240);
/// The API's log level in every copy: request logs would cost the API time
/// that has nothing to do with the network.
const API_LOG: &str = "warn";
/// The bench's own compose file of its helper images (HAProxy, OpenSSH).
pub const BENCH_IMAGES: &str = "images/bench/compose.yaml";

/// Where a route's client connects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Target {
    pub probe: SocketAddr,
    pub api: SocketAddr,
}

/// Where a route's client runs.
#[derive(Debug, Clone)]
pub enum Runner {
    /// In the bench's process, in the host's network namespace.
    Local,
    /// In the bench's process, on a thread inside this namespace.
    Namespace(Arc<LanClient>),
    /// `probe client …` in this container.
    Container(String),
}

/// A route ready to be measured.
#[derive(Debug, Clone)]
pub struct Ready {
    pub route: Route,
    pub target: Target,
    pub runner: Runner,
}

/// What the isolation matrix needs to know about a path's servers.
#[derive(Debug, Clone, Default)]
pub struct PathFacts {
    /// The roles (container names' middle) of the server side of the path.
    pub server_roles: Vec<String>,
    /// Addresses in the host's network namespace that the path makes the
    /// probe answer on (what a second copy would find taken).
    pub host_addresses: Vec<SocketAddr>,
    /// Where a LAN host would try to reach the probe, and from which LAN.
    pub lan_target: Option<(SocketAddr, Arc<LanClient>)>,
    /// The container from which "another container over localhost" is tried
    /// and the loopback address it tries.
    pub localhost_check: Option<(String, SocketAddr)>,
    /// For macvlan and ipvlan: the container's address, which the host
    /// itself tries to reach (their known limitation).
    pub from_host: Option<SocketAddr>,
}

/// Everything started and ready.
#[derive(Debug)]
pub struct Servers {
    pub ready: Vec<Ready>,
    /// Routes that could not run here, with why.
    pub skipped: Vec<(Route, String)>,
    /// Routes that do not exist for their path, with why.
    pub not_applicable: Vec<(Route, String)>,
    /// Whether a `docker-proxy` process serves the published ports (`None`
    /// when that cannot be told).
    pub userland_proxy: Option<bool>,
    pub facts: BTreeMap<Path, PathFacts>,
    /// The parent link's kind for macvlan and ipvlan (`dummy` or `veth`).
    pub parent_kind: Option<&'static str>,
}

/// What the bench made outside the engine's containers and networks:
/// removed by [`Held::release`] (and, as a last resort, when dropped).
#[derive(Default)]
pub struct Held {
    processes: Vec<tokio::process::Child>,
    temp: Vec<tempfile::TempDir>,
    lans: Vec<Arc<LanClient>>,
    links: Vec<Link>,
    swarm: Option<LocalSwarm>,
}

impl Held {
    /// Ends the native processes, leaves the swarm if this session made it,
    /// and removes the namespaces and links. Call after the containers and
    /// networks are gone (a link cannot go while a network uses it).
    pub async fn release(mut self) -> anyhow::Result<()> {
        for mut child in self.processes.drain(..) {
            let _ = child.kill().await;
        }
        let swarm = self.swarm.take();
        let left = match swarm {
            Some(swarm) => swarm.release().await,
            None => Ok(()),
        };
        self.lans.clear();
        self.links.clear();
        self.temp.clear();
        left
    }

    /// Whether this session made a swarm (and will leave it).
    pub fn made_swarm(&self) -> bool {
        self.swarm.as_ref().is_some_and(LocalSwarm::made_here)
    }
}

/// The images every run needs, and the helpers' where their paths are selected.
struct Images {
    db: String,
    api: String,
    probe: String,
    haproxy: Option<String>,
    ssh: Option<String>,
    bench_project: Option<Project>,
}

async fn build_images(
    docker: &Docker,
    stack: &Project,
    paths: &BTreeSet<Path>,
    progress: &Progress,
) -> anyhow::Result<Images> {
    let built = image::build(
        docker,
        stack,
        &["db".to_owned(), "api".to_owned()],
        &BuildOptions::default(),
        progress,
    )
    .await?;
    let image_of = |built: &[image::Built], service: &str| {
        built
            .iter()
            .find(|b| b.service == service)
            .map(|b| b.id.clone())
            .with_context(|| format!("the `{service}` image was not built"))
    };
    let mut images = Images {
        db: image_of(&built, "db")?,
        api: image_of(&built, "api")?,
        probe: build_probe_image(docker, &stack.dir, progress).await?.id,
        haproxy: None,
        ssh: None,
        bench_project: None,
    };
    let mut helpers = Vec::new();
    if paths.contains(&Path::Haproxy) {
        helpers.push("haproxy".to_owned());
    }
    if paths.contains(&Path::SshTunnel) {
        helpers.push("ssh".to_owned());
    }
    if !helpers.is_empty() {
        let project = Project::load(&stack.dir.join(BENCH_IMAGES))?;
        let built = image::build(
            docker,
            &project,
            &helpers,
            &BuildOptions::default(),
            progress,
        )
        .await
        .context("the bench's helper images could not be built")?;
        images.haproxy = image_of(&built, "haproxy").ok();
        images.ssh = image_of(&built, "ssh").ok();
        images.bench_project = Some(project);
    }
    Ok(images)
}

/// The probe's shell-less image ([`super::paths::probe_image`], running as
/// [`PROBE_ID`]), built from the workspace at `workspace` or confirmed up to date.
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
    let tag = super::paths::probe_image();
    image::build_binary_image(docker, workspace, "probe", &account, &tag, progress).await
}

/// Starts what `paths` need under the session name `session`, holding what
/// is not a container in `held`; returns once every route that can run
/// answers.
pub async fn start(
    docker: &Docker,
    stack: &Project,
    session: &str,
    paths: &BTreeSet<Path>,
    pinning: &Pinning,
    held: &mut Held,
    progress: &Progress,
) -> anyhow::Result<Servers> {
    let selected: Vec<Path> = paths.iter().copied().collect();
    let (routes, not_applicable) = Route::of(&selected);
    let mut servers = Servers {
        ready: Vec::new(),
        skipped: Vec::new(),
        not_applicable: not_applicable
            .into_iter()
            .map(|(r, why)| (r, why.to_owned()))
            .collect(),
        userland_proxy: None,
        facts: BTreeMap::new(),
        parent_kind: None,
    };
    let skip_path = |servers: &mut Servers, path: Path, why: String| {
        for route in routes.iter().filter(|r| r.path == path) {
            servers.skipped.push((*route, why.clone()));
        }
    };
    let images = build_images(docker, stack, paths, progress).await?;
    // Already compiled by the image builds: these only return the paths.
    let api_bin = binary::compile(&stack.dir, "api")?;
    let probe_bin = binary::compile(&stack.dir, "probe")?;

    let free = crate::testbed::free_port;
    let db_port = free()?;
    let (api_native, api_host) = (loopback(free()?), loopback(free()?));
    let (probe_native, probe_host) = (loopback(free()?), loopback(free()?));

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
    let mut project = Project::load_with(&stack.file, &|name| {
        vars.get(name).cloned().or_else(|| std::env::var(name).ok())
    })?;
    project.rename(session);
    crate::secrets::ensure(&project, &BTreeSet::from(["db".into(), "api".into()]))?;
    held.temp.push(secrets);
    // Where a stack's firewall polices the services' uids, the host API may
    // reach the bench's database only with allowances of the bench's own.
    if crate::firewall::check_available().is_ok() {
        crate::firewall::install(&crate::firewall::plan(&project)?)?;
    }
    let cx = Cx {
        docker,
        session,
        project: &project,
        images: &images,
        pinning,
    };

    // Links, namespaces and networks first: the published pod publishes on
    // the LAN link's address, and the bridge pod joins the networks.
    let lan = match lan::available() {
        Ok(()) => {
            let client =
                Arc::new(LanClient::create().context("cannot make the LAN client's namespace")?);
            held.lans.push(client.clone());
            Some(client)
        }
        Err(why) => {
            if paths.contains(&Path::PublishedDnat) {
                skip_path(
                    &mut servers,
                    Path::PublishedDnat,
                    format!("{why}: the DNAT path publishes on a link the bench makes"),
                );
            }
            None
        }
    };
    let mut segments: BTreeMap<Path, (String, Ipv4Addr, Arc<LanClient>)> = BTreeMap::new();
    let mut subnets = Vec::new();
    for (path, kind, driver) in [
        (Path::Macvlan, ChildKind::Macvlan, "macvlan"),
        (Path::IpvlanL2, ChildKind::IpvlanL2, "ipvlan"),
    ] {
        if !paths.contains(&path) {
            continue;
        }
        match segment(docker, session, held, kind, driver, &subnets).await {
            Ok((network, subnet, client, link_kind)) => {
                subnets.push(subnet);
                servers.parent_kind = Some(link_kind);
                segments.insert(path, (network, subnet, client));
            }
            Err(err) => skip_path(&mut servers, path, format!("{err:#}")),
        }
    }
    let mut overlay = None;
    if paths.contains(&Path::Overlay) {
        progress.println("bench: taking the swarm session for the overlay path (waits while another session holds it)");
        match overlay_network(docker, session, held, &subnets, progress).await {
            Ok(network) => overlay = Some(network),
            Err(err) => skip_path(&mut servers, Path::Overlay, format!("{err:#}")),
        }
    }

    let name = |role: &str| format!("{session}-{role}-1");
    progress.println("bench: starting the probe, database and API containers");
    cx.start(
        "probe-host",
        probe_config(&images.probe, &probe_host.to_string(), "host"),
        true,
    )
    .await?;
    let mut db_host = service_config(&project, "db", &images.db)?;
    scratch_data_dir(&mut db_host);
    cx.start("db-host", db_host, true).await?;

    // The published pod: bridge-proxy and published-dnat.
    let published_needed =
        paths.contains(&Path::BridgeProxy) || paths.contains(&Path::PublishedDnat);
    let (probe_published, api_published) = (loopback(free()?), loopback(free()?));
    let dnat = match (&lan, paths.contains(&Path::PublishedDnat)) {
        (Some(lan), true) => Some((
            SocketAddr::new(IpAddr::V4(lan.host_ip), free()?),
            SocketAddr::new(IpAddr::V4(lan.host_ip), free()?),
        )),
        _ => None,
    };
    if published_needed {
        let mut bindings = vec![(PROBE_PORT, probe_published), (API_PORT, api_published)];
        if let Some((probe, api)) = dnat {
            bindings.extend([(PROBE_PORT, probe), (API_PORT, api)]);
        }
        let mut owner = probe_config(&images.probe, &format!("0.0.0.0:{PROBE_PORT}"), "bridge");
        publish(&mut owner, &bindings);
        cx.start("probe-published", owner, true).await?;
        cx.start_pod_services("published", &name("probe-published"))
            .await?;
    }

    // The bridge pod: everything that reaches a container without publishing.
    let bridge_needed = paths.iter().any(|p| {
        matches!(
            p,
            Path::BridgeIp
                | Path::Macvlan
                | Path::IpvlanL2
                | Path::Overlay
                | Path::Haproxy
                | Path::SshTunnel
                | Path::SharedNetns
        )
    });
    let pod = name("probe-bridge");
    let mut pod_ip = None;
    let mut pod_on: BTreeMap<Path, IpAddr> = BTreeMap::new();
    if bridge_needed {
        cx.start(
            "probe-bridge",
            probe_config(&images.probe, &format!("0.0.0.0:{PROBE_PORT}"), "bridge"),
            true,
        )
        .await?;
        cx.start_pod_services("bridge", &pod).await?;
        pod_ip = Some(address_on(docker, &pod, "bridge").await?);
        for (path, (network, _, _)) in &segments {
            pod_on.insert(*path, connect(docker, network, &pod).await?);
        }
        if let Some(network) = &overlay {
            pod_on.insert(Path::Overlay, connect(docker, network, &pod).await?);
        }
    }

    // Client containers, for the service-to-service routes.
    let container_routes: BTreeSet<Path> = routes
        .iter()
        .filter(|r| r.client == Client::Container)
        .filter(|r| !servers.skipped.iter().any(|(s, _)| s.path == r.path))
        .map(|r| r.path)
        .collect();
    let wants = |path: Path| container_routes.contains(&path);
    let client = |network_mode: String| client_config(&images.probe, network_mode);
    if wants(Path::Host) {
        cx.start("client-host", client("host".into()), false)
            .await?;
    }
    if wants(Path::BridgeIp) || wants(Path::Haproxy) || wants(Path::SshTunnel) {
        cx.start("client-bridge", client("bridge".into()), false)
            .await?;
    }
    for (path, (network, _, _)) in &segments {
        if wants(*path) {
            let role = format!("client-{}", path.name());
            cx.start(&role, client(network.clone()), false).await?;
        }
    }
    if let Some(network) = overlay.as_ref().filter(|_| wants(Path::Overlay)) {
        cx.start("client-overlay", client(network.clone()), false)
            .await?;
    }
    if wants(Path::SharedNetns) {
        cx.start("client-pod", client(format!("container:{pod}")), false)
            .await?;
    }

    // HAProxy: on the host network for the host's client, as a sidecar in
    // the client container's namespace for the service's.
    let (haproxy_probe, haproxy_api) = (loopback(free()?), loopback(free()?));
    if let (true, Some(image), Some(pod_ip)) =
        (paths.contains(&Path::Haproxy), &images.haproxy, pod_ip)
    {
        let backends = (
            SocketAddr::new(pod_ip, PROBE_PORT),
            SocketAddr::new(pod_ip, API_PORT),
        );
        let host =
            cx.haproxy_config(image, "host".into(), (haproxy_probe, haproxy_api), backends)?;
        cx.start("haproxy-host", host, false).await?;
        if wants(Path::Haproxy) {
            let sidecar = cx.haproxy_config(
                image,
                format!("container:{}", name("client-bridge")),
                (loopback(SIDECAR_PROBE_PORT), loopback(SIDECAR_API_PORT)),
                backends,
            )?;
            cx.start("haproxy-sidecar", sidecar, false).await?;
        }
    }

    // The SSH tunnel: sshd joins the bridge pod; each client makes its key.
    let (ssh_probe, ssh_api) = (loopback(free()?), loopback(free()?));
    if let (true, Some(pod_ip)) = (paths.contains(&Path::SshTunnel), pod_ip) {
        let forwards = [
            (ssh_probe, ssh_api),
            (
                loopback(SIDECAR_PROBE_PORT + 1),
                loopback(SIDECAR_API_PORT + 1),
            ),
        ];
        if let Err(err) = cx
            .ssh_tunnels(&pod, pod_ip, wants(Path::SshTunnel), forwards, progress)
            .await
        {
            skip_path(&mut servers, Path::SshTunnel, format!("{err:#}"));
        }
    }

    // The native processes, pinned like the servers' containers.
    servers.userland_proxy = None;
    held.processes.push(
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
    held.processes.push(
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
    let mut api_host_config = service_config(&project, "api", &images.api)?;
    // Loopback only: the bench reaches it there, and nothing else should.
    set_env(&mut api_host_config, "API_BIND", &api_host.to_string());
    cx.start("api-host", api_host_config, true).await?;
    if let Pinning::Pinned { server_cpu, .. } = pinning {
        for child in &held.processes {
            if let Some(pid) = child.id() {
                pin::pin_process(pid, *server_cpu)?;
            }
        }
    }

    // Every route's target and runner.
    let lan_client = |path: Path| segments.get(&path).map(|(_, _, c)| c.clone());
    for route in &routes {
        if servers.skipped.iter().any(|(r, _)| r == route) {
            continue;
        }
        let pod_target = |ip: IpAddr| Target {
            probe: SocketAddr::new(ip, PROBE_PORT),
            api: SocketAddr::new(ip, API_PORT),
        };
        let container = |role: &str| Runner::Container(name(role));
        let (target, runner) = match (route.path, route.client) {
            (Path::Native, _) => (
                Target {
                    probe: probe_native,
                    api: api_native,
                },
                Runner::Local,
            ),
            (Path::Host, Client::Container) => (
                Target {
                    probe: probe_host,
                    api: api_host,
                },
                container("client-host"),
            ),
            (Path::Host, _) => (
                Target {
                    probe: probe_host,
                    api: api_host,
                },
                Runner::Local,
            ),
            (Path::BridgeProxy, _) => (
                Target {
                    probe: probe_published,
                    api: api_published,
                },
                Runner::Local,
            ),
            (Path::PublishedDnat, _) => {
                let Some((probe, api)) = dnat else { continue };
                (Target { probe, api }, Runner::Local)
            }
            (Path::BridgeIp, client) => {
                let ip = pod_ip.context("the bridge pod did not start")?;
                let runner = if client == Client::Container {
                    container("client-bridge")
                } else {
                    Runner::Local
                };
                (pod_target(ip), runner)
            }
            (Path::Macvlan | Path::IpvlanL2 | Path::Overlay, client) => {
                let ip = *pod_on
                    .get(&route.path)
                    .context("the bridge pod is not on the network")?;
                let runner = match client {
                    Client::Container => container(&format!("client-{}", route.path.name())),
                    _ => Runner::Namespace(
                        lan_client(route.path).context("no LAN client on the parent")?,
                    ),
                };
                (pod_target(ip), runner)
            }
            (Path::Haproxy, Client::Container) => (
                Target {
                    probe: loopback(SIDECAR_PROBE_PORT),
                    api: loopback(SIDECAR_API_PORT),
                },
                container("client-bridge"),
            ),
            (Path::Haproxy, _) => (
                Target {
                    probe: haproxy_probe,
                    api: haproxy_api,
                },
                Runner::Local,
            ),
            (Path::SshTunnel, Client::Container) => (
                Target {
                    probe: loopback(SIDECAR_PROBE_PORT + 1),
                    api: loopback(SIDECAR_API_PORT + 1),
                },
                container("client-bridge"),
            ),
            (Path::SshTunnel, _) => (
                Target {
                    probe: ssh_probe,
                    api: ssh_api,
                },
                Runner::Local,
            ),
            (Path::SharedNetns, _) => (
                Target {
                    probe: loopback(PROBE_PORT),
                    api: loopback(API_PORT),
                },
                container("client-pod"),
            ),
        };
        servers.ready.push(Ready {
            route: *route,
            target,
            runner,
        });
    }

    progress.println("bench: waiting for every server on every route");
    let mut waits = Vec::new();
    for ready in &servers.ready {
        waits.push(async move {
            let result = wait_route(docker, ready, deadline).await;
            (ready.route, result)
        });
    }
    let mut failed = Vec::new();
    for (route, result) in futures_util::future::join_all(waits).await {
        if let Err(err) = result {
            // The core paths must run; an alternative that does not answer is skipped.
            if matches!(
                route.path,
                Path::Native | Path::Host | Path::BridgeProxy | Path::BridgeIp
            ) {
                return Err(err.context(format!("the {} route", route.name())));
            }
            failed.push((route, format!("it did not answer: {err:#}")));
        }
    }
    servers
        .ready
        .retain(|r| !failed.iter().any(|(f, _)| *f == r.route));
    servers.skipped.extend(failed);

    if let Some((probe, _)) = dnat {
        let IpAddr::V4(address) = probe.ip() else {
            unreachable!("a v4 link")
        };
        if let Err(why) = net::dnat_rule(address, probe.port()) {
            servers
                .ready
                .retain(|r| r.route.path != Path::PublishedDnat);
            skip_path(&mut servers, Path::PublishedDnat, why);
        }
    }
    if published_needed {
        servers.userland_proxy = userland_proxy(probe_published.port());
    }

    // What the isolation matrix checks, per path.
    let bridge_roles = ["probe-bridge", "api-bridge", "db-bridge"]
        .map(String::from)
        .to_vec();
    for path in paths {
        let mut facts = PathFacts::default();
        match path {
            Path::Native => {
                facts.host_addresses = vec![probe_native];
                facts.localhost_check =
                    wants(Path::Host).then(|| (name("client-host"), probe_native));
                facts.lan_target = lan.clone().map(|l| {
                    (
                        SocketAddr::new(IpAddr::V4(l.host_ip), probe_native.port()),
                        l,
                    )
                });
            }
            Path::Host => {
                facts.server_roles = ["probe-host", "api-host", "db-host"]
                    .map(String::from)
                    .to_vec();
                facts.host_addresses = vec![probe_host];
                facts.localhost_check =
                    wants(Path::Host).then(|| (name("client-host"), probe_host));
                facts.lan_target = lan
                    .clone()
                    .map(|l| (SocketAddr::new(IpAddr::V4(l.host_ip), probe_host.port()), l));
            }
            Path::BridgeProxy | Path::PublishedDnat => {
                facts.server_roles = ["probe-published", "api-published", "db-published"]
                    .map(String::from)
                    .to_vec();
                let probe = if *path == Path::BridgeProxy {
                    Some(probe_published)
                } else {
                    dnat.map(|d| d.0)
                };
                facts.host_addresses = probe.into_iter().collect();
                if let (Some(lan), Some(probe)) = (&lan, probe) {
                    facts.lan_target = Some((
                        SocketAddr::new(IpAddr::V4(lan.host_ip), probe.port()),
                        lan.clone(),
                    ));
                }
                facts.localhost_check =
                    (wants(Path::BridgeIp) || wants(Path::Haproxy) || wants(Path::SshTunnel))
                        .then(|| (name("client-bridge"), loopback(PROBE_PORT)));
            }
            Path::BridgeIp
            | Path::Overlay
            | Path::Macvlan
            | Path::IpvlanL2
            | Path::Haproxy
            | Path::SshTunnel
            | Path::SharedNetns => {
                facts.server_roles = bridge_roles.clone();
                let ip = match path {
                    Path::BridgeIp | Path::Haproxy | Path::SshTunnel | Path::SharedNetns => pod_ip,
                    _ => pod_on.get(path).copied(),
                };
                let lan_for = match path {
                    Path::Macvlan | Path::IpvlanL2 => lan_client(*path),
                    _ => lan.clone(),
                };
                match path {
                    Path::Haproxy => {
                        facts
                            .server_roles
                            .extend(["haproxy-host".into(), "haproxy-sidecar".into()]);
                        facts.host_addresses = vec![haproxy_probe];
                        if let Some(l) = &lan {
                            facts.lan_target = Some((
                                SocketAddr::new(IpAddr::V4(l.host_ip), haproxy_probe.port()),
                                l.clone(),
                            ));
                        }
                        facts.localhost_check = wants(Path::Haproxy)
                            .then(|| (name("client-bridge"), loopback(SIDECAR_PROBE_PORT)));
                    }
                    Path::SshTunnel => {
                        facts.server_roles.extend([
                            "sshd".into(),
                            "ssh-host".into(),
                            "ssh-sidecar".into(),
                        ]);
                        facts.host_addresses = vec![ssh_probe];
                        if let Some(l) = &lan {
                            facts.lan_target = Some((
                                SocketAddr::new(IpAddr::V4(l.host_ip), ssh_probe.port()),
                                l.clone(),
                            ));
                        }
                        facts.localhost_check = wants(Path::SshTunnel)
                            .then(|| (name("client-bridge"), loopback(SIDECAR_PROBE_PORT + 1)));
                    }
                    _ => {
                        if let (Some(ip), Some(l)) = (ip, lan_for) {
                            facts.lan_target = Some((SocketAddr::new(ip, PROBE_PORT), l));
                        }
                        let checker = match path {
                            Path::SharedNetns => "client-pod".to_owned(),
                            Path::BridgeIp => "client-bridge".to_owned(),
                            other => format!("client-{}", other.name()),
                        };
                        facts.localhost_check =
                            wants(*path).then(|| (name(&checker), loopback(PROBE_PORT)));
                        if matches!(path, Path::Macvlan | Path::IpvlanL2) {
                            facts.from_host = ip.map(|ip| SocketAddr::new(ip, PROBE_PORT));
                        }
                    }
                }
            }
        }
        servers.facts.insert(*path, facts);
    }
    Ok(servers)
}

/// The macvlan or ipvlan network of `driver` on a parent link of its own,
/// with a LAN client namespace on that parent and a host route that keeps
/// the host's packets for the subnet on the parent.
async fn segment(
    docker: &Docker,
    session: &str,
    held: &mut Held,
    kind: ChildKind,
    driver: &str,
    taken: &[Ipv4Addr],
) -> anyhow::Result<(String, Ipv4Addr, Arc<LanClient>, &'static str)> {
    lan::available().map_err(|why| {
        anyhow::anyhow!("{why}: the {driver} path needs a parent link the bench makes")
    })?;
    let pid = std::process::id();
    let parent = format!("stb{:x}{}", pid & 0xff_ffff, &driver[..1]);
    let link = Link::parent(&parent)?;
    let link_kind = link.kind;
    held.links.push(link);
    let subnet = net::free_subnet(docker, pid + u32::from(driver.as_bytes()[0]), taken).await?;
    // The kernel's own test of the driver: the LAN client's link.
    let client = LanClient::on_parent(&parent, kind, net::in_subnet(subnet, 200), 24)
        .with_context(|| format!("the kernel cannot make a {driver} link here"))?;
    let client = Arc::new(client);
    held.lans.push(client.clone());
    lan::ip(&["route", "add", &format!("{subnet}/24"), "dev", &parent])?;
    let network = format!("{session}-{driver}");
    let mode = match kind {
        ChildKind::Macvlan => ("macvlan_mode", "bridge"),
        ChildKind::IpvlanL2 => ("ipvlan_mode", "l2"),
    };
    let options = HashMap::from([
        ("parent".to_owned(), parent.clone()),
        (mode.0.to_owned(), mode.1.to_owned()),
    ]);
    net::create(docker, session, &network, driver, subnet, options, false).await?;
    Ok((network, subnet, client, link_kind))
}

/// An attachable overlay network on the engine's swarm (made for this
/// session and left at its end if the engine was in none).
async fn overlay_network(
    docker: &Docker,
    session: &str,
    held: &mut Held,
    taken: &[Ipv4Addr],
    progress: &Progress,
) -> anyhow::Result<String> {
    let swarm = LocalSwarm::ensure(docker).await?;
    if swarm.made_here() {
        progress
            .println("bench: made a single-node swarm for the overlay path; it is left at the end");
    }
    held.swarm = Some(swarm);
    let subnet = net::free_subnet(docker, std::process::id() + 111, taken).await?;
    let network = format!("{session}-overlay");
    net::create(
        docker,
        session,
        &network,
        "overlay",
        subnet,
        HashMap::new(),
        true,
    )
    .await?;
    Ok(network)
}

/// Connects `container` to `network` and returns its address there.
async fn connect(docker: &Docker, network: &str, container: &str) -> anyhow::Result<IpAddr> {
    docker
        .connect_network(
            network,
            NetworkConnectRequest {
                container: container.to_owned(),
                endpoint_config: None,
            },
        )
        .await
        .with_context(|| format!("cannot connect {container} to {network}"))?;
    address_on(docker, container, network).await
}

/// The shared inputs of starting containers.
struct Cx<'a> {
    docker: &'a Docker,
    session: &'a str,
    project: &'a Project,
    images: &'a Images,
    pinning: &'a Pinning,
}

impl Cx<'_> {
    fn name(&self, role: &str) -> String {
        format!("{}-{role}-1", self.session)
    }

    /// Creates and starts the container of `role`, on the servers' CPU
    /// (`server`) or the client's.
    async fn start(
        &self,
        role: &str,
        mut config: ContainerCreateBody,
        server: bool,
    ) -> anyhow::Result<()> {
        config.host_config.get_or_insert_default().cpuset_cpus = self.pinning.cpuset(server);
        let name = self.name(role);
        let labels = config.labels.get_or_insert_default();
        labels.insert(PROJECT_LABEL.to_owned(), self.session.to_owned());
        labels.insert(SERVICE_LABEL.to_owned(), role.to_owned());
        labels.insert(BENCH_LABEL.to_owned(), self.session.to_owned());
        let options = CreateContainerOptionsBuilder::default().name(&name).build();
        self.docker
            .create_container(Some(options), config)
            .await
            .with_context(|| format!("cannot create container {name}"))?;
        self.docker
            .start_container(&name, None)
            .await
            .with_context(|| format!("cannot start container {name}"))?;
        Ok(())
    }

    /// The database and the API of pod `pod` (`published` or `bridge`),
    /// joined to the network namespace of container `owner`.
    async fn start_pod_services(&self, pod: &str, owner: &str) -> anyhow::Result<()> {
        let in_pod = format!("container:{owner}");
        let mut db = service_config(self.project, "db", &self.images.db)?;
        scratch_data_dir(&mut db);
        set_env(&mut db, "MARIADB_PORT", &DB_PORT.to_string());
        db.host_config.get_or_insert_default().network_mode = Some(in_pod.clone());
        self.start(&format!("db-{pod}"), db, true).await?;
        let mut api = service_config(self.project, "api", &self.images.api)?;
        set_env(&mut api, "API_BIND", &format!("0.0.0.0:{API_PORT}"));
        set_env(
            &mut api,
            "API_DATABASE_URL",
            &format!("mysql://shop_api@127.0.0.1:{DB_PORT}/shop"),
        );
        // Its clients arrive through docker-proxy, the bridge or the bench's
        // other containers, never from its own loopback, and it is reached
        // only at the bench's own addresses: plain HTTP from any peer is the bench's.
        set_env(&mut api, "API_PLAINTEXT_FROM", "0.0.0.0/0,::/0");
        api.host_config.get_or_insert_default().network_mode = Some(in_pod);
        self.start(&format!("api-{pod}"), api, true).await
    }

    /// An HAProxy container in `network_mode`, listening on `fronts` (probe,
    /// API) and forwarding to `backs`.
    fn haproxy_config(
        &self,
        image: &str,
        network_mode: String,
        fronts: (SocketAddr, SocketAddr),
        backs: (SocketAddr, SocketAddr),
    ) -> anyhow::Result<ContainerCreateBody> {
        let project = self
            .images
            .bench_project
            .as_ref()
            .context("no bench images")?;
        let mut config = container_config(project, "haproxy", image, &|_| None)?;
        for (key, value) in [
            ("PROBE_FRONT", fronts.0),
            ("API_FRONT", fronts.1),
            ("PROBE_BACK", backs.0),
            ("API_BACK", backs.1),
        ] {
            set_env(&mut config, key, &value.to_string());
        }
        config.host_config.get_or_insert_default().network_mode = Some(network_mode);
        config.labels = None;
        Ok(config)
    }

    /// sshd in the pod, a tunnel from the host network (forwards `forwards.0`)
    /// and, with `sidecar`, one in the bridge client's namespace (`forwards.1`).
    async fn ssh_tunnels(
        &self,
        pod: &str,
        pod_ip: IpAddr,
        sidecar: bool,
        forwards: [(SocketAddr, SocketAddr); 2],
        progress: &Progress,
    ) -> anyhow::Result<()> {
        let image = self
            .images
            .ssh
            .as_ref()
            .context("the ssh image was not built")?;
        let project = self
            .images
            .bench_project
            .as_ref()
            .context("no bench images")?;
        let config = |network_mode: String| -> anyhow::Result<ContainerCreateBody> {
            let mut config = container_config(project, "ssh", image, &|_| None)?;
            config.host_config.get_or_insert_default().network_mode = Some(network_mode);
            config.labels = None;
            Ok(config)
        };
        let mut clients = vec![("ssh-host", forwards[0])];
        self.start("ssh-host", config("host".into())?, false)
            .await?;
        if sidecar {
            self.start(
                "ssh-sidecar",
                config(format!("container:{}", self.name("client-bridge")))?,
                false,
            )
            .await?;
            clients.push(("ssh-sidecar", forwards[1]));
        }
        let mut public_keys = Vec::new();
        for (role, _) in &clients {
            let key = exec::run_ok(
                self.docker,
                &self.name(role),
                &["bench-ssh-keygen".to_owned(), (*role).to_owned()],
            )
            .await?;
            public_keys.push(key.trim().to_owned());
        }
        let mut sshd = config(format!("container:{pod}"))?;
        sshd.cmd = Some(vec!["bench-sshd".into()]);
        set_env(&mut sshd, "AUTHORIZED_KEYS", &public_keys.join("\n"));
        self.start("sshd", sshd, true).await?;
        let host_key = self.host_key(&self.name("sshd")).await?;
        progress.println("bench: sshd is up; opening the tunnels");
        for (role, (probe, api)) in clients {
            let argv: Vec<String> = [
                "bench-ssh-tunnel".to_owned(),
                host_key.clone(),
                pod_ip.to_string(),
                SSH_PORT.to_string(),
                "-L".into(),
                format!("{probe}:127.0.0.1:{PROBE_PORT}"),
                "-L".into(),
                format!("{api}:127.0.0.1:{API_PORT}"),
            ]
            .into();
            exec::detach(self.docker, &self.name(role), &argv).await?;
        }
        Ok(())
    }

    /// The `host-key:` line bench-sshd prints once its key is made.
    async fn host_key(&self, container: &str) -> anyhow::Result<String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let options = LogsOptionsBuilder::default()
                .stdout(true)
                .stderr(true)
                .build();
            let mut logs = self.docker.logs(container, Some(options));
            let mut text = String::new();
            while let Some(Ok(chunk)) = logs.next().await {
                text.push_str(&chunk.to_string());
            }
            if let Some(key) = text.lines().find_map(|l| l.strip_prefix("host-key: ")) {
                return Ok(key.trim().to_owned());
            }
            if Instant::now() > deadline {
                bail!("sshd printed no host key within 30 s; its log:\n{text}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// Publishes container ports: `(container port, host address)` pairs.
fn publish(config: &mut ContainerCreateBody, bindings: &[(u16, SocketAddr)]) {
    let mut ports: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
    for (port, host) in bindings {
        ports
            .entry(format!("{port}/tcp"))
            .or_default()
            .get_or_insert_default()
            .push(PortBinding {
                host_ip: Some(host.ip().to_string()),
                host_port: Some(host.port().to_string()),
            });
    }
    config.exposed_ports = Some(ports.keys().cloned().collect());
    config.host_config.get_or_insert_default().port_bindings = Some(ports);
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

/// A client container: the probe image, serving nothing (`probe idle`),
/// in which the bench runs `probe client …`.
fn client_config(image: &str, network_mode: String) -> ContainerCreateBody {
    let mut config = probe_config(image, "127.0.0.1:0", &network_mode);
    config.cmd = Some(vec!["idle".into()]);
    config
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

/// The address of `container` on `network`.
async fn address_on(docker: &Docker, container: &str, network: &str) -> anyhow::Result<IpAddr> {
    let inspected = docker.inspect_container(container, None).await?;
    let address = inspected
        .network_settings
        .and_then(|n| n.networks)
        .and_then(|n| n.get(network).and_then(|b| b.ip_address.clone()))
        .filter(|ip| !ip.is_empty())
        .with_context(|| format!("{container} has no address on {network}"))?;
    Ok(address.parse()?)
}

/// Waits until a route's probe echoes and its API answers `/healthz`.
async fn wait_route(docker: &Docker, ready: &Ready, deadline: Instant) -> anyhow::Result<()> {
    let target = ready.target;
    loop {
        let answer: anyhow::Result<()> = match &ready.runner {
            Runner::Local => {
                let probe = tokio::task::spawn_blocking(move || probe::check(target.probe))
                    .await?
                    .map_err(|e| anyhow::anyhow!(e));
                match probe {
                    Ok(_) => tokio::task::spawn_blocking(move || {
                        servicekit::probe::http_get(target.api, READY_PATH)
                    })
                    .await?
                    .map(drop)
                    .map_err(|e| anyhow::anyhow!("the API at {}: {e}", target.api)),
                    Err(e) => Err(e),
                }
            }
            Runner::Namespace(lan) => {
                let lan = lan.clone();
                tokio::task::spawn_blocking(move || {
                    lan.inside(move || probe::client::connect(target.probe, Duration::from_secs(2)))
                        .and_then(|r| r)
                        .and_then(|()| {
                            lan.inside(move || {
                                probe::client::connect(target.api, Duration::from_secs(2))
                            })
                            .and_then(|r| r)
                        })
                })
                .await?
                .map_err(anyhow::Error::from)
            }
            Runner::Container(container) => {
                let mut result = Ok(());
                for addr in [target.probe, target.api] {
                    let args = ["connect".to_owned(), "--target".into(), addr.to_string()];
                    let mut argv = vec![binary::binary_path_in_image("probe"), "client".into()];
                    argv.extend(args);
                    if let Err(e) = exec::run_ok(docker, container, &argv).await {
                        result = Err(e);
                        break;
                    }
                }
                result
            }
        };
        match answer {
            Ok(()) => return Ok(()),
            Err(why) if Instant::now() > deadline => {
                bail!("{} did not answer: {why:#}", ready.route.name())
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(300)).await,
        }
    }
}

async fn wait_api(
    target: SocketAddr,
    deadline: Instant,
    container: Option<(&Docker, String)>,
) -> anyhow::Result<()> {
    loop {
        let answer =
            tokio::task::spawn_blocking(move || servicekit::probe::http_get(target, READY_PATH))
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

/// A public read that queries the database, to tell that an API is ready:
/// `/readyz` answers on the API's own loopback only, and most paths reach
/// it from elsewhere.
const READY_PATH: &str = "/api/products?limit=1";

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
    fn a_port_published_twice_keeps_both_addresses() {
        let mut config = ContainerCreateBody::default();
        publish(
            &mut config,
            &[
                (7777, "127.0.0.1:4000".parse().unwrap()),
                (7777, "10.213.0.1:4001".parse().unwrap()),
            ],
        );
        let bindings = config.host_config.unwrap().port_bindings.unwrap();
        assert_eq!(bindings["7777/tcp"].as_ref().unwrap().len(), 2);
    }
}
