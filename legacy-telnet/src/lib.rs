//! The legacy warehouse terminal: a line-mode Telnet service on the fixed
//! port 2323, over the ShopDotCom API. [`protocol`] frames the Telnet
//! stream, [`negotiation`] answers option requests (RFC 1143), [`session`]
//! turns lines into [`commands`] within its limits, [`server`] accepts
//! connections up to a cap.

pub mod api;
pub mod commands;
pub mod negotiation;
pub mod protocol;
pub mod server;
pub mod session;

use std::time::Duration;

/// The limits every session lives within.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_connections: usize,
    pub idle_timeout: Duration,
    pub max_line_bytes: usize,
    pub max_output_bytes: usize,
}

/// The settings, by flag or environment.
#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// Where to listen. The legacy clients expect port 2323 on the LAN.
    #[arg(long, env = "TELNET_BIND", default_value = "0.0.0.0:2323")]
    pub bind: std::net::SocketAddr,

    /// The API's base URL. On the host network the API is local.
    #[arg(long, env = "TELNET_API_URL", default_value = "http://localhost:3000")]
    pub api_url: String,

    /// Most sessions at once; the next client is told and closed.
    #[arg(long, env = "TELNET_MAX_CONNECTIONS", default_value_t = 256)]
    pub max_connections: usize,

    /// Seconds a session may be silent before it is closed.
    #[arg(long, env = "TELNET_IDLE_TIMEOUT_SECS", default_value_t = 300)]
    pub idle_timeout_secs: u64,

    /// Longest accepted line, in bytes; a longer one is refused.
    #[arg(long, env = "TELNET_MAX_LINE_BYTES", default_value_t = 512)]
    pub max_line_bytes: usize,

    /// Most bytes one connection is sent before it is closed.
    #[arg(long, env = "TELNET_MAX_OUTPUT_BYTES", default_value_t = 1 << 20)]
    pub max_output_bytes: usize,

    /// What NETINFO probes on localhost, as NAME=PORT pairs.
    #[arg(
        long,
        env = "TELNET_NETINFO_PORTS",
        default_value = "db=3306,api=3000,gateway=8888,terminal=2323"
    )]
    pub netinfo_ports: String,
}

impl Config {
    pub fn limits(&self) -> Limits {
        Limits {
            max_connections: self.max_connections.max(1),
            idle_timeout: Duration::from_secs(self.idle_timeout_secs.max(1)),
            max_line_bytes: self.max_line_bytes.max(16),
            max_output_bytes: self.max_output_bytes.max(4096),
        }
    }

    pub fn context(&self) -> anyhow::Result<commands::Context> {
        Ok(commands::Context {
            api: api::Api::new(&self.api_url)?,
            probes: commands::parse_probes(&self.netinfo_ports)
                .map_err(|e| anyhow::anyhow!("TELNET_NETINFO_PORTS: {e}"))?,
        })
    }
}
