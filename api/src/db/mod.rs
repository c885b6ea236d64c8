//! The database: a lazily connecting pool (so the API starts while the
//! database is down), and a background task that applies the migrations and
//! the seed as soon as the database answers. Until it has, data routes
//! answer 503 and `/readyz` says why.

pub mod migrate;
pub mod seed;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use mysql_async::prelude::Queryable as _;
use mysql_async::{Conn, Pool};

use crate::error::{ApiError, ApiResult};

/// The pool and the state of the schema.
#[derive(Clone)]
pub struct Database {
    pool: Pool,
    schema: Arc<Mutex<SchemaState>>,
}

/// Where the schema stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemaState {
    /// Not applied yet; the reason the last attempt failed, if any.
    Pending(Option<String>),
    Ready,
}

impl Database {
    /// A pool of at most `pool_max` connections to `opts`; no connection is
    /// made until one is needed.
    pub fn new(opts: mysql_async::Opts, pool_max: usize) -> Self {
        let constraints =
            mysql_async::PoolConstraints::new(0, pool_max.max(1)).unwrap_or_else(|| {
                mysql_async::PoolConstraints::new(0, 1).expect("0..=1 is a valid range")
            });
        let pool = mysql_async::PoolOpts::default()
            .with_constraints(constraints)
            .with_inactive_connection_ttl(Duration::from_secs(60))
            // No reset when a connection goes back to the pool: it would drop
            // the prepared-statement cache and cost a round trip per request.
            // The API changes no session state beyond `init`, and mysql_async
            // rolls back an abandoned transaction by itself.
            .with_reset_connection(false);
        let opts = mysql_async::OptsBuilder::from_opts(opts)
            .pool_opts(pool)
            .stmt_cache_size(64)
            .tcp_nodelay(true)
            .init(vec!["SET time_zone = '+00:00'"]);
        Database {
            pool: Pool::new(opts),
            schema: Arc::new(Mutex::new(SchemaState::Pending(None))),
        }
    }

    /// A connection for a request; 503 while the schema is not ready or the
    /// database does not answer.
    pub async fn conn(&self) -> ApiResult<Conn> {
        if let SchemaState::Pending(reason) = self.schema_state() {
            return Err(ApiError::Unavailable(format!(
                "schema not ready: {}",
                reason.unwrap_or_else(|| "migrations are running".into())
            )));
        }
        Ok(self.pool.get_conn().await?)
    }

    pub fn schema_state(&self) -> SchemaState {
        self.schema
            .lock()
            .map(|s| s.clone())
            .unwrap_or(SchemaState::Pending(None))
    }

    fn set_schema_state(&self, state: SchemaState) {
        if let Ok(mut current) = self.schema.lock() {
            *current = state;
        }
    }

    /// One round trip, bounded in time.
    pub async fn ping(&self) -> Result<(), String> {
        let round_trip = async {
            let mut conn = self.pool.get_conn().await?;
            conn.query_drop("SELECT 1").await
        };
        match tokio::time::timeout(Duration::from_secs(2), round_trip).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(err)) => Err(err.to_string()),
            Err(_) => Err("no answer within 2 s".to_owned()),
        }
    }

    /// Connections in use by requests and idle in the pool.
    pub fn pool_usage(&self) -> (usize, usize) {
        let metrics = self.pool.metrics();
        let load =
            |a: &std::sync::atomic::AtomicUsize| a.load(std::sync::atomic::Ordering::Relaxed);
        (
            load(&metrics.connections_in_use),
            load(&metrics.connections_in_pool),
        )
    }

    /// Applies migrations (and the seed) in the background, retrying with
    /// backoff until the database answers.
    pub fn prepare_in_background(&self, seed: bool) -> tokio::task::JoinHandle<()> {
        let db = self.clone();
        tokio::spawn(async move {
            let mut delay = Duration::from_millis(250);
            loop {
                match db.prepare(seed).await {
                    Ok(()) => {
                        db.set_schema_state(SchemaState::Ready);
                        tracing::info!("database schema ready");
                        return;
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, retry_in = ?delay, "database not ready");
                        db.set_schema_state(SchemaState::Pending(Some(err)));
                        tokio::time::sleep(delay).await;
                        delay = (delay * 2).min(Duration::from_secs(5));
                    }
                }
            }
        })
    }

    async fn prepare(&self, seed: bool) -> Result<(), String> {
        let mut conn = self
            .pool
            .get_conn()
            .await
            .map_err(|e| format!("cannot connect: {e}"))?;
        let applied = migrate::migrate(&mut conn)
            .await
            .map_err(|e| format!("migration failed: {e:#}"))?;
        if !applied.is_empty() {
            tracing::info!(?applied, "migrations applied");
        }
        if seed {
            let seeded = seed::seed_if_empty(&mut conn)
                .await
                .map_err(|e| format!("seeding failed: {e}"))?;
            if seeded {
                tracing::info!("empty database seeded with the demo catalog and sample orders");
            }
        }
        Ok(())
    }

    /// Closes every connection (at shutdown).
    pub async fn close(self) {
        if let Err(err) = self.pool.disconnect().await {
            tracing::warn!(error = %err, "closing the database pool");
        }
    }
}

/// Rows as `T`; a row that does not fit (a column of another type, a value
/// out of range) is an internal error naming why, never a panic.
pub fn decode<T: mysql_async::prelude::FromRow>(rows: Vec<mysql_async::Row>) -> ApiResult<Vec<T>> {
    rows.into_iter()
        .map(|row| {
            T::from_row_opt(row).map_err(|err| {
                ApiError::Internal(format!(
                    "a row does not decode as {}: {err}",
                    std::any::type_name::<T>()
                ))
            })
        })
        .collect()
}

/// One optional row as `T` (see [`decode`]).
pub fn decode_one<T: mysql_async::prelude::FromRow>(
    row: Option<mysql_async::Row>,
) -> ApiResult<Option<T>> {
    Ok(decode(row.into_iter().collect())?.pop())
}

/// True for a deadlock: the transaction may be retried at once. (A lock
/// wait timeout is not retried: it already waited long.)
pub fn is_retryable(err: &mysql_async::Error) -> bool {
    matches!(err, mysql_async::Error::Server(e) if e.code == 1213)
}

/// True for a duplicate key.
pub fn is_duplicate(err: &mysql_async::Error) -> bool {
    matches!(err, mysql_async::Error::Server(e) if e.code == 1062)
}
