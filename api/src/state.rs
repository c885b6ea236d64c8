//! The state every handler shares.

use std::sync::Arc;
use std::time::Duration;

use crate::config::Secret;
use crate::db::Database;
use crate::metrics::Metrics;

#[derive(Clone)]
pub struct AppState {
    pub db: Database,
    /// `None` disables the admin routes (403).
    pub admin_token: Option<Arc<Secret>>,
    pub metrics: Arc<Metrics>,
    /// How long a request may take before it is abandoned with a 503.
    pub request_timeout: Duration,
}
