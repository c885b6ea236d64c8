//! `sensitive-plaintext`: a service that declares it carries credentials or
//! personal data (`x-stackctl.carries`) and serves a clear-text protocol
//! beyond loopback. On the host network a wildcard bind is the host's LAN
//! address, so whatever that protocol carries crosses the LAN readable by
//! anyone on it. A scheme counts as encrypted only when it is known to be
//! (`https`, `tls`, `ssh`, ...); an undeclared one (a socket guessed from
//! the image, or one found live without a declaration) counts as clear text.

use super::Raw;
use super::catalog;
use super::finding::{Finding, Severity};
use super::subject::Subject;

/// Listen schemes whose protocol encrypts everything it carries.
const ENCRYPTED_SCHEMES: &[&str] = &[
    "https", "wss", "tls", "ssh", "sftp", "ftps", "imaps", "pop3s", "smtps", "ldaps", "rediss",
    "amqps", "mqtts", "grpcs",
];

/// Reports each exposure beyond loopback that speaks clear text, when the
/// service says it carries something sensitive.
pub(super) fn check(s: &Subject, out: &mut Vec<Raw>) {
    if s.carries.is_empty() {
        return;
    }
    let carried: Vec<&str> = s.carries.iter().map(|c| c.name()).collect();
    let carried = carried.join(" and ");
    for e in s.exposures.iter().filter(|e| e.beyond_loopback()) {
        let protocol = match e.scheme.as_deref() {
            Some(scheme) if ENCRYPTED_SCHEMES.contains(&scheme) => continue,
            Some(scheme) => format!("`{scheme}` (clear text)"),
            None => "an undeclared protocol (taken as clear text)".to_owned(),
        };
        out.push((
            Finding::new(
                &catalog::SENSITIVE_PLAINTEXT,
                Severity::High,
                &s.service,
                format!(
                    "carries {carried} and serves {protocol} on {}, beyond this host",
                    e.describe()
                ),
                "serve the network over TLS (declare it, e.g. `https://0.0.0.0:PORT`), or bind 127.0.0.1",
            ),
            e.key.clone(),
        ));
    }
}
