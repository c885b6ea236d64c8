//! Orders: placing one is a single transaction that claims the
//! Idempotency-Key, locks the products' stock rows, checks and takes the
//! stock and writes the lines with server-computed totals in integer cents.
//! A replayed key returns the first order; a short item is a 409 naming it.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use mysql_async::prelude::Queryable as _;
use mysql_async::{Params, TxOpts, Value};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::contract;
use crate::db::{decode, is_duplicate, is_retryable};
use crate::error::{ApiError, ApiResult, FieldError, Problem, Shortage};
use crate::extract::{Admin, ApiJson, ApiQuery, Id, IdempotencyKey, MaybeAdmin};
use crate::pagination;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_orders, create_order))
        .routes(routes!(get_order))
}

/// The statuses an order can have.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    ToSchema,
    mysql_async::prelude::FromValue,
)]
#[serde(rename_all = "lowercase")]
#[mysql(is_string, rename_all = "lowercase")]
pub enum OrderStatus {
    Placed,
    Paid,
    Shipped,
    Cancelled,
}

impl OrderStatus {
    /// Every status as written, in order.
    pub const NAMES: [&'static str; 4] = ["placed", "paid", "shipped", "cancelled"];

    /// As written in the database and the JSON.
    pub fn name(self) -> &'static str {
        match self {
            OrderStatus::Placed => "placed",
            OrderStatus::Paid => "paid",
            OrderStatus::Shipped => "shipped",
            OrderStatus::Cancelled => "cancelled",
        }
    }
}

/// An order to place.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"customer_email": "ada@example.com", "items": [{"product_id": 1, "quantity": 2}]}))]
pub struct NewOrder {
    pub customer_email: String,
    /// 1 to 50 lines; lines of the same product add up.
    pub items: Vec<NewOrderItem>,
}

/// One line of an order to place.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOrderItem {
    #[serde(deserialize_with = "contract::whole::deserialize")]
    pub product_id: u64,
    #[serde(deserialize_with = "contract::whole::deserialize")]
    pub quantity: u32,
}

/// A placed order.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Order {
    pub id: u64,
    /// Masked (`c***@example.com`) unless the request carries the admin token.
    pub customer_email: String,
    pub status: OrderStatus,
    pub total_cents: i64,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    pub items: Vec<OrderItem>,
}

/// One line of a placed order, at the price it was sold for.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OrderItem {
    pub product_id: u64,
    pub sku: String,
    pub name: String,
    pub category: String,
    pub quantity: u32,
    pub unit_price_cents: i64,
    pub line_total_cents: i64,
}

/// One page of orders, newest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct OrderPage {
    pub items: Vec<Order>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// Filters and paging of the order list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OrderQuery {
    /// Rows per page (default 20).
    pub limit: Option<u32>,
    /// Continue after the page that returned this `next_cursor`.
    pub cursor: Option<String>,
    /// Orders at or after this time (RFC 3339, or a date for its start, UTC).
    pub from: Option<String>,
    /// Orders before this time (RFC 3339, or a date for its start, UTC).
    pub to: Option<String>,
    /// Only orders with this status.
    #[param(inline)]
    pub status: Option<OrderStatus>,
}

/// Place an order.
#[utoipa::path(post, path = "/api/orders", tag = "orders", request_body = NewOrder,
    params(("Idempotency-Key" = String, Header, description = "A unique key per order; a retry with the same key returns the same order")),
    responses(
        (status = 201, description = "Placed", body = Order, headers(("location" = String))),
        (status = 200, description = "A replay of an earlier request with this key", body = Order, headers(("idempotent-replayed" = String))),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not enough stock; `shortages` names the items", body = Problem, content_type = "application/problem+json"),
        (status = 413, body = Problem, content_type = "application/problem+json"),
        (status = 415, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
        (status = 503, body = Problem, content_type = "application/problem+json"),
    ))]
async fn create_order(
    State(state): State<AppState>,
    IdempotencyKey(key): IdempotencyKey,
    ApiJson(order): ApiJson<NewOrder>,
) -> ApiResult<(StatusCode, HeaderMap, Json<Order>)> {
    let lines = check_order(&order)?;
    let hash = request_hash(&order.customer_email, &lines);
    let mut attempt = 0;
    let placed = loop {
        attempt += 1;
        match place(&state, &key, &hash, &order.customer_email, &lines).await {
            Err(Failure::Retry(err)) if attempt < 4 => {
                tracing::debug!(attempt, error = %err, "order transaction retried");
            }
            Err(Failure::Retry(err)) => return Err(err.into()),
            Err(Failure::Api(err)) => return Err(err),
            Ok(placed) => break placed,
        }
    };
    let (status, order) = match placed {
        Placed::New(order) => (StatusCode::CREATED, order),
        Placed::Replay(id) => {
            let mut conn = state.db.conn().await?;
            let order = load_orders(&mut conn, &[id], true)
                .await?
                .pop()
                .ok_or_else(|| ApiError::Internal(format!("order {id} vanished")))?;
            (StatusCode::OK, order)
        }
    };
    let mut headers = HeaderMap::new();
    if let Ok(location) = HeaderValue::from_str(&format!("/api/orders/{}", order.id)) {
        headers.insert(header::LOCATION, location);
    }
    if status == StatusCode::OK {
        headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok((status, headers, Json(order)))
}

/// What one run of the order transaction came to.
enum Placed {
    /// A new order, as written.
    New(Order),
    /// The key was used before for this same request: that order's id.
    Replay(u64),
}

enum Failure {
    /// A deadlock or lock timeout: run the transaction again.
    Retry(mysql_async::Error),
    Api(ApiError),
}

impl From<mysql_async::Error> for Failure {
    fn from(err: mysql_async::Error) -> Self {
        if is_retryable(&err) {
            Failure::Retry(err)
        } else {
            Failure::Api(err.into())
        }
    }
}

impl From<ApiError> for Failure {
    fn from(err: ApiError) -> Self {
        Failure::Api(err)
    }
}

/// A product row locked for an order.
#[derive(Debug, mysql_async::prelude::FromRow)]
struct LockedProduct {
    id: u64,
    price_cents: i64,
    stock: u32,
    sku: String,
    name: String,
    category: String,
}

/// One line of an order to place, after lines of the same product were
/// added up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Line {
    product_id: u64,
    quantity: u32,
}

/// Runs the order transaction once.
async fn place(
    state: &AppState,
    key: &str,
    hash: &str,
    email: &str,
    order: &[Line],
) -> Result<Placed, Failure> {
    let mut conn = state.db.conn().await?;
    let mut tx = conn.start_transaction(TxOpts::default()).await?;
    let now = OffsetDateTime::now_utc();
    // The column keeps microseconds; so does the answer.
    let created_at = now
        .replace_nanosecond(now.nanosecond() / 1000 * 1000)
        .unwrap_or(now);

    // Claim the key first: a concurrent request with the same key waits here
    // until this transaction ends, then finds the order this one made.
    let claimed = tx
        .exec_drop(
            "INSERT INTO orders (customer_email, status, total_cents, idempotency_key, request_hash, created_at)
             VALUES (?, 'placed', 0, ?, ?, ?)",
            (
                email,
                key,
                hash,
                time::PrimitiveDateTime::new(created_at.date(), created_at.time()),
            ),
        )
        .await;
    match claimed {
        Err(err) if is_duplicate(&err) => {
            tx.rollback().await?;
            let existing: Option<(u64, Option<String>)> = conn
                .exec_first(
                    "SELECT id, request_hash FROM orders WHERE idempotency_key = ?",
                    (key,),
                )
                .await?;
            return match existing {
                Some((id, Some(recorded))) if recorded == hash => Ok(Placed::Replay(id)),
                Some(_) => Err(ApiError::IdempotencyKeyReused.into()),
                None => Err(Failure::Retry(err)),
            };
        }
        other => other?,
    }
    let order_id = tx.last_insert_id().unwrap_or_default();

    // `check_order` sorted the lines by product.
    let ids: Vec<u64> = order.iter().map(|line| line.product_id).collect();
    let placeholders = vec!["?"; ids.len()].join(", ");
    // Locking in id order keeps concurrent orders from deadlocking.
    let stock: Vec<LockedProduct> = decode(
        tx.exec(
            format!(
                "SELECT id, price_cents, stock, sku, name, category FROM products
                 WHERE id IN ({placeholders}) AND deleted_at IS NULL ORDER BY id FOR UPDATE"
            ),
            Params::Positional(ids.iter().map(|id| Value::from(*id)).collect()),
        )
        .await?,
    )?;
    let locked = |id: u64| stock.iter().find(|row| row.id == id);

    let unknown: Vec<u64> = order
        .iter()
        .map(|line| line.product_id)
        .filter(|id| locked(*id).is_none())
        .collect();
    if !unknown.is_empty() {
        tx.rollback().await?;
        return Err(ApiError::UnknownProducts(unknown).into());
    }
    let shortages: Vec<Shortage> = order
        .iter()
        .filter_map(|item| {
            let available = locked(item.product_id)?.stock;
            (item.quantity > available).then_some(Shortage {
                product_id: item.product_id,
                requested: item.quantity,
                available,
            })
        })
        .collect();
    if !shortages.is_empty() {
        tx.rollback().await?;
        return Err(ApiError::OutOfStock(shortages).into());
    }

    let mut total: i64 = 0;
    let mut lines = Vec::with_capacity(order.len());
    for item in order {
        let Some(product) = locked(item.product_id) else {
            continue;
        };
        let line_total = product.price_cents.checked_mul(i64::from(item.quantity));
        let Some((line_total, new_total)) =
            line_total.and_then(|l| total.checked_add(l).map(|t| (l, t)))
        else {
            tx.rollback().await?;
            return Err(ApiError::invalid("items", "the order total is too large").into());
        };
        total = new_total;
        lines.push(OrderItem {
            product_id: item.product_id,
            sku: product.sku.clone(),
            name: product.name.clone(),
            category: product.category.clone(),
            quantity: item.quantity,
            unit_price_cents: product.price_cents,
            line_total_cents: line_total,
        });
    }
    tx.exec_batch(
        "UPDATE products SET stock = stock - ? WHERE id = ?",
        lines.iter().map(|line| (line.quantity, line.product_id)),
    )
    .await?;
    tx.exec_batch(
        "INSERT INTO order_items (order_id, product_id, quantity, unit_price_cents) VALUES (?, ?, ?, ?)",
        lines.iter().map(|line| (order_id, line.product_id, line.quantity, line.unit_price_cents)),
    )
    .await?;
    tx.exec_drop(
        "UPDATE orders SET total_cents = ? WHERE id = ?",
        (total, order_id),
    )
    .await?;
    tx.commit().await?;
    lines.sort_by_key(|line| line.product_id);
    Ok(Placed::New(Order {
        id: order_id,
        customer_email: email.to_owned(),
        status: OrderStatus::Placed,
        total_cents: total,
        created_at,
        items: lines,
    }))
}

/// Checks the request before any database work, all problems at once, and
/// returns its lines by product, lines of the same product added up.
fn check_order(order: &NewOrder) -> ApiResult<Vec<Line>> {
    let mut errors = Vec::new();
    if !contract::email_ok(&order.customer_email) {
        errors.push(FieldError {
            field: "customer_email".into(),
            message: "is not an email address like name@example.com".into(),
        });
    }
    if order.items.is_empty() || order.items.len() > contract::MAX_ITEMS {
        errors.push(FieldError {
            field: "items".into(),
            message: format!("an order has 1 to {} lines", contract::MAX_ITEMS),
        });
    }
    for (i, item) in order.items.iter().enumerate() {
        if !(1..=contract::MAX_ID).contains(&item.product_id) {
            errors.push(FieldError {
                field: format!("items[{i}].product_id"),
                message: format!("product ids are 1 to {}", contract::MAX_ID),
            });
        }
        if !(1..=contract::MAX_QUANTITY).contains(&item.quantity) {
            errors.push(FieldError {
                field: format!("items[{i}].quantity"),
                message: format!(
                    "{} is out of range; order 1 to {}",
                    item.quantity,
                    contract::MAX_QUANTITY
                ),
            });
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation {
            detail: errors
                .iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect::<Vec<_>>()
                .join("; "),
            errors,
        });
    }
    let mut lines: Vec<Line> = Vec::with_capacity(order.items.len());
    for item in &order.items {
        match lines.iter_mut().find(|l| l.product_id == item.product_id) {
            Some(line) => line.quantity += item.quantity,
            None => lines.push(Line {
                product_id: item.product_id,
                quantity: item.quantity,
            }),
        }
    }
    lines.sort_unstable();
    Ok(lines)
}

/// A hash of what the request asks for (the address, the lines by
/// product), to tell a replay from a different order under the same key.
fn request_hash(email: &str, lines: &[Line]) -> String {
    let items: Vec<(u64, u32)> = lines.iter().map(|l| (l.product_id, l.quantity)).collect();
    let canonical = serde_json::json!({ "email": email.to_lowercase(), "items": items });
    hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
}

/// `customer@example.com` as `c***@example.com`.
fn mask_email(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => format!("{}***@{domain}", local.chars().next().unwrap_or('*')),
        None => "***".to_owned(),
    }
}

/// A row of `orders`.
#[derive(Debug, mysql_async::prelude::FromRow)]
struct OrderRow {
    id: u64,
    customer_email: String,
    status: OrderStatus,
    total_cents: i64,
    created_at: time::PrimitiveDateTime,
}

/// A line of an order, with its product's SKU, name and category.
#[derive(Debug, mysql_async::prelude::FromRow)]
struct ItemRow {
    order_id: u64,
    product_id: u64,
    sku: String,
    name: String,
    category: String,
    quantity: u32,
    unit_price_cents: i64,
}

/// Loads orders with their lines, in the order of `ids`.
async fn load_orders(
    conn: &mut mysql_async::Conn,
    ids: &[u64],
    reveal_email: bool,
) -> ApiResult<Vec<Order>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let placeholders = vec!["?"; ids.len()].join(", ");
    let params = || Params::Positional(ids.iter().map(|id| Value::from(*id)).collect());
    let orders: Vec<OrderRow> = decode(
        conn.exec(
            format!("SELECT id, customer_email, status, total_cents, created_at FROM orders WHERE id IN ({placeholders})"),
            params(),
        )
        .await?,
    )?;
    let items: Vec<ItemRow> = decode(
        conn.exec(
            format!(
                "SELECT oi.order_id, oi.product_id, p.sku, p.name, p.category, oi.quantity, oi.unit_price_cents
                 FROM order_items oi JOIN products p ON p.id = oi.product_id
                 WHERE oi.order_id IN ({placeholders}) ORDER BY oi.order_id, oi.product_id"
            ),
            params(),
        )
        .await?,
    )?;
    Ok(ids
        .iter()
        .filter_map(|id| orders.iter().find(|o| o.id == *id))
        .map(|order| Order {
            id: order.id,
            customer_email: if reveal_email {
                order.customer_email.clone()
            } else {
                mask_email(&order.customer_email)
            },
            status: order.status,
            total_cents: order.total_cents,
            created_at: order.created_at.assume_utc(),
            items: items
                .iter()
                .filter(|item| item.order_id == order.id)
                .map(|item| OrderItem {
                    product_id: item.product_id,
                    sku: item.sku.clone(),
                    name: item.name.clone(),
                    category: item.category.clone(),
                    quantity: item.quantity,
                    unit_price_cents: item.unit_price_cents,
                    line_total_cents: item.unit_price_cents * i64::from(item.quantity),
                })
                .collect(),
        })
        .collect())
}

/// One order. The customer's address is masked unless the admin token is sent.
#[utoipa::path(get, path = "/api/orders/{id}", tag = "orders", params(("id" = u64, Path, description = "Order id")), security((), ("admin" = [])),
    responses(
        (status = 200, body = Order),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn get_order(
    State(state): State<AppState>,
    MaybeAdmin(admin): MaybeAdmin,
    Id(id): Id,
) -> ApiResult<Json<Order>> {
    let mut conn = state.db.conn().await?;
    load_orders(&mut conn, &[id], admin)
        .await?
        .pop()
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("there is no order {id}")))
}

/// List orders, newest first (admin).
#[utoipa::path(get, path = "/api/orders", tag = "orders", params(OrderQuery), security(("admin" = [])),
    responses(
        (status = 200, body = OrderPage),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
async fn list_orders(
    State(state): State<AppState>,
    _admin: Admin,
    ApiQuery(query): ApiQuery<OrderQuery>,
) -> ApiResult<Json<OrderPage>> {
    let limit = pagination::limit(query.limit)?;
    let mut conditions = vec!["1 = 1".to_owned()];
    let mut params: Vec<Value> = Vec::new();
    if let Some(cursor) = &query.cursor {
        conditions.push("id < ?".into());
        params.push(pagination::decode(cursor)?.into());
    }
    for (field, value, op) in [("from", &query.from, ">="), ("to", &query.to, "<")] {
        if let Some(text) = value {
            let at = parse_time(text).ok_or_else(|| {
                ApiError::invalid(field, format!("`{text}` is not a time; write RFC 3339 (2026-11-01T00:00:00Z) or a date (2026-11-01)"))
            })?;
            conditions.push(format!("created_at {op} ?"));
            params.push(stored_time(at).into());
        }
    }
    if let Some(status) = query.status {
        conditions.push("status = ?".into());
        params.push(status.name().into());
    }
    let sql = format!(
        "SELECT id FROM orders WHERE {} ORDER BY id DESC LIMIT {}",
        conditions.join(" AND "),
        limit + 1
    );
    let mut conn = state.db.conn().await?;
    let mut ids: Vec<u64> = conn.exec(sql, Params::Positional(params)).await?;
    let more = ids.len() > limit as usize;
    ids.truncate(limit as usize);
    let items = load_orders(&mut conn, &ids, true).await?;
    Ok(Json(OrderPage {
        next_cursor: more
            .then(|| ids.last().map(|id| pagination::encode(*id)))
            .flatten(),
        items,
    }))
}

/// RFC 3339 (`T` and `Z` in either case, as RFC 3339 allows), or a plain
/// date meaning its start in UTC.
fn parse_time(text: &str) -> Option<OffsetDateTime> {
    let upper = text.to_ascii_uppercase();
    if let Ok(at) = OffsetDateTime::parse(&upper, &time::format_description::well_known::Rfc3339) {
        return Some(at);
    }
    let date = time::Date::parse(
        text,
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .ok()?;
    Some(date.midnight().assume_utc())
}

/// A time as the `created_at` column keeps it: UTC, within the column's
/// range (1000 to 9999; a bound beyond it filters the same as the range's end).
fn stored_time(at: OffsetDateTime) -> time::PrimitiveDateTime {
    let earliest = time::macros::datetime!(1000-01-01 00:00:00 UTC);
    let latest = time::macros::datetime!(9999-12-31 23:59:59.999999 UTC);
    let utc = at.clamp(earliest, latest).to_offset(time::UtcOffset::UTC);
    time::PrimitiveDateTime::new(utc.date(), utc.time())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(email: &str, items: &[(u64, u32)]) -> NewOrder {
        NewOrder {
            customer_email: email.into(),
            items: items
                .iter()
                .map(|&(product_id, quantity)| NewOrderItem {
                    product_id,
                    quantity,
                })
                .collect(),
        }
    }

    #[test]
    fn order_checks_name_every_bad_field() {
        let Err(ApiError::Validation { errors, .. }) =
            check_order(&order("nobody", &[(1, 0), (1, 2000), (0, 1)]))
        else {
            panic!("accepted")
        };
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "customer_email",
                "items[0].quantity",
                "items[1].quantity",
                "items[2].product_id"
            ]
        );
        assert!(check_order(&order("a@example.com", &[])).is_err());
        assert!(check_order(&order(" a@example.com", &[(1, 1)])).is_err());
        assert!(check_order(&order("a@example.com", &[(1, 1), (2, 3)])).is_ok());
    }

    #[test]
    fn lines_of_the_same_product_add_up() {
        let lines = check_order(&order("a@example.com", &[(2, 3), (1, 1), (2, 4)])).unwrap();
        assert_eq!(
            lines,
            [
                Line {
                    product_id: 1,
                    quantity: 1
                },
                Line {
                    product_id: 2,
                    quantity: 7
                }
            ]
        );
    }

    #[test]
    fn the_request_hash_ignores_line_order_and_email_case() {
        let hash = |email: &str, items: &[(u64, u32)]| {
            let o = order(email, items);
            request_hash(&o.customer_email, &check_order(&o).unwrap())
        };
        assert_eq!(
            hash("A@example.com", &[(1, 1), (2, 3)]),
            hash("a@example.com", &[(2, 3), (1, 1)])
        );
        assert_ne!(
            hash("a@example.com", &[(1, 1)]),
            hash("a@example.com", &[(1, 2)])
        );
    }

    #[test]
    fn emails_are_masked_to_their_first_letter() {
        assert_eq!(mask_email("customer7@example.com"), "c***@example.com");
    }

    #[test]
    fn times_parse_as_rfc3339_or_dates() {
        assert!(parse_time("2026-11-01T10:00:00Z").is_some());
        assert!(parse_time("2026-11-01t10:00:00z").is_some());
        let ancient = parse_time("0001-01-01T00:00:00Z").unwrap();
        assert_eq!(stored_time(ancient).year(), 1000);
        assert_eq!(parse_time("2026-11-01").unwrap().hour(), 0);
        assert!(parse_time("yesterday").is_none());
    }
}
