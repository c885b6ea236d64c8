//! The OpenAPI document, generated from the handlers' annotations as the
//! router is built, so the document and the served routes cannot drift;
//! then [`finish`] states the contract the annotations cannot: every limit
//! from [`crate::contract`]'s constants, the status codes every operation
//! can return besides its own (403 for an `Authorization` header from
//! another host, 404 for a loopback-only operation there, 500 and 503), the
//! loopback-only operations (`x-loopback-only`), `cursor` and `offset` as
//! alternatives, and the links schemathesis follows in its stateful phase
//! (a created product to reading, changing, deleting and ordering it; a
//! placed order to reading it back).

use std::sync::OnceLock;

use serde_json::{Value, json};

use axum::http::header;
use axum::response::IntoResponse;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::contract;
use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "ShopDotCom API", description = "Catalog and orders of the ShopDotCom demo shop. Errors are application/problem+json (RFC 9457). One port serves two planes: the public API to everyone (over TLS from the network, plain HTTP from the API's own host), and the operations marked `x-loopback-only` (administration, readiness, metrics) to the API's own host only; from the network they are a 404, and an `Authorization` header from the network is a 403 on every public operation."),
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
        if let Err(err) = finish(&mut doc) {
            tracing::error!(error = %err, "the OpenAPI document is incomplete");
        }
        serde_json::to_string_pretty(&doc).unwrap_or_default()
    });
    router
}

/// The document as the router serves it (for tests).
#[cfg(test)]
pub(crate) fn document(routes: OpenApiRouter<AppState>) -> Result<serde_json::Value, String> {
    let (_, api) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(routes)
        .routes(routes!(openapi_json))
        .split_for_parts();
    let mut doc = serde_json::to_value(&api).map_err(|e| e.to_string())?;
    finish(&mut doc)?;
    Ok(doc)
}

/// States what the annotations cannot (see the module documentation); a
/// target that is missing from the document is an error.
fn finish(doc: &mut Value) -> Result<(), String> {
    for (pointer, keywords) in contract::schemas() {
        let target = doc
            .pointer_mut(&pointer)
            .ok_or_else(|| format!("no {pointer} in the document"))?;
        merge(target, keywords);
    }
    for (method, path, name, schema) in contract::parameters() {
        let parameters = doc
            .pointer_mut(&format!("/paths/{}/{method}/parameters", escape(path)))
            .and_then(Value::as_array_mut)
            .ok_or_else(|| format!("{method} {path} has no parameters"))?;
        let parameter = parameters
            .iter_mut()
            .find(|p| p["name"] == name)
            .ok_or_else(|| format!("{method} {path} has no parameter {name}"))?;
        parameter["schema"] = schema;
    }
    alternatives(doc, "/api/products", &["limit", "cursor", "offset"])?;
    let paths = doc["paths"]
        .as_object_mut()
        .ok_or("the document has no paths")?;
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for (method, op) in item.iter_mut() {
            common_responses(method, path, op);
        }
    }
    mark_loopback_only(doc)?;
    links(doc)?;
    Ok(())
}

/// A path as one JSON-pointer token.
fn escape(path: &str) -> String {
    path.replace('~', "~0").replace('/', "~1")
}

/// Merges `keywords` into `target` (an object), keyword by keyword.
fn merge(target: &mut Value, keywords: Value) {
    match (target.as_object_mut(), keywords) {
        (Some(target), Value::Object(keywords)) => {
            for (key, value) in keywords {
                target.insert(key, value);
            }
        }
        (_, keywords) => *target = keywords,
    }
}

/// Turns the query parameters `names` of `GET path` into one object
/// parameter (form style, exploded: the same query string) whose schema
/// says that `cursor` and `offset` do not go together.
fn alternatives(doc: &mut Value, path: &str, names: &[&str]) -> Result<(), String> {
    let pointer = format!("/paths/{}/get/parameters", escape(path));
    let parameters = doc
        .pointer_mut(&pointer)
        .and_then(Value::as_array_mut)
        .ok_or_else(|| format!("GET {path} has no parameters"))?;
    let mut properties = serde_json::Map::new();
    for name in names {
        let at = parameters
            .iter()
            .position(|p| p["name"] == *name)
            .ok_or_else(|| format!("GET {path} has no parameter {name}"))?;
        let mut parameter = parameters.remove(at);
        let mut schema = parameter["schema"].take();
        if let Some(description) = parameter["description"].as_str() {
            schema["description"] = json!(description);
        }
        properties.insert((*name).to_owned(), schema);
    }
    parameters.insert(
        0,
        json!({
            "name": "paging",
            "in": "query",
            "style": "form",
            "explode": true,
            "required": false,
            "description": "Paging: `limit`, and either `cursor` (keyset paging: continue after the page that returned it as `next_cursor`) or `offset` (skip rows), not both.",
            "schema": {
                "type": "object",
                "properties": properties,
                "not": {"required": ["cursor", "offset"]},
            },
        }),
    );
    Ok(())
}

/// A problem+json response.
fn problem(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
    })
}

/// Adds the status codes an operation can return besides its own.
fn common_responses(method: &str, path: &str, op: &mut Value) {
    let has_body = op.get("requestBody").is_some();
    let secured = op.get("security").is_some();
    let responses = &mut op["responses"];
    let mut add = |status: &str, description: &str| {
        if responses.get(status).is_none() {
            responses[status] = problem(description);
        }
    };
    add(
        "403",
        "An `Authorization` header from another host (the admin token is accepted on the API's own host only), or no admin token configured",
    );
    add(
        "503",
        "The database is not available, or the request took longer than the API's limit",
    );
    if path != "/healthz" && path != "/openapi.json" && path != "/metrics" {
        add("500", "An internal error (the server's log has the cause)");
    }
    if path.contains('{') {
        add("400", "A path parameter that is not one");
        add("404", "No such resource");
    }
    if crate::plane::LOOPBACK_ONLY
        .iter()
        .any(|(m, p)| m.as_str().eq_ignore_ascii_case(method) && *p == path)
    {
        add(
            "404",
            "Asked from another host: this operation answers on the API's own host only",
        );
    }
    if has_body {
        add("400", "The body is not JSON");
        add("413", "The body is larger than the API accepts");
        add("415", "The body is not sent as `application/json`");
        add("422", "A field is invalid; `errors` names each");
    }
    if secured {
        add("401", "No admin token, or a wrong one");
    }
}

/// Marks the operations of [`crate::plane::LOOPBACK_ONLY`] with
/// `x-loopback-only: true` and says so in their descriptions, so the
/// document and the plane guard come from one list.
fn mark_loopback_only(doc: &mut Value) -> Result<(), String> {
    for (method, route) in crate::plane::LOOPBACK_ONLY {
        let method = method.as_str().to_ascii_lowercase();
        let op = doc["paths"][route]
            .get_mut(&method)
            .ok_or_else(|| format!("no {method} {route} to mark loopback-only"))?;
        op["x-loopback-only"] = Value::Bool(true);
        let description = op["description"].as_str().unwrap_or_default().to_owned();
        op["description"] = Value::String(
            format!(
                "{description}\n\nLoopback only: answers clients on the API's own host; from the network it is a 404."
            )
            .trim_start()
            .to_owned(),
        );
    }
    Ok(())
}

/// The links of the stateful phase.
fn links(doc: &mut Value) -> Result<(), String> {
    let id = json!({"id": "$response.body#/id"});
    let product_links = json!({
        "GetProduct": {"operationId": "get_product", "parameters": id},
        "UpdateProduct": {"operationId": "update_product", "parameters": id},
        "DeleteProduct": {"operationId": "delete_product", "parameters": id},
        "OrderProduct": {
            "operationId": "create_order",
            "requestBody": {
                "customer_email": "stateful@example.com",
                "items": [{"product_id": "$response.body#/id", "quantity": 1}],
            },
        },
    });
    let order_links = json!({
        "GetOrder": {"operationId": "get_order", "parameters": id},
    });
    for (path, method, status, links) in [
        ("/api/products", "post", "201", product_links),
        ("/api/orders", "post", "201", order_links.clone()),
        ("/api/orders", "post", "200", order_links),
    ] {
        let response = doc
            .pointer_mut(&format!(
                "/paths/{}/{method}/responses/{status}",
                escape(path)
            ))
            .ok_or_else(|| format!("no {status} answer of {method} {path} to link from"))?;
        response["links"] = links;
    }
    Ok(())
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
