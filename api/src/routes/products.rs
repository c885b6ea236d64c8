//! The catalog: listing with filters and pagination, lookup by id and SKU,
//! and the admin routes that create, change and delete products. Deleting
//! marks the product deleted, so past orders keep their lines.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use mysql_async::prelude::Queryable as _;
use mysql_async::{Params, Row, Value};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::contract;
use crate::db::{decode, decode_one, is_duplicate};
use crate::error::{ApiError, ApiResult, FieldError, Problem};
use crate::extract::{Admin, ApiJson, ApiQuery, Id};
use crate::pagination;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_products, create_product))
        .routes(routes!(get_product, update_product, delete_product))
        .routes(routes!(get_product_by_sku))
}

/// A product of the catalog.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({"id": 1, "sku": "AUD-001", "name": "Studio Headphones", "category": "audio", "price_cents": 14999, "stock": 25, "created_at": "2026-11-01T09:00:00Z", "updated_at": "2026-11-01T09:00:00Z"}))]
pub struct Product {
    pub id: u64,
    pub sku: String,
    pub name: String,
    pub category: String,
    /// Price in cents.
    pub price_cents: i64,
    pub stock: u32,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: OffsetDateTime,
}

/// A row of `products`, as [`COLUMNS`] selects it.
#[derive(Debug, mysql_async::prelude::FromRow)]
struct ProductRow {
    id: u64,
    sku: String,
    name: String,
    category: String,
    price_cents: i64,
    stock: u32,
    created_at: time::PrimitiveDateTime,
    updated_at: time::PrimitiveDateTime,
}

const COLUMNS: &str = "id, sku, name, category, price_cents, stock, created_at, updated_at";

impl From<ProductRow> for Product {
    fn from(row: ProductRow) -> Self {
        Product {
            id: row.id,
            sku: row.sku,
            name: row.name,
            category: row.category,
            price_cents: row.price_cents,
            stock: row.stock,
            created_at: row.created_at.assume_utc(),
            updated_at: row.updated_at.assume_utc(),
        }
    }
}

/// One page of products.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ProductPage {
    pub items: Vec<Product>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
    /// Pass as `offset` for the next page (offset paging); absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_offset: Option<u64>,
}

/// Filters and paging of the product list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProductQuery {
    /// Rows per page (default 20).
    pub limit: Option<u32>,
    /// Continue after the page that returned this `next_cursor` (not with `offset`).
    pub cursor: Option<String>,
    /// Skip this many rows (not with `cursor`).
    pub offset: Option<u64>,
    /// Only this category.
    pub category: Option<String>,
    /// Only names containing this text.
    pub q: Option<String>,
    /// `true`: only products in stock; `false`: only those out of stock.
    pub in_stock: Option<bool>,
    /// Lowest price in cents (a range whose lowest price is above its highest matches nothing).
    pub min_price: Option<i64>,
    /// Highest price in cents.
    pub max_price: Option<i64>,
}

/// List products, filtered and paged.
#[utoipa::path(get, path = "/api/products", tag = "products", params(ProductQuery),
    responses(
        (status = 200, description = "A page of products", body = ProductPage),
        (status = 400, description = "A parameter of the wrong type, or both `cursor` and `offset`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A parameter out of its range", body = Problem, content_type = "application/problem+json"),
    ))]
async fn list_products(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<ProductQuery>,
) -> ApiResult<Json<ProductPage>> {
    let limit = pagination::limit(query.limit)?;
    if query.cursor.is_some() && query.offset.is_some() {
        return Err(ApiError::BadRequest(
            "use either `cursor` or `offset`, not both".into(),
        ));
    }
    let mut conditions = vec!["deleted_at IS NULL".to_owned()];
    let mut params: Vec<Value> = Vec::new();
    if let Some(cursor) = &query.cursor {
        conditions.push("id > ?".into());
        params.push(pagination::decode(cursor)?.into());
    }
    if let Some(offset) = query.offset
        && offset > contract::MAX_OFFSET
    {
        return Err(ApiError::invalid(
            "offset",
            format!(
                "{offset} is out of range; offsets go up to {}, use the cursor beyond",
                contract::MAX_OFFSET
            ),
        ));
    }
    if let Some(category) = &query.category {
        if !contract::text_ok(category, contract::MAX_CATEGORY) {
            return Err(ApiError::invalid(
                "category",
                format!(
                    "must be 1 to {} printable characters",
                    contract::MAX_CATEGORY
                ),
            ));
        }
        conditions.push("category = ?".into());
        params.push(category.clone().into());
    }
    if let Some(q) = &query.q {
        if q.chars().count() > contract::MAX_QUERY {
            return Err(ApiError::invalid(
                "q",
                format!(
                    "the search text is longer than {} characters",
                    contract::MAX_QUERY
                ),
            ));
        }
        conditions.push("name LIKE CONCAT('%', ?, '%')".into());
        params.push(escape_like(q).into());
    }
    match query.in_stock {
        Some(true) => conditions.push("stock > 0".into()),
        Some(false) => conditions.push("stock = 0".into()),
        None => {}
    }
    for (key, value, op) in [
        ("min_price", query.min_price, ">="),
        ("max_price", query.max_price, "<="),
    ] {
        if let Some(cents) = value {
            if !(0..=contract::MAX_PRICE_CENTS).contains(&cents) {
                return Err(ApiError::invalid(
                    key,
                    format!(
                        "{cents} is out of range; prices are 0 to {} cents",
                        contract::MAX_PRICE_CENTS
                    ),
                ));
            }
            conditions.push(format!("price_cents {op} ?"));
            params.push(cents.into());
        }
    }
    let offset = query.offset.unwrap_or(0);
    let sql = format!(
        "SELECT {COLUMNS} FROM products WHERE {} ORDER BY id LIMIT {} OFFSET {offset}",
        conditions.join(" AND "),
        limit + 1
    );
    let mut conn = state.db.conn().await?;
    let mut rows: Vec<ProductRow> = decode(conn.exec(sql, Params::Positional(params)).await?)?;
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let items: Vec<Product> = rows.into_iter().map(Product::from).collect();
    let (next_cursor, next_offset) = match (more, query.offset) {
        (false, _) => (None, None),
        (true, Some(_)) => (None, Some(offset + u64::from(limit))),
        (true, None) => (items.last().map(|p| pagination::encode(p.id)), None),
    };
    Ok(Json(ProductPage {
        items,
        next_cursor,
        next_offset,
    }))
}

/// Escapes `%`, `_` and `\` so search text matches literally.
fn escape_like(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

async fn find(state: &AppState, id: u64) -> ApiResult<Product> {
    let mut conn = state.db.conn().await?;
    let row: Option<Row> = conn
        .exec_first(
            format!("SELECT {COLUMNS} FROM products WHERE id = ? AND deleted_at IS NULL"),
            (id,),
        )
        .await?;
    decode_one::<ProductRow>(row)?
        .map(Product::from)
        .ok_or_else(|| ApiError::NotFound(format!("there is no product {id}")))
}

/// One product by id.
#[utoipa::path(get, path = "/api/products/{id}", tag = "products", params(("id" = u64, Path, description = "Product id")),
    responses(
        (status = 200, body = Product),
        (status = 400, description = "Not an id", body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn get_product(State(state): State<AppState>, Id(id): Id) -> ApiResult<Json<Product>> {
    find(&state, id).await.map(Json)
}

/// One product by SKU.
#[utoipa::path(get, path = "/api/products/sku/{sku}", tag = "products", params(("sku" = String, Path, description = "Stock keeping unit, e.g. AUD-001")),
    responses(
        (status = 200, body = Product),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn get_product_by_sku(
    State(state): State<AppState>,
    Path(sku): Path<String>,
) -> ApiResult<Json<Product>> {
    let mut conn = state.db.conn().await?;
    let row: Option<Row> = conn
        .exec_first(
            format!("SELECT {COLUMNS} FROM products WHERE sku = ? AND deleted_at IS NULL"),
            (&sku,),
        )
        .await?;
    decode_one::<ProductRow>(row)?
        .map(|r| Json(Product::from(r)))
        .ok_or_else(|| ApiError::NotFound(format!("there is no product with SKU `{sku}`")))
}

/// A product to add to the catalog.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"sku": "AUD-009", "name": "Studio Monitor", "category": "audio", "price_cents": 24999, "stock": 12}))]
pub struct NewProduct {
    /// 2 to 32 upper-case letters, digits and `-`, e.g. `AUD-009`.
    pub sku: String,
    pub name: String,
    pub category: String,
    #[serde(deserialize_with = "contract::whole::deserialize")]
    pub price_cents: i64,
    #[serde(deserialize_with = "contract::whole::deserialize")]
    pub stock: u32,
}

/// Changes to a product; absent (or null) fields stay as they are.
#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"price_cents": 19999, "stock": 40}))]
pub struct ProductChanges {
    pub sku: Option<String>,
    pub name: Option<String>,
    pub category: Option<String>,
    #[serde(default, deserialize_with = "contract::whole::option::deserialize")]
    pub price_cents: Option<i64>,
    #[serde(default, deserialize_with = "contract::whole::option::deserialize")]
    pub stock: Option<u32>,
}

/// Checks every present field; all problems are reported at once.
fn check_fields(changes: &ProductChanges) -> ApiResult<()> {
    let mut errors = Vec::new();
    let mut bad = |field: &str, message: String| {
        errors.push(FieldError {
            field: field.into(),
            message,
        })
    };
    if let Some(sku) = &changes.sku
        && !contract::sku_ok(sku)
    {
        bad(
            "sku",
            format!("`{sku}` is not a SKU; use 2 to 32 upper-case letters, digits and `-`"),
        );
    }
    for (field, value, max) in [
        ("name", &changes.name, contract::MAX_NAME),
        ("category", &changes.category, contract::MAX_CATEGORY),
    ] {
        if let Some(text) = value
            && !contract::text_ok(text, max)
        {
            bad(
                field,
                format!("must be 1 to {max} printable characters, not all blank"),
            );
        }
    }
    if let Some(price) = changes.price_cents
        && !(0..=contract::MAX_PRICE_CENTS).contains(&price)
    {
        bad(
            "price_cents",
            format!(
                "{price} is out of range; prices are 0 to {} cents",
                contract::MAX_PRICE_CENTS
            ),
        );
    }
    if let Some(stock) = changes.stock
        && stock > contract::MAX_STOCK
    {
        bad(
            "stock",
            format!(
                "{stock} is out of range; stock is 0 to {}",
                contract::MAX_STOCK
            ),
        );
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

fn duplicate_sku(sku: &str) -> ApiError {
    ApiError::Conflict(format!(
        "a product with SKU `{sku}` exists already; choose another SKU"
    ))
}

/// Add a product (admin).
#[utoipa::path(post, path = "/api/products", tag = "products", request_body = NewProduct, security(("admin" = [])),
    responses(
        (status = 201, body = Product, headers(("location" = String, description = "URL of the new product"))),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "No admin token configured", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "SKU taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
async fn create_product(
    State(state): State<AppState>,
    _admin: Admin,
    ApiJson(new): ApiJson<NewProduct>,
) -> ApiResult<(StatusCode, HeaderMap, Json<Product>)> {
    check_fields(&ProductChanges {
        sku: Some(new.sku.clone()),
        name: Some(new.name.clone()),
        category: Some(new.category.clone()),
        price_cents: Some(new.price_cents),
        stock: Some(new.stock),
    })?;
    let mut conn = state.db.conn().await?;
    let inserted = conn
        .exec_drop(
            "INSERT INTO products (sku, name, category, price_cents, stock) VALUES (?, ?, ?, ?, ?)",
            (
                &new.sku,
                new.name.trim(),
                new.category.trim(),
                new.price_cents,
                new.stock,
            ),
        )
        .await;
    match inserted {
        Err(err) if is_duplicate(&err) => return Err(duplicate_sku(&new.sku)),
        other => other?,
    }
    let id = conn.last_insert_id().unwrap_or_default();
    drop(conn);
    let product = find(&state, id).await?;
    let mut headers = HeaderMap::new();
    if let Ok(location) = HeaderValue::from_str(&format!("/api/products/{id}")) {
        headers.insert(header::LOCATION, location);
    }
    Ok((StatusCode::CREATED, headers, Json(product)))
}

/// Change a product (admin).
#[utoipa::path(patch, path = "/api/products/{id}", tag = "products", request_body = ProductChanges, security(("admin" = [])),
    params(("id" = u64, Path, description = "Product id")),
    responses(
        (status = 200, body = Product),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
async fn update_product(
    State(state): State<AppState>,
    _admin: Admin,
    Id(id): Id,
    ApiJson(changes): ApiJson<ProductChanges>,
) -> ApiResult<Json<Product>> {
    check_fields(&changes)?;
    let mut sets = Vec::new();
    let mut params: Vec<Value> = Vec::new();
    if let Some(sku) = &changes.sku {
        sets.push("sku = ?");
        params.push(sku.clone().into());
    }
    if let Some(name) = &changes.name {
        sets.push("name = ?");
        params.push(name.trim().into());
    }
    if let Some(category) = &changes.category {
        sets.push("category = ?");
        params.push(category.trim().into());
    }
    if let Some(price) = changes.price_cents {
        sets.push("price_cents = ?");
        params.push(price.into());
    }
    if let Some(stock) = changes.stock {
        sets.push("stock = ?");
        params.push(stock.into());
    }
    if !sets.is_empty() {
        params.push(id.into());
        let mut conn = state.db.conn().await?;
        let sql = format!(
            "UPDATE products SET {} WHERE id = ? AND deleted_at IS NULL",
            sets.join(", ")
        );
        match conn.exec_drop(sql, Params::Positional(params)).await {
            Err(err) if is_duplicate(&err) => {
                return Err(duplicate_sku(changes.sku.as_deref().unwrap_or_default()));
            }
            other => other?,
        }
    }
    find(&state, id).await.map(Json)
}

/// Delete a product (admin); its past order lines stay.
#[utoipa::path(delete, path = "/api/products/{id}", tag = "products", security(("admin" = [])),
    params(("id" = u64, Path, description = "Product id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn delete_product(
    State(state): State<AppState>,
    _admin: Admin,
    Id(id): Id,
) -> ApiResult<StatusCode> {
    let mut conn = state.db.conn().await?;
    conn.exec_drop(
        "UPDATE products SET deleted_at = UTC_TIMESTAMP(6) WHERE id = ? AND deleted_at IS NULL",
        (id,),
    )
    .await?;
    if conn.affected_rows() == 0 {
        return Err(ApiError::NotFound(format!("there is no product {id}")));
    }
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_match_literally() {
        assert_eq!(escape_like("50%_off\\"), "50\\%\\_off\\\\");
    }

    #[test]
    fn field_checks_report_every_bad_field() {
        let changes = ProductChanges {
            sku: Some("lower".into()),
            name: Some("  ".into()),
            price_cents: Some(-1),
            stock: Some(contract::MAX_STOCK + 1),
            ..ProductChanges::default()
        };
        let Err(ApiError::Validation { errors, .. }) = check_fields(&changes) else {
            panic!("accepted")
        };
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["sku", "name", "price_cents", "stock"]);
    }
}
