//! One port, two ways in. The first byte of every accepted connection says
//! how it speaks: `0x16` opens a TLS handshake record, so the connection is
//! TLS (rustls) whoever sends it; anything else is plain HTTP, served only
//! when the peer is on this host (loopback) or in a network the operator
//! listed. A LAN client that speaks plain HTTP gets one clear answer (400,
//! "use https://HOST:PORT") and is closed, so neither its token nor anyone's
//! data crosses the LAN in clear text.
//!
//! Slow and idle clients cannot hold the server: the first byte must come
//! within the header timeout, a TLS handshake must finish within its own,
//! and hyper closes a connection whose request head (or next request on a
//! kept-alive connection) takes longer than the header timeout. Clients on
//! this host and clients from elsewhere have separate connection caps, so a
//! crowd on the LAN never takes the slots of the gateway, the terminal or
//! the health check; over its cap a connection is closed at once.
//!
//! The peer address and whether the connection is TLS go into each
//! request's extensions ([`Peer`]) for the plane guard.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tower::ServiceExt as _;

use crate::metrics::{Connections, Outcome};
use crate::plane::{Network, Peer};

/// The first byte of a TLS connection: a handshake record (RFC 8446 5.1).
const TLS_HANDSHAKE: u8 = 0x16;

/// How the listener treats connections.
#[derive(Debug, Clone)]
pub struct Options {
    /// The certificate and key LAN clients are served with; without it
    /// only plain HTTP on loopback (and `plaintext_from`) is served.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// How long a client may take to send its first byte, and each request
    /// head (also the idle time allowed between kept-alive requests).
    pub header_timeout: Duration,
    /// How long a TLS handshake may take.
    pub handshake_timeout: Duration,
    /// Most connections at once from this host.
    pub max_local_connections: usize,
    /// Most connections at once from other hosts.
    pub max_remote_connections: usize,
    /// Networks beyond loopback whose clients may speak plain HTTP (e.g. a
    /// bridge network in front of a containerised copy); empty by default.
    /// They are still other hosts to the plane guard.
    pub plaintext_from: Vec<Network>,
}

/// The shared parts of every connection task.
struct Shared {
    router: Router,
    options: Options,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    http: hyper::server::conn::http1::Builder,
    connections: Arc<Connections>,
    stop: watch::Receiver<bool>,
}

/// Accepts connections on `listener` and serves `router` on them until
/// `shutdown` completes; then stops accepting, asks every open connection
/// to finish its request in flight and close, and returns once all have
/// (the caller bounds that wait).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    options: Options,
    connections: Arc<Connections>,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(options.header_timeout)
        .keep_alive(true);
    let (stop_tx, stop) = watch::channel(false);
    let local = Arc::new(Semaphore::new(options.max_local_connections));
    let remote = Arc::new(Semaphore::new(options.max_remote_connections));
    let shared = Arc::new(Shared {
        router,
        acceptor: options.tls.clone().map(tokio_rustls::TlsAcceptor::from),
        options,
        http,
        connections,
        stop,
    });
    let mut backoff = Duration::from_millis(10);
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, addr) = match accepted {
            Ok(accepted) => {
                backoff = Duration::from_millis(10);
                accepted
            }
            Err(err) => {
                // Out of file descriptors and the like: wait, then go on.
                tracing::warn!(error = %err, ?backoff, "accept failed");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        let local_peer = crate::plane::is_loopback(addr.ip());
        let slots = if local_peer { &local } else { &remote };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            shared.connections.count(local_peer, Outcome::OverCap);
            tracing::debug!(peer = %addr, "connection closed: over the cap");
            drop(stream);
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let outcome = connection(&shared, stream, addr, local_peer).await;
            shared.connections.count(local_peer, outcome);
            tracing::debug!(peer = %addr, ?outcome, "connection closed");
            drop(slot);
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    // Every connection holds a slot until it ends: all slots back, all ended.
    let _ = local
        .acquire_many(shared.options.max_local_connections as u32)
        .await;
    let _ = remote
        .acquire_many(shared.options.max_remote_connections as u32)
        .await;
    Ok(())
}

/// Serves one connection to its end; how it ended.
async fn connection(shared: &Shared, stream: TcpStream, addr: SocketAddr, local: bool) -> Outcome {
    let mut stop = shared.stop.clone();
    let _ = stream.set_nodelay(true);
    let before_http = async {
        let mut first = [0u8; 1];
        match tokio::time::timeout(shared.options.header_timeout, stream.peek(&mut first)).await {
            Err(_) => Err(Outcome::SilentTimeout),
            Ok(Err(_) | Ok(0)) => Err(Outcome::Closed),
            Ok(Ok(_)) => Ok(first[0]),
        }
    };
    let first = tokio::select! {
        first = before_http => first,
        _ = stop.changed() => return Outcome::Closed,
    };
    let first = match first {
        Ok(first) => first,
        Err(outcome) => return outcome,
    };
    if first == TLS_HANDSHAKE {
        let Some(acceptor) = &shared.acceptor else {
            // Nothing to answer a handshake with: closing is the clearest
            // thing a TLS client understands here.
            return Outcome::NoTls;
        };
        let handshake =
            tokio::time::timeout(shared.options.handshake_timeout, acceptor.accept(stream));
        let tls = tokio::select! {
            tls = handshake => tls,
            _ = stop.changed() => return Outcome::Closed,
        };
        return match tls {
            Err(_) => Outcome::HandshakeTimeout,
            Ok(Err(err)) => {
                tracing::debug!(peer = %addr, error = %err, "TLS handshake failed");
                Outcome::HandshakeFailed
            }
            Ok(Ok(tls)) => http(shared, tls, Peer { addr, tls: true }, stop).await,
        };
    }
    let allowed = local
        || shared
            .options
            .plaintext_from
            .iter()
            .any(|net| net.contains(addr.ip()));
    if allowed {
        return http(shared, stream, Peer { addr, tls: false }, stop).await;
    }
    refuse_plaintext(stream, shared.acceptor.is_some()).await;
    Outcome::PlaintextRefused
}

/// Serves HTTP/1.1 on `io` until the client closes, a timeout closes it,
/// or the server stops (then the request in flight finishes first).
async fn http<I>(shared: &Shared, io: I, peer: Peer, mut stop: watch::Receiver<bool>) -> Outcome
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let router = shared.router.clone();
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(peer);
        router.clone().oneshot(request)
    });
    let conn = shared.http.serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    let result = tokio::select! {
        result = conn.as_mut() => result,
        _ = stop.changed() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    match result {
        Ok(()) => Outcome::Served,
        Err(err) if err.is_timeout() => Outcome::HeaderTimeout,
        Err(err) => {
            tracing::debug!(peer = %peer.addr, error = %err, "connection error");
            Outcome::Broken
        }
    }
}

/// Answers a plain-HTTP client from another host with a 400 that says where
/// to go instead, then closes. The request is read first (a little, for a
/// short while), so that closing does not reset the answer away.
async fn refuse_plaintext(mut stream: TcpStream, tls: bool) {
    let here = stream.local_addr().ok();
    let url = match here {
        Some(SocketAddr::V6(a)) => format!("https://[{}]:{}", a.ip(), a.port()),
        Some(a) => format!("https://{a}"),
        None => "https://HOST:PORT".to_owned(),
    };
    let detail = if tls {
        format!(
            "plain HTTP is served only to clients on this host; from the network use TLS: {url}"
        )
    } else {
        "plain HTTP is served only to clients on this host, and this server has no TLS certificate configured for the network".to_owned()
    };
    let body = serde_json::json!({
        "type": "urn:shopdotcom:problem:https-required",
        "title": "Bad Request",
        "status": 400,
        "detail": detail,
    })
    .to_string();
    let answer = format!(
        "HTTP/1.1 400 Bad Request\r\ncontent-type: application/problem+json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut request = [0u8; 8192];
    let _ = tokio::time::timeout(Duration::from_millis(500), stream.read(&mut request)).await;
    let exchange = async {
        stream.write_all(answer.as_bytes()).await?;
        stream.shutdown().await?;
        // Drain what the client still sends until it closes, briefly.
        while stream.read(&mut request).await? > 0 {}
        Ok::<_, io::Error>(())
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), exchange).await;
}
