//! The listener: one task per connection, at most `max_connections` at
//! once (the next client is told politely and closed), backoff when accept
//! fails, and a shutdown that tells every connected client before closing.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, broadcast};
use tokio::task::JoinSet;

use crate::Limits;
use crate::commands::Context;
use crate::session;

/// What a client over the limit is told.
pub const BUSY: &str = "The terminal is busy: too many connections. Try again in a minute.\r\n";

/// Serves sessions on `listener` until `shutdown` completes, then tells
/// every client and waits (a bounded time) for their sessions to end.
pub async fn run(
    listener: TcpListener,
    context: Context,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let context = Arc::new(context);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let (stop, _) = broadcast::channel::<()>(1);
    let mut sessions = JoinSet::new();
    let mut backoff = Duration::from_millis(10);
    tracing::info!(address = %listener.local_addr()?, api = context.api.base(), "warehouse terminal listening");
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
            // Reap finished sessions as they end, so the set stays small.
            Some(_) = sessions.join_next(), if !sessions.is_empty() => continue,
        };
        let (mut stream, peer) = match accepted {
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
        match slots.clone().try_acquire_owned() {
            Ok(slot) => {
                let (context, limits, stop) = (context.clone(), limits, stop.subscribe());
                sessions.spawn(async move {
                    let end = session::run(stream, context, limits, stop).await;
                    tracing::debug!(%peer, ?end, "session ended");
                    drop(slot);
                });
            }
            Err(_) => {
                tracing::warn!(%peer, limit = limits.max_connections, "connection refused: too many");
                sessions.spawn(async move {
                    let _ = tokio::time::timeout(
                        Duration::from_secs(2),
                        stream.write_all(BUSY.as_bytes()),
                    )
                    .await;
                    let _ = stream.shutdown().await;
                });
            }
        }
    }
    tracing::info!(
        sessions = sessions.len(),
        "shutting down: telling the connected clients"
    );
    let _ = stop.send(());
    let finished = tokio::time::timeout(Duration::from_secs(15), async {
        while sessions.join_next().await.is_some() {}
    })
    .await;
    if finished.is_err() {
        sessions.abort_all();
    }
    tracing::info!("stopped");
    Ok(())
}
