//! The OpenAPI document, generated from the handlers' annotations as the
//! router is built, so the document and the served routes cannot drift.

use std::sync::OnceLock;

use axum::http::header;
use axum::response::IntoResponse;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "ShopDotCom API", description = "Catalog and orders of the ShopDotCom demo shop. Errors are application/problem+json (RFC 9457)."),
    components(schemas(crate::error::Problem, crate::error::FieldError, crate::error::Shortage)),
    modifiers(&AdminToken),
    tags(
        (name = "products", description = "The catalog"),
        (name = "orders", description = "Placing and reading orders"),
        (name = "health", description = "Liveness, readiness, metrics"),
    )
)]
struct ApiDoc;

/// The admin bearer token, named `admin` by the routes that need it.
struct AdminToken;

impl Modify for AdminToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "admin",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

static DOCUMENT: OnceLock<String> = OnceLock::new();

/// The documented router of every resource, and the document itself.
pub(crate) fn router(routes: OpenApiRouter<AppState>) -> axum::Router<AppState> {
    let (router, api) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(routes)
        .routes(routes!(openapi_json))
        .split_for_parts();
    DOCUMENT.get_or_init(|| {
        let mut doc = serde_json::to_value(&api).unwrap_or_default();
        mark_loopback_only(&mut doc);
        serde_json::to_string_pretty(&doc).unwrap_or_default()
    });
    router
}

/// Marks the operations of [`crate::plane::LOOPBACK_ONLY`] with
/// `x-loopback-only: true` and says so in their descriptions, so the
/// document and the plane guard come from one list.
fn mark_loopback_only(doc: &mut serde_json::Value) {
    for (method, route) in crate::plane::LOOPBACK_ONLY {
        let method = method.as_str().to_ascii_lowercase();
        let Some(op) = doc["paths"][route].get_mut(&method) else {
            continue;
        };
        op["x-loopback-only"] = serde_json::Value::Bool(true);
        let description = op["description"].as_str().unwrap_or_default().to_owned();
        op["description"] = serde_json::Value::String(format!(
            "{description}\n\nLoopback only: answers clients on the API's own host; from the network it is a 404."
        ).trim_start().to_owned().into());
    }
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "health",
    responses((status = 200, description = "The OpenAPI 3.1 document", body = Object)))]
async fn openapi_json() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        DOCUMENT.get().cloned().unwrap_or_default(),
    )
}
