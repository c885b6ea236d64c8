//! The `sensitive-plaintext` check: a service that declares it carries
//! credentials or personal data (`x-stackctl.carries`) and serves clear text
//! beyond loopback is reported, and our own stack passes without accepting
//! it for the API (which serves the LAN over TLS).

use std::path::Path;

use stackctl::audit::{self, Report, Severity};
use stackctl::compose::Project;
use stackctl::testbed::stack_compose_file;

fn audit_file(path: &Path) -> Report {
    let project = Project::load_for_audit(path).unwrap_or_else(|e| panic!("{e}"));
    audit::audit_static(&project).unwrap_or_else(|e| panic!("{e:#}"))
}

/// The services with a `sensitive-plaintext` finding, and its messages.
fn reported(report: &Report) -> Vec<(String, String)> {
    report
        .findings
        .iter()
        .filter(|f| f.check == "sensitive-plaintext")
        .map(|f| (f.service.clone(), f.message.clone()))
        .collect()
}

#[test]
fn clear_text_beyond_loopback_is_reported_for_services_that_carry_secrets() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/audit/sensitive.yaml");
    let report = audit_file(&path);
    let found = reported(&report);
    let services: Vec<&str> = found.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(services, ["clear-on-lan", "guessed"], "{found:#?}");
    assert!(
        found[0].1.contains("carries credentials and personal-data")
            && found[0].1.contains("`http` (clear text) on 0.0.0.0:8080"),
        "{}",
        found[0].1
    );
    // Nothing declared: the image's well-known socket is inferred, and so is its protocol.
    assert!(
        found[1].1.contains("`postgres` (clear text)") && found[1].1.contains("inferred"),
        "{}",
        found[1].1
    );
    let f = report
        .findings
        .iter()
        .find(|f| f.service == "clear-on-lan" && f.check == "sensitive-plaintext")
        .unwrap();
    assert_eq!(f.severity, Severity::High);
    assert!(f.accepted.is_none());
    let line = f.location.as_ref().and_then(|l| l.line);
    assert_eq!(
        line,
        Some(9),
        "points at the listen entry: {:?}",
        f.location
    );
}

#[test]
fn our_api_serves_the_lan_over_tls_and_only_the_terminal_accepts_clear_text() {
    let report = audit_file(&stack_compose_file());
    let found: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.check == "sensitive-plaintext")
        .collect();
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].service, "legacy-telnet");
    assert!(found[0].accepted.is_some(), "the terminal's is accepted");
    assert!(
        !report
            .findings
            .iter()
            .any(|f| f.service == "api" && f.check == "sensitive-plaintext"),
        "the API has no such finding, accepted or not"
    );
}
