//! The two planes of one port. On the host network the API's port is the
//! host's port on every interface, so the LAN reaches all of it; only the
//! public API answers there (catalog reads, placing and reading orders).
//! The admin operations, `/readyz` and `/metrics` answer only to clients on
//! this host, decided by the peer address the listener saw when it
//! accepted the connection ([`Peer`], put into the request's extensions by
//! [`crate::listener`]), never by a header a client can write.
//!
//! From another host such an operation is a 404 like any unknown path, and
//! a request carrying an `Authorization` header to a public route is a 403:
//! the admin token is accepted from this host only, so from the LAN it is
//! never compared. [`LOOPBACK_ONLY`] is the one list of these operations;
//! the OpenAPI document marks the same ones.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{MatchedPath, Request};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

/// Who is on the other end of a request's connection, as the listener saw
/// it at accept time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    pub addr: SocketAddr,
    /// The connection is TLS.
    pub tls: bool,
}

impl Peer {
    /// True for a client on this host (127.0.0.0/8, ::1, or either as an
    /// IPv4-mapped IPv6 address).
    pub fn is_local(&self) -> bool {
        is_loopback(self.addr.ip())
    }
}

/// Loopback, also when written as an IPv4-mapped IPv6 address.
pub fn is_loopback(ip: IpAddr) -> bool {
    ip.to_canonical().is_loopback()
}

/// The operations (method, route template) that answer only on loopback:
/// the admin routes, the database's readiness and the metrics.
pub const LOOPBACK_ONLY: &[(Method, &str)] = &[
    (Method::POST, "/api/products"),
    (Method::PATCH, "/api/products/{id}"),
    (Method::DELETE, "/api/products/{id}"),
    (Method::GET, "/api/orders"),
    (Method::GET, "/readyz"),
    (Method::GET, "/metrics"),
];

/// Whether `method` on route template `route` answers only on loopback.
pub fn loopback_only(method: &Method, route: &str) -> bool {
    LOOPBACK_ONLY
        .iter()
        .any(|(m, r)| m == method && *r == route)
}

/// Keeps the loopback plane from other hosts. A request without a [`Peer`]
/// (none of the listener's) counts as from another host: closed by default.
pub async fn guard(request: Request, next: Next) -> Response {
    let local = request
        .extensions()
        .get::<Peer>()
        .is_some_and(Peer::is_local);
    if local {
        return next.run(request).await;
    }
    // An unknown path goes on to the fallback's 404, with or without a
    // token, so that from afar a loopback-only operation and a path that
    // does not exist answer alike.
    let Some(route) = request
        .extensions()
        .get::<MatchedPath>()
        .map(MatchedPath::as_str)
    else {
        return next.run(request).await;
    };
    if loopback_only(request.method(), route) {
        let path = request.uri().path().chars().take(200).collect();
        return ApiError::NoSuchRoute(path).into_response();
    }
    if request.headers().contains_key(header::AUTHORIZATION) {
        return ApiError::AdminFromAfar.into_response();
    }
    next.run(request).await
}

/// A network written `ADDRESS/PREFIX` (or one address), for the hosts that
/// may speak plain HTTP beyond loopback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    addr: IpAddr,
    prefix: u8,
}

impl Network {
    /// True when `ip` is in this network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl std::str::FromStr for Network {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let bad = || format!("`{text}` is not a network; write e.g. 172.17.0.0/16 or 10.0.0.5");
        let (addr, prefix) = match text.trim().split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text.trim(), None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| bad())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p.parse().ok().filter(|p| *p <= max).ok_or_else(bad)?,
        };
        Ok(Network { addr, prefix })
    }
}

impl std::fmt::Display for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_recognised_in_every_spelling() {
        for local in ["127.0.0.1", "127.9.8.7", "::1", "::ffff:127.0.0.1"] {
            assert!(is_loopback(local.parse().unwrap()), "{local}");
        }
        for afar in ["10.213.0.2", "0.0.0.0", "::ffff:10.0.0.1", "fe80::1"] {
            assert!(!is_loopback(afar.parse().unwrap()), "{afar}");
        }
    }

    #[test]
    fn networks_parse_and_contain_their_addresses() {
        let net: Network = "172.16.0.0/12".parse().unwrap();
        assert!(net.contains("172.17.0.1".parse().unwrap()));
        assert!(!net.contains("172.32.0.1".parse().unwrap()));
        let one: Network = "10.0.0.5".parse().unwrap();
        assert!(one.contains("10.0.0.5".parse().unwrap()));
        assert!(!one.contains("10.0.0.6".parse().unwrap()));
        for bad in ["10.0.0.0/33", "host", "10.0.0.0/x"] {
            assert!(bad.parse::<Network>().is_err(), "{bad}");
        }
    }
}
