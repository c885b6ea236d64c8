//! Bad input of every kind gets a 4xx problem body and leaves the database
//! unchanged: no order for the customer, the stock as it was.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::fixture::{Client, Shared, expect_problem, orders_of, unique};

testkit::tests!(Shared;
    malformed_json_is_a_bad_request,
    wrong_types_are_unprocessable,
    zero_negative_and_huge_quantities_are_refused,
    an_empty_or_overlong_order_is_refused,
    an_invalid_email_is_refused,
    an_oversized_body_is_too_large,
    a_body_that_is_not_json_is_an_unsupported_media_type,
    unknown_routes_and_methods_get_problem_bodies,
);

/// A product and a customer of the test's own, to check nothing changed.
struct Probe {
    client: Client,
    product: u64,
    email: String,
}

impl Probe {
    async fn new(shared: &Shared) -> anyhow::Result<Probe> {
        let client = shared.client();
        let product = client.new_product("bad-input", 700, 9).await?["id"]
            .as_u64()
            .unwrap();
        Ok(Probe {
            client,
            product,
            email: format!("{}@example.com", unique("bad").to_lowercase()),
        })
    }

    /// Sends a raw body with a content type, under a fresh key.
    async fn send(
        &self,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> anyhow::Result<reqwest::Response> {
        Ok(self
            .client
            .http
            .post(self.client.url("/api/orders"))
            .header("idempotency-key", unique("key"))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await?)
    }

    async fn send_json(&self, body: &Value) -> anyhow::Result<reqwest::Response> {
        self.send("application/json", body.to_string()).await
    }

    async fn assert_unchanged(&self, shared: &Shared) -> anyhow::Result<()> {
        assert_eq!(
            self.client.stock(self.product).await?,
            9,
            "the stock changed"
        );
        assert_eq!(
            orders_of(shared, &self.email).await?,
            0,
            "an order was written"
        );
        Ok(())
    }
}

async fn malformed_json_is_a_bad_request(shared: Arc<Shared>) -> anyhow::Result<()> {
    let probe = Probe::new(&shared).await?;
    for body in [
        "{",
        "{\"customer_email\": }",
        "not json at all",
        "{\"items\": [",
    ] {
        expect_problem(
            probe.send("application/json", body).await?,
            400,
            "bad-request",
        )
        .await?;
    }
    probe.assert_unchanged(&shared).await
}

async fn wrong_types_are_unprocessable(shared: Arc<Shared>) -> anyhow::Result<()> {
    let probe = Probe::new(&shared).await?;
    for body in [
        json!({"customer_email": probe.email, "items": [{"product_id": probe.product, "quantity": "two"}]}),
        json!({"customer_email": probe.email, "items": [{"product_id": "first", "quantity": 1}]}),
        json!({"customer_email": 42, "items": [{"product_id": probe.product, "quantity": 1}]}),
        json!({"customer_email": probe.email, "items": {"product_id": probe.product}}),
        json!({"customer_email": probe.email}),
        json!({"customer_email": probe.email, "items": [{"product_id": probe.product, "quantity": 1, "discount": 100}]}),
        json!([]),
    ] {
        let problem =
            expect_problem(probe.send_json(&body).await?, 422, "validation-failed").await?;
        assert!(
            problem["errors"].as_array().is_some_and(|e| !e.is_empty()),
            "{problem}"
        );
    }
    probe.assert_unchanged(&shared).await
}

async fn zero_negative_and_huge_quantities_are_refused(shared: Arc<Shared>) -> anyhow::Result<()> {
    let probe = Probe::new(&shared).await?;
    for quantity in [
        json!(0),
        json!(-1),
        json!(1001),
        json!(4_294_967_296u64),
        json!(1e30),
        json!(1.5),
    ] {
        let body = json!({"customer_email": probe.email, "items": [{"product_id": probe.product, "quantity": quantity}]});
        expect_problem(probe.send_json(&body).await?, 422, "validation-failed").await?;
    }
    probe.assert_unchanged(&shared).await
}

async fn an_empty_or_overlong_order_is_refused(shared: Arc<Shared>) -> anyhow::Result<()> {
    let probe = Probe::new(&shared).await?;
    let empty = json!({"customer_email": probe.email, "items": []});
    expect_problem(probe.send_json(&empty).await?, 422, "validation-failed").await?;
    let too_many: Vec<Value> = (1..=51)
        .map(|id| json!({"product_id": id, "quantity": 1}))
        .collect();
    let long = json!({"customer_email": probe.email, "items": too_many});
    expect_problem(probe.send_json(&long).await?, 422, "validation-failed").await?;
    probe.assert_unchanged(&shared).await
}

async fn an_invalid_email_is_refused(shared: Arc<Shared>) -> anyhow::Result<()> {
    let probe = Probe::new(&shared).await?;
    for email in [
        "",
        "no-at-sign",
        "two@@example.com",
        "@example.com",
        "a@localhost",
        "a b@example.com",
        " padded@example.com",
    ] {
        let body = json!({"customer_email": email, "items": [{"product_id": probe.product, "quantity": 1}]});
        let problem =
            expect_problem(probe.send_json(&body).await?, 422, "validation-failed").await?;
        assert_eq!(problem["errors"][0]["field"], "customer_email", "{email}");
    }
    probe.assert_unchanged(&shared).await
}

async fn an_oversized_body_is_too_large(shared: Arc<Shared>) -> anyhow::Result<()> {
    let probe = Probe::new(&shared).await?;
    let padding = "x".repeat(api::BODY_LIMIT + 1);
    let body = format!(
        "{{\"customer_email\": \"{}\", \"items\": [{{\"product_id\": {}, \"quantity\": 1}}], \"pad\": \"{padding}\"}}",
        probe.email, probe.product
    );
    expect_problem(
        probe.send("application/json", body).await?,
        413,
        "payload-too-large",
    )
    .await?;
    probe.assert_unchanged(&shared).await
}

async fn a_body_that_is_not_json_is_an_unsupported_media_type(
    shared: Arc<Shared>,
) -> anyhow::Result<()> {
    let probe = Probe::new(&shared).await?;
    let body = json!({"customer_email": probe.email, "items": [{"product_id": probe.product, "quantity": 1}]}).to_string();
    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "application/xml",
    ] {
        expect_problem(
            probe.send(content_type, body.clone()).await?,
            415,
            "unsupported-media-type",
        )
        .await?;
    }
    probe.assert_unchanged(&shared).await
}

async fn unknown_routes_and_methods_get_problem_bodies(shared: Arc<Shared>) -> anyhow::Result<()> {
    let client = shared.client();
    expect_problem(client.get("/api/nothing-here").await?, 404, "no-such-route").await?;
    let put = client.http.put(client.url("/api/orders")).send().await?;
    expect_problem(put, 405, "method-not-allowed").await?;
    let delete = client.http.delete(client.url("/healthz")).send().await?;
    expect_problem(delete, 405, "method-not-allowed").await?;
    Ok(())
}
