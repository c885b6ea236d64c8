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
    },
    /// Measure host networking against the bridge and a plain process.
    ///
    /// Runs a small probe server (1-byte echo, sink, source) and the real API
    /// four ways: as a plain process (native), in a container on the host
    /// network (host), in a container on the default bridge reached through a
    /// port published on 127.0.0.1 (bridge-proxy: Docker's userland proxy),
    /// and that same container at its bridge address (bridge-ip). Measures
    /// 1-byte TCP round trips (HdrHistogram: p50, p90, p99, p99.9, mean),
    /// HTTP GET /healthz on the API (requests/s and latency) and bulk TCP
    /// transfer (Gbit/s, one stream and several, upload and download). Each
    /// round measures every path in the same order; the table gives medians
    /// over the rounds, their spread and the ratio to native, beside the
    /// seed's figures. Traffic goes only to loopback and to the bench's own
    /// containers. Everything it starts is removed at the end, also on
    /// Ctrl-C. Progress goes to stderr, the result to stdout. Builds the
    /// images it needs first (cached); a full run takes about five minutes,
    /// `--quick` under one.
    Bench(BenchArgs),
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

/// The options of `stackctl bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// A short run: 3 rounds, 20,000 round trips, sub-second loads.
    #[arg(long)]
    pub quick: bool,
    /// Rounds (default: 5, or 3 with --quick).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=50))]
    pub rounds: Option<u64>,
    /// Recorded 1-byte round trips per path per round (default: 50,000,
    /// or 20,000 with --quick); fewer give unsteady high percentiles.
    #[arg(long, value_parser = clap::value_parser!(u64).range(100..=10_000_000))]
    pub round_trips: Option<u64>,
    /// Measured seconds of each HTTP load and each bulk transfer
    /// (default: 3 and 2, or 0.75 and 0.4 with --quick).
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
