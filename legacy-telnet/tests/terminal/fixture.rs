//! The shared database and API, terminals started per test, and a small
//! Telnet client that speaks raw bytes, the way hostile clients do too.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use legacy_telnet::Limits;
use stackctl::testbed;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

pub struct Shared {
    /// Held so the database lives as long as the tests.
    _db: testbed::Database,
    pub api: api::Background,
}

pub type Fixture = Arc<Shared>;

impl Shared {
    pub async fn start() -> anyhow::Result<Shared> {
        let db = testbed::Database::start("terminal").await?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let api = api::Background::start(listener, &db.api_url(), None)?;
        for _ in 0..300 {
            if reqwest::get(format!("{}/readyz", api.url))
                .await
                .is_ok_and(|r| r.status() == 200)
            {
                return Ok(Shared { _db: db, api });
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        bail!("the API did not become ready")
    }

    pub async fn stop(self) {
        self.api.stop().await;
    }
}

pub fn limits() -> Limits {
    Limits {
        max_connections: 32,
        idle_timeout: Duration::from_secs(60),
        max_line_bytes: 512,
        max_output_bytes: 1 << 20,
    }
}

/// A terminal served in-process on a loopback port until dropped (or stopped).
pub struct Terminal {
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl Terminal {
    pub async fn start(api_url: &str, limits: Limits) -> anyhow::Result<Terminal> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let context = legacy_telnet::commands::Context {
            api: legacy_telnet::api::Api::new(api_url)?,
            probes: vec![("api".into(), 1), ("terminal".into(), addr.port())],
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(legacy_telnet::server::run(
            listener,
            context,
            limits,
            async {
                let _ = stopped.await;
            },
        ));
        Ok(Terminal {
            addr,
            stop: Some(stop),
            task: Some(task),
        })
    }

    pub async fn client(&self) -> anyhow::Result<Client> {
        Client::connect(self.addr).await
    }

    /// Stops the server and waits for it (and its sessions) to finish.
    pub async fn shut_down(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let task = self.task.take().context("already stopped")?;
        tokio::time::timeout(Duration::from_secs(20), task)
            .await
            .context("the server did not stop")???;
        Ok(())
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// A raw client: sends bytes, reads until it sees what it waits for.
pub struct Client {
    pub stream: TcpStream,
    pub seen: Vec<u8>,
}

impl Client {
    pub async fn connect(addr: SocketAddr) -> anyhow::Result<Client> {
        let stream = TcpStream::connect(addr).await?;
        Ok(Client {
            stream,
            seen: Vec::new(),
        })
    }

    pub async fn send(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        self.stream.write_all(bytes).await?;
        Ok(())
    }

    /// Reads until `needle` appears in what is new since the last call;
    /// returns that new text (lossy UTF-8).
    pub async fn until(&mut self, needle: &str) -> anyhow::Result<String> {
        let start = self.seen.len();
        let mut buffer = [0u8; 8192];
        let wait = async {
            loop {
                if String::from_utf8_lossy(&self.seen[start..]).contains(needle) {
                    return Ok(());
                }
                let n = self.stream.read(&mut buffer).await?;
                if n == 0 {
                    bail!("the connection closed before `{needle}` came");
                }
                self.seen.extend_from_slice(&buffer[..n]);
            }
        };
        match tokio::time::timeout(Duration::from_secs(20), wait).await {
            Ok(result) => result?,
            Err(_) => bail!(
                "no `{needle}` within 20 s; got: {}",
                String::from_utf8_lossy(&self.seen[start..])
            ),
        }
        Ok(String::from_utf8_lossy(&self.seen[start..]).into_owned())
    }

    /// Sends a command line and returns the answer up to the next prompt.
    pub async fn command(&mut self, line: &str) -> anyhow::Result<String> {
        self.send(format!("{line}\r\n").as_bytes()).await?;
        self.until("shop> ").await
    }

    /// Reads until the server closes; returns everything new.
    pub async fn read_until_closed(&mut self) -> anyhow::Result<String> {
        let start = self.seen.len();
        let mut buffer = [0u8; 8192];
        tokio::time::timeout(Duration::from_secs(20), async {
            loop {
                match self.stream.read(&mut buffer).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => self.seen.extend_from_slice(&buffer[..n]),
                }
            }
        })
        .await
        .context("the server did not close the connection")?;
        Ok(String::from_utf8_lossy(&self.seen[start..]).into_owned())
    }
}

/// A client that greets, runs PING and leaves: the server still serves.
pub async fn still_serves(terminal: &Terminal) -> anyhow::Result<()> {
    let mut client = terminal.client().await?;
    client.until("shop> ").await?;
    let answer = client.command("PING").await?;
    if !answer.contains("PONG") {
        bail!("a normal client got no PONG: {answer}");
    }
    Ok(())
}
