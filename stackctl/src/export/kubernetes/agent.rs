//! The egress firewall on every node: a DaemonSet running our own firewall
//! agent ([`crate::swarm::agent`], `stackctl agent firewall`, the same image
//! the Swarm export runs), configured by the one environment variable it
//! reads. NetworkPolicy cannot do this job: it does not apply to
//! host-network pods, and node-level host policies (Calico HostEndpoint,
//! Cilium's host firewall) select nodes and interfaces, not the uid that
//! owns a socket.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{
    DaemonSet, DaemonSetSpec, DaemonSetUpdateStrategy, RollingUpdateDaemonSet,
};
use k8s_openapi::api::core::v1::{
    Capabilities, Container, EmptyDirVolumeSource, EnvVar, ExecAction, HostPathVolumeSource,
    PodSecurityContext, PodSpec, PodTemplateSpec, Probe, ResourceRequirements, SeccompProfile,
    SecurityContext, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::APPLY_FIRST_LABEL;
use crate::image::binary::binary_path_in_image;
use crate::swarm::agent::POLICY_VARIABLE;

/// The DaemonSet's name.
pub const AGENT_NAME: &str = "firewall-agent";

/// The host's iptables lock, which kube-proxy and the CNI plugins take too:
/// the agent's `iptables -w` must wait on the same file, or two writers
/// could replace each other's rules.
pub(super) const XTABLES_LOCK: &str = "/run/xtables.lock";

/// The agent's part of the export.
#[derive(Debug, Clone)]
pub struct AgentInputs {
    /// The agent's image, by name (the nodes load it).
    pub image: String,
    /// The rendered policy ([`crate::swarm::agent::policy`]).
    pub policy: String,
}

/// The firewall agent's DaemonSet: every Linux node, the host network, root
/// with only `NET_ADMIN`, no privilege escalation, a read-only root, the
/// host's iptables lock, and probes that run `stackctl agent healthcheck`
/// (ready only while the rules are installed). It rolls out a new pod
/// beside the old one (surge), so a node is never left without an agent.
pub(super) fn daemon_set(
    namespace: &str,
    labels: &BTreeMap<String, String>,
    agent: &AgentInputs,
) -> DaemonSet {
    let selector = BTreeMap::from([
        ("app.kubernetes.io/name".to_owned(), AGENT_NAME.to_owned()),
        (
            "app.kubernetes.io/part-of".to_owned(),
            labels["app.kubernetes.io/part-of"].clone(),
        ),
    ]);
    let mut all = labels.clone();
    all.extend(selector.clone());
    let mut object_labels = all.clone();
    object_labels.insert(APPLY_FIRST_LABEL.to_owned(), "first".to_owned());
    let bin = binary_path_in_image("stackctl");
    let health = |period: i32, failures: i32| Probe {
        exec: Some(ExecAction {
            command: Some(vec![
                bin.clone(),
                "agent".to_owned(),
                "healthcheck".to_owned(),
            ]),
        }),
        period_seconds: Some(period),
        timeout_seconds: Some(5),
        failure_threshold: Some(failures),
        success_threshold: Some(1),
        ..Probe::default()
    };
    let resources = BTreeMap::from([
        ("cpu".to_owned(), Quantity("250m".to_owned())),
        ("memory".to_owned(), Quantity("64Mi".to_owned())),
    ]);
    let container = Container {
        name: AGENT_NAME.to_owned(),
        image: Some(agent.image.clone()),
        image_pull_policy: Some("Never".to_owned()),
        command: Some(vec![bin.clone()]),
        args: Some(vec!["agent".to_owned(), "firewall".to_owned()]),
        env: Some(vec![EnvVar {
            name: POLICY_VARIABLE.to_owned(),
            value: Some(agent.policy.clone()),
            value_from: None,
        }]),
        security_context: Some(SecurityContext {
            run_as_user: Some(0),
            run_as_group: Some(0),
            run_as_non_root: Some(false),
            privileged: Some(false),
            allow_privilege_escalation: Some(false),
            read_only_root_filesystem: Some(true),
            capabilities: Some(Capabilities {
                drop: Some(vec!["ALL".to_owned()]),
                add: Some(vec!["NET_ADMIN".to_owned()]),
            }),
            seccomp_profile: Some(SeccompProfile {
                type_: "RuntimeDefault".to_owned(),
                localhost_profile: None,
            }),
            ..SecurityContext::default()
        }),
        resources: Some(ResourceRequirements {
            limits: Some(resources.clone()),
            requests: Some(resources),
            ..ResourceRequirements::default()
        }),
        startup_probe: Some(health(2, 15)),
        readiness_probe: Some(health(5, 2)),
        liveness_probe: Some(health(10, 3)),
        volume_mounts: Some(vec![
            VolumeMount {
                name: "run".to_owned(),
                mount_path: "/run".to_owned(),
                ..VolumeMount::default()
            },
            VolumeMount {
                name: "xtables-lock".to_owned(),
                mount_path: XTABLES_LOCK.to_owned(),
                ..VolumeMount::default()
            },
        ]),
        ..Container::default()
    };
    DaemonSet {
        metadata: ObjectMeta {
            name: Some(AGENT_NAME.to_owned()),
            namespace: Some(namespace.to_owned()),
            labels: Some(object_labels),
            ..ObjectMeta::default()
        },
        spec: Some(DaemonSetSpec {
            selector: LabelSelector {
                match_labels: Some(selector),
                ..LabelSelector::default()
            },
            update_strategy: Some(DaemonSetUpdateStrategy {
                type_: Some("RollingUpdate".to_owned()),
                rolling_update: Some(RollingUpdateDaemonSet {
                    max_surge: Some(IntOrString::Int(1)),
                    max_unavailable: Some(IntOrString::Int(0)),
                }),
            }),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(all),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    host_network: Some(true),
                    dns_policy: Some("ClusterFirstWithHostNet".to_owned()),
                    automount_service_account_token: Some(false),
                    enable_service_links: Some(false),
                    node_selector: Some(BTreeMap::from([(
                        "kubernetes.io/os".to_owned(),
                        "linux".to_owned(),
                    )])),
                    termination_grace_period_seconds: Some(15),
                    security_context: Some(PodSecurityContext {
                        seccomp_profile: Some(SeccompProfile {
                            type_: "RuntimeDefault".to_owned(),
                            localhost_profile: None,
                        }),
                        ..PodSecurityContext::default()
                    }),
                    containers: vec![container],
                    volumes: Some(vec![
                        Volume {
                            name: "run".to_owned(),
                            empty_dir: Some(EmptyDirVolumeSource {
                                medium: Some("Memory".to_owned()),
                                size_limit: Some(Quantity("1Mi".to_owned())),
                            }),
                            ..Volume::default()
                        },
                        Volume {
                            name: "xtables-lock".to_owned(),
                            host_path: Some(HostPathVolumeSource {
                                path: XTABLES_LOCK.to_owned(),
                                type_: Some("FileOrCreate".to_owned()),
                            }),
                            ..Volume::default()
                        },
                    ]),
                    ..PodSpec::default()
                }),
            },
            ..DaemonSetSpec::default()
        }),
        ..DaemonSet::default()
    }
}
