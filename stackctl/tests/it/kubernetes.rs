//! `stackctl export kubernetes` from the outside: the manifests of our
//! `compose.yaml`, read back through the typed objects, carry each
//! hardening key; every document validates strictly against the oldest
//! Kubernetes the export states and current ones (`kubernetes-validate`);
//! an independent policy tool (`checkov`) fails only the checks docs/kubernetes.md
//! lists with their reasons; bad input is refused with file:line and a fix;
//! an unaccepted loss writes nothing.
//!
//! No cluster runs here. The two Python checkers are installed by `.ci/run`
//! into a virtualenv (`target/k8s-tools`, or `$STACKCTL_K8S_TOOLS`), once
//! per machine, not per test; these tests find it and fail, saying how to
//! make it, when it is absent: a check that cannot run never passes.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment};
use k8s_openapi::api::core::v1::{Container, PodSpec};
use stackctl::compose::Project;
use stackctl::export::kubernetes::{Document, MIN_VERSION, parse_documents};

/// The Kubernetes versions whose schemas every document must satisfy: the
/// oldest the export states, and current ones.
const SCHEMA_VERSIONS: &[&str] = &["1.29.0", "1.33.0", "1.37.0"];

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/kubernetes")
        .join(name)
}

fn stackctl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_stackctl"))
        .args(args)
        .output()
        .expect("run stackctl")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Exports our compose.yaml with the CLI into `dir` and returns the
/// manifests' text and the JSON report.
fn export_ours(dir: &Path) -> (String, serde_json::Value) {
    let file = dir.join("shop.yaml");
    let compose = workspace().join("compose.yaml");
    let output = stackctl(&[
        "-f",
        compose.to_str().unwrap(),
        "export",
        "kubernetes",
        "--format",
        "json",
        "-o",
        file.to_str().unwrap(),
    ]);
    assert!(
        output.status.success(),
        "export failed: {}{}",
        text(&output.stdout),
        text(&output.stderr)
    );
    let report = serde_json::from_slice(&output.stdout).expect("the report is JSON");
    (std::fs::read_to_string(&file).unwrap(), report)
}

fn pod_of(documents: &[Document]) -> (&Deployment, &PodSpec) {
    let deployment = documents
        .iter()
        .find_map(|d| match d {
            Document::Deployment(d) => Some(d),
            _ => None,
        })
        .expect("a Deployment");
    let spec = deployment
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .expect("a pod template");
    (deployment, spec)
}

fn container<'a>(pod: &'a PodSpec, name: &str) -> Option<&'a Container> {
    pod.containers
        .iter()
        .chain(pod.init_containers.iter().flatten())
        .find(|c| c.name == name)
}

type Check = fn(&Project, &str, &Container, &PodSpec) -> Result<(), String>;

fn same<T: PartialEq + std::fmt::Debug>(what: &str, got: T, want: T) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!("{what}: got {got:?}, want {want:?}"))
    }
}

/// Each hardening key of compose.yaml and how its exported setting is read
/// back from the typed objects.
const TABLE: &[(&str, Check)] = &[
    ("user: runAsUser, runAsGroup, runAsNonRoot", |p, s, c, _| {
        let user = p.model.services[s].user.clone().unwrap();
        let (uid, gid) = user.split_once(':').unwrap();
        let sc = c.security_context.as_ref().ok_or("no securityContext")?;
        same("runAsUser", sc.run_as_user, uid.parse().ok())?;
        same("runAsGroup", sc.run_as_group, gid.parse().ok())?;
        same("runAsNonRoot", sc.run_as_non_root, Some(true))
    }),
    ("cap_drop: capabilities.drop", |p, s, c, _| {
        let caps = c
            .security_context
            .as_ref()
            .and_then(|sc| sc.capabilities.as_ref())
            .ok_or("no capabilities")?;
        same(
            "drop",
            caps.drop.clone(),
            Some(p.model.services[s].cap_drop.clone()),
        )?;
        same("add", caps.add.clone(), None)
    }),
    ("read_only: readOnlyRootFilesystem", |p, s, c, _| {
        same(
            "readOnlyRootFilesystem",
            c.security_context
                .as_ref()
                .and_then(|sc| sc.read_only_root_filesystem),
            Some(p.model.services[s].read_only),
        )
    }),
    (
        "security_opt no-new-privileges: allowPrivilegeEscalation false, seccomp RuntimeDefault",
        |_, _, c, pod| {
            let sc = c.security_context.as_ref().ok_or("no securityContext")?;
            same(
                "allowPrivilegeEscalation",
                sc.allow_privilege_escalation,
                Some(false),
            )?;
            same(
                "seccomp",
                sc.seccomp_profile.as_ref().map(|p| p.type_.as_str()),
                Some("RuntimeDefault"),
            )?;
            same(
                "pod seccomp",
                pod.security_context
                    .as_ref()
                    .and_then(|p| p.seccomp_profile.as_ref())
                    .map(|p| p.type_.clone()),
                Some("RuntimeDefault".to_owned()),
            )
        },
    ),
    ("mem_limit and cpus: limits and requests", |p, s, c, _| {
        let service = &p.model.services[s];
        let resources = c.resources.as_ref().ok_or("no resources")?;
        let memory = format!("{}Mi", service.mem_limit.unwrap().0 >> 20);
        let cpus = service.cpus.unwrap().0;
        let cpu = if cpus.fract() == 0.0 {
            format!("{cpus}")
        } else {
            format!("{}m", (cpus * 1000.0) as i64)
        };
        for (which, map) in [
            ("limits", &resources.limits),
            ("requests", &resources.requests),
        ] {
            let map = map.as_ref().ok_or(format!("no {which}"))?;
            same(
                &format!("{which}.memory"),
                map["memory"].0.clone(),
                memory.clone(),
            )?;
            same(&format!("{which}.cpu"), map["cpu"].0.clone(), cpu.clone())?;
        }
        Ok(())
    }),
    (
        "healthcheck: startup, readiness and liveness probes run the same command",
        |p, s, c, _| {
            let test = p.model.services[s]
                .healthcheck
                .as_ref()
                .and_then(|h| h.test.clone())
                .unwrap();
            let want = Some(test[1..].to_vec());
            for (which, probe) in [
                ("startup", &c.startup_probe),
                ("readiness", &c.readiness_probe),
                ("liveness", &c.liveness_probe),
            ] {
                let got = probe
                    .as_ref()
                    .and_then(|p| p.exec.as_ref())
                    .and_then(|e| e.command.clone());
                same(which, got, want.clone())?;
            }
            let interval = p.model.services[s].healthcheck.as_ref().unwrap().interval;
            same(
                "readiness period",
                c.readiness_probe.as_ref().and_then(|p| p.period_seconds),
                interval.map(|i| i.0.as_secs() as i32),
            )
        },
    ),
    (
        "network_mode host: hostNetwork, ClusterFirstWithHostNet",
        |_, _, _, pod| {
            same("hostNetwork", pod.host_network, Some(true))?;
            same(
                "dnsPolicy",
                pod.dns_policy.as_deref(),
                Some("ClusterFirstWithHostNet"),
            )
        },
    ),
    (
        "x-stackctl.listen: hostPort == containerPort",
        |p, s, c, _| {
            let want: Vec<(i32, Option<i32>)> = p.extensions[s]
                .listen
                .iter()
                .map(|l| (i32::from(l.addr.port()), Some(i32::from(l.addr.port()))))
                .collect();
            let got: Vec<(i32, Option<i32>)> = c
                .ports
                .iter()
                .flatten()
                .map(|p| (p.container_port, p.host_port))
                .collect();
            same("ports", got, want)
        },
    ),
    (
        "co-location: one pod, at most one per node",
        |_, _, _, pod| {
            let terms = pod
                .affinity
                .as_ref()
                .and_then(|a| a.pod_anti_affinity.as_ref())
                .and_then(|a| {
                    a.required_during_scheduling_ignored_during_execution
                        .clone()
                })
                .ok_or("no required anti-affinity")?;
            same(
                "topologyKey",
                terms[0].topology_key.as_str(),
                "kubernetes.io/hostname",
            )
        },
    ),
    ("tmpfs: memory-backed emptyDir", |p, s, c, pod| {
        for entry in &p.model.services[s].tmpfs {
            let target = entry.split(':').next().unwrap();
            let mount = c
                .volume_mounts
                .iter()
                .flatten()
                .find(|m| m.mount_path == target)
                .ok_or(format!("nothing mounted at {target}"))?;
            let volume = pod
                .volumes
                .iter()
                .flatten()
                .find(|v| v.name == mount.name)
                .ok_or("no such volume")?;
            same(
                "medium",
                volume.empty_dir.as_ref().and_then(|e| e.medium.as_deref()),
                Some("Memory"),
            )?;
        }
        Ok(())
    }),
    ("secrets: referenced Secrets, read-only", |p, s, c, pod| {
        for secret in &p.model.services[s].secrets {
            let path = secret.mount_path();
            let dir = path.rsplit_once('/').unwrap().0;
            let mount = c
                .volume_mounts
                .iter()
                .flatten()
                .find(|m| m.mount_path == dir)
                .ok_or(format!("nothing mounted at {dir}"))?;
            same("readOnly", mount.read_only, Some(true))?;
            let volume = pod
                .volumes
                .iter()
                .flatten()
                .find(|v| v.name == mount.name)
                .and_then(|v| v.projected.as_ref())
                .ok_or("not a projected volume")?;
            let named = volume.sources.iter().flatten().any(|source| {
                source.secret.as_ref().is_some_and(|s| {
                    s.name == secret.source.replace('_', "-")
                        && s.items.iter().flatten().any(|i| i.key == secret.source)
                })
            });
            if !named {
                return Err(format!("secret {} is not projected", secret.source));
            }
        }
        Ok(())
    }),
];

#[test]
fn our_compose_files_hardening_reads_back_from_the_exported_objects() {
    let dir = tempfile::tempdir().unwrap();
    let (yaml, report) = export_ours(dir.path());
    assert_eq!(report["target"], "kubernetes");
    assert_eq!(report["open_losses"], 0, "{report:#}");
    let documents = parse_documents(&yaml).expect("the manifests read back");
    let project = Project::load_for_audit(&workspace().join("compose.yaml")).unwrap();
    let (_, pod) = pod_of(&documents);
    let mut failures = Vec::new();
    let mut checked = 0;
    for service in project.model.services.keys() {
        let Some(c) = container(pod, service) else {
            failures.push(format!("{service}: not a container of the pod"));
            continue;
        };
        for (key, check) in TABLE {
            checked += 1;
            if let Err(why) = check(&project, service, c, pod) {
                failures.push(format!("{service}: {key}: {why}"));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    assert_eq!(checked, project.model.services.len() * TABLE.len());

    // The secrets are referenced, not written.
    assert!(
        !documents.iter().any(|d| matches!(d, Document::Secret(_))),
        "a Secret was written without --include-secret-values"
    );
    assert!(!yaml.contains("\ndata:"), "a Secret's data was written");

    // The namespace admits host networking and still reports the rest.
    let namespace = documents
        .iter()
        .find_map(|d| match d {
            Document::Namespace(n) => Some(n),
            _ => None,
        })
        .unwrap();
    let labels = namespace.metadata.labels.as_ref().unwrap();
    assert_eq!(labels["pod-security.kubernetes.io/enforce"], "privileged");
    assert_eq!(labels["pod-security.kubernetes.io/warn"], "restricted");
    assert_eq!(labels["pod-security.kubernetes.io/audit"], "restricted");

    // The firewall agent: the same image and command as on Swarm.
    let agent: &DaemonSet = documents
        .iter()
        .find_map(|d| match d {
            Document::DaemonSet(d) => Some(d),
            _ => None,
        })
        .expect("the firewall agent's DaemonSet");
    let agent_pod = agent.spec.as_ref().unwrap().template.spec.as_ref().unwrap();
    let c = &agent_pod.containers[0];
    assert_eq!(
        c.args.as_deref(),
        Some(&["agent".to_owned(), "firewall".to_owned()][..])
    );
    let policy = &c.env.as_ref().unwrap()[0];
    assert_eq!(policy.name, "STACKCTL_AGENT_POLICY");
    let plan = stackctl::swarm::agent::parse_policy(policy.value.as_deref().unwrap())
        .expect("the DaemonSet carries a policy the agent accepts");
    assert_eq!(plan, stackctl::firewall::plan(&project).unwrap());
    let caps = c
        .security_context
        .as_ref()
        .unwrap()
        .capabilities
        .clone()
        .unwrap();
    assert_eq!(caps.add, Some(vec!["NET_ADMIN".to_owned()]));
    assert_eq!(caps.drop, Some(vec!["ALL".to_owned()]));
    assert_eq!(agent_pod.host_network, Some(true));
}

#[test]
fn bad_input_is_refused_with_file_line_and_fix() {
    let table = [
        (
            "net-sysctl.yaml",
            8,
            "network sysctl",
            "sysctl -w net.core.somaxconn=4096",
        ),
        ("pid-host.yaml", 7, "hostPID", "fix: remove `pid`"),
        (
            "host-ports.yaml",
            7,
            "hostPort == containerPort",
            "fix: remove `ports`",
        ),
        (
            "two-replicas.yaml",
            9,
            "collide on its ports",
            "max_replicas_per_node: 1",
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (name, line, problem, fix) in table {
        let file = fixture(name);
        let out = dir.path().join(format!("{name}.out"));
        let output = stackctl(&[
            "-f",
            file.to_str().unwrap(),
            "export",
            "kubernetes",
            "-o",
            out.to_str().unwrap(),
        ]);
        let stderr = text(&output.stderr);
        assert!(!output.status.success(), "{name} was accepted");
        assert!(
            stderr.contains(&format!("{}:{line}:", file.display())),
            "{name}: no file:line {line}: {stderr}"
        );
        assert!(stderr.contains(problem), "{name}: {stderr}");
        assert!(stderr.contains(fix), "{name}: {stderr}");
        assert!(!out.exists(), "{name}: manifests were written");
    }
}

#[test]
fn an_unaccepted_loss_fails_the_export_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.yaml");
    let file = fixture("unaccepted-loss.yaml");
    let output = stackctl(&[
        "-f",
        file.to_str().unwrap(),
        "export",
        "kubernetes",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(!output.status.success());
    let report = text(&output.stdout);
    assert!(
        report.contains(&format!(
            "LOST      ulimits.nofile ({}:9) [kubernetes:ulimits]",
            file.display()
        )),
        "{report}"
    );
    assert!(report.contains("check: \"kubernetes:ulimits\""), "{report}");
    assert!(text(&output.stderr).contains("no manifests were written"));
    assert!(!out.exists());
}

#[test]
fn the_help_states_the_minimum_kubernetes_version() {
    let output = stackctl(&["export", "kubernetes", "--help"]);
    assert!(output.status.success());
    assert!(
        text(&output.stdout).contains(&format!("For Kubernetes {MIN_VERSION} or newer")),
        "{}",
        text(&output.stdout)
    );
}

/// The virtualenv `.ci/run` makes with kubernetes-validate and checkov.
fn tools() -> PathBuf {
    let bin = std::env::var_os("STACKCTL_K8S_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target/k8s-tools/bin"));
    assert!(
        bin.join("kubernetes-validate").is_file() && bin.join("checkov").is_file(),
        "the Kubernetes checkers are not installed in {}, so the manifests cannot be checked.\n\
         fix: run `bash .ci/run`, or make the virtualenv yourself:\n  \
         python3 -m venv target/k8s-tools && target/k8s-tools/bin/pip install -r .ci/k8s-tools.txt",
        bin.display()
    );
    bin
}

#[test]
fn every_document_validates_strictly_against_the_oldest_and_current_schemas() {
    let bin = tools();
    let dir = tempfile::tempdir().unwrap();
    let (yaml, _) = export_ours(dir.path());
    let file = dir.path().join("shop.yaml");
    let kinds: BTreeSet<String> = parse_documents(&yaml)
        .unwrap()
        .iter()
        .map(Document::name)
        .collect();
    assert_eq!(SCHEMA_VERSIONS[0], format!("{MIN_VERSION}.0"));
    // A field no schema has must fail: the validator is strict and reads
    // the file, so its passes below mean something.
    let broken = dir.path().join("broken.yaml");
    std::fs::write(
        &broken,
        yaml.replacen(
            "  volumeMode: Filesystem\n",
            "  volumeMode: Filesystem\n  sizeOnDisk: 1\n",
            1,
        ),
    )
    .unwrap();
    for version in SCHEMA_VERSIONS {
        let run = |path: &Path| {
            Command::new(bin.join("kubernetes-validate"))
                .args(["--strict", "-k", version, "--no-warn"])
                .arg(path)
                .output()
                .expect("run kubernetes-validate")
        };
        let output = run(&file);
        let said = text(&output.stdout) + &text(&output.stderr);
        assert!(output.status.success(), "{version}: {said}");
        for name in &kinds {
            assert!(
                said.contains(&format!("passed for resource {name} against version")),
                "{version}: {name} was not validated: {said}"
            );
        }
        let output = run(&broken);
        let said = text(&output.stdout) + &text(&output.stderr);
        assert!(
            !output.status.success(),
            "{version}: an unknown field passed: {said}"
        );
        assert!(said.contains("'sizeOnDisk' was unexpected"), "{said}");
    }
}

/// The checkov findings docs/kubernetes.md lists: check id → the objects, and the
/// acceptance of `compose.yaml` each names (its first backquoted id).
fn readme_checkov_table() -> (BTreeMap<String, BTreeSet<String>>, Vec<String>) {
    let readme = std::fs::read_to_string(workspace().join("docs/kubernetes.md")).unwrap();
    let start = readme
        .find("<!-- checkov-findings:begin -->")
        .expect("docs/kubernetes.md lists checkov's findings between checkov-findings markers");
    let end = readme.find("<!-- checkov-findings:end -->").unwrap();
    let mut table = BTreeMap::new();
    let mut acceptances = Vec::new();
    for row in readme[start..end]
        .lines()
        .filter(|l| l.starts_with("| `CKV"))
    {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let id = cells[1].trim_matches('`').to_owned();
        let objects = cells[2]
            .split(',')
            .map(|o| o.trim().trim_matches('`').to_owned())
            .collect();
        table.insert(id, objects);
        if let Some(accepted) = cells[4].strip_prefix('`') {
            acceptances.push(accepted.split('`').next().unwrap_or_default().to_owned());
        }
    }
    (table, acceptances)
}

#[test]
fn checkov_fails_only_the_checks_the_readme_lists_with_their_reasons() {
    let bin = tools();
    let dir = tempfile::tempdir().unwrap();
    export_ours(dir.path());
    // --skip-download: checkov reads nothing from its vendor's servers (the
    // network rule); the built-in Kubernetes checks are all local.
    let output = Command::new(bin.join("checkov"))
        .args([
            "--framework",
            "kubernetes",
            "--output",
            "json",
            "--quiet",
            "--compact",
            "--skip-download",
            "-f",
        ])
        .arg(dir.path().join("shop.yaml"))
        .output()
        .expect("run checkov");
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|err| {
        panic!(
            "cannot read checkov's output ({err}): {}{}",
            text(&output.stdout),
            text(&output.stderr)
        )
    });
    let results = &json["results"];
    // --quiet leaves the passed checks out of the list, not the summary.
    let passed = json["summary"]["passed"].as_u64().unwrap_or(0);
    assert!(
        passed > 50 && json["summary"]["parsing_errors"] == 0,
        "checkov did not read the manifests: {}",
        json["summary"]
    );
    let mut failed: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for check in results["failed_checks"].as_array().into_iter().flatten() {
        let id = check["check_id"].as_str().unwrap().to_owned();
        // `Kind.namespace.name[.labels]`: a graph check names the pod.
        let resource = check["resource"].as_str().unwrap();
        let mut parts = resource.splitn(4, '.');
        let kind = parts.next().unwrap_or_default();
        let _namespace = parts.next();
        let name = parts.next().unwrap_or_default();
        failed
            .entry(id)
            .or_default()
            .insert(format!("{kind}/{name}"));
    }
    let (listed, acceptances) = readme_checkov_table();
    // A reason that names an accepted risk names one compose.yaml accepts.
    let project = Project::load_for_audit(&workspace().join("compose.yaml")).unwrap();
    let accepted: BTreeSet<&str> = project
        .extension
        .accept
        .iter()
        .chain(project.extensions.values().flat_map(|e| e.accept.iter()))
        .map(|a| a.check.as_str())
        .collect();
    assert!(!acceptances.is_empty());
    for id in &acceptances {
        assert!(
            accepted.contains(id.as_str()),
            "docs/kubernetes.md cites the acceptance `{id}`, which compose.yaml does not have"
        );
    }
    assert_eq!(
        failed, listed,
        "checkov's failed checks (left) and docs/kubernetes.md's list (right) differ: fix the manifests, or list the finding with its reason"
    );
}
