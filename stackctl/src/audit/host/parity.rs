//! Parity with docker-bench-security v1.6.0: each of the 117 checks its
//! default run makes (sections 1 to 7), what `stackctl audit` does with it,
//! and why. docker-bench numbers section 5 from AppArmor (CIS v1.6.0 puts
//! swarm mode first, so its 5.N is our 5.N+1) and keeps swarm mode as 7.1
//! (CIS 5.1, so its 7.N is our 7.N-1). The table in docs/audit.md is rendered from
//! this list, and a test keeps the two equal.

/// What `stackctl audit` does with one docker-bench check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The same verdict on the same facts.
    Same,
    /// A verdict docker-bench cannot reach, for the reason given.
    Better,
    /// Nothing to judge for this stack, for the reason given.
    NotApplicable,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Same => "same verdict",
            Verdict::Better => "better",
            Verdict::NotApplicable => "not applicable",
        }
    }
}

/// One row: docker-bench's id, our check id or command (`None` when not
/// applicable),
/// the verdict and its reason.
#[derive(Debug, Clone, Copy)]
pub struct Row {
    pub bench: &'static str,
    pub ours: Option<&'static str>,
    pub verdict: Verdict,
    pub why: &'static str,
}

const fn row(bench: &'static str, ours: &'static str, verdict: Verdict, why: &'static str) -> Row {
    Row {
        bench,
        ours: Some(ours),
        verdict,
        why,
    }
}

const fn na(bench: &'static str, why: &'static str) -> Row {
    Row {
        bench,
        ours: None,
        verdict: Verdict::NotApplicable,
        why,
    }
}

use Verdict::{Better, Same};

const BITS: &str = "compares permission bits: docker-bench compares the octal digits as a number, so it passes 0602 (world-writable) as \"644 or less\"";
const AUDITD: &str = "an audit rule on the path (`auditctl -l`, else the rules files), for paths present on this host";

/// Every check of docker-bench-security v1.6.0's default run, in its order.
pub const ROWS: &[Row] = &[
    row(
        "1.1.1",
        "CIS-1.1.1",
        Same,
        "the engine's root directory (from /info) is a mount point of its own",
    ),
    row(
        "1.1.2",
        "CIS-1.1.2",
        Same,
        "lists the `docker` group's members (NSS) as information",
    ),
    row(
        "1.1.3",
        "CIS-1.1.3",
        Better,
        "watches the binary the running daemon executes (`/proc/PID/exe`: `/usr/sbin/dockerd` on Debian); docker-bench looks for a rule on `/usr/bin/dockerd` only",
    ),
    row(
        "1.1.4",
        "CIS-1.1.4",
        Better,
        "only where `/run/containerd` exists; docker-bench warns about it also when it does not",
    ),
    row("1.1.5", "CIS-1.1.5", Same, AUDITD),
    row("1.1.6", "CIS-1.1.6", Same, AUDITD),
    row("1.1.7", "CIS-1.1.7", Same, AUDITD),
    row(
        "1.1.8",
        "CIS-1.1.8",
        Better,
        "the containerd socket that exists here; docker-bench warns about `/run/containerd/containerd.sock` also when it does not exist",
    ),
    row("1.1.9", "CIS-1.1.9", Same, AUDITD),
    row("1.1.10", "CIS-1.1.10", Same, AUDITD),
    row(
        "1.1.11",
        "CIS-1.1.11",
        Better,
        "the configuration file the daemon really reads (`--config-file`, else `/etc/docker/daemon.json`)",
    ),
    row("1.1.12", "CIS-1.1.12", Same, AUDITD),
    row("1.1.13", "CIS-1.1.13", Same, AUDITD),
    row("1.1.14", "CIS-1.1.14", Same, AUDITD),
    row("1.1.15", "CIS-1.1.15", Same, AUDITD),
    row("1.1.16", "CIS-1.1.16", Same, AUDITD),
    row("1.1.17", "CIS-1.1.17", Same, AUDITD),
    row("1.1.18", "CIS-1.1.18", Same, AUDITD),
    na(
        "1.2.1",
        "a manual review of the whole host; docker-bench prints a note and judges nothing",
    ),
    na(
        "1.2.2",
        "whether a version is current needs the vendor's release list, which this host cannot reach; docker-bench prints the version as information",
    ),
    row(
        "2.1",
        "CIS-2.1",
        Better,
        "reads `name=rootless` from /info (docker-bench: a note only) and says why this stack needs a rootful daemon",
    ),
    row(
        "2.2",
        "CIS-2.2",
        Better,
        "the default bridge's effective `enable_icc` from the engine, whatever set it; says that icc does not separate host-network containers, which share loopback (the per-uid firewall does)",
    ),
    row(
        "2.3",
        "CIS-2.3",
        Better,
        "also catches `debug` from /info, which docker-bench's text match misses",
    ),
    row(
        "2.4",
        "CIS-2.4",
        Same,
        "`--iptables=false` on the command line or `iptables: false` in the file",
    ),
    row(
        "2.5",
        "CIS-2.5",
        Better,
        "the engine's own registry configuration (any source), beyond its built-in 127.0.0.0/8",
    ),
    row("2.6", "CIS-2.6", Same, "the storage driver from /info"),
    row(
        "2.7",
        "CIS-2.7",
        Better,
        "the TCP sockets dockerd really holds (`/proc/net/tcp`), not the configured hosts; says that on the host network even `127.0.0.1:2375` is reachable from every host-network container",
    ),
    row(
        "2.8",
        "CIS-2.8",
        Same,
        "daemon-wide `default-ulimits`, as information",
    ),
    row(
        "2.9",
        "CIS-2.9",
        Better,
        "`name=userns` from /info; says that host-network containers must opt out of remapping (CIS 5.31) and what this stack relies on instead, so the risk can be accepted on those controls",
    ),
    row(
        "2.10",
        "CIS-2.10",
        Same,
        "`cgroup-parent` on the command line or in the file",
    ),
    row(
        "2.11",
        "CIS-2.11",
        Same,
        "`dm.basesize` in the storage options",
    ),
    row(
        "2.12",
        "CIS-2.12",
        Better,
        "the engine's authorization plugins from /info, whatever configured them",
    ),
    row(
        "2.13",
        "CIS-2.13",
        Same,
        "the logging driver from /info (`json-file` and `local` stay on the host)",
    ),
    row(
        "2.14",
        "CIS-2.14",
        Same,
        "daemon-wide `no-new-privileges`; acceptable only on `no-new-privileges` holding on every service",
    ),
    row(
        "2.15",
        "CIS-2.15",
        Same,
        "`LiveRestoreEnabled` from /info, not judged in swarm mode",
    ),
    row(
        "2.16",
        "CIS-2.16",
        Better,
        "says what the proxy costs as our bench measured it and counts the `docker-proxy` processes running",
    ),
    row(
        "2.17",
        "CIS-2.17",
        Same,
        "the daemon's seccomp profile from /info (no seccomp at all is high)",
    ),
    row(
        "2.18",
        "CIS-2.18",
        Better,
        "`ExperimentalBuild` from /info on every version; docker-bench stops judging after 19.03",
    ),
    row(
        "3.1",
        "CIS-3.1",
        Same,
        "the unit file systemd would load (`/etc`, `/run`, `/usr/lib`, `/lib`)",
    ),
    row("3.2", "CIS-3.2", Better, BITS),
    row("3.3", "CIS-3.3", Same, "the socket unit systemd would load"),
    row("3.4", "CIS-3.4", Better, BITS),
    row("3.5", "CIS-3.5", Same, "`/etc/docker` owned by root:root"),
    row("3.6", "CIS-3.6", Better, BITS),
    row(
        "3.7",
        "CIS-3.7",
        Same,
        "every `*.crt` under `/etc/docker/certs.d`",
    ),
    row("3.8", "CIS-3.8", Better, BITS),
    row(
        "3.9",
        "CIS-3.9",
        Same,
        "`tlscacert` from the command line or the file",
    ),
    row("3.10", "CIS-3.10", Better, BITS),
    row(
        "3.11",
        "CIS-3.11",
        Same,
        "`tlscert` from the command line or the file",
    ),
    row("3.12", "CIS-3.12", Better, BITS),
    row(
        "3.13",
        "CIS-3.13",
        Same,
        "`tlskey` from the command line or the file",
    ),
    row(
        "3.14",
        "CIS-3.14",
        Same,
        "0400 or less (docker-bench wants exactly 400)",
    ),
    row(
        "3.15",
        "CIS-3.15",
        Better,
        "every unix socket the engine serves (`DOCKER_HOST`, `-H unix://...`), not only `/var/run/docker.sock`",
    ),
    row("3.16", "CIS-3.16", Better, BITS),
    row(
        "3.17",
        "CIS-3.17",
        Better,
        "the configuration file the daemon really reads (`--config-file`)",
    ),
    row("3.18", "CIS-3.18", Better, BITS),
    row(
        "3.19",
        "CIS-3.19",
        Same,
        "`/etc/default/docker` owned by root:root",
    ),
    row("3.20", "CIS-3.20", Better, BITS),
    row("3.21", "CIS-3.21", Better, BITS),
    row(
        "3.22",
        "CIS-3.22",
        Same,
        "`/etc/sysconfig/docker` owned by root:root",
    ),
    row(
        "3.23",
        "CIS-3.23",
        Better,
        "also the containerd socket dockerd runs itself (`/var/run/docker/containerd/containerd.sock`), which docker-bench never looks at",
    ),
    row("3.24", "CIS-3.24", Better, BITS),
    row(
        "4.1",
        "CIS-4.1",
        Better,
        "per service from Compose's `user`, the Dockerfile's `USER` or the running container; docker-bench reads only the image's `User`",
    ),
    na(
        "4.2",
        "no third-party image is pulled: the base is made here with debootstrap from the host's apt mirror (signatures checked against Debian's keyring), the services from the workspace; `up` refuses any image ID but the pinned one. docker-bench prints a note",
    ),
    na(
        "4.3",
        "a judgement on each package's need; the service images are `FROM scratch` with one binary and its libraries, and `stackctl scan` lists the database image's outdated packages. docker-bench prints a note",
    ),
    row(
        "4.4",
        "stackctl scan",
        Better,
        "`stackctl scan` checks the images' Rust dependencies against RustSec and their Debian packages against bookworm-security; docker-bench prints a note",
    ),
    row(
        "4.5",
        "CIS-4.5",
        Better,
        "only pulled images can be signed, so only they are judged; says that the Engine API never verifies signatures (docker-bench only reads its own environment)",
    ),
    row(
        "4.6",
        "CIS-4.6",
        Same,
        "the image's HEALTHCHECK, from the Dockerfile or the image",
    ),
    row(
        "4.7",
        "CIS-4.7",
        Better,
        "a package-list update without an install in the same step; docker-bench notes any history line containing `update`",
    ),
    row(
        "4.8",
        "CIS-4.8",
        Better,
        "reads the image's layers for setuid and setgid files (docker-bench: a note only); low where the service runs with no-new-privileges",
    ),
    row(
        "4.9",
        "CIS-4.9",
        Same,
        "`ADD` in the history, skipping the base's root filesystem; an `ADD` of a URL is medium",
    ),
    row(
        "4.10",
        "CIS-4.10",
        Better,
        "reads the history (build arguments) and the image's environment for secret-looking values, never printing them; docker-bench prints a note",
    ),
    na(
        "4.11",
        "apt checks every Debian package's signature at build and `cargo build --locked` every crate's checksum; no further state to read. docker-bench prints a note",
    ),
    na(
        "4.12",
        "as 4.11: what is signed here is verified by apt and cargo as it is fetched. docker-bench prints a note",
    ),
    row(
        "5.1",
        "CIS-5.2",
        Same,
        "`apparmor:unconfined` in `security_opt` or the running container",
    ),
    row(
        "5.2",
        "CIS-5.3",
        Same,
        "`label:` options; their absence is information",
    ),
    row(
        "5.3",
        "CIS-5.4",
        Better,
        "grades added capabilities by what they lead to (ALL critical, SYS_ADMIN and the like high) and asks for `cap_drop: [ALL]`",
    ),
    row(
        "5.4",
        "CIS-5.5",
        Same,
        "privileged: critical, never acceptable",
    ),
    row(
        "5.5",
        "CIS-5.6",
        Better,
        "normalised bind sources (`//etc`, `../../etc`) and whole subtrees (`/etc/shadow`)",
    ),
    row(
        "5.6",
        "CIS-5.7",
        Better,
        "reads the command; docker-bench runs `ps` inside the container, which a shell-less image cannot",
    ),
    row(
        "5.7",
        "CIS-5.8",
        Better,
        "also host-network binds below 1024, which `docker port` never shows",
    ),
    row(
        "5.8",
        "CIS-5.9",
        Better,
        "compares `x-stackctl.listen` with the sockets the container's processes hold",
    ),
    row(
        "5.9",
        "CIS-5.10",
        Same,
        "high, accepted only with the compensating controls found in place",
    ),
    row("5.10", "CIS-5.11", Same, "a memory limit"),
    row("5.11", "CIS-5.12", Same, "a CPU limit or share"),
    row("5.12", "CIS-5.13", Same, "a read-only root filesystem"),
    row(
        "5.13",
        "CIS-5.14",
        Better,
        "reads the sockets (`/proc/net/tcp`): docker-bench reads `docker port`, which is empty on the host network, so it passes a service listening on 0.0.0.0",
    ),
    row(
        "5.14",
        "CIS-5.15",
        Same,
        "`on-failure` with 1 to 5 retries (0 means unlimited)",
    ),
    row("5.15", "CIS-5.16", Same, "`pid: host`"),
    row("5.16", "CIS-5.17", Same, "`ipc: host`"),
    row("5.17", "CIS-5.18", Same, "host devices"),
    row(
        "5.18",
        "CIS-5.19",
        Better,
        "as information, and not where the daemon sets default ulimits",
    ),
    row("5.19", "CIS-5.20", Same, "`shared`/`rshared` propagation"),
    row("5.20", "CIS-5.21", Same, "`uts: host`"),
    row("5.21", "CIS-5.22", Same, "`seccomp:unconfined`"),
    row(
        "5.22",
        "CIS-5.23",
        Better,
        "judges the exec sessions running now from the engine and names past ones from its event log (docker-bench: a note)",
    ),
    row(
        "5.23",
        "CIS-5.24",
        Better,
        "as 5.22; says that uid 0's connections escape the per-uid egress firewall on the host network",
    ),
    row(
        "5.24",
        "CIS-5.25",
        Same,
        "a custom `cgroup_parent` (and `cgroup: host`)",
    ),
    row(
        "5.25",
        "CIS-5.26",
        Same,
        "`no-new-privileges` in every form the engine takes",
    ),
    row(
        "5.26",
        "CIS-5.27",
        Same,
        "a health check, the container's or the image's",
    ),
    row(
        "5.27",
        "CIS-5.28",
        Better,
        "judges the tag (none, `latest`, another) and passes digests and images built here, whose IDs `up` pins",
    ),
    row("5.28", "CIS-5.29", Same, "a PIDs limit"),
    row(
        "5.29",
        "CIS-5.30",
        Same,
        "the project's containers on the default bridge",
    ),
    row("5.30", "CIS-5.31", Same, "`userns_mode: host`"),
    row(
        "5.31",
        "CIS-5.32",
        Same,
        "the Docker socket mounted: critical, never acceptable",
    ),
    na(
        "6.1",
        "counts every image on the engine, whoever made it: not a property of this stack (docker-bench prints the count as information)",
    ),
    na(
        "6.2",
        "counts every container on the engine, whoever made it: not a property of this stack (docker-bench prints the count as information)",
    ),
    row(
        "7.1",
        "CIS-5.1",
        Same,
        "swarm mode active (CIS v1.6.0 numbers it 5.1)",
    ),
    row(
        "7.2",
        "CIS-7.1",
        Better,
        "flags an even number of managers; docker-bench counts `Leader` lines, always one",
    ),
    row(
        "7.3",
        "CIS-7.2",
        Same,
        "the management port 2377 on every interface",
    ),
    row(
        "7.4",
        "CIS-7.3",
        Same,
        "overlay networks without `encrypted`",
    ),
    row(
        "7.5",
        "CIS-7.4",
        Same,
        "swarm secrets in use, as information",
    ),
    row(
        "7.6",
        "CIS-7.5",
        Same,
        "auto-lock, from the swarm's specification",
    ),
    row(
        "7.7",
        "CIS-7.6",
        Same,
        "unlock-key rotation, as information",
    ),
    row(
        "7.8",
        "CIS-7.7",
        Better,
        "node certificates valid for more than 90 days; docker-bench passes only an expiry of exactly two days",
    ),
    row("7.9", "CIS-7.8", Same, "CA rotation, as information"),
    row(
        "7.10",
        "CIS-7.9",
        Same,
        "one address for management and data, as information",
    ),
];

/// The table as docs/audit.md shows it.
pub fn markdown() -> String {
    let mut out =
        String::from("| docker-bench | stackctl | verdict | how |\n| --- | --- | --- | --- |\n");
    for row in ROWS {
        out.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            row.bench,
            row.ours.unwrap_or("-"),
            row.verdict.as_str(),
            row.why
        ));
    }
    out
}
