//! The OpenAPI document and the router agree: every documented operation
//! answers (no "no such route", no 405), and the document lists exactly the
//! routes the API serves. (Both are built from the same `routes!` calls; this
//! checks that nothing is served beside them.)

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::fixture::Shared;

testkit::tests!(Shared;
    the_document_lists_exactly_the_served_routes,
    every_documented_operation_answers
);

/// Every route the API serves, by method and path template.
const SERVED: &[(&str, &str)] = &[
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
    ("get", "/openapi.json"),
    ("get", "/api/products"),
    ("post", "/api/products"),
    ("get", "/api/products/{id}"),
    ("patch", "/api/products/{id}"),
    ("delete", "/api/products/{id}"),
    ("get", "/api/products/sku/{sku}"),
    ("get", "/api/orders"),
    ("post", "/api/orders"),
    ("get", "/api/orders/{id}"),
];

async fn documented(shared: &Shared) -> anyhow::Result<BTreeSet<(String, String)>> {
    let doc = shared.client().get_json("/openapi.json", 200).await?;
    let mut operations = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for method in item.as_object().into_iter().flatten().map(|(m, _)| m) {
            if ["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                operations.insert((method.clone(), path.clone()));
            }
        }
    }
    Ok(operations)
}

async fn the_document_lists_exactly_the_served_routes(shared: Arc<Shared>) -> anyhow::Result<()> {
    let doc = shared.client().get_json("/openapi.json", 200).await?;
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")));
    assert!(doc["components"]["schemas"]["Problem"].is_object());
    assert!(doc["components"]["securitySchemes"]["admin"].is_object());
    let expected: BTreeSet<(String, String)> = SERVED
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(documented(&shared).await?, expected);
    Ok(())
}

async fn every_documented_operation_answers(shared: Arc<Shared>) -> anyhow::Result<()> {
    let client = shared.client();
    for (method, path) in documented(&shared).await? {
        let url = client.url(&path.replace("{id}", "1").replace("{sku}", "AUD-001"));
        let request = match method.as_str() {
            "get" => client.http.get(&url),
            "post" => client.http.post(&url),
            "patch" => client.http.patch(&url),
            "delete" => client.http.delete(&url),
            other => anyhow::bail!("unexpected method {other}"),
        };
        let response = request.send().await?;
        let status = response.status().as_u16();
        let body = response.text().await?;
        assert_ne!(status, 405, "{method} {path}: {body}");
        assert!(
            !body.contains("no-such-route"),
            "{method} {path} is documented but not served: {body}"
        );
    }
    Ok(())
}
