//! Logs, request ids, metrics and the request time limit, as middleware:
//! every request gets an `x-request-id` (kept if the client sent one), is
//! counted and timed under its route template, is abandoned with a 503 when
//! it runs past the limit, and a failed one is logged with its full cause.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::{ApiError, ErrorCause};
use crate::state::AppState;

/// Times, limits, counts and logs one request.
pub async fn observe(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_owned();
    let limit = state.request_timeout;

    let response = match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::Timeout.into_response(),
    };
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    state.metrics.record(&method, &route, status, elapsed);
    let method = method.as_str();

    match response.extensions().get::<ErrorCause>() {
        Some(ErrorCause(cause)) => {
            tracing::error!(
                request_id,
                method,
                route,
                status,
                ?elapsed,
                cause,
                "request failed"
            );
        }
        None if status >= 500 => tracing::warn!(
            request_id,
            method,
            route,
            status,
            ?elapsed,
            "request failed"
        ),
        None => tracing::debug!(request_id, method, route, status, ?elapsed, "request"),
    }
    response
}
