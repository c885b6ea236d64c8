//! Slow and idle clients from the LAN against the API, while clients on the
//! host measure it: a private copy of the stack's database and API (as `up`
//! runs them: host network, hardening, limits, firewall, the generated TLS
//! certificate), a LAN client namespace, and from inside it a crowd of
//! connections that never finish a request:
//!
//! - silent: connect and send nothing (closed by the first-byte timeout);
//! - slow handshake: a real TLS ClientHello, one byte every few seconds
//!   (closed by the TLS handshake timeout);
//! - slow headers: a finished TLS handshake (certificate pinned), then a
//!   request head one byte every few seconds (closed by hyper's header
//!   timeout).
//!
//! A connection the server closes is opened again a second later, so the
//! crowd stays at its size for the whole attack. Meanwhile loopback clients
//! run `GET /api/products/{id}` closed-loop, before the attack (baseline)
//! and during it, and the API's resident memory is sampled. At the end the
//! API's own counters (`api_connections_total`) say how each connection of
//! the crowd was closed.
//!
//! Run as root (the namespace): `cargo bench -p integration-tests --bench
//! slow_clients`. SLOW_CLIENTS (default 5000), SLOW_SECONDS (the attack,
//! default 45) and SLOW_INTERVAL_SECS (between a slow client's bytes,
//! default 3). Traffic goes only to loopback and to the namespace's veth;
//! every loop is bounded by the attack's deadline.

#![allow(
    clippy::print_stdout,
    reason = "a benchmark program's result is the table it prints"
)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use loadgen::{Load, Report};
use stackctl::image::BuildOptions;
use stackctl::progress::Progress;
use stackctl::stack::{self, up::UpOptions};
use stackctl::testbed::Testbed;
use stackctl::verify::lan::{self, LanClient};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// Loopback load: connections and measured time of each phase.
const LOOPBACK_CONNECTIONS: usize = 8;
const MEASURE: Duration = Duration::from_secs(20);
/// How long the crowd takes to open its connections.
const RAMP: Duration = Duration::from_secs(10);

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() -> anyhow::Result<()> {
    lan::available()
        .map_err(|why| anyhow::anyhow!("this benchmark needs a LAN namespace: {why}"))?;
    let clients: usize = env_or("SLOW_CLIENTS", 5000);
    let attack = Duration::from_secs(env_or("SLOW_SECONDS", 45));
    let interval = Duration::from_secs(env_or("SLOW_INTERVAL_SECS", 3));
    // One descriptor per client, and some for the runtime and the load.
    let wanted = (clients as u64 + 1024).max(4096);
    let (_, hard) = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)?;
    nix::sys::resource::setrlimit(
        nix::sys::resource::Resource::RLIMIT_NOFILE,
        wanted,
        hard.max(wanted),
    )
    .context("cannot raise RLIMIT_NOFILE")?;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(bench(clients, attack, interval))
}

async fn bench(clients: usize, attack: Duration, interval: Duration) -> anyhow::Result<()> {
    eprintln!("bringing up a private copy of the database and the API ...");
    let bed = Testbed::new("slow-clients").await?;
    let options = UpOptions {
        services: vec!["api".into()],
        firewall: stackctl::firewall::check_available().is_ok(),
        timeout: Duration::from_secs(180),
        build: BuildOptions::default(),
    };
    stack::up::up(&bed.docker, bed.project(), &options, &Progress::plain()).await?;
    let port = bed.port("SHOP_API_PORT")?;
    let local = SocketAddr::from(([127, 0, 0, 1], port));
    let pin = stackctl::secrets::certificates(bed.project(), "api")
        .into_iter()
        .find_map(|c| c.sha256)
        .context("the API's certificate")?;
    let api_pid = api_pid(&bed).await?;
    let settings = api_settings(&bed).await?;

    let baseline = loopback_load(local).await?;
    let rss_before = loadgen::memory_kib(api_pid).unwrap_or_default();

    let lan = Arc::new(LanClient::create()?);
    let remote = SocketAddr::from((lan.host_ip, port));
    eprintln!(
        "attack: {clients} slow clients from {} to {remote} for {}s (one byte every {}s)",
        lan.client_ip,
        attack.as_secs(),
        interval.as_secs()
    );
    let crowd = {
        let (lan, pin) = (lan.clone(), pin.clone());
        tokio::task::spawn_blocking(move || {
            lan.inside(move || crowd(remote, &pin, clients, attack, interval))
        })
    };
    // Measure once the whole crowd is there.
    tokio::time::sleep(RAMP + Duration::from_secs(3)).await;
    let peak = Arc::new(Mutex::new(0u64));
    let sampler = {
        let peak = peak.clone();
        tokio::spawn(async move {
            loop {
                let (rss, _) = loadgen::memory_kib(api_pid).unwrap_or_default();
                if let Ok(mut peak) = peak.lock() {
                    *peak = (*peak).max(rss);
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        })
    };
    let attacked = loopback_load(local).await?;
    sampler.abort();
    let stats = crowd.await???;
    let counters = connection_counters(local).await?;

    println!();
    println!(
        "{clients} slow clients from a LAN namespace ({} silent, {} slow TLS handshakes, {} slow headers over TLS; one byte every {}s; reopened 1s after the server closes one), {}s; API limits: {settings}",
        stats.iter().filter(|s| s.kind == Kind::Silent).count(),
        stats
            .iter()
            .filter(|s| s.kind == Kind::SlowHandshake)
            .count(),
        stats.iter().filter(|s| s.kind == Kind::SlowHeaders).count(),
        interval.as_secs(),
        attack.as_secs()
    );
    println!();
    println!(
        "loopback `GET /api/products/{{id}}`, {LOOPBACK_CONNECTIONS} connections, {}s each:",
        MEASURE.as_secs()
    );
    println!();
    println!("| phase | req/s | p50 | p99 | p99.9 | max | errors | API RSS |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    let peak = peak.lock().map(|p| *p).unwrap_or_default();
    for (phase, r, rss) in [
        ("before (no slow clients)", &baseline, rss_before.0),
        ("during the attack", &attacked, peak),
    ] {
        println!(
            "| {phase} | {:.0} | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} ms | {} | {:.1} MiB |",
            r.rps,
            r.p50_us as f64 / 1000.0,
            r.p99_us as f64 / 1000.0,
            r.p999_us as f64 / 1000.0,
            r.max_us as f64 / 1000.0,
            r.errors,
            rss as f64 / 1024.0
        );
    }
    println!();
    println!("the crowd's connections, as the clients saw them:");
    println!();
    println!(
        "| kind | opened | closed by the server | median open | longest open | still open at the end |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    for kind in [Kind::Silent, Kind::SlowHandshake, Kind::SlowHeaders] {
        let mine: Vec<&Slot> = stats.iter().filter(|s| s.kind == kind).collect();
        let mut lives: Vec<Duration> = mine.iter().flat_map(|s| s.closed.iter().copied()).collect();
        lives.sort();
        let median = lives.get(lives.len() / 2).copied().unwrap_or_default();
        let longest = lives.last().copied().unwrap_or_default();
        println!(
            "| {} | {} | {} | {:.1} s | {:.1} s | {} |",
            kind.name(),
            mine.iter().map(|s| s.opened).sum::<u64>(),
            lives.len(),
            median.as_secs_f64(),
            longest.as_secs_f64(),
            mine.iter().filter(|s| s.open_at_end).count()
        );
    }
    println!();
    println!("the API's count of how network connections ended (`api_connections_total`):");
    println!();
    for (outcome, n) in &counters {
        println!("- {outcome}: {n}");
    }
    println!();
    drop(lan);
    drop(bed);
    Ok(())
}

/// The API container's main process, for its memory.
async fn api_pid(bed: &Testbed) -> anyhow::Result<u32> {
    let containers = stack::containers(&bed.docker, &bed.project().name).await?;
    let api = containers
        .iter()
        .find(|c| c.service == "api")
        .context("no api container")?;
    let inspected = bed.docker.inspect_container(&api.id, None).await?;
    inspected
        .state
        .and_then(|s| s.pid)
        .and_then(|p| u32::try_from(p).ok())
        .filter(|p| *p > 0)
        .context("the api container has no process")
}

/// The API's connection limits as its container was started with them.
async fn api_settings(bed: &Testbed) -> anyhow::Result<String> {
    let containers = stack::containers(&bed.docker, &bed.project().name).await?;
    let api = containers
        .iter()
        .find(|c| c.service == "api")
        .context("no api container")?;
    let inspected = bed.docker.inspect_container(&api.id, None).await?;
    let env = inspected.config.and_then(|c| c.env).unwrap_or_default();
    let set: Vec<&String> = env
        .iter()
        .filter(|e| e.contains("TIMEOUT") || e.contains("MAX_"))
        .collect();
    Ok(if set.is_empty() {
        "the defaults (header and handshake timeouts 10 s, 1024 local and 2048 network connections)"
            .to_owned()
    } else {
        format!("{set:?}")
    })
}

/// Closed-loop `GET /api/products/{id}` on loopback.
async fn loopback_load(local: SocketAddr) -> anyhow::Result<Report> {
    let host = local.to_string();
    let load = Load {
        target: local,
        connections: LOOPBACK_CONNECTIONS,
        warmup: Duration::from_secs(1),
        duration: MEASURE,
        request: Arc::new(move |connection, n| {
            let id = 1 + (connection as u64 * 7919 + n * 31) % 48;
            loadgen::get(&host, &format!("/api/products/{id}"))
        }),
    };
    loadgen::run(load, |s| s == 200).await
}

/// `api_connections_total` of the network side, from `/metrics`.
async fn connection_counters(local: SocketAddr) -> anyhow::Result<Vec<(String, u64)>> {
    let answer = tokio::task::spawn_blocking(move || {
        servicekit::probe::get(local, "/metrics", Duration::from_secs(5))
    })
    .await?
    .map_err(anyhow::Error::msg)?;
    Ok(answer
        .body
        .lines()
        .filter_map(|l| l.strip_prefix("api_connections_total{side=\"network\",outcome=\""))
        .filter_map(|l| l.split_once("\"} "))
        .map(|(outcome, n)| (outcome.to_owned(), n.trim().parse().unwrap_or_default()))
        .collect())
}

/// What a slow client does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Silent,
    SlowHandshake,
    SlowHeaders,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Silent => "silent",
            Kind::SlowHandshake => "slow TLS handshake",
            Kind::SlowHeaders => "slow headers over TLS",
        }
    }
}

/// One client slot of the crowd, over the attack.
#[derive(Debug)]
struct Slot {
    kind: Kind,
    opened: u64,
    /// How long each connection the server closed had been open.
    closed: Vec<Duration>,
    open_at_end: bool,
}

/// Runs the crowd (on the calling thread, which is in the namespace) until
/// `attack` has passed; each slot's record.
fn crowd(
    remote: SocketAddr,
    pin: &str,
    clients: usize,
    attack: Duration,
    interval: Duration,
) -> anyhow::Result<Vec<Slot>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let config = servicekit::tls::pinned_config(pin)?;
    runtime.block_on(async move {
        let deadline = tokio::time::Instant::now() + attack;
        let mut tasks = Vec::with_capacity(clients);
        for i in 0..clients {
            let kind = match i % 10 {
                0..=3 => Kind::Silent,
                4..=6 => Kind::SlowHandshake,
                _ => Kind::SlowHeaders,
            };
            let start = RAMP.mul_f64(i as f64 / clients as f64);
            let config = config.clone();
            tasks.push(tokio::spawn(async move {
                tokio::time::sleep(start).await;
                slot(kind, remote, config, deadline, interval).await
            }));
        }
        let mut slots = Vec::with_capacity(clients);
        for task in tasks {
            slots.push(task.await?);
        }
        Ok(slots)
    })
}

/// One slot: connect, be slow until the server closes, reopen a second
/// later; until the deadline.
async fn slot(
    kind: Kind,
    remote: SocketAddr,
    config: Arc<rustls::ClientConfig>,
    deadline: tokio::time::Instant,
    interval: Duration,
) -> Slot {
    let mut record = Slot {
        kind,
        opened: 0,
        closed: Vec::new(),
        open_at_end: false,
    };
    while tokio::time::Instant::now() < deadline {
        let connected =
            tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(remote)).await;
        let Ok(Ok(stream)) = connected else {
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        };
        record.opened += 1;
        let opened = Instant::now();
        let life = slow(kind, stream, config.clone(), interval);
        match tokio::time::timeout_at(deadline, life).await {
            Ok(()) => record.closed.push(opened.elapsed()),
            Err(_) => {
                record.open_at_end = true;
                break;
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    record
}

/// Is slow on `stream` in its own way; returns when the server closes it.
async fn slow(
    kind: Kind,
    stream: TcpStream,
    config: Arc<rustls::ClientConfig>,
    interval: Duration,
) {
    match kind {
        Kind::Silent => {
            let mut stream = stream;
            until_closed(&mut stream).await;
        }
        Kind::SlowHandshake => {
            // A real ClientHello, sent one byte at a time.
            let name = rustls::pki_types::ServerName::IpAddress(
                stream
                    .peer_addr()
                    .map(|a| a.ip())
                    .unwrap_or(std::net::Ipv4Addr::LOCALHOST.into())
                    .into(),
            );
            let Ok(mut conn) = rustls::ClientConnection::new(config, name) else {
                return;
            };
            let mut hello = Vec::new();
            while conn.wants_write() {
                if conn.write_tls(&mut hello).is_err() {
                    return;
                }
            }
            let (mut read, mut write) = stream.into_split();
            let trickle = async {
                for byte in hello.iter().cycle() {
                    if write.write_all(&[*byte]).await.is_err() {
                        return;
                    }
                    tokio::time::sleep(interval).await;
                }
            };
            tokio::select! {
                () = until_closed(&mut read) => {}
                () = trickle => until_closed(&mut read).await,
            }
        }
        Kind::SlowHeaders => {
            let connector = tokio_rustls::TlsConnector::from(config);
            let name = rustls::pki_types::ServerName::IpAddress(
                stream
                    .peer_addr()
                    .map(|a| a.ip())
                    .unwrap_or(std::net::Ipv4Addr::LOCALHOST.into())
                    .into(),
            );
            let Ok(tls) = connector.connect(name, stream).await else {
                return;
            };
            let (mut read, mut write) = tokio::io::split(tls);
            let head = b"GET /api/products/1 HTTP/1.1\r\nHost: shop\r\nX-Slow: ";
            let trickle = async {
                for byte in head.iter().chain(std::iter::repeat(&b'x')) {
                    if write.write_all(&[*byte]).await.is_err() {
                        return;
                    }
                    if write.flush().await.is_err() {
                        return;
                    }
                    tokio::time::sleep(interval).await;
                }
            };
            tokio::select! {
                () = until_closed(&mut read) => {}
                () = trickle => until_closed(&mut read).await,
            }
        }
    }
}

/// Reads (and drops) whatever comes until the peer closes or resets.
async fn until_closed(read: &mut (impl tokio::io::AsyncRead + Unpin)) {
    let mut buf = [0u8; 1024];
    while matches!(read.read(&mut buf).await, Ok(n) if n > 0) {}
}
