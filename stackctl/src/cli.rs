//! The command line: one clap-derive tree, whose doc comments are the `--help`.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// Runs the ShopDotCom stack on Docker's host network: validates
/// `compose.yaml`, builds every image locally (no registry needed), and
/// starts the services hardened.
#[derive(Debug, Parser)]
#[command(name = "stackctl", version, max_term_width = 100)]
pub struct Cli {
    /// The Compose file to read.
    #[arg(short = 'f', long = "file", env = "STACKCTL_FILE", default_value = crate::compose::DEFAULT_FILE, global = true)]
    pub file: PathBuf,

    /// The project name, which prefixes container and volume names
    /// (default: from the Compose file).
    #[arg(short = 'p', long, env = "COMPOSE_PROJECT_NAME", global = true)]
    pub project_name: Option<String>,

    #[command(subcommand)]
    pub command: Command,
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
}

/// Output formats of `config`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Yaml,
    Json,
}
