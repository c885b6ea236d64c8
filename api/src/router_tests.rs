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

/// A request from `peer` (as the listener would record it), with headers.
fn from(peer: &str, method: &str, uri: &str, headers: &[(&str, &str)]) -> Request<Body> {
    let mut builder = Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let mut request = builder.body(Body::empty()).expect("a request");
    request.extensions_mut().insert(crate::plane::Peer {
        addr: peer.parse().expect("a peer address"),
        tls: true,
    });
    request
}

const LAN: &str = "10.213.0.2:40000";
const HOST: &str = "127.0.0.1:40000";

#[tokio::test]
async fn loopback_only_operations_are_not_found_from_another_host_even_with_the_token() {
    let state = crate::state(&settings());
    let bearer = format!("Bearer {TOKEN}");
    for (method, route) in crate::plane::LOOPBACK_ONLY {
        let uri = route.replace("{id}", "1");
        let (status, body) = send(
            &state,
            from(LAN, method.as_str(), &uri, &[("authorization", &bearer)]),
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {uri}: {body}");
        assert!(body.contains("no-such-route"), "{body}");
        // Answered as a path that does not exist is, token or not.
        let (unknown, body) = send(
            &state,
            from(
                LAN,
                method.as_str(),
                "/no/such/path",
                &[("authorization", &bearer)],
            ),
        )
        .await;
        assert_eq!(unknown, StatusCode::NOT_FOUND, "{body}");
        assert!(body.contains("no-such-route"), "{body}");
    }
}

#[tokio::test]
async fn an_authorization_header_from_another_host_is_refused_without_comparing_it() {
    let state = crate::state(&settings());
    for token in [TOKEN, "wrong"] {
        let (status, body) = send(
            &state,
            from(
                LAN,
                "GET",
                "/healthz",
                &[("authorization", &format!("Bearer {token}"))],
            ),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert!(
            body.contains("urn:shopdotcom:problem:loopback-only"),
            "{body}"
        );
    }
}

#[tokio::test]
async fn the_loopback_plane_answers_on_loopback_and_public_routes_everywhere() {
    let state = crate::state(&settings());
    let (status, body) = send(&state, from(HOST, "GET", "/metrics", &[])).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("api_connections_total"), "{body}");
    let (status, _) = send(&state, from(HOST, "DELETE", "/api/products/1", &[])).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "admin routes answer, asking for the token"
    );
    let (status, _) = send(&state, from(LAN, "GET", "/healthz", &[])).await;
    assert_eq!(status, StatusCode::OK);
    // A request no listener handed over (no peer) is from afar.
    let request = Request::builder()
        .uri("/metrics")
        .body(Body::empty())
        .expect("a request");
    assert_eq!(send(&state, request).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_document_marks_exactly_the_loopback_only_operations() {
    let state = crate::state(&settings());
    let (status, body) = send(&state, from(LAN, "GET", "/openapi.json", &[])).await;
    assert_eq!(status, StatusCode::OK);
    let doc: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    let mut marked = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("an item") {
            if op["x-loopback-only"] == true {
                marked.push((method.to_ascii_uppercase(), path.clone()));
            }
        }
    }
    marked.sort();
    let mut expected: Vec<(String, String)> = crate::plane::LOOPBACK_ONLY
        .iter()
        .map(|(m, p)| (m.as_str().to_owned(), (*p).to_owned()))
        .collect();
    expected.sort();
    assert_eq!(marked, expected);
}

#[test]
fn the_document_states_every_limit_of_the_contract() {
    let doc = crate::openapi::document(crate::documented_routes()).expect("every target found");
    let schemas = &doc["components"]["schemas"];
    assert_eq!(
        schemas["NewProduct"]["properties"]["price_cents"]["maximum"],
        crate::contract::MAX_PRICE_CENTS
    );
    assert_eq!(
        schemas["NewOrder"]["properties"]["items"]["maxItems"],
        crate::contract::MAX_ITEMS
    );
    assert_eq!(schemas["NewOrder"]["additionalProperties"], false);
    assert_eq!(
        schemas["OrderStatus"]["enum"],
        serde_json::json!(crate::routes::orders::OrderStatus::NAMES)
    );
    let list = &doc["paths"]["/api/products"]["get"];
    let paging = list["parameters"]
        .as_array()
        .and_then(|p| p.iter().find(|p| p["name"] == "paging"))
        .expect("the paging parameter");
    assert_eq!(
        paging["schema"]["not"]["required"],
        serde_json::json!(["cursor", "offset"])
    );
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("an item") {
            for status in ["403", "503"] {
                assert!(
                    op["responses"].get(status).is_some(),
                    "{method} {path}: {status}"
                );
            }
        }
    }
}

/// Text the patterns are tried on: edges of every rule.
const SAMPLES: &[&str] = &[
    "",
    " ",
    "a",
    "AB",
    "A-",
    "-A",
    "ab",
    "A B",
    "AUD-001",
    "x@y.z",
    "a@b",
    "@b.c",
    "a@.b",
    "a@b.",
    "a@@b.c",
    "a b@c.d",
    "\u{3000}",
    "caf\u{e9}",
    "\u{1F3A7}",
    "tab\tin",
    "\u{85}",
    "\u{a0}x",
    "x\u{2028}",
    "~!",
    "42",
    "0",
    "-1",
    "1234567890123456789",
    "x\u{7f}",
];

/// A handler's own check of one kind of text.
type Check = Box<dyn Fn(&str) -> bool>;

#[test]
fn every_published_pattern_agrees_with_the_check_that_enforces_it() {
    use crate::contract::*;
    let long = "Y".repeat(300);
    let mut samples: Vec<String> = SAMPLES.iter().map(|s| s.to_string()).collect();
    samples.push(long.clone());
    samples.push(format!("a@{long}.com"));
    let rules: Vec<(String, Check)> = vec![
        (SKU_PATTERN.to_owned(), Box::new(sku_ok)),
        (
            text_pattern(),
            Box::new(|t: &str| {
                t.chars().all(|c| !c.is_control()) && t.chars().any(|c| !c.is_whitespace())
            }),
        ),
        (email_pattern(), Box::new(email_ok)),
        (
            IDEMPOTENCY_KEY_PATTERN.to_owned(),
            Box::new(idempotency_key_ok),
        ),
        (
            CURSOR_PATTERN.to_owned(),
            Box::new(|t: &str| cursor(t).is_some()),
        ),
    ];
    for (pattern, check) in rules {
        let regex = regex::Regex::new(&pattern).unwrap_or_else(|e| panic!("{pattern}: {e}"));
        for sample in &samples {
            let by_length = pattern != email_pattern() || sample.chars().count() <= MAX_EMAIL;
            assert_eq!(
                regex.is_match(sample) && by_length,
                check(sample),
                "{pattern} vs the check on {sample:?}"
            );
        }
    }
}
