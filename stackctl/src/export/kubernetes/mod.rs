//! `stackctl export kubernetes`: `compose.yaml` as Kubernetes manifests (one
//! multi-document YAML for `kubectl apply -f`), built from the typed objects
//! of `k8s-openapi` for Kubernetes [`MIN_VERSION`] or newer, and the fidelity
//! report of what each key became (see [`super::fidelity`]).
//!
//! What host networking means on Kubernetes, and how the manifests hold it:
//! - the Namespace enforces Pod Security **privileged** (the only level
//!   that admits `hostNetwork` and `hostPort`) and warns and audits at
//!   **restricted**, so every other Restricted rule a pod breaks is still
//!   reported by the API server;
//! - every pod runs with `hostNetwork: true` and `dnsPolicy:
//!   ClusterFirstWithHostNet`, declares each `x-stackctl.listen` port with
//!   `hostPort == containerPort`, and carries every Restricted field
//!   (`runAsNonRoot`, `runAsUser`/`runAsGroup`, no privilege escalation,
//!   all capabilities dropped, the runtime's default seccomp profile) plus a
//!   read-only root, memory-backed `emptyDir`s for `tmpfs`, requests and
//!   limits, and exec probes that run the image's own health command;
//! - services that talk over `127.0.0.1` (the co-location groups of
//!   [`super::colocation_groups`]) are **one Pod**: it is the only way
//!   Kubernetes guarantees that they share a node for as long as they run
//!   (required pod affinity is checked only when a pod is scheduled, so a
//!   rescheduled database would leave its API behind on another node). The
//!   services the others depend on run first, as native sidecars
//!   (`restartPolicy: Always` init containers, on by default since 1.29)
//!   whose startup probe gates the next, which is `depends_on:
//!   service_healthy`. Each pod runs at most once per node (required
//!   anti-affinity with itself, on top of the scheduler's host-port check);
//! - a persistent volume is a PersistentVolumeClaim with `ReadWriteOncePod`
//!   and its Deployment rolls out with `Recreate`: one writer, always;
//! - Secrets are referenced by name and never written with their values,
//!   unless [`Inputs::secret_values`] holds them (an explicit flag);
//! - NetworkPolicy does not police host-network pods, so the per-uid egress
//!   firewall is the `firewall-agent` DaemonSet (see [`AgentInputs`]): our own agent
//!   (`stackctl agent firewall`, the image Swarm runs too) on every node.

mod agent;
mod pod;

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment};
use k8s_openapi::api::core::v1::{Namespace, PersistentVolumeClaim, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};

use super::fidelity::{LossKind, Report};
use crate::audit::subject::{self, Subject};
use crate::compose::{Diagnostic, Diagnostics, Project};

pub use agent::{AGENT_NAME, AgentInputs};

/// The oldest Kubernetes the manifests are written for (k8s-openapi's
/// `v1_29` types): native sidecars on by default, `ReadWriteOncePod` GA.
pub const MIN_VERSION: &str = "1.29";

/// The label prefix of stackctl's own labels.
pub const LABEL_PREFIX: &str = "stackctl.shopdotcom";

/// The label on what must be applied first (the Namespace and the firewall
/// agent), so `kubectl apply -l` can apply it before the workloads.
pub const APPLY_FIRST_LABEL: &str = "stackctl.shopdotcom/apply";

/// No PIDs limit per pod or container.
pub const PIDS_LIMIT: LossKind = LossKind {
    id: "kubernetes:pids-limit",
    title: "Kubernetes has no PIDs limit per pod or container",
    help: "A pod spec cannot limit its number of processes; only the kubelet's `podPidsLimit` bounds every pod of a \
           node alike. A fork bomb in the service is bounded by that node-wide value, if the administrator set one.",
};

/// No ulimits.
pub const ULIMITS: LossKind = LossKind {
    id: "kubernetes:ulimits",
    title: "Kubernetes has no ulimits",
    help: "A container gets the resource limits (RLIMIT_NOFILE, ...) of the container runtime on its node; a pod spec \
           cannot change them.",
};

/// No bounded restart count.
pub const RESTART: LossKind = LossKind {
    id: "kubernetes:restart",
    title: "Kubernetes restarts a workload's containers always, without a count",
    help: "A Deployment's pods have `restartPolicy: Always`: a crashing container is restarted for ever, with an \
           exponential back-off (10 s doubling to 5 minutes) that bounds the rate but not the count.",
};

/// Log rotation is the kubelet's.
pub const LOG_ROTATION: LossKind = LossKind {
    id: "kubernetes:log-rotation",
    title: "Kubernetes has no logging driver or log options per container",
    help: "The kubelet writes and rotates every container's log by its own settings (`containerLogMaxSize`, 10Mi, \
           and `containerLogMaxFiles`, 5, by default); a pod cannot choose a driver or other bounds.",
};

/// emptyDir has no owner and no mode.
pub const TMPFS_OWNER: LossKind = LossKind {
    id: "kubernetes:tmpfs-owner",
    title: "a memory-backed emptyDir has no owner and no mode",
    help: "The kubelet creates an emptyDir with mode 0777 (no sticky bit), writable by every uid in the container; \
           Compose could give a tmpfs to the service's own uid, or a mode.",
};

/// Other security options.
pub const SECURITY_OPT: LossKind = LossKind {
    id: "kubernetes:security-opt",
    title: "this security option has no Kubernetes field here",
    help: "The export sets no privilege escalation and the runtime's default seccomp profile on every container; \
           other security options (profiles, labels) are not carried.",
};

/// No stop signal before Kubernetes 1.33's alpha field.
pub const STOP_SIGNAL: LossKind = LossKind {
    id: "kubernetes:stop-signal",
    title: "Kubernetes stops every container with the image's stop signal",
    help: "A pod spec cannot choose the signal a container is stopped with (1.33 adds an alpha field, off by \
           default); the kubelet sends the image's STOPSIGNAL, else SIGTERM.",
};

/// No init process.
pub const INIT: LossKind = LossKind {
    id: "kubernetes:init",
    title: "Kubernetes has no init process per container",
    help: "A container's first process is PID 1 and must reap its own children; the only alternative, \
           `shareProcessNamespace`, would show every container's processes to the others.",
};

/// Every loss the Kubernetes export can report.
pub const LOSSES: &[LossKind] = &[
    PIDS_LIMIT,
    ULIMITS,
    RESTART,
    LOG_ROTATION,
    TMPFS_OWNER,
    SECURITY_OPT,
    STOP_SIGNAL,
    INIT,
];

/// What the conversion needs besides the Compose file.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    /// The namespace (default: the project name, as a DNS label).
    pub namespace: Option<String>,
    /// The firewall agent's image and policy, when any service has an
    /// egress policy.
    pub agent: Option<AgentInputs>,
    /// The size each named volume's claim requests (`NAME` → `10Gi`).
    pub volume_sizes: BTreeMap<String, String>,
    /// Each secret's value, by its Compose name, only when the user asked
    /// for Secrets with their values (`--include-secret-values`); `None`
    /// writes no Secret and references them by name.
    pub secret_values: Option<BTreeMap<String, Vec<u8>>>,
}

/// The size of a claim whose volume has none given.
pub const DEFAULT_VOLUME_SIZE: &str = "1Gi";

/// One document of the export.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Document {
    Namespace(Namespace),
    PersistentVolumeClaim(PersistentVolumeClaim),
    Secret(Secret),
    DaemonSet(DaemonSet),
    Deployment(Deployment),
}

impl Document {
    /// `KIND/NAME`, as kubectl names an object.
    pub fn name(&self) -> String {
        let (kind, meta) = match self {
            Document::Namespace(o) => ("namespace", &o.metadata),
            Document::PersistentVolumeClaim(o) => ("persistentvolumeclaim", &o.metadata),
            Document::Secret(o) => ("secret", &o.metadata),
            Document::DaemonSet(o) => ("daemonset", &o.metadata),
            Document::Deployment(o) => ("deployment", &o.metadata),
        };
        format!("{kind}/{}", meta.name.as_deref().unwrap_or_default())
    }
}

/// A Secret the manifests reference: what to create it from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretSource {
    /// The Secret's name (the Compose name as a DNS label).
    pub name: String,
    /// The key inside it (the Compose name).
    pub key: String,
    /// `kubectl create secret generic`'s flag that reads the value:
    /// `--from-file=KEY=PATH`, or `--from-literal=KEY="$VAR"` for a secret
    /// Compose takes from the environment.
    pub flag: String,
}

/// A converted export: the documents and what each key became.
#[derive(Debug, Clone)]
pub struct Converted {
    pub namespace: String,
    pub documents: Vec<Document>,
    pub report: Report,
    /// The Secrets the pods reference, to create before applying (empty
    /// when the documents carry them).
    pub secrets: Vec<SecretSource>,
    /// Every image the nodes must have loaded.
    pub images: Vec<String>,
}

/// The name a Compose name takes in Kubernetes: `_` becomes `-`; the result
/// must be a DNS label (RFC 1123: lower-case letters, digits and `-`, at
/// most 63, starting and ending with a letter or digit).
pub fn dns_label(name: &str) -> Result<String, String> {
    let label = name.replace('_', "-");
    let ok = !label.is_empty()
        && label.len() <= 63
        && label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !label.starts_with('-')
        && !label.ends_with('-');
    if ok {
        Ok(label)
    } else {
        Err(format!(
            "`{name}` cannot be a Kubernetes name: it must be at most 63 lower-case letters, digits, `-` or `_`, starting and ending with a letter or digit"
        ))
    }
}

/// The labels every object of the export carries (the stack is named by
/// its namespace, already a DNS label).
fn common_labels(namespace: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("app.kubernetes.io/part-of".to_owned(), namespace.to_owned()),
        (
            "app.kubernetes.io/managed-by".to_owned(),
            "stackctl".to_owned(),
        ),
    ])
}

/// Converts `project` for Kubernetes. Input the target refuses outright
/// (ports on the host network, `net.*` sysctls, `pid: host` and the other
/// host namespaces, several replicas without a rule that keeps them on
/// separate nodes, a named user, a service off the host network) is an
/// error with file:line and a fix; everything else is carried or reported
/// as lost in the [`Report`], which the caller finishes with
/// [`subjects`] and judges.
pub fn convert(project: &Project, inputs: &Inputs) -> Result<Converted, Diagnostics> {
    let mut refusals: Vec<Diagnostic> = Vec::new();
    let mut report = Report::new("kubernetes", project);
    let namespace = match &inputs.namespace {
        Some(ns) => dns_label(ns),
        None => dns_label(&project.name),
    };
    let namespace = match namespace {
        Ok(ns) => ns,
        Err(why) => {
            refusals.push(Diagnostic {
                file: project.file.clone(),
                line: None,
                path: crate::compose::positions::KeyPath::root(),
                problem: format!("the namespace: {why}"),
                fix: "give one with `--namespace NAME` (or a project name with `-p NAME`)"
                    .to_owned(),
            });
            return Err(Diagnostics(refusals));
        }
    };
    let labels = common_labels(&namespace);
    let mut documents = vec![Document::Namespace(namespace_object(
        &namespace,
        labels.clone(),
    ))];

    // Co-location groups, each one pod; named after the project when there
    // is one, else after the group's first service.
    let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (service, group) in super::colocation_groups(project) {
        groups.entry(group).or_default().push(service);
    }
    let single = groups.len() == 1;
    let mut workloads = Vec::new();
    let mut claims = Vec::new();
    let mut secrets: BTreeMap<String, SecretSource> = BTreeMap::new();
    let mut images = Vec::new();
    for (group, members) in &groups {
        // A group is named after its first service, whose own name is
        // checked (and refused with its line) as its container's.
        let name = if single {
            namespace.clone()
        } else {
            dns_label(group).unwrap_or_else(|_| group.clone())
        };
        let built = pod::convert_group(
            project,
            &pod::GroupInputs {
                name: &name,
                namespace: &namespace,
                members,
                labels: &labels,
                volume_sizes: &inputs.volume_sizes,
            },
            &mut report,
            &mut refusals,
        );
        for (source, secret) in built.secrets {
            secrets.entry(source).or_insert(secret);
        }
        images.extend(built.images);
        claims.extend(
            built
                .claims
                .into_iter()
                .map(Document::PersistentVolumeClaim),
        );
        workloads.push(built.workload);
    }
    documents.extend(claims);

    let mut secret_sources: Vec<SecretSource> = secrets.into_values().collect();
    if let Some(values) = &inputs.secret_values {
        for source in &secret_sources {
            let Some(value) = values.get(&source.key) else {
                continue;
            };
            documents.push(Document::Secret(Secret {
                metadata: ObjectMeta {
                    name: Some(source.name.clone()),
                    namespace: Some(namespace.clone()),
                    labels: Some(labels.clone()),
                    ..ObjectMeta::default()
                },
                type_: Some("Opaque".to_owned()),
                data: Some(BTreeMap::from([(
                    source.key.clone(),
                    ByteString(value.clone()),
                )])),
                ..Secret::default()
            }));
        }
        report.note(
            "the Secrets are written WITH their values (--include-secret-values): keep the file private, and out of version control",
        );
        secret_sources.clear();
    } else if !secret_sources.is_empty() {
        report.note(format!(
            "the Secrets are referenced, not written: create {} in namespace `{namespace}` before applying (the commands are at the top of the manifests)",
            secret_sources
                .iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }

    match &inputs.agent {
        Some(agent) => {
            images.push(agent.image.clone());
            documents.push(Document::DaemonSet(agent::daemon_set(
                &namespace, &labels, agent,
            )));
            report.note(format!(
                "NetworkPolicy does not police host-network pods, so the per-uid egress firewall is the `{AGENT_NAME}` DaemonSet, \
                 added by the export: on every Linux node, on the host network, as root with only NET_ADMIN, no privilege \
                 escalation, a read-only root and the host's iptables lock; it installs this stack's uid rules on its node, \
                 keeps them, removes them on SIGTERM, and is ready only while they are installed. Apply it first and wait for it \
                 (`kubectl -n {namespace} rollout status daemonset/{AGENT_NAME}`): a pod that starts on a node before the agent has \
                 installed the rules there has no egress limits until it has"
            ));
        }
        None => report.note(
            "no service has an egress policy (`x-stackctl.egress`), so no firewall agent is exported",
        ),
    }
    documents.extend(workloads);

    if !refusals.is_empty() {
        refusals.sort_by_key(|d| d.line);
        refusals.dedup();
        return Err(Diagnostics(refusals));
    }
    images.sort();
    images.dedup();
    Ok(Converted {
        namespace,
        documents,
        report,
        secrets: secret_sources,
        images,
    })
}

/// The Namespace: Pod Security enforces privileged (which host networking
/// needs) and warns and audits at restricted, so the API server still
/// reports every other Restricted rule a pod breaks.
fn namespace_object(name: &str, mut labels: BTreeMap<String, String>) -> Namespace {
    labels.extend([
        (
            "pod-security.kubernetes.io/enforce".to_owned(),
            "privileged".to_owned(),
        ),
        (
            "pod-security.kubernetes.io/enforce-version".to_owned(),
            "latest".to_owned(),
        ),
        (
            "pod-security.kubernetes.io/warn".to_owned(),
            "restricted".to_owned(),
        ),
        (
            "pod-security.kubernetes.io/warn-version".to_owned(),
            "latest".to_owned(),
        ),
        (
            "pod-security.kubernetes.io/audit".to_owned(),
            "restricted".to_owned(),
        ),
        (
            "pod-security.kubernetes.io/audit-version".to_owned(),
            "latest".to_owned(),
        ),
        (APPLY_FIRST_LABEL.to_owned(), "first".to_owned()),
    ]);
    Namespace {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            labels: Some(labels),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    }
}

/// The facts the compensating controls of an acceptance are judged on, as
/// Kubernetes will run each service: the Compose facts, with what the
/// export adds (no privilege escalation, the default seccomp profile) and
/// without what Kubernetes cannot carry (the PIDs limit), so a control that
/// holds under Compose but not here is not taken as in place.
pub fn subjects(project: &Project) -> Vec<Subject> {
    project
        .model
        .services
        .iter()
        .map(|(name, service)| {
            let mut s = subject::from_compose(project, name, service);
            s.security_opt
                .retain(|o| !o.starts_with("seccomp") && !o.starts_with("no-new-privileges"));
            s.security_opt.push("no-new-privileges:true".to_owned());
            s.pids_limit = None;
            s
        })
        .collect()
}

impl Converted {
    /// The manifests as one multi-document YAML, with a header saying how
    /// to load the images, create the Secrets and apply them.
    pub fn to_yaml(&self) -> String {
        let ns = &self.namespace;
        let mut text = format!(
            "# Generated by `stackctl export kubernetes` from compose.yaml, for Kubernetes {MIN_VERSION} or newer.\n\
             # The images are built locally and never pulled (imagePullPolicy: Never): load them on every node, e.g.\n\
             #   docker save IMAGE | ctr -n k8s.io images import -\n"
        );
        for image in &self.images {
            text.push_str(&format!("#   {image}\n"));
        }
        if !self.secrets.is_empty() {
            text.push_str("# The Secrets are referenced, never written here; create them first:\n");
            for secret in &self.secrets {
                text.push_str(&format!(
                    "#   kubectl -n {ns} create secret generic {} {}\n",
                    secret.name, secret.flag
                ));
            }
        }
        text.push_str(&format!(
            "# Apply the namespace and the firewall agent first, wait until the agent is ready on every node, then the rest:\n\
             #   kubectl apply -f FILE -l {APPLY_FIRST_LABEL}=first\n\
             #   kubectl -n {ns} rollout status daemonset/{AGENT_NAME}\n\
             #   kubectl apply -f FILE\n"
        ));
        for document in &self.documents {
            text.push_str("---\n");
            text.push_str(&serde_yaml_ng::to_string(document).unwrap_or_default());
        }
        text
    }
}

/// Reads an export back into its typed objects, document by document; an
/// object of a kind the export does not write is an error. (The typed
/// objects skip fields they do not know: strict schema validation is
/// `kubernetes-validate --strict`'s job, which the tests run.)
pub fn parse_documents(text: &str) -> anyhow::Result<Vec<Document>> {
    let mut documents = Vec::new();
    for (i, document) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        let value = serde_yaml_ng::Value::deserialize(document)
            .map_err(|err| anyhow::anyhow!("document {}: not YAML: {err}", i + 1))?;
        if value.is_null() {
            continue;
        }
        let kind = value
            .get("kind")
            .and_then(serde_yaml_ng::Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let parsed = match kind.as_str() {
            "Namespace" => serde_yaml_ng::from_value(value).map(Document::Namespace),
            "PersistentVolumeClaim" => {
                serde_yaml_ng::from_value(value).map(Document::PersistentVolumeClaim)
            }
            "Secret" => serde_yaml_ng::from_value(value).map(Document::Secret),
            "DaemonSet" => serde_yaml_ng::from_value(value).map(Document::DaemonSet),
            "Deployment" => serde_yaml_ng::from_value(value).map(Document::Deployment),
            other => anyhow::bail!(
                "document {}: kind `{other}` is not one the export writes",
                i + 1
            ),
        };
        documents
            .push(parsed.map_err(|err| anyhow::anyhow!("document {} ({kind}): {err}", i + 1))?);
    }
    Ok(documents)
}

#[cfg(test)]
mod tests;
