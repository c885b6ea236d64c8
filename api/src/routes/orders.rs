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

use crate::db::{is_duplicate, is_retryable};
use crate::error::{ApiError, ApiResult, FieldError, Problem, Shortage};
use crate::extract::{Admin, ApiJson, ApiQuery, Id, IdempotencyKey, MaybeAdmin};
use crate::pagination;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_orders, create_order))
        .routes(routes!(get_order))
}

/// Statuses an order can have.
pub const STATUSES: &[&str] = &["placed", "paid", "shipped", "cancelled"];
const MAX_ITEMS: usize = 50;
const MAX_QUANTITY: u32 = 1000;

/// An order to place.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOrder {
    pub customer_email: String,
    /// 1 to 50 lines, each product at most once.
    pub items: Vec<NewOrderItem>,
}

/// One line of an order to place.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOrderItem {
    pub product_id: u64,
    /// 1 to 1000.
    pub quantity: u32,
}

/// A placed order.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Order {
    pub id: u64,
    /// Masked (`c***@example.com`) unless the request carries the admin token.
    pub customer_email: String,
    /// One of `placed`, `paid`, `shipped`, `cancelled`.
    pub status: String,
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
    /// Rows per page, 1 to 100 (default 20).
    pub limit: Option<u32>,
    /// Continue after the page that returned this `next_cursor`.
    pub cursor: Option<String>,
    /// Orders at or after this time (RFC 3339, or a date for its start, UTC).
    pub from: Option<String>,
    /// Orders before this time (RFC 3339, or a date for its start, UTC).
    pub to: Option<String>,
    /// Only orders with this status.
    pub status: Option<String>,
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
    check_order(&order)?;
    let hash = request_hash(&order);
    let mut attempt = 0;
    let placed = loop {
        attempt += 1;
        match place(&state, &key, &hash, &order).await {
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

/// A product row locked for an order: id, price, stock, SKU, name, category.
type LockedProduct = (u64, i64, u32, String, String, String);

/// Runs the order transaction once.
async fn place(
    state: &AppState,
    key: &str,
    hash: &str,
    order: &NewOrder,
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
                order.customer_email.trim(),
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

    let mut ids: Vec<u64> = order.items.iter().map(|i| i.product_id).collect();
    ids.sort_unstable();
    let placeholders = vec!["?"; ids.len()].join(", ");
    // Locking in id order keeps concurrent orders from deadlocking.
    let stock: Vec<LockedProduct> = tx
        .exec(
            format!(
                "SELECT id, price_cents, stock, sku, name, category FROM products
                 WHERE id IN ({placeholders}) AND deleted_at IS NULL ORDER BY id FOR UPDATE"
            ),
            Params::Positional(ids.iter().map(|id| Value::from(*id)).collect()),
        )
        .await?;
    let locked = |id: u64| stock.iter().find(|row| row.0 == id);

    let unknown: Vec<FieldError> = order
        .items
        .iter()
        .enumerate()
        .filter(|(_, item)| locked(item.product_id).is_none())
        .map(|(i, item)| FieldError {
            field: format!("items[{i}].product_id"),
            message: format!("there is no product {}", item.product_id),
        })
        .collect();
    if !unknown.is_empty() {
        tx.rollback().await?;
        return Err(ApiError::Validation {
            detail: unknown
                .iter()
                .map(|e| e.message.clone())
                .collect::<Vec<_>>()
                .join("; "),
            errors: unknown,
        }
        .into());
    }
    let shortages: Vec<Shortage> = order
        .items
        .iter()
        .filter_map(|item| {
            let available = locked(item.product_id)?.2;
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
    let mut lines = Vec::with_capacity(order.items.len());
    for item in &order.items {
        let Some((_, price, _, sku, name, category)) = locked(item.product_id) else {
            continue;
        };
        let line_total = price.checked_mul(i64::from(item.quantity));
        let Some((line_total, new_total)) =
            line_total.and_then(|l| total.checked_add(l).map(|t| (l, t)))
        else {
            tx.rollback().await?;
            return Err(ApiError::invalid("items", "the order total is too large").into());
        };
        total = new_total;
        lines.push(OrderItem {
            product_id: item.product_id,
            sku: sku.clone(),
            name: name.clone(),
            category: category.clone(),
            quantity: item.quantity,
            unit_price_cents: *price,
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
        customer_email: order.customer_email.trim().to_owned(),
        status: "placed".to_owned(),
        total_cents: total,
        created_at,
        items: lines,
    }))
}

/// Checks the request before any database work; all problems at once.
fn check_order(order: &NewOrder) -> ApiResult<()> {
    let mut errors = Vec::new();
    if !plausible_email(order.customer_email.trim()) {
        errors.push(FieldError {
            field: "customer_email".into(),
            message: "is not an email address like name@example.com".into(),
        });
    }
    if order.items.is_empty() || order.items.len() > MAX_ITEMS {
        errors.push(FieldError {
            field: "items".into(),
            message: format!("an order has 1 to {MAX_ITEMS} lines"),
        });
    }
    for (i, item) in order.items.iter().enumerate() {
        if item.product_id == 0 {
            errors.push(FieldError {
                field: format!("items[{i}].product_id"),
                message: "product ids are positive".into(),
            });
        }
        if !(1..=MAX_QUANTITY).contains(&item.quantity) {
            errors.push(FieldError {
                field: format!("items[{i}].quantity"),
                message: format!(
                    "{} is out of range; order 1 to {MAX_QUANTITY}",
                    item.quantity
                ),
            });
        }
        if order.items[..i]
            .iter()
            .any(|earlier| earlier.product_id == item.product_id)
        {
            errors.push(FieldError {
                field: format!("items[{i}].product_id"),
                message: format!(
                    "product {} is listed twice; list each product once with its total quantity",
                    item.product_id
                ),
            });
        }
    }
    if errors.is_empty() {
        return Ok(());
    }
    Err(ApiError::Validation {
        detail: errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; "),
        errors,
    })
}

fn plausible_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    (3..=254).contains(&email.len())
        && !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && !domain.contains('@')
}

/// A hash of what the request asks for, to tell a replay from a different
/// order under the same key.
fn request_hash(order: &NewOrder) -> String {
    let mut items: Vec<(u64, u32)> = order
        .items
        .iter()
        .map(|i| (i.product_id, i.quantity))
        .collect();
    items.sort_unstable();
    let canonical =
        serde_json::json!({ "email": order.customer_email.trim().to_lowercase(), "items": items });
    hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
}

/// `customer@example.com` as `c***@example.com`.
fn mask_email(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => format!("{}***@{domain}", local.chars().next().unwrap_or('*')),
        None => "***".to_owned(),
    }
}

type OrderRow = (u64, String, String, i64, time::PrimitiveDateTime);
type ItemRow = (u64, u64, String, String, String, u32, i64);

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
    let orders: Vec<OrderRow> = conn
        .exec(
            format!("SELECT id, customer_email, status, total_cents, created_at FROM orders WHERE id IN ({placeholders})"),
            params(),
        )
        .await?;
    let items: Vec<ItemRow> = conn
        .exec(
            format!(
                "SELECT oi.order_id, oi.product_id, p.sku, p.name, p.category, oi.quantity, oi.unit_price_cents
                 FROM order_items oi JOIN products p ON p.id = oi.product_id
                 WHERE oi.order_id IN ({placeholders}) ORDER BY oi.order_id, oi.product_id"
            ),
            params(),
        )
        .await?;
    Ok(ids
        .iter()
        .filter_map(|id| orders.iter().find(|o| o.0 == *id))
        .map(|(id, email, status, total, created)| Order {
            id: *id,
            customer_email: if reveal_email {
                email.clone()
            } else {
                mask_email(email)
            },
            status: status.clone(),
            total_cents: *total,
            created_at: created.assume_utc(),
            items: items
                .iter()
                .filter(|item| item.0 == *id)
                .map(
                    |(_, product_id, sku, name, category, quantity, price)| OrderItem {
                        product_id: *product_id,
                        sku: sku.clone(),
                        name: name.clone(),
                        category: category.clone(),
                        quantity: *quantity,
                        unit_price_cents: *price,
                        line_total_cents: price * i64::from(*quantity),
                    },
                )
                .collect(),
        })
        .collect())
}

/// One order. The customer's address is masked unless the admin token is sent.
#[utoipa::path(get, path = "/api/orders/{id}", tag = "orders", params(("id" = u64, Path, description = "Order id")),
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
            let utc = at.checked_to_offset(time::UtcOffset::UTC).ok_or_else(|| {
                ApiError::invalid(
                    field,
                    format!("`{text}` is out of the range of dates this API keeps"),
                )
            })?;
            params.push(time::PrimitiveDateTime::new(utc.date(), utc.time()).into());
        }
    }
    if let Some(status) = &query.status {
        if !STATUSES.contains(&status.as_str()) {
            return Err(ApiError::invalid(
                "status",
                format!(
                    "`{status}` is not a status; use one of {}",
                    STATUSES.join(", ")
                ),
            ));
        }
        conditions.push("status = ?".into());
        params.push(status.clone().into());
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

/// RFC 3339, or a plain date meaning its start in UTC.
fn parse_time(text: &str) -> Option<OffsetDateTime> {
    if let Ok(at) = OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339) {
        return Some(at);
    }
    let date = time::Date::parse(
        text,
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .ok()?;
    Some(date.midnight().assume_utc())
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
                "items[1].product_id",
                "items[2].product_id"
            ]
        );
        assert!(check_order(&order("a@example.com", &[])).is_err());
        assert!(check_order(&order("a@example.com", &[(1, 1), (2, 3)])).is_ok());
    }

    #[test]
    fn the_request_hash_ignores_line_order_and_email_case() {
        assert_eq!(
            request_hash(&order("A@example.com", &[(1, 1), (2, 3)])),
            request_hash(&order("a@example.com", &[(2, 3), (1, 1)]))
        );
        assert_ne!(
            request_hash(&order("a@example.com", &[(1, 1)])),
            request_hash(&order("a@example.com", &[(1, 2)]))
        );
    }

    #[test]
    fn emails_are_masked_to_their_first_letter() {
        assert_eq!(mask_email("customer7@example.com"), "c***@example.com");
    }

    #[test]
    fn times_parse_as_rfc3339_or_dates() {
        assert!(parse_time("2026-11-01T10:00:00Z").is_some());
        assert_eq!(parse_time("2026-11-01").unwrap().hour(), 0);
        assert!(parse_time("yesterday").is_none());
    }
}
