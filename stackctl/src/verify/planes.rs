//! The LAN plane of a service that serves TLS to the network (an `https`
//! endpoint on every address): from the LAN client, its public reads
//! answer over TLS with the certificate whose fingerprint `up` pinned,
//! plain HTTP is refused, and the operations its OpenAPI document marks
//! loopback-only (`x-loopback-only`) do not answer, even with a token;
//! from this host the same operations do answer.
//!
//! Which operations are public reads and which are loopback-only comes from
//! the service's own `GET /openapi.json` (read over loopback), so the claims
//! follow the contract rather than a list kept here.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use servicekit::probe::{HttpAnswer, Request, request};

use super::lan::LanClient;
use super::{Check, Group, Outcome, pass_if};
use crate::compose::extension::Endpoint;

/// How long one request may take.
const TIMEOUT: Duration = Duration::from_secs(5);

/// A token that is no one's: sent from the LAN, it must never get as far as
/// being compared (an answer of 401 or 403 to it would mean it was).
const WRONG_TOKEN: &str = "Bearer stackctl-verify-not-a-token";

/// A service with an `https` endpoint on every address, and the pin of its
/// certificate (or why there is none).
#[derive(Debug, Clone)]
pub(super) struct TlsService {
    pub(super) service: String,
    pub(super) endpoint: Endpoint,
    pub(super) pin: Result<String, String>,
    /// Why its container cannot be checked, if it cannot.
    pub(super) unavailable: Option<String>,
}

/// An operation of the service's OpenAPI document.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Operation {
    method: String,
    /// A concrete path: parameters replaced by `1`.
    path: String,
    loopback_only: bool,
    /// A read with no path parameter (`GET /api/products`).
    plain_read: bool,
}

/// Every plane claim of every TLS service.
pub(super) fn check(
    services: &[TlsService],
    lan: Result<&LanClient, &String>,
    cancelled: &AtomicBool,
) -> Vec<Check> {
    let mut checks = Vec::new();
    for s in services {
        if cancelled.load(Ordering::Relaxed) {
            break;
        }
        let skip = |claim: &str, why: &str| Check {
            group: Group::Isolation,
            service: s.service.clone(),
            claim: claim.to_owned(),
            outcome: Outcome::Skip,
            detail: why.to_owned(),
        };
        let claim =
            "LAN plane: TLS with the pinned certificate, no plain HTTP, no loopback-only operation";
        if let Some(why) = &s.unavailable {
            checks.push(skip(claim, why));
            continue;
        }
        let lan = match lan {
            Ok(lan) => lan,
            Err(why) => {
                checks.push(skip(claim, why));
                continue;
            }
        };
        let pin = match &s.pin {
            Ok(pin) => pin.clone(),
            Err(why) => {
                checks.push(fail(s, claim, format!("no certificate to pin: {why}")));
                continue;
            }
        };
        checks.extend(service_claims(s, lan, &pin, cancelled));
    }
    checks
}

fn fail(s: &TlsService, claim: &str, detail: String) -> Check {
    Check {
        group: Group::Isolation,
        service: s.service.clone(),
        claim: claim.to_owned(),
        outcome: Outcome::Fail,
        detail,
    }
}

fn service_claims(
    s: &TlsService,
    lan: &LanClient,
    pin: &str,
    cancelled: &AtomicBool,
) -> Vec<Check> {
    let port = s.endpoint.addr.port();
    let local = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let remote = SocketAddr::from((lan.host_ip, port));
    let mut checks = Vec::new();
    let claim = |text: String, outcome: Outcome, detail: String| Check {
        group: Group::Isolation,
        service: s.service.clone(),
        claim: text,
        outcome,
        detail,
    };

    let operations = match read_operations(local, pin) {
        Ok(operations) => operations,
        Err(why) => {
            checks.push(fail(
                s,
                "its OpenAPI document names the public and the loopback-only operations",
                format!("cannot read /openapi.json over loopback: {why}"),
            ));
            return checks;
        }
    };

    // Public reads over TLS, the certificate pinned.
    for op in operations
        .iter()
        .filter(|o| o.plain_read && !o.loopback_only)
    {
        let answer = from_lan(lan, remote, &Request::get(&op.path), Some(pin));
        let (outcome, detail) = match &answer {
            Ok(a) => (pass_if(a.status == 200), format!("answered {}", a.status)),
            Err(e) => (Outcome::Fail, e.clone()),
        };
        checks.push(claim(
            format!(
                "LAN client -> GET https://{remote}{} answers, certificate pinned",
                op.path
            ),
            outcome,
            detail,
        ));
    }

    // A wrong pin is refused: the client really checks the certificate.
    let wrong = vec!["00"; 32].join(":");
    let answer = from_lan(lan, remote, &Request::get("/healthz"), Some(&wrong));
    checks.push(claim(
        format!("LAN client refuses https://{remote} under another certificate's pin"),
        pass_if(answer.is_err()),
        match answer {
            Ok(a) => format!("answered {} although the pin was wrong", a.status),
            Err(e) => e,
        },
    ));

    // Plain HTTP from the LAN is refused.
    let answer = from_lan(lan, remote, &Request::get("/healthz"), None);
    let (outcome, detail) = match &answer {
        Ok(a) if a.status == 200 => (Outcome::Fail, "answered 200 in clear text".to_owned()),
        Ok(a) => (
            pass_if(a.status == 400 && a.body.contains("https")),
            format!("answered {}: {}", a.status, a.body.trim()),
        ),
        Err(e) => (Outcome::Pass, format!("closed: {e}")),
    };
    checks.push(claim(
        format!("LAN client -> GET http://{remote}/healthz (clear text) refused"),
        outcome,
        detail,
    ));

    // The loopback plane: not from the LAN, even with a token; from here, yes.
    for op in operations.iter().filter(|o| o.loopback_only) {
        if cancelled.load(Ordering::Relaxed) {
            break;
        }
        let req = Request {
            method: &op.method,
            path: &op.path,
            headers: vec![("authorization", WRONG_TOKEN)],
            pinned_tls: Some(pin),
        };
        let answer = from_lan(lan, remote, &req, Some(pin));
        let (outcome, detail) = match &answer {
            Ok(a) => (
                pass_if(a.status == 404),
                format!("answered {} (its token was never compared)", a.status),
            ),
            Err(e) => (Outcome::Fail, e.clone()),
        };
        checks.push(claim(
            format!("LAN client -> {} {} does not answer", op.method, op.path),
            outcome,
            detail,
        ));
        let req = Request {
            headers: Vec::new(),
            ..req
        };
        let answer = request(&req, local, TIMEOUT);
        let (outcome, detail) = match &answer {
            Ok(a) => (pass_if(a.status != 404), format!("answered {}", a.status)),
            Err(e) => (Outcome::Fail, e.clone()),
        };
        checks.push(claim(
            format!("host -> {} {} answers on loopback", op.method, op.path),
            outcome,
            detail,
        ));
    }
    checks
}

/// One request from inside the LAN client's namespace.
fn from_lan(
    lan: &LanClient,
    addr: SocketAddr,
    req: &Request<'_>,
    pin: Option<&str>,
) -> Result<HttpAnswer, String> {
    let method = req.method.to_owned();
    let path = req.path.to_owned();
    let headers: Vec<(String, String)> = req
        .headers
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let pin = pin.map(str::to_owned);
    lan.inside(move || {
        let req = Request {
            method: &method,
            path: &path,
            headers: headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect(),
            pinned_tls: pin.as_deref(),
        };
        request(&req, addr, TIMEOUT)
    })
    .map_err(|e| format!("cannot run in the LAN namespace: {e}"))?
}

/// The service's operations from its OpenAPI document.
fn read_operations(local: SocketAddr, pin: &str) -> Result<Vec<Operation>, String> {
    let req = Request {
        pinned_tls: Some(pin),
        ..Request::get("/openapi.json")
    };
    let answer = request(&req, local, TIMEOUT)?;
    if answer.status != 200 {
        return Err(format!("answered {}", answer.status));
    }
    let doc: serde_json::Value =
        serde_json::from_str(&answer.body).map_err(|e| format!("not JSON: {e}"))?;
    operations(&doc)
}

/// Every operation of an OpenAPI document.
fn operations(doc: &serde_json::Value) -> Result<Vec<Operation>, String> {
    let paths = doc["paths"]
        .as_object()
        .ok_or("the document has no `paths`")?;
    let mut out = Vec::new();
    for (template, item) in paths {
        for (method, op) in item.as_object().into_iter().flatten() {
            if !["get", "put", "post", "patch", "delete"].contains(&method.as_str()) {
                continue;
            }
            let concrete = concrete(template);
            out.push(Operation {
                method: method.to_ascii_uppercase(),
                loopback_only: op["x-loopback-only"] == true,
                plain_read: method == "get" && concrete == *template,
                path: concrete,
            });
        }
    }
    if out.is_empty() {
        return Err("the document lists no operations".into());
    }
    Ok(out)
}

/// `/api/products/{id}` as `/api/products/1`.
fn concrete(template: &str) -> String {
    template
        .split('/')
        .map(|part| {
            if part.starts_with('{') && part.ends_with('}') {
                "1"
            } else {
                part
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Whether `endpoint` serves TLS beyond loopback.
pub(super) fn serves_the_lan_over_tls(endpoint: &Endpoint) -> bool {
    endpoint.scheme == "https" && !endpoint.addr.ip().is_loopback()
}

/// The fingerprint to pin for `service`: that of the first `generate: tls`
/// certificate it mounts.
pub(super) fn pin_of(project: &crate::compose::Project, service: &str) -> Result<String, String> {
    match crate::secrets::certificates(project, service)
        .into_iter()
        .next()
    {
        Some(c) => c.sha256.ok_or_else(|| c.error.unwrap_or_default()),
        None => Err(format!(
            "`{service}` mounts no `generate: tls` secret whose certificate could be pinned"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_are_read_from_the_document_with_their_plane() {
        let doc = serde_json::json!({"paths": {
            "/healthz": {"get": {}},
            "/metrics": {"get": {"x-loopback-only": true}},
            "/api/products/{id}": {"get": {}, "delete": {"x-loopback-only": true}, "parameters": []},
        }});
        let ops = operations(&doc).unwrap();
        let find = |m: &str, p: &str| ops.iter().find(|o| o.method == m && o.path == p).cloned();
        assert_eq!(
            find("GET", "/healthz").map(|o| (o.plain_read, o.loopback_only)),
            Some((true, false))
        );
        assert_eq!(find("GET", "/metrics").map(|o| o.loopback_only), Some(true));
        assert_eq!(
            find("GET", "/api/products/1").map(|o| o.plain_read),
            Some(false)
        );
        assert_eq!(
            find("DELETE", "/api/products/1").map(|o| o.loopback_only),
            Some(true)
        );
        assert_eq!(ops.len(), 4, "{ops:?}");
        assert!(operations(&serde_json::json!({"paths": {}})).is_err());
    }
}
