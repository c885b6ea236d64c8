//! The catalog routes: every filter, both kinds of paging, lookups, and the
//! admin routes with each of their error statuses.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::fixture::{Shared, expect_json, expect_problem, unique};

testkit::tests!(Shared;
    the_seed_catalog_has_forty_products_or_more_in_several_categories,
    cursor_paging_visits_every_product_once,
    offset_paging_visits_every_product_once,
    page_limits_out_of_range_are_refused,
    a_cursor_that_is_not_one_or_a_cursor_with_an_offset_is_refused,
    the_category_filter_returns_only_that_category,
    the_name_search_matches_text_literally,
    the_stock_filter_splits_in_and_out_of_stock,
    the_price_filters_bound_the_price,
    filters_of_the_wrong_type_are_refused,
    a_product_is_found_by_id_and_by_sku,
    unknown_and_malformed_product_ids_are_refused,
    admins_create_products_and_get_their_location,
    a_taken_sku_is_a_conflict,
    invalid_product_fields_are_all_reported,
    admin_routes_need_the_right_token,
    admin_routes_are_forbidden_when_no_token_is_configured,
    patching_changes_only_the_given_fields,
    deleting_hides_the_product_but_keeps_its_orders,
);

/// Every product of a category, following cursors.
async fn all_in(shared: &Shared, category: &str, limit: u32) -> anyhow::Result<Vec<Value>> {
    let client = shared.client();
    let mut items = Vec::new();
    let mut path = format!("/api/products?category={category}&limit={limit}");
    for _ in 0..100 {
        let page = client.get_json(&path, 200).await?;
        items.extend(page["items"].as_array().cloned().unwrap_or_default());
        match page["next_cursor"].as_str() {
            Some(cursor) => {
                path = format!("/api/products?category={category}&limit={limit}&cursor={cursor}")
            }
            None => return Ok(items),
        }
    }
    anyhow::bail!("paging did not end")
}

async fn the_seed_catalog_has_forty_products_or_more_in_several_categories(
    shared: Arc<Shared>,
) -> anyhow::Result<()> {
    let mut seeded = 0;
    for category in ["audio", "computing", "home", "outdoor", "books", "kitchen"] {
        let products = all_in(&shared, category, 100).await?;
        assert!(products.len() >= 6, "{category}: {}", products.len());
        assert!(products.iter().all(|p| p["category"] == category));
        seeded += products.len();
    }
    assert!(seeded >= 40, "{seeded} products seeded");
    Ok(())
}

async fn cursor_paging_visits_every_product_once(shared: Arc<Shared>) -> anyhow::Result<()> {
    let client = shared.client();
    let category = unique("paging");
    let mut created = Vec::new();
    for _ in 0..5 {
        created.push(
            client.new_product(&category, 100, 1).await?["id"]
                .as_u64()
                .unwrap(),
        );
    }
    let first = client
        .get_json(&format!("/api/products?category={category}&limit=2"), 200)
        .await?;
    assert_eq!(first["items"].as_array().unwrap().len(), 2);
    assert!(first["next_cursor"].is_string());
    let seen: Vec<u64> = all_in(&shared, &category, 2)
        .await?
        .iter()
        .map(|p| p["id"].as_u64().unwrap())
        .collect();
    assert_eq!(seen, created, "each product once, in id order");
    Ok(())
}

async fn offset_paging_visits_every_product_once(shared: Arc<Shared>) -> anyhow::Result<()> {
    let client = shared.client();
    let category = unique("offset");
    let mut created = Vec::new();
    for _ in 0..3 {
        created.push(
            client.new_product(&category, 100, 1).await?["id"]
                .as_u64()
                .unwrap(),
        );
    }
    let page = client
        .get_json(
            &format!("/api/products?category={category}&limit=2&offset=0"),
            200,
        )
        .await?;
    assert_eq!(page["next_offset"], 2);
    assert!(page.get("next_cursor").is_none());
    let rest = client
        .get_json(
            &format!("/api/products?category={category}&limit=2&offset=2"),
            200,
        )
        .await?;
    assert!(
        rest.get("next_offset").is_none(),
        "the last page has no next offset"
    );
    let ids: Vec<u64> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .chain(rest["items"].as_array().unwrap())
        .map(|p| p["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, created);
    Ok(())
}

async fn page_limits_out_of_range_are_refused(shared: Arc<Shared>) -> anyhow::Result<()> {
    let client = shared.client();
    let full = client.get_json("/api/products?limit=100", 200).await?;
    let rows = full["items"].as_array().unwrap().len();
    assert!(
        (48..=100).contains(&rows),
        "a page holds at most 100 rows, and the seed has 48: {rows}"
    );
    for limit in [0, 101, 1000] {
        let problem = expect_problem(
            client.get(&format!("/api/products?limit={limit}")).await?,
            422,
            "validation-failed",
        )
        .await?;
        assert_eq!(problem["errors"][0]["field"], "limit");
    }
    let default = client.get_json("/api/products", 200).await?;
    assert_eq!(
        default["items"].as_array().unwrap().len(),
        20,
        "20 rows by default"
    );
    Ok(())
}

async fn a_cursor_that_is_not_one_or_a_cursor_with_an_offset_is_refused(
    shared: Arc<Shared>,
) -> anyhow::Result<()> {
    let client = shared.client();
    expect_problem(
        client.get("/api/products?cursor=forged").await?,
        422,
        "validation-failed",
    )
    .await?;
    let page = client.get_json("/api/products?limit=1", 200).await?;
    let cursor = page["next_cursor"].as_str().unwrap();
    expect_problem(
        client
            .get(&format!("/api/products?cursor={cursor}&offset=1"))
            .await?,
        400,
        "bad-request",
    )
    .await?;
    Ok(())
}

async fn the_category_filter_returns_only_that_category(shared: Arc<Shared>) -> anyhow::Result<()> {
    let books = all_in(&shared, "books", 100).await?;
    assert!(!books.is_empty() && books.iter().all(|p| p["category"] == "books"));
    let none = shared
        .client()
        .get_json("/api/products?category=no-such-category", 200)
        .await?;
    assert_eq!(none["items"], json!([]));
    Ok(())
}

async fn the_name_search_matches_text_literally(shared: Arc<Shared>) -> anyhow::Result<()> {
    let client = shared.client();
    let found = client
        .get_json("/api/products?q=Keyboard&limit=100", 200)
        .await?;
    let names: Vec<&str> = found["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert!(
        !names.is_empty() && names.iter().all(|n| n.contains("Keyboard")),
        "{names:?}"
    );
    // `%` and `_` are not wildcards.
    let wildcard = client
        .get_json("/api/products?q=%25&limit=100", 200)
        .await?;
    assert_eq!(wildcard["items"], json!([]));
    let too_long = "x".repeat(101);
    expect_problem(
        client.get(&format!("/api/products?q={too_long}")).await?,
        422,
        "validation-failed",
    )
    .await?;
    Ok(())
}

async fn the_stock_filter_splits_in_and_out_of_stock(shared: Arc<Shared>) -> anyhow::Result<()> {
    let client = shared.client();
    let category = unique("stock");
    let empty = client.new_product(&category, 100, 0).await?;
    let full = client.new_product(&category, 100, 7).await?;
    let in_stock = client
        .get_json(
            &format!("/api/products?category={category}&in_stock=true"),
            200,
        )
        .await?;
    assert_eq!(in_stock["items"].as_array().unwrap().len(), 1);
    assert_eq!(in_stock["items"][0]["id"], full["id"]);
    let out = client
        .get_json(
            &format!("/api/products?category={category}&in_stock=false"),
            200,
        )
        .await?;
    assert_eq!(out["items"][0]["id"], empty["id"]);
    Ok(())
}

async fn the_price_filters_bound_the_price(shared: Arc<Shared>) -> anyhow::Result<()> {
    let client = shared.client();
    let category = unique("price");
    for price in [500, 1500, 2500] {
        client.new_product(&category, price, 1).await?;
    }
    let page = client
        .get_json(
            &format!("/api/products?category={category}&min_price=1000&max_price=2500"),
            200,
        )
        .await?;
    let prices: Vec<i64> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["price_cents"].as_i64().unwrap())
        .collect();
    assert_eq!(prices, [1500, 2500]);
    // A range whose lowest price is above its highest matches nothing.
    let empty = client
        .get_json("/api/products?min_price=2000&max_price=1000", 200)
        .await?;
    assert_eq!(empty["items"], json!([]), "{empty}");
    expect_problem(
        client.get("/api/products?min_price=-1").await?,
        422,
        "validation-failed",
    )
    .await?;
    Ok(())
}

async fn filters_of_the_wrong_type_are_refused(shared: Arc<Shared>) -> anyhow::Result<()> {
    let client = shared.client();
    for query in [
        "in_stock=maybe",
        "min_price=cheap",
        "limit=ten",
        "offset=-1",
    ] {
        let problem = expect_problem(
            client.get(&format!("/api/products?{query}")).await?,
            400,
            "bad-request",
        )
        .await?;
        assert!(
            problem["detail"].as_str().unwrap().contains("query"),
            "{query}: {problem}"
        );
    }
    Ok(())
}

async fn a_product_is_found_by_id_and_by_sku(shared: Arc<Shared>) -> anyhow::Result<()> {
    let client = shared.client();
    let product = client.new_product("lookup", 4200, 3).await?;
    let id = product["id"].as_u64().unwrap();
    let by_id = client.get_json(&format!("/api/products/{id}"), 200).await?;
    assert_eq!(by_id, product);
    let by_sku = client
        .get_json(
            &format!("/api/products/sku/{}", product["sku"].as_str().unwrap()),
            200,
        )
        .await?;
    assert_eq!(by_sku, product);
    expect_problem(
        client.get("/api/products/sku/NO-SUCH-SKU").await?,
        404,
        "not-found",
    )
    .await?;
    Ok(())
}

async fn unknown_and_malformed_product_ids_are_refused(shared: Arc<Shared>) -> anyhow::Result<()> {
    let client = shared.client();
    expect_problem(
        client.get("/api/products/999999999").await?,
        404,
        "not-found",
    )
    .await?;
    for bad in ["abc", "0", "-1", "1.5", "99999999999999999999999"] {
        expect_problem(
            client.get(&format!("/api/products/{bad}")).await?,
            400,
            "bad-request",
        )
        .await?;
    }
    Ok(())
}

async fn admins_create_products_and_get_their_location(shared: Arc<Shared>) -> anyhow::Result<()> {
    let client = shared.client();
    let sku = unique("NEW");
    let body = json!({"sku": sku, "name": "Travel Mug", "category": "kitchen", "price_cents": 1899, "stock": 12});
    let response = client
        .admin(client.http.post(client.url("/api/products")))
        .json(&body)
        .send()
        .await?;
    let location = response
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_owned());
    let product = expect_json(response, 201).await?;
    assert_eq!(location, Some(format!("/api/products/{}", product["id"])));
    assert_eq!(
        (
            product["sku"].as_str(),
            product["price_cents"].as_i64(),
            product["stock"].as_u64()
        ),
        (Some(sku.as_str()), Some(1899), Some(12))
    );
    assert_eq!(
        client.get_json(location.as_deref().unwrap(), 200).await?,
        product
    );
    Ok(())
}

async fn a_taken_sku_is_a_conflict(shared: Arc<Shared>) -> anyhow::Result<()> {
    let client = shared.client();
    let existing = client.new_product("dupes", 100, 1).await?;
    let body = json!({"sku": existing["sku"], "name": "Copy", "category": "dupes", "price_cents": 1, "stock": 1});
    let response = client
        .admin(client.http.post(client.url("/api/products")))
        .json(&body)
        .send()
        .await?;
    let problem = expect_problem(response, 409, "conflict").await?;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains(existing["sku"].as_str().unwrap())
    );
    let other = client.new_product("dupes", 100, 1).await?;
    let patch = client
        .admin(
            client
                .http
                .patch(client.url(&format!("/api/products/{}", other["id"]))),
        )
        .json(&json!({"sku": existing["sku"]}))
        .send()
        .await?;
    expect_problem(patch, 409, "conflict").await?;
    Ok(())
}

async fn invalid_product_fields_are_all_reported(shared: Arc<Shared>) -> anyhow::Result<()> {
    let client = shared.client();
    let body = json!({"sku": "lower case", "name": "", "category": "x", "price_cents": -5, "stock": 2_000_000});
    let response = client
        .admin(client.http.post(client.url("/api/products")))
        .json(&body)
        .send()
        .await?;
    let problem = expect_problem(response, 422, "validation-failed").await?;
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["sku", "name", "price_cents", "stock"]);
    let unknown_field = json!({"sku": unique("U"), "name": "n", "category": "c", "price_cents": 1, "stock": 1, "colour": "red"});
    let response = client
        .admin(client.http.post(client.url("/api/products")))
        .json(&unknown_field)
        .send()
        .await?;
    expect_problem(response, 422, "validation-failed").await?;
    Ok(())
}

async fn admin_routes_need_the_right_token(shared: Arc<Shared>) -> anyhow::Result<()> {
    let client = shared.client();
    let body =
        json!({"sku": unique("A"), "name": "n", "category": "c", "price_cents": 1, "stock": 1});
    let missing = client
        .http
        .post(client.url("/api/products"))
        .json(&body)
        .send()
        .await?;
    assert_eq!(
        missing
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().starts_with("Bearer")),
        Some(true)
    );
    expect_problem(missing, 401, "unauthorized").await?;
    let wrong = client
        .http
        .post(client.url("/api/products"))
        .bearer_auth("not-the-token")
        .json(&body)
        .send()
        .await?;
    expect_problem(wrong, 401, "unauthorized").await?;
    let not_bearer = client
        .http
        .get(client.url("/api/orders"))
        .basic_auth("admin", Some("pw"))
        .send()
        .await?;
    expect_problem(not_bearer, 401, "unauthorized").await?;
    let sku = body["sku"].as_str().unwrap();
    expect_problem(
        client.get(&format!("/api/products/sku/{sku}")).await?,
        404,
        "not-found",
    )
    .await?;
    Ok(())
}

async fn admin_routes_are_forbidden_when_no_token_is_configured(
    shared: Arc<Shared>,
) -> anyhow::Result<()> {
    let tokenless = crate::fixture::RunningApi::start(&shared.db.api_url(), None).await?;
    let client = tokenless.client();
    client
        .wait_ready(std::time::Duration::from_secs(30))
        .await?;
    let body =
        json!({"sku": unique("F"), "name": "n", "category": "c", "price_cents": 1, "stock": 1});
    let response = client
        .http
        .post(client.url("/api/products"))
        .bearer_auth("anything-at-all")
        .json(&body)
        .send()
        .await?;
    let problem = expect_problem(response, 403, "admin-disabled").await?;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("API_ADMIN_TOKEN"),
        "{problem}"
    );
    expect_problem(client.get("/api/orders").await?, 403, "admin-disabled").await?;
    client.get_json("/api/products?limit=1", 200).await?;
    tokenless.stop().await;
    Ok(())
}

async fn patching_changes_only_the_given_fields(shared: Arc<Shared>) -> anyhow::Result<()> {
    let client = shared.client();
    let product = client.new_product("patch", 1000, 5).await?;
    let path = format!("/api/products/{}", product["id"]);
    let response = client
        .admin(client.http.patch(client.url(&path)))
        .json(&json!({"price_cents": 1250}))
        .send()
        .await?;
    let patched = expect_json(response, 200).await?;
    assert_eq!(patched["price_cents"], 1250);
    assert_eq!(
        (&patched["name"], &patched["stock"], &patched["sku"]),
        (&product["name"], &product["stock"], &product["sku"])
    );
    let response = client
        .admin(client.http.patch(client.url(&path)))
        .json(&json!({"stock": -1}))
        .send()
        .await?;
    expect_problem(response, 422, "validation-failed").await?;
    let response = client
        .admin(client.http.patch(client.url("/api/products/999999999")))
        .json(&json!({"stock": 1}))
        .send()
        .await?;
    expect_problem(response, 404, "not-found").await?;
    Ok(())
}

async fn deleting_hides_the_product_but_keeps_its_orders(
    shared: Arc<Shared>,
) -> anyhow::Result<()> {
    let client = shared.client();
    let product = client.new_product("delete", 300, 5).await?;
    let id = product["id"].as_u64().unwrap();
    let order = json!({"customer_email": "keeper@example.com", "items": [{"product_id": id, "quantity": 1}]});
    let placed = expect_json(client.order(&unique("key"), &order).await?, 201).await?;
    let path = format!("/api/products/{id}");
    let deleted = client
        .admin(client.http.delete(client.url(&path)))
        .send()
        .await?;
    assert_eq!(deleted.status(), 204);
    expect_problem(client.get(&path).await?, 404, "not-found").await?;
    let again = client
        .admin(client.http.delete(client.url(&path)))
        .send()
        .await?;
    expect_problem(again, 404, "not-found").await?;
    let kept = client
        .get_json(&format!("/api/orders/{}", placed["id"]), 200)
        .await?;
    assert_eq!(
        kept["items"][0]["product_id"], id,
        "the order still has its line"
    );
    let unauthorized = client.http.delete(client.url(&path)).send().await?;
    expect_problem(unauthorized, 401, "unauthorized").await?;
    Ok(())
}
