//! `x-stackctl`: what this stack needs to say that Compose has no key for:
//! which workspace binary an image carries, where a service listens, and the
//! egress allowlist the per-service firewall enforces; and, for the audit,
//! which services serve the LAN and which findings are accepted risks.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The key under which stackctl's extensions live.
pub const KEY: &str = "x-stackctl";

/// `x-stackctl` on a service.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ServiceExtension {
    /// A binary target of this workspace. `stackctl build` compiles it on the
    /// host and stages it with its shared-library closure under `rootfs/` in
    /// the build context, so the image needs no compiler and no shell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binary: Option<String>,
    /// Where the service listens, as `SCHEME://IP:PORT` (`http://0.0.0.0:3000`,
    /// `mysql://127.0.0.1:3306`): shown by `up` and `ps`, allowed by the
    /// firewall for the service's own health check, compared by the audit
    /// with what really listens.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub listen: Vec<Endpoint>,
    /// The destinations the service's uid may open connections to; `[]`
    /// allows none. Absent means the service has no egress policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub egress: Option<Vec<EgressRule>>,
    /// Why the service must be reachable from the LAN. Only a service that
    /// says so may listen on every interface (`0.0.0.0`) without a finding
    /// of the audit; the reason is shown in its report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lan: Option<String>,
    /// What crosses the service's ports that must not cross a network in
    /// clear text (`credentials`, `personal-data`): the audit reports such
    /// a service when it serves clear text beyond loopback.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub carries: Vec<Carried>,
    /// Audit findings of this service that are accepted risks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub accept: Vec<Acceptance>,
}

/// A kind of sensitive data a service's traffic carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Carried {
    /// Passwords, tokens, keys: a request or an answer may hold one.
    Credentials,
    /// Data about people (names, e-mail addresses, orders).
    PersonalData,
}

impl Carried {
    /// As written in `compose.yaml`.
    pub fn name(self) -> &'static str {
        match self {
            Carried::Credentials => "credentials",
            Carried::PersonalData => "personal-data",
        }
    }
}

/// `x-stackctl` at the top of the file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ProjectExtension {
    /// The project name, for Compose tools that refuse the top-level `name:`
    /// (Debian's docker-compose 1.29 does).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_name: Option<String>,
    /// Audit findings accepted for every service (or those in `services`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub accept: Vec<Acceptance>,
    /// `stackctl scan`'s settings: the advisories ignored, each with a
    /// reason and an expiry date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scan: Option<ScanExtension>,
}

/// `x-stackctl.scan`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScanExtension {
    /// Known vulnerabilities left in place on purpose, until a date.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore: Vec<ScanIgnore>,
}

/// One ignored vulnerability: still reported, marked ignored, and counted
/// again once `expires` has passed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScanIgnore {
    /// A RustSec id (`RUSTSEC-2024-0421`), a CVE (`CVE-2025-9230`), or a
    /// Debian source package as `debian:NAME` (`debian:openssl`).
    pub id: String,
    /// Why it is left in place, in words a reviewer can judge.
    #[serde(default)]
    pub reason: String,
    /// The last day it is ignored (`YYYY-MM-DD`).
    #[serde(default)]
    pub expires: String,
}

/// An accepted risk: an audit check that fails on purpose, why, and the
/// compensating controls it relies on. The audit still reports the finding,
/// as accepted, with the controls it finds in place; a control named here
/// that is not in place voids the acceptance.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Acceptance {
    /// The check: a CIS Docker Benchmark id such as `"5.10"` (quoted: YAML
    /// reads a bare 5.10 as the number 5.1) or a stackctl check such as
    /// `plaintext`; `stackctl audit --list-checks` lists them.
    #[serde(deserialize_with = "check_id")]
    pub check: String,
    /// Why the risk is taken, in words a reviewer can judge.
    pub reason: String,
    /// The compensating controls the acceptance relies on, e.g.
    /// `cap-drop-all`, `egress-policy`; each must be in place.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub controls: Vec<String>,
    /// At the top level, the services it covers (default: every service).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<String>,
}

fn check_id<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged, expecting = "a check id such as `\"5.10\"` or `plaintext`")]
    enum Repr {
        Text(String),
        Number(f64),
    }
    match Repr::deserialize(d)? {
        Repr::Text(text) => Ok(text),
        Repr::Number(n) => Err(serde::de::Error::custom(format!(
            "the check id {n} is a number to YAML (5.10 reads as 5.1); quote it, e.g. `check: \"5.10\"`"
        ))),
    }
}

/// `x-stackctl` on a top-level secret.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SecretExtension {
    /// Create the secret's `file` when it does not exist: `true` for a
    /// random token, `tls` for a self-signed certificate and its key.
    #[serde(default, skip_serializing_if = "Generate::is_no")]
    pub generate: Generate,
}

/// What `stackctl up` writes into a missing secret file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Generate {
    /// Nothing: the file must exist (`generate: false`, or absent).
    #[default]
    No,
    /// 32 random bytes as hex (`generate: true`).
    Random,
    /// A self-signed TLS certificate and its private key, one PEM file
    /// (`generate: tls`); its SHA-256 fingerprint is shown by `up` and `ps`.
    Tls,
}

impl Generate {
    fn is_no(&self) -> bool {
        *self == Generate::No
    }

    /// True when `up` makes the file.
    pub fn any(self) -> bool {
        self != Generate::No
    }
}

impl Serialize for Generate {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Generate::No => s.serialize_bool(false),
            Generate::Random => s.serialize_bool(true),
            Generate::Tls => s.serialize_str("tls"),
        }
    }
}

impl<'de> Deserialize<'de> for Generate {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(
            untagged,
            expecting = "`true` (a random token), `tls` (a self-signed certificate and its key) or `false`"
        )]
        enum Repr {
            Flag(bool),
            Kind(String),
        }
        match Repr::deserialize(d)? {
            Repr::Flag(true) => Ok(Generate::Random),
            Repr::Flag(false) => Ok(Generate::No),
            Repr::Kind(kind) if kind == "tls" => Ok(Generate::Tls),
            Repr::Kind(kind) => Err(serde::de::Error::custom(format!(
                "`{kind}` is not a kind of generated secret; use `true` (a random token) or `tls` (a self-signed certificate and its key)"
            ))),
        }
    }
}

/// A listening address and the protocol spoken there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub scheme: String,
    pub addr: SocketAddr,
}

impl Endpoint {
    /// True when only this host can connect (a loopback address).
    pub fn is_loopback(&self) -> bool {
        self.addr.ip().is_loopback()
    }

    /// How a user on this host reaches it: `http://localhost:3000`,
    /// `telnet localhost 2323`, `mysql://127.0.0.1:3306`.
    pub fn reach(&self) -> String {
        let host = match self.addr.ip() {
            ip if ip.is_unspecified() => "localhost".to_owned(),
            IpAddr::V6(ip) => format!("[{ip}]"),
            ip => ip.to_string(),
        };
        match self.scheme.as_str() {
            "telnet" => format!("telnet {host} {}", self.addr.port()),
            scheme => format!("{scheme}://{host}:{}", self.addr.port()),
        }
    }
}

impl FromStr for Endpoint {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "`{text}` is not a listen address; write SCHEME://IP:PORT, e.g. `http://0.0.0.0:3000` or `mysql://127.0.0.1:3306`"
            )
        };
        let (scheme, addr) = text.split_once("://").ok_or_else(bad)?;
        if scheme.is_empty()
            || !scheme
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        {
            return Err(bad());
        }
        Ok(Endpoint {
            scheme: scheme.to_owned(),
            addr: addr.parse().map_err(|_| bad())?,
        })
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.scheme, self.addr)
    }
}

impl Serialize for Endpoint {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Endpoint {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// Where an egress rule allows connections to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EgressHost {
    /// `localhost`: 127.0.0.1 and ::1.
    Localhost,
    /// An address or a network, e.g. `127.0.0.1` or `10.0.0.0/8`.
    Net { addr: IpAddr, prefix: u8 },
}

/// One allowed destination, written `HOST:PORT` (`localhost:3000`,
/// `127.0.0.1:3306`, `[::1]:3000`, `10.0.0.0/8:443`), TCP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EgressRule {
    pub host: EgressHost,
    pub port: u16,
}

impl FromStr for EgressRule {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let bad = |why: &str| {
            format!(
                "`{text}` is not an egress rule ({why}); write HOST:PORT, e.g. `localhost:3000`, `127.0.0.1:3306` or `10.0.0.0/8:443`"
            )
        };
        let (host, port) = text.rsplit_once(':').ok_or_else(|| bad("no port"))?;
        let port = port
            .parse::<std::num::NonZeroU16>()
            .map_err(|_| bad("the port is not a number from 1 to 65535"))?
            .get();
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let host = if host == "localhost" {
            EgressHost::Localhost
        } else {
            let (addr, prefix) = match host.split_once('/') {
                Some((addr, prefix)) => (addr, Some(prefix)),
                None => (host, None),
            };
            let addr: IpAddr = addr
                .parse()
                .map_err(|_| bad("the host is not an IP address, a network or `localhost`"))?;
            let max = if addr.is_ipv4() { 32 } else { 128 };
            let prefix = match prefix {
                None => max,
                Some(p) => p
                    .parse()
                    .ok()
                    .filter(|p| *p <= max)
                    .ok_or_else(|| bad("the prefix length is out of range"))?,
            };
            EgressHost::Net { addr, prefix }
        };
        Ok(EgressRule { host, port })
    }
}

impl fmt::Display for EgressRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.host {
            EgressHost::Localhost => write!(f, "localhost:{}", self.port),
            EgressHost::Net {
                addr: IpAddr::V4(a),
                prefix: 32,
            } => write!(f, "{a}:{}", self.port),
            EgressHost::Net {
                addr: IpAddr::V6(a),
                prefix: 128,
            } => write!(f, "[{a}]:{}", self.port),
            EgressHost::Net { addr, prefix } => write!(f, "{addr}/{prefix}:{}", self.port),
        }
    }
}

impl Serialize for EgressRule {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for EgressRule {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_parse_and_say_how_to_reach_them() {
        let api: Endpoint = "http://0.0.0.0:3000".parse().unwrap();
        assert_eq!(api.reach(), "http://localhost:3000");
        assert!(!api.is_loopback());
        let telnet: Endpoint = "telnet://0.0.0.0:2323".parse().unwrap();
        assert_eq!(telnet.reach(), "telnet localhost 2323");
        let db: Endpoint = "mysql://127.0.0.1:3306".parse().unwrap();
        assert!(db.is_loopback());
        assert_eq!(db.to_string(), "mysql://127.0.0.1:3306");
        assert!(
            "0.0.0.0:3000"
                .parse::<Endpoint>()
                .unwrap_err()
                .contains("SCHEME://IP:PORT")
        );
    }

    #[test]
    fn egress_rules_parse_hosts_networks_and_localhost() {
        let rule: EgressRule = "localhost:3000".parse().unwrap();
        assert_eq!(rule.host, EgressHost::Localhost);
        let rule: EgressRule = "10.0.0.0/8:443".parse().unwrap();
        assert_eq!(rule.to_string(), "10.0.0.0/8:443");
        let rule: EgressRule = "[::1]:3000".parse().unwrap();
        assert_eq!(rule.to_string(), "[::1]:3000");
        for bad in [
            "localhost",
            "db:3306",
            "127.0.0.1:http",
            "10.0.0.0/33:1",
            "localhost:0",
        ] {
            assert!(
                bad.parse::<EgressRule>().unwrap_err().contains("HOST:PORT"),
                "{bad}"
            );
        }
    }
}
