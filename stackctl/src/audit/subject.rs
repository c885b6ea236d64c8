//! The facts the checks judge, one [`Subject`] per service, in one shape
//! whether they come from the Compose file (static) or from the engine and
//! the kernel (live). Each fact remembers the Compose key it is written
//! under, so a finding can point at the line.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use crate::compose::extension::{Carried, EgressRule, Endpoint};
use crate::compose::model::Restart;
use crate::compose::positions::KeyPath;
use crate::compose::{Project, Service};

/// A mount of the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountFact {
    /// `bind`, `volume` or `tmpfs`.
    pub kind: String,
    /// The host path of a bind mount, the volume name of a volume.
    pub source: Option<String>,
    pub target: String,
    pub read_only: bool,
    /// `shared`, `rshared`, ... as configured (`None`: the default).
    pub propagation: Option<String>,
    pub key: KeyPath,
}

/// Something reachable on a host address: a socket of a host-network
/// service, or a published port of a bridged one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exposure {
    /// The host address it is bound to (`0.0.0.0` or `::` for all).
    pub ip: IpAddr,
    /// The host port; `None` for a published port the engine picks.
    pub host_port: Option<u16>,
    /// The port the service itself listens on.
    pub port: u16,
    /// The protocol, when declared (`x-stackctl.listen`'s scheme).
    pub scheme: Option<String>,
    /// True for a published port (`ports:`), false for a host-network bind.
    pub published: bool,
    /// Set when nothing declares the socket and it is guessed (from the
    /// image or `expose`): says where the guess comes from.
    pub inferred: Option<String>,
    pub key: KeyPath,
}

impl Exposure {
    /// Reachable from other hosts (not loopback only).
    pub fn beyond_loopback(&self) -> bool {
        !self.ip.is_loopback()
    }

    pub fn on_every_interface(&self) -> bool {
        self.ip.is_unspecified()
    }

    /// `0.0.0.0:3000`, `[::1]:8888`, `0.0.0.0:random->80`, and for a guess
    /// `0.0.0.0:3306 (inferred: ...)`.
    pub fn describe(&self) -> String {
        let ip = match self.ip {
            IpAddr::V6(ip) => format!("[{ip}]"),
            ip => ip.to_string(),
        };
        let address = match (self.published, self.host_port) {
            (true, Some(host)) => format!("{ip}:{host}->{}", self.port),
            (true, None) => format!("{ip}:(any)->{}", self.port),
            (false, _) => format!("{ip}:{}", self.port),
        };
        match &self.inferred {
            Some(from) => format!("{address} (inferred: {from})"),
            None => address,
        }
    }
}

/// The health check the container runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// Nothing declared anywhere we can see.
    Unknown,
    /// Declared and disabled (`disable: true`, `NONE`).
    Disabled,
    Test(Vec<String>),
}

/// Everything the checks need to know about one service.
#[derive(Debug, Clone, PartialEq)]
pub struct Subject {
    pub service: String,
    /// The image reference (`name:tag`, `name@sha256:...`, or an image ID).
    pub image: Option<String>,
    /// Built locally by stackctl, whose lock file pins the image ID.
    pub built_locally: bool,
    pub privileged: bool,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub security_opt: Vec<String>,
    pub read_only: bool,
    /// The user the processes run as (`None`: the image's default, root
    /// unless the image says otherwise and we could not tell).
    pub user: Option<String>,
    /// Where `user` was found: `user` (Compose), `Dockerfile USER`, `engine`.
    pub user_source: &'static str,
    pub network_mode: Option<String>,
    pub pid: Option<String>,
    pub ipc: Option<String>,
    pub uts: Option<String>,
    pub userns: Option<String>,
    /// The cgroup namespace mode (`host` shares the host's).
    pub cgroupns: Option<String>,
    pub cgroup_parent: Option<String>,
    pub devices: Vec<String>,
    pub mounts: Vec<MountFact>,
    /// Published ports exactly as written (`ports:`), also under the host
    /// network where the engine discards them.
    pub ports_written: usize,
    /// A published range such as `8000-8100`.
    pub port_ranges: Vec<String>,
    pub exposures: Vec<Exposure>,
    /// Declared listen addresses (`x-stackctl.listen`).
    pub declared_listen: Option<Vec<Endpoint>>,
    pub memory: Option<i64>,
    pub nano_cpus: Option<i64>,
    /// CFS quota in microseconds per period (`cpu_quota`).
    pub cpu_quota: Option<i64>,
    pub cpu_shares: Option<i64>,
    pub pids_limit: Option<i64>,
    pub restart: Option<Restart>,
    /// The container's health check (Compose's, else the image's).
    pub health: Health,
    /// The image's own HEALTHCHECK: `Some(true)` present, `Some(false)`
    /// absent, `None` when it cannot be told (an image not built here).
    pub image_health: Option<bool>,
    /// Entrypoint and command words.
    pub command: Vec<String>,
    /// Environment entries with a value.
    pub environment: BTreeMap<String, String>,
    /// The egress allowlist in force: declared (static) or installed (live).
    pub egress: Option<Vec<EgressRule>>,
    /// Where the egress policy comes from, for the report.
    pub egress_source: &'static str,
    /// `x-stackctl.lan`: why the service serves the LAN.
    pub lan: Option<String>,
    /// The image's setuid and setgid files, when its files were read (an
    /// export reads them); `None`: not read, so unknown.
    pub setuid_files: Option<Vec<String>>,
    /// `x-stackctl.carries`: sensitive data that crosses its ports.
    pub carries: Vec<Carried>,
}

impl Subject {
    pub fn on_host_network(&self) -> bool {
        self.network_mode.as_deref() == Some("host")
    }

    /// A service key relative to the service (`network_mode`, `volumes[0]`).
    pub fn key(name: &str) -> KeyPath {
        KeyPath::root().key(name)
    }

    /// A service with no facts yet: what the engine does by default, and
    /// nothing declared.
    pub fn blank(service: &str) -> Subject {
        Subject {
            service: service.to_owned(),
            image: None,
            built_locally: false,
            privileged: false,
            cap_add: Vec::new(),
            cap_drop: Vec::new(),
            security_opt: Vec::new(),
            read_only: false,
            user: None,
            user_source: "image default",
            network_mode: None,
            pid: None,
            ipc: None,
            uts: None,
            userns: None,
            cgroupns: None,
            cgroup_parent: None,
            devices: Vec::new(),
            mounts: Vec::new(),
            ports_written: 0,
            port_ranges: Vec::new(),
            exposures: Vec::new(),
            declared_listen: None,
            memory: None,
            nano_cpus: None,
            cpu_quota: None,
            cpu_shares: None,
            pids_limit: None,
            restart: None,
            health: Health::Unknown,
            image_health: None,
            command: Vec::new(),
            environment: BTreeMap::new(),
            egress: None,
            egress_source: "",
            lan: None,
            setuid_files: None,
            carries: Vec::new(),
        }
    }
}

/// The uid of a `user` value when it is numeric or `root`.
pub fn uid_of(user: &str) -> Option<u32> {
    let name = user.split(':').next().unwrap_or_default();
    if name == "root" {
        return Some(0);
    }
    name.parse().ok()
}

/// The last `USER` and whether there is a `HEALTHCHECK` (other than `NONE`)
/// in a Dockerfile's text.
pub fn dockerfile_facts(text: &str) -> (Option<String>, bool) {
    let mut user = None;
    let mut health = false;
    for line in text.lines().map(str::trim) {
        let mut words = line.split_whitespace();
        match words.next().map(str::to_ascii_uppercase).as_deref() {
            Some("USER") => user = words.next().map(str::to_owned),
            Some("HEALTHCHECK") => {
                health = !words.next().is_some_and(|w| w.eq_ignore_ascii_case("NONE"));
            }
            Some("FROM") => {
                // A new stage starts from its base's defaults.
                user = None;
                health = false;
            }
            _ => {}
        }
    }
    (user, health)
}

/// The facts of `name` as the Compose file declares them.
pub fn from_compose(project: &Project, name: &str, service: &Service) -> Subject {
    let extension = project.extensions.get(name).cloned().unwrap_or_default();
    let dockerfile = service.build.as_ref().and_then(|build| {
        let context = project.resolve(&build.context);
        let file = build.dockerfile.as_deref().unwrap_or("Dockerfile");
        read_dockerfile(&context.join(Path::new(file)))
    });
    let (image_user, image_health) = match &dockerfile {
        Some(text) => {
            let (user, health) = dockerfile_facts(text);
            (user, Some(health))
        }
        None => (None, None),
    };
    let (user, user_source) = match (&service.user, image_user) {
        (Some(user), _) => (Some(user.clone()), "user"),
        (None, Some(user)) => (Some(user), "Dockerfile USER"),
        (None, None) => (None, "image default"),
    };
    let health = match &service.healthcheck {
        Some(h) if h.disable => Health::Disabled,
        Some(h) => match &h.test {
            Some(test) if test.first().map(String::as_str) == Some("NONE") => Health::Disabled,
            Some(test) => Health::Test(test.clone()),
            None if image_health == Some(true) => Health::Test(vec!["(image)".to_owned()]),
            None => Health::Unknown,
        },
        None if image_health == Some(true) => Health::Test(vec!["(image)".to_owned()]),
        None => Health::Unknown,
    };
    let host = service.network_mode.as_deref() == Some("host");
    let mut exposures = Vec::new();
    let mut port_ranges = Vec::new();
    for (i, port) in service.ports.iter().enumerate() {
        let key = Subject::key("ports").index(i);
        if let Some(published) = &port.published
            && published.contains('-')
        {
            port_ranges.push(published.clone());
        }
        if host {
            continue; // discarded by the engine; reported by `host-ports`
        }
        let ip = port
            .host_ip
            .as_deref()
            .and_then(|ip| ip.parse().ok())
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        exposures.push(Exposure {
            ip,
            host_port: port.published.as_deref().and_then(|p| p.parse().ok()),
            port: port.target,
            scheme: None,
            published: true,
            inferred: None,
            key,
        });
    }
    if host {
        for (i, endpoint) in extension.listen.iter().enumerate() {
            exposures.push(Exposure {
                ip: endpoint.addr.ip(),
                host_port: Some(endpoint.addr.port()),
                port: endpoint.addr.port(),
                scheme: Some(endpoint.scheme.clone()),
                published: false,
                inferred: None,
                key: Subject::key("x-stackctl").key("listen").index(i),
            });
        }
        if extension.listen.is_empty() {
            exposures.extend(inferred_listeners(service));
        }
    }
    let limits = DeployLimits::of(service);
    let mut command = Vec::new();
    if let Some(entrypoint) = &service.entrypoint {
        command.extend(entrypoint.0.iter().cloned());
    }
    if let Some(cmd) = &service.command {
        command.extend(cmd.0.iter().cloned());
    }
    Subject {
        service: name.to_owned(),
        image: service.image.clone(),
        built_locally: service.build.is_some(),
        privileged: service.privileged,
        cap_add: service.cap_add.iter().map(|c| normalize_cap(c)).collect(),
        cap_drop: service.cap_drop.iter().map(|c| normalize_cap(c)).collect(),
        security_opt: service.security_opt.clone(),
        read_only: service.read_only,
        user,
        user_source,
        network_mode: service.network_mode.clone(),
        pid: service.pid.clone(),
        ipc: service.ipc.clone(),
        uts: service.uts.clone(),
        userns: service.userns_mode.clone(),
        cgroupns: extension_str(service, "cgroup"),
        cgroup_parent: service.cgroup_parent.clone(),
        devices: service.devices.iter().map(|d| d.0.clone()).collect(),
        mounts: service
            .volumes
            .iter()
            .enumerate()
            .map(|(i, m)| MountFact {
                kind: m.kind.clone(),
                source: m.source.as_deref().map(|s| match m.kind.as_str() {
                    "bind" => bind_source(project, s),
                    _ => s.to_owned(),
                }),
                target: m.target.clone(),
                read_only: m.read_only,
                propagation: m.propagation.clone(),
                key: Subject::key("volumes").index(i),
            })
            .collect(),
        ports_written: service.ports.len(),
        port_ranges,
        exposures,
        declared_listen: (!extension.listen.is_empty()).then(|| extension.listen.clone()),
        memory: service.mem_limit.map(|m| m.0 as i64).or(limits.memory),
        nano_cpus: service
            .cpus
            .map(|c| (c.0 * 1e9) as i64)
            .or(limits.nano_cpus),
        cpu_quota: service
            .extensions
            .get("cpu_quota")
            .and_then(serde_yaml_ng::Value::as_i64),
        cpu_shares: service.cpu_shares,
        pids_limit: service.pids_limit.or(limits.pids),
        restart: service.restart,
        health,
        image_health,
        command,
        environment: service
            .environment
            .0
            .iter()
            .filter_map(|(k, v)| v.clone().map(|v| (k.clone(), v)))
            .collect(),
        egress: extension.egress.clone(),
        egress_source: "x-stackctl.egress, enforced by `stackctl up`'s firewall",
        lan: extension.lan.clone(),
        setuid_files: None,
        carries: extension.carries.clone(),
    }
}

/// A bind source as the host sees it: relative paths are resolved against
/// the file's directory, and `.`, `..` and repeated slashes are resolved
/// (lexically: a symlink is not followed), so `//etc` and `../../etc` are
/// `/etc`. `~` paths stay as written.
fn bind_source(project: &Project, source: &str) -> String {
    if source.starts_with('~') {
        source.to_owned()
    } else if source.starts_with('/') {
        normalize_path(source)
    } else {
        normalize_path(&project.resolve(source).to_string_lossy())
    }
}

/// An absolute path with `.`, `..` and empty components resolved lexically;
/// `..` stops at `/`. A relative path is returned as it is.
pub fn normalize_path(path: &str) -> String {
    if !path.starts_with('/') {
        return path.to_owned();
    }
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            part => parts.push(part),
        }
    }
    format!("/{}", parts.join("/"))
}

/// The largest Dockerfile read; anything bigger is not a Dockerfile.
const DOCKERFILE_CAP: u64 = 1024 * 1024;

/// A Dockerfile's text, if `path` is a regular file of at most 1 MiB (a FIFO
/// or a device such as `/dev/zero` would block or never end).
fn read_dockerfile(path: &Path) -> Option<String> {
    use std::io::Read as _;
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_file() || meta.len() > DOCKERFILE_CAP {
        return None;
    }
    let mut text = String::new();
    std::fs::File::open(path)
        .ok()?
        .take(DOCKERFILE_CAP)
        .read_to_string(&mut text)
        .ok()?;
    Some(text)
}

/// A service key stackctl does not model (`cgroup`, `cpu_quota`), as text.
fn extension_str(service: &Service, key: &str) -> Option<String> {
    service
        .extensions
        .get(key)
        .and_then(serde_yaml_ng::Value::as_str)
        .map(str::to_owned)
}

/// `deploy.resources.limits` (Compose's other way to write `mem_limit`,
/// `cpus` and `pids_limit`).
#[derive(Debug, Default, PartialEq)]
struct DeployLimits {
    memory: Option<i64>,
    nano_cpus: Option<i64>,
    pids: Option<i64>,
}

impl DeployLimits {
    fn of(service: &Service) -> DeployLimits {
        use serde_yaml_ng::Value;
        let Some(limits) = service
            .extensions
            .get("deploy")
            .and_then(|d| d.get("resources"))
            .and_then(|r| r.get("limits"))
        else {
            return DeployLimits::default();
        };
        let text = |key: &str| match limits.get(key)? {
            Value::String(s) => Some(s.trim().to_owned()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        };
        DeployLimits {
            memory: text("memory")
                .and_then(|m| crate::compose::units::parse_size(&m).ok())
                .and_then(|m| i64::try_from(m).ok())
                .filter(|m| *m > 0),
            nano_cpus: text("cpus")
                .and_then(|c| c.parse::<f64>().ok())
                .map(|c| (c * 1e9) as i64)
                .filter(|c| *c > 0),
            pids: text("pids")
                .and_then(|p| p.parse::<i64>().ok())
                .filter(|p| *p > 0),
        }
    }
}

/// Images whose server listens on a well-known port on every interface by
/// default: `(image name, port, scheme)`.
const IMAGE_LISTENERS: &[(&str, u16, &str)] = &[
    ("mysql", 3306, "mysql"),
    ("mariadb", 3306, "mariadb"),
    ("percona", 3306, "mysql"),
    ("postgres", 5432, "postgres"),
    ("redis", 6379, "redis"),
    ("mongo", 27017, "mongodb"),
    ("memcached", 11211, "memcached"),
    ("elasticsearch", 9200, "http"),
    ("couchdb", 5984, "http"),
    ("cassandra", 9042, "cassandra"),
    ("telnetd", 23, "telnet"),
];

/// The sockets a host-network service that declares none probably opens:
/// its image's default port (an official database image, a Telnet server)
/// and the ports it `expose`s, on every interface, since that is where a
/// container's server binds unless told otherwise. Each is labelled
/// inferred: it is a guess `--live` replaces with the real sockets.
fn inferred_listeners(service: &Service) -> Vec<Exposure> {
    let mut found = Vec::new();
    let any = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
    if let Some(image) = &service.image {
        let name = image.split('@').next().unwrap_or(image);
        let name = name.rsplit('/').next().unwrap_or(name);
        let name = name.split(':').next().unwrap_or(name);
        if let Some((known, port, scheme)) = IMAGE_LISTENERS.iter().find(|(n, _, _)| *n == name) {
            found.push(Exposure {
                ip: any,
                host_port: Some(*port),
                port: *port,
                scheme: Some((*scheme).to_owned()),
                published: false,
                inferred: Some(format!(
                    "the `{known}` image's default, as nothing is declared in `x-stackctl.listen`"
                )),
                key: Subject::key("image"),
            });
        }
    }
    let exposed = service
        .extensions
        .get("expose")
        .and_then(serde_yaml_ng::Value::as_sequence);
    for (i, entry) in exposed.into_iter().flatten().enumerate() {
        let text = match entry {
            serde_yaml_ng::Value::String(s) => s.clone(),
            serde_yaml_ng::Value::Number(n) => n.to_string(),
            _ => continue,
        };
        let (port, protocol) = text.split_once('/').unwrap_or((&text, "tcp"));
        let Ok(port) = port.trim().parse::<u16>() else {
            continue; // a range, or not a port: not guessed at
        };
        if protocol != "tcp" || found.iter().any(|e: &Exposure| e.port == port) {
            continue;
        }
        found.push(Exposure {
            ip: any,
            host_port: Some(port),
            port,
            scheme: None,
            published: false,
            inferred: Some(format!(
                "`expose: {text}`, bind address assumed to be every interface"
            )),
            key: Subject::key("expose").index(i),
        });
    }
    found
}

/// `cap_net_admin`, `CAP_NET_ADMIN` and `NET_ADMIN` are the same capability.
pub fn normalize_cap(cap: &str) -> String {
    let upper = cap.to_ascii_uppercase();
    upper.strip_prefix("CAP_").unwrap_or(&upper).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockerfiles_yield_their_last_user_and_healthcheck() {
        let text =
            "FROM a AS build\nUSER 1\nFROM scratch\nUSER 10010:10010\nHEALTHCHECK CMD [\"x\"]\n";
        assert_eq!(
            dockerfile_facts(text),
            (Some("10010:10010".to_owned()), true)
        );
        assert_eq!(
            dockerfile_facts("FROM x\nHEALTHCHECK NONE\n"),
            (None, false)
        );
    }

    #[test]
    fn paths_are_normalised_lexically() {
        assert_eq!(normalize_path("//etc"), "/etc");
        assert_eq!(normalize_path("/srv/../etc/./"), "/etc");
        assert_eq!(normalize_path("/a/../../../etc/shadow"), "/etc/shadow");
        assert_eq!(normalize_path("/"), "/");
        assert_eq!(normalize_path("/.."), "/");
        assert_eq!(normalize_path("volume-name"), "volume-name");
    }

    #[test]
    fn users_name_their_uid() {
        assert_eq!(uid_of("10001:10001"), Some(10001));
        assert_eq!(uid_of("root"), Some(0));
        assert_eq!(uid_of("0:0"), Some(0));
        assert_eq!(uid_of("mysql"), None);
    }
}
