//! Placing and reading orders: totals from the server's prices in cents,
//! stock taken exactly once, idempotent replays, 409 naming short items, and
//! the admin listing with its filters.

use std::sync::Arc;

use serde_json::json;

use crate::fixture::{Shared, expect_json, expect_problem, orders_of, unique};

testkit::tests!(Shared;
    an_order_is_placed_with_totals_computed_by_the_server,
    lines_of_the_same_product_add_up_to_one_line,
    replaying_a_key_returns_the_same_order_and_takes_stock_once,
    a_key_reused_for_a_different_order_is_refused,
    an_order_without_an_idempotency_key_is_refused,
    keys_that_differ_only_in_case_are_different_keys,
    a_short_item_is_a_conflict_naming_it_and_nothing_is_taken,
    an_unknown_product_is_refused_and_nothing_is_taken,
    an_order_shows_the_customer_address_only_to_admins,
    unknown_and_malformed_order_ids_are_refused,
    admins_page_through_orders_newest_first,
    admins_filter_orders_by_status_and_date,
    bad_order_filters_are_refused,
    a_date_beyond_the_stored_range_filters_like_its_end_not_a_crash,
    listing_orders_needs_the_admin_token,
);

async fn an_order_is_placed_with_totals_computed_by_the_server(
    shared: Arc<Shared>,
) -> anyhow::Result<()> {
    let client = shared.client();
    let a = client.new_product("orders", 1999, 10).await?;
    let b = client.new_product("orders", 250, 10).await?;
    let body = json!({
        "customer_email": "buyer@example.com",
        "items": [{"product_id": a["id"], "quantity": 2}, {"product_id": b["id"], "quantity": 3}],
    });
    let response = client.order(&unique("key"), &body).await?;
    let location = response
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_owned());
    let order = expect_json(response, 201).await?;
    assert_eq!(order["total_cents"], 2 * 1999 + 3 * 250);
    assert_eq!(order["status"], "placed");
    assert_eq!(order["items"][0]["line_total_cents"], 2 * 1999);
    assert_eq!(order["items"][1]["unit_price_cents"], 250);
    assert_eq!(location, Some(format!("/api/orders/{}", order["id"])));
    assert_eq!(client.stock(a["id"].as_u64().unwrap()).await?, 8);
    assert_eq!(client.stock(b["id"].as_u64().unwrap()).await?, 7);
    Ok(())
}

async fn lines_of_the_same_product_add_up_to_one_line(shared: Arc<Shared>) -> anyhow::Result<()> {
    let client = shared.client();
    let a = client.new_product("orders", 300, 10).await?;
    let body = json!({
        "customer_email": "twice@example.com",
        "items": [{"product_id": a["id"], "quantity": 2}, {"product_id": a["id"], "quantity": 3}],
    });
    let order = expect_json(client.order(&unique("key"), &body).await?, 201).await?;
    assert_eq!(order["items"].as_array().map(Vec::len), Some(1), "{order}");
    assert_eq!(order["items"][0]["quantity"], 5);
    assert_eq!(order["total_cents"], 1500);
    assert_eq!(client.stock(a["id"].as_u64().unwrap()).await?, 5);
    Ok(())
}

async fn replaying_a_key_returns_the_same_order_and_takes_stock_once(
    shared: Arc<Shared>,
) -> anyhow::Result<()> {
    let client = shared.client();
    let product = client.new_product("replay", 500, 10).await?;
    let id = product["id"].as_u64().unwrap();
    let email = format!("{}@example.com", unique("replay").to_lowercase());
    let body = json!({"customer_email": email, "items": [{"product_id": id, "quantity": 4}]});
    let key = unique("key");
    let first = expect_json(client.order(&key, &body).await?, 201).await?;
    let replay = client.order(&key, &body).await?;
    assert_eq!(
        replay
            .headers()
            .get("idempotent-replayed")
            .map(|v| v.to_str().unwrap()),
        Some("true")
    );
    let second = expect_json(replay, 200).await?;
    assert_eq!(first["id"], second["id"]);
    assert_eq!(client.stock(id).await?, 6, "the stock was taken once");
    assert_eq!(orders_of(&shared, &email).await?, 1);
    Ok(())
}

async fn a_key_reused_for_a_different_order_is_refused(shared: Arc<Shared>) -> anyhow::Result<()> {
    let client = shared.client();
    let product = client.new_product("reuse", 500, 10).await?;
    let key = unique("key");
    let body = json!({"customer_email": "first@example.com", "items": [{"product_id": product["id"], "quantity": 1}]});
    expect_json(client.order(&key, &body).await?, 201).await?;
    let other = json!({"customer_email": "first@example.com", "items": [{"product_id": product["id"], "quantity": 2}]});
    expect_problem(
        client.order(&key, &other).await?,
        409,
        "idempotency-key-reused",
    )
    .await?;
    assert_eq!(client.stock(product["id"].as_u64().unwrap()).await?, 9);
    Ok(())
}

async fn an_order_without_an_idempotency_key_is_refused(shared: Arc<Shared>) -> anyhow::Result<()> {
    let client = shared.client();
    let product = client.new_product("nokey", 500, 10).await?;
    let body = json!({"customer_email": "nokey@example.com", "items": [{"product_id": product["id"], "quantity": 1}]});
    let response = client
        .http
        .post(client.url("/api/orders"))
        .json(&body)
        .send()
        .await?;
    let problem = expect_problem(response, 400, "bad-request").await?;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("Idempotency-Key")
    );
    expect_problem(
        client.order(&"k".repeat(129), &body).await?,
        400,
        "bad-request",
    )
    .await?;
    assert_eq!(client.stock(product["id"].as_u64().unwrap()).await?, 10);
    Ok(())
}

async fn a_short_item_is_a_conflict_naming_it_and_nothing_is_taken(
    shared: Arc<Shared>,
) -> anyhow::Result<()> {
    let client = shared.client();
    let plenty = client.new_product("short", 100, 50).await?;
    let scarce = client.new_product("short", 100, 2).await?;
    let email = format!("{}@example.com", unique("short").to_lowercase());
    let body = json!({"customer_email": email, "items": [
        {"product_id": plenty["id"], "quantity": 5},
        {"product_id": scarce["id"], "quantity": 3},
    ]});
    let problem = expect_problem(
        client.order(&unique("key"), &body).await?,
        409,
        "out-of-stock",
    )
    .await?;
    assert_eq!(
        problem["shortages"],
        json!([{"product_id": scarce["id"], "requested": 3, "available": 2}])
    );
    assert_eq!(
        client.stock(plenty["id"].as_u64().unwrap()).await?,
        50,
        "no partial order"
    );
    assert_eq!(client.stock(scarce["id"].as_u64().unwrap()).await?, 2);
    assert_eq!(orders_of(&shared, &email).await?, 0);
    Ok(())
}

async fn an_unknown_product_is_refused_and_nothing_is_taken(
    shared: Arc<Shared>,
) -> anyhow::Result<()> {
    let client = shared.client();
    let real = client.new_product("unknown", 100, 5).await?;
    let email = format!("{}@example.com", unique("unknown").to_lowercase());
    let body = json!({"customer_email": email, "items": [
        {"product_id": real["id"], "quantity": 1},
        {"product_id": 987654321, "quantity": 1},
    ]});
    let problem = expect_problem(
        client.order(&unique("key"), &body).await?,
        409,
        "unknown-product",
    )
    .await?;
    assert!(
        problem["detail"].as_str().unwrap().contains("987654321"),
        "{problem}"
    );
    assert_eq!(client.stock(real["id"].as_u64().unwrap()).await?, 5);
    assert_eq!(orders_of(&shared, &email).await?, 0);
    Ok(())
}

async fn an_order_shows_the_customer_address_only_to_admins(
    shared: Arc<Shared>,
) -> anyhow::Result<()> {
    let client = shared.client();
    let product = client.new_product("privacy", 100, 5).await?;
    let body = json!({"customer_email": "private.person@example.com", "items": [{"product_id": product["id"], "quantity": 1}]});
    let order = expect_json(client.order(&unique("key"), &body).await?, 201).await?;
    let path = format!("/api/orders/{}", order["id"]);
    let public = client.get_json(&path, 200).await?;
    assert_eq!(public["customer_email"], "p***@example.com");
    let admin = expect_json(client.get_admin(&path).await?, 200).await?;
    assert_eq!(admin["customer_email"], "private.person@example.com");
    let wrong = client
        .http
        .get(client.url(&path))
        .bearer_auth("wrong-token")
        .send()
        .await?;
    expect_problem(wrong, 401, "unauthorized").await?;
    Ok(())
}

async fn unknown_and_malformed_order_ids_are_refused(shared: Arc<Shared>) -> anyhow::Result<()> {
    let client = shared.client();
    expect_problem(client.get("/api/orders/999999999").await?, 404, "not-found").await?;
    expect_problem(client.get("/api/orders/latest").await?, 400, "bad-request").await?;
    Ok(())
}

async fn admins_page_through_orders_newest_first(shared: Arc<Shared>) -> anyhow::Result<()> {
    let client = shared.client();
    let first = expect_json(client.get_admin("/api/orders?limit=5").await?, 200).await?;
    let ids: Vec<u64> = first["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids.len(), 5);
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first: {ids:?}");
    assert!(
        first["items"][0]["items"]
            .as_array()
            .is_some_and(|lines| !lines.is_empty()),
        "orders come with their lines"
    );
    let cursor = first["next_cursor"].as_str().unwrap();
    let second = expect_json(
        client
            .get_admin(&format!("/api/orders?limit=5&cursor={cursor}"))
            .await?,
        200,
    )
    .await?;
    let next: Vec<u64> = second["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_u64().unwrap())
        .collect();
    assert!(
        next.iter().all(|id| id < ids.last().unwrap()),
        "{next:?} continues after {ids:?}"
    );
    Ok(())
}

async fn admins_filter_orders_by_status_and_date(shared: Arc<Shared>) -> anyhow::Result<()> {
    let client = shared.client();
    let cancelled = expect_json(
        client
            .get_admin("/api/orders?status=cancelled&limit=100")
            .await?,
        200,
    )
    .await?;
    let items = cancelled["items"].as_array().unwrap();
    assert!(!items.is_empty(), "the seed has cancelled orders");
    assert!(items.iter().all(|o| o["status"] == "cancelled"));

    let today = time::OffsetDateTime::now_utc().date();
    let week_ago = today - time::Duration::days(7);
    let path = format!("/api/orders?from={week_ago}&to={today}&limit=100");
    let recent = expect_json(client.get_admin(&path).await?, 200).await?;
    let since = week_ago.midnight().assume_utc();
    let until = today.midnight().assume_utc();
    for order in recent["items"].as_array().unwrap() {
        let at = time::OffsetDateTime::parse(
            order["created_at"].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )?;
        assert!(at >= since && at < until, "{at} outside [{since}, {until})");
    }
    let future = expect_json(
        client
            .get_admin("/api/orders?from=2999-01-01T00:00:00Z")
            .await?,
        200,
    )
    .await?;
    assert_eq!(future["items"], json!([]));
    Ok(())
}

async fn bad_order_filters_are_refused(shared: Arc<Shared>) -> anyhow::Result<()> {
    let client = shared.client();
    let problem = expect_problem(
        client.get_admin("/api/orders?status=lost").await?,
        400,
        "bad-request",
    )
    .await?;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("`placed`, `paid`, `shipped`, `cancelled`"),
        "names the statuses: {problem}"
    );
    expect_problem(
        client.get_admin("/api/orders?from=last-tuesday").await?,
        422,
        "validation-failed",
    )
    .await?;
    expect_problem(
        client.get_admin("/api/orders?limit=0").await?,
        422,
        "validation-failed",
    )
    .await?;
    expect_problem(
        client.get_admin("/api/orders?cursor=xyz").await?,
        422,
        "validation-failed",
    )
    .await?;
    Ok(())
}

async fn listing_orders_needs_the_admin_token(shared: Arc<Shared>) -> anyhow::Result<()> {
    let client = shared.client();
    expect_problem(client.get("/api/orders").await?, 401, "unauthorized").await?;
    Ok(())
}

async fn keys_that_differ_only_in_case_are_different_keys(
    shared: Arc<Shared>,
) -> anyhow::Result<()> {
    let client = shared.client();
    let product = client.new_product("case", 100, 10).await?;
    let key = format!("CaseKey-{}", unique("k"));
    let first = json!({"customer_email": "upper@example.com", "items": [{"product_id": product["id"], "quantity": 1}]});
    let second = json!({"customer_email": "lower@example.com", "items": [{"product_id": product["id"], "quantity": 2}]});
    let a = expect_json(client.order(&key, &first).await?, 201).await?;
    let b = expect_json(client.order(&key.to_lowercase(), &second).await?, 201).await?;
    assert_ne!(a["id"], b["id"]);
    assert_eq!(client.stock(product["id"].as_u64().unwrap()).await?, 7);
    Ok(())
}

async fn a_date_beyond_the_stored_range_filters_like_its_end_not_a_crash(
    shared: Arc<Shared>,
) -> anyhow::Result<()> {
    // 9999-12-31T23:00-05:00 is in the year 10000 in UTC, beyond what the
    // column keeps: every order is before it, none after it.
    let client = shared.client();
    let after = client
        .get_json("/api/orders?from=9999-12-31T23:00:00-05:00", 401)
        .await;
    assert!(after.is_ok(), "the admin token is needed first: {after:?}");
    let response = client
        .get_admin("/api/orders?from=9999-12-31T23:00:00-05:00")
        .await?;
    let page = crate::fixture::expect_json(response, 200).await?;
    assert_eq!(page["items"], serde_json::json!([]), "{page}");
    let response = client
        .get_admin("/api/orders?to=0001-01-01T00:00:00Z&limit=1")
        .await?;
    let page = crate::fixture::expect_json(response, 200).await?;
    assert_eq!(page["items"], serde_json::json!([]), "{page}");
    client.get_json("/healthz", 200).await?;
    Ok(())
}
