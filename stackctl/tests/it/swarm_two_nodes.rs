//! Two swarm nodes on one machine: this engine as the manager, and a second
//! Docker engine of the test's own, started with `nsenter --net` in a
//! network namespace joined to the host by a veth pair (its "host network"),
//! with its own data root, exec root, socket, pid file and config file. It
//! shows, for real: a node without the stack's images is named with the
//! fix (no restart loop); the images carried by `save-images` and `docker
//! load`; the co-located services and the firewall agent running on both
//! nodes, each node's API reaching its own node's database over 127.0.0.1;
//! and the loopback case of the guide's point that Swarm does not join
//! nodes' host networks: node 1's localhost is not node 2's.
//!
//! The manager must listen on the veth's address, so the swarm must be made
//! by this test (`LocalSwarm::ensure_at`); when the engine is already in a
//! swarm someone else made, joining a node to it would change it, and the
//! test says so and stops there.

use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use bollard::Docker;
use bollard::models::SwarmJoinRequest;
use futures_util::StreamExt as _;
use stackctl::firewall;
use stackctl::progress::Progress;
use stackctl::swarm::deploy::{self, DeployOptions};
use stackctl::swarm::local::LocalSwarm;
use stackctl::testbed::Testbed;
use stackctl::verify::lan::LanClient;

/// A Docker engine of the test's own in the namespace of `lan`.
struct SecondEngine {
    dir: PathBuf,
    daemon: Child,
    socket: PathBuf,
}

impl SecondEngine {
    fn start(namespace: &str) -> anyhow::Result<SecondEngine> {
        let dir = PathBuf::from(format!("/tmp/stackctl-node2-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("data"))?;
        std::fs::create_dir_all(dir.join("exec"))?;
        std::fs::write(dir.join("daemon.json"), "{}\n")?;
        let socket = dir.join("docker.sock");
        let log = std::fs::File::create(dir.join("dockerd.log"))?;
        let daemon = Command::new("nsenter")
            .arg(format!("--net=/run/netns/{namespace}"))
            .arg("dockerd")
            .arg("--data-root")
            .arg(dir.join("data"))
            .arg("--exec-root")
            .arg(dir.join("exec"))
            .arg("--pidfile")
            .arg(dir.join("dockerd.pid"))
            .arg("--config-file")
            .arg(dir.join("daemon.json"))
            .arg("-H")
            .arg(format!("unix://{}", socket.display()))
            .args(["--bridge=none", "--iptables=false", "--ip6tables=false"])
            .arg(format!(
                "--cgroup-parent=stackctl-node2-{}",
                std::process::id()
            ))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()?;
        Ok(SecondEngine {
            dir,
            daemon,
            socket,
        })
    }

    async fn client(&self) -> anyhow::Result<Docker> {
        for _ in 0..120 {
            if let Ok(docker) = Docker::connect_with_unix(
                &self.socket.display().to_string(),
                60,
                bollard::API_DEFAULT_VERSION,
            ) && docker.ping().await.is_ok()
            {
                return Ok(docker.negotiate_version().await?);
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        anyhow::bail!(
            "the second engine did not answer: {}",
            std::fs::read_to_string(self.dir.join("dockerd.log")).unwrap_or_default()
        )
    }

    /// Stops the engine (SIGTERM, then its containers are gone with it) and
    /// removes its directories.
    fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.daemon.id().to_string()])
            .status();
        for _ in 0..60 {
            if matches!(self.daemon.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
        // Anything the engine left mounted under its directories.
        if let Ok(mounts) = std::fs::read_to_string("/proc/self/mounts") {
            let mut ours: Vec<&str> = mounts
                .lines()
                .filter_map(|l| l.split_whitespace().nth(1))
                .filter(|m| m.starts_with(&self.dir.display().to_string()))
                .collect();
            ours.sort_by_key(|m| std::cmp::Reverse(m.len()));
            for mount in ours {
                let _ = Command::new("umount").args(["-l", mount]).status();
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        let _ = std::fs::remove_dir(format!(
            "/sys/fs/cgroup/stackctl-node2-{}",
            std::process::id()
        ));
    }
}

/// Connects to `addr` from inside the namespace.
fn connect_inside(namespace: &str, addr: SocketAddr) -> std::io::Result<()> {
    let path = format!("/run/netns/{namespace}");
    std::thread::spawn(move || {
        let file = std::fs::File::open(&path)?;
        nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET)
            .map_err(std::io::Error::from)?;
        TcpStream::connect_timeout(&addr, Duration::from_secs(3)).map(drop)
    })
    .join()
    .map_err(|_| std::io::Error::other("the namespace thread panicked"))?
}

/// An HTTP GET of `path` on `addr` from inside the namespace: the status line.
fn get_inside(namespace: &str, addr: SocketAddr, path: &'static str) -> std::io::Result<String> {
    use std::io::{Read as _, Write as _};
    let ns = format!("/run/netns/{namespace}");
    std::thread::spawn(move || {
        let file = std::fs::File::open(&ns)?;
        nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET)
            .map_err(std::io::Error::from)?;
        let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(3))?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        )?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer)?;
        Ok(answer.lines().next().unwrap_or_default().to_owned())
    })
    .join()
    .map_err(|_| std::io::Error::other("the namespace thread panicked"))?
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stack_runs_on_two_nodes_each_on_its_own_host_network() {
    let lan = LanClient::create().unwrap();
    let docker = stackctl::engine::connect().await.unwrap();
    let session = LocalSwarm::ensure_at(&docker, IpAddr::V4(lan.host_ip))
        .await
        .unwrap();
    if !session.made_here() {
        eprintln!(
            "this engine was already in a swarm this test did not make; joining a second node would change it, so the \
             two-node test stops here"
        );
        session.release().await.unwrap();
        return;
    }
    let bed = Testbed::new("swarm2").await.unwrap();
    let project = bed.project();
    let second = SecondEngine::start(lan.namespace()).unwrap();
    let outcome = two_nodes(&docker, &second, &lan, project).await;
    let removed = deploy::remove(&docker, project, true).await;
    // The second node's tasks stop with the services; then the engine goes.
    tokio::time::sleep(Duration::from_secs(5)).await;
    if let Ok(node2) = second.client().await {
        let _ = node2
            .leave_swarm(Some(
                bollard::query_parameters::LeaveSwarmOptionsBuilder::new()
                    .force(true)
                    .build(),
            ))
            .await;
    }
    let node2_rules = Command::new("nsenter")
        .arg(format!("--net=/run/netns/{}", lan.namespace()))
        .args(["iptables", "-w", "-S"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
    second.stop();
    session.release().await.unwrap();
    let _ = std::fs::remove_dir_all(stackctl::pins::path(project).parent().unwrap());
    drop(lan);
    outcome.unwrap();
    removed.unwrap();
    let node2_rules = node2_rules.unwrap();
    assert!(
        !node2_rules.contains(&firewall::chain_name(&project.name)),
        "the agent on node 2 removed its rules when it stopped: {node2_rules}"
    );
}

async fn two_nodes(
    docker: &Docker,
    second: &SecondEngine,
    lan: &LanClient,
    project: &stackctl::compose::Project,
) -> anyhow::Result<()> {
    let node2 = second.client().await?;
    let token = docker
        .inspect_swarm()
        .await?
        .join_tokens
        .and_then(|t| t.worker)
        .expect("a worker join token");
    node2
        .join_swarm(SwarmJoinRequest {
            listen_addr: Some(format!("{}:2377", lan.client_ip)),
            advertise_addr: Some(lan.client_ip.to_string()),
            remote_addrs: Some(vec![format!("{}:2377", lan.host_ip)]),
            join_token: Some(token),
            ..Default::default()
        })
        .await?;
    let info = node2.info().await?;
    let node2_id = info
        .swarm
        .and_then(|s| s.node_id)
        .expect("node 2 has an ID");
    let node1_id = docker
        .info()
        .await?
        .swarm
        .and_then(|s| s.node_id)
        .expect("node 1 has an ID");
    let options = DeployOptions {
        nodes: vec![node1_id.clone(), node2_id.clone()],
        timeout: Duration::from_secs(240),
        build: Default::default(),
    };
    let progress = Progress::plain();

    // Node 2 has none of the images, and no registry to pull them from.
    let err = deploy::deploy(docker, project, &options, &progress)
        .await
        .unwrap_err();
    let err = format!("{err:#}");
    assert!(
        err.contains(&node2_id[..12]),
        "the error names node 2: {err}"
    );
    assert!(err.contains("swarm save-images"), "and the fix: {err}");

    // Carried without a registry: saved here, loaded there.
    let dir = tempfile::tempdir()?;
    let tar = dir.path().join("images.tar");
    deploy::save_images(docker, project, &tar, &progress).await?;
    let bytes = tokio::fs::read(&tar).await?;
    let mut loading = node2.import_image(
        bollard::query_parameters::ImportImageOptionsBuilder::new()
            .quiet(true)
            .build(),
        bollard::body_full(bytes.into()),
        None,
    );
    while let Some(step) = loading.next().await {
        step?;
    }

    let deployed = deploy::deploy(docker, project, &options, &progress).await?;
    for service in &deployed.services {
        assert_eq!(
            service.nodes.len(),
            2,
            "{} runs on both nodes: {:?}",
            service.service,
            service.nodes
        );
    }

    // Each node's API reaches its own node's database over 127.0.0.1.
    let api = project.extensions["api"].listen[0].addr.port();
    let local = SocketAddr::from(([127, 0, 0, 1], api));
    let status = get_inside(lan.namespace(), local, "/readyz")?;
    assert!(
        status.contains("200"),
        "node 2's API is ready (its database answers it): {status}"
    );
    // The agent polices node 2's own iptables.
    let rules = Command::new("nsenter")
        .arg(format!("--net=/run/netns/{}", lan.namespace()))
        .args(["iptables", "-w", "-S", &firewall::chain_name(&project.name)])
        .output()?;
    let rules = String::from_utf8_lossy(&rules.stdout);
    assert!(
        rules.contains(&format!("stackctl:{}:api", project.name)),
        "node 2 has the stack's rules: {rules}"
    );

    // The loopback case of the guide's point: node 1's localhost is not node 2's.
    let only_on_node1 = TcpListener::bind("127.0.0.1:0")?;
    let port = only_on_node1.local_addr()?.port();
    TcpStream::connect(("127.0.0.1", port)).expect("node 1 reaches its own loopback");
    let across = connect_inside(lan.namespace(), SocketAddr::from(([127, 0, 0, 1], port)));
    assert!(
        across.is_err(),
        "node 2 cannot reach node 1's loopback port {port}"
    );
    Ok(())
}
