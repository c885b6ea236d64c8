//! The notebook gateway: the data scientist's Jupyter notebook of the guide's ShopDotCom example, as a
//! localhost client of the ShopDotCom API. On the host network it reaches
//! the API simply as `http://localhost:3000`, runs the analysis the notebook
//! would ([`analytics`]), and shows it as a one-shot report ([`report`]) or
//! a dashboard on 127.0.0.1:8888 ([`server`], [`dashboard`]). The
//! dashboard's Network page shows what the gateway's container sees of the
//! host ([`network`]) and the stack's status from `stackctl verify`
//! ([`verify_report`]).

pub mod analytics;
pub mod client;
pub mod dashboard;
mod format;
pub mod model;
pub mod network;
pub mod report;
pub mod server;
pub mod svg;
pub mod verify_report;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};

/// Where the API is and how to log in as admin (the orders need it).
#[derive(Debug, Clone, clap::Args)]
pub struct ApiArgs {
    /// The API's base URL. On the host network the API is local.
    #[arg(long, env = "GATEWAY_API_URL", default_value = "http://localhost:3000")]
    pub api_url: String,

    /// File holding the API's admin token (needed to read the orders).
    #[arg(long, env = "GATEWAY_ADMIN_TOKEN_FILE")]
    pub admin_token_file: Option<PathBuf>,

    /// The API's admin token itself, when no file is given.
    #[arg(long, env = "GATEWAY_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
}

impl ApiArgs {
    /// A client of the API these arguments name.
    pub fn client(&self) -> anyhow::Result<client::ApiClient> {
        let token = read_secret(
            self.admin_token_file.as_ref(),
            self.admin_token.as_deref(),
            "admin token",
        )?;
        client::ApiClient::new(&self.api_url, token)
    }
}

/// How `serve` runs.
#[derive(Debug, Clone)]
pub struct ServeSettings {
    pub bind: SocketAddr,
    /// Required when `bind` is not a loopback address.
    pub access_token: Option<String>,
    /// How long fetched data is reused.
    pub cache_for: Duration,
    /// Where `stackctl verify --format json` wrote its report, for the
    /// Network page; `None`: the page says how to make one.
    pub verify_report: Option<PathBuf>,
}

/// Refuses to serve beyond loopback without an access token: the guide's
/// notebook ran with its token disabled, and this gateway will not.
pub fn check_exposure(settings: &ServeSettings) -> anyhow::Result<()> {
    if !settings.bind.ip().is_loopback() && settings.access_token.is_none() {
        bail!(
            "refusing to serve on {} without an access token: that address is reachable from other machines. \
             Bind 127.0.0.1 (the default), or set GATEWAY_ACCESS_TOKEN_FILE",
            settings.bind
        );
    }
    Ok(())
}

/// Serves the dashboard on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    client: client::ApiClient,
    settings: ServeSettings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    check_exposure(&settings)?;
    let own = listener.local_addr()?;
    tracing::info!(address = %own, api = client.base(), "notebook gateway listening");
    let gateway = Arc::new(server::Gateway::new(
        client,
        settings.cache_for,
        settings.access_token,
        Some(own),
        settings.verify_report,
    ));
    axum::serve(listener, server::app(gateway))
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
}

/// A secret from its file (preferred) or its value; trailing newlines dropped.
pub fn read_secret(
    file: Option<&PathBuf>,
    value: Option<&str>,
    what: &str,
) -> anyhow::Result<Option<String>> {
    let secret = match (file, value) {
        (Some(path), _) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the {what} from {}", path.display()))?
                .trim_end_matches(['\n', '\r'])
                .to_owned(),
        ),
        (None, value) => value.map(str::to_owned),
    };
    if secret.as_deref() == Some("") {
        bail!("the {what} is empty; put a value in it or leave it unset");
    }
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serving_beyond_loopback_needs_a_token() {
        let settings = |bind: &str, token: Option<&str>| ServeSettings {
            bind: bind.parse().unwrap(),
            access_token: token.map(str::to_owned),
            cache_for: Duration::from_secs(5),
            verify_report: None,
        };
        assert!(check_exposure(&settings("127.0.0.1:8888", None)).is_ok());
        let err = check_exposure(&settings("0.0.0.0:8888", None))
            .unwrap_err()
            .to_string();
        assert!(err.contains("without an access token"), "{err}");
        assert!(check_exposure(&settings("0.0.0.0:8888", Some("t0ken"))).is_ok());
    }
}
