//! The router driven without a socket or a database (`tower`'s `oneshot`):
//! what the API answers before any query runs. The database pool points at
//! a port nobody listens on and never connects.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use tower::ServiceExt as _;

use crate::config::Settings;

/// The admin token of these tests' state.
const TOKEN: &str = "router-test-token-0123456789";

fn settings() -> Settings {
    let mut settings = Settings::local(
        "127.0.0.1:0".parse().expect("an address"),
        "mysql://nobody@127.0.0.1:1/none",
        Some(TOKEN),
    )
    .expect("settings");
    settings.seed = false;
    settings
}

/// One request through a fresh router on `state`; the status and body.
async fn send(state: &crate::state::AppState, request: Request<Body>) -> (StatusCode, String) {
    let response = crate::app(state.clone())
        .oneshot(request)
        .await
        .expect("the router is infallible");
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("a body");
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn unknown_methods_share_one_metrics_label() {
    let state = crate::state(&settings());
    for i in 0..100 {
        let request = Request::builder()
            .method(format!("FOO{i}").as_str())
            .uri("/healthz")
            .body(Body::empty())
            .expect("a request");
        send(&state, request).await;
    }
    let text = state.metrics.render(0, 0);
    let methods: std::collections::BTreeSet<&str> = text
        .split("method=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .collect();
    assert!(!methods.iter().any(|m| m.starts_with("FOO")), "{methods:?}");
    assert!(methods.contains("other"), "{methods:?}");
}
