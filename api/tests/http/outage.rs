//! The database going away: the API starts without it and reports not
//! ready, a write during an outage fails cleanly with nothing partial, and
//! the API recovers by itself when the database is back. Each test has a
//! database of its own, since it stops it.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use stackctl::testbed;

use crate::fixture::{ADMIN_TOKEN, RunningApi, Shared, expect_json, expect_problem, unique};

testkit::tests!(Shared;
    the_api_starts_while_the_database_is_down_and_serves_once_it_is_up,
    an_outage_fails_writes_cleanly_and_the_api_recovers,
);

async fn the_api_starts_while_the_database_is_down_and_serves_once_it_is_up(
    _: Arc<Shared>,
) -> anyhow::Result<()> {
    let db = testbed::Database::start("late-db").await?;
    db.stop().await?;
    let api = RunningApi::start(&db.api_url(), Some(ADMIN_TOKEN)).await?;
    let client = api.client();

    let not_ready = client.get("/readyz").await?;
    assert_eq!(not_ready.status(), 503);
    let body: serde_json::Value = not_ready.json().await?;
    assert_eq!(body["status"], "not-ready");
    assert!(
        body["reason"]
            .as_str()
            .unwrap()
            .contains("database unreachable"),
        "{body}"
    );
    assert_eq!(
        client.get_json("/healthz", 200).await?["status"],
        "ok",
        "alive all the same"
    );
    let problem = expect_problem(
        client.get("/api/products").await?,
        503,
        "service-unavailable",
    )
    .await?;
    assert!(
        !problem["detail"]
            .as_str()
            .unwrap()
            .contains("Connection refused"),
        "no internals leak: {problem}"
    );

    db.start_again().await?;
    client.wait_ready(Duration::from_secs(60)).await?;
    let page = client.get_json("/api/products?limit=5", 200).await?;
    assert_eq!(
        page["items"].as_array().unwrap().len(),
        5,
        "migrated and seeded after the database came up"
    );
    api.stop().await;
    Ok(())
}

async fn an_outage_fails_writes_cleanly_and_the_api_recovers(_: Arc<Shared>) -> anyhow::Result<()> {
    let db = testbed::Database::start("outage").await?;
    let api = RunningApi::start(&db.api_url(), Some(ADMIN_TOKEN)).await?;
    let client = api.client();
    client.wait_ready(Duration::from_secs(60)).await?;
    let product = client.new_product("outage", 1000, 10).await?;
    let id = product["id"].as_u64().unwrap();
    let email = format!("{}@example.com", unique("outage").to_lowercase());
    let body = json!({"customer_email": email, "items": [{"product_id": id, "quantity": 2}]});

    db.stop().await?;
    assert_eq!(client.get("/readyz").await?.status(), 503);
    let key = unique("key");
    expect_problem(client.order(&key, &body).await?, 503, "service-unavailable").await?;
    assert_eq!(client.get_json("/healthz", 200).await?["status"], "ok");

    db.start_again().await?;
    client.wait_ready(Duration::from_secs(60)).await?;
    assert_eq!(
        client.stock(id).await?,
        10,
        "nothing was taken during the outage"
    );
    let mut conn = mysql_async::Conn::new(mysql_async::Opts::from_url(&db.api_url())?).await?;
    let orders: Option<u64> = mysql_async::prelude::Queryable::exec_first(
        &mut conn,
        "SELECT COUNT(*) FROM orders WHERE customer_email = ?",
        (&email,),
    )
    .await?;
    assert_eq!(orders, Some(0), "no partial order was written");
    conn.disconnect().await?;

    // The client retries with the same key, as it should after a 503.
    let order = expect_json(client.order(&key, &body).await?, 201).await?;
    assert_eq!(order["total_cents"], 2000);
    assert_eq!(client.stock(id).await?, 8);
    api.stop().await;
    Ok(())
}
