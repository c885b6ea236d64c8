//! `notebook-gateway serve`: the dashboard and a JSON endpoint per analysis,
//! on 127.0.0.1:8888 by default. Data is fetched from the API at most once
//! per cache period (requests in between share it); when the API does not
//! answer, the gateway keeps serving the last data it had, says so, and
//! picks up again when the API returns.
//!
//! The Network page (`/network`, and `/api/network` in JSON) is looked at
//! afresh on every request and does not need the API. It shows the host's
//! sockets, so the access token guards it like every page.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{RawQuery, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use serde_json::json;
use time::format_description::well_known::Rfc3339;

use crate::analytics::{self, Analysis};
use crate::client::{ApiClient, ApiStatus};
use crate::dashboard;
use crate::network::{self, Known};

/// What the server needs.
pub struct Gateway {
    client: ApiClient,
    analytics: analytics::Settings,
    cache_for: Duration,
    access_token: Option<String>,
    /// The ports the Network page can name from the configuration.
    known: Known,
    /// Where `stackctl verify`'s JSON report is, when one is configured.
    verify_report: Option<PathBuf>,
    latest: tokio::sync::Mutex<Snapshot>,
}

/// The newest data and what the API said when last asked.
#[derive(Clone)]
struct Snapshot {
    analysis: Option<Arc<Analysis>>,
    status: ApiStatus,
    /// When the API was last asked; `None` before the first time.
    checked: Option<Instant>,
    /// Whether `analysis` came from that last ask.
    fresh: bool,
}

impl Gateway {
    /// A gateway for `client`, serving from `own` (named on the Network page).
    pub fn new(
        client: ApiClient,
        cache_for: Duration,
        access_token: Option<String>,
        own: Option<SocketAddr>,
        verify_report: Option<PathBuf>,
    ) -> Gateway {
        let known = Known {
            api_url: client.base().to_owned(),
            own,
        };
        let status = ApiStatus {
            url: client.base().to_owned(),
            reachable: false,
            detail: "not asked yet".to_owned(),
        };
        Gateway {
            client,
            analytics: analytics::Settings::default(),
            cache_for,
            access_token,
            known,
            verify_report,
            latest: tokio::sync::Mutex::new(Snapshot {
                analysis: None,
                status,
                checked: None,
                fresh: false,
            }),
        }
    }

    /// The newest snapshot, asking the API again once the cache period is over.
    async fn snapshot(&self) -> Snapshot {
        let mut latest = self.latest.lock().await;
        if latest
            .checked
            .is_some_and(|at| at.elapsed() < self.cache_for)
        {
            return latest.clone();
        }
        let status = self.client.status().await;
        let fetched = if status.reachable {
            match tokio::try_join!(self.client.products(), self.client.orders()) {
                Ok((products, orders)) => Ok(Arc::new(analytics::analyse(
                    &products,
                    &orders,
                    time::OffsetDateTime::now_utc(),
                    self.analytics,
                ))),
                Err(err) => Err(err.to_string()),
            }
        } else {
            Err(status.detail.clone())
        };
        latest.checked = Some(Instant::now());
        match fetched {
            Ok(analysis) => {
                latest.analysis = Some(analysis);
                latest.status = status;
                latest.fresh = true;
            }
            Err(why) => {
                tracing::warn!(api = %status.url, %why, "no fresh data from the API");
                latest.status = ApiStatus {
                    detail: why,
                    ..status
                };
                latest.fresh = false;
            }
        }
        latest.clone()
    }

    /// The Network page's facts, looked at now.
    async fn network(&self) -> Result<network::NetworkView, Response> {
        let known = self.known.clone();
        let report = self.verify_report.clone();
        tokio::task::spawn_blocking(move || network::look(&known, report.as_deref()))
            .await
            .map_err(|err| {
                tracing::error!(%err, "looking at the network failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "looking at the network failed; the gateway's log says why\n",
                )
                    .into_response()
            })
    }

    /// The access token as this request's query carried it, for the page's
    /// links; `None` when the gateway has no token (nothing to carry).
    fn token_in<'r>(&self, request_query: Option<&'r str>) -> Option<&'r str> {
        self.access_token.as_ref()?;
        query_token(request_query)
    }
}

/// The value of `token=` in a query string.
fn query_token(query: Option<&str>) -> Option<&str> {
    query?
        .split('&')
        .find_map(|pair| pair.strip_prefix("token="))
}

/// The gateway's routes.
pub fn app(gateway: Arc<Gateway>) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/api/analysis", get(|g| part(g, |a| json!(a))))
        .route("/api/summary", get(|g| part(g, |a| json!(a.summary))))
        .route(
            "/api/revenue/categories",
            get(|g| part(g, |a| json!(a.revenue_by_category))),
        )
        .route(
            "/api/revenue/products",
            get(|g| part(g, |a| json!(a.revenue_by_product))),
        )
        .route(
            "/api/top-sellers",
            get(|g| part(g, |a| json!(a.top_sellers))),
        )
        .route(
            "/api/orders-per-day",
            get(|g| part(g, |a| json!(a.orders_per_day))),
        )
        .route("/api/low-stock", get(|g| part(g, |a| json!(a.low_stock))))
        .route("/api/inventory", get(|g| part(g, |a| json!(a.inventory))))
        .route(
            "/api/stock-levels",
            get(|g| part(g, |a| json!(a.stock_levels))),
        )
        .route("/api/status", get(status))
        .route("/network", get(network_page))
        .route("/api/network", get(network_json))
        .layer(axum::middleware::from_fn_with_state(
            gateway.clone(),
            require_token,
        ))
        .route(
            "/healthz",
            get(|| async { axum::Json(json!({"status": "ok"})) }),
        )
        .with_state(gateway)
}

async fn page(State(gateway): State<Arc<Gateway>>, RawQuery(query): RawQuery) -> Html<String> {
    let snapshot = gateway.snapshot().await;
    Html(dashboard::render(
        snapshot.analysis.as_deref(),
        &snapshot.status,
        snapshot.fresh,
        gateway.token_in(query.as_deref()),
    ))
}

async fn network_page(State(gateway): State<Arc<Gateway>>, RawQuery(query): RawQuery) -> Response {
    match gateway.network().await {
        Ok(view) => Html(dashboard::render_network(
            &view,
            gateway.token_in(query.as_deref()),
        ))
        .into_response(),
        Err(response) => response,
    }
}

async fn network_json(State(gateway): State<Arc<Gateway>>) -> Response {
    match gateway.network().await {
        Ok(view) => axum::Json(view).into_response(),
        Err(response) => response,
    }
}

/// One part of the analysis as JSON; 503 while there is no data at all.
async fn part(
    State(gateway): State<Arc<Gateway>>,
    select: fn(&Analysis) -> serde_json::Value,
) -> Response {
    let snapshot = gateway.snapshot().await;
    match &snapshot.analysis {
        Some(analysis) => {
            let fresh = if snapshot.fresh { "true" } else { "false" };
            ([("x-data-fresh", fresh)], axum::Json(select(analysis))).into_response()
        }
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(
                json!({"error": "no data yet: the API has not answered", "api": snapshot.status}),
            ),
        )
            .into_response(),
    }
}

async fn status(State(gateway): State<Arc<Gateway>>) -> axum::Json<serde_json::Value> {
    let snapshot = gateway.snapshot().await;
    axum::Json(json!({
        "api": snapshot.status,
        "fresh": snapshot.fresh,
        // RFC 3339, as scripts parse it (`Display` writes `+00:00:00`).
        "data_as_of": snapshot
            .analysis
            .as_ref()
            .and_then(|a| a.generated_at.format(&Rfc3339).ok()),
    }))
}

/// With an access token configured, every route but `/healthz` needs it, as
/// `Authorization: Bearer TOKEN` or `?token=TOKEN`.
async fn require_token(
    State(gateway): State<Arc<Gateway>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(expected) = &gateway.access_token else {
        return next.run(request).await;
    };
    let from_header = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    let from_query = query_token(request.uri().query()).map(str::to_owned);
    let given = from_header.or(from_query).unwrap_or_default();
    if servicekit::secret::same(expected.as_bytes(), given.as_bytes()) {
        return next.run(request).await;
    }
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer")],
        "this gateway needs its access token: send `Authorization: Bearer TOKEN` or add `?token=TOKEN`\n",
    )
        .into_response()
}
