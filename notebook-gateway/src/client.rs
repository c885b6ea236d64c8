//! The API client the notebook would use: plain HTTP to the API at
//! `http://localhost:3000` (on the host network the API is simply local),
//! paged fetching, timeouts, and retries with backoff when the API refuses
//! connections or answers 5xx. Every error says what failed and where.

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::model::{Order, Page, Product};

/// How to reach the API.
#[derive(Clone)]
pub struct ApiClient {
    base: String,
    http: reqwest::Client,
    admin_token: Option<String>,
    attempts: u32,
    backoff: Duration,
}

/// Why a request to the API failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach the API at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("the API answered {status} to GET {url}: {detail}")]
    Status {
        url: String,
        status: u16,
        detail: String,
    },
    #[error("the API's answer to GET {url} is not what the gateway expects: {reason}")]
    Unexpected { url: String, reason: String },
    #[error(
        "reading orders needs the API's admin token; set GATEWAY_ADMIN_TOKEN_FILE (or GATEWAY_ADMIN_TOKEN)"
    )]
    NoAdminToken,
}

impl ClientError {
    /// True when the API was not there (as opposed to answering wrongly).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, ClientError::Unreachable { .. })
            || matches!(self, ClientError::Status { status, .. } if *status >= 500)
    }
}

/// Whether the API answers right now, and how.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiStatus {
    /// The URL the gateway uses.
    pub url: String,
    pub reachable: bool,
    /// `ready`, `not-ready`, or what went wrong.
    pub detail: String,
}

impl ApiClient {
    /// A client of the API at `base` (e.g. `http://localhost:3000`).
    pub fn new(base: &str, admin_token: Option<String>) -> anyhow::Result<ApiClient> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(10))
            .pool_idle_timeout(Duration::from_secs(30))
            .build()?;
        Ok(ApiClient {
            base: base.trim_end_matches('/').to_owned(),
            http,
            admin_token,
            attempts: 3,
            backoff: Duration::from_millis(250),
        })
    }

    /// The same client with another retry policy.
    pub fn with_retries(mut self, attempts: u32, backoff: Duration) -> ApiClient {
        self.attempts = attempts.max(1);
        self.backoff = backoff;
        self
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// Every product, following the cursors.
    pub async fn products(&self) -> Result<Vec<Product>, ClientError> {
        self.all("/api/products?limit=100", false).await
    }

    /// Every order (admin), following the cursors.
    pub async fn orders(&self) -> Result<Vec<Order>, ClientError> {
        if self.admin_token.is_none() {
            return Err(ClientError::NoAdminToken);
        }
        self.all("/api/orders?limit=100", true).await
    }

    /// One try at `/readyz`, bounded by a short timeout.
    pub async fn status(&self) -> ApiStatus {
        let url = format!("{}/readyz", self.base);
        let (reachable, detail) = match self
            .http
            .get(&url)
            .timeout(Duration::from_secs(2))
            .send()
            .await
        {
            Ok(response) if response.status().is_success() => (true, "ready".to_owned()),
            Ok(response) => {
                let status = response.status().as_u16();
                let body: serde_json::Value = response.json().await.unwrap_or_default();
                let reason = body["reason"]
                    .as_str()
                    .unwrap_or("no reason given")
                    .to_owned();
                (true, format!("not ready ({status}): {reason}"))
            }
            Err(err) => (false, describe(&err)),
        };
        ApiStatus {
            url: self.base.clone(),
            reachable,
            detail,
        }
    }

    async fn all<T: DeserializeOwned>(
        &self,
        first: &str,
        admin: bool,
    ) -> Result<Vec<T>, ClientError> {
        let mut items = Vec::new();
        let mut path = first.to_owned();
        // A bound on pages, so a misbehaving server cannot keep the client paging forever.
        for _ in 0..10_000 {
            let page: Page<T> = self.get(&path, admin).await?;
            items.extend(page.items);
            match page.next_cursor {
                Some(cursor) => path = format!("{first}&cursor={cursor}"),
                None => return Ok(items),
            }
        }
        Err(ClientError::Unexpected {
            url: format!("{}{first}", self.base),
            reason: "more than 10000 pages".into(),
        })
    }

    /// GET with retries on refused connections, timeouts and 5xx.
    async fn get<T: DeserializeOwned>(&self, path: &str, admin: bool) -> Result<T, ClientError> {
        let url = format!("{}{path}", self.base);
        let mut delay = self.backoff;
        let mut attempt = 1;
        loop {
            let mut request = self.http.get(&url);
            if admin && let Some(token) = &self.admin_token {
                request = request.bearer_auth(token);
            }
            let result = match request.send().await {
                Err(err) => Err(ClientError::Unreachable {
                    url: url.clone(),
                    reason: describe(&err),
                }),
                Ok(response) if response.status().is_success() => {
                    return response
                        .json()
                        .await
                        .map_err(|err| ClientError::Unexpected {
                            url: url.clone(),
                            reason: err.to_string(),
                        });
                }
                Ok(response) => {
                    let status = response.status().as_u16();
                    let body: serde_json::Value = response.json().await.unwrap_or_default();
                    Err(ClientError::Status {
                        url: url.clone(),
                        status,
                        detail: body["detail"].as_str().unwrap_or("no detail").to_owned(),
                    })
                }
            };
            match result {
                Err(err) if err.is_unreachable() && attempt < self.attempts => {
                    tracing::debug!(%err, attempt, "retrying");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }
}

/// reqwest's error, said plainly.
fn describe(err: &reqwest::Error) -> String {
    if err.is_connect() {
        "connection refused (is the API running?)".to_owned()
    } else if err.is_timeout() {
        "no answer in time".to_owned()
    } else {
        err.to_string()
    }
}
