//! `stackctl export swarm`: `compose.yaml` as a stack file that `docker
//! stack deploy` accepts, and the fidelity report of what each key became.
//! `stackctl swarm deploy` runs the very same [`StackFile`] through the
//! Engine API (see `crate::swarm::spec`), so the file and a deployment
//! cannot drift apart.
//!
//! What host networking means on Swarm, and how the file guarantees it:
//! - every service is on the external network `host` and publishes nothing
//!   (a host-network task binds the node's own ports);
//! - services that talk over `127.0.0.1` (`x-stackctl.egress` to another
//!   service's listen port, and `depends_on`) form a co-location group; each
//!   group's services run in **global** mode, constrained to the nodes that
//!   carry the group's node label (`stackctl.STACK.GROUP=true`). Global mode
//!   runs at most one task of a service per node, so two replicas never
//!   collide on a port, and every labelled node runs the whole group, so a
//!   task always finds its upstream on its own node's loopback;
//! - the per-uid egress firewall follows the stack as the `firewall-agent`
//!   service, global on the same nodes (see [`crate::swarm::agent`]).

use std::collections::BTreeMap;

use serde::Serialize;
use serde_yaml_ng::Value;

pub use super::colocation_groups;
use super::fidelity::{self, LossKind, Report, Target};
use super::scalar;
use crate::compose::extension::KEY;
use crate::compose::model::Restart;
use crate::compose::positions::KeyPath;
use crate::compose::units::{format_duration, parse_size};
use crate::compose::{Diagnostic, Diagnostics, Project, Service};

/// How the refusals both targets share name Swarm.
const SWARM: Target = Target {
    name: "Swarm",
    unit: "task",
    enforcer: "the engine",
};

/// The loss Engine 20.10's Swarm cannot avoid: no `no-new-privileges`.
pub const NO_NEW_PRIVILEGES: LossKind = LossKind {
    id: "swarm:no-new-privileges",
    title: "Swarm services cannot set no-new-privileges",
    help: "A service's ContainerSpec has no security options on this engine; `docker stack deploy` prints only \
           `Ignoring unsupported options: security_opt`. A setuid binary in the image could raise privileges; \
           an image without setuid/setgid files, all capabilities dropped and a non-root user make up for it.",
};

/// Other `security_opt` entries (seccomp, AppArmor, SELinux labels).
pub const SECURITY_OPT: LossKind = LossKind {
    id: "swarm:security-opt",
    title: "Swarm services cannot set security options",
    help: "Seccomp profiles, AppArmor profiles and SELinux labels other than the engine's defaults cannot be set on a service.",
};

/// A tmpfs mount's owner and mode.
pub const TMPFS_OWNER: LossKind = LossKind {
    id: "swarm:tmpfs-owner",
    title: "Swarm tmpfs mounts have no owner and no mode in a stack file",
    help: "A stack file's tmpfs takes only a size; the engine mounts it root-owned with mode 1777 (sticky, \
           writable by every uid in the container), where Compose could give it to the service's own uid.",
};

/// Every loss the Swarm export can report.
pub const LOSSES: &[LossKind] = &[NO_NEW_PRIVILEGES, SECURITY_OPT, TMPFS_OWNER];

/// What a service runs as on Swarm, for judging the controls of an
/// acceptance: the Compose facts less what the target drops (every
/// `security_opt`), with the egress policy enforced by the agent.
pub fn as_deployed(subject: &mut crate::audit::subject::Subject) {
    subject.security_opt.clear();
    subject.egress_source =
        "x-stackctl.egress, enforced on each node by the stack's firewall-agent";
}

/// The stack file's version: `deploy.resources.limits.pids` needs 3.9
/// (docker CLI 20.10 refuses it in 3.8).
pub const VERSION: &str = "3.9";

/// The name the host network has on every node.
pub const HOST_NETWORK: &str = "host";

/// The service that carries the egress firewall to each node.
pub const AGENT_SERVICE: &str = "firewall-agent";

/// A stack file (the Compose file format 3.x that `docker stack deploy` reads).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StackFile {
    pub version: String,
    pub services: BTreeMap<String, StackService>,
    pub networks: BTreeMap<String, StackNetwork>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub volumes: BTreeMap<String, StackVolume>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub secrets: BTreeMap<String, StackSecret>,
}

/// `networks.host`: the node's own network, external to the stack.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StackNetwork {
    pub external: bool,
    pub name: String,
}

/// A top-level named volume (local to each node).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct StackVolume {}

/// A top-level secret, read from a file when the stack is deployed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StackSecret {
    /// An absolute path on the machine that deploys.
    pub file: String,
}

/// One service of the stack file.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct StackService {
    /// The pinned image ID (`sha256:...`): the tasks run exactly it.
    pub image: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub environment: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub read_only: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cap_add: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cap_drop: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init: Option<bool>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub sysctls: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub ulimits: BTreeMap<String, StackUlimit>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<StackHealthcheck>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_grace_period: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logging: Option<StackLogging>,
    pub networks: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<StackMount>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<StackSecretRef>,
    pub deploy: StackDeploy,
}

/// `ulimits.NAME`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct StackUlimit {
    pub soft: i64,
    pub hard: i64,
}

/// `healthcheck`, with durations written as Compose writes them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StackHealthcheck {
    pub test: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retries: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_period: Option<String>,
}

/// `logging`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StackLogging {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub options: BTreeMap<String, String>,
}

/// One entry of a service's `volumes`, always in the long form (the only
/// form in which a tmpfs survives `docker stack deploy`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StackMount {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    pub target: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub read_only: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tmpfs: Option<StackTmpfs>,
}

/// A tmpfs mount's options as a stack file takes them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct StackTmpfs {
    /// Bytes; none is half the node's memory, as with Compose.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Permission bits (YAML writes them in decimal: 0o1777 = 1023). The
    /// Engine API takes them; docker CLI 20.10's `stack deploy` drops them
    /// without a word, leaving a root-owned 0755 mount.
    pub mode: u32,
}

/// A secret mounted into a service, owned by the service's user.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StackSecretRef {
    pub source: String,
    pub target: String,
    pub uid: String,
    pub gid: String,
    /// Octal permission bits; YAML writes the number in decimal (0o400 = 256).
    pub mode: u32,
}

/// `deploy`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct StackDeploy {
    /// Always `global`: at most one task per node (see the module docs).
    pub mode: String,
    pub placement: StackPlacement,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resources: Option<StackResources>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart_policy: Option<StackRestartPolicy>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// `deploy.placement`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct StackPlacement {
    pub constraints: Vec<String>,
}

/// `deploy.resources`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct StackResources {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limits: Option<StackLimits>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reservations: Option<StackLimits>,
}

/// Limits or reservations.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct StackLimits {
    /// CPUs as a decimal string (`"0.5"`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpus: Option<String>,
    /// Bytes (a stack file writes them as a string).
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "bytes_as_string"
    )]
    pub memory: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pids: Option<i64>,
}

/// `deploy.restart_policy`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StackRestartPolicy {
    /// `none`, `on-failure` or `any`.
    pub condition: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u32>,
}

/// What the conversion needs besides the Compose file.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    /// The stack's name (`docker stack deploy NAME`); it namespaces node labels.
    pub stack: String,
    /// Each service's pinned image ID.
    pub images: BTreeMap<String, String>,
    /// The firewall agent's image ID and the policy it installs (JSON), when
    /// any service has an egress policy.
    pub agent: Option<AgentInputs>,
}

/// The firewall agent's part of the stack.
#[derive(Debug, Clone)]
pub struct AgentInputs {
    pub image: String,
    /// The rendered policy (a [`crate::firewall::Plan`] as JSON, from [`crate::swarm::agent::policy`]).
    pub policy: String,
}

/// A converted stack: the file and what each key became.
#[derive(Debug, Clone)]
pub struct Converted {
    pub file: StackFile,
    pub report: Report,
    /// The co-location groups: label key to the services it places.
    pub groups: BTreeMap<String, Vec<String>>,
}

/// The node label a co-location group is placed by.
pub fn group_label(stack: &str, group: &str) -> String {
    format!("stackctl.{stack}.{group}")
}

/// Converts `project` for Swarm. Input the target refuses outright (ports on
/// the host network, `net.*` sysctls, several replicas without a rule that
/// keeps them on separate nodes, a service off the host network) is an
/// error with file:line and a fix; everything else is carried or reported
/// as lost in the [`Report`], which the caller finishes and judges.
pub fn convert(project: &Project, inputs: &Inputs) -> Result<Converted, Diagnostics> {
    let mut refusals = Vec::new();
    let mut report = Report::new("swarm", project);
    let groups = colocation_groups(project);
    let mut file = StackFile {
        version: VERSION.to_owned(),
        services: BTreeMap::new(),
        networks: BTreeMap::from([(
            HOST_NETWORK.to_owned(),
            StackNetwork {
                external: true,
                name: HOST_NETWORK.to_owned(),
            },
        )]),
        volumes: BTreeMap::new(),
        secrets: BTreeMap::new(),
    };
    let mut labels_of_groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut cli_drops_tmpfs_mode = false;
    for (name, service) in &project.model.services {
        let group = groups.get(name).cloned().unwrap_or_else(|| name.clone());
        let label = group_label(&inputs.stack, &group);
        labels_of_groups
            .entry(label.clone())
            .or_default()
            .push(name.clone());
        let mut c = ServiceConversion {
            project,
            name,
            service,
            report: &mut report,
            refusals: &mut refusals,
            out: StackService::default(),
            file: &mut file,
            label,
            cli_drops_tmpfs_mode: false,
        };
        c.convert(inputs);
        cli_drops_tmpfs_mode |= c.cli_drops_tmpfs_mode;
        let out = c.out;
        file.services.insert(name.clone(), out);
    }
    if cli_drops_tmpfs_mode {
        report.note(
            "docker CLI 20.10's `docker stack deploy` drops `tmpfs.mode` from a stack file without a word: the tmpfs then \
             has the mode of the directory it covers in the image (runc), which a non-root service may not be able to write; \
             `stackctl swarm deploy` sets the mode through the Engine API",
        );
    }
    if let Some(agent) = &inputs.agent {
        let constraints: Vec<String> = labels_of_groups
            .keys()
            .map(|label| format!("node.labels.{label} == true"))
            .collect();
        file.services
            .insert(AGENT_SERVICE.to_owned(), agent_service(agent, constraints));
        report.note(format!(
            "the per-uid egress firewall is the `{AGENT_SERVICE}` service, added by the export: global on the same nodes, \
             on the host network, running as root with only NET_ADMIN (iptables needs it; no NET_RAW), read-only root, \
             no no-new-privileges (Swarm cannot set it); it installs this stack's uid rules on its node, keeps them, \
             removes them on SIGTERM, and is healthy only while they are installed"
        ));
    }
    for (label, services) in &labels_of_groups {
        report.note(format!(
            "{} run in global mode on the nodes labelled `{label}=true`: at most one task of each per node, and the whole \
             group on each such node, so they reach each other on its 127.0.0.1 (`docker node update --label-add {label}=true NODE`)",
            services.join(", ")
        ));
    }
    if !refusals.is_empty() {
        refusals.sort_by_key(|d| d.line);
        return Err(Diagnostics(refusals));
    }
    Ok(Converted {
        file,
        report,
        groups: labels_of_groups,
    })
}

/// The firewall agent as a stack service.
fn agent_service(agent: &AgentInputs, constraints: Vec<String>) -> StackService {
    let bin = crate::image::binary::binary_path_in_image("stackctl");
    StackService {
        image: agent.image.clone(),
        command: Some(vec!["agent".to_owned(), "firewall".to_owned()]),
        environment: BTreeMap::from([(
            crate::swarm::agent::POLICY_VARIABLE.to_owned(),
            agent.policy.clone(),
        )]),
        user: Some("0:0".to_owned()),
        read_only: true,
        cap_drop: vec!["ALL".to_owned()],
        cap_add: vec!["NET_ADMIN".to_owned()],
        healthcheck: Some(StackHealthcheck {
            test: vec![
                "CMD".to_owned(),
                bin,
                "agent".to_owned(),
                "healthcheck".to_owned(),
            ],
            interval: Some("3s".to_owned()),
            timeout: Some("5s".to_owned()),
            retries: Some(3),
            start_period: Some("5s".to_owned()),
        }),
        stop_grace_period: Some("15s".to_owned()),
        networks: vec![HOST_NETWORK.to_owned()],
        volumes: vec![StackMount {
            kind: "tmpfs".to_owned(),
            source: None,
            target: "/run".to_owned(),
            read_only: false,
            tmpfs: Some(StackTmpfs {
                size: Some(1 << 20),
                mode: 0o755,
            }),
        }],
        deploy: StackDeploy {
            mode: "global".to_owned(),
            placement: StackPlacement { constraints },
            resources: Some(StackResources {
                limits: Some(StackLimits {
                    cpus: Some("0.25".to_owned()),
                    memory: Some(64 << 20),
                    pids: Some(32),
                }),
                reservations: None,
            }),
            restart_policy: Some(StackRestartPolicy {
                condition: "any".to_owned(),
                max_attempts: None,
            }),
            labels: BTreeMap::new(),
        },
        ..StackService::default()
    }
}

/// One service being converted.
struct ServiceConversion<'a> {
    project: &'a Project,
    name: &'a str,
    service: &'a Service,
    report: &'a mut Report,
    refusals: &'a mut Vec<Diagnostic>,
    out: StackService,
    file: &'a mut StackFile,
    /// The node label of its co-location group.
    label: String,
    /// Set when a tmpfs mode matters: docker CLI 20.10 drops it.
    cli_drops_tmpfs_mode: bool,
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
        let refusal = fidelity::refusal(self.project, self.name, key, problem, fix);
        self.refusals.push(refusal);
    }

    fn convert(&mut self, inputs: &Inputs) {
        let s = self.service;
        self.out.networks = vec![HOST_NETWORK.to_owned()];
        self.out.deploy.mode = "global".to_owned();
        self.out.deploy.placement.constraints = vec![format!("node.labels.{} == true", self.label)];

        match inputs.images.get(self.name) {
            Some(id) => {
                self.out.image = id.clone();
                let tag = s.image.clone().unwrap_or_default();
                self.kept(
                    Self::key("image"),
                    format!("the pinned image ID {id} (of {tag}); tasks run exactly it, never a registry's"),
                );
            }
            None => self.refuse(
                Self::key("image"),
                format!("service `{}` has no pinned image ID to run", self.name),
                "build it first: `stackctl build`".to_owned(),
            ),
        }
        if s.build.is_some() {
            self.not_needed(
                Self::key("build"),
                "built locally by stackctl; the image travels by ID (`stackctl swarm save-images` for other nodes)",
            );
        }
        self.network();
        if let Some(entrypoint) = &s.entrypoint {
            self.out.entrypoint = Some(entrypoint.0.clone());
            self.kept(Self::key("entrypoint"), "entrypoint, as written");
        }
        if let Some(command) = &s.command {
            self.out.command = Some(command.0.clone());
            self.kept(Self::key("command"), "command, as written");
        }
        self.environment();
        if let Some(user) = &s.user {
            self.out.user = Some(user.clone());
            self.kept(Self::key("user"), format!("user {user}"));
        }
        if let Some(dir) = &s.working_dir {
            self.out.working_dir = Some(dir.clone());
            self.kept(Self::key("working_dir"), format!("working_dir {dir}"));
        }
        match s.extensions.get("init") {
            Some(Value::Bool(init)) => {
                self.out.init = Some(*init);
                self.kept(
                    Self::key("init"),
                    format!("init: {init} (ContainerSpec.Init)"),
                );
            }
            Some(_) => self.refuse(
                Self::key("init"),
                "`init` is not true or false".to_owned(),
                "write `init: true`".to_owned(),
            ),
            None => {}
        }
        if s.read_only {
            self.out.read_only = true;
            self.kept(
                Self::key("read_only"),
                "read_only: true (ContainerSpec.ReadOnly)",
            );
        }
        if !s.cap_drop.is_empty() {
            self.out.cap_drop = s.cap_drop.clone();
            self.kept(
                Self::key("cap_drop"),
                format!(
                    "cap_drop {} (ContainerSpec.CapabilityDrop)",
                    s.cap_drop.join(", ")
                ),
            );
        }
        if !s.cap_add.is_empty() {
            self.out.cap_add = s.cap_add.clone();
            self.kept(
                Self::key("cap_add"),
                format!(
                    "cap_add {} (ContainerSpec.CapabilityAdd)",
                    s.cap_add.join(", ")
                ),
            );
        }
        for (i, option) in s.security_opt.iter().enumerate() {
            let key = Self::key("security_opt").index(i);
            if crate::audit::controls::no_new_privileges(std::slice::from_ref(option)) {
                self.lost(
                    key,
                    &NO_NEW_PRIVILEGES,
                    format!("`{option}`: a service's container spec cannot set no-new-privileges on this engine; the tasks run without it"),
                );
            } else {
                self.lost(
                    key,
                    &SECURITY_OPT,
                    format!("`{option}`: a service cannot set security options; the task gets the engine's defaults"),
                );
            }
        }
        self.resources();
        self.ulimits();
        self.healthcheck();
        if let Some(grace) = &s.stop_grace_period {
            let text = format_duration(grace.0);
            self.out.stop_grace_period = Some(text.clone());
            self.kept(
                Self::key("stop_grace_period"),
                format!("stop_grace_period {text}"),
            );
        }
        if let Some(signal) = &s.stop_signal {
            self.out.stop_signal = Some(signal.clone());
            self.kept(Self::key("stop_signal"), format!("stop_signal {signal}"));
        }
        if let Some(restart) = s.restart {
            let policy = restart_policy(restart);
            let became = format!(
                "deploy.restart_policy: condition {}{}",
                policy.condition,
                policy
                    .max_attempts
                    .map(|n| format!(", max_attempts {n}"))
                    .unwrap_or_default()
            );
            self.out.deploy.restart_policy = Some(policy);
            self.kept(Self::key("restart"), became);
        }
        if !s.labels.is_empty() {
            self.out.labels = s.labels.0.clone();
            self.kept(Self::key("labels"), "container labels, as written");
        }
        if let Some(logging) = &s.logging {
            self.out.logging = Some(StackLogging {
                driver: logging.driver.clone(),
                options: logging.options.clone(),
            });
            self.kept(
                Self::key("logging"),
                format!(
                    "logging driver {} with {} option(s)",
                    logging.driver.as_deref().unwrap_or("(engine default)"),
                    logging.options.len()
                ),
            );
        }
        self.sysctls();
        self.volumes();
        self.tmpfs();
        self.secrets();
        self.depends_on();
        self.extension_keys();
    }

    fn network(&mut self) {
        let s = self.service;
        match fidelity::off_the_host_network(s, self.name, &SWARM) {
            None => self.kept(
                Self::key("network_mode"),
                "networks: [host], the external network `host` (the node's own network namespace)",
            ),
            Some((key, problem, fix)) => self.refuse(key, problem, fix),
        }
        if !s.ports.is_empty() {
            self.refuse(
                Self::key("ports"),
                format!(
                    "service `{}` publishes ports, but a host-network task binds the node's own ports and Swarm cannot publish them (no routing mesh, no virtual IP on the host network)",
                    self.name
                ),
                "remove `ports`; the service binds its port itself (declare it in `x-stackctl.listen`)".to_owned(),
            );
        }
    }

    fn environment(&mut self) {
        let s = self.service;
        if s.environment.is_empty() {
            return;
        }
        let mut from_shell = Vec::new();
        for (key, value) in &s.environment.0 {
            let value = match value {
                Some(v) => Some(v.clone()),
                None => {
                    from_shell.push(key.clone());
                    std::env::var(key).ok()
                }
            };
            if let Some(value) = value {
                self.out.environment.insert(key.clone(), value);
            }
        }
        let mut became = format!("{} variable(s), as written", self.out.environment.len());
        if !from_shell.is_empty() {
            became.push_str(&format!(
                " ({} taken from this shell at export time)",
                from_shell.join(", ")
            ));
        }
        self.kept(Self::key("environment"), became);
    }

    fn resources(&mut self) {
        let s = self.service;
        let deploy = s.extensions.get("deploy");
        let mut limits = StackLimits::default();
        if let Some(memory) = s.mem_limit {
            limits.memory = Some(memory.0);
            self.kept(
                Self::key("mem_limit"),
                format!("deploy.resources.limits.memory {} bytes", memory.0),
            );
        }
        if let Some(cpus) = s.cpus {
            limits.cpus = Some(cpus.0.to_string());
            self.kept(
                Self::key("cpus"),
                format!("deploy.resources.limits.cpus {}", cpus.0),
            );
        }
        if let Some(pids) = s.pids_limit {
            limits.pids = Some(pids);
            self.kept(
                Self::key("pids_limit"),
                format!("deploy.resources.limits.pids {pids}"),
            );
        }
        let mut reservations = None;
        if let Some(deploy) = deploy {
            self.deploy(deploy, &mut limits, &mut reservations);
        }
        let any = limits != StackLimits::default();
        if any || reservations.is_some() {
            self.out.deploy.resources = Some(StackResources {
                limits: any.then_some(limits),
                reservations,
            });
        }
    }

    /// `deploy:` as written in the Compose file (the model keeps it as YAML,
    /// since `up` does not run it): replicas and placement are checked, the
    /// rest carried.
    fn deploy(
        &mut self,
        deploy: &Value,
        limits: &mut StackLimits,
        reservations: &mut Option<StackLimits>,
    ) {
        let key = Self::key("deploy");
        let Value::Mapping(map) = deploy else {
            self.refuse(
                key,
                "`deploy` is not a mapping".to_owned(),
                "write `deploy:` as a mapping".to_owned(),
            );
            return;
        };
        let replicas = deploy.get("replicas").and_then(Value::as_u64);
        let mode = deploy.get("mode").and_then(Value::as_str);
        let one_per_node = deploy
            .get("placement")
            .and_then(|p| p.get("max_replicas_per_node"))
            .and_then(Value::as_u64)
            == Some(1);
        for (k, value) in map {
            let Some(k) = k.as_str() else { continue };
            let sub = key.key(k);
            match k {
                "replicas" => match (replicas, one_per_node || mode == Some("global")) {
                    (Some(0 | 1), _) => self.kept(
                        sub,
                        format!("global mode on the nodes labelled `{}=true`: label one node for one task", self.label),
                    ),
                    (Some(n), true) => self.kept(
                        sub,
                        format!("global mode on the nodes labelled `{}=true`: label {n} nodes for {n} tasks, one per node", self.label),
                    ),
                    (Some(n), false) => self.refuse(
                        sub,
                        format!(
                            "{n} replicas of the host-network service `{}` could land on one node, where they would collide on its ports",
                            self.name
                        ),
                        "add `placement: {max_replicas_per_node: 1}` under `deploy` (the export then runs one task on each labelled node)".to_owned(),
                    ),
                    (None, _) => self.refuse(sub, "`deploy.replicas` is not a whole number".to_owned(), "write e.g. `replicas: 1`".to_owned()),
                },
                "mode" => match value.as_str() {
                    Some("global" | "replicated") => self.kept(
                        sub,
                        format!("global mode on the nodes labelled `{}=true` (at most one task per node)", self.label),
                    ),
                    _ => self.refuse(sub, "`deploy.mode` must be `global` or `replicated`".to_owned(), "write `mode: global`".to_owned()),
                },
                "placement" => {
                    let extra: Vec<String> = value
                        .get("constraints")
                        .and_then(Value::as_sequence)
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect();
                    let mut became = "max_replicas_per_node 1 holds by global mode".to_owned();
                    if !extra.is_empty() {
                        became = format!("constraints {} added; {became}", extra.join(", "));
                    }
                    self.out.deploy.placement.constraints.extend(extra);
                    self.kept(sub, became);
                }
                "resources" => {
                    if let Some(l) = value.get("limits") {
                        if let Some(m) = size_of(l.get("memory")) {
                            limits.memory = Some(m);
                        }
                        if let Some(c) = scalar(l.get("cpus")) {
                            limits.cpus = Some(c);
                        }
                        if let Some(p) = l.get("pids").and_then(Value::as_i64) {
                            limits.pids = Some(p);
                        }
                    }
                    if let Some(r) = value.get("reservations") {
                        *reservations = Some(StackLimits {
                            cpus: scalar(r.get("cpus")),
                            memory: size_of(r.get("memory")),
                            pids: None,
                        });
                    }
                    self.kept(sub, "deploy.resources, as written");
                }
                "restart_policy" => {
                    let condition = value.get("condition").and_then(Value::as_str).unwrap_or("any");
                    let max_attempts = value
                        .get("max_attempts")
                        .and_then(Value::as_u64)
                        .and_then(|n| u32::try_from(n).ok());
                    self.out.deploy.restart_policy = Some(StackRestartPolicy {
                        condition: condition.to_owned(),
                        max_attempts,
                    });
                    self.kept(sub, format!("deploy.restart_policy: condition {condition}"));
                }
                "labels" => {
                    for (lk, lv) in value.as_mapping().into_iter().flatten() {
                        if let (Some(lk), Some(lv)) = (lk.as_str(), scalar(Some(lv))) {
                            self.out.deploy.labels.insert(lk.to_owned(), lv);
                        }
                    }
                    self.kept(sub, "service labels, as written");
                }
                _ => self.lost(
                    sub,
                    &super::fidelity::UNHANDLED,
                    format!("`deploy.{k}` is not carried: global mode on labelled nodes decides placement and updates"),
                ),
            }
        }
    }

    fn ulimits(&mut self) {
        for (name, limit) in &self.service.ulimits {
            self.out.ulimits.insert(
                name.clone(),
                StackUlimit {
                    soft: limit.soft,
                    hard: limit.hard,
                },
            );
            let key = Self::key("ulimits").key(name.clone());
            self.kept(
                key,
                format!(
                    "ulimits.{name} soft {} hard {} (ContainerSpec.Ulimits)",
                    limit.soft, limit.hard
                ),
            );
        }
    }

    fn healthcheck(&mut self) {
        let Some(health) = &self.service.healthcheck else {
            return;
        };
        if health.disable {
            self.out.healthcheck = Some(StackHealthcheck {
                test: vec!["NONE".to_owned()],
                interval: None,
                timeout: None,
                retries: None,
                start_period: None,
            });
            self.kept(Self::key("healthcheck"), "health check disabled");
            return;
        }
        let text =
            |d: &Option<crate::compose::units::ComposeDuration>| d.map(|d| format_duration(d.0));
        self.out.healthcheck = Some(StackHealthcheck {
            test: health.test.clone().unwrap_or_default(),
            interval: text(&health.interval),
            timeout: text(&health.timeout),
            retries: health.retries,
            start_period: text(&health.start_period),
        });
        let mut became =
            "healthcheck: test, interval, timeout, retries and start_period as written".to_owned();
        if health.start_interval.is_some() {
            became.push_str("; start_interval is not in a 3.x stack file, so the probe runs at `interval` from the start");
        }
        self.kept(Self::key("healthcheck"), became);
    }

    fn sysctls(&mut self) {
        for (name, value) in &self.service.sysctls.0 {
            let key = Self::key("sysctls").key(name.clone());
            if let Some((problem, fix)) = fidelity::network_sysctl(name, value, &SWARM) {
                self.refuse(key, problem, fix);
                continue;
            }
            self.out.sysctls.insert(name.clone(), value.clone());
            self.kept(
                key,
                format!("sysctls.{name} {value} (ContainerSpec.Sysctls)"),
            );
        }
    }

    fn volumes(&mut self) {
        for (i, mount) in self.service.volumes.iter().enumerate() {
            let key = Self::key("volumes").index(i);
            match mount.kind.as_str() {
                "volume" => {
                    if let Some(source) = &mount.source {
                        self.file.volumes.entry(source.clone()).or_default();
                    }
                    self.out.volumes.push(StackMount {
                        kind: "volume".to_owned(),
                        source: mount.source.clone(),
                        target: mount.target.clone(),
                        read_only: mount.read_only,
                        tmpfs: None,
                    });
                    self.kept(
                        key,
                        format!(
                            "volume {} at {}{}: the stack's own, local to each node (a task on another node starts empty)",
                            mount.source.as_deref().unwrap_or("(anonymous)"),
                            mount.target,
                            if mount.read_only { ", read-only" } else { "" }
                        ),
                    );
                }
                "bind" => {
                    let source = mount
                        .source
                        .as_deref()
                        .map(|s| self.project.resolve(s).display().to_string());
                    self.out.volumes.push(StackMount {
                        kind: "bind".to_owned(),
                        source: source.clone(),
                        target: mount.target.clone(),
                        read_only: mount.read_only,
                        tmpfs: None,
                    });
                    self.kept(
                        key,
                        format!(
                            "bind mount of {} at {}{}; the path must exist on every node",
                            source.unwrap_or_default(),
                            mount.target,
                            if mount.read_only { ", read-only" } else { "" }
                        ),
                    );
                }
                _ => {
                    self.out.volumes.push(StackMount {
                        kind: "tmpfs".to_owned(),
                        source: None,
                        target: mount.target.clone(),
                        read_only: false,
                        tmpfs: None,
                    });
                    self.kept(key, format!("tmpfs at {}, long form", mount.target));
                }
            }
        }
    }

    /// The short `tmpfs:` form, which `docker stack deploy` drops without a
    /// word, written in the long volume form that survives.
    fn tmpfs(&mut self) {
        for (i, entry) in self.service.tmpfs.iter().enumerate() {
            let key = Self::key("tmpfs").index(i);
            let (target, options) = entry.split_once(':').unwrap_or((entry.as_str(), ""));
            let mut size = None;
            // Compose's (and `docker run --tmpfs`'s) default mode.
            let mut mode = 0o1777;
            let mut owner = Vec::new();
            let mut dropped = Vec::new();
            for option in options.split(',').filter(|o| !o.is_empty()) {
                let (k, v) = option.split_once('=').unwrap_or((option, ""));
                match k {
                    "size" => size = parse_size(v).ok(),
                    "mode" => match u32::from_str_radix(v, 8) {
                        Ok(m) => mode = m,
                        Err(_) => dropped.push(option.to_owned()),
                    },
                    "uid" | "gid" => owner.push(option.to_owned()),
                    _ => dropped.push(option.to_owned()),
                }
            }
            if !owner.is_empty() {
                // The owner cannot be set; the service's uid can still write.
                dropped.push(format!("mode={mode:o}"));
                dropped.extend(owner.iter().cloned());
                mode = 0o1777;
            }
            self.out.volumes.push(StackMount {
                kind: "tmpfs".to_owned(),
                source: None,
                target: target.to_owned(),
                read_only: false,
                tmpfs: Some(StackTmpfs { size, mode }),
            });
            let became = format!(
                "volumes: {{type: tmpfs, target: {target}, tmpfs: {{{}mode: {mode:o}}}}}",
                size.map(|s| format!("size: {s}, ")).unwrap_or_default()
            );
            if dropped.is_empty() {
                self.kept(key, became);
            } else {
                self.lost(
                    key,
                    &TMPFS_OWNER,
                    format!(
                        "became {became}, without {}: a Swarm tmpfs has no owner, so it is root's with mode 1777 (sticky, writable by every uid in the container)",
                        dropped.join(", ")
                    ),
                );
            }
        }
        if !self.service.tmpfs.is_empty() {
            self.cli_drops_tmpfs_mode = true;
        }
    }

    /// Every secret the service uses becomes a Swarm secret (created from
    /// the same file), mounted owned by the service's user, mode 0400.
    fn secrets(&mut self) {
        let (uid, gid) = match self.service.user.as_deref() {
            Some(user) => {
                let (u, g) = user.split_once(':').unwrap_or((user, user));
                (u.to_owned(), g.to_owned())
            }
            None => ("0".to_owned(), "0".to_owned()),
        };
        for (i, secret) in self.service.secrets.iter().enumerate() {
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
            let Some(file) = &declared.file else {
                self.refuse(
                    key,
                    format!(
                        "secret `{}` comes from the environment, which a stack file cannot read",
                        secret.source
                    ),
                    "give the secret a `file:`".to_owned(),
                );
                continue;
            };
            self.file.secrets.insert(
                secret.source.clone(),
                StackSecret {
                    file: self.project.resolve(file).display().to_string(),
                },
            );
            let target = secret.mount_path();
            self.out.secrets.push(StackSecretRef {
                source: secret.source.clone(),
                target: target.clone(),
                uid: uid.clone(),
                gid: gid.clone(),
                mode: 0o400,
            });
            self.kept(
                key,
                format!("Swarm secret {} at {target}, owned by {uid}:{gid}, mode 0400 (the engine's default would be root's, 0444)", secret.source),
            );
        }
    }

    fn depends_on(&mut self) {
        if self.service.depends_on.is_empty() {
            return;
        }
        let names: Vec<String> = self.service.depends_on.0.keys().cloned().collect();
        self.kept(
            Self::key("depends_on"),
            format!(
                "placed with {} on every node labelled `{}=true`; `stackctl swarm deploy` creates it only once they meet their conditions (Swarm itself has no start order: `docker stack deploy` starts all at once)",
                names.join(", "),
                self.label
            ),
        );
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
                "how stackctl builds the image; the image travels by ID",
            );
        }
        if !ext.listen.is_empty() {
            let ports: Vec<String> = ext.listen.iter().map(|l| l.addr.to_string()).collect();
            self.kept(
                key.key("listen"),
                format!("binds {} on each node it runs on; the firewall agent allows the uid its own ports", ports.join(", ")),
            );
        }
        if let Some(rules) = &ext.egress {
            let allowed: Vec<String> = rules.iter().map(ToString::to_string).collect();
            self.kept(
                key.key("egress"),
                format!(
                    "enforced on each node by `{AGENT_SERVICE}` (uid rules: {})",
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
                format!("serves the LAN at each node's addresses: {lan}"),
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

/// `restart:` as `deploy.restart_policy`.
fn restart_policy(restart: Restart) -> StackRestartPolicy {
    let (condition, max_attempts) = match restart {
        Restart::No => ("none", None),
        Restart::Always | Restart::UnlessStopped => ("any", None),
        Restart::OnFailure { max_retries } => ("on-failure", max_retries),
    };
    StackRestartPolicy {
        condition: condition.to_owned(),
        max_attempts,
    }
}

/// A stack file's memory sizes are strings (`"134217728"`).
fn bytes_as_string<S: serde::Serializer>(bytes: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
    match bytes {
        Some(bytes) => s.collect_str(bytes),
        None => s.serialize_none(),
    }
}

fn size_of(value: Option<&Value>) -> Option<u64> {
    parse_size(&scalar(value)?).ok()
}

impl StackFile {
    /// The stack file as YAML, with a header saying how to deploy it.
    pub fn to_yaml(&self, stack: &str, groups: &BTreeMap<String, Vec<String>>) -> String {
        let mut text = format!(
            "# Generated by `stackctl export swarm` from compose.yaml; deploy with\n#   docker stack deploy --resolve-image never -c FILE {stack}\n# after labelling the node(s) that run the stack:\n"
        );
        for label in groups.keys() {
            text.push_str(&format!(
                "#   docker node update --label-add {label}=true NODE\n"
            ));
        }
        text.push_str("# Every image is referenced by ID: load it on each node first (`stackctl swarm save-images`).\n");
        text.push_str(&serde_yaml_ng::to_string(self).unwrap_or_default());
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(text: &str) -> Project {
        Project::parse_for_audit(text, std::path::Path::new("c.yaml"), &|_| None).unwrap()
    }

    fn inputs(p: &Project) -> Inputs {
        Inputs {
            stack: "shop".to_owned(),
            images: p
                .model
                .services
                .keys()
                .map(|n| (n.clone(), format!("sha256:{n}")))
                .collect(),
            agent: None,
        }
    }

    fn refusal(text: &str) -> String {
        let p = project(text);
        convert(&p, &inputs(&p)).unwrap_err().to_string()
    }

    const HOST: &str = "services:\n  a:\n    image: x\n    network_mode: host\n";

    #[test]
    fn ports_on_the_host_network_are_refused_with_line_and_fix() {
        let err = refusal(&format!("{HOST}    ports: [\"3000:3000\"]\n"));
        assert!(err.contains("c.yaml:5"), "{err}");
        assert!(err.contains("publishes ports"), "{err}");
        assert!(err.contains("remove `ports`"), "{err}");
    }

    #[test]
    fn network_sysctls_are_refused_and_others_kept() {
        let err = refusal(&format!(
            "{HOST}    sysctls:\n      net.core.somaxconn: \"1024\"\n"
        ));
        assert!(err.contains("c.yaml:6"), "{err}");
        assert!(err.contains("network sysctl"), "{err}");
        assert!(err.contains("sysctl -w net.core.somaxconn=1024"), "{err}");
        let p = project(&format!(
            "{HOST}    sysctls:\n      kernel.msgmax: \"65536\"\n"
        ));
        let c = convert(&p, &inputs(&p)).unwrap();
        assert_eq!(c.file.services["a"].sysctls["kernel.msgmax"], "65536");
    }

    #[test]
    fn two_replicas_need_a_rule_that_keeps_them_apart() {
        let err = refusal(&format!("{HOST}    deploy:\n      replicas: 2\n"));
        assert!(err.contains("c.yaml:6"), "{err}");
        assert!(err.contains("collide on its ports"), "{err}");
        assert!(err.contains("max_replicas_per_node: 1"), "{err}");
        let p = project(&format!(
            "{HOST}    deploy:\n      replicas: 2\n      placement:\n        max_replicas_per_node: 1\n"
        ));
        let c = convert(&p, &inputs(&p)).unwrap();
        assert_eq!(c.file.services["a"].deploy.mode, "global");
    }

    #[test]
    fn a_service_off_the_host_network_is_refused() {
        let err = refusal("services:\n  a:\n    image: x\n");
        assert!(err.contains("not on the host network"), "{err}");
    }

    #[test]
    fn our_compose_file_keeps_its_hardening_and_reports_what_it_loses() {
        let file = crate::testbed::stack_compose_file();
        let p = Project::load_for_audit(&file).unwrap();
        let c = convert(&p, &inputs(&p)).unwrap();
        let db = &c.file.services["db"];
        assert_eq!(db.networks, ["host"]);
        assert_eq!(db.user.as_deref(), Some("10001:10001"));
        assert!(db.read_only);
        assert_eq!(db.cap_drop, ["ALL"]);
        let limits = db
            .deploy
            .resources
            .as_ref()
            .unwrap()
            .limits
            .as_ref()
            .unwrap();
        assert_eq!(limits.memory, Some(512 << 20));
        assert_eq!(limits.cpus.as_deref(), Some("1"));
        assert_eq!(limits.pids, Some(256));
        assert_eq!(
            db.deploy.restart_policy,
            Some(StackRestartPolicy {
                condition: "on-failure".to_owned(),
                max_attempts: Some(5)
            })
        );
        let tmpfs: Vec<&StackMount> = db.volumes.iter().filter(|m| m.kind == "tmpfs").collect();
        assert_eq!(
            tmpfs.len(),
            2,
            "both short-form tmpfs mounts survive as long volumes"
        );
        assert_eq!(
            tmpfs[0].tmpfs,
            Some(StackTmpfs {
                size: Some(16 << 20),
                mode: 0o1777
            })
        );
        let secret = &db.secrets[0];
        assert_eq!(
            (secret.uid.as_str(), secret.gid.as_str(), secret.mode),
            ("10001", "10001", 0o400)
        );
        assert_eq!(
            db.ulimits["nofile"],
            StackUlimit {
                soft: 16384,
                hard: 16384
            }
        );
        // One co-location group: the gateway and the terminal reach the API,
        // the API the database, all over loopback.
        assert_eq!(c.groups.len(), 1, "{:?}", c.groups);
        let label = c.groups.keys().next().unwrap();
        for service in c.file.services.values() {
            assert_eq!(service.deploy.mode, "global");
            assert_eq!(
                service.deploy.placement.constraints,
                [format!("node.labels.{label} == true")]
            );
        }
        let lost: Vec<(&str, &str)> = c
            .report
            .entries
            .iter()
            .filter_map(|e| match &e.outcome {
                super::super::fidelity::Outcome::Lost { loss, .. } => Some((e.key.as_str(), *loss)),
                _ => None,
            })
            .collect();
        assert!(
            lost.contains(&("services.api.security_opt[0]", "swarm:no-new-privileges")),
            "{lost:?}"
        );
        assert!(
            lost.contains(&("services.db.tmpfs[0]", "swarm:tmpfs-owner")),
            "{lost:?}"
        );
        assert!(
            !lost
                .iter()
                .any(|(k, _)| k.starts_with("services.db.tmpfs[1]")),
            "/tmp's mode 1777 is the engine's default: {lost:?}"
        );
        let yaml = c.file.to_yaml("shop", &c.groups);
        assert!(yaml.contains("external: true"), "{yaml}");
        assert!(!yaml.contains("ports"), "{yaml}");
    }
}
