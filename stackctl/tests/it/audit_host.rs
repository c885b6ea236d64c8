//! `stackctl audit --host` on fixtures whose verdicts are known, and the
//! parity with docker-bench-security v1.6.0: every check of its default run
//! has a row in docs/audit.md's table, every row that names one of our checks
//! is shown to fire on a fixture made to fail it (and not on the hardened
//! host the fixtures start from), and a fact that cannot be read is a note,
//! never a pass. One test runs the host audit against this machine's engine.

use std::collections::BTreeSet;
use std::path::Path;

use stackctl::audit::host::facts::{ExecFact, FileFact, HostFacts, Stat, SwarmFacts, fixture_host};
use stackctl::audit::host::parity::{self, Verdict};
use stackctl::audit::host::{self, HOST};
use stackctl::audit::subject::Subject;
use stackctl::audit::{self, Severity, catalog};
use stackctl::compose::Project;

fn subjects() -> Vec<Subject> {
    let mut api = Subject::blank("api");
    api.security_opt = vec!["no-new-privileges:true".to_owned()];
    vec![api]
}

/// The check ids `facts` produce findings for.
fn fired(facts: &HostFacts) -> BTreeSet<&'static str> {
    host::judge(facts, &subjects())
        .findings
        .iter()
        .map(|(f, _)| f.check)
        .collect()
}

fn set(facts: &mut HostFacts, key: &str, value: serde_json::Value) {
    let Ok(Some((_, json))) = &mut facts.daemon.file else {
        panic!("the fixture has a daemon.json")
    };
    json[key] = value;
}

fn engine(facts: &mut HostFacts) -> &mut stackctl::audit::host::facts::EngineFacts {
    facts.engine.as_mut().expect("the fixture's engine answers")
}

fn bad_file(owner_check: &'static str, mode_check: &'static str) -> FileFact {
    FileFact {
        owner_check,
        mode_check,
        path: format!("/fixture/{owner_check}"),
        stat: Ok(Some(Stat {
            uid: 1000,
            gid: 1000,
            mode: 0o666,
            user: Some("alice".to_owned()),
            group: Some("alice".to_owned()),
        })),
        owner: ("root", "root"),
        max_mode: 0o644,
    }
}

fn swarm_on(facts: &mut HostFacts) -> &mut SwarmFacts {
    engine(facts).swarm_active = true;
    facts.swarm = Some(SwarmFacts {
        managers: 1,
        is_manager: true,
        management_listeners: vec!["10.1.2.3:2377".parse().unwrap()],
        overlays: vec![("backend".to_owned(), true)],
        secrets: Ok(2),
        autolock: Some(true),
        node_cert_hours: Some(720.0),
        node_addr: "10.1.2.3".to_owned(),
        data_path_addr: Some("10.9.9.9".to_owned()),
    });
    facts.swarm.as_mut().unwrap()
}

type Mutation = fn(&mut HostFacts);

/// For each host check: a change to the hardened fixture that must make it
/// fire.
fn mutations() -> Vec<(&'static str, Mutation)> {
    vec![
        ("CIS-1.1.1", |f| f.root_dir_mounted = Ok(false)),
        ("CIS-1.1.2", |f| {
            f.docker_group = Ok(Some(vec!["alice".to_owned()]))
        }),
        ("CIS-1.1.3", |f| f.audit_rules = Ok(Vec::new())),
        ("CIS-1.1.4", |f| {
            f.audit_paths
                .push(("/run/containerd", Some("/run/containerd".into())))
        }),
        ("CIS-1.1.5", |f| {
            f.audit_paths
                .push(("root-dir", Some("/var/lib/docker".into())))
        }),
        ("CIS-1.1.6", |f| {
            f.audit_paths
                .push(("/etc/docker", Some("/etc/docker".into())))
        }),
        ("CIS-1.1.7", |f| {
            f.audit_paths.push((
                "docker.service",
                Some("/lib/systemd/system/docker.service".into()),
            ))
        }),
        ("CIS-1.1.8", |f| {
            f.audit_paths.push((
                "containerd.sock",
                Some("/run/containerd/containerd.sock".into()),
            ))
        }),
        ("CIS-1.1.9", |f| {
            f.audit_paths.push((
                "docker.socket",
                Some("/lib/systemd/system/docker.socket".into()),
            ))
        }),
        ("CIS-1.1.10", |f| {
            f.audit_paths
                .push(("/etc/default/docker", Some("/etc/default/docker".into())))
        }),
        ("CIS-1.1.11", |f| {
            f.audit_paths
                .push(("daemon.json", Some("/etc/docker/daemon.json".into())))
        }),
        ("CIS-1.1.12", |f| {
            f.audit_paths.push((
                "/etc/containerd/config.toml",
                Some("/etc/containerd/config.toml".into()),
            ))
        }),
        ("CIS-1.1.13", |f| {
            f.audit_paths.push((
                "/etc/sysconfig/docker",
                Some("/etc/sysconfig/docker".into()),
            ))
        }),
        ("CIS-1.1.14", |f| {
            f.audit_paths
                .push(("containerd", Some("/usr/bin/containerd".into())))
        }),
        ("CIS-1.1.15", |f| {
            f.audit_paths
                .push(("containerd-shim", Some("/usr/bin/containerd-shim".into())))
        }),
        ("CIS-1.1.16", |f| {
            f.audit_paths.push((
                "containerd-shim-runc-v1",
                Some("/usr/bin/containerd-shim-runc-v1".into()),
            ))
        }),
        ("CIS-1.1.17", |f| {
            f.audit_paths.push((
                "containerd-shim-runc-v2",
                Some("/usr/bin/containerd-shim-runc-v2".into()),
            ))
        }),
        ("CIS-1.1.18", |f| {
            f.audit_paths.push(("runc", Some("/usr/bin/runc".into())))
        }),
        ("CIS-2.1", |f| {
            engine(f).security_options.retain(|o| o != "name=rootless")
        }),
        ("CIS-2.2", |f| engine(f).bridge_icc = Ok(Some(true))),
        ("CIS-2.3", |f| engine(f).debug = true),
        ("CIS-2.4", |f| set(f, "iptables", false.into())),
        ("CIS-2.5", |f| {
            engine(f).insecure_registries = vec!["10.0.0.5:5000".to_owned()]
        }),
        ("CIS-2.6", |f| engine(f).storage_driver = "aufs".to_owned()),
        ("CIS-2.7", |f| {
            f.daemon_tcp = Ok(vec!["127.0.0.1:2375".parse().unwrap()])
        }),
        ("CIS-2.8", |f| {
            set(f, "default-ulimits", serde_json::json!({}))
        }),
        ("CIS-2.9", |f| {
            engine(f).security_options.retain(|o| o != "name=userns")
        }),
        ("CIS-2.10", |f| set(f, "cgroup-parent", "/custom".into())),
        ("CIS-2.11", |f| {
            set(f, "storage-opts", serde_json::json!(["dm.basesize=20G"]))
        }),
        ("CIS-2.12", |f| engine(f).authorization_plugins.clear()),
        ("CIS-2.13", |f| {
            engine(f).logging_driver = "json-file".to_owned()
        }),
        ("CIS-2.14", |f| set(f, "no-new-privileges", false.into())),
        ("CIS-2.15", |f| engine(f).live_restore = false),
        ("CIS-2.16", |f| set(f, "userland-proxy", true.into())),
        ("CIS-2.17", |f| {
            engine(f)
                .security_options
                .retain(|o| !o.contains("seccomp"))
        }),
        ("CIS-2.18", |f| engine(f).experimental = true),
        ("CIS-3.1", |f| f.files.push(bad_file("CIS-3.1", "CIS-3.2"))),
        ("CIS-3.2", |f| f.files.push(bad_file("CIS-3.1", "CIS-3.2"))),
        ("CIS-3.3", |f| f.files.push(bad_file("CIS-3.3", "CIS-3.4"))),
        ("CIS-3.4", |f| f.files.push(bad_file("CIS-3.3", "CIS-3.4"))),
        ("CIS-3.5", |f| f.files.push(bad_file("CIS-3.5", "CIS-3.6"))),
        ("CIS-3.6", |f| f.files.push(bad_file("CIS-3.5", "CIS-3.6"))),
        ("CIS-3.7", |f| f.files.push(bad_file("CIS-3.7", "CIS-3.8"))),
        ("CIS-3.8", |f| f.files.push(bad_file("CIS-3.7", "CIS-3.8"))),
        ("CIS-3.9", |f| f.files.push(bad_file("CIS-3.9", "CIS-3.10"))),
        ("CIS-3.10", |f| {
            f.files.push(bad_file("CIS-3.9", "CIS-3.10"))
        }),
        ("CIS-3.11", |f| {
            f.files.push(bad_file("CIS-3.11", "CIS-3.12"))
        }),
        ("CIS-3.12", |f| {
            f.files.push(bad_file("CIS-3.11", "CIS-3.12"))
        }),
        ("CIS-3.13", |f| {
            f.files.push(bad_file("CIS-3.13", "CIS-3.14"))
        }),
        ("CIS-3.14", |f| {
            f.files.push(bad_file("CIS-3.13", "CIS-3.14"))
        }),
        ("CIS-3.15", |f| {
            f.files.push(bad_file("CIS-3.15", "CIS-3.16"))
        }),
        ("CIS-3.16", |f| {
            f.files.push(bad_file("CIS-3.15", "CIS-3.16"))
        }),
        ("CIS-3.17", |f| {
            f.files.push(bad_file("CIS-3.17", "CIS-3.18"))
        }),
        ("CIS-3.18", |f| {
            f.files.push(bad_file("CIS-3.17", "CIS-3.18"))
        }),
        ("CIS-3.19", |f| {
            f.files.push(bad_file("CIS-3.19", "CIS-3.20"))
        }),
        ("CIS-3.20", |f| {
            f.files.push(bad_file("CIS-3.19", "CIS-3.20"))
        }),
        ("CIS-3.21", |f| {
            f.files.push(bad_file("CIS-3.22", "CIS-3.21"))
        }),
        ("CIS-3.22", |f| {
            f.files.push(bad_file("CIS-3.22", "CIS-3.21"))
        }),
        ("CIS-3.23", |f| {
            f.files.push(bad_file("CIS-3.23", "CIS-3.24"))
        }),
        ("CIS-3.24", |f| {
            f.files.push(bad_file("CIS-3.23", "CIS-3.24"))
        }),
        ("CIS-4.5", |f| f.images[0].built_locally = false),
        ("CIS-4.7", |f| {
            f.images[0].history = Ok(vec![
                "/bin/sh -c apt-get update".to_owned(),
                "base".to_owned(),
            ])
        }),
        ("CIS-4.8", |f| {
            f.images[0].setid_files = Ok(vec![("/usr/bin/su".to_owned(), 0o4755)])
        }),
        ("CIS-4.9", |f| {
            f.images[0].history = Ok(vec![
                "/bin/sh -c #(nop) ADD https://example.org/x.tgz /opt".to_owned(),
                "/bin/sh -c #(nop) ADD file:0123 in /".to_owned(),
            ])
        }),
        ("CIS-4.10", |f| {
            f.images[0].env.push("DB_PASSWORD=hunter2".to_owned())
        }),
        ("CIS-5.1", |f| {
            swarm_on(f);
        }),
        ("CIS-5.19", |f| {
            f.services[0].ulimits.clear();
            set(f, "default-ulimits", serde_json::json!({}));
        }),
        ("CIS-5.23", |f| {
            f.services[0].execs.push(ExecFact {
                command: "sh".to_owned(),
                user: String::new(),
                privileged: true,
            })
        }),
        ("CIS-5.24", |f| {
            f.services[0].execs.push(ExecFact {
                command: "mariadb".to_owned(),
                user: "root".to_owned(),
                privileged: false,
            })
        }),
        ("CIS-5.30", |f| {
            f.services[0].network_mode = Some("bridge".to_owned())
        }),
        ("CIS-7.1", |f| swarm_on(f).managers = 2),
        ("CIS-7.2", |f| {
            swarm_on(f).management_listeners = vec!["0.0.0.0:2377".parse().unwrap()]
        }),
        ("CIS-7.3", |f| {
            swarm_on(f).overlays.push(("ingress".to_owned(), false))
        }),
        ("CIS-7.4", |f| swarm_on(f).secrets = Ok(0)),
        ("CIS-7.5", |f| swarm_on(f).autolock = Some(false)),
        ("CIS-7.6", |f| {
            swarm_on(f);
        }),
        ("CIS-7.7", |f| {
            swarm_on(f).node_cert_hours = Some(24.0 * 365.0)
        }),
        ("CIS-7.8", |f| {
            swarm_on(f);
        }),
        ("CIS-7.9", |f| swarm_on(f).data_path_addr = None),
    ]
}

#[test]
fn host_checks_pass_on_a_hardened_host_and_each_fires_on_the_fixture_that_fails_it() {
    let clean = fired(&fixture_host());
    assert!(clean.is_empty(), "the hardened fixture passes: {clean:?}");
    let table = mutations();
    let ids: BTreeSet<&str> = table.iter().map(|(id, _)| *id).collect();
    for check in host::catalog::CHECKS {
        assert!(ids.contains(check.id), "{} has a failing fixture", check.id);
    }
    for (id, mutate) in table {
        let mut facts = fixture_host();
        mutate(&mut facts);
        assert!(fired(&facts).contains(id), "{id} fires on its fixture");
    }
}

#[test]
fn docker_bench_5_13_passes_a_host_network_wildcard_bind_and_ours_reports_it() {
    // docker-bench reads `docker port`, empty on the host network; ours reads
    // the sockets: the API on 0.0.0.0 without `x-stackctl.lan` is lan-bind,
    // with it CIS 5.14 (low).
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../compose.yaml");
    let project = Project::load_for_audit(&file).unwrap();
    let report = audit::audit_static(&project).unwrap();
    assert!(
        report.findings.iter().any(|f| f.service == "api"
            && f.check == "CIS-5.14"
            && f.message.contains("0.0.0.0:3000")),
        "{:#?}",
        report.findings
    );
}

#[test]
fn what_cannot_be_read_is_a_note_never_a_pass() {
    let mut facts = fixture_host();
    set(&mut facts, "userland-proxy", true.into());
    facts.daemon.file = Err("/etc/docker/daemon.json: Permission denied".to_owned());
    facts.files.push(FileFact {
        stat: Err("Permission denied (os error 13)".to_owned()),
        ..bad_file("CIS-3.17", "CIS-3.18")
    });
    facts.images[0].setid_files = Err("cannot export".to_owned());
    facts.audit_rules = Err("`auditctl -l` failed: run as root".to_owned());
    let out = host::judge(&facts, &subjects());
    let ids: BTreeSet<&str> = out.findings.iter().map(|(f, _)| f.check).collect();
    for id in [
        "CIS-2.16",
        "CIS-2.14",
        "CIS-3.17",
        "CIS-3.18",
        "CIS-4.8",
        "CIS-1.1.3",
    ] {
        assert!(!ids.contains(id), "{id} is not judged unread");
        assert!(
            out.notes
                .iter()
                .any(|n| n.contains(id) || (id.starts_with("CIS-1.1") && n.contains("1.1.3"))),
            "{id} says it could not read: {:#?}",
            out.notes
        );
    }
}

#[test]
fn setuid_files_are_low_under_no_new_privileges_and_medium_without() {
    let mut facts = fixture_host();
    facts.images[0].setid_files = Ok(vec![("/usr/bin/su".to_owned(), 0o4755)]);
    let severity = |subjects: &[Subject]| {
        host::judge(&facts, subjects)
            .findings
            .iter()
            .find(|(f, _)| f.check == "CIS-4.8")
            .map(|(f, _)| f.severity)
    };
    assert_eq!(severity(&subjects()), Some(Severity::Low));
    assert_eq!(severity(&[Subject::blank("api")]), Some(Severity::Medium));
}

#[test]
fn the_userland_proxy_finding_cites_the_measured_cost_and_the_bench() {
    let mut facts = fixture_host();
    set(&mut facts, "userland-proxy", true.into());
    facts.proxy_processes = Ok(2);
    let out = host::judge(&facts, &subjects());
    let (finding, _) = out
        .findings
        .iter()
        .find(|(f, _)| f.check == "CIS-2.16")
        .expect("2.16 fires");
    assert_eq!(finding.service, HOST);
    for text in [
        "×1.47",
        "×0.54",
        "stackctl bench",
        "2 docker-proxy",
        "host network",
    ] {
        assert!(
            finding.message.contains(text),
            "{text}: {}",
            finding.message
        );
    }
}

#[test]
fn a_world_writable_socket_is_worse_than_docker_bench_says() {
    // docker-bench compares `stat -c %a` as a number: 602 <= 660 passes.
    let mut facts = fixture_host();
    if let Ok(Some(stat)) = &mut facts.files[0].stat {
        stat.mode = 0o602;
    }
    let out = host::judge(&facts, &subjects());
    let (finding, _) = out
        .findings
        .iter()
        .find(|(f, _)| f.check == "CIS-3.16")
        .expect("0602 is more than 0660 allows");
    assert_eq!(finding.severity, Severity::Critical);
}

#[test]
fn the_parity_table_covers_every_docker_bench_check_and_names_real_checks() {
    assert_eq!(
        parity::ROWS.len(),
        117,
        "docker-bench v1.6.0 runs 117 checks"
    );
    let bench: BTreeSet<&str> = parity::ROWS.iter().map(|r| r.bench).collect();
    assert_eq!(bench.len(), parity::ROWS.len(), "no docker-bench id twice");
    let host_fixtures: BTreeSet<&str> = mutations().iter().map(|(id, _)| *id).collect();
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/audit/insecure.yaml");
    let insecure = audit::audit_static(&Project::load_for_audit(&file).unwrap()).unwrap();
    for row in parity::ROWS {
        match (row.verdict, row.ours) {
            (Verdict::NotApplicable, None) => assert!(!row.why.is_empty()),
            (Verdict::NotApplicable, Some(ours)) => {
                panic!("{}: not applicable yet {ours}", row.bench)
            }
            (_, None) => panic!("{}: a verdict needs a check", row.bench),
            (_, Some("stackctl scan")) => {}
            (_, Some(ours)) => {
                let check = catalog::find(ours).unwrap_or_else(|| panic!("{ours} is a check"));
                // Each check is shown to fire: host checks on their fixture,
                // container checks on the insecure Compose file.
                let shown = host_fixtures.contains(check.id)
                    || insecure.findings.iter().any(|f| f.check == check.id);
                assert!(shown, "{} ({}) fires on a fixture", row.bench, check.id);
            }
        }
    }
}

#[test]
fn docs_audit_shows_the_parity_table_the_code_has() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/audit.md"))
            .unwrap();
    assert!(
        readme.contains(&parity::markdown()),
        "docs/audit.md's parity table differs from stackctl::audit::host::parity; paste:\n{}",
        parity::markdown()
    );
}

#[tokio::test]
async fn the_host_audit_of_this_machine_reports_the_daemon_and_is_never_silent() {
    let docker = stackctl::engine::connect().await.unwrap();
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/valid/compose.yaml");
    let file = if file.exists() {
        file
    } else {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../compose.yaml")
    };
    let mut project = Project::load_for_audit(&file).unwrap();
    project.rename("audit-host-test");
    let report = audit::host::audit(&docker, &project, false).await.unwrap();
    assert!(report.host);
    assert_eq!(report.services.first().map(String::as_str), Some(HOST));
    // Every daemon check either judged (a finding, or a pass) or said why not:
    // 2.16 is on by default, so on an engine without `userland-proxy: false`
    // it is a finding; otherwise the configuration was read and it passed.
    let daemon_json = std::fs::read_to_string("/etc/docker/daemon.json").unwrap_or_default();
    let proxy_off = daemon_json
        .replace(' ', "")
        .contains("\"userland-proxy\":false");
    let reported = report.findings.iter().any(|f| f.check == "CIS-2.16")
        || report.notes.iter().any(|n| n.contains("CIS-2.16"));
    assert!(proxy_off || reported, "{:#?}", report.notes);
    for finding in report.findings.iter().filter(|f| f.service == HOST) {
        assert!(
            !finding.message.is_empty() && !finding.fix.is_empty(),
            "{finding:#?}"
        );
        assert!(finding.location.is_some(), "{finding:#?}");
    }
}
