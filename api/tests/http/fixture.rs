//! The shared fixture: a database container from the stack's own image, an
//! API served in-process on a loopback port, and an HTTP client with helpers
//! for the requests the tests make again and again.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use mysql_async::prelude::Queryable as _;
use serde_json::{Value, json};
use stackctl::testbed;

/// The admin token the shared API runs with.
pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789abcdef";

/// The database and API every test shares.
pub struct Shared {
    pub db: testbed::Database,
    pub api: RunningApi,
}

impl Shared {
    pub async fn start() -> anyhow::Result<Shared> {
        let db = testbed::Database::start("api").await?;
        let api = RunningApi::start(&db.api_url(), Some(ADMIN_TOKEN)).await?;
        api.client().wait_ready(Duration::from_secs(60)).await?;
        Ok(Shared { db, api })
    }

    pub fn client(&self) -> Client {
        self.api.client()
    }

    /// A direct connection with the API's account, to look behind the API.
    pub async fn sql(&self) -> anyhow::Result<mysql_async::Conn> {
        Ok(mysql_async::Conn::new(mysql_async::Opts::from_url(&self.db.api_url())?).await?)
    }

    pub async fn stop(self) {
        self.api.stop().await;
    }
}

/// An API served in-process on a loopback port of its own.
pub struct RunningApi {
    pub base: String,
    pub admin_token: Option<String>,
    server: api::Background,
}

impl RunningApi {
    pub async fn start(
        database_url: &str,
        admin_token: Option<&str>,
    ) -> anyhow::Result<RunningApi> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let server = api::Background::start(listener, database_url, admin_token)?;
        Ok(RunningApi {
            base: server.url.clone(),
            admin_token: admin_token.map(str::to_owned),
            server,
        })
    }

    pub fn client(&self) -> Client {
        Client {
            base: self.base.clone(),
            admin_token: self.admin_token.clone(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("an HTTP client"),
        }
    }

    /// Stops the API and waits for `run` to return.
    pub async fn stop(self) {
        self.server.stop().await;
    }
}

/// An HTTP client of one API, with the admin token at hand.
#[derive(Clone)]
pub struct Client {
    pub base: String,
    pub admin_token: Option<String>,
    pub http: reqwest::Client,
}

static UNIQUE: AtomicU32 = AtomicU32::new(1);

/// A name no other test uses: `PREFIX-<pid>-<n>` (upper case, SKU-safe).
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}-{}",
        std::process::id() % 100_000,
        UNIQUE.fetch_add(1, Ordering::Relaxed)
    )
}

impl Client {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<reqwest::Response> {
        Ok(self.http.get(self.url(path)).send().await?)
    }

    /// GET with the admin token.
    pub async fn get_admin(&self, path: &str) -> anyhow::Result<reqwest::Response> {
        Ok(self.admin(self.http.get(self.url(path))).send().await?)
    }

    pub fn admin(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        request.bearer_auth(self.admin_token.as_deref().unwrap_or_default())
    }

    /// GET and parse JSON, expecting `status`.
    pub async fn get_json(&self, path: &str, status: u16) -> anyhow::Result<Value> {
        expect_json(self.get(path).await?, status).await
    }

    /// Waits until `/readyz` answers 200.
    pub async fn wait_ready(&self, limit: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + limit;
        loop {
            let last = match self.get("/readyz").await {
                Ok(r) if r.status() == 200 => return Ok(()),
                Ok(r) => r.text().await.unwrap_or_default(),
                Err(e) => e.to_string(),
            };
            if Instant::now() > deadline {
                bail!("the API was not ready within {limit:?}: {last}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Creates a product of the test's own (admin) and returns it.
    pub async fn new_product(
        &self,
        category: &str,
        price_cents: i64,
        stock: u32,
    ) -> anyhow::Result<Value> {
        let body = json!({
            "sku": unique("T"),
            "name": unique("Test product"),
            "category": category,
            "price_cents": price_cents,
            "stock": stock,
        });
        let response = self
            .admin(self.http.post(self.url("/api/products")))
            .json(&body)
            .send()
            .await?;
        expect_json(response, 201).await
    }

    /// Places an order; returns the raw response.
    pub async fn order(&self, key: &str, body: &Value) -> anyhow::Result<reqwest::Response> {
        Ok(self
            .http
            .post(self.url("/api/orders"))
            .header("idempotency-key", key)
            .json(body)
            .send()
            .await?)
    }

    /// A product's stock as the API reports it.
    pub async fn stock(&self, product_id: u64) -> anyhow::Result<u64> {
        let product = self
            .get_json(&format!("/api/products/{product_id}"), 200)
            .await?;
        product["stock"].as_u64().context("no stock in the product")
    }
}

/// Checks the status and parses the JSON body (problem bodies included).
pub async fn expect_json(response: reqwest::Response, status: u16) -> anyhow::Result<Value> {
    let actual = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let text = response.text().await?;
    if actual != status {
        bail!("expected status {status}, got {actual}: {text}");
    }
    if actual >= 400 && content_type != "application/problem+json" {
        bail!(
            "an error answered with content type `{content_type}`, not application/problem+json: {text}"
        );
    }
    serde_json::from_str(&text).with_context(|| format!("the body is not JSON: {text}"))
}

/// Checks a problem body: status and the stable `type`.
pub async fn expect_problem(
    response: reqwest::Response,
    status: u16,
    kind: &str,
) -> anyhow::Result<Value> {
    let problem = expect_json(response, status).await?;
    let expected = format!("urn:shopdotcom:problem:{kind}");
    if problem["type"] != expected.as_str() || problem["status"] != status {
        bail!("expected a `{kind}` problem with status {status}, got {problem}");
    }
    Ok(problem)
}

/// Counts the orders of one customer, behind the API's back.
pub async fn orders_of(shared: &Shared, email: &str) -> anyhow::Result<u64> {
    let mut conn = shared.sql().await?;
    let count: Option<u64> = conn
        .exec_first(
            "SELECT COUNT(*) FROM orders WHERE customer_email = ?",
            (email,),
        )
        .await?;
    conn.disconnect().await?;
    Ok(count.unwrap_or_default())
}
