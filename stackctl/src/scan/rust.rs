//! The Rust side of `stackctl scan`: the dependency list a binary in the
//! image carries (embedded by cargo-auditable when `stackctl build`
//! compiled it; read back with the `rustsec` crate, the library behind
//! cargo-audit) against the RustSec advisory database, from a local copy
//! (`--advisory-db PATH`) or fetched into stackctl's cache with git.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, bail};
use rustsec::binary_scanning::{BinaryReport, load_deps_from_binary};
use rustsec::{Database, Lockfile};

/// Where the database is cloned from by default.
pub const ADVISORY_DB_URL: &str = "https://github.com/rustsec/advisory-db.git";

/// The advisory database and where it came from.
pub struct AdvisoryDb {
    pub db: Database,
    pub path: PathBuf,
    /// The date of its newest commit, else of its newest advisory.
    pub date: String,
    pub advisories: usize,
}

/// Opens the database at `path` (a checkout of rustsec/advisory-db, or any
/// directory of `crates/NAME/RUSTSEC-*.md` files).
pub fn open(path: &Path) -> anyhow::Result<AdvisoryDb> {
    if !path.join("crates").is_dir() {
        bail!(
            "{} is not a RustSec advisory database (it has no crates/ directory)\n  fix: pass a checkout of {ADVISORY_DB_URL}",
            path.display()
        );
    }
    let db = Database::open(path)
        .with_context(|| format!("cannot read the advisory database at {}", path.display()))?;
    if db.iter().next().is_none() {
        // An empty database would pass every image: refuse it.
        bail!(
            "the advisory database at {} holds no advisories, so it could vouch for nothing\n  fix: pass a checkout of {ADVISORY_DB_URL}",
            path.display()
        );
    }
    let commit = Command::new("git")
        .args(["-C"])
        .arg(path)
        .args(["log", "-1", "--format=%cI"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .filter(|d| !d.is_empty());
    let date = match commit {
        Some(date) => format!("{date} (last commit)"),
        None => db
            .iter()
            .map(|a| a.metadata.date.as_str().to_owned())
            .max()
            .map(|d| format!("{d} (newest advisory; not a git checkout)"))
            .unwrap_or_else(|| "unknown (no advisories)".to_owned()),
    };
    Ok(AdvisoryDb {
        advisories: db.iter().count(),
        db,
        path: path.to_owned(),
        date,
    })
}

/// stackctl's copy of the database: `$XDG_CACHE_HOME/stackctl/advisory-db`
/// (else `~/.cache/...`).
pub fn cache_dir() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".stackctl"));
    base.join("stackctl").join("advisory-db")
}

/// Fetches (clones, or fast-forwards) the database into [`cache_dir`] with
/// git, and opens it. When it cannot be fetched the error names
/// `--advisory-db` and any local copy it knows of.
pub fn fetch() -> anyhow::Result<AdvisoryDb> {
    fetch_into(ADVISORY_DB_URL, &cache_dir())
}

/// [`fetch`] from `url` into `dir`.
pub fn fetch_into(url: &str, dir: &Path) -> anyhow::Result<AdvisoryDb> {
    let dir = dir.to_owned();
    let run = |command: &mut Command| -> Result<(), String> {
        let output = command
            .env("GIT_TERMINAL_PROMPT", "0")
            .output()
            .map_err(|e| format!("cannot run git: {e}"))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&output.stderr).trim().to_owned())
        }
    };
    let fetched = if dir.join(".git").is_dir() {
        run(Command::new("git").arg("-C").arg(&dir).args([
            "pull",
            "--ff-only",
            "--depth",
            "1",
            "-q",
        ]))
    } else {
        if let Some(parent) = dir.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        run(Command::new("timeout")
            .args(["120", "git", "clone", "-q", "--depth", "1", url])
            .arg(&dir))
    };
    if let Err(why) = fetched {
        let mut known = Vec::new();
        for candidate in [
            dir.clone(),
            std::env::var_os("HOME")
                .map(|h| PathBuf::from(h).join(".cargo/advisory-db"))
                .unwrap_or_default(),
        ] {
            if candidate.join("crates").is_dir() {
                known.push(candidate.display().to_string());
            }
        }
        let hint = if known.is_empty() {
            format!("pass --advisory-db PATH to a local checkout of {ADVISORY_DB_URL}")
        } else {
            format!(
                "pass --advisory-db {} (an older copy on this host) or another checkout of {ADVISORY_DB_URL}",
                known[0]
            )
        };
        bail!("cannot fetch the RustSec advisory database from {url}: {why}\n  fix: {hint}");
    }
    open(&dir)
}

/// What a binary says about its dependencies.
pub enum Deps {
    /// The full list cargo-auditable embedded.
    Complete(Lockfile),
    /// Only the crates its panic messages name: cargo-auditable was not used.
    Partial(Lockfile),
    /// No Rust dependency information at all.
    None,
}

/// Reads the dependency list of a binary's bytes.
pub fn deps(binary: &[u8]) -> anyhow::Result<Deps> {
    let (_, report) = load_deps_from_binary(binary, None)
        .map_err(|e| anyhow::anyhow!("cannot read its dependency list: {e}"))?;
    Ok(match report {
        BinaryReport::Complete(lock) => Deps::Complete(lock),
        BinaryReport::Incomplete(lock) => Deps::Partial(lock),
        BinaryReport::None => Deps::None,
    })
}

/// Whether the bytes carry cargo-auditable's section (cheap: its name).
pub fn has_audit_section(binary: &[u8]) -> bool {
    binary.starts_with(b"\x7fELF") && binary.windows(8).any(|w| w == b".dep-v0\0")
}

/// One advisory that applies to a crate in the list.
#[derive(Debug, Clone)]
pub struct Hit {
    pub id: String,
    pub aliases: Vec<String>,
    pub package: String,
    pub version: String,
    pub title: String,
    pub date: String,
    /// `vulnerability`, `unsound`, `unmaintained`, `notice`.
    pub kind: String,
    /// CVSS severity when the advisory has a score.
    pub cvss: Option<String>,
    pub patched: Vec<String>,
    pub url: Option<String>,
}

/// Every advisory of `db` that applies to `lock`: vulnerabilities and the
/// informational ones (unsound, unmaintained), withdrawn ones left out.
pub fn hits(db: &Database, lock: &Lockfile) -> Vec<Hit> {
    let query = rustsec::database::Query::crate_scope().informational(true);
    let mut all = db.query_vulnerabilities(lock, &query);
    all.extend(db.vulnerabilities(lock));
    let mut out: Vec<Hit> = Vec::new();
    for v in all {
        let id = v.advisory.id.to_string();
        if v.advisory.withdrawn.is_some()
            || out
                .iter()
                .any(|h| h.id == id && h.version == v.package.version.to_string())
        {
            continue;
        }
        out.push(Hit {
            aliases: v.advisory.aliases.iter().map(ToString::to_string).collect(),
            package: v.package.name.to_string(),
            version: v.package.version.to_string(),
            title: v.advisory.title.clone(),
            date: v.advisory.date.as_str().to_owned(),
            kind: v
                .advisory
                .informational
                .as_ref()
                .map(|i| i.as_str().to_owned())
                .unwrap_or_else(|| "vulnerability".to_owned()),
            cvss: v.advisory.cvss.as_ref().map(|c| c.severity().to_string()),
            patched: v
                .versions
                .patched()
                .iter()
                .map(ToString::to_string)
                .collect(),
            url: v.advisory.url.as_ref().map(ToString::to_string),
            id,
        });
    }
    out.sort_by(|a, b| (&a.package, &a.id).cmp(&(&b.package, &b.id)));
    out
}
