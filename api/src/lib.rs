//! The ShopDotCom REST API: the catalog and orders on MariaDB, served by
//! axum on port 3000. [`app`] builds the whole router (tests drive it without
//! a socket); [`run`] serves it on a listener until a shutdown future fires.
//!
//! One port serves two planes ([`plane`]): the public API to everyone, over
//! TLS from the network and plain HTTP from this host ([`listener`]), and
//! the admin operations, readiness and metrics to this host only.

pub mod config;
pub mod contract;
pub mod db;
pub mod error;
mod extract;
pub mod listener;
pub mod metrics;
mod openapi;
mod pagination;
pub mod plane;
pub mod routes;
pub mod state;
pub mod telemetry;
pub mod tls;

#[cfg(test)]
mod listener_tests;
#[cfg(test)]
mod router_tests;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use utoipa_axum::router::OpenApiRouter;

use config::Settings;
use db::Database;
use metrics::Metrics;
use state::AppState;

/// The largest request body accepted (bytes); larger ones get a 413.
pub const BODY_LIMIT: usize = 64 * 1024;

/// The whole application: routes, fallbacks and middleware.
pub fn app(state: AppState) -> Router {
    openapi::router(documented_routes())
        .fallback(routes::not_found)
        .method_not_allowed_fallback(routes::method_not_allowed)
        .layer(axum::middleware::from_fn(plane::guard))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            telemetry::observe,
        ))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .with_state(state)
}

/// Every resource's documented routes.
fn documented_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(routes::health::router())
        .merge(routes::products::router())
        .merge(routes::orders::router())
}

/// The shared state for `settings`, with a database pool that has not
/// connected yet.
pub fn state(settings: &Settings) -> AppState {
    AppState {
        db: Database::new(settings.database.clone(), settings.pool_max),
        admin_token: settings.admin_token.clone().map(Arc::new),
        metrics: Arc::new(Metrics::default()),
        request_timeout: settings.request_timeout,
    }
}

/// Serves the API on `listener` until `shutdown` completes, then stops
/// accepting, gives in-flight requests `settings.shutdown_grace` to finish,
/// and closes the pool. The schema is prepared in the background, so this
/// starts even while the database is down.
pub async fn run(
    listener: tokio::net::TcpListener,
    settings: Settings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let state = state(&settings);
    let preparing = state.db.prepare_in_background(settings.seed);
    let db = state.db.clone();
    tracing::info!(address = %listener.local_addr()?, "ShopDotCom API listening");

    let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<()>();
    let connections = state.metrics.connections.clone();
    let server = listener::serve(
        listener,
        app(state),
        settings.listener.clone(),
        connections,
        async move {
            shutdown.await;
            tracing::info!("shutting down: no new connections, finishing requests in flight");
            let _ = stopping_tx.send(());
        },
    );
    let server = tokio::spawn(server);
    let grace = settings.shutdown_grace;
    tokio::select! {
        result = server => result??,
        () = async {
            let _ = stopping_rx.await;
            tokio::time::sleep(grace).await;
        } => tracing::warn!(?grace, "requests still running after the grace period were cut off"),
    }
    preparing.abort();
    db.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// The API serving in the background until stopped: for tests and
/// benchmarks, here and in the crates that are its clients.
pub struct Background {
    /// `http://ADDRESS`.
    pub url: String,
    shutdown: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Background {
    /// Serves on `listener` against `database_url`, seeding an empty
    /// database, with `admin_token` (or none) as the admin token.
    pub fn start(
        listener: tokio::net::TcpListener,
        database_url: &str,
        admin_token: Option<&str>,
    ) -> anyhow::Result<Background> {
        let settings = Settings::local(listener.local_addr()?, database_url, admin_token)?;
        Background::start_with(listener, settings)
    }

    /// Serves on `listener` with `settings` (e.g. with TLS).
    pub fn start_with(
        listener: tokio::net::TcpListener,
        settings: Settings,
    ) -> anyhow::Result<Background> {
        let url = format!("http://{}", settings.bind);
        let (shutdown, stop) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(run(listener, settings, async {
            let _ = stop.await;
        }));
        Ok(Background {
            url,
            shutdown,
            task,
        })
    }

    /// Stops it and waits (a bounded time) for it to finish.
    pub async fn stop(self) {
        let _ = self.shutdown.send(());
        let _ = tokio::time::timeout(std::time::Duration::from_secs(15), self.task).await;
    }
}
