//! Configuration by flag and environment, and the secrets it points at,
//! resolved once at start. Secrets never appear in `Debug` output or logs.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;

/// The API's settings; every flag also reads an `API_*` environment variable.
#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// Address to listen on. The API is meant for front-ends on the LAN, so the
    /// default is every interface; use 127.0.0.1:3000 to keep it local.
    #[arg(long, env = "API_BIND", default_value = "0.0.0.0:3000")]
    pub bind: SocketAddr,

    /// MariaDB/MySQL URL; a password in it is better given by
    /// --database-password-file.
    #[arg(
        long,
        env = "API_DATABASE_URL",
        default_value = "mysql://shop_api@127.0.0.1:3306/shop"
    )]
    pub database_url: String,

    /// File holding the database password (a Compose secret).
    #[arg(long, env = "API_DATABASE_PASSWORD_FILE")]
    pub database_password_file: Option<PathBuf>,

    /// The database password itself, when no file is given.
    #[arg(long, env = "API_DATABASE_PASSWORD", hide_env_values = true)]
    pub database_password: Option<Secret>,

    /// Most database connections held at once.
    #[arg(long, env = "API_POOL_MAX", default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=512))]
    pub pool_max: u16,

    /// File holding the admin bearer token. Without a token the admin routes
    /// answer 403.
    #[arg(long, env = "API_ADMIN_TOKEN_FILE")]
    pub admin_token_file: Option<PathBuf>,

    /// The admin bearer token itself, when no file is given.
    #[arg(long, env = "API_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<Secret>,

    /// Seconds a request may take before it is abandoned with a 503.
    #[arg(long, env = "API_REQUEST_TIMEOUT_SECS", default_value_t = 10)]
    pub request_timeout_secs: u64,

    /// Seconds in-flight requests get to finish after SIGTERM or Ctrl-C.
    #[arg(long, env = "API_SHUTDOWN_GRACE_SECS", default_value_t = 10)]
    pub shutdown_grace_secs: u64,

    /// Fill an empty database with the demo catalog and sample orders.
    #[arg(long, env = "API_SEED", default_value_t = true, action = clap::ArgAction::Set)]
    pub seed: bool,

    /// PEM file with the TLS certificate (chain) and its private key, for
    /// clients on the network (a Compose secret `stackctl up` generates).
    /// Without it only clients on this host are served (plain HTTP).
    #[arg(long, env = "API_TLS_FILE")]
    pub tls_file: Option<PathBuf>,

    /// Seconds a client may take to send its first byte and each request
    /// head; also the idle time allowed between kept-alive requests.
    #[arg(long, env = "API_HEADER_TIMEOUT_SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub header_timeout_secs: u64,

    /// Seconds a TLS handshake may take.
    #[arg(long, env = "API_TLS_HANDSHAKE_TIMEOUT_SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub tls_handshake_timeout_secs: u64,

    /// Most connections at once from this host (loopback).
    #[arg(long, env = "API_MAX_LOCAL_CONNECTIONS", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_local_connections: u32,

    /// Most connections at once from other hosts; over it a connection is
    /// closed at once, so the LAN cannot take this host's slots.
    #[arg(long, env = "API_MAX_REMOTE_CONNECTIONS", default_value_t = 2048, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_remote_connections: u32,

    /// Networks beyond loopback whose clients may speak plain HTTP, comma
    /// separated (e.g. a bridge network in front of a containerised copy).
    /// The admin plane stays loopback-only whatever this says.
    #[arg(long, env = "API_PLAINTEXT_FROM", value_delimiter = ',')]
    pub plaintext_from: Vec<crate::plane::Network>,
}

/// A value that must never be printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether `candidate` is this secret, in time independent of both
    /// (the shared `servicekit::secret::same`).
    pub fn matches(&self, candidate: &str) -> bool {
        servicekit::secret::same(self.0.as_bytes(), candidate.as_bytes())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Secret(s.to_owned()))
    }
}

/// The configuration with its secrets read.
#[derive(Debug, Clone)]
pub struct Settings {
    pub bind: SocketAddr,
    /// Where the database is and how to log in; pool settings are the
    /// database module's business.
    pub database: mysql_async::Opts,
    /// Most database connections held at once.
    pub pool_max: usize,
    pub admin_token: Option<Secret>,
    pub request_timeout: Duration,
    pub shutdown_grace: Duration,
    pub seed: bool,
    /// How the listener treats connections (TLS, timeouts, caps).
    pub listener: crate::listener::Options,
}

impl Settings {
    /// Settings for a copy served in-process (tests, benchmarks): plain
    /// HTTP on `bind`, no TLS, the default timeouts and caps.
    pub fn local(
        bind: SocketAddr,
        database_url: &str,
        admin_token: Option<&str>,
    ) -> anyhow::Result<Settings> {
        Ok(Settings {
            bind,
            database: mysql_async::Opts::from_url(database_url)?,
            pool_max: 16,
            admin_token: admin_token.map(Secret::new),
            request_timeout: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(5),
            seed: true,
            listener: crate::listener::Options {
                tls: None,
                header_timeout: Duration::from_secs(10),
                handshake_timeout: Duration::from_secs(10),
                max_local_connections: 1024,
                max_remote_connections: 2048,
                plaintext_from: Vec::new(),
            },
        })
    }
}

impl Config {
    /// Reads the secret files and checks the values.
    pub fn resolve(&self) -> anyhow::Result<Settings> {
        let password = read_secret(
            self.database_password_file.as_ref(),
            self.database_password.as_ref(),
            "database password",
        )?;
        let admin_token = read_secret(
            self.admin_token_file.as_ref(),
            self.admin_token.as_ref(),
            "admin token",
        )?;
        if let Some(token) = &admin_token
            && token.expose().len() < 16
        {
            anyhow::bail!(
                "the admin token is shorter than 16 characters; use a long random one (e.g. `openssl rand -hex 32`)"
            );
        }
        let url = mysql_async::Opts::from_url(&self.database_url)
            .context("API_DATABASE_URL is not a database URL; write it like mysql://shop_api@127.0.0.1:3306/shop")?;
        let mut builder = mysql_async::OptsBuilder::from_opts(url);
        if let Some(password) = password {
            builder = builder.pass(Some(password.expose().to_owned()));
        }
        Ok(Settings {
            bind: self.bind,
            database: builder.into(),
            pool_max: usize::from(self.pool_max),
            admin_token,
            request_timeout: Duration::from_secs(self.request_timeout_secs.max(1)),
            shutdown_grace: Duration::from_secs(self.shutdown_grace_secs),
            seed: self.seed,
            listener: crate::listener::Options {
                tls: self
                    .tls_file
                    .as_deref()
                    .map(crate::tls::server_config)
                    .transpose()?,
                header_timeout: Duration::from_secs(self.header_timeout_secs),
                handshake_timeout: Duration::from_secs(self.tls_handshake_timeout_secs),
                max_local_connections: self.max_local_connections as usize,
                max_remote_connections: self.max_remote_connections as usize,
                plaintext_from: self.plaintext_from.clone(),
            },
        })
    }
}

/// A secret from its file (preferred) or its value; trailing newlines dropped.
fn read_secret(
    file: Option<&PathBuf>,
    value: Option<&Secret>,
    what: &str,
) -> anyhow::Result<Option<Secret>> {
    let secret = match (file, value) {
        (Some(path), _) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the {what} from {}", path.display()))?;
            Some(Secret(text.trim_end_matches(['\n', '\r']).to_owned()))
        }
        (None, Some(value)) => Some(value.clone()),
        (None, None) => None,
    };
    match secret {
        Some(s) if s.0.is_empty() => {
            anyhow::bail!("the {what} is empty; put a value in it or leave it unset")
        }
        other => Ok(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_show_in_debug_output() {
        let secret = Secret::new("hunter2-hunter2-hunter2");
        assert!(!format!("{secret:?}").contains("hunter2"));
    }

    #[test]
    fn secrets_compare_exactly() {
        let secret = Secret::new("correct horse battery");
        assert!(secret.matches("correct horse battery"));
        assert!(!secret.matches("correct horse batterx"));
        assert!(!secret.matches("correct horse"));
    }
}
