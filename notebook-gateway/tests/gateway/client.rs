//! The client against the real API: every page of products and orders, and
//! retries with a clear error when the API is not there.

use std::time::Duration;

use notebook_gateway::client::{ApiClient, ClientError};

use crate::fixture::{Fixture, Shared};

testkit::tests!(Shared;
    the_client_fetches_every_product_and_order_across_pages,
    orders_need_the_admin_token,
    an_unreachable_api_is_retried_then_named_in_the_error,
    the_status_says_ready_when_the_api_is,
);

async fn the_client_fetches_every_product_and_order_across_pages(
    shared: Fixture,
) -> anyhow::Result<()> {
    let client = shared.client();
    let products = client.products().await?;
    let orders = client.orders().await?;
    assert_eq!(
        products.len() as i64,
        shared
            .sql_number("SELECT COUNT(*) FROM products WHERE deleted_at IS NULL")
            .await?
    );
    assert_eq!(
        orders.len() as i64,
        shared.sql_number("SELECT COUNT(*) FROM orders").await?
    );
    assert!(
        orders.len() > 100,
        "the seed's orders span several pages of 100: {}",
        orders.len()
    );
    let mut ids: Vec<u64> = orders.iter().map(|o| o.id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), orders.len(), "no order twice");
    assert!(orders.iter().all(|o| !o.items.is_empty()));
    Ok(())
}

async fn orders_need_the_admin_token(shared: Fixture) -> anyhow::Result<()> {
    let without = ApiClient::new(&shared.api.url, None)?;
    assert!(matches!(
        without.orders().await,
        Err(ClientError::NoAdminToken)
    ));
    let wrong = ApiClient::new(&shared.api.url, Some("not-the-token".into()))?;
    let err = wrong.orders().await.unwrap_err().to_string();
    assert!(err.contains("401") && err.contains("/api/orders"), "{err}");
    Ok(())
}

async fn an_unreachable_api_is_retried_then_named_in_the_error(_: Fixture) -> anyhow::Result<()> {
    let port = stackctl::testbed::free_port()?;
    let url = format!("http://127.0.0.1:{port}");
    let client = ApiClient::new(&url, None)?.with_retries(3, Duration::from_millis(100));
    let started = std::time::Instant::now();
    let err = client.products().await.unwrap_err();
    assert!(err.is_unreachable());
    let text = err.to_string();
    assert!(
        text.contains(&url) && text.contains("connection refused"),
        "{text}"
    );
    // Two waits (100 ms, 200 ms) between three attempts: it did retry.
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );
    Ok(())
}

async fn the_status_says_ready_when_the_api_is(shared: Fixture) -> anyhow::Result<()> {
    let status = shared.client().status().await;
    assert!(status.reachable && status.detail == "ready", "{status:?}");
    let port = stackctl::testbed::free_port()?;
    let down = ApiClient::new(&format!("http://127.0.0.1:{port}"), None)?
        .status()
        .await;
    assert!(
        !down.reachable && down.detail.contains("connection refused"),
        "{down:?}"
    );
    Ok(())
}
