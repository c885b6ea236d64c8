//! CIS section 2 (the daemon's configuration), 5.1 and section 7 (swarm
//! mode), judged on what the engine reports and what the daemon was told.
//! Where the engine reports the effective value (`/info`, the default
//! bridge's options, the daemon's sockets) that wins over configuration
//! text; a setting that cannot be read is a note, never a pass.

use super::catalog as c;
use super::facts::{EngineFacts, HostFacts, Setting};
use super::{Out, Place};
use crate::audit::catalog::Check;
use crate::audit::finding::Severity;

/// What the userland proxy cost on this project's machine (docs/bench.md:
/// bridge-proxy against native, in its quiet full run of 15 rounds).
pub const PROXY_COST: &str = "our bench's quiet full run measured the path through it at ×1.47 a plain process's 1-byte round trip (p50; the host network is within 1% of it), ×0.54 its HTTP requests per second and ×0.55 its one-stream bulk throughput (docs/bench.md); `stackctl bench` measures this host";

fn setting(
    out: &mut Out,
    facts: &HostFacts,
    check: &Check,
    flag: &str,
    key: &str,
) -> Option<Option<Setting>> {
    match facts.daemon.setting(flag, key) {
        Ok(found) => Some(found),
        Err(why) => {
            out.note(format!(
                "{}: cannot read the daemon's `{key}` ({why}); not judged",
                check.id
            ));
            None
        }
    }
}

fn place(s: &Setting, facts: &HostFacts) -> Place {
    if s.source.starts_with("dockerd") {
        Place::Engine(format!("dockerd's command line ({})", s.source))
    } else {
        Place::File(facts.daemon.file_path.clone())
    }
}

fn is_false(s: &Option<Setting>) -> bool {
    s.as_ref().is_some_and(|s| s.value == "false")
}

fn is_true(s: &Option<Setting>) -> bool {
    s.as_ref().is_some_and(|s| s.value == "true")
}

/// Section 2, 5.1 and 7.
pub(super) fn check(facts: &HostFacts, out: &mut Out) {
    let engine = match &facts.engine {
        Ok(engine) => engine,
        Err(why) => {
            out.note(format!(
                "the engine's /info could not be read ({why}): CIS 2.x, 5.1 and 7.x were not judged"
            ));
            return;
        }
    };
    if engine.has_security_option("rootless") {
        // Nothing to report: the daemon runs as a user.
    } else {
        out.push(&c::ROOTLESS, Severity::Info, Place::Engine("/info SecurityOptions".into()),
            "the daemon runs as root (no `name=rootless` in /info); rootless Docker cannot give containers the host network with privileged ports or the per-uid firewall's host uids, so this stack runs on a rootful daemon".into(),
            "where the stack allows it, run the daemon rootless (dockerd-rootless-setuptool.sh install)");
    }
    icc(engine, out);
    log_level(facts, engine, out);
    if let Some(found) = setting(out, facts, &c::IPTABLES, "--iptables", "iptables")
        && is_false(&found)
    {
        let s = found.as_ref().expect("is_false");
        out.push(&c::IPTABLES, Severity::Medium, place(s, facts),
            format!("the daemon may not change iptables ({} = false): published ports and the bridge's NAT are left to hand-made rules; `stackctl up`'s own chains are unaffected", s.source),
            "remove `iptables: false` (or `--iptables=false`)");
    }
    if !engine.insecure_registries.is_empty() {
        out.push(
            &c::INSECURE_REGISTRIES,
            Severity::High,
            Place::Engine("/info RegistryConfig".into()),
            format!(
                "the engine trusts registries without verified TLS: {}",
                engine.insecure_registries.join(", ")
            ),
            "remove them from `insecure-registries`; give the registry a certificate",
        );
    }
    if engine.storage_driver == "aufs" {
        out.push(
            &c::AUFS,
            Severity::Medium,
            Place::Engine("/info Driver".into()),
            "the storage driver is aufs".into(),
            "switch to overlay2 (`storage-driver` in daemon.json)",
        );
    }
    tls(facts, out);
    if let Some(found) = setting(
        out,
        facts,
        &c::DEFAULT_ULIMIT,
        "--default-ulimit",
        "default-ulimits",
    ) && found
        .as_ref()
        .is_none_or(|s| s.value == "{}" || s.value.is_empty())
    {
        out.push(&c::DEFAULT_ULIMIT, Severity::Info, Place::File(facts.daemon.file_path.clone()),
            "no daemon-wide default ulimits: a container without its own gets the daemon's (often nofile 1048576)".into(),
            "set `default-ulimits` (e.g. `{\"nofile\": {\"Name\": \"nofile\", \"Soft\": 1024, \"Hard\": 4096}}`) if your policy asks for it");
    }
    if !engine.has_security_option("userns") {
        out.push(&c::USERNS_REMAP, Severity::Medium, Place::Engine("/info SecurityOptions".into()),
            "user-namespace remapping is off (no `name=userns` in /info): root in a container is root on the host. With it on, a host-network container must opt out (`userns_mode: host`, CIS 5.31), and the firewall keys on the services' host uids, so this stack relies on non-root uids, dropped capabilities and no-new-privileges instead".into(),
            "enable `userns-remap` for bridged workloads; accept it for host-network stacks with the controls they rely on");
    }
    if let Some(Some(s)) = setting(
        out,
        facts,
        &c::CGROUP_PARENT,
        "--cgroup-parent",
        "cgroup-parent",
    ) && !s.value.is_empty()
    {
        out.push(
            &c::CGROUP_PARENT,
            Severity::Low,
            place(&s, facts),
            format!(
                "every container's cgroup parent is `{}` ({})",
                s.value, s.source
            ),
            "confirm that cgroup's limits, or remove the setting",
        );
    }
    if let Some(Some(s)) = setting(out, facts, &c::BASE_DEVICE, "--storage-opt", "storage-opts")
        && s.value.contains("dm.basesize")
    {
        out.push(
            &c::BASE_DEVICE,
            Severity::Low,
            place(&s, facts),
            format!("the devicemapper base size is changed ({})", s.value),
            "remove `dm.basesize` unless a container needs it",
        );
    }
    if engine.authorization_plugins.is_empty() {
        out.push(&c::AUTHZ, Severity::Low, Place::Engine("/info Plugins.Authorization".into()),
            "no authorization plugin: every client of the socket may do everything (members of the docker group are root)".into(),
            "install an authorization plugin (`authorization-plugins`) if more than root should use the socket");
    }
    if matches!(engine.logging_driver.as_str(), "json-file" | "local") {
        out.push(&c::REMOTE_LOGGING, Severity::Low, Place::Engine("/info LoggingDriver".into()),
            format!("containers log to the `{}` driver on this host only (compose.yaml bounds them with max-size/max-file)", engine.logging_driver),
            "ship logs off the host (`log-driver: syslog`/`journald` with forwarding, `fluentd`, `gelf`)");
    }
    if let Some(found) = setting(
        out,
        facts,
        &c::DAEMON_NNP,
        "--no-new-privileges",
        "no-new-privileges",
    ) && !is_true(&found)
    {
        out.push(&c::DAEMON_NNP, Severity::Medium, Place::File(facts.daemon.file_path.clone()),
            "the daemon does not set no-new-privileges for every container: a container started by hand (or by another tool) may gain privileges through setuid programs; each of this stack's services sets it itself (CIS 5.26)".into(),
            "set `\"no-new-privileges\": true` in daemon.json");
    }
    if !engine.live_restore && !engine.swarm_active {
        out.push(&c::LIVE_RESTORE, Severity::Low, Place::Engine("/info LiveRestoreEnabled".into()),
            "live restore is off: restarting or upgrading the daemon stops every container, and on the host network the stack's ports go with them".into(),
            "set `\"live-restore\": true` in daemon.json");
    }
    userland_proxy(facts, out);
    if !engine.has_security_option("seccomp") {
        out.push(&c::SECCOMP_DEFAULT, Severity::High, Place::Engine("/info SecurityOptions".into()),
            "the engine applies no seccomp profile (no `name=seccomp` in /info): containers make every system call".into(),
            "run the engine with seccomp (the default); a custom profile goes in `seccomp-profile`");
    } else if let Some(custom) = engine
        .security_options
        .iter()
        .find(|o| o.contains("name=seccomp") && !o.contains("profile=default"))
    {
        out.push(
            &c::SECCOMP_DEFAULT,
            Severity::Info,
            Place::Engine("/info SecurityOptions".into()),
            format!("the daemon-wide seccomp profile is a custom one ({custom})"),
            "review the profile: it is what every container without its own gets",
        );
    }
    if engine.experimental {
        out.push(
            &c::EXPERIMENTAL,
            Severity::Low,
            Place::Engine("/info ExperimentalBuild".into()),
            "the daemon runs with experimental features".into(),
            "remove `experimental: true`",
        );
    }
    swarm(facts, engine, out);
}

fn icc(engine: &EngineFacts, out: &mut Out) {
    match &engine.bridge_icc {
        Ok(Some(true)) => out.push(&c::ICC, Severity::Medium, Place::Engine("network `bridge` option com.docker.network.bridge.enable_icc".into()),
            "containers on the default bridge reach each other freely (enable_icc true). The host-network services are not on it and icc does not separate them: they share the host's loopback, which the per-uid firewall of `stackctl up` polices instead".into(),
            "set `\"icc\": false` in daemon.json; containers that must talk get a user-defined network"),
        Ok(_) => {}
        Err(why) => out.note(format!("CIS-2.2: the default bridge could not be inspected ({why}); not judged")),
    }
}

fn log_level(facts: &HostFacts, engine: &EngineFacts, out: &mut Out) {
    let Some(found) = setting(out, facts, &c::LOG_LEVEL, "--log-level", "log-level") else {
        return;
    };
    let level = match (&found, engine.debug) {
        (_, true) => Some(("debug".to_owned(), "/info Debug".to_owned())),
        (Some(s), _) if s.value != "info" => Some((s.value.clone(), s.source.clone())),
        _ => None,
    };
    if let Some((level, source)) = level {
        out.push(
            &c::LOG_LEVEL,
            Severity::Low,
            Place::Engine(source.clone()),
            format!("the daemon logs at `{level}` ({source}), not `info`"),
            "set `\"log-level\": \"info\"` and remove `debug`",
        );
    }
}

fn tls(facts: &HostFacts, out: &mut Out) {
    let tcp = match &facts.daemon_tcp {
        Ok(tcp) => tcp,
        Err(why) => {
            out.note(format!(
                "CIS-2.7: the daemon's sockets could not be read ({why}); not judged"
            ));
            return;
        }
    };
    if tcp.is_empty() {
        return;
    }
    let verify = facts.daemon.setting("--tlsverify", "tlsverify");
    let tls = facts.daemon.setting("--tls", "tls");
    let listed = tcp
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let host_net = "; every host-network container shares this network namespace, so it reaches the port even on 127.0.0.1";
    match (verify, tls) {
        (Ok(v), _) if is_true(&v) => {}
        (Ok(_), Ok(t)) if is_true(&t) => out.push(&c::TLS, Severity::High, Place::Engine("dockerd's TCP sockets (/proc/net/tcp)".into()),
            format!("the API listens on TCP ({listed}) with TLS but without client verification: anyone who connects is root{host_net}"),
            "set `tlsverify: true` with `tlscacert`, or listen on the unix socket only"),
        (Ok(_), Ok(_)) => out.push(&c::TLS, Severity::Critical, Place::Engine("dockerd's TCP sockets (/proc/net/tcp)".into()),
            format!("the API listens on TCP ({listed}) without TLS: anyone who connects is root{host_net}"),
            "remove the tcp:// host, or set `tlsverify: true` with `tlscacert`, `tlscert`, `tlskey`"),
        (Err(why), _) | (_, Err(why)) => out.note(format!("CIS-2.7: the daemon listens on TCP ({listed}) and its TLS settings could not be read ({why}); not judged")),
    }
}

fn userland_proxy(facts: &HostFacts, out: &mut Out) {
    let Some(found) = setting(
        out,
        facts,
        &c::USERLAND_PROXY,
        "--userland-proxy",
        "userland-proxy",
    ) else {
        return;
    };
    if is_false(&found) {
        return;
    }
    let running = match &facts.proxy_processes {
        Ok(0) => "no docker-proxy runs now (no port is published)".to_owned(),
        Ok(n) => format!("{n} docker-proxy process(es) run now"),
        Err(why) => format!("its processes could not be counted ({why})"),
    };
    let source = found
        .as_ref()
        .map(|s| format!(" ({} = {})", s.source, s.value))
        .unwrap_or_else(|| " (the default)".to_owned());
    out.push(&c::USERLAND_PROXY, Severity::Medium, Place::File(facts.daemon.file_path.clone()),
        format!("the userland proxy is on{source}; {running}. Every connection to a published port is accepted by a root docker-proxy that copies each byte in user space: {PROXY_COST}. This stack's services are on the host network and never pass through it; bridged containers with published ports do"),
        "set `\"userland-proxy\": false` in daemon.json (the kernel's NAT, with hairpin on loopback, takes over), then restart the daemon");
}

fn swarm(facts: &HostFacts, engine: &EngineFacts, out: &mut Out) {
    let Some(swarm) = facts.swarm.as_ref().filter(|_| engine.swarm_active) else {
        return;
    };
    let at = || Place::Engine("/info Swarm".into());
    out.push(&c::SWARM, Severity::Low, at(),
        format!("swarm mode is active ({} manager(s)); on the host network its ports (2377, 7946, 4789) are the host's", swarm.managers),
        "leave the swarm (`docker swarm leave`) if this host does not need it");
    if swarm.managers > 1 && swarm.managers % 2 == 0 {
        out.push(
            &c::SWARM_MANAGERS,
            Severity::Low,
            at(),
            format!(
                "{} managers: an even count tolerates no more failures than one fewer",
                swarm.managers
            ),
            "run an odd number of managers, as few as the cluster needs",
        );
    }
    let wildcard: Vec<String> = swarm
        .management_listeners
        .iter()
        .filter(|a| a.ip().is_unspecified())
        .map(ToString::to_string)
        .collect();
    if !wildcard.is_empty() {
        out.push(
            &c::SWARM_BIND,
            Severity::Medium,
            Place::Engine("the management port's sockets (/proc/net/tcp)".into()),
            format!(
                "the swarm management port listens on every interface ({})",
                wildcard.join(", ")
            ),
            "initialise the swarm with `--listen-addr` and `--advertise-addr` of one interface",
        );
    }
    for (name, encrypted) in &swarm.overlays {
        if !encrypted {
            out.push(
                &c::OVERLAY_ENCRYPTED,
                Severity::Medium,
                Place::Engine(format!("network `{name}`")),
                format!("the overlay network `{name}` is not encrypted"),
                "create overlays with `--opt encrypted`",
            );
        }
    }
    match &swarm.secrets {
        Ok(0) => out.push(&c::SWARM_SECRETS, Severity::Info, at(),
            "no swarm secrets are defined".into(),
            "pass credentials to services as swarm secrets (stackctl's export does), not as environment"),
        Ok(_) => {}
        Err(why) => out.note(format!("CIS-7.4: the swarm's secrets could not be listed ({why}); not judged")),
    }
    if swarm.is_manager && swarm.autolock != Some(true) {
        out.push(
            &c::AUTOLOCK,
            Severity::Medium,
            at(),
            "the swarm's managers are not auto-locked".into(),
            "`docker swarm update --autolock=true` and keep the unlock key off the host",
        );
    }
    if swarm.is_manager {
        out.push(
            &c::AUTOLOCK_ROTATION,
            Severity::Info,
            at(),
            "the engine does not record when the unlock key was last rotated".into(),
            "rotate it periodically: `docker swarm unlock-key --rotate`",
        );
        out.push(
            &c::CA_ROTATION,
            Severity::Info,
            at(),
            "the engine does not record when the cluster CA was last rotated".into(),
            "rotate it as your policy asks: `docker swarm ca --rotate`",
        );
    }
    if let Some(hours) = swarm.node_cert_hours
        && hours > 24.0 * 90.0
    {
        out.push(
            &c::NODE_CERTS,
            Severity::Low,
            at(),
            format!(
                "node certificates are valid for {:.0} days before rotation",
                hours / 24.0
            ),
            "`docker swarm update --cert-expiry 720h` (or less)",
        );
    }
    if swarm.data_path_addr.as_deref().is_none_or(|d| d.is_empty()) {
        out.push(&c::PLANE_SEPARATION, Severity::Info, at(),
            format!("management and data traffic share the node address {}", swarm.node_addr),
            "initialise the swarm with `--data-path-addr` on another interface where the host has one");
    }
}
