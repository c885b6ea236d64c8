//! The shared fixture: the stack's database image, an API in-process on a
//! loopback port with an admin token, and ways to start gateways against it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use mysql_async::prelude::Queryable as _;
use notebook_gateway::ServeSettings;
use notebook_gateway::client::ApiClient;
use stackctl::testbed;

pub const ADMIN_TOKEN: &str = "gateway-test-admin-token-0123456789";

pub struct Shared {
    pub db: testbed::Database,
    pub api: api::Background,
}

impl Shared {
    pub async fn start() -> anyhow::Result<Shared> {
        let db = testbed::Database::start("gateway").await?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let api = api::Background::start(listener, &db.api_url(), Some(ADMIN_TOKEN))?;
        wait_ready(&api.url).await?;
        Ok(Shared { db, api })
    }

    pub async fn stop(self) {
        self.api.stop().await;
    }

    /// A client of the shared API, as the gateway builds it.
    pub fn client(&self) -> ApiClient {
        ApiClient::new(&self.api.url, Some(ADMIN_TOKEN.to_owned())).expect("a client")
    }

    /// One number from the database itself, behind the API's back.
    pub async fn sql_number(&self, query: &str) -> anyhow::Result<i64> {
        let mut conn =
            mysql_async::Conn::new(mysql_async::Opts::from_url(&self.db.api_url())?).await?;
        let value: Option<i64> = conn.query_first(query).await?;
        conn.disconnect().await?;
        Ok(value.unwrap_or_default())
    }
}

/// Waits until the API at `url` is ready.
pub async fn wait_ready(url: &str) -> anyhow::Result<()> {
    for _ in 0..300 {
        if reqwest::get(format!("{url}/readyz"))
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    anyhow::bail!("the API at {url} did not become ready")
}

/// A gateway served in-process on a loopback port, until dropped.
pub struct Gateway {
    pub url: String,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Gateway {
    /// Serves a gateway for `client`, reusing data for `cache_for`.
    pub async fn start(
        client: ApiClient,
        cache_for: Duration,
        access_token: Option<&str>,
    ) -> anyhow::Result<Gateway> {
        Gateway::start_with_report(client, cache_for, access_token, None).await
    }

    /// The same, with `stackctl verify`'s report at `verify_report`.
    pub async fn start_with_report(
        client: ApiClient,
        cache_for: Duration,
        access_token: Option<&str>,
        verify_report: Option<PathBuf>,
    ) -> anyhow::Result<Gateway> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let settings = ServeSettings {
            bind: listener.local_addr()?,
            access_token: access_token.map(str::to_owned),
            cache_for,
            verify_report,
        };
        let url = format!("http://{}", settings.bind);
        let task = tokio::spawn(notebook_gateway::serve(
            listener,
            client,
            settings,
            std::future::pending(),
        ));
        Ok(Gateway { url, task })
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<reqwest::Response> {
        Ok(reqwest::get(format!("{}{path}", self.url)).await?)
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// For the tests' signatures.
pub type Fixture = Arc<Shared>;
