//! Liveness, readiness and metrics: `/healthz` answers while the process
//! runs; `/readyz` only when the database answers and the schema is ready;
//! `/metrics` is the Prometheus text exposition.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::db::SchemaState;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
}

/// The answer of `/healthz` and `/readyz`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// `ok`, `ready` or `not-ready`.
    pub status: String,
    /// What stands in the way, when not ready.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The process is alive.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, body = Health)))]
async fn healthz() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        reason: None,
    })
}

/// The API can serve: the database answers and the schema is in place.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses((status = 200, body = Health), (status = 503, description = "Not ready; `reason` says why", body = Health)))]
async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    let not_ready = |reason: String| {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(Health {
                status: "not-ready".into(),
                reason: Some(reason),
            }),
        )
    };
    if let Err(err) = state.db.ping().await {
        return not_ready(format!("database unreachable: {err}"));
    }
    match state.db.schema_state() {
        SchemaState::Ready => (
            StatusCode::OK,
            Json(Health {
                status: "ready".into(),
                reason: None,
            }),
        ),
        SchemaState::Pending(reason) => not_ready(format!(
            "schema not ready: {}",
            reason.unwrap_or_else(|| "migrations are running".into())
        )),
    }
}

/// Request counts, latency histograms and pool use (Prometheus text format).
#[utoipa::path(get, path = "/metrics", tag = "health",
    responses((status = 200, description = "Prometheus text exposition", body = String, content_type = "text/plain")))]
async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let (in_use, idle) = state.db.pool_usage();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(in_use, idle),
    )
}
