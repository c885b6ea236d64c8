//! The typed Compose model: the subset of the Compose Specification that this
//! stack and its users need, with every short form normalized to its long form
//! as it is read, so the rest of stackctl sees one shape per key.
//!
//! Unknown keys are not rejected by serde: each struct collects them in
//! `extensions`, and validation then accepts `x-*` keys and reports the rest
//! with the file, the line and a suggestion (serde's own message has no line
//! once merge keys are applied).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_yaml_ng::Value;

use super::units::{ByteSize, ComposeDuration};

/// Keys that are not part of the model: `x-*` extensions, and anything else,
/// which validation reports as unknown.
pub type Extensions = BTreeMap<String, Value>;

fn is_false(value: &bool) -> bool {
    !*value
}

fn is_true(value: &bool) -> bool {
    *value
}

fn yes() -> bool {
    true
}

/// A whole Compose file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    expecting = "a mapping with `services` and optional `name`, `volumes`, `networks`, `secrets`"
)]
pub struct ComposeFile {
    /// The project name; containers are called `NAME-SERVICE-1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Obsolete in the Compose Specification; accepted and ignored.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "optional_scalar"
    )]
    pub version: Option<String>,
    #[serde(default)]
    pub services: BTreeMap<String, Service>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub volumes: BTreeMap<String, TopVolume>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub networks: BTreeMap<String, TopNetwork>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub secrets: BTreeMap<String, TopSecret>,
    #[serde(flatten)]
    pub extensions: Extensions,
}

/// One service.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(
    default,
    expecting = "a mapping of service keys such as `image`, `build`, `network_mode`"
)]
pub struct Service {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build: Option<Build>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<CommandLine>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<CommandLine>,
    #[serde(skip_serializing_if = "Environment::is_empty")]
    pub environment: Environment,
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "one_or_many"
    )]
    pub env_file: Vec<EnvFile>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_mode: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub networks: Option<ServiceNetworks>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<Port>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<VolumeMount>,
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "one_or_many"
    )]
    pub tmpfs: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cap_add: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cap_drop: Vec<String>,
    #[serde(skip_serializing_if = "is_false")]
    pub read_only: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub security_opt: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pids_limit: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mem_limit: Option<ByteSize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpus: Option<Cpus>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub ulimits: BTreeMap<String, Ulimit>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<Healthcheck>,
    #[serde(skip_serializing_if = "DependsOn::is_empty")]
    pub depends_on: DependsOn,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart: Option<Restart>,
    #[serde(skip_serializing_if = "Labels::is_empty")]
    pub labels: Labels,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logging: Option<Logging>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<ServiceSecret>,
    /// How long `down` waits after SIGTERM before it kills the container.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_grace_period: Option<ComposeDuration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    // The keys below weaken isolation. They are read so that `stackctl audit`
    // can judge any Compose file; `up` refuses a file that sets them (see
    // validation), since it does not apply them.
    #[serde(skip_serializing_if = "is_false")]
    pub privileged: bool,
    /// `pid: host` shares the host's process namespace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipc: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uts: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub userns_mode: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cgroup_parent: Option<String>,
    /// Host devices, as `HOST[:CONTAINER[:PERMISSIONS]]`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<Device>,
    #[serde(skip_serializing_if = "Labels::is_empty")]
    pub sysctls: Labels,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_shares: Option<i64>,
    #[serde(flatten)]
    pub extensions: Extensions,
}

/// One `devices:` entry, written in its short form `HOST:CONTAINER:PERMISSIONS`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "DeviceRepr")]
pub struct Device(pub String);

#[derive(Deserialize)]
#[serde(
    untagged,
    expecting = "a device such as `/dev/ttyUSB0:/dev/ttyUSB0:rwm`, or a mapping with `source`, `target`, `permissions`"
)]
enum DeviceRepr {
    Short(String),
    Long {
        source: String,
        #[serde(default)]
        target: Option<String>,
        #[serde(default)]
        permissions: Option<String>,
    },
}

impl From<DeviceRepr> for Device {
    fn from(repr: DeviceRepr) -> Self {
        match repr {
            DeviceRepr::Short(text) => Device(text),
            DeviceRepr::Long {
                source,
                target,
                permissions,
            } => {
                let target = target.unwrap_or_else(|| source.clone());
                Device(match permissions {
                    Some(p) => format!("{source}:{target}:{p}"),
                    None => format!("{source}:{target}"),
                })
            }
        }
    }
}

/// `build:`; the short form (a context path) becomes `{context: PATH}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(from = "BuildRepr")]
pub struct Build {
    pub context: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dockerfile: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub args: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(flatten)]
    pub extensions: Extensions,
}

#[derive(Deserialize)]
#[serde(
    untagged,
    expecting = "a build context path, or a mapping with `context` and optional `dockerfile`, `args`, `target`"
)]
enum BuildRepr {
    Context(String),
    Long {
        context: String,
        #[serde(default)]
        dockerfile: Option<String>,
        #[serde(default)]
        args: KeyValues,
        #[serde(default)]
        target: Option<String>,
        #[serde(flatten)]
        extensions: Extensions,
    },
}

impl From<BuildRepr> for Build {
    fn from(repr: BuildRepr) -> Self {
        match repr {
            BuildRepr::Context(context) => Build {
                context,
                ..Build::default()
            },
            BuildRepr::Long {
                context,
                dockerfile,
                args,
                target,
                extensions,
            } => Build {
                context,
                dockerfile,
                args: args.into_strings(),
                target,
                extensions,
            },
        }
    }
}

/// `command:` and `entrypoint:`; a string is split like a shell would.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "StringOrList")]
pub struct CommandLine(pub Vec<String>);

impl TryFrom<StringOrList> for CommandLine {
    type Error = String;
    fn try_from(value: StringOrList) -> Result<Self, String> {
        match value {
            StringOrList::One(line) => shell_words::split(&line)
                .map(CommandLine)
                .map_err(|e| format!("cannot split `{line}` into words ({e}); write it as a list")),
            StringOrList::Many(words) => Ok(CommandLine(words)),
        }
    }
}

#[derive(Deserialize)]
#[serde(untagged, expecting = "a string or a list of strings")]
pub(crate) enum StringOrList {
    One(String),
    Many(Vec<String>),
}

/// Accepts one item or a list of them (`tmpfs`, `env_file`).
fn one_or_many<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged, expecting = "one item or a list of items")]
    enum OneOrMany<T> {
        Many(Vec<T>),
        One(T),
    }
    Ok(match OneOrMany::deserialize(deserializer)? {
        OneOrMany::Many(items) => items,
        OneOrMany::One(item) => vec![item],
    })
}

/// A scalar written where Compose expects a string (`"8"`, `8`, `true`).
#[derive(Deserialize)]
#[serde(untagged, expecting = "a string, number or boolean")]
enum Scalar {
    String(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

fn optional_scalar<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<Scalar>::deserialize(d)?.map(Scalar::into_string))
}

impl Scalar {
    fn into_string(self) -> String {
        match self {
            Scalar::String(s) => s,
            Scalar::Int(i) => i.to_string(),
            Scalar::Float(f) => f.to_string(),
            Scalar::Bool(b) => b.to_string(),
        }
    }
}

/// `KEY=VALUE` lists or mappings, as `environment`, `labels` and `args` take.
#[derive(Default, Deserialize)]
#[serde(
    untagged,
    expecting = "a mapping of names to values, or a list of `NAME=VALUE` strings"
)]
enum KeyValues {
    #[default]
    Empty,
    Map(BTreeMap<String, Option<Scalar>>),
    List(Vec<String>),
}

impl KeyValues {
    /// Entries with `None` for a name given without a value (`- DEBUG`).
    fn into_entries(self) -> BTreeMap<String, Option<String>> {
        match self {
            KeyValues::Empty => BTreeMap::new(),
            KeyValues::Map(map) => map
                .into_iter()
                .map(|(k, v)| (k, v.map(Scalar::into_string)))
                .collect(),
            KeyValues::List(items) => items
                .into_iter()
                .map(|item| match item.split_once('=') {
                    Some((k, v)) => (k.to_owned(), Some(v.to_owned())),
                    None => (item, None),
                })
                .collect(),
        }
    }

    fn into_strings(self) -> BTreeMap<String, String> {
        self.into_entries()
            .into_iter()
            .map(|(k, v)| (k, v.unwrap_or_default()))
            .collect()
    }
}

/// `environment:`; a name without a value takes the value from stackctl's own
/// environment when the container is created.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(from = "KeyValues")]
pub struct Environment(pub BTreeMap<String, Option<String>>);

impl Environment {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<KeyValues> for Environment {
    fn from(kv: KeyValues) -> Self {
        Environment(kv.into_entries())
    }
}

/// `labels:`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(from = "KeyValues")]
pub struct Labels(pub BTreeMap<String, String>);

impl Labels {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<KeyValues> for Labels {
    fn from(kv: KeyValues) -> Self {
        Labels(kv.into_strings())
    }
}

/// One `env_file:` entry; a plain path is required to exist.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "EnvFileRepr")]
pub struct EnvFile {
    pub path: String,
    #[serde(skip_serializing_if = "is_true")]
    pub required: bool,
}

#[derive(Deserialize)]
#[serde(
    untagged,
    expecting = "a path, or a mapping with `path` and optional `required`"
)]
enum EnvFileRepr {
    Path(String),
    Long {
        path: String,
        #[serde(default = "yes")]
        required: bool,
    },
}

impl From<EnvFileRepr> for EnvFile {
    fn from(repr: EnvFileRepr) -> Self {
        match repr {
            EnvFileRepr::Path(path) => EnvFile {
                path,
                required: true,
            },
            EnvFileRepr::Long { path, required } => EnvFile { path, required },
        }
    }
}

/// A service's `networks:` (list or mapping); only the names matter here,
/// because they conflict with `network_mode`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    untagged,
    expecting = "a list of network names or a mapping of network names"
)]
pub enum ServiceNetworks {
    List(Vec<String>),
    Map(BTreeMap<String, Option<Value>>),
}

/// `cpus:` as a number or a numeric string.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "Scalar")]
pub struct Cpus(pub f64);

impl TryFrom<Scalar> for Cpus {
    type Error = String;
    fn try_from(value: Scalar) -> Result<Self, String> {
        let text = value.into_string();
        text.parse::<f64>()
            .ok()
            .filter(|cpus| cpus.is_finite() && *cpus > 0.0)
            .map(Cpus)
            .ok_or_else(|| {
                format!("`{text}` is not a CPU count; write a positive number such as `0.5` or `2`")
            })
    }
}

/// One `ulimits:` entry; a single number sets both limits.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(from = "UlimitRepr")]
pub struct Ulimit {
    pub soft: i64,
    pub hard: i64,
}

#[derive(Deserialize)]
#[serde(untagged, expecting = "a number, or a mapping with `soft` and `hard`")]
enum UlimitRepr {
    Both(i64),
    Pair { soft: i64, hard: i64 },
}

impl From<UlimitRepr> for Ulimit {
    fn from(repr: UlimitRepr) -> Self {
        match repr {
            UlimitRepr::Both(n) => Ulimit { soft: n, hard: n },
            UlimitRepr::Pair { soft, hard } => Ulimit { soft, hard },
        }
    }
}

/// `healthcheck:`; a string `test` becomes `["CMD-SHELL", test]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(
    default,
    expecting = "a mapping with `test`, `interval`, `timeout`, `retries`, `start_period`"
)]
pub struct Healthcheck {
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "health_test"
    )]
    pub test: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<ComposeDuration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<ComposeDuration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retries: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_period: Option<ComposeDuration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_interval: Option<ComposeDuration>,
    #[serde(skip_serializing_if = "is_false")]
    pub disable: bool,
    #[serde(flatten)]
    pub extensions: Extensions,
}

fn health_test<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    Ok(Some(match StringOrList::deserialize(d)? {
        StringOrList::One(line) => vec!["CMD-SHELL".to_owned(), line],
        StringOrList::Many(words) => words,
    }))
}

/// `depends_on:`; the list form means `condition: service_started`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DependsOn(pub BTreeMap<String, Dependency>);

impl DependsOn {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'de> Deserialize<'de> for DependsOn {
    /// The list or the mapping form, by a visitor rather than an untagged
    /// enum, so that an error inside an entry (an unknown condition) is
    /// reported at its own key and line, not as "neither form".
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Forms;
        impl<'de> serde::de::Visitor<'de> for Forms {
            type Value = DependsOn;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(
                    "a list of service names, or a mapping of service names to `{condition: ...}`",
                )
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<DependsOn, E> {
                Ok(DependsOn::default())
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<DependsOn, A::Error> {
                let mut map = BTreeMap::new();
                while let Some(name) = seq.next_element::<String>()? {
                    map.insert(name, Dependency::default());
                }
                Ok(DependsOn(map))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut entries: A,
            ) -> Result<DependsOn, A::Error> {
                let mut map = BTreeMap::new();
                while let Some((name, dependency)) = entries.next_entry::<String, Dependency>()? {
                    map.insert(name, dependency);
                }
                Ok(DependsOn(map))
            }
        }
        d.deserialize_any(Forms)
    }
}

/// The long form of one `depends_on` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dependency {
    #[serde(default)]
    pub condition: Condition,
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub required: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub restart: bool,
    #[serde(flatten)]
    pub extensions: Extensions,
}

impl Default for Dependency {
    fn default() -> Self {
        Dependency {
            condition: Condition::default(),
            required: true,
            restart: false,
            extensions: Extensions::new(),
        }
    }
}

/// What a dependency must reach before its dependent starts. Read from
/// Compose's words; any other word is an error at its line, never a default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Condition {
    /// `service_started`: the container runs (the list form's meaning).
    #[default]
    Started,
    /// `service_healthy`: its health check passes.
    Healthy,
    /// `service_completed_successfully`: it ran to the end with status 0.
    CompletedSuccessfully,
}

impl Condition {
    /// Every condition, in Compose's order.
    pub const ALL: [Condition; 3] = [
        Condition::Started,
        Condition::Healthy,
        Condition::CompletedSuccessfully,
    ];

    /// The word `compose.yaml` writes.
    pub fn as_compose(self) -> &'static str {
        match self {
            Condition::Started => "service_started",
            Condition::Healthy => "service_healthy",
            Condition::CompletedSuccessfully => "service_completed_successfully",
        }
    }
}

/// How messages name the state a dependency waits for ("db is healthy").
impl std::fmt::Display for Condition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Condition::Started => "started",
            Condition::Healthy => "healthy",
            Condition::CompletedSuccessfully => "completed successfully",
        })
    }
}

impl std::str::FromStr for Condition {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        Condition::ALL
            .into_iter()
            .find(|c| c.as_compose() == text)
            .ok_or_else(|| {
                let words: Vec<&str> = Condition::ALL.iter().map(|c| c.as_compose()).collect();
                format!(
                    "`{text}` is not a dependency condition; use one of: {}",
                    words.join(", ")
                )
            })
    }
}

impl Serialize for Condition {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_compose())
    }
}

impl<'de> Deserialize<'de> for Condition {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// `restart:`, checked on reading: `no`, `always`, `unless-stopped`,
/// `on-failure` or `on-failure:N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Restart {
    No,
    Always,
    UnlessStopped,
    OnFailure { max_retries: Option<u32> },
}

impl std::str::FromStr for Restart {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        Ok(match text {
            "no" | "false" => Restart::No,
            "always" => Restart::Always,
            "unless-stopped" => Restart::UnlessStopped,
            "on-failure" => Restart::OnFailure { max_retries: None },
            other => match other.strip_prefix("on-failure:").map(str::parse) {
                Some(Ok(n)) => Restart::OnFailure {
                    max_retries: Some(n),
                },
                _ => {
                    return Err(format!(
                        "`{text}` is not a restart policy; use `no`, `always`, `unless-stopped`, `on-failure` or `on-failure:N`"
                    ));
                }
            },
        })
    }
}

impl std::fmt::Display for Restart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Restart::No => f.write_str("no"),
            Restart::Always => f.write_str("always"),
            Restart::UnlessStopped => f.write_str("unless-stopped"),
            Restart::OnFailure { max_retries: None } => f.write_str("on-failure"),
            Restart::OnFailure {
                max_retries: Some(n),
            } => write!(f, "on-failure:{n}"),
        }
    }
}

impl Serialize for Restart {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Restart {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // YAML 1.1 readers turn a bare `no` into `false`; accept both spellings.
        #[derive(Deserialize)]
        #[serde(untagged, expecting = "a restart policy such as `on-failure:5`")]
        enum Repr {
            Text(String),
            Bool(bool),
        }
        match Repr::deserialize(d)? {
            Repr::Text(text) => text.parse().map_err(serde::de::Error::custom),
            Repr::Bool(false) => Ok(Restart::No),
            Repr::Bool(true) => Err(serde::de::Error::custom(
                "`true` is not a restart policy; use `no`, `always`, `unless-stopped`, `on-failure` or `on-failure:N`",
            )),
        }
    }
}

/// `logging:`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, expecting = "a mapping with `driver` and `options`")]
pub struct Logging {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    #[serde(
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "string_map"
    )]
    pub options: BTreeMap<String, String>,
    #[serde(flatten)]
    pub extensions: Extensions,
}

fn string_map<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    Ok(KeyValues::deserialize(d)?.into_strings())
}

/// One `ports:` entry in its long form; the short form
/// `[HOST_IP:][PUBLISHED:]TARGET[/PROTOCOL]` is parsed into it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "PortRepr")]
pub struct Port {
    pub target: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub published: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_ip: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    #[serde(flatten)]
    pub extensions: Extensions,
}

#[derive(Deserialize)]
#[serde(
    untagged,
    expecting = "a port such as `8080:80` or `127.0.0.1:8080:80/tcp`, or a mapping with `target` and `published`"
)]
enum PortRepr {
    Number(u16),
    Short(String),
    Long {
        target: u16,
        #[serde(default)]
        published: Option<Scalar>,
        #[serde(default)]
        host_ip: Option<String>,
        #[serde(default)]
        protocol: Option<String>,
        #[serde(default)]
        mode: Option<String>,
        #[serde(flatten)]
        extensions: Extensions,
    },
}

impl TryFrom<PortRepr> for Port {
    type Error = String;
    fn try_from(repr: PortRepr) -> Result<Self, String> {
        match repr {
            PortRepr::Number(target) => Ok(Port {
                target: nonzero_target(target)?,
                ..Port::default()
            }),
            PortRepr::Short(text) => parse_short_port(&text),
            PortRepr::Long {
                target,
                published,
                host_ip,
                protocol,
                mode,
                extensions,
            } => Ok(Port {
                target: nonzero_target(target)?,
                published: published.map(Scalar::into_string),
                host_ip,
                protocol,
                mode,
                extensions,
            }),
        }
    }
}

/// What a container port may be; the kernel gives port 0 to nobody.
const TARGET_RANGE: &str = "the container port must be a number from 1 to 65535";

/// A container port of the number or long form, refusing 0.
fn nonzero_target(target: u16) -> Result<u16, String> {
    if target == 0 {
        return Err(format!("`0` is not a port: {TARGET_RANGE}"));
    }
    Ok(target)
}

fn parse_short_port(text: &str) -> Result<Port, String> {
    let bad = |why: &str| {
        format!(
            "`{text}` is not a port mapping ({why}); write e.g. `8080:80` or `127.0.0.1:8080:80/tcp`"
        )
    };
    let (spec, protocol) = match text.rsplit_once('/') {
        Some((spec, proto)) => (spec, Some(proto.to_owned())),
        None => (text, None),
    };
    // An IPv6 host address is written in brackets: `[::1]:8080:80`.
    let (host_ip, rest) = match spec.strip_prefix('[') {
        Some(after) => {
            let (ip, rest) = after.split_once("]:").ok_or_else(|| bad("unclosed `[`"))?;
            (Some(ip.to_owned()), rest)
        }
        None => (None, spec),
    };
    let parts: Vec<&str> = rest.split(':').collect();
    let (host_ip, published, target) = match (host_ip, parts.as_slice()) {
        (None, [target]) => (None, None, *target),
        (None, [published, target]) => (None, Some(*published), *target),
        (None, [ip, published, target]) => (Some((*ip).to_owned()), Some(*published), *target),
        (Some(ip), [published, target]) => (Some(ip), Some(*published), *target),
        _ => return Err(bad("too many `:`")),
    };
    let target = target
        .parse::<std::num::NonZeroU16>()
        .map_err(|_| bad(TARGET_RANGE))?
        .get();
    Ok(Port {
        target,
        published: published.filter(|p| !p.is_empty()).map(str::to_owned),
        host_ip,
        protocol,
        mode: None,
        extensions: Extensions::new(),
    })
}

/// One `volumes:` entry of a service in its long form; the short form
/// `SOURCE:TARGET[:MODE]` is parsed into it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "VolumeRepr")]
pub struct VolumeMount {
    /// `volume`, `bind` or `tmpfs`.
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    pub target: String,
    #[serde(skip_serializing_if = "is_false")]
    pub read_only: bool,
    /// The bind propagation (`shared`, `rslave`, ...), from the short form's
    /// mode or the long form's `bind.propagation`; `None` is the engine's
    /// default (`rprivate`). Read for the audit; `up` does not apply it.
    #[serde(skip)]
    pub propagation: Option<String>,
    #[serde(flatten)]
    pub extensions: Extensions,
}

/// The propagation modes a bind mount can take.
const PROPAGATIONS: &[&str] = &[
    "shared", "rshared", "slave", "rslave", "private", "rprivate",
];

#[derive(Deserialize)]
#[serde(
    untagged,
    expecting = "a volume such as `data:/var/lib/data` or `./conf:/etc/app:ro`, or a mapping with `type`, `source`, `target`"
)]
enum VolumeRepr {
    Short(String),
    Long {
        #[serde(rename = "type")]
        kind: String,
        #[serde(default)]
        source: Option<String>,
        target: String,
        #[serde(default)]
        read_only: bool,
        #[serde(flatten)]
        extensions: Extensions,
    },
}

impl TryFrom<VolumeRepr> for VolumeMount {
    type Error = String;
    fn try_from(repr: VolumeRepr) -> Result<Self, String> {
        match repr {
            VolumeRepr::Short(text) => parse_short_volume(&text),
            VolumeRepr::Long {
                kind,
                source,
                target,
                read_only,
                extensions,
            } => Ok(VolumeMount {
                propagation: extensions
                    .get("bind")
                    .and_then(|bind| bind.get("propagation"))
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                kind,
                source,
                target,
                read_only,
                extensions,
            }),
        }
    }
}

fn parse_short_volume(text: &str) -> Result<VolumeMount, String> {
    let parts: Vec<&str> = text.split(':').collect();
    let (source, target, mode) = match parts.as_slice() {
        [target] => (None, *target, None),
        [source, target] => (Some(*source), *target, None),
        [source, target, mode] => (Some(*source), *target, Some(*mode)),
        _ => {
            return Err(format!(
                "`{text}` is not a volume; write `SOURCE:TARGET` or `SOURCE:TARGET:ro`"
            ));
        }
    };
    let flags: Vec<&str> = mode.map(|m| m.split(',').collect()).unwrap_or_default();
    if let Some(bad) = flags.iter().find(|f| {
        !matches!(
            **f,
            "ro" | "rw" | "z" | "Z" | "cached" | "delegated" | "consistent"
        ) && !PROPAGATIONS.contains(f)
    }) {
        return Err(format!(
            "`{bad}` in `{text}` is not a volume mode; use `ro` or `rw`"
        ));
    }
    let read_only = flags.contains(&"ro");
    let propagation = flags
        .iter()
        .find(|f| PROPAGATIONS.contains(f))
        .map(|f| (*f).to_owned());
    let kind = match source {
        None => "volume",
        Some(s) if s.starts_with(['.', '/', '~']) => "bind",
        Some(_) => "volume",
    };
    Ok(VolumeMount {
        kind: kind.to_owned(),
        source: source.map(str::to_owned),
        target: target.to_owned(),
        read_only,
        propagation,
        extensions: Extensions::new(),
    })
}

/// One service `secrets:` entry; the short form names the secret and mounts it
/// at `/run/secrets/NAME`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "ServiceSecretRepr")]
pub struct ServiceSecret {
    pub source: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(flatten)]
    pub extensions: Extensions,
}

impl ServiceSecret {
    /// Where the secret appears inside the container.
    pub fn mount_path(&self) -> String {
        match &self.target {
            Some(t) if t.starts_with('/') => t.clone(),
            Some(t) => format!("/run/secrets/{t}"),
            None => format!("/run/secrets/{}", self.source),
        }
    }
}

#[derive(Deserialize)]
#[serde(
    untagged,
    expecting = "a secret name, or a mapping with `source` and optional `target`"
)]
enum ServiceSecretRepr {
    Name(String),
    Long {
        source: String,
        #[serde(default)]
        target: Option<String>,
        #[serde(flatten)]
        extensions: Extensions,
    },
}

impl From<ServiceSecretRepr> for ServiceSecret {
    fn from(repr: ServiceSecretRepr) -> Self {
        match repr {
            ServiceSecretRepr::Name(source) => ServiceSecret {
                source,
                target: None,
                extensions: Extensions::new(),
            },
            ServiceSecretRepr::Long {
                source,
                target,
                extensions,
            } => ServiceSecret {
                source,
                target,
                extensions,
            },
        }
    }
}

/// A top-level `volumes:` entry; `NAME:` with no value is the default.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(from = "Option<TopVolumeLong>")]
pub struct TopVolume {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub driver_opts: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "is_false")]
    pub external: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Labels::is_empty")]
    pub labels: Labels,
    #[serde(flatten)]
    pub extensions: Extensions,
}

#[derive(Default, Deserialize)]
#[serde(
    default,
    expecting = "nothing, or a mapping with `driver`, `driver_opts`, `external`, `name`, `labels`"
)]
struct TopVolumeLong {
    driver: Option<String>,
    #[serde(deserialize_with = "string_map")]
    driver_opts: BTreeMap<String, String>,
    external: bool,
    name: Option<String>,
    labels: Labels,
    #[serde(flatten)]
    extensions: Extensions,
}

impl From<Option<TopVolumeLong>> for TopVolume {
    fn from(long: Option<TopVolumeLong>) -> Self {
        let long = long.unwrap_or_default();
        TopVolume {
            driver: long.driver,
            driver_opts: long.driver_opts,
            external: long.external,
            name: long.name,
            labels: long.labels,
            extensions: long.extensions,
        }
    }
}

/// A top-level `networks:` entry. stackctl runs everything on the host
/// network; networks are modelled so that files using them validate.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(from = "Option<TopNetworkLong>")]
pub struct TopNetwork {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    #[serde(skip_serializing_if = "is_false")]
    pub external: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub internal: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(flatten)]
    pub extensions: Extensions,
}

#[derive(Default, Deserialize)]
#[serde(
    default,
    expecting = "nothing, or a mapping with `driver`, `external`, `internal`, `name`"
)]
struct TopNetworkLong {
    driver: Option<String>,
    external: bool,
    internal: bool,
    name: Option<String>,
    #[serde(flatten)]
    extensions: Extensions,
}

impl From<Option<TopNetworkLong>> for TopNetwork {
    fn from(long: Option<TopNetworkLong>) -> Self {
        let long = long.unwrap_or_default();
        TopNetwork {
            driver: long.driver,
            external: long.external,
            internal: long.internal,
            name: long.name,
            extensions: long.extensions,
        }
    }
}

/// A top-level `secrets:` entry: a file on the host (mounted read-only into
/// the services that name it) or an environment variable of stackctl's.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, expecting = "a mapping with `file` or `environment`")]
pub struct TopSecret {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    #[serde(flatten)]
    pub extensions: Extensions,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_ports_parse_into_the_long_form() {
        let p = parse_short_port("127.0.0.1:8080:80/tcp").unwrap();
        assert_eq!(
            (
                p.host_ip.as_deref(),
                p.published.as_deref(),
                p.target,
                p.protocol.as_deref()
            ),
            (Some("127.0.0.1"), Some("8080"), 80, Some("tcp"))
        );
        let p = parse_short_port("[::1]:8080:80").unwrap();
        assert_eq!((p.host_ip.as_deref(), p.target), (Some("::1"), 80));
        assert_eq!(parse_short_port("3000").unwrap().target, 3000);
        assert!(parse_short_port("a:b:c:d").is_err());
        assert!(parse_short_port("8080:http").is_err());
    }

    #[test]
    fn port_zero_is_refused_in_every_form_as_its_message_says() {
        for text in ["0", "8080:0", "127.0.0.1:8080:0/tcp"] {
            let err = parse_short_port(text).unwrap_err();
            assert!(err.contains("from 1 to 65535"), "{text}: {err}");
        }
        let err = Port::try_from(PortRepr::Number(0)).unwrap_err();
        assert!(err.contains("from 1 to 65535"), "{err}");
    }

    #[test]
    fn short_volumes_tell_binds_from_named_volumes() {
        let v = parse_short_volume("db-data:/var/lib/mysql").unwrap();
        assert_eq!((v.kind.as_str(), v.read_only), ("volume", false));
        let v = parse_short_volume("./conf:/etc/app:ro").unwrap();
        assert_eq!((v.kind.as_str(), v.read_only), ("bind", true));
        assert!(parse_short_volume("a:b:sideways").is_err());
    }

    #[test]
    fn restart_policies_round_trip_through_text() {
        for text in [
            "no",
            "always",
            "unless-stopped",
            "on-failure",
            "on-failure:5",
        ] {
            assert_eq!(text.parse::<Restart>().unwrap().to_string(), text);
        }
        assert!("sometimes".parse::<Restart>().is_err());
        assert!("on-failure:many".parse::<Restart>().is_err());
    }
}
