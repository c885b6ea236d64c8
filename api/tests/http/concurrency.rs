//! Many clients at once: the last units of a product are sold exactly once,
//! and one Idempotency-Key sent concurrently makes one order.

use std::sync::Arc;

use serde_json::json;

use crate::fixture::{Shared, orders_of, unique};

testkit::tests!(Shared;
    concurrent_orders_for_the_last_units_sell_exactly_those_units,
    one_key_sent_concurrently_creates_one_order,
);

async fn concurrent_orders_for_the_last_units_sell_exactly_those_units(
    shared: Arc<Shared>,
) -> anyhow::Result<()> {
    const UNITS: u64 = 5;
    const BUYERS: usize = 40;
    let client = shared.client();
    let product = client.new_product("last-units", 999, UNITS as u32).await?;
    let id = product["id"].as_u64().unwrap();
    let email = format!("{}@example.com", unique("rush").to_lowercase());
    let attempts = (0..BUYERS).map(|_| {
        let (client, email) = (client.clone(), email.clone());
        tokio::spawn(async move {
            let body =
                json!({"customer_email": email, "items": [{"product_id": id, "quantity": 1}]});
            client
                .order(&unique("key"), &body)
                .await
                .map(|r| r.status().as_u16())
        })
    });
    let mut statuses = Vec::new();
    for attempt in attempts.collect::<Vec<_>>() {
        statuses.push(attempt.await??);
    }
    let sold = statuses.iter().filter(|s| **s == 201).count() as u64;
    let refused = statuses.iter().filter(|s| **s == 409).count();
    assert_eq!(sold, UNITS, "statuses: {statuses:?}");
    assert_eq!(
        refused,
        BUYERS - UNITS as usize,
        "every other answer is a 409: {statuses:?}"
    );
    assert_eq!(
        client.stock(id).await?,
        0,
        "stock never negative, all units sold"
    );
    assert_eq!(orders_of(&shared, &email).await?, UNITS);
    Ok(())
}

async fn one_key_sent_concurrently_creates_one_order(shared: Arc<Shared>) -> anyhow::Result<()> {
    let client = shared.client();
    let product = client.new_product("same-key", 100, 100).await?;
    let id = product["id"].as_u64().unwrap();
    let email = format!("{}@example.com", unique("dup").to_lowercase());
    let key = unique("key");
    let body = json!({"customer_email": email, "items": [{"product_id": id, "quantity": 3}]});
    let sends = (0..20).map(|_| {
        let (client, key, body) = (client.clone(), key.clone(), body.clone());
        tokio::spawn(async move {
            let response = client.order(&key, &body).await?;
            let status = response.status().as_u16();
            let order: serde_json::Value = response.json().await?;
            anyhow::Ok((status, order["id"].as_u64()))
        })
    });
    let mut answers = Vec::new();
    for send in sends.collect::<Vec<_>>() {
        answers.push(send.await??);
    }
    let created = answers.iter().filter(|(s, _)| *s == 201).count();
    assert_eq!(created, 1, "{answers:?}");
    assert!(
        answers.iter().all(|(s, _)| *s == 200 || *s == 201),
        "{answers:?}"
    );
    let first = answers[0].1;
    assert!(
        first.is_some() && answers.iter().all(|(_, id)| *id == first),
        "all the same order: {answers:?}"
    );
    assert_eq!(orders_of(&shared, &email).await?, 1);
    assert_eq!(client.stock(id).await?, 97);
    Ok(())
}
