//! One co-location group as one Pod template (in a Deployment, or a
//! DaemonSet for `deploy.mode: global`): each service a container, the
//! services others depend on first as native sidecars, and every key of
//! every service reported to the fidelity [`Report`] as kept, not needed,
//! lost, or refused with file:line and a fix.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use k8s_openapi::api::apps::v1::{
    DaemonSet, DaemonSetSpec, DaemonSetUpdateStrategy, Deployment, DeploymentSpec,
    DeploymentStrategy, RollingUpdateDaemonSet, RollingUpdateDeployment,
};
use k8s_openapi::api::core::v1::{
    Affinity, Capabilities, Container, ContainerPort, EmptyDirVolumeSource, EnvVar, ExecAction,
    HostPathVolumeSource, KeyToPath, PersistentVolumeClaim, PersistentVolumeClaimSpec,
    PersistentVolumeClaimVolumeSource, PodAffinityTerm, PodAntiAffinity, PodSecurityContext,
    PodSpec, PodTemplateSpec, Probe, ProjectedVolumeSource, ResourceRequirements, SeccompProfile,
    SecretProjection, SecurityContext, Sysctl, Volume, VolumeMount, VolumeProjection,
    VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_yaml_ng::Value;

use super::{
    DEFAULT_VOLUME_SIZE, Document, INIT, LOG_ROTATION, PIDS_LIMIT, RESTART, SECURITY_OPT,
    STOP_SIGNAL, SecretSource, TMPFS_OWNER, ULIMITS, dns_label,
};
use crate::compose::extension::KEY;
use crate::compose::model::{Condition, Healthcheck, Restart};
use crate::compose::positions::KeyPath;
use crate::compose::units::{format_duration, parse_size};
use crate::compose::{Diagnostic, Project, Service};
use crate::export::fidelity::{self, LossKind, Report, Target, UNHANDLED};
use crate::export::scalar;

/// How the refusals both targets share name Kubernetes.
const KUBERNETES: Target = Target {
    name: "Kubernetes",
    unit: "pod",
    enforcer: "the kubelet",
};

/// What one group's conversion needs.
pub(super) struct GroupInputs<'a> {
    /// The workload's name.
    pub name: &'a str,
    pub namespace: &'a str,
    /// The group's services, in name order.
    pub members: &'a [String],
    /// Labels every object carries.
    pub labels: &'a BTreeMap<String, String>,
    pub volume_sizes: &'a BTreeMap<String, String>,
}

/// One group, converted.
pub(super) struct GroupBuilt {
    pub workload: Document,
    pub claims: Vec<PersistentVolumeClaim>,
    /// The Secrets its containers reference, by Compose name.
    pub secrets: BTreeMap<String, SecretSource>,
    pub images: Vec<String>,
}

/// How a service runs inside its pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// Another service of the pod waits for it to finish successfully: a
    /// plain init container.
    RunsFirst,
    /// Another service waits for it to start (or be healthy): a native
    /// sidecar, an init container with `restartPolicy: Always`, so the
    /// kubelet starts the next container only once its startup probe passed.
    Sidecar,
    /// Nothing in the pod waits for it: a regular container.
    Main,
}

/// What the pod's services contribute to the pod as a whole.
#[derive(Default)]
struct PodParts {
    volumes: Vec<Volume>,
    /// Claims by name, with the service that first mounted it.
    claims: BTreeMap<String, PersistentVolumeClaim>,
    fs_group: Option<i64>,
    grace_seconds: Option<i64>,
    /// Sysctl name → (value, the service that set it).
    sysctls: BTreeMap<String, (String, String)>,
    /// Replicas as written, by service.
    replicas: Vec<(String, u64, KeyPath)>,
    global: Option<String>,
    node_selector: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
    all_non_root: bool,
    /// Host ports already declared in the pod, with the service.
    ports: BTreeMap<u16, String>,
    secrets: BTreeMap<String, SecretSource>,
    images: Vec<String>,
}

/// Converts one co-location group into its workload and claims.
pub(super) fn convert_group(
    project: &Project,
    group: &GroupInputs,
    report: &mut Report,
    refusals: &mut Vec<Diagnostic>,
) -> GroupBuilt {
    let roles = roles(project, group.members);
    let order = start_order(project, group.members);
    let mut parts = PodParts {
        all_non_root: true,
        ..PodParts::default()
    };
    let mut init_containers = Vec::new();
    let mut containers = Vec::new();
    for name in &order {
        let service = &project.model.services[name.as_str()];
        let role = roles[name.as_str()];
        let mut conversion = ServiceConversion {
            project,
            name,
            service,
            role,
            workload: group.name,
            report,
            refusals,
            parts: &mut parts,
            container: Container {
                name: dns_label(name).unwrap_or_else(|_| name.clone()),
                ..Container::default()
            },
            security: SecurityContext::default(),
            volume_sizes: group.volume_sizes,
            namespace: group.namespace,
        };
        conversion.convert();
        let mut container = conversion.finish();
        match role {
            Role::RunsFirst => init_containers.push(container),
            Role::Sidecar => {
                container.restart_policy = Some("Always".to_owned());
                init_containers.push(container);
            }
            Role::Main => containers.push(container),
        }
    }
    let replicas = group_replicas(project, &parts, refusals);
    if replicas > 1
        && let Some(claim) = parts.claims.keys().next()
    {
        let (service, _, key) = parts
            .replicas
            .iter()
            .find(|(_, n, _)| *n > 1)
            .cloned()
            .unwrap_or_default();
        refuse(
            project,
            refusals,
            &service,
            key,
            format!(
                "{replicas} replicas of `{service}` would share the claim `{claim}`, which one pod at a time can write (its database is a single writer)"
            ),
            "run one replica (`replicas: 1`), or move the stateless services that need more into a group of their own".to_owned(),
        );
    }
    if parts.global.is_some() && !parts.claims.is_empty() {
        let service = parts.global.clone().unwrap_or_default();
        refuse(
            project,
            refusals,
            &service,
            KeyPath::root().key("deploy").key("mode"),
            format!(
                "`{service}` would run on every node, but its pod writes a claim that one pod at a time can use"
            ),
            "write `mode: replicated` (one replica)".to_owned(),
        );
    }

    let selector = BTreeMap::from([
        ("app.kubernetes.io/name".to_owned(), group.name.to_owned()),
        (
            "app.kubernetes.io/part-of".to_owned(),
            group.labels["app.kubernetes.io/part-of"].clone(),
        ),
    ]);
    let mut labels = group.labels.clone();
    labels.extend(selector.clone());
    let pod_security = PodSecurityContext {
        run_as_non_root: Some(parts.all_non_root),
        seccomp_profile: Some(runtime_default()),
        fs_group: parts.fs_group,
        fs_group_change_policy: parts.fs_group.map(|_| "OnRootMismatch".to_owned()),
        sysctls: (!parts.sysctls.is_empty()).then(|| {
            parts
                .sysctls
                .iter()
                .map(|(name, (value, _))| Sysctl {
                    name: name.clone(),
                    value: value.clone(),
                })
                .collect()
        }),
        ..PodSecurityContext::default()
    };
    let mut node_selector = parts.node_selector.clone();
    node_selector.insert("kubernetes.io/os".to_owned(), "linux".to_owned());
    let spec = PodSpec {
        host_network: Some(true),
        dns_policy: Some("ClusterFirstWithHostNet".to_owned()),
        automount_service_account_token: Some(false),
        enable_service_links: Some(false),
        security_context: Some(pod_security),
        termination_grace_period_seconds: parts.grace_seconds,
        node_selector: Some(node_selector),
        affinity: Some(Affinity {
            pod_anti_affinity: Some(PodAntiAffinity {
                required_during_scheduling_ignored_during_execution: Some(vec![PodAffinityTerm {
                    label_selector: Some(LabelSelector {
                        match_labels: Some(selector.clone()),
                        ..LabelSelector::default()
                    }),
                    topology_key: "kubernetes.io/hostname".to_owned(),
                    ..PodAffinityTerm::default()
                }]),
                ..PodAntiAffinity::default()
            }),
            ..Affinity::default()
        }),
        init_containers: (!init_containers.is_empty()).then_some(init_containers),
        containers,
        volumes: (!parts.volumes.is_empty()).then(|| parts.volumes.clone()),
        ..PodSpec::default()
    };
    let template = PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(labels.clone()),
            ..ObjectMeta::default()
        }),
        spec: Some(spec),
    };
    let metadata = ObjectMeta {
        name: Some(group.name.to_owned()),
        namespace: Some(group.namespace.to_owned()),
        labels: Some(labels.clone()),
        annotations: (!parts.annotations.is_empty()).then(|| parts.annotations.clone()),
        ..ObjectMeta::default()
    };
    let selector = LabelSelector {
        match_labels: Some(selector),
        ..LabelSelector::default()
    };
    let services = order.join(", ");
    let workload = if parts.global.is_some() {
        report.note(format!(
            "{services} share the pod of DaemonSet `{}` (one Pod: they talk over 127.0.0.1, and only a pod keeps them on one node for as long as they run): one pod on every Linux node",
            group.name
        ));
        Document::DaemonSet(DaemonSet {
            metadata,
            spec: Some(DaemonSetSpec {
                selector,
                template,
                update_strategy: Some(DaemonSetUpdateStrategy {
                    type_: Some("RollingUpdate".to_owned()),
                    rolling_update: Some(RollingUpdateDaemonSet {
                        max_surge: Some(IntOrString::Int(0)),
                        max_unavailable: Some(IntOrString::Int(1)),
                    }),
                }),
                ..DaemonSetSpec::default()
            }),
            ..DaemonSet::default()
        })
    } else {
        let single_writer = !parts.claims.is_empty();
        report.note(format!(
            "{services} share the pod of Deployment `{}` ({replicas} replica{}): one Pod, because they talk over 127.0.0.1 and only a pod keeps them on one node \
             for as long as they run (required pod affinity is checked only when a pod is scheduled); required anti-affinity with itself \
             puts at most one such pod on a node, whose ports it binds{}",
            group.name,
            if replicas == 1 { "" } else { "s" },
            if single_writer {
                "; it rolls out with `Recreate` (the old pod is gone before the new one starts) and its claim is ReadWriteOncePod, so one writer at a time"
            } else {
                "; it rolls out one pod at a time with no surge (a second pod on a node would collide on its ports)"
            }
        ));
        Document::Deployment(Deployment {
            metadata,
            spec: Some(DeploymentSpec {
                replicas: Some(i32::try_from(replicas).unwrap_or(i32::MAX)),
                selector,
                template,
                strategy: Some(if single_writer {
                    DeploymentStrategy {
                        type_: Some("Recreate".to_owned()),
                        rolling_update: None,
                    }
                } else {
                    DeploymentStrategy {
                        type_: Some("RollingUpdate".to_owned()),
                        rolling_update: Some(RollingUpdateDeployment {
                            max_surge: Some(IntOrString::Int(0)),
                            max_unavailable: Some(IntOrString::Int(1)),
                        }),
                    }
                }),
                ..DeploymentSpec::default()
            }),
            ..Deployment::default()
        })
    };
    let claims = parts
        .claims
        .into_values()
        .map(|mut claim| {
            claim.metadata.labels = Some(group.labels.clone());
            claim
        })
        .collect();
    GroupBuilt {
        workload,
        claims,
        secrets: parts.secrets,
        images: parts.images,
    }
}

/// The pod's replica count: what its services write, which must agree.
fn group_replicas(project: &Project, parts: &PodParts, refusals: &mut Vec<Diagnostic>) -> u64 {
    let mut count: Option<(u64, String)> = None;
    for (service, n, key) in &parts.replicas {
        match &count {
            None => count = Some((*n, service.clone())),
            Some((m, other)) if m != n => refuse(
                project,
                refusals,
                service,
                key.clone(),
                format!(
                    "`{service}` asks for {n} replicas and `{other}` for {m}, but they share one pod (they talk over 127.0.0.1)"
                ),
                format!("write the same `replicas` for both, e.g. `replicas: {m}`"),
            ),
            Some(_) => {}
        }
    }
    count.map_or(1, |(n, _)| n.max(1))
}

/// Each member's role in the pod, from the `depends_on` of the others.
fn roles<'a>(project: &Project, members: &'a [String]) -> BTreeMap<&'a str, Role> {
    let mut roles: BTreeMap<&str, Role> =
        members.iter().map(|m| (m.as_str(), Role::Main)).collect();
    for member in members {
        for (dependency, how) in &project.model.services[member.as_str()].depends_on.0 {
            let Some(role) = roles.get_mut(dependency.as_str()) else {
                continue;
            };
            *role = match (how.condition, *role) {
                (Condition::CompletedSuccessfully, _) | (_, Role::RunsFirst) => Role::RunsFirst,
                _ => Role::Sidecar,
            };
        }
    }
    roles
}

/// The members in an order that starts every dependency before its
/// dependents (ties by name), which is the order of init containers.
fn start_order(project: &Project, members: &[String]) -> Vec<String> {
    let mut placed: Vec<String> = Vec::new();
    let mut left: BTreeSet<&String> = members.iter().collect();
    while !left.is_empty() {
        let waits = |m: &String| {
            project.model.services[m.as_str()]
                .depends_on
                .0
                .keys()
                .any(|d| d != m && left.contains(d))
        };
        // A cycle cannot load (the Compose model refuses it); were one to
        // get here, the first of the rest goes next.
        let next = left
            .iter()
            .find(|m| !waits(m))
            .or_else(|| left.iter().next())
            .copied()
            .expect("left is not empty");
        left.remove(next);
        placed.push(next.clone());
    }
    placed
}

fn refuse(
    project: &Project,
    refusals: &mut Vec<Diagnostic>,
    service: &str,
    key: KeyPath,
    problem: String,
    fix: String,
) {
    refusals.push(fidelity::refusal(project, service, key, problem, fix));
}

fn runtime_default() -> SeccompProfile {
    SeccompProfile {
        type_: "RuntimeDefault".to_owned(),
        localhost_profile: None,
    }
}

/// Bytes as a Kubernetes quantity (`512Mi`, `1Gi`, or plain bytes).
pub(super) fn memory_quantity(bytes: u64) -> Quantity {
    const KI: u64 = 1024;
    let text = if bytes != 0 && bytes.is_multiple_of(KI * KI * KI) {
        format!("{}Gi", bytes / (KI * KI * KI))
    } else if bytes != 0 && bytes.is_multiple_of(KI * KI) {
        format!("{}Mi", bytes / (KI * KI))
    } else if bytes != 0 && bytes.is_multiple_of(KI) {
        format!("{}Ki", bytes / KI)
    } else {
        bytes.to_string()
    };
    Quantity(text)
}

/// CPUs as a Kubernetes quantity (`1`, `500m`), to the millicore (at least 1m).
pub(super) fn cpu_quantity(cpus: f64) -> Quantity {
    let milli = ((cpus * 1000.0).round() as i64).max(1);
    Quantity(if milli.rem_euclid(1000) == 0 {
        (milli / 1000).to_string()
    } else {
        format!("{milli}m")
    })
}

/// Whole seconds, rounded up (probes count in seconds), at least 1.
fn seconds(duration: Duration) -> i32 {
    let secs = duration.as_secs() + u64::from(duration.subsec_nanos() > 0);
    i32::try_from(secs.max(1)).unwrap_or(i32::MAX)
}

/// The three probes of a Compose health check, and what they are in words.
pub(super) struct Probes {
    pub startup: Probe,
    pub readiness: Probe,
    pub liveness: Probe,
    pub describe: String,
}

/// Maps a Compose health check to exec probes: the same command (a `CMD`
/// runs as written, a `CMD-SHELL` with `/bin/sh -c` as Docker runs it), a
/// startup probe that allows `start_period` (every `start_interval`) plus
/// `retries` failures, and readiness and liveness probes every `interval`
/// that fail after `retries`. Docker's defaults where a field is not
/// written: interval 30 s, timeout 30 s, 3 retries, no start period, start
/// interval 5 s. `Ok(None)`: the check is disabled.
pub(super) fn probes(health: &Healthcheck) -> Result<Option<Probes>, String> {
    if health.disable {
        return Ok(None);
    }
    let Some(test) = &health.test else {
        return Err("the health check has no `test`, and Kubernetes does not run an image's own HEALTHCHECK".to_owned());
    };
    let command = match test.first().map(String::as_str) {
        Some("NONE") => return Ok(None),
        Some("CMD") if test.len() > 1 => test[1..].to_vec(),
        Some("CMD-SHELL") if test.len() == 2 => {
            vec!["/bin/sh".to_owned(), "-c".to_owned(), test[1].clone()]
        }
        _ => {
            return Err(format!(
                "the health check's test {test:?} is neither [\"CMD\", ...] nor [\"CMD-SHELL\", COMMAND]"
            ));
        }
    };
    let interval = health.interval.map_or(Duration::from_secs(30), |d| d.0);
    let timeout = health.timeout.map_or(Duration::from_secs(30), |d| d.0);
    let retries = i32::try_from(health.retries.unwrap_or(3).max(1)).unwrap_or(i32::MAX);
    let start_period = health.start_period.map_or(Duration::ZERO, |d| d.0);
    let start_interval = health
        .start_interval
        .map_or(Duration::from_secs(5), |d| d.0);
    // Docker gives a starting container start_period, then `retries`
    // failures `interval` apart; the startup probe allows the same window,
    // probing every start_interval (every interval without a start period).
    let startup_period = if start_period.is_zero() {
        seconds(interval)
    } else {
        seconds(start_interval)
    };
    let window = start_period.as_secs()
        + u64::from(retries.unsigned_abs()) * u64::from(seconds(interval).unsigned_abs());
    let start_tries = i32::try_from(window.div_ceil(u64::from(startup_period.unsigned_abs())))
        .unwrap_or(i32::MAX)
        .max(retries);
    let exec = Some(ExecAction {
        command: Some(command.clone()),
    });
    let probe = |period: i32, failures: i32| Probe {
        exec: exec.clone(),
        period_seconds: Some(period),
        timeout_seconds: Some(seconds(timeout)),
        failure_threshold: Some(failures),
        success_threshold: Some(1),
        ..Probe::default()
    };
    let startup = probe(startup_period, start_tries);
    let readiness = probe(seconds(interval), retries);
    let liveness = probe(seconds(interval), retries);
    let rounded = [
        Some(interval),
        Some(timeout),
        health.start_interval.map(|d| d.0),
    ]
    .into_iter()
    .flatten()
    .any(|d| d.subsec_nanos() > 0);
    let describe = format!(
        "exec probes running {command:?}: startupProbe every {startup_period}s, up to {start_tries} tries ({window}s: start_period {} and {retries} retries), \
         then readinessProbe and livenessProbe every {}s, timeout {}s, failing after {retries} (liveness restarts the container){}",
        format_duration(start_period),
        seconds(interval),
        seconds(timeout),
        if rounded {
            "; durations rounded up to whole seconds, which is what probes count in"
        } else {
            ""
        }
    );
    Ok(Some(Probes {
        startup,
        readiness,
        liveness,
        describe,
    }))
}

/// One service being converted into its container.
struct ServiceConversion<'a> {
    project: &'a Project,
    name: &'a str,
    service: &'a Service,
    role: Role,
    workload: &'a str,
    report: &'a mut Report,
    refusals: &'a mut Vec<Diagnostic>,
    parts: &'a mut PodParts,
    container: Container,
    security: SecurityContext,
    volume_sizes: &'a BTreeMap<String, String>,
    namespace: &'a str,
}

impl ServiceConversion<'_> {
    fn key(name: &str) -> KeyPath {
        KeyPath::root().key(name)
    }

    fn kept(&mut self, key: KeyPath, became: impl Into<String>) {
        self.report.kept(self.project, self.name, key, became);
    }

    fn not_needed(&mut self, key: KeyPath, why: impl Into<String>) {
        self.report.not_needed(self.project, self.name, key, why);
    }

    fn lost(&mut self, key: KeyPath, kind: &'static LossKind, detail: impl Into<String>) {
        self.report.lost(self.project, self.name, key, kind, detail);
    }

    fn refuse(&mut self, key: KeyPath, problem: String, fix: String) {
        refuse(self.project, self.refusals, self.name, key, problem, fix);
    }

    fn finish(mut self) -> Container {
        self.container.security_context = Some(self.security);
        self.container
    }

    fn convert(&mut self) {
        if let Err(why) = dns_label(self.name) {
            self.refuse(
                KeyPath::root(),
                format!("the service's name is its container's name: {why}"),
                "rename the service, e.g. with dashes for dots".to_owned(),
            );
        }
        // Every Restricted field, whatever the file says; what the file says
        // below can only narrow it.
        self.security.allow_privilege_escalation = Some(false);
        self.security.privileged = Some(false);
        self.security.seccomp_profile = Some(runtime_default());
        self.security.run_as_non_root = Some(true);
        self.security.read_only_root_filesystem = Some(self.service.read_only);
        self.image();
        self.network();
        self.refuse_host_namespaces();
        self.process();
        self.user();
        self.capabilities();
        self.security_opt();
        self.resources();
        if let Some(deploy) = self.service.extensions.get("deploy") {
            self.deploy(deploy);
        }
        self.ulimits();
        self.healthcheck();
        self.lifecycle();
        self.sysctls();
        self.volumes();
        self.tmpfs();
        self.secrets();
        self.depends_on();
        self.extension_keys();
    }

    fn image(&mut self) {
        let s = self.service;
        match &s.image {
            Some(image) => {
                self.container.image = Some(image.clone());
                self.container.image_pull_policy = Some("Never".to_owned());
                self.parts.images.push(image.clone());
                self.kept(
                    Self::key("image"),
                    format!(
                        "image {image} with imagePullPolicy Never: the kubelet runs the image loaded on the node and never pulls a same-named one from a registry"
                    ),
                );
            }
            None => self.refuse(
                Self::key("build"),
                format!("service `{}` has no `image` name, and a node can only run an image it has loaded by name", self.name),
                format!("name the image, e.g. `image: {}/{}:local`", self.project.name, self.name),
            ),
        }
        if s.build.is_some() {
            self.not_needed(
                Self::key("build"),
                "built by `stackctl build` on this machine; the nodes load the image by name",
            );
        }
    }

    fn network(&mut self) {
        let s = self.service;
        match fidelity::off_the_host_network(s, self.name, &KUBERNETES) {
            None => self.kept(
                Self::key("network_mode"),
                "hostNetwork: true with dnsPolicy ClusterFirstWithHostNet (the node's network namespace; cluster DNS still answers)",
            ),
            Some((key, problem, fix)) => self.refuse(key, problem, fix),
        }
        if !s.ports.is_empty() {
            self.refuse(
                Self::key("ports"),
                format!(
                    "service `{}` publishes ports, but a host-network pod binds the node's own ports: Kubernetes requires hostPort == containerPort and cannot map one to another",
                    self.name
                ),
                "remove `ports`; the service binds its port itself (declare it in `x-stackctl.listen`, which becomes containerPort and hostPort)".to_owned(),
            );
        }
    }

    /// The host namespaces and device access Kubernetes could grant but the
    /// export never writes.
    fn refuse_host_namespaces(&mut self) {
        let s = self.service.clone();
        let shared = [
            ("pid", s.pid.as_deref(), "hostPID"),
            ("ipc", s.ipc.as_deref(), "hostIPC"),
            ("uts", s.uts.as_deref(), "the node's hostname"),
            (
                "userns_mode",
                s.userns_mode.as_deref(),
                "the node's user namespace",
            ),
        ];
        for (key, value, what) in shared {
            if let Some(value) = value {
                self.refuse(
                    Self::key(key),
                    format!(
                        "`{key}: {value}` would share the node's namespace ({what}) with the service, which gives a container the host; the export does not write it"
                    ),
                    format!("remove `{key}`"),
                );
            }
        }
        if s.privileged {
            self.refuse(
                Self::key("privileged"),
                "a privileged container is the node's root; the export does not write it"
                    .to_owned(),
                "remove `privileged` and add only the capabilities the service needs (`cap_add`)"
                    .to_owned(),
            );
        }
        if !s.devices.is_empty() {
            self.refuse(
                Self::key("devices"),
                "a pod spec has no device mappings (a device plugin provides devices)".to_owned(),
                "remove `devices`".to_owned(),
            );
        }
        if s.cgroup_parent.is_some() {
            self.refuse(
                Self::key("cgroup_parent"),
                "the kubelet places every pod in its own cgroup; a pod cannot choose its parent"
                    .to_owned(),
                "remove `cgroup_parent`".to_owned(),
            );
        }
    }

    fn process(&mut self) {
        let s = self.service;
        if let Some(entrypoint) = &s.entrypoint {
            self.container.command = Some(entrypoint.0.clone());
            self.kept(
                Self::key("entrypoint"),
                "command (it replaces the image's ENTRYPOINT, as `entrypoint` does)",
            );
        }
        if let Some(command) = &s.command {
            self.container.args = Some(command.0.clone());
            self.kept(
                Self::key("command"),
                "args (they replace the image's CMD, as `command` does)",
            );
        }
        if let Some(dir) = &s.working_dir {
            self.container.working_dir = Some(dir.clone());
            self.kept(Self::key("working_dir"), format!("workingDir {dir}"));
        }
        if !s.environment.is_empty() {
            let mut env = Vec::new();
            let mut from_shell = Vec::new();
            for (name, value) in &s.environment.0 {
                let value = match value {
                    Some(v) => Some(v.clone()),
                    None => {
                        from_shell.push(name.clone());
                        std::env::var(name).ok()
                    }
                };
                if let Some(value) = value {
                    env.push(EnvVar {
                        name: name.clone(),
                        value: Some(value),
                        value_from: None,
                    });
                }
            }
            let mut became = format!("env: {} variable(s), as written", env.len());
            if !from_shell.is_empty() {
                became.push_str(&format!(
                    " ({} taken from this shell at export time)",
                    from_shell.join(", ")
                ));
            }
            self.container.env = Some(env);
            self.kept(Self::key("environment"), became);
        }
        match s.extensions.get("init") {
            Some(Value::Bool(true)) => self.lost(
                Self::key("init"),
                &INIT,
                "init: true: the service's own process is PID 1 and reaps its children itself",
            ),
            Some(Value::Bool(false)) => {
                self.kept(Self::key("init"), "no init process, as on Kubernetes")
            }
            Some(_) => self.refuse(
                Self::key("init"),
                "`init` is not true or false".to_owned(),
                "write `init: true` or remove it".to_owned(),
            ),
            None => {}
        }
    }

    fn user(&mut self) {
        let Some(user) = self.service.user.clone() else {
            return;
        };
        let (uid, gid) = match user.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (user.as_str(), None),
        };
        let uid: Option<i64> = uid.parse().ok();
        let gid: Option<Option<i64>> = match gid {
            Some(g) => g.parse().ok().map(Some),
            None => Some(None),
        };
        let (Some(uid), Some(gid)) = (uid, gid) else {
            self.refuse(
                Self::key("user"),
                format!("`user: {user}` names an account, but Kubernetes runs containers as numeric ids only (runAsUser, runAsGroup)"),
                "write the numeric uid and gid, e.g. `user: \"10001:10001\"`".to_owned(),
            );
            return;
        };
        self.security.run_as_user = Some(uid);
        self.security.run_as_group = gid;
        self.security.run_as_non_root = Some(uid != 0);
        if uid == 0 {
            self.parts.all_non_root = false;
        }
        self.kept(
            Self::key("user"),
            format!(
                "runAsUser {uid}{}, runAsNonRoot {}",
                gid.map(|g| format!(", runAsGroup {g}")).unwrap_or_default(),
                uid != 0
            ),
        );
    }

    fn capabilities(&mut self) {
        let s = self.service;
        let mut caps = Capabilities::default();
        if !s.cap_drop.is_empty() {
            caps.drop = Some(s.cap_drop.clone());
            self.kept(
                Self::key("cap_drop"),
                format!("capabilities.drop [{}]", s.cap_drop.join(", ")),
            );
        }
        if !s.cap_add.is_empty() {
            caps.add = Some(s.cap_add.clone());
            self.kept(
                Self::key("cap_add"),
                format!("capabilities.add [{}]", s.cap_add.join(", ")),
            );
        }
        if caps != Capabilities::default() {
            self.security.capabilities = Some(caps);
        }
        if s.read_only {
            self.kept(Self::key("read_only"), "readOnlyRootFilesystem: true");
        }
    }

    fn security_opt(&mut self) {
        for (i, option) in self.service.security_opt.clone().iter().enumerate() {
            let key = Self::key("security_opt").index(i);
            if crate::audit::controls::no_new_privileges(std::slice::from_ref(option)) {
                self.kept(
                    key,
                    "allowPrivilegeEscalation: false (the kernel's no_new_privs), with seccompProfile RuntimeDefault",
                );
            } else {
                self.lost(
                    key,
                    &SECURITY_OPT,
                    format!(
                        "`{option}` is not carried: the container runs with allowPrivilegeEscalation false and the runtime's default seccomp profile"
                    ),
                );
            }
        }
    }

    fn resources(&mut self) {
        let s = self.service;
        let mut limits: BTreeMap<String, Quantity> = BTreeMap::new();
        if let Some(memory) = s.mem_limit {
            let q = memory_quantity(memory.0);
            self.kept(
                Self::key("mem_limit"),
                format!(
                    "resources.limits.memory {} (and requests.memory, unless deploy reserves less)",
                    q.0
                ),
            );
            limits.insert("memory".to_owned(), q);
        }
        if let Some(cpus) = s.cpus {
            let q = cpu_quantity(cpus.0);
            self.kept(
                Self::key("cpus"),
                format!(
                    "resources.limits.cpu {} (and requests.cpu, unless deploy reserves less)",
                    q.0
                ),
            );
            limits.insert("cpu".to_owned(), q);
        }
        if let Some(pids) = s.pids_limit {
            self.lost(
                Self::key("pids_limit"),
                &PIDS_LIMIT,
                format!("pids_limit {pids}: a pod spec cannot limit processes; only the kubelet's podPidsLimit bounds every pod of a node alike"),
            );
        }
        let resources = self
            .service
            .extensions
            .get("deploy")
            .and_then(|d| d.get("resources"));
        let mut reservations = BTreeMap::new();
        if let Some(resources) = resources {
            let key = Self::key("deploy").key("resources");
            match quantities(resources.get("limits")) {
                Ok(q) => limits.extend(q),
                Err(why) => self.refuse(
                    key.key("limits"),
                    why,
                    "write e.g. `cpus: \"0.5\"` and `memory: 64m`".to_owned(),
                ),
            }
            match quantities(resources.get("reservations")) {
                Ok(q) => reservations = q,
                Err(why) => self.refuse(
                    key.key("reservations"),
                    why,
                    "write e.g. `cpus: \"0.25\"` and `memory: 32m`".to_owned(),
                ),
            }
        }
        if limits.is_empty() && reservations.is_empty() {
            return;
        }
        let mut requests = limits.clone();
        requests.extend(reservations);
        self.container.resources = Some(ResourceRequirements {
            limits: (!limits.is_empty()).then_some(limits),
            requests: (!requests.is_empty()).then_some(requests),
            ..ResourceRequirements::default()
        });
    }

    /// `deploy:` as written (the model keeps it as YAML, since `up` does not
    /// run it).
    fn deploy(&mut self, deploy: &Value) {
        let key = Self::key("deploy");
        let Value::Mapping(map) = deploy else {
            self.refuse(
                key,
                "`deploy` is not a mapping".to_owned(),
                "write `deploy:` as a mapping".to_owned(),
            );
            return;
        };
        let one_per_node = deploy
            .get("placement")
            .and_then(|p| p.get("max_replicas_per_node"))
            .and_then(Value::as_u64)
            == Some(1);
        let global = deploy.get("mode").and_then(Value::as_str) == Some("global");
        for (k, value) in map {
            let Some(k) = k.as_str() else { continue };
            let sub = key.key(k);
            match k {
                "replicas" => match value.as_u64() {
                    Some(n) if n <= 1 || one_per_node || global => {
                        self.parts.replicas.push((self.name.to_owned(), n, sub.clone()));
                        self.kept(
                            sub,
                            format!("replicas {n} of Deployment `{}`, at most one per node (required anti-affinity with itself)", self.workload),
                        );
                    }
                    Some(n) => self.refuse(
                        sub,
                        format!(
                            "{n} replicas of the host-network service `{}` could land on one node, where they would collide on its ports",
                            self.name
                        ),
                        "add `placement: {max_replicas_per_node: 1}` under `deploy` (the export then keeps the replicas on separate nodes)".to_owned(),
                    ),
                    None => self.refuse(
                        sub,
                        "`deploy.replicas` is not a whole number".to_owned(),
                        "write e.g. `replicas: 1`".to_owned(),
                    ),
                },
                "mode" => match value.as_str() {
                    Some("global") => {
                        self.parts.global = Some(self.name.to_owned());
                        self.kept(sub, format!("DaemonSet `{}`: one pod on every Linux node", self.workload));
                    }
                    Some("replicated") => self.kept(sub, format!("Deployment `{}`", self.workload)),
                    _ => self.refuse(
                        sub,
                        "`deploy.mode` must be `global` or `replicated`".to_owned(),
                        "write `mode: replicated`".to_owned(),
                    ),
                },
                "placement" => self.placement(sub, value),
                "resources" => {
                    if let Some(pids) = value.get("limits").and_then(|l| l.get("pids")) {
                        self.lost(
                            sub.key("limits").key("pids"),
                            &PIDS_LIMIT,
                            format!("pids {}: a pod spec cannot limit processes", scalar(Some(pids)).unwrap_or_default()),
                        );
                    }
                    self.kept(sub, "resources.limits from `limits`, resources.requests from `reservations`");
                }
                "restart_policy" => {
                    let condition = value.get("condition").and_then(Value::as_str).unwrap_or("any");
                    let attempts = value.get("max_attempts").and_then(Value::as_u64);
                    if condition == "any" && attempts.is_none() {
                        self.kept(sub, "restartPolicy Always (the pod's)");
                    } else {
                        self.lost(
                            sub,
                            &RESTART,
                            format!("condition {condition}{}: the pod restarts its containers always, with back-off", attempts.map(|n| format!(", max_attempts {n}")).unwrap_or_default()),
                        );
                    }
                }
                "labels" => {
                    for (lk, lv) in value.as_mapping().into_iter().flatten() {
                        if let (Some(lk), Some(lv)) = (lk.as_str(), scalar(Some(lv))) {
                            self.parts.annotations.insert(lk.to_owned(), lv);
                        }
                    }
                    self.kept(sub, format!("annotations of `{}`", self.workload));
                }
                _ => self.lost(
                    sub,
                    &UNHANDLED,
                    format!("`deploy.{k}` is not carried: the workload's own strategy decides updates"),
                ),
            }
        }
    }

    fn placement(&mut self, key: KeyPath, value: &Value) {
        let mut became = Vec::new();
        if let Some(n) = value.get("max_replicas_per_node").and_then(Value::as_u64) {
            if n != 1 {
                self.refuse(
                    key.key("max_replicas_per_node"),
                    format!("{n} host-network replicas on one node would collide on its ports"),
                    "write `max_replicas_per_node: 1`".to_owned(),
                );
                return;
            }
            became.push("at most one pod per node (required anti-affinity with itself)".to_owned());
        }
        for (i, constraint) in value
            .get("constraints")
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let text = constraint.as_str().unwrap_or_default();
            let parsed = text
                .split_once("==")
                .map(|(k, v)| (k.trim(), v.trim()))
                .and_then(|(k, v)| {
                    k.strip_prefix("node.labels.")
                        .map(|k| (k.to_owned(), v.to_owned()))
                });
            match parsed {
                Some((k, v)) => {
                    became.push(format!("nodeSelector {k}: {v}"));
                    self.parts.node_selector.insert(k, v);
                }
                None => self.refuse(
                    key.key("constraints").index(i),
                    format!("the constraint `{text}` has no Kubernetes node selector"),
                    "write it as `node.labels.KEY == VALUE` (it becomes nodeSelector KEY: VALUE)"
                        .to_owned(),
                ),
            }
        }
        self.kept(key, became.join("; "));
    }

    fn ulimits(&mut self) {
        for (name, limit) in &self.service.ulimits.clone() {
            self.lost(
                Self::key("ulimits").key(name.clone()),
                &ULIMITS,
                format!(
                    "{name} soft {} hard {}: the container gets its node's runtime defaults",
                    limit.soft, limit.hard
                ),
            );
        }
    }

    fn healthcheck(&mut self) {
        let Some(health) = self.service.healthcheck.clone() else {
            return;
        };
        let key = Self::key("healthcheck");
        if self.role == Role::RunsFirst {
            self.not_needed(
                key,
                "it runs to completion (an init container) before the rest of the pod starts",
            );
            return;
        }
        match probes(&health) {
            Ok(Some(p)) => {
                self.container.startup_probe = Some(p.startup);
                self.container.readiness_probe = Some(p.readiness);
                self.container.liveness_probe = Some(p.liveness);
                self.kept(key, p.describe);
            }
            Ok(None) => self.kept(key, "no probes (the health check is disabled)"),
            Err(why) => self.refuse(
                key,
                why,
                "write the check as `test: [\"CMD\", \"/usr/local/bin/SERVICE\", \"healthcheck\"]`"
                    .to_owned(),
            ),
        }
    }

    fn lifecycle(&mut self) {
        let s = self.service;
        if let Some(grace) = s.stop_grace_period {
            let secs = i64::from(seconds(grace.0));
            let pod = self.parts.grace_seconds.get_or_insert(secs);
            *pod = (*pod).max(secs);
            self.kept(
                Self::key("stop_grace_period"),
                format!(
                    "the pod's terminationGracePeriodSeconds, the longest of its services' (at least {secs}): the kubelet sends the stop signal, then waits that long before SIGKILL"
                ),
            );
        }
        if let Some(signal) = &s.stop_signal {
            if signal == "SIGTERM" || signal == "TERM" || signal == "15" {
                self.kept(
                    Self::key("stop_signal"),
                    "SIGTERM, which the kubelet sends unless the image sets another STOPSIGNAL",
                );
            } else {
                self.lost(
                    Self::key("stop_signal"),
                    &STOP_SIGNAL,
                    format!("{signal}: the kubelet sends the image's STOPSIGNAL, else SIGTERM"),
                );
            }
        }
        if let Some(restart) = s.restart {
            match restart {
                Restart::Always | Restart::UnlessStopped => self.kept(
                    Self::key("restart"),
                    "restartPolicy Always (the pod's), with back-off",
                ),
                Restart::OnFailure { max_retries: None } => self.kept(
                    Self::key("restart"),
                    "restartPolicy Always (the pod's), with back-off: also after a clean exit",
                ),
                Restart::OnFailure {
                    max_retries: Some(n),
                } => self.lost(
                    Self::key("restart"),
                    &RESTART,
                    format!("on-failure:{n}: the pod restarts the container without a count, with back-off from 10 s doubling to 5 minutes"),
                ),
                Restart::No => self.lost(
                    Self::key("restart"),
                    &RESTART,
                    "no: the pod of a Deployment restarts its containers always",
                ),
            }
        }
        if let Some(logging) = &s.logging {
            let options: Vec<String> = logging
                .options
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            self.lost(
                Self::key("logging"),
                &LOG_ROTATION,
                format!(
                    "driver {}{}: the kubelet keeps and rotates the log by its own containerLogMaxSize and containerLogMaxFiles (10Mi and 5 by default)",
                    logging.driver.as_deref().unwrap_or("(default)"),
                    if options.is_empty() {
                        String::new()
                    } else {
                        format!(" with {}", options.join(", "))
                    }
                ),
            );
        }
    }

    fn sysctls(&mut self) {
        for (name, value) in &self.service.sysctls.0.clone() {
            let key = Self::key("sysctls").key(name.clone());
            if let Some((problem, fix)) = fidelity::network_sysctl(name, value, &KUBERNETES) {
                self.refuse(key, problem, fix);
                continue;
            }
            if let Some((other_value, other)) = self.parts.sysctls.get(name)
                && other_value != value
            {
                let problem = format!(
                    "`{name}` is {value} here and {other_value} for `{other}`, but a sysctl is the pod's, and they share one pod"
                );
                self.refuse(
                    key,
                    problem,
                    format!("write the same value for both, e.g. `{name}: \"{other_value}\"`"),
                );
                continue;
            }
            self.parts
                .sysctls
                .insert(name.clone(), (value.clone(), self.name.to_owned()));
            self.kept(
                key,
                format!("the pod's securityContext.sysctls {name}={value} (the pod's, shared by its containers; a sysctl outside Kubernetes' safe set needs the kubelet's allowedUnsafeSysctls)"),
            );
        }
    }

    fn mount(&mut self, volume: Volume, path: &str, read_only: bool) {
        let name = volume.name.clone();
        if !self.parts.volumes.iter().any(|v| v.name == name) {
            self.parts.volumes.push(volume);
        }
        self.container
            .volume_mounts
            .get_or_insert_with(Vec::new)
            .push(VolumeMount {
                name,
                mount_path: path.to_owned(),
                read_only: read_only.then_some(true),
                ..VolumeMount::default()
            });
    }

    fn volumes(&mut self) {
        for (i, mount) in self.service.volumes.clone().iter().enumerate() {
            let key = Self::key("volumes").index(i);
            let ro = if mount.read_only { ", read-only" } else { "" };
            match (mount.kind.as_str(), &mount.source) {
                ("volume", Some(source)) => {
                    let claim = match dns_label(source) {
                        Ok(c) => c,
                        Err(why) => {
                            self.refuse(
                                key,
                                format!("the volume's claim: {why}"),
                                "rename the volume".to_owned(),
                            );
                            continue;
                        }
                    };
                    let owner = self.owner_gid();
                    let Some(gid) = owner else {
                        self.refuse(
                            key,
                            format!(
                                "volume `{source}` needs an owner, and `{}` has no numeric user",
                                self.name
                            ),
                            "write `user: \"UID:GID\"`; the claim is given to that group (fsGroup)"
                                .to_owned(),
                        );
                        continue;
                    };
                    let fs_group = *self.parts.fs_group.get_or_insert(gid);
                    let size = self
                        .volume_sizes
                        .get(source)
                        .cloned()
                        .unwrap_or_else(|| DEFAULT_VOLUME_SIZE.to_owned());
                    let namespace = self.namespace.to_owned();
                    self.parts.claims.entry(claim.clone()).or_insert_with(|| {
                        PersistentVolumeClaim {
                            metadata: ObjectMeta {
                                name: Some(claim.clone()),
                                namespace: Some(namespace),
                                ..ObjectMeta::default()
                            },
                            spec: Some(PersistentVolumeClaimSpec {
                                access_modes: Some(vec!["ReadWriteOncePod".to_owned()]),
                                volume_mode: Some("Filesystem".to_owned()),
                                resources: Some(VolumeResourceRequirements {
                                    requests: Some(BTreeMap::from([(
                                        "storage".to_owned(),
                                        Quantity(size.clone()),
                                    )])),
                                    ..VolumeResourceRequirements::default()
                                }),
                                ..PersistentVolumeClaimSpec::default()
                            }),
                            ..PersistentVolumeClaim::default()
                        }
                    });
                    let volume = Volume {
                        name: claim.clone(),
                        persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                            claim_name: claim.clone(),
                            read_only: None,
                        }),
                        ..Volume::default()
                    };
                    self.mount(volume, &mount.target, mount.read_only);
                    self.kept(
                        key,
                        format!(
                            "PersistentVolumeClaim {claim} at {}{ro}: ReadWriteOncePod (one pod at a time), {size} (`--volume-size {source}=SIZE`), the cluster's default storage class, owned by group {fs_group} (the pod's fsGroup)",
                            mount.target
                        ),
                    );
                }
                ("volume", None) => {
                    let name = format!("{}-volume-{i}", self.container.name);
                    let volume = Volume {
                        name,
                        empty_dir: Some(EmptyDirVolumeSource::default()),
                        ..Volume::default()
                    };
                    self.mount(volume, &mount.target, mount.read_only);
                    self.kept(
                        key,
                        format!("an emptyDir on the node's disk at {}{ro}: its data goes with the pod, as an anonymous volume's goes with its container", mount.target),
                    );
                }
                ("bind", Some(source)) => {
                    let path = self.project.resolve(source).display().to_string();
                    let name = format!("{}-bind-{i}", self.container.name);
                    let volume = Volume {
                        name,
                        host_path: Some(HostPathVolumeSource {
                            path: path.clone(),
                            type_: None,
                        }),
                        ..Volume::default()
                    };
                    self.mount(volume, &mount.target, mount.read_only);
                    self.kept(
                        key,
                        format!("hostPath {path} at {}{ro}: the path must exist on every node (Pod Security restricted warns of hostPath)", mount.target),
                    );
                }
                ("tmpfs", _) => {
                    let name = format!("{}-tmpfs-v{i}", self.container.name);
                    let volume = Volume {
                        name,
                        empty_dir: Some(EmptyDirVolumeSource {
                            medium: Some("Memory".to_owned()),
                            size_limit: None,
                        }),
                        ..Volume::default()
                    };
                    self.mount(volume, &mount.target, false);
                    self.kept(key, format!("emptyDir (medium Memory) at {}", mount.target));
                }
                (kind, _) => self.refuse(
                    key,
                    format!("a `{kind}` mount has no source to carry"),
                    "give the mount a `source`".to_owned(),
                ),
            }
        }
    }

    /// The gid the pod's volumes are given to: the service's gid, else its uid.
    fn owner_gid(&self) -> Option<i64> {
        self.security.run_as_group.or(self.security.run_as_user)
    }

    /// The short `tmpfs:` form as memory-backed emptyDirs.
    fn tmpfs(&mut self) {
        for (i, entry) in self.service.tmpfs.clone().iter().enumerate() {
            let key = Self::key("tmpfs").index(i);
            let (target, options) = entry.split_once(':').unwrap_or((entry.as_str(), ""));
            let mut size = None;
            let mut dropped = Vec::new();
            for option in options.split(',').filter(|o| !o.is_empty()) {
                let (k, v) = option.split_once('=').unwrap_or((option, ""));
                match (k, parse_size(v)) {
                    ("size", Ok(bytes)) => size = Some(bytes),
                    ("size", Err(why)) => {
                        self.refuse(
                            key.clone(),
                            format!("the tmpfs size `{v}`: {why}"),
                            "write e.g. `size=16m`".to_owned(),
                        );
                    }
                    _ => dropped.push(option.to_owned()),
                }
            }
            let name = format!("{}-tmpfs-{i}", self.container.name);
            let volume = Volume {
                name,
                empty_dir: Some(EmptyDirVolumeSource {
                    medium: Some("Memory".to_owned()),
                    size_limit: size.map(memory_quantity),
                }),
                ..Volume::default()
            };
            self.mount(volume, target, false);
            let became = format!(
                "emptyDir (medium Memory{}) at {target}; its pages count against the container's memory limit",
                size.map(|s| format!(", sizeLimit {}", memory_quantity(s).0))
                    .unwrap_or_default()
            );
            if dropped.is_empty() {
                self.kept(key, became);
            } else {
                self.lost(
                    key,
                    &TMPFS_OWNER,
                    format!(
                        "{became}, without {}: the kubelet makes it mode 0777 (no sticky bit), writable by every uid in the container",
                        dropped.join(", ")
                    ),
                );
            }
        }
    }

    /// Every secret the service uses, from a Secret named after it, in a
    /// projected volume per directory, read-only, mode 0444 (as Compose
    /// mounts a secret); only this container mounts it.
    fn secrets(&mut self) {
        let mut by_dir: BTreeMap<String, Vec<KeyToPath>> = BTreeMap::new();
        let mut sources: BTreeMap<String, Vec<SecretProjection>> = BTreeMap::new();
        for (i, secret) in self.service.secrets.clone().iter().enumerate() {
            let key = Self::key("secrets").index(i);
            let Some(declared) = self.project.model.secrets.get(&secret.source) else {
                self.refuse(
                    key,
                    format!(
                        "secret `{}` is not declared at the top level",
                        secret.source
                    ),
                    format!(
                        "declare it under `secrets:` with a `file:`, e.g. `{}: {{file: ./{0}}}`",
                        secret.source
                    ),
                );
                continue;
            };
            let name = match dns_label(&secret.source) {
                Ok(n) => n,
                Err(why) => {
                    self.refuse(
                        key,
                        format!("the Secret's name: {why}"),
                        "rename the secret".to_owned(),
                    );
                    continue;
                }
            };
            let flag = match (&declared.file, &declared.environment) {
                (Some(file), _) => format!(
                    "--from-file={}={}",
                    secret.source,
                    self.project.resolve(file).display()
                ),
                (None, Some(variable)) => {
                    format!("--from-literal={}=\"${variable}\"", secret.source)
                }
                (None, None) => {
                    self.refuse(
                        key,
                        format!(
                            "secret `{}` has neither a `file` nor an `environment`",
                            secret.source
                        ),
                        "give the secret a `file:`".to_owned(),
                    );
                    continue;
                }
            };
            self.parts
                .secrets
                .entry(secret.source.clone())
                .or_insert(SecretSource {
                    name: name.clone(),
                    key: secret.source.clone(),
                    flag,
                });
            let target = secret.mount_path();
            let (dir, file) = target.rsplit_once('/').unwrap_or(("", target.as_str()));
            let dir = if dir.is_empty() {
                "/".to_owned()
            } else {
                dir.to_owned()
            };
            by_dir.entry(dir.clone()).or_default().push(KeyToPath {
                key: secret.source.clone(),
                path: file.to_owned(),
                mode: None,
            });
            sources.entry(dir).or_default().push(SecretProjection {
                name: name.clone(),
                items: None,
                optional: Some(false),
            });
            self.kept(
                key,
                format!("Secret {name} (key {}) at {target}, read-only, mode 0444 as Compose mounts it, in this container only", secret.source),
            );
        }
        for (i, (dir, items)) in by_dir.into_iter().enumerate() {
            let projections = sources.remove(&dir).unwrap_or_default();
            let volume = Volume {
                name: format!("{}-secrets-{i}", self.container.name),
                projected: Some(ProjectedVolumeSource {
                    default_mode: Some(0o444),
                    sources: Some(
                        projections
                            .into_iter()
                            .zip(items)
                            .map(|(mut projection, item)| {
                                projection.items = Some(vec![item]);
                                VolumeProjection {
                                    secret: Some(projection),
                                    ..VolumeProjection::default()
                                }
                            })
                            .collect(),
                    ),
                }),
                ..Volume::default()
            };
            self.mount(volume, &dir, true);
        }
    }

    fn depends_on(&mut self) {
        if self.service.depends_on.is_empty() {
            return;
        }
        let mut parts = Vec::new();
        for (dependency, how) in &self.service.depends_on.0.clone() {
            let healthy = self
                .project
                .model
                .services
                .get(dependency)
                .and_then(|d| d.healthcheck.as_ref())
                .is_some_and(|h| probes(h).ok().flatten().is_some());
            let text = match how.condition {
                Condition::CompletedSuccessfully => {
                    format!("{dependency} runs first as an init container and must exit 0")
                }
                Condition::Healthy if !healthy => {
                    self.refuse(
                        Self::key("depends_on").key(dependency.clone()),
                        format!("`{dependency}` must be healthy first, but has no health check to tell"),
                        format!("give `{dependency}` a `healthcheck`, or write `condition: service_started`"),
                    );
                    continue;
                }
                Condition::Healthy => format!(
                    "{dependency} starts first, as a native sidecar, and the kubelet starts the next container once its startup probe passes"
                ),
                Condition::Started => format!(
                    "{dependency} starts first, as a native sidecar (and passes its startup probe, if it has one)"
                ),
            };
            parts.push(text);
        }
        if !parts.is_empty() {
            self.kept(
                Self::key("depends_on"),
                format!("same pod: {}", parts.join("; ")),
            );
        }
    }

    fn extension_keys(&mut self) {
        let Some(ext) = self.project.extensions.get(self.name).cloned() else {
            return;
        };
        if !self.service.extensions.contains_key(KEY) {
            return;
        }
        let key = Self::key(KEY);
        if ext.binary.is_some() {
            self.not_needed(
                key.key("binary"),
                "how stackctl builds the image; the nodes load it by name",
            );
        }
        if !ext.listen.is_empty() {
            let mut ports = Vec::new();
            for endpoint in &ext.listen {
                let port = endpoint.addr.port();
                if let Some(other) = self.parts.ports.get(&port).cloned() {
                    self.refuse(
                        key.key("listen"),
                        format!("port {port} is also `{other}`'s, and they share one pod on the node's network"),
                        "give one of them another port".to_owned(),
                    );
                    continue;
                }
                self.parts.ports.insert(port, self.name.to_owned());
                ports.push(ContainerPort {
                    container_port: i32::from(port),
                    host_port: Some(i32::from(port)),
                    protocol: Some("TCP".to_owned()),
                    ..ContainerPort::default()
                });
            }
            let listed: Vec<String> = ext.listen.iter().map(|l| l.addr.to_string()).collect();
            self.container.ports = Some(ports);
            self.kept(
                key.key("listen"),
                format!(
                    "binds {} itself; declared as containerPort == hostPort, so the scheduler never puts two pods binding it on one node",
                    listed.join(", ")
                ),
            );
        }
        if let Some(rules) = &ext.egress {
            let allowed: Vec<String> = rules.iter().map(ToString::to_string).collect();
            self.kept(
                key.key("egress"),
                format!(
                    "enforced on every node by the `{}` DaemonSet, on the service's uid ({}); NetworkPolicy does not apply to host-network pods",
                    super::AGENT_NAME,
                    if allowed.is_empty() {
                        "no connections".to_owned()
                    } else {
                        allowed.join(", ")
                    }
                ),
            );
        }
        if let Some(lan) = &ext.lan {
            self.kept(
                key.key("lan"),
                format!("serves the LAN at its node's addresses: {lan}"),
            );
        }
        if !ext.accept.is_empty() {
            self.not_needed(
                key.key("accept"),
                "acceptances are judged here and by the audit",
            );
        }
    }
}

/// `cpus` and `memory` of a `deploy.resources` limits or reservations; a
/// value that is not a number or a size is an error, never left out.
fn quantities(value: Option<&Value>) -> Result<BTreeMap<String, Quantity>, String> {
    let mut out = BTreeMap::new();
    let Some(value) = value else { return Ok(out) };
    if let Some(cpus) = scalar(value.get("cpus")) {
        let parsed = cpus
            .parse::<f64>()
            .ok()
            .filter(|c| c.is_finite() && *c > 0.0)
            .ok_or_else(|| format!("`cpus: {cpus}` is not a positive number of CPUs"))?;
        out.insert("cpu".to_owned(), cpu_quantity(parsed));
    }
    if let Some(memory) = scalar(value.get("memory")) {
        let bytes = parse_size(&memory).map_err(|why| format!("`memory: {memory}`: {why}"))?;
        out.insert("memory".to_owned(), memory_quantity(bytes));
    }
    Ok(out)
}
