//! The listener over real sockets on loopback, without a database: one
//! port speaks TLS and plain HTTP, and slow or silent clients are closed by
//! the timeouts, connections over the cap at once. (What a client on
//! another host sees is tested from a LAN namespace by integration-tests
//! and `stackctl verify`: these tests may not leave loopback.)

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::config::Settings;

/// A served API with a fresh certificate and 1-second timeouts; its
/// address, the certificate's pin, and the handle that stops it.
async fn serve(max_local: usize) -> (SocketAddr, String, crate::Background) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pem = stackctl::secrets::tls_pair(&["localhost".into(), "127.0.0.1".into()]).unwrap();
    let path = dir.path().join("tls.pem");
    std::fs::write(&path, &pem).unwrap();
    let pin = stackctl::secrets::certificate_fingerprint(pem.as_bytes()).unwrap();
    let mut settings = Settings::local(addr, "mysql://nobody@127.0.0.1:1/none", None).unwrap();
    settings.seed = false;
    settings.listener.tls = Some(crate::tls::server_config(&path).unwrap());
    settings.listener.header_timeout = Duration::from_secs(1);
    settings.listener.handshake_timeout = Duration::from_secs(1);
    settings.listener.max_local_connections = max_local;
    (
        addr,
        pin,
        crate::Background::start_with(listener, settings).unwrap(),
    )
}

/// Blocking request through the workspace's one small client.
async fn get(addr: SocketAddr, pin: Option<String>) -> Result<u16, String> {
    tokio::task::spawn_blocking(move || {
        let req = servicekit::probe::Request {
            pinned_tls: pin.as_deref(),
            ..servicekit::probe::Request::get("/healthz")
        };
        servicekit::probe::request(&req, addr, Duration::from_secs(5)).map(|a| a.status)
    })
    .await
    .unwrap()
}

/// Reads until the server closes; how long that took (bounded at 10 s).
async fn closed_after(stream: &mut TcpStream) -> Duration {
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    let _ = tokio::time::timeout(Duration::from_secs(10), async {
        while matches!(stream.read(&mut buf).await, Ok(n) if n > 0) {}
    })
    .await;
    started.elapsed()
}

#[tokio::test]
async fn tls_and_plain_http_share_one_port_on_loopback() {
    let (addr, pin, server) = serve(16).await;
    assert_eq!(get(addr, None).await, Ok(200), "plain HTTP from this host");
    assert_eq!(
        get(addr, Some(pin)).await,
        Ok(200),
        "TLS, certificate pinned"
    );
    let wrong = vec!["00"; 32].join(":");
    let err = get(addr, Some(wrong)).await.unwrap_err();
    assert!(err.contains("not the pinned"), "{err}");
    server.stop().await;
}

#[tokio::test]
async fn silent_slow_and_stalled_clients_are_closed_by_the_timeouts() {
    let (addr, _, server) = serve(16).await;
    // Says nothing at all.
    let mut silent = TcpStream::connect(addr).await.unwrap();
    // Sends a request head one byte at a time, never finishing it.
    let mut slow = TcpStream::connect(addr).await.unwrap();
    // Opens a TLS handshake record and stalls.
    let mut stalled = TcpStream::connect(addr).await.unwrap();
    stalled.write_all(&[0x16, 0x03, 0x01]).await.unwrap();
    let trickle = tokio::spawn(async move {
        for byte in b"GET /healthz HTTP/1.1\r\nHost: x\r\n" {
            if slow.write_all(&[*byte]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        slow
    });
    for (what, stream) in [("silent", &mut silent), ("stalled TLS", &mut stalled)] {
        let waited = closed_after(stream).await;
        assert!(
            waited < Duration::from_secs(8),
            "{what}: still open after {waited:?}"
        );
    }
    let mut slow = trickle.await.unwrap();
    let waited = closed_after(&mut slow).await;
    assert!(waited < Duration::from_secs(8), "slow head: still open");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let text = tokio::task::spawn_blocking(move || {
        servicekit::probe::get(addr, "/metrics", Duration::from_secs(5)).map(|a| a.body)
    })
    .await
    .unwrap()
    .unwrap();
    for outcome in ["silent-timeout", "header-timeout", "handshake-timeout"] {
        assert!(
            text.contains(&format!("side=\"loopback\",outcome=\"{outcome}\"}} 1")),
            "{outcome}: {text}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn a_connection_over_the_cap_is_closed_at_once() {
    let (addr, _, server) = serve(2).await;
    let _held: Vec<TcpStream> = vec![
        TcpStream::connect(addr).await.unwrap(),
        TcpStream::connect(addr).await.unwrap(),
    ];
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut third = TcpStream::connect(addr).await.unwrap();
    let waited = closed_after(&mut third).await;
    assert!(
        waited < Duration::from_millis(900),
        "closed by the cap, not a timeout: {waited:?}"
    );
    server.stop().await;
}
