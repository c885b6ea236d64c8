//! The terminal's client of the ShopDotCom API, over `http://localhost:3000`
//! (on the host network the API is local). Short timeouts: a terminal user
//! waits for an answer, so an API that is down is said plainly and quickly.

use std::time::Duration;

use serde_json::Value;

/// Why an answer could not be had.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("the API at {url} is not reachable right now ({reason}); try again shortly")]
    Down { url: String, reason: String },
    #[error("{0}")]
    NotFound(String),
    #[error("the API refused: {0}")]
    Refused(String),
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

    /// GET `path` as JSON; a 404 becomes `NotFound(not_found)`.
    pub async fn get(
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
