//! The host-network pitfalls beyond the benchmark: published ports the
//! engine discards, wildcard binds that do not need the LAN, empty tokens,
//! plaintext protocols and databases beyond loopback, ports below 1024
//! without the capability to bind them, and services with no egress policy.
//! (A mounted Docker socket is CIS 5.32, in [`super::cis`].)

use super::Raw;
use super::catalog;
use super::finding::{Finding, Severity};
use super::subject::{Exposure, Subject, uid_of};

/// Well-known database ports and the engines behind them.
const DATABASE_PORTS: &[(u16, &str)] = &[
    (3306, "MySQL/MariaDB"),
    (5432, "PostgreSQL"),
    (6379, "Redis"),
    (27017, "MongoDB"),
    (9200, "Elasticsearch"),
    (5984, "CouchDB"),
    (11211, "memcached"),
    (1433, "SQL Server"),
    (1521, "Oracle"),
    (9042, "Cassandra"),
    (7687, "Neo4j"),
    (8086, "InfluxDB"),
    (26257, "CockroachDB"),
];
const DATABASE_SCHEMES: &[&str] = &[
    "mysql",
    "mariadb",
    "postgres",
    "postgresql",
    "redis",
    "mongodb",
    "memcached",
    "cassandra",
];
/// Plaintext login protocols, by port and scheme.
const PLAINTEXT_PORTS: &[(u16, &str)] = &[
    (21, "FTP"),
    (23, "Telnet"),
    (512, "rexec"),
    (513, "rlogin"),
    (514, "rsh"),
];
const PLAINTEXT_SCHEMES: &[(&str, &str)] = &[
    ("telnet", "Telnet"),
    ("ftp", "FTP"),
    ("rsh", "rsh"),
    ("rlogin", "rlogin"),
    ("rexec", "rexec"),
];
const PLAINTEXT_DAEMONS: &[(&str, &str)] = &[
    ("telnetd", "Telnet"),
    ("in.telnetd", "Telnet"),
    ("vsftpd", "FTP"),
    ("proftpd", "FTP"),
    ("pure-ftpd", "FTP"),
    ("in.rshd", "rsh"),
    ("in.rlogind", "rlogin"),
];
/// Command-line options that set a notebook server's token or password.
const NOTEBOOK_OPTIONS: &[&str] = &[
    "--NotebookApp.token",
    "--ServerApp.token",
    "--IdentityProvider.token",
    "--NotebookApp.password",
    "--ServerApp.password",
    "--PasswordIdentityProvider.hashed_password",
];

fn finding(
    check: &catalog::Check,
    severity: Severity,
    s: &Subject,
    message: String,
    fix: &str,
) -> Finding {
    Finding::new(check, severity, &s.service, message, fix)
}

/// Runs every pitfall check on one service.
pub(super) fn check(s: &Subject, out: &mut Vec<Raw>) {
    if s.on_host_network() && s.ports_written > 0 {
        out.push((finding(&catalog::HOST_PORTS, Severity::Medium, s,
            format!("declares {} published port(s), which the engine discards on the host network", s.ports_written),
            "remove `ports`; the service binds its port on the host itself, and `x-stackctl.listen` records where"),
            Subject::key("ports")));
    }
    for e in &s.exposures {
        exposure(s, e, out);
    }
    tokens(s, out);
    plaintext_daemons(s, out);
    if s.egress.is_none() {
        let severity = if s.on_host_network() {
            Severity::Medium
        } else {
            Severity::Low
        };
        out.push((finding(&catalog::NO_EGRESS, severity, s,
            "may open connections to any address (no egress policy)".to_owned(),
            "declare `x-stackctl.egress: [HOST:PORT, ...]` (`[]` for none); `stackctl up` enforces it per uid"),
            Subject::key("x-stackctl")));
    }
}

fn exposure(s: &Subject, e: &Exposure, out: &mut Vec<Raw>) {
    let scheme = e.scheme.as_deref().unwrap_or_default();
    if !e.published && e.on_every_interface() {
        match &s.lan {
            None => out.push((finding(&catalog::LAN_BIND, Severity::Medium, s,
                format!("listens on {} (every interface, so the LAN) and does not declare that it serves the LAN (CIS 5.14)", e.describe()),
                "bind 127.0.0.1, or say why it serves the LAN in `x-stackctl.lan: \"...\"`"),
                e.key.clone())),
            Some(reason) => out.push((finding(&catalog::BIND_INTERFACE, Severity::Low, s,
                format!("listens on {} (every interface); it serves the LAN: {reason}", e.describe()),
                "bind the host's LAN address only, if it has a fixed one"),
                e.key.clone())),
        }
    } else if e.published && e.on_every_interface() {
        out.push((
            finding(
                &catalog::BIND_INTERFACE,
                Severity::Medium,
                s,
                format!("publishes {} on every interface", e.describe()),
                "write the host address, e.g. `127.0.0.1:8080:80`",
            ),
            e.key.clone(),
        ));
    }
    if e.beyond_loopback() {
        let database = DATABASE_PORTS
            .iter()
            .find(|(p, _)| *p == e.port)
            .map(|(_, name)| (*name).to_owned())
            .or_else(|| {
                DATABASE_SCHEMES
                    .contains(&scheme)
                    .then(|| scheme.to_owned())
            });
        if let Some(database) = database {
            out.push((finding(&catalog::DB_EXPOSED, Severity::High, s,
                format!("{database} on {} is reachable beyond this host", e.describe()),
                "bind the database to 127.0.0.1 (the services on the host network reach it there)"),
                e.key.clone()));
        }
        let plaintext = PLAINTEXT_SCHEMES
            .iter()
            .find(|(sc, _)| *sc == scheme)
            .map(|(_, name)| *name)
            .or_else(|| {
                PLAINTEXT_PORTS
                    .iter()
                    .find(|(p, _)| *p == e.port)
                    .map(|(_, name)| *name)
            });
        if let Some(protocol) = plaintext {
            out.push((finding(&catalog::PLAINTEXT, Severity::High, s,
                format!("speaks {protocol} on {}: sessions, and any credentials typed, cross the network in clear text", e.describe()),
                "bind it to 127.0.0.1 (reach it over SSH), or replace it with an encrypted protocol"),
                e.key.clone()));
        }
    }
    if !e.published && e.port < 1024 {
        let root = s.user.as_deref().and_then(uid_of) == Some(0) || s.user.is_none();
        let dropped = s
            .cap_drop
            .iter()
            .any(|c| c == "ALL" || c == "NET_BIND_SERVICE");
        let granted = s
            .cap_add
            .iter()
            .any(|c| c == "NET_BIND_SERVICE" || c == "ALL");
        if granted {
            out.push((finding(&catalog::LOW_PORT, Severity::Low, s,
                format!("binds port {} with NET_BIND_SERVICE, which lets it take any well-known port", e.port),
                "listen on a port from 1024 up and drop NET_BIND_SERVICE"),
                e.key.clone()));
        } else if dropped || !root {
            out.push((
                finding(
                    &catalog::LOW_PORT,
                    Severity::Medium,
                    s,
                    format!(
                        "binds port {} but lacks NET_BIND_SERVICE: the bind will fail",
                        e.port
                    ),
                    "listen on a port from 1024 up (or add NET_BIND_SERVICE to `cap_add`)",
                ),
                e.key.clone(),
            ));
        }
    }
}

fn tokens(s: &Subject, out: &mut Vec<Raw>) {
    for (name, value) in &s.environment {
        let upper = name.to_ascii_uppercase();
        let secret_name = ["TOKEN", "PASSWORD", "PASSWD", "SECRET"]
            .iter()
            .any(|w| upper.ends_with(w));
        let empty = value.trim().trim_matches(['\'', '"']).is_empty();
        let allow_empty = upper.contains("ALLOW_EMPTY")
            && matches!(value.to_ascii_lowercase().as_str(), "yes" | "true" | "1");
        if (secret_name && empty) || allow_empty {
            out.push((finding(&catalog::OPEN_TOKEN, Severity::High, s,
                format!("`{name}` is {}: the interface it guards is open to anyone who reaches it",
                    if allow_empty { "set, allowing an empty password" } else { "empty" }),
                "set a generated secret (e.g. from `secrets:` with `x-stackctl.generate: true`) and pass its file"),
                Subject::key("environment").key(name.clone())));
        }
    }
    for word in &s.command {
        let Some((option, value)) = word.split_once('=') else {
            continue;
        };
        if NOTEBOOK_OPTIONS.contains(&option) && value.trim_matches(['\'', '"']).is_empty() {
            out.push((
                finding(
                    &catalog::OPEN_TOKEN,
                    Severity::High,
                    s,
                    format!(
                        "`{option}` is empty: the notebook runs code for anyone who reaches it"
                    ),
                    "remove the empty option so the server generates a token, or pass a secret one",
                ),
                Subject::key("command"),
            ));
        }
    }
}

fn plaintext_daemons(s: &Subject, out: &mut Vec<Raw>) {
    for word in &s.command {
        let base = word.rsplit('/').next().unwrap_or(word);
        if let Some((_, protocol)) = PLAINTEXT_DAEMONS.iter().find(|(d, _)| *d == base) {
            // Reported once per service, when it is not already reported by address.
            if out
                .iter()
                .any(|(f, _)| f.check == catalog::PLAINTEXT.id && f.service == s.service)
            {
                return;
            }
            out.push((
                finding(
                    &catalog::PLAINTEXT,
                    Severity::High,
                    s,
                    format!("runs `{base}`, a {protocol} server"),
                    "replace it with an encrypted protocol, or bind it to 127.0.0.1",
                ),
                Subject::key("command"),
            ));
            return;
        }
    }
}
