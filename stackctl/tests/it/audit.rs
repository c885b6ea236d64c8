//! `stackctl audit` from the outside: every check fires on a deliberately
//! insecure Compose file, accepted risks are reported with the controls in
//! place, our own `compose.yaml` passes, the three output formats and
//! `--fail-on` behave, and the live audit of a running private copy of the
//! stack matches its static audit.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use stackctl::audit::{self, Finding, Report, Severity};
use stackctl::compose::{LoadError, Project};
use stackctl::image::BuildOptions;
use stackctl::progress::Progress;
use stackctl::stack::{self, up::UpOptions};
use stackctl::testbed::{Testbed, stack_compose_file};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/audit")
        .join(name)
}

fn audit_file(path: &Path) -> Report {
    let project = Project::load_for_audit(path).unwrap_or_else(|e| panic!("{e}"));
    audit::audit_static(&project).unwrap_or_else(|e| panic!("{e:#}"))
}

fn insecure() -> Report {
    audit_file(&fixture("insecure.yaml"))
}

/// The findings of `check` on `service`.
fn findings<'a>(report: &'a Report, service: &str, check: &str) -> Vec<&'a Finding> {
    report
        .findings
        .iter()
        .filter(|f| f.service == service && f.check == check)
        .collect()
}

/// The one finding of `check` on `service` whose message contains `text`.
#[track_caller]
fn finding<'a>(report: &'a Report, service: &str, check: &str, text: &str) -> &'a Finding {
    let found: Vec<&Finding> = findings(report, service, check)
        .into_iter()
        .filter(|f| f.message.contains(text))
        .collect();
    assert_eq!(
        found.len(),
        1,
        "expected one {check} on {service} mentioning {text:?}; the service has: {:#?}",
        report
            .findings
            .iter()
            .filter(|f| f.service == service)
            .map(|f| format!("{} {}: {}", f.severity, f.check, f.message))
            .collect::<Vec<_>>()
    );
    found[0]
}

#[track_caller]
fn assert_open(f: &Finding, severity: Severity) {
    assert_eq!(f.severity, severity, "{f:#?}");
    assert!(f.is_open(), "{f:#?}");
    assert!(!f.fix.is_empty(), "every finding says what to do: {f:#?}");
}

// --- CIS Docker Benchmark v1.6.0 -------------------------------------------

#[test]
fn cis_4_1_a_root_user_is_reported_from_compose_and_from_the_dockerfile() {
    let r = insecure();
    assert_open(
        finding(&r, "everything", "CIS-4.1", "runs as root (`root`"),
        Severity::Medium,
    );
    assert_open(
        finding(
            &r,
            "rootful",
            "CIS-4.1",
            "neither `user` nor the Dockerfile",
        ),
        Severity::Medium,
    );
}

#[test]
fn cis_4_6_an_image_without_healthcheck_is_reported() {
    let r = insecure();
    assert_open(
        finding(&r, "rootful", "CIS-4.6", "no HEALTHCHECK"),
        Severity::Low,
    );
}

#[test]
fn cis_5_2_apparmor_unconfined_is_reported() {
    let r = insecure();
    let f = finding(&r, "everything", "CIS-5.2", "apparmor:unconfined");
    assert_open(f, Severity::High);
    assert_eq!(
        f.title,
        "Ensure that, if applicable, an AppArmor Profile is enabled"
    );
}

#[test]
fn cis_5_3_selinux_disabled_is_reported_and_absent_labels_are_only_information() {
    let r = insecure();
    assert_open(
        finding(&r, "everything", "CIS-5.3", "label:disable"),
        Severity::Medium,
    );
    assert_open(
        finding(&r, "caps", "CIS-5.3", "not applicable"),
        Severity::Info,
    );
}

#[test]
fn cis_5_4_added_and_kept_capabilities_are_reported() {
    let r = insecure();
    assert_open(
        finding(&r, "caps", "CIS-5.4", "adds SYS_ADMIN"),
        Severity::High,
    );
    assert_open(
        finding(&r, "caps", "CIS-5.4", "no `cap_drop: [ALL]`"),
        Severity::Medium,
    );
}

#[test]
fn cis_5_5_a_privileged_container_is_critical() {
    let r = insecure();
    let f = finding(&r, "everything", "CIS-5.5", "privileged");
    assert_open(f, Severity::Critical);
    assert_eq!(f.title, "Ensure that privileged containers are not used");
    let location = f.location.as_ref().unwrap();
    assert_eq!(location.key, "services.everything.privileged");
    assert_eq!(location.line, Some(6), "the line of `privileged:`");
}

#[test]
fn cis_5_6_sensitive_host_directories_are_reported_writable_or_read_only() {
    let r = insecure();
    assert_open(
        finding(
            &r,
            "everything",
            "CIS-5.6",
            "`/etc` at `/host/etc` (writable)",
        ),
        Severity::High,
    );
    assert_open(
        finding(&r, "everything", "CIS-5.6", "`/` at `/rootfs` (read-only)"),
        Severity::Medium,
    );
}

#[test]
fn cis_5_6_paths_under_a_sensitive_directory_are_reported_however_they_are_written() {
    let r = audit_file(&fixture("sensitive-paths.yaml"));
    assert_open(
        finding(
            &r,
            "paths",
            "CIS-5.6",
            "`/etc/shadow` (under `/etc`) at `/shadow`",
        ),
        Severity::Medium,
    );
    for (mounted, target) in [
        ("`/sys/fs/cgroup` (under `/sys`)", "/cgroup"),
        ("`/proc/sys` (under `/proc`)", "/procsys"),
        (
            "`/var/lib/docker/containers` (under `/var/lib/docker`)",
            "/containers",
        ),
        ("`/etc`", "/doubled"),
        ("`/etc`", "/dotted"),
        ("`/etc`", "/relative"),
    ] {
        let text = format!("mounts the host's {mounted} at `{target}` (writable)");
        assert_open(finding(&r, "paths", "CIS-5.6", &text), Severity::High);
    }
    assert_open(
        finding(&r, "paths", "CIS-5.32", "docker.sock"),
        Severity::Critical,
    );
    assert!(
        findings(&r, "safe", "CIS-5.6").is_empty(),
        "{:#?}",
        findings(&r, "safe", "CIS-5.6")
    );
}

#[test]
fn cis_5_7_sshd_in_a_container_is_reported() {
    assert_open(
        finding(&insecure(), "everything", "CIS-5.7", "SSH daemon"),
        Severity::Medium,
    );
}

#[test]
fn cis_5_8_privileged_ports_are_reported_published_or_bound_on_the_host() {
    let r = insecure();
    assert_open(
        finding(&r, "bridged", "CIS-5.8", "publishes privileged port 23"),
        Severity::Medium,
    );
    assert_open(
        finding(&r, "web", "CIS-5.8", "binds privileged port 80"),
        Severity::Medium,
    );
}

#[test]
fn cis_5_9_port_ranges_and_undeclared_host_sockets_are_reported() {
    let r = insecure();
    assert_open(
        finding(&r, "bridged", "CIS-5.9", "range 8000-8010"),
        Severity::Medium,
    );
    assert_open(
        finding(&r, "everything", "CIS-5.9", "declares none"),
        Severity::Low,
    );
}

#[test]
fn cis_5_10_the_host_network_is_high_unless_accepted() {
    let r = insecure();
    let f = finding(&r, "everything", "CIS-5.10", "network_mode: host");
    assert_open(f, Severity::High);
    assert_eq!(
        f.title,
        "Ensure that the host's network namespace is not shared"
    );
}

#[test]
fn cis_5_11_5_12_5_29_missing_limits_are_reported() {
    let r = insecure();
    assert_open(
        finding(&r, "everything", "CIS-5.11", "no memory limit"),
        Severity::Medium,
    );
    assert_open(
        finding(&r, "everything", "CIS-5.12", "no CPU"),
        Severity::Low,
    );
    assert_open(
        finding(&r, "everything", "CIS-5.29", "number of processes"),
        Severity::Medium,
    );
}

#[test]
fn cis_5_11_5_12_5_29_limits_under_deploy_resources_count() {
    let r = audit_file(&fixture("runtime-keys.yaml"));
    for check in ["CIS-5.11", "CIS-5.12", "CIS-5.29"] {
        assert!(
            findings(&r, "deployed", check).is_empty(),
            "{check}: {:#?}",
            findings(&r, "deployed", check)
        );
        assert_eq!(findings(&r, "zero-retries", check).len(), 1, "{check}");
    }
}

#[test]
fn cis_5_25_the_hosts_cgroup_namespace_is_reported() {
    let r = audit_file(&fixture("runtime-keys.yaml"));
    let f = finding(&r, "cgroup-host", "CIS-5.25", "`cgroup: host`");
    assert_open(f, Severity::Medium);
    assert_eq!(f.location.as_ref().unwrap().line, Some(15));
}

#[test]
fn cis_5_15_on_failure_0_is_unbounded_and_1_to_5_passes() {
    let r = audit_file(&fixture("runtime-keys.yaml"));
    assert_open(
        finding(&r, "zero-retries", "CIS-5.15", "on-failure:0"),
        Severity::Low,
    );
    assert!(findings(&r, "five-retries", "CIS-5.15").is_empty());
}

#[test]
fn cis_5_13_a_writable_root_filesystem_is_reported() {
    assert_open(
        finding(&insecure(), "caps", "CIS-5.13", "writable"),
        Severity::Medium,
    );
}

#[test]
fn cis_5_14_a_port_published_on_every_interface_is_reported() {
    assert_open(
        finding(&insecure(), "bridged", "CIS-5.14", "0.0.0.0:5432->5432"),
        Severity::Medium,
    );
}

#[test]
fn cis_5_15_unbounded_restarts_are_reported() {
    let r = insecure();
    assert_open(
        finding(&r, "everything", "CIS-5.15", "restart: always"),
        Severity::Low,
    );
    assert_open(
        finding(&r, "bridged", "CIS-5.15", "up to 10 times"),
        Severity::Low,
    );
}

#[test]
fn cis_5_16_5_17_5_21_5_31_shared_host_namespaces_are_reported() {
    let r = insecure();
    assert_open(
        finding(&r, "everything", "CIS-5.16", "`pid: host`"),
        Severity::High,
    );
    assert_open(
        finding(&r, "everything", "CIS-5.17", "`ipc: host`"),
        Severity::High,
    );
    assert_open(
        finding(&r, "everything", "CIS-5.21", "`uts: host`"),
        Severity::Medium,
    );
    assert_open(
        finding(&r, "everything", "CIS-5.31", "`userns_mode: host`"),
        Severity::High,
    );
}

#[test]
fn cis_5_18_host_devices_are_reported() {
    assert_open(
        finding(&insecure(), "everything", "CIS-5.18", "/dev/sda"),
        Severity::Medium,
    );
}

#[test]
fn cis_5_20_shared_mount_propagation_is_reported() {
    assert_open(
        finding(&insecure(), "everything", "CIS-5.20", "rshared"),
        Severity::Medium,
    );
}

#[test]
fn cis_5_22_seccomp_unconfined_is_reported() {
    assert_open(
        finding(&insecure(), "everything", "CIS-5.22", "seccomp:unconfined"),
        Severity::High,
    );
}

#[test]
fn cis_5_25_a_custom_cgroup_parent_is_reported() {
    assert_open(
        finding(&insecure(), "everything", "CIS-5.25", "/custom"),
        Severity::Low,
    );
}

#[test]
fn cis_5_26_missing_no_new_privileges_is_reported() {
    assert_open(
        finding(&insecure(), "caps", "CIS-5.26", "no-new-privileges"),
        Severity::Medium,
    );
}

#[test]
fn cis_5_27_a_missing_or_disabled_health_check_is_reported() {
    let r = insecure();
    assert_open(
        finding(&r, "everything", "CIS-5.27", "disabled"),
        Severity::Low,
    );
    assert_open(
        finding(&r, "caps", "CIS-5.27", "no health check"),
        Severity::Low,
    );
}

#[test]
fn cis_5_28_images_by_moving_tag_are_reported_and_digests_pass() {
    let r = insecure();
    assert_open(
        finding(&r, "everything", "CIS-5.28", "no tag"),
        Severity::Medium,
    );
    assert_open(
        finding(&r, "caps", "CIS-5.28", "`latest`"),
        Severity::Medium,
    );
    assert_open(
        finding(&r, "bridged", "CIS-5.28", "by a tag"),
        Severity::Low,
    );
    assert!(
        findings(&r, "notebook", "CIS-5.28").is_empty(),
        "pinned by digest"
    );
    assert!(
        findings(&r, "rootful", "CIS-5.28").is_empty(),
        "built and pinned by stackctl"
    );
}

#[test]
fn cis_5_32_the_docker_socket_is_critical() {
    let r = insecure();
    let f = finding(&r, "everything", "CIS-5.32", "/var/run/docker.sock");
    assert_open(f, Severity::Critical);
    assert_eq!(
        f.location.as_ref().unwrap().key,
        "services.everything.volumes[0]"
    );
}

// --- host-network pitfalls ---------------------------------------------------

#[test]
fn host_ports_published_on_the_host_network_are_reported() {
    assert_open(
        finding(&insecure(), "published-on-host", "host-ports", "discards"),
        Severity::Medium,
    );
}

#[test]
fn a_wildcard_bind_without_lan_is_reported_and_with_lan_is_only_cis_5_14_low() {
    let r = insecure();
    assert_open(
        finding(&r, "notebook", "lan-bind", "0.0.0.0:8888"),
        Severity::Medium,
    );
    let ours = audit_file(&stack_compose_file());
    assert!(findings(&ours, "api", "lan-bind").is_empty());
    assert_open(
        finding(&ours, "api", "CIS-5.14", "serves the LAN"),
        Severity::Low,
    );
}

#[test]
fn empty_notebook_and_admin_tokens_are_reported() {
    let r = insecure();
    assert_open(
        finding(&r, "everything", "open-token", "`JUPYTER_TOKEN` is empty"),
        Severity::High,
    );
    assert_open(
        finding(&r, "notebook", "open-token", "`ADMIN_PASSWORD` is empty"),
        Severity::High,
    );
    assert_open(
        finding(&r, "notebook", "open-token", "--NotebookApp.token"),
        Severity::High,
    );
}

#[test]
fn plaintext_protocols_are_reported_by_port_and_by_daemon() {
    let r = insecure();
    assert_open(
        finding(&r, "bridged", "plaintext", "Telnet on 0.0.0.0:23->23"),
        Severity::High,
    );
    assert_open(
        finding(&r, "telnetd", "plaintext", "in.telnetd"),
        Severity::High,
    );
}

#[test]
fn a_database_beyond_loopback_is_reported() {
    assert_open(
        finding(&insecure(), "bridged", "db-exposed", "PostgreSQL"),
        Severity::High,
    );
}

#[test]
fn a_port_below_1024_without_net_bind_service_is_reported() {
    assert_open(
        finding(&insecure(), "web", "low-port", "bind will fail"),
        Severity::Medium,
    );
}

#[test]
fn undeclared_host_sockets_are_inferred_from_the_image_and_expose_and_say_so() {
    let r = audit_file(&fixture("inferred.yaml"));
    let db = finding(&r, "mysql", "db-exposed", "0.0.0.0:3306");
    assert_open(db, Severity::High);
    assert!(
        db.message.contains("inferred: the `mysql` image's default"),
        "{}",
        db.message
    );
    assert_eq!(db.location.as_ref().unwrap().key, "services.mysql.image");
    finding(&r, "mysql", "lan-bind", "inferred");
    assert_open(
        finding(&r, "telnet", "plaintext", "Telnet on 0.0.0.0:23 (inferred"),
        Severity::High,
    );
    let exposed = finding(
        &r,
        "exposed",
        "lan-bind",
        "0.0.0.0:8080 (inferred: `expose: 8080`",
    );
    assert_eq!(
        exposed.location.as_ref().unwrap().key,
        "services.exposed.expose[0]"
    );
    assert!(
        !r.findings.iter().any(|f| f.message.contains(":9000")),
        "udp is not guessed at"
    );
    assert!(
        !r.findings
            .iter()
            .any(|f| f.service == "declared" && f.message.contains("inferred")),
        "a declared service's sockets are its declaration"
    );
}

#[test]
fn a_service_without_egress_policy_is_reported() {
    let r = insecure();
    assert_open(
        finding(&r, "everything", "no-egress", "any address"),
        Severity::Medium,
    );
    assert!(
        findings(&r, "notebook", "no-egress").is_empty(),
        "`egress: []` is a policy"
    );
}

// --- accepted risks ------------------------------------------------------------

#[test]
fn an_accepted_risk_is_reported_with_the_controls_found_in_place() {
    let r = audit_file(&fixture("hardened.yaml"));
    let f = finding(&r, "hardened", "CIS-5.10", "network_mode: host");
    let accepted = f.accepted.as_ref().expect("accepted");
    assert_eq!(accepted.reason, "host networking is the point of this file");
    let controls = accepted.controls_in_place.join("; ");
    for control in [
        "no capabilities (cap_drop ALL)",
        "no-new-privileges",
        "read-only root filesystem",
        "runs as 1000:1000, not root",
        "egress only to 127.0.0.1:5432",
        "binds 127.0.0.1:8080 (loopback)",
    ] {
        assert!(controls.contains(control), "{control:?} in {controls}");
    }
    let failing: Vec<_> = r
        .failing(Severity::Medium)
        .filter(|f| f.service == "hardened")
        .collect();
    assert!(failing.is_empty(), "{failing:#?}");
}

#[test]
fn an_acceptance_relying_on_a_missing_control_is_void() {
    let r = audit_file(&fixture("hardened.yaml"));
    let f = finding(&r, "fragile", "CIS-5.10", "network_mode: host");
    assert!(f.is_open());
    let void = f.acceptance_void.as_deref().unwrap();
    assert!(void.contains("`read-only-rootfs`"), "{void}");
}

#[test]
fn an_acceptance_that_matches_nothing_is_noted() {
    let r = audit_file(&fixture("hardened.yaml"));
    assert!(
        r.notes
            .iter()
            .any(|n| n.contains("accepts `lan-bind`, but no finding matches it")),
        "{:?}",
        r.notes
    );
}

#[test]
fn an_acceptance_of_an_unknown_check_is_an_error_with_its_line() {
    let project = Project::load_for_audit(&fixture("unknown-check.yaml")).unwrap();
    let err = audit::audit_static(&project).unwrap_err().to_string();
    assert!(err.contains("unknown-check.yaml:6"), "{err}");
    assert!(err.contains("`9.99` is not an audit check"), "{err}");
}

#[test]
fn an_acceptance_without_controls_is_an_error_with_its_line() {
    let project = Project::load_for_audit(&fixture("accept-no-controls.yaml")).unwrap();
    let err = audit::audit_static(&project).unwrap_err().to_string();
    assert!(err.contains("accept-no-controls.yaml:5"), "{err}");
    assert!(err.contains("names no compensating control"), "{err}");
    assert!(err.contains("fix: list in `controls:`"), "{err}");
}

#[test]
fn a_critical_check_cannot_be_accepted() {
    let project = Project::load_for_audit(&fixture("accept-critical-check.yaml")).unwrap();
    let err = audit::audit_static(&project).unwrap_err().to_string();
    assert!(err.contains("accept-critical-check.yaml:8"), "{err}");
    assert!(err.contains("`CIS-5.32`"), "{err}");
    assert!(err.contains("critical risk cannot be accepted"), "{err}");
}

#[test]
fn a_critical_finding_of_an_accepted_check_stays_open() {
    let r = audit_file(&fixture("accept-critical-finding.yaml"));
    let f = finding(&r, "app", "CIS-5.4", "cap_add: [ALL]");
    assert_open(f, Severity::Critical);
    let void = f.acceptance_void.as_deref().unwrap();
    assert!(void.contains("accept-critical-finding.yaml:10"), "{void}");
    assert!(void.contains("critical"), "{void}");
}

#[test]
fn an_unquoted_check_id_is_refused_with_advice_to_quote_it() {
    let Err(LoadError::Invalid(d)) = Project::load_for_audit(&fixture("unquoted-check.yaml"))
    else {
        panic!("accepted");
    };
    let text = d.to_string();
    assert!(text.contains("quote it"), "{text}");
    assert!(text.contains("unquoted-check.yaml:3"), "{text}");
}

#[test]
fn a_build_dockerfile_that_is_not_a_regular_file_is_not_read() {
    let fifo_dir = std::env::temp_dir().join(format!("stackctl-audit-fifo-{}", std::process::id()));
    std::fs::create_dir_all(&fifo_dir).unwrap();
    let made = Command::new("mkfifo")
        .arg(fifo_dir.join("Dockerfile"))
        .status()
        .unwrap();
    assert!(made.success());
    std::fs::write(
        fifo_dir.join("compose.yaml"),
        "services:\n  app:\n    image: app:local\n    build: .\n",
    )
    .unwrap();
    for file in [
        fixture("dev-zero-dockerfile.yaml"),
        fifo_dir.join("compose.yaml"),
    ] {
        // Reading /dev/zero never ends and opening a FIFO blocks: bounded here.
        let (done, finished) = std::sync::mpsc::channel();
        let audited = file.clone();
        std::thread::spawn(move || {
            let _ = done.send(audit_file(&audited));
        });
        let r = finished
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("{}: the audit did not finish", file.display()));
        assert_open(
            finding(&r, "app", "CIS-4.6", "cannot be read here"),
            Severity::Info,
        );
    }
    std::fs::remove_dir_all(&fifo_dir).unwrap();
}

// --- our stack ---------------------------------------------------------------------

#[test]
fn our_compose_file_passes_at_the_default_threshold() {
    let r = audit_file(&stack_compose_file());
    let failing: Vec<_> = r.failing(Severity::Medium).collect();
    assert!(failing.is_empty(), "{failing:#?}");
    assert!(r.notes.is_empty(), "{:?}", r.notes);
}

#[test]
fn our_host_networking_is_an_accepted_risk_with_its_controls_listed() {
    let r = audit_file(&stack_compose_file());
    for service in ["db", "api", "notebook-gateway", "legacy-telnet"] {
        let f = finding(&r, service, "CIS-5.10", "network_mode: host");
        assert_eq!(f.severity, Severity::High, "reported at its real severity");
        let accepted = f.accepted.as_ref().expect("accepted, not hidden");
        let controls = accepted.controls_in_place.join("; ");
        for control in [
            "cap_drop ALL",
            "no-new-privileges",
            "read-only root filesystem",
            "not root",
            "egress",
        ] {
            assert!(
                controls.contains(control),
                "{service}: {control} in {controls}"
            );
        }
        assert!(
            accepted.controls_missing.is_empty(),
            "{service}: {:?}",
            accepted.controls_missing
        );
    }
}

#[test]
fn our_telnet_terminal_is_reported_as_accepted_plaintext_on_the_lan() {
    let r = audit_file(&stack_compose_file());
    let f = finding(&r, "legacy-telnet", "plaintext", "Telnet on 0.0.0.0:2323");
    assert_eq!(f.severity, Severity::High);
    let accepted = f.accepted.as_ref().expect("accepted");
    assert!(
        accepted.reason.contains("clear text"),
        "{}",
        accepted.reason
    );
}

#[test]
fn up_refuses_what_only_the_audit_reads() {
    let Err(LoadError::Invalid(d)) = Project::load(&fixture("insecure.yaml")) else {
        panic!("up would run the insecure file");
    };
    let text = d.to_string();
    assert!(
        text.contains(
            "`privileged: true` is read by `stackctl audit`, but `stackctl up` does not apply it"
        ),
        "{text}"
    );
    assert!(text.contains("insecure.yaml:6"), "{text}");
    assert!(
        text.contains("`ports` has no effect with `network_mode: host`"),
        "{text}"
    );
}

// --- the command: formats and --fail-on -----------------------------------------

fn stackctl(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_stackctl"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn fail_on_sets_the_exit_status() {
    let insecure = fixture("insecure.yaml");
    let file = insecure.to_str().unwrap();
    let out = stackctl(&["-f", file, "audit"]);
    assert!(!out.status.success(), "medium findings fail by default");
    assert!(String::from_utf8_lossy(&out.stderr).contains("audit failed"));
    assert!(
        stackctl(&["-f", file, "audit", "--fail-on", "none"])
            .status
            .success()
    );
    let hardened = fixture("hardened.yaml");
    let hardened = hardened.to_str().unwrap();
    assert!(
        !stackctl(&["-f", hardened, "audit", "--fail-on", "high"])
            .status
            .success(),
        "fragile's void 5.10 is high"
    );
    assert!(
        stackctl(&["-f", hardened, "audit", "--fail-on", "critical"])
            .status
            .success()
    );
}

#[test]
fn the_human_report_groups_by_service_with_severity_and_fix() {
    let file = stack_compose_file();
    let out = stackctl(&["-f", file.to_str().unwrap(), "audit"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("\nlegacy-telnet\n  [accepted high] CIS-5.10 Ensure that the host's network namespace is not shared\n"),
        "{text}"
    );
    assert!(
        text.contains(
            "  [accepted high] plaintext Plaintext protocol reachable beyond this host\n"
        ),
        "{text}"
    );
    assert!(text.contains("      fix: "), "{text}");
    assert!(
        text.contains("controls in place: no capabilities (cap_drop ALL)"),
        "{text}"
    );
    assert!(text.contains("result: passed"), "{text}");
}

#[test]
fn json_output_carries_findings_and_the_verdict() {
    let file = fixture("insecure.yaml");
    let out = stackctl(&["-f", file.to_str().unwrap(), "audit", "--format", "json"]);
    assert!(!out.status.success());
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["mode"], "static");
    assert_eq!(json["summary"]["passed"], false);
    assert_eq!(json["summary"]["fail_on"], "medium");
    let privileged = json["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"] == "CIS-5.5")
        .unwrap();
    assert_eq!(privileged["severity"], "critical");
    assert_eq!(privileged["location"]["line"], 6);
}

#[test]
fn sarif_output_is_sarif_2_1_0_with_rules_lines_and_suppressions() {
    let file = stack_compose_file();
    let out = stackctl(&["-f", file.to_str().unwrap(), "audit", "--format", "sarif"]);
    assert!(out.status.success());
    let sarif: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    let run = &sarif["runs"][0];
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    assert!(rules.iter().any(|r| r["id"] == "CIS-5.10"
        && r["shortDescription"]["text"]
            == "Ensure that the host's network namespace is not shared"));
    let results = run["results"].as_array().unwrap();
    let telnet = results.iter().find(|r| r["ruleId"] == "plaintext").unwrap();
    assert_eq!(
        rules[telnet["ruleIndex"].as_u64().unwrap() as usize]["id"],
        "plaintext"
    );
    assert_eq!(telnet["suppressions"][0]["status"], "accepted");
    let line = telnet["locations"][0]["physicalLocation"]["region"]["startLine"]
        .as_u64()
        .unwrap() as usize;
    let text = std::fs::read_to_string(&file).unwrap();
    let written = text.lines().nth(line - 1).unwrap();
    assert!(
        written.contains("telnet://0.0.0.0:"),
        "line {line}: {written}"
    );
}

#[test]
fn sarif_file_uris_are_percent_encoded() {
    let dir = std::env::temp_dir().join(format!("stackctl audit #{} 100%", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("compose.yaml");
    std::fs::copy(fixture("hardened.yaml"), &file).unwrap();
    let out = stackctl(&[
        "-f",
        file.to_str().unwrap(),
        "audit",
        "--format",
        "sarif",
        "--fail-on",
        "none",
    ]);
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let sarif: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let uri = sarif["runs"][0]["results"][0]["locations"][0]["physicalLocation"]
        ["artifactLocation"]["uri"]
        .as_str()
        .unwrap()
        .to_owned();
    let expected = format!(
        "file://{}/stackctl%20audit%20%23{}%20100%25/compose.yaml",
        std::env::temp_dir().display(),
        std::process::id()
    );
    assert_eq!(uri, expected);
}

// --- live --------------------------------------------------------------------------------

/// What a finding is, without its wording (live messages name real sockets).
fn essence(report: &Report) -> BTreeSet<(String, String, Severity, bool)> {
    report
        .findings
        .iter()
        .map(|f| {
            (
                f.service.clone(),
                f.check.to_owned(),
                f.severity,
                f.is_open(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_live_audit_of_a_running_stack_matches_its_static_audit() -> anyhow::Result<()> {
    let bed = Testbed::new("audit-live").await?;
    let options = UpOptions {
        services: Vec::new(),
        firewall: true,
        timeout: Duration::from_secs(120),
        build: BuildOptions::default(),
    };
    stack::up::up(&bed.docker, bed.project(), &options, &Progress::plain()).await?;
    let on_paper = audit::audit_static(bed.project())?;
    let live = audit::audit_live(&bed.docker, bed.project()).await?;
    assert_eq!(live.mode, audit::Mode::Live);
    assert_eq!(
        essence(&live),
        essence(&on_paper),
        "live: {:#?}",
        live.findings
    );
    // The live facts are the real ones: the API's socket, as the kernel lists it.
    let api_port = bed.port("SHOP_API_PORT")?;
    let api_bind = finding(&live, "api", "CIS-5.14", "every interface");
    assert!(
        api_bind.message.contains(&format!("0.0.0.0:{api_port}")),
        "{}",
        api_bind.message
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_live_audit_reports_sockets_that_differ_from_the_declaration() -> anyhow::Result<()> {
    let mut bed = Testbed::new("audit-drift").await?;
    bed.start("db").await?;
    let db_port = bed.port("SHOP_DB_PORT")?;
    let declared: stackctl::compose::extension::Endpoint = "mysql://127.0.0.1:1".parse().unwrap();
    bed.project_mut().extensions.get_mut("db").unwrap().listen = vec![declared];
    let live = audit::audit_live(&bed.docker, bed.project()).await?;
    let undeclared = finding(&live, "db", "listen-drift", "does not declare");
    assert_eq!(undeclared.severity, Severity::Medium);
    assert!(
        undeclared.message.contains(&format!("127.0.0.1:{db_port}")),
        "{}",
        undeclared.message
    );
    finding(
        &live,
        "db",
        "listen-drift",
        "declares mysql://127.0.0.1:1 but nothing",
    );
    finding(&live, "api", "not-running", "no running container");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_live_audit_of_a_stopped_stack_fails_and_keeps_its_acceptances() -> anyhow::Result<()> {
    let bed = Testbed::new("audit-stopped").await?;
    let live = audit::audit_live(&bed.docker, bed.project()).await?;
    for service in &live.services {
        assert_open(
            finding(&live, service, "not-running", "no running container"),
            Severity::Medium,
        );
    }
    assert!(
        live.failing(Severity::Medium).count() >= live.services.len(),
        "nothing was audited, so the audit does not pass"
    );
    assert!(
        live.notes
            .iter()
            .any(|n| n.contains("nothing was audited live")),
        "{:?}",
        live.notes
    );
    assert!(
        !live.notes.iter().any(|n| n.contains("no finding matches")),
        "a stopped service's acceptances are not stale: {:?}",
        live.notes
    );
    Ok(())
}
