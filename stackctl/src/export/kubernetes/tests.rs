//! Unit tests of the Kubernetes export: refusals with their line and fix,
//! the pod's shape, probes, secrets, and failing closed.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Container, PodSpec};

use super::*;
use crate::compose::model::Healthcheck;
use crate::compose::units::ComposeDuration;
use crate::export::fidelity::Outcome;

fn project(text: &str) -> Project {
    Project::parse_for_audit(text, std::path::Path::new("c.yaml"), &|_| None).unwrap()
}

fn refusal(text: &str) -> String {
    convert(&project(text), &Inputs::default())
        .unwrap_err()
        .to_string()
}

fn deployments(c: &Converted) -> Vec<&Deployment> {
    c.documents
        .iter()
        .filter_map(|d| match d {
            Document::Deployment(d) => Some(d),
            _ => None,
        })
        .collect()
}

fn pod(d: &Deployment) -> &PodSpec {
    d.spec.as_ref().unwrap().template.spec.as_ref().unwrap()
}

fn container<'a>(spec: &'a PodSpec, name: &str) -> &'a Container {
    spec.containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no container {name}"))
}

const HOST: &str = "services:\n  a:\n    image: x\n    network_mode: host\n";

#[test]
fn ports_on_the_host_network_are_refused_with_line_and_fix() {
    let err = refusal(&format!("{HOST}    ports: [\"3000:3000\"]\n"));
    assert!(err.contains("c.yaml:5"), "{err}");
    assert!(err.contains("hostPort == containerPort"), "{err}");
    assert!(err.contains("fix: remove `ports`"), "{err}");
}

#[test]
fn network_sysctls_are_refused_and_others_become_the_pods() {
    let err = refusal(&format!(
        "{HOST}    sysctls:\n      net.core.somaxconn: \"1024\"\n"
    ));
    assert!(err.contains("c.yaml:6"), "{err}");
    assert!(err.contains("network sysctl"), "{err}");
    assert!(err.contains("sysctl -w net.core.somaxconn=1024"), "{err}");
    let p = project(&format!(
        "{HOST}    sysctls:\n      kernel.shm_rmid_forced: \"1\"\n"
    ));
    let c = convert(&p, &Inputs::default()).unwrap();
    let sysctls = pod(deployments(&c)[0])
        .security_context
        .as_ref()
        .unwrap()
        .sysctls
        .clone()
        .unwrap();
    assert_eq!(sysctls[0].name, "kernel.shm_rmid_forced");
    assert_eq!(sysctls[0].value, "1");
}

#[test]
fn the_hosts_process_namespace_and_privileged_mode_are_refused() {
    let err = refusal(&format!("{HOST}    pid: host\n"));
    assert!(err.contains("c.yaml:5"), "{err}");
    assert!(err.contains("hostPID"), "{err}");
    assert!(err.contains("fix: remove `pid`"), "{err}");
    let err = refusal(&format!("{HOST}    privileged: true\n"));
    assert!(err.contains("fix: remove `privileged`"), "{err}");
}

#[test]
fn two_replicas_need_a_rule_that_keeps_them_on_separate_nodes() {
    let err = refusal(&format!("{HOST}    deploy:\n      replicas: 2\n"));
    assert!(err.contains("c.yaml:6"), "{err}");
    assert!(err.contains("collide on its ports"), "{err}");
    assert!(err.contains("max_replicas_per_node: 1"), "{err}");

    let p = project(&format!(
        "{HOST}    deploy:\n      replicas: 2\n      placement:\n        max_replicas_per_node: 1\n"
    ));
    let c = convert(&p, &Inputs::default()).unwrap();
    let d = deployments(&c)[0];
    assert_eq!(d.spec.as_ref().unwrap().replicas, Some(2));
    let terms = pod(d)
        .affinity
        .as_ref()
        .unwrap()
        .pod_anti_affinity
        .as_ref()
        .unwrap()
        .required_during_scheduling_ignored_during_execution
        .clone()
        .unwrap();
    assert_eq!(terms[0].topology_key, "kubernetes.io/hostname");
    let strategy = d.spec.as_ref().unwrap().strategy.as_ref().unwrap();
    assert_eq!(strategy.type_.as_deref(), Some("RollingUpdate"));
}

#[test]
fn a_database_is_one_writer_whatever_its_replicas_say() {
    let text = format!(
        "{HOST}    user: \"10:10\"\n    volumes: [\"data:/var/lib/data\"]\n    deploy:\n      replicas: 2\n      placement: {{max_replicas_per_node: 1}}\nvolumes:\n  data:\n"
    );
    let err = refusal(&text);
    assert!(err.contains("c.yaml:8"), "{err}");
    assert!(err.contains("single writer"), "{err}");

    let p = project(&format!(
        "{HOST}    user: \"10:20\"\n    volumes: [\"data:/var/lib/data\"]\nvolumes:\n  data:\n"
    ));
    let inputs = Inputs {
        volume_sizes: BTreeMap::from([("data".to_owned(), "5Gi".to_owned())]),
        ..Inputs::default()
    };
    let c = convert(&p, &inputs).unwrap();
    let claim = c
        .documents
        .iter()
        .find_map(|d| match d {
            Document::PersistentVolumeClaim(c) => Some(c),
            _ => None,
        })
        .unwrap();
    let spec = claim.spec.as_ref().unwrap();
    assert_eq!(
        spec.access_modes.as_deref(),
        Some(&["ReadWriteOncePod".to_owned()][..])
    );
    assert_eq!(
        spec.resources.as_ref().unwrap().requests.as_ref().unwrap()["storage"].0,
        "5Gi"
    );
    let d = deployments(&c)[0];
    let strategy = d.spec.as_ref().unwrap().strategy.as_ref().unwrap();
    assert_eq!(strategy.type_.as_deref(), Some("Recreate"));
    let security = pod(d).security_context.as_ref().unwrap();
    assert_eq!(security.fs_group, Some(20), "the volume goes to the gid");
}

#[test]
fn a_named_user_is_refused_because_kubernetes_needs_numbers() {
    let err = refusal(&format!("{HOST}    user: mysql\n"));
    assert!(err.contains("c.yaml:5"), "{err}");
    assert!(err.contains("numeric"), "{err}");
    assert!(err.contains("user: \"10001:10001\""), "{err}");
}

#[test]
fn depends_on_starts_dependencies_first_as_sidecars_or_init_containers() {
    let text = "services:\n  db:\n    image: d\n    network_mode: host\n    healthcheck: {test: [\"CMD\", \"/db-check\"], interval: 2s}\n  migrate:\n    image: m\n    network_mode: host\n    depends_on: {db: {condition: service_healthy}}\n  api:\n    image: a\n    network_mode: host\n    depends_on:\n      db: {condition: service_healthy}\n      migrate: {condition: service_completed_successfully}\n";
    let c = convert(&project(text), &Inputs::default()).unwrap();
    let spec = pod(deployments(&c)[0]);
    let init: Vec<(&str, Option<&str>)> = spec
        .init_containers
        .iter()
        .flatten()
        .map(|c| (c.name.as_str(), c.restart_policy.as_deref()))
        .collect();
    assert_eq!(init, [("db", Some("Always")), ("migrate", None)]);
    let main: Vec<&str> = spec.containers.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(main, ["api"]);
    assert!(
        container(spec, "db").startup_probe.is_some(),
        "a healthy condition is the sidecar's startup probe"
    );

    let err = refusal(
        "services:\n  db:\n    image: d\n    network_mode: host\n  api:\n    image: a\n    network_mode: host\n    depends_on: {db: {condition: service_healthy}}\n",
    );
    assert!(err.contains("has no health check"), "{err}");
}

#[test]
fn a_health_check_becomes_startup_readiness_and_liveness_probes() {
    let health = Healthcheck {
        test: Some(vec!["CMD-SHELL".to_owned(), "check --fast".to_owned()]),
        interval: Some(ComposeDuration(std::time::Duration::from_millis(1500))),
        timeout: Some(ComposeDuration(std::time::Duration::from_secs(2))),
        retries: Some(4),
        start_period: Some(ComposeDuration(std::time::Duration::from_secs(20))),
        ..Healthcheck::default()
    };
    let p = pod::probes(&health).unwrap().unwrap();
    let command = p.liveness.exec.as_ref().unwrap().command.clone().unwrap();
    assert_eq!(command, ["/bin/sh", "-c", "check --fast"]);
    assert_eq!(p.readiness.period_seconds, Some(2), "1.5 s rounds up");
    assert_eq!(p.readiness.failure_threshold, Some(4));
    assert_eq!(
        p.startup.period_seconds,
        Some(5),
        "start_interval's default"
    );
    // 20 s of start period and 4 retries 2 s apart: 28 s, in 5 s steps.
    assert_eq!(p.startup.failure_threshold, Some(6));
    assert!(p.describe.contains("rounded up"), "{}", p.describe);

    let none = Healthcheck {
        test: Some(vec!["NONE".to_owned()]),
        ..Healthcheck::default()
    };
    assert!(pod::probes(&none).unwrap().is_none());
}

#[test]
fn secrets_are_referenced_and_written_only_when_asked() {
    let text =
        format!("{HOST}    secrets: [db_password]\nsecrets:\n  db_password:\n    file: ./pw\n");
    let p = project(&text);
    let c = convert(&p, &Inputs::default()).unwrap();
    assert!(
        !c.documents.iter().any(|d| matches!(d, Document::Secret(_))),
        "no Secret object without the flag"
    );
    assert_eq!(c.secrets[0].name, "db-password");
    assert!(
        c.secrets[0].flag.starts_with("--from-file=db_password="),
        "{:?}",
        c.secrets
    );
    let yaml = c.to_yaml();
    assert!(
        yaml.contains("create secret generic db-password --from-file=db_password="),
        "{yaml}"
    );
    let spec = pod(deployments(&c)[0]);
    let volume = spec.volumes.as_ref().unwrap()[0].projected.clone().unwrap();
    assert_eq!(volume.default_mode, Some(0o444));
    let mount = &container(spec, "a").volume_mounts.as_ref().unwrap()[0];
    assert_eq!(
        (mount.mount_path.as_str(), mount.read_only),
        ("/run/secrets", Some(true))
    );

    let with_values = Inputs {
        secret_values: Some(BTreeMap::from([(
            "db_password".to_owned(),
            b"s3cret".to_vec(),
        )])),
        ..Inputs::default()
    };
    let c = convert(&p, &with_values).unwrap();
    let secret = c
        .documents
        .iter()
        .find_map(|d| match d {
            Document::Secret(s) => Some(s),
            _ => None,
        })
        .expect("the Secret, when asked for");
    assert_eq!(secret.data.as_ref().unwrap()["db_password"].0, b"s3cret");
    assert!(c.secrets.is_empty());
}

#[test]
fn an_unaccepted_loss_fails_the_export_at_its_line() {
    let text = format!("{HOST}    ulimits:\n      nofile: 1024\n");
    let p = project(&text);
    let mut c = convert(&p, &Inputs::default()).unwrap();
    c.report.finish(&p, &subjects(&p)).unwrap();
    assert!(!c.report.passed());
    let human = c.report.render_human();
    assert!(
        human.contains("LOST      ulimits.nofile (c.yaml:6) [kubernetes:ulimits]"),
        "{human}"
    );
}

#[test]
fn a_control_kubernetes_loses_cannot_compensate_a_loss() {
    // `resource-limits` holds under Compose (a PIDs limit is written), not
    // on Kubernetes: the acceptance that relies on it is void here.
    let text = format!(
        "{HOST}    user: \"10:10\"\n    mem_limit: 64m\n    cpus: 0.5\n    pids_limit: 32\n    x-stackctl:\n      accept:\n        - check: \"kubernetes:pids-limit\"\n          reason: r\n          controls: [resource-limits]\n"
    );
    let p = project(&text);
    let mut c = convert(&p, &Inputs::default()).unwrap();
    c.report.finish(&p, &subjects(&p)).unwrap();
    assert!(!c.report.passed(), "{}", c.report.render_human());
    let void = c
        .report
        .entries
        .iter()
        .find(|e| e.key == "services.a.pids_limit")
        .unwrap();
    assert!(
        matches!(
            &void.outcome,
            Outcome::Lost { status: crate::export::fidelity::LossStatus::Void { why }, .. } if why.contains("pids")
        ),
        "{void:?}"
    );
}

#[test]
fn names_become_dns_labels_or_are_refused() {
    assert_eq!(dns_label("db_api_password").unwrap(), "db-api-password");
    assert!(dns_label("Api").is_err());
    assert!(dns_label("-x").is_err());
    assert!(dns_label(&"a".repeat(64)).is_err());
}

#[test]
fn quantities_are_written_in_kubernetes_units() {
    assert_eq!(pod::memory_quantity(512 << 20).0, "512Mi");
    assert_eq!(pod::memory_quantity(1 << 30).0, "1Gi");
    assert_eq!(pod::memory_quantity(1000).0, "1000");
    assert_eq!(pod::cpu_quantity(1.0).0, "1");
    assert_eq!(pod::cpu_quantity(0.5).0, "500m");
    assert_eq!(pod::cpu_quantity(0.0001).0, "1m");
}

#[test]
fn the_export_reads_back_through_the_typed_objects() {
    let p = project(&format!("{HOST}    user: \"10:10\"\n"));
    let c = convert(&p, &Inputs::default()).unwrap();
    let back = parse_documents(&c.to_yaml()).unwrap();
    assert_eq!(back, c.documents);
    let err = parse_documents("apiVersion: v1\nkind: Service\nmetadata: {name: x}\n").unwrap_err();
    assert!(err.to_string().contains("`Service`"), "{err}");
}
