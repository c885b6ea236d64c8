//! The command line: one clap-derive tree, whose doc comments are the `--help`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Runs the ShopDotCom stack on Docker's host network: validates
/// `compose.yaml`, builds every image locally (no registry needed), and
/// starts the services hardened.
#[derive(Debug, Parser)]
#[command(name = "stackctl", version, max_term_width = 100)]
pub struct Cli {
    /// The Compose file to read (before the subcommand, as with docker compose).
    #[arg(short = 'f', long = "file", env = "STACKCTL_FILE", default_value = crate::compose::DEFAULT_FILE)]
    pub file: PathBuf,

    /// The project name, which prefixes container and volume names
    /// (default: from the Compose file).
    #[arg(short = 'p', long, env = "COMPOSE_PROJECT_NAME", global = true, value_parser = project_name)]
    pub project_name: Option<String>,

    #[command(subcommand)]
    pub command: Command,
}

/// `-p` and `COMPOSE_PROJECT_NAME`: Compose's rule, checked as given.
fn project_name(name: &str) -> Result<String, String> {
    crate::compose::check_project_name(name)
        .map(|()| name.to_owned())
        .map_err(|problem| problem.to_string())
}

/// `logs --tail`: `all` or a number of lines, as the engine takes it.
fn tail_lines(tail: &str) -> Result<String, String> {
    if tail == "all" || tail.parse::<u64>().is_ok() {
        Ok(tail.to_owned())
    } else {
        Err(format!(
            "`{tail}` is not a number of lines; give `all` or a whole number such as 100"
        ))
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate the Compose file and print the normalized model.
    ///
    /// Every short form is written in its long form (`depends_on` lists become
    /// conditions, sizes become bytes, durations are canonical), so what you
    /// see is exactly what stackctl will act on.
    Config {
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Yaml)]
        format: Format,
    },
    /// Build the images of the stack locally.
    ///
    /// Base images are used when present, pulled when a registry answers, and
    /// otherwise made from Debian's packages with debootstrap (as root).
    /// Workspace binaries are compiled on the host and staged with their
    /// shared libraries into shell-less images. An image whose inputs did not
    /// change is not rebuilt.
    Build {
        /// The services to build (default: every service with `build`).
        services: Vec<String>,
        /// The Debian mirror for debootstrap (default: the first Debian
        /// mirror in this host's apt configuration).
        #[arg(long, env = "STACKCTL_DEBIAN_MIRROR")]
        mirror: Option<String>,
        /// Rebuild even images that are up to date.
        #[arg(long)]
        force: bool,
    },
    /// Build what is stale and start the stack on the host network, hardened.
    ///
    /// Checks first that the firewall can be installed (root, iptables) and
    /// that no other process holds a service's port; then builds, verifies
    /// the image pins, creates volumes and the per-service firewall, and
    /// starts each service once its dependencies meet their `depends_on`
    /// conditions. Running an unchanged stack again changes nothing; a
    /// changed service is recreated alone. Ends with where to reach each
    /// service.
    Up {
        /// The services to start, with what they depend on (default: all).
        services: Vec<String>,
        /// Run without the per-service egress firewall (for hosts without
        /// root or iptables). Every service may then connect anywhere.
        #[arg(long)]
        no_firewall: bool,
        /// Seconds to wait for each dependency condition and for health.
        #[arg(long, default_value_t = 120)]
        timeout: u64,
        /// The Debian mirror for debootstrap, if a base image must be made.
        #[arg(long, env = "STACKCTL_DEBIAN_MIRROR")]
        mirror: Option<String>,
        /// Output format of the final report (progress always goes to stderr).
        #[arg(long, value_enum, default_value_t = TableFormat::Table)]
        format: TableFormat,
    },
    /// Stop and remove the stack's containers and its firewall rules.
    ///
    /// Each container gets SIGTERM and its `stop_grace_period` (default 10 s)
    /// before SIGKILL. Volumes, and so the data, are kept unless `-v` is given.
    Down {
        /// Remove the project's volumes too (the database's data is lost).
        #[arg(short = 'v', long)]
        volumes: bool,
    },
    /// Show each service's container, state, health and address.
    Ps {
        /// Output format.
        #[arg(long, value_enum, default_value_t = TableFormat::Table)]
        format: TableFormat,
    },
    /// Show the services' logs, each line prefixed by its service.
    Logs {
        /// The services (default: all).
        services: Vec<String>,
        /// Keep following new lines until Ctrl-C.
        #[arg(short, long)]
        follow: bool,
        /// Lines from the end of each log to start with (`all` for everything).
        #[arg(long, default_value = "all", value_parser = tail_lines)]
        tail: String,
    },
    /// Pin the services' current image IDs (after a deliberate change).
    ///
    /// `up` refuses to start an image whose ID differs from its pin in
    /// `.stackctl/PROJECT/images.lock`; this records the IDs as they are now.
    Lock {
        /// The services to pin (default: all).
        services: Vec<String>,
    },
    /// Check the stack against the CIS Docker Benchmark and host-network pitfalls.
    ///
    /// Reads any Compose file, also one `up` would refuse, and judges each
    /// service on the CIS Docker Benchmark v1.6.0 container checks (4.1, 4.6,
    /// 5.2 to 5.32) and on the pitfalls of the host network: published ports
    /// the engine discards, 0.0.0.0 binds of services that do not declare
    /// `x-stackctl.lan`, empty notebook or admin tokens, plaintext protocols,
    /// databases beyond loopback, ports below 1024, the Docker socket, no
    /// egress policy. With `--live` it judges the running containers instead:
    /// the engine's inspect data, and the sockets listening in the host's
    /// network namespace compared with `x-stackctl.listen`. A deliberate risk
    /// is accepted in `x-stackctl.accept` with a reason; it is still
    /// reported, with the compensating controls found in place. Exits
    /// non-zero when an open finding reaches `--fail-on`.
    Audit {
        /// Audit the project's running containers instead of the file alone.
        #[arg(long)]
        live: bool,
        /// Also audit the host: the daemon's configuration, its files and
        /// sockets, the services' images (history, environment, setuid and
        /// setgid files in their layers), swarm mode and exec sessions (CIS
        /// sections 1 to 4, 5.1, 5.19, 5.23, 5.24, 5.30 and 7). Without
        /// root, what cannot be read is a note, never a pass.
        #[arg(long)]
        host: bool,
        /// Output format: for people, JSON, or SARIF 2.1.0 for code scanning.
        #[arg(long, value_enum, default_value_t = AuditFormat::Human)]
        format: AuditFormat,
        /// Fail when an open (not accepted) finding is at least this severe.
        #[arg(long, value_enum, default_value_t = FailOn::Medium)]
        fail_on: FailOn,
        /// List the checks and the controls an acceptance can rely on, and exit.
        #[arg(long)]
        list_checks: bool,
    },
    /// Scan the stack's images for known vulnerabilities.
    ///
    /// Reads each service's image from the engine (its layers, nothing is
    /// run): the Rust binaries' embedded dependency lists (cargo-auditable,
    /// which `stackctl build` uses) against the RustSec advisory database,
    /// and the installed Debian packages against the security suite of the
    /// image's release from the host's apt configuration (which packages have
    /// a newer version there, since when, and the CVEs its changelog names).
    /// `x-stackctl.scan.ignore` leaves a finding in place with a reason until
    /// an expiry date. Exits non-zero when an open finding reaches `--fail-on`.
    Scan {
        /// The services whose images to scan (default: all).
        services: Vec<String>,
        /// A local RustSec advisory database (a checkout of
        /// rustsec/advisory-db); without it the database is fetched with git
        /// into ~/.cache/stackctl/advisory-db.
        #[arg(long, value_name = "PATH", env = "STACKCTL_ADVISORY_DB")]
        advisory_db: Option<PathBuf>,
        /// Output format: for people, JSON, or SARIF 2.1.0.
        #[arg(long, value_enum, default_value_t = AuditFormat::Human)]
        format: AuditFormat,
        /// Fail when an open (not ignored) finding is at least this severe.
        #[arg(long, value_enum, default_value_t = FailOn::Medium)]
        fail_on: FailOn,
    },
    /// Check what host networking changes, on the running stack.
    ///
    /// Reachability: each service answers over localhost from the host, and
    /// each reaches its upstream over localhost, as its own process reports
    /// it. Isolation: a LAN client in a network namespace made for the check
    /// (10.213.0.0/16, removed afterwards) reaches only what binds every
    /// address, and the firewall refuses each service's uid what its egress
    /// policy does not allow. Hardening: capabilities, no-new-privileges,
    /// read-only root, user and limits as the engine and the kernel report
    /// them. Exits non-zero when a claim fails; the isolation checks need
    /// root and are skipped (and say so) without it.
    Verify {
        /// Output format.
        #[arg(long, value_enum, default_value_t = TableFormat::Table)]
        format: TableFormat,
        /// Judge the stack deployed to the swarm (`stackctl swarm deploy`)
        /// by its task containers on this node, with the firewall agent's
        /// rules, and show the losses `stackctl export swarm` accepts as
        /// ACCEPTED.
        #[arg(long)]
        swarm: bool,
    },
    /// Measure host networking against the bridge and a plain process.
    ///
    /// Measures host networking beside the physical limit, the bridge, the
    /// alternatives the guide lists and two more (ipvlan, a shared network
    /// namespace): a small probe server (1-byte echo,
    /// sink, source) and the real API, each reached as a plain process
    /// (native), on the host network (host), on the default bridge through
    /// a port published on 127.0.0.1 (bridge-proxy) and at the container's
    /// address (bridge-ip), through a published port that iptables DNAT
    /// serves instead of the userland proxy (published-dnat), on macvlan and
    /// ipvlan L2 networks on a parent link the bench makes (from a LAN
    /// namespace on that parent), on an overlay network of a single-node
    /// swarm, through HAProxy (haproxy), through an OpenSSH tunnel
    /// (ssh-tunnel) and from inside the server's own network namespace
    /// (shared-netns); each from the host and, where it applies, from a
    /// client container (service to service). Measures 1-byte TCP round
    /// trips (p50, p90, p99, p99.9, mean), HTTP GET /healthz on the API
    /// (requests/s and latency) and bulk TCP transfer (Gbit/s). Client and
    /// servers are pinned to separate CPUs where the machine allows; every
    /// round measures the routes in a new random order; each route's ratio
    /// to native comes with a 95% bootstrap interval over the rounds and a
    /// verdict (faster, slower, or no difference the run can resolve),
    /// beside the guide's table (host vs bridge). An isolation matrix,
    /// measured on the running servers, says for each path whether a LAN
    /// client reaches it, whether another container reaches it over
    /// localhost, whether it holds a host port, and what `audit --live`
    /// says. A path that cannot run here is skipped with the reason.
    /// Traffic goes only to loopback, the bench's own containers and the
    /// namespaces and links it makes. Everything it makes is removed at the
    /// end, also on Ctrl-C. Progress goes to stderr, the result to stdout.
    /// Builds the images it needs first (cached); a full run of every path
    /// takes about twenty minutes, `--quick` a few.
    Bench(BenchArgs),
    /// Export the stack to an orchestrator, with a fidelity report.
    ///
    /// For every key of every service the report says what it became on the
    /// target, or that the target cannot express it, with compose.yaml's
    /// line. The export fails closed: it exits non-zero, and writes nothing,
    /// while any loss is not accepted in `x-stackctl.accept` with
    /// compensating controls that are in place (as the audit judges them).
    #[command(subcommand)]
    Export(ExportTarget),
    /// Run the stack on a Docker Swarm (the engine must be a manager).
    ///
    /// The stack is `stackctl export swarm`'s, deployed through the Engine
    /// API: every service on the host network, in global mode on the nodes
    /// labelled for it, from the pinned image IDs, with the firewall agent
    /// on each node. The stack's name is the project name (`-p`).
    #[command(subcommand)]
    Swarm(SwarmCommand),
    /// The firewall agent's own commands, run inside its image.
    #[command(subcommand, hide = true)]
    Agent(AgentCommand),
    /// One TCP connection attempt, reported by exit status: 0 connected, 10
    /// refused, 11 timed out, 12 another error. `verify` runs it as each
    /// service's uid and gid, since the firewall keys on the socket's owner.
    #[command(name = "connect-as", hide = true)]
    ConnectAs {
        /// Where to connect, e.g. `127.0.0.1:3306`.
        addr: std::net::SocketAddr,
        /// How long the attempt may take, in milliseconds.
        #[arg(long, default_value_t = 2000)]
        timeout_ms: u64,
    },
}

/// The targets of `stackctl export`.
#[derive(Debug, Subcommand)]
pub enum ExportTarget {
    /// A stack file for `docker stack deploy`, and what each key became.
    ///
    /// Every service goes on the external network `host`, with no `ports`;
    /// user, read-only root, capabilities, init, health check, grace period,
    /// ulimits and allowed sysctls as written; limits under
    /// `deploy.resources`; `restart` as `deploy.restart_policy`; `tmpfs` in
    /// the long volume form; secrets as Swarm secrets owned by the
    /// service's user, mode 0400. Services that talk over 127.0.0.1 run in
    /// global mode on the nodes that carry their group's label, so they
    /// share a node and never run twice on one. Images are referenced by
    /// their pinned IDs (built first if stale). The stack file goes to
    /// `-o FILE` (the report then to stdout) or to stdout (the report to
    /// stderr).
    Swarm(ExportSwarmArgs),
    /// Kubernetes manifests for `kubectl apply`, and what each key became.
    ///
    /// For Kubernetes 1.29 or newer (the schemas of 1.29, 1.33 and 1.37
    /// accept every document). One multi-document YAML: a Namespace whose
    /// Pod Security enforces `privileged` (host networking needs it) and
    /// warns and audits at `restricted`; the services that talk over
    /// 127.0.0.1 as ONE Pod (a Deployment, or a DaemonSet for `deploy.mode:
    /// global`), because only a pod keeps them on one node for as long as
    /// they run, with the services others depend on started first as
    /// native sidecars gated by their startup probes; `hostNetwork`,
    /// `dnsPolicy: ClusterFirstWithHostNet`, each listen port as hostPort ==
    /// containerPort, at most one pod per node; every Restricted field
    /// (runAsNonRoot, runAsUser/runAsGroup from `user`, no privilege
    /// escalation, capabilities dropped, seccomp RuntimeDefault), a
    /// read-only root, memory-backed emptyDirs for `tmpfs`, requests and
    /// limits, exec probes from the health check (startup, readiness,
    /// liveness); named volumes as ReadWriteOncePod claims with a
    /// `Recreate` rollout (one writer); Secrets referenced by name, never
    /// written with their values unless `--include-secret-values`; and the
    /// `firewall-agent` DaemonSet, our own agent on every node, which
    /// installs the per-uid egress rules NetworkPolicy cannot apply to
    /// host-network pods. Images are referenced by name with
    /// `imagePullPolicy: Never` (load them on each node; nothing is
    /// pulled). Reads no Docker engine unless `--build`. The manifests go to
    /// `-o FILE` (the report then to stdout) or to stdout (the report to
    /// stderr).
    Kubernetes(ExportKubernetesArgs),
}

/// The options of `stackctl export kubernetes`.
#[derive(Debug, Args)]
pub struct ExportKubernetesArgs {
    /// Write the manifests here instead of stdout.
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// The fidelity report's format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Human)]
    pub format: ReportFormat,
    /// The namespace (default: the project name).
    #[arg(long, value_name = "NAME")]
    pub namespace: Option<String>,
    /// The size a named volume's claim requests, as `VOLUME=SIZE` in
    /// Kubernetes' units (`db-data=10Gi`); repeat for several. Default 1Gi.
    #[arg(long = "volume-size", value_name = "VOLUME=SIZE", value_parser = volume_size)]
    pub volume_sizes: Vec<(String, String)>,
    /// Build what is stale first: the services' images and the firewall
    /// agent's, so `docker save` finds every image the manifests name.
    /// Without it the export reads no Docker engine.
    #[arg(long)]
    pub build: bool,
    /// The Debian mirror for debootstrap, if a base image must be made (with --build).
    #[arg(long, env = "STACKCTL_DEBIAN_MIRROR", requires = "build")]
    pub mirror: Option<String>,
    /// Write the Secrets WITH their values (read from the secrets' files),
    /// instead of only referencing them. The output then holds credentials:
    /// a file written with `-o` is made readable by its owner only.
    #[arg(long)]
    pub include_secret_values: bool,
}

/// `--volume-size VOLUME=SIZE`: a Kubernetes quantity of bytes.
fn volume_size(text: &str) -> Result<(String, String), String> {
    let (name, size) = text
        .split_once('=')
        .ok_or_else(|| format!("`{text}` is not VOLUME=SIZE; write e.g. `db-data=10Gi`"))?;
    let digits = size.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = &size[digits.len()..];
    let units = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "k", "M", "G", "T", "P"];
    if name.is_empty()
        || digits.is_empty()
        || digits.parse::<u64>().is_err()
        || !units.contains(&unit)
    {
        return Err(format!(
            "`{text}` is not VOLUME=SIZE with a size in Kubernetes' units; write e.g. `db-data=10Gi` (Ki, Mi, Gi, Ti or k, M, G, T)"
        ));
    }
    Ok((name.to_owned(), size.to_owned()))
}

/// The options of `stackctl export swarm`.
#[derive(Debug, Args)]
pub struct ExportSwarmArgs {
    /// Write the stack file here instead of stdout.
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// The fidelity report's format.
    #[arg(long, value_enum, default_value_t = ReportFormat::Human)]
    pub format: ReportFormat,
    /// The Debian mirror for debootstrap, if a base image must be made.
    #[arg(long, env = "STACKCTL_DEBIAN_MIRROR")]
    pub mirror: Option<String>,
}

/// Output formats of reports (`export`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    Human,
    Json,
}

/// `stackctl swarm ...`, after `docker stack`'s verbs.
#[derive(Debug, Subcommand)]
pub enum SwarmCommand {
    /// Deploy (or update) the stack and wait until every task is healthy.
    ///
    /// Refuses an engine that is not a swarm manager. Labels the nodes
    /// (`--node`, default: this one) with the stack's co-location labels,
    /// creates the secrets and services in `depends_on` order, each after
    /// its dependencies are healthy on every node, and checks that every
    /// task runs the pinned image ID. A node that lacks an image is named,
    /// with the command that carries the images there.
    Deploy {
        /// The nodes (hostname or ID) to run the stack on; default: this node.
        #[arg(long = "node", value_name = "NODE")]
        nodes: Vec<String>,
        /// Seconds to wait for each service's tasks to be healthy.
        #[arg(long, default_value_t = 180)]
        timeout: u64,
        /// The Debian mirror for debootstrap, if a base image must be made.
        #[arg(long, env = "STACKCTL_DEBIAN_MIRROR")]
        mirror: Option<String>,
    },
    /// Each task of the stack: node, state, health and image.
    Ps {
        /// Output format.
        #[arg(long, value_enum, default_value_t = TableFormat::Table)]
        format: TableFormat,
    },
    /// The services' logs, each line prefixed by service and node.
    Logs {
        /// The services (default: all).
        services: Vec<String>,
        /// Keep following new lines until Ctrl-C.
        #[arg(short, long)]
        follow: bool,
        /// Lines from the end of each log to start with (`all` for everything).
        #[arg(long, default_value = "all", value_parser = tail_lines)]
        tail: String,
    },
    /// Remove the stack: its services (the firewall agent removes its rules
    /// as it stops), secrets and node labels.
    Rm {
        /// Also remove the stack's volumes on this node (the data is lost).
        #[arg(short = 'v', long)]
        volumes: bool,
    },
    /// Save the stack's pinned images to a file for `docker load` on
    /// another node (there is no registry to pull them from).
    SaveImages {
        /// The tar file to write.
        #[arg(short = 'o', long, value_name = "FILE")]
        output: PathBuf,
    },
}

/// `stackctl agent ...`: what the firewall agent's image runs.
#[derive(Debug, Subcommand)]
pub enum AgentCommand {
    /// Install the policy from STACKCTL_AGENT_POLICY, keep it in place,
    /// remove it on SIGTERM.
    Firewall,
    /// Exit 0 only while the policy's rules are installed.
    Healthcheck,
}

/// The options of `stackctl bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// A short run: 3 rounds, 5,000 round trips, sub-second loads.
    #[arg(long)]
    pub quick: bool,
    /// The paths to measure, comma-separated (default: all): native, host,
    /// bridge-proxy, bridge-ip, published-dnat, macvlan, ipvlan-l2,
    /// overlay, haproxy, ssh-tunnel, shared-netns. Native is always
    /// measured: every ratio is to it.
    #[arg(long, value_delimiter = ',', value_parser = parse_path)]
    pub paths: Vec<crate::bench::paths::Path>,
    /// The seed of the random order of the routes in each round (the same
    /// seed gives the same orders).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Rounds (default: 15, or 3 with --quick).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=50))]
    pub rounds: Option<u64>,
    /// Recorded 1-byte round trips per route per round (default: 10,000,
    /// or 5,000 with --quick); fewer give unsteady high percentiles.
    #[arg(long, value_parser = clap::value_parser!(u64).range(100..=10_000_000))]
    pub round_trips: Option<u64>,
    /// Measured seconds of each HTTP load and each bulk transfer
    /// (default: 1 and 0.5, or 0.3 and 0.2 with --quick).
    #[arg(long)]
    pub seconds: Option<f64>,
    /// HTTP keep-alive connections.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub connections: u64,
    /// Parallel streams of the several-stream upload.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(2..=64))]
    pub streams: u64,
    /// Keep the servers this many seconds after measuring, with their
    /// addresses on stderr, to cross-check with other tools (sockperf,
    /// iperf3, wrk) against the same servers.
    #[arg(long, value_name = "SECONDS", default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=600))]
    pub hold: u64,
    /// Output format.
    #[arg(long, value_enum, default_value_t = TableFormat::Table)]
    pub format: TableFormat,
    /// Also write the result as an SVG chart to this file.
    #[arg(long, value_name = "PATH")]
    pub svg: Option<PathBuf>,
}

/// A `--paths` entry: a path's name, or an error listing the names.
fn parse_path(name: &str) -> Result<crate::bench::paths::Path, String> {
    use crate::bench::paths::Path;
    Path::from_name(name.trim()).ok_or_else(|| {
        format!(
            "no path `{name}`; the paths are {}",
            Path::ALL.map(Path::name).join(", ")
        )
    })
}

/// Output formats of `config`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Yaml,
    Json,
}

/// Output formats of `ps`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TableFormat {
    Table,
    Json,
}

/// Output formats of `audit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuditFormat {
    /// Grouped by service, with severity and the fix in one line.
    Human,
    Json,
    /// SARIF 2.1.0, for code-scanning views.
    Sarif,
}

/// The `--fail-on` threshold of `audit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    Info,
    Low,
    Medium,
    High,
    Critical,
    /// Never fail; only report.
    None,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_definition_is_consistent() {
        <Cli as clap::CommandFactory>::command().debug_assert();
    }

    fn parse(args: &[&str]) -> Result<Cli, String> {
        Cli::try_parse_from(std::iter::once("stackctl").chain(args.iter().copied()))
            .map_err(|err| err.to_string())
    }

    #[test]
    fn logs_tail_takes_all_or_a_number_of_lines() {
        for good in ["all", "0", "100"] {
            let cli = parse(&["logs", "--tail", good]).unwrap();
            let Command::Logs { tail, .. } = cli.command else {
                panic!("not logs")
            };
            assert_eq!(tail, good);
        }
        for bad in ["abc", "-5", "1.5", ""] {
            let err = parse(&["logs", &format!("--tail={bad}")]).unwrap_err();
            assert!(err.contains("give `all` or a whole number"), "{bad}: {err}");
        }
    }

    #[test]
    fn an_invalid_project_name_is_refused_not_lowercased() {
        let err = parse(&["-p", "Bad_Name", "ps"]).unwrap_err();
        assert!(
            err.contains("project name `Bad_Name` is not valid"),
            "{err}"
        );
        assert!(err.contains("lower case letters, digits"), "{err}");
        let cli = parse(&["-p", "good_name-2", "ps"]).unwrap();
        assert_eq!(cli.project_name.as_deref(), Some("good_name-2"));
    }
}
