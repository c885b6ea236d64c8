//! Versioned schema migrations embedded in the binary, applied at start in
//! order, each once, under a database lock so two API processes starting
//! together do not race. An applied migration whose text changed is an error:
//! migrations are append-only.

use mysql_async::Conn;
use mysql_async::prelude::Queryable as _;
use sha2::{Digest, Sha256};

/// Every migration: version, name, SQL.
const MIGRATIONS: &[(u32, &str, &str)] = &[
    (
        1,
        "catalog_and_orders",
        include_str!("../../migrations/0001_catalog_and_orders.sql"),
    ),
    (
        2,
        "exact_idempotency_keys",
        include_str!("../../migrations/0002_exact_idempotency_keys.sql"),
    ),
];

/// Applies the migrations not yet applied; returns their versions.
pub async fn migrate(conn: &mut Conn) -> anyhow::Result<Vec<u32>> {
    let locked: Option<i64> = conn
        .query_first("SELECT GET_LOCK('shop_migrations', 30)")
        .await?;
    if locked != Some(1) {
        anyhow::bail!("another process holds the migration lock");
    }
    let result = apply_pending(conn).await;
    let _: Option<i64> = conn
        .query_first("SELECT RELEASE_LOCK('shop_migrations')")
        .await?;
    result
}

async fn apply_pending(conn: &mut Conn) -> anyhow::Result<Vec<u32>> {
    conn.query_drop(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version    INT UNSIGNED NOT NULL PRIMARY KEY,
             name       VARCHAR(100) NOT NULL,
             checksum   CHAR(64)     NOT NULL,
             applied_at DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
         ) ENGINE = InnoDB",
    )
    .await?;
    let applied: Vec<(u32, String)> = conn
        .query("SELECT version, checksum FROM schema_migrations")
        .await?;
    let mut newly = Vec::new();
    for (version, name, sql) in MIGRATIONS {
        let checksum = hex::encode(Sha256::digest(sql.as_bytes()));
        match applied.iter().find(|(v, _)| v == version) {
            Some((_, recorded)) if *recorded == checksum => continue,
            Some(_) => anyhow::bail!(
                "migration {version} ({name}) was changed after it was applied; add a new migration instead"
            ),
            None => {}
        }
        for statement in statements(sql) {
            conn.query_drop(statement)
                .await
                .map_err(|e| anyhow::anyhow!("migration {version} ({name}): {e}"))?;
        }
        conn.exec_drop(
            "INSERT INTO schema_migrations (version, name, checksum) VALUES (?, ?, ?)",
            (version, name, &checksum),
        )
        .await?;
        newly.push(*version);
    }
    Ok(newly)
}

/// Splits a migration into statements at `;` ending a line; `--` comments go.
fn statements(sql: &str) -> Vec<String> {
    let without_comments: String = sql
        .lines()
        .map(|line| line.split("--").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n");
    without_comments
        .split(";\n")
        .map(|s| s.trim().trim_end_matches(';').trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_split_into_their_statements() {
        let parts = statements(MIGRATIONS[0].2);
        assert_eq!(parts.len(), 3);
        assert!(
            parts
                .iter()
                .all(|s| s.starts_with("CREATE TABLE IF NOT EXISTS"))
        );
        assert!(!parts.iter().any(|s| s.contains("--")));
    }

    #[test]
    fn versions_are_unique_and_increasing() {
        assert!(MIGRATIONS.windows(2).all(|w| w[0].0 < w[1].0));
    }
}
