//! The terminal's client of the ShopDotCom API, over `http://localhost:3000`
//! (on the host network the API is local). Short timeouts: a terminal user
//! waits for an answer, so an API that is down is said plainly and quickly.
//! Answers are read into the types below, with exactly the fields the
//! terminal shows: an answer without one of them (a renamed field, another
//! API) is said as such, never shown as `?`.

use std::time::Duration;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// A product of the catalog, as the terminal shows it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Product {
    pub id: u64,
    pub sku: String,
    pub name: String,
    pub category: String,
    pub price_cents: i64,
    pub stock: u32,
}

/// A page of products (offset paging).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ProductPage {
    pub items: Vec<Product>,
    /// Absent on the last page.
    #[serde(default)]
    pub next_offset: Option<u64>,
}

/// An order and its lines.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Order {
    pub id: u64,
    /// Masked by the API (`c***@example.com`): the terminal has no token.
    pub customer_email: String,
    pub status: OrderStatus,
    pub total_cents: i64,
    /// RFC 3339.
    pub created_at: String,
    pub items: Vec<OrderItem>,
}

/// The statuses the API gives orders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OrderStatus {
    Placed,
    Paid,
    Shipped,
    Cancelled,
}

impl OrderStatus {
    /// As the API writes it.
    pub fn name(self) -> &'static str {
        match self {
            OrderStatus::Placed => "placed",
            OrderStatus::Paid => "paid",
            OrderStatus::Shipped => "shipped",
            OrderStatus::Cancelled => "cancelled",
        }
    }
}

/// One line of an order.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct OrderItem {
    pub sku: String,
    pub name: String,
    pub quantity: u32,
    pub line_total_cents: i64,
}

/// Why an answer could not be had.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("the API at {url} is not reachable right now ({reason}); try again shortly")]
    Down { url: String, reason: String },
    #[error("{0}")]
    NotFound(String),
    #[error("the API refused: {0}")]
    Refused(String),
    #[error(
        "the API's answer to {path} is not what this terminal reads ({reason}); is the API a newer version?"
    )]
    Unexpected { path: String, reason: String },
}

/// A client of the API at one base URL.
#[derive(Debug, Clone)]
pub struct Api {
    base: String,
    http: reqwest::Client,
}

impl Api {
    pub fn new(base: &str) -> anyhow::Result<Api> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(1))
            .timeout(Duration::from_secs(5))
            .build()?;
        Ok(Api {
            base: base.trim_end_matches('/').to_owned(),
            http,
        })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// GET `path` read as `T`; a 404 becomes `NotFound(not_found)`.
    pub async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        not_found: impl FnOnce() -> String,
    ) -> Result<T, ApiError> {
        let value = self.get_value(path, not_found).await?;
        serde_json::from_value(value).map_err(|err| ApiError::Unexpected {
            path: path.to_owned(),
            reason: err.to_string(),
        })
    }

    /// GET `path` as JSON; a 404 becomes `NotFound(not_found)`.
    async fn get_value(
        &self,
        path: &str,
        not_found: impl FnOnce() -> String,
    ) -> Result<Value, ApiError> {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .map_err(|err| ApiError::Down {
                url: self.base.clone(),
                reason: if err.is_connect() {
                    "connection refused".into()
                } else if err.is_timeout() {
                    "no answer in time".into()
                } else {
                    err.to_string()
                },
            })?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or_default();
        match status.as_u16() {
            200 => Ok(body),
            404 => Err(ApiError::NotFound(not_found())),
            500.. => Err(ApiError::Down {
                url: self.base.clone(),
                reason: format!("it answered {status}"),
            }),
            _ => Err(ApiError::Refused(
                body["detail"].as_str().unwrap_or("no detail").to_owned(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_answer_without_a_field_the_terminal_shows_is_said_not_printed_as_a_question_mark() {
        // A tiny server answering a product whose `name` was renamed.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = [0u8; 2048];
            let _ = socket.read(&mut request).await;
            let body = r#"{"id":1,"sku":"AUD-001","title":"Headphones","category":"audio","price_cents":100,"stock":3}"#;
            let answer = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            socket.write_all(answer.as_bytes()).await.unwrap();
        });
        let api = Api::new(&format!("http://{addr}")).unwrap();
        let err = api
            .get::<Product>("/api/products/1", || "none".into())
            .await
            .unwrap_err();
        let said = err.to_string();
        assert!(said.contains("missing field `name`"), "{said}");
        assert!(said.contains("/api/products/1"), "{said}");
    }
}
