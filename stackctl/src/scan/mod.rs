//! `stackctl scan`: known vulnerabilities in what the stack's images
//! contain, read from the images themselves (their layers, exported from the
//! engine): the Rust binaries' dependencies against the RustSec advisory
//! database ([`rust`]), and the Debian packages against the security suite
//! of their release reachable through the host's apt configuration
//! ([`debian`]). Findings use the audit's severities; ignores live in
//! `x-stackctl.scan.ignore` with a reason and an expiry date ([`ignore`]);
//! the report renders for people, as JSON or as SARIF ([`render`]).

pub mod debian;
pub mod debversion;
pub mod ignore;
pub mod render;
pub mod rust;

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Context as _;
use bollard::Docker;
use serde::Serialize;

use crate::audit::Severity;
use crate::compose::Project;
use crate::image::layers::ImageFs;

/// Where the Debian security suite comes from.
pub enum DebianSource {
    /// The host's apt configuration (`codename-security`), fetched now.
    HostApt,
    /// A suite given whole (tests; an offline copy), with no changelogs.
    Given(debian::Suite),
}

/// What `stackctl scan` was asked.
pub struct ScanOptions {
    /// The services to scan (default: all).
    pub services: Vec<String>,
    /// A local advisory database; `None` fetches it.
    pub advisory_db: Option<PathBuf>,
    pub debian: DebianSource,
}

/// An ignore that covers a finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ignored {
    pub reason: String,
    pub expires: String,
}

/// One known vulnerability in one image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// `RUSTSEC-2024-0421`, or `debian:openssl` for a Debian source package.
    pub id: String,
    /// CVE ids and other databases' ids for the same issue.
    pub aliases: Vec<String>,
    pub severity: Severity,
    pub service: String,
    pub image: String,
    /// Where in the image: the binary's path, or `dpkg`.
    pub component: String,
    /// The crate or the Debian binary packages.
    pub package: String,
    pub installed: String,
    /// The versions that fix it.
    pub fixed: String,
    pub title: String,
    /// Since when a fix is available (the fixed version's changelog date)
    /// or when the advisory was published.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ignored: Option<Ignored>,
}

impl Finding {
    pub fn is_open(&self) -> bool {
        self.ignored.is_none()
    }
}

/// What was scanned in one image.
#[derive(Debug, Clone, Serialize)]
pub struct Scanned {
    pub service: String,
    pub image: String,
    /// What was read: `2 Rust binaries (cargo-auditable)`, `312 Debian packages`.
    pub contents: Vec<String>,
}

/// A database the scan judged against.
#[derive(Debug, Clone, Serialize)]
pub struct Source {
    pub name: String,
    pub location: String,
    pub date: String,
}

/// Everything one scan found.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub project: String,
    pub sources: Vec<Source>,
    pub scanned: Vec<Scanned>,
    pub findings: Vec<Finding>,
    pub notes: Vec<String>,
}

impl Report {
    /// Open findings at or above `threshold`.
    pub fn failing(&self, threshold: Severity) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(move |f| f.is_open() && f.severity >= threshold)
    }
}

/// The image of each selected service, in file order.
fn images(project: &Project, services: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for (name, service) in &project.model.services {
        if !services.is_empty() && !services.contains(name) {
            continue;
        }
        out.push((
            name.clone(),
            crate::image::image_name(project, name, service),
        ));
    }
    for name in services {
        project.service(name)?;
    }
    Ok(out)
}

/// Scans the images of `project`'s services.
pub async fn scan(
    docker: &Docker,
    project: &Project,
    options: ScanOptions,
) -> anyhow::Result<Report> {
    let ignores = ignore::load(project)?;
    let db = match &options.advisory_db {
        Some(path) => rust::open(path)?,
        None => rust::fetch()?,
    };
    let mut report = Report {
        project: project.name.clone(),
        sources: vec![Source {
            name: "RustSec advisory database".to_owned(),
            location: db.path.display().to_string(),
            date: format!("{} ({} advisories)", db.date, db.advisories),
        }],
        scanned: Vec::new(),
        findings: Vec::new(),
        notes: Vec::new(),
    };
    let mut suites: BTreeMap<String, Result<debian::Suite, String>> = BTreeMap::new();
    if let DebianSource::Given(suite) = &options.debian {
        suites.insert(String::new(), Ok(suite.clone()));
    }
    let client = debian::client()?;
    for (service, image) in images(project, &options.services)? {
        let inspected = match docker.inspect_image(&image).await {
            Ok(inspected) => inspected,
            Err(err) if crate::engine::is_not_found(&err) => {
                report.notes.push(format!(
                    "`{service}`: its image {image} is not on this engine, so it was not scanned; build it (`stackctl build {service}`)"
                ));
                continue;
            }
            Err(err) => return Err(err).context(format!("cannot inspect {image}")),
        };
        let fs = ImageFs::export(docker, &image).await?;
        let entrypoint = inspected
            .config
            .as_ref()
            .and_then(|c| c.entrypoint.clone().or(c.cmd.clone()))
            .and_then(|e| e.first().cloned());
        let mut scanned = Scanned {
            service: service.clone(),
            image: image.clone(),
            contents: Vec::new(),
        };
        scan_rust(
            &fs,
            &db,
            entrypoint.as_deref(),
            &service,
            &image,
            &mut scanned,
            &mut report,
        )?;
        let arch = inspected
            .architecture
            .clone()
            .unwrap_or_else(|| "amd64".to_owned());
        scan_debian(
            &fs,
            &options.debian,
            &client,
            &mut suites,
            &arch,
            &service,
            &image,
            &mut scanned,
            &mut report,
        )
        .await?;
        if scanned.contents.is_empty() {
            scanned
                .contents
                .push("no Rust binary and no Debian package database".to_owned());
        }
        report.scanned.push(scanned);
    }
    for suite in suites.values().flatten() {
        report.sources.push(Source {
            name: format!("Debian {}", suite.name),
            location: suite.uri.clone(),
            date: suite.date.clone(),
        });
    }
    ignore::apply(&ignores, &mut report);
    report.findings.sort_by(|a, b| {
        (&a.service, std::cmp::Reverse(a.severity), &a.id).cmp(&(
            &b.service,
            std::cmp::Reverse(b.severity),
            &b.id,
        ))
    });
    Ok(report)
}

/// The largest executable read for a dependency list.
const BINARY_CAP: u64 = 128 * 1024 * 1024;

fn scan_rust(
    fs: &ImageFs,
    db: &rust::AdvisoryDb,
    entrypoint: Option<&str>,
    service: &str,
    image: &str,
    scanned: &mut Scanned,
    report: &mut Report,
) -> anyhow::Result<()> {
    let mut complete = 0;
    for (path, entry) in fs.entries() {
        if !entry.is_executable() || entry.size > BINARY_CAP || entry.size < 64 {
            continue;
        }
        let bytes = fs.content(entry)?;
        let is_entrypoint = entrypoint == Some(path.as_str());
        if !bytes.starts_with(b"\x7fELF") || (!rust::has_audit_section(&bytes) && !is_entrypoint) {
            continue;
        }
        let deps = match rust::deps(&bytes) {
            Ok(deps) => deps,
            Err(err) => {
                report.notes.push(format!(
                    "`{service}`: {path}: {err:#}; its Rust dependencies were not checked"
                ));
                continue;
            }
        };
        let lock = match deps {
            rust::Deps::Complete(lock) => {
                complete += 1;
                lock
            }
            rust::Deps::Partial(lock) => {
                report.notes.push(format!(
                    "`{service}`: {path} carries no embedded dependency list (not built with cargo-auditable); only the {} crate(s) its panic messages name were checked, so absent findings prove nothing for it: rebuild with `stackctl build --force {service}`",
                    lock.packages.len()
                ));
                lock
            }
            rust::Deps::None => continue,
        };
        for hit in rust::hits(&db.db, &lock) {
            report
                .findings
                .push(rust_finding(hit, service, image, &path));
        }
    }
    if complete > 0 {
        scanned.contents.push(format!(
            "{complete} Rust binar{} with cargo-auditable's dependency list",
            if complete == 1 { "y" } else { "ies" }
        ));
    }
    Ok(())
}

fn rust_finding(hit: rust::Hit, service: &str, image: &str, path: &str) -> Finding {
    let (severity, how) = match (hit.kind.as_str(), hit.cvss.as_deref()) {
        ("vulnerability", Some("critical")) => (Severity::Critical, "CVSS critical"),
        ("vulnerability", Some("high")) => (Severity::High, "CVSS high"),
        ("vulnerability", Some("medium")) => (Severity::Medium, "CVSS medium"),
        ("vulnerability", Some("low" | "none")) => (Severity::Low, "CVSS low"),
        ("vulnerability", _) => (Severity::Medium, "no CVSS score; medium by default"),
        ("unsound", _) => (Severity::Low, "unsound"),
        _ => (Severity::Info, "informational"),
    };
    Finding {
        title: format!("{} ({}, {how})", hit.title, hit.kind),
        id: hit.id,
        aliases: hit.aliases,
        severity,
        service: service.to_owned(),
        image: image.to_owned(),
        component: path.to_owned(),
        package: hit.package,
        installed: hit.version,
        fixed: if hit.patched.is_empty() {
            "no fixed version".to_owned()
        } else {
            hit.patched.join(" or ")
        },
        since: Some(format!("advisory of {}", hit.date)),
        url: hit.url,
        ignored: None,
    }
}

/// `VERSION_CODENAME` from the image's os-release.
fn codename(fs: &ImageFs) -> Option<String> {
    let text = fs
        .read_file("/etc/os-release")
        .ok()
        .flatten()
        .or_else(|| fs.read_file("/usr/lib/os-release").ok().flatten())?;
    String::from_utf8_lossy(&text).lines().find_map(|l| {
        l.strip_prefix("VERSION_CODENAME=")
            .map(|v| v.trim_matches('"').to_owned())
    })
}

#[allow(clippy::too_many_arguments)] // one image's scan state, threaded through once
async fn scan_debian(
    fs: &ImageFs,
    source: &DebianSource,
    client: &reqwest::Client,
    suites: &mut BTreeMap<String, Result<debian::Suite, String>>,
    arch: &str,
    service: &str,
    image: &str,
    scanned: &mut Scanned,
    report: &mut Report,
) -> anyhow::Result<()> {
    let Some(status) = fs.read_file("/var/lib/dpkg/status")? else {
        return Ok(());
    };
    let installed = debian::installed(&String::from_utf8_lossy(&status));
    scanned
        .contents
        .push(format!("{} Debian packages", installed.len()));
    let key = match source {
        DebianSource::Given(_) => String::new(),
        DebianSource::HostApt => {
            let Some(codename) = codename(fs) else {
                report.notes.push(format!(
                    "`{service}`: {image} has no VERSION_CODENAME in its os-release, so its Debian release (and security suite) is unknown: its packages were not checked"
                ));
                return Ok(());
            };
            let Some((uri, suite)) = debian::security_source(&codename) else {
                report.notes.push(format!(
                    "`{service}`: the host's apt configuration has no `{codename}-security` source, so {image}'s packages could not be checked\n  fix: add `{codename}-security` to /etc/apt/sources.list.d (as Debian's default debian.sources has it)"
                ));
                return Ok(());
            };
            let key = format!("{uri} {suite}");
            if !suites.contains_key(&key) {
                let fetched = debian::fetch(client, &uri, &suite, arch)
                    .await
                    .map_err(|e| format!("{e:#}"));
                suites.insert(key.clone(), fetched);
            }
            key
        }
    };
    let suite = match suites.get(&key) {
        Some(Ok(suite)) => suite.clone(),
        Some(Err(why)) => {
            report.notes.push(format!(
                "`{service}`: the security suite could not be read ({why}); {image}'s packages were not checked"
            ));
            return Ok(());
        }
        None => return Ok(()),
    };
    let mut by_source: BTreeMap<String, Vec<debian::Outdated>> = BTreeMap::new();
    for outdated in debian::outdated(&installed, &suite.entries) {
        by_source
            .entry(outdated.installed.source.clone())
            .or_default()
            .push(outdated);
    }
    for (source_name, list) in by_source {
        let oldest = list
            .iter()
            .map(|o| o.installed.version.as_str())
            .min_by(|a, b| debversion::compare(a, b))
            .unwrap_or_default()
            .to_owned();
        let fixed = list[0].fixed.package.version.clone();
        let changelog = match source {
            DebianSource::Given(_) => None,
            DebianSource::HostApt => {
                let smallest = list.iter().min_by_key(|o| o.fixed.size).expect("not empty");
                match debian::fetch_deb(client, &suite.uri, &smallest.fixed).await {
                    Ok(deb) => match debian::changelog_from_deb(&deb, &smallest.installed.name) {
                        Ok(Some(text)) => Some(debian::changelog_since(&text, &oldest)),
                        Ok(None) => None,
                        Err(err) => {
                            report.notes.push(format!(
                                "`{service}`: the changelog of {source_name} {fixed} could not be read ({err:#}); its date and CVEs are not shown"
                            ));
                            None
                        }
                    },
                    Err(err) => {
                        report.notes.push(format!(
                            "`{service}`: {} could not be fetched ({err:#}); the date and CVEs of {source_name} {fixed} are not shown",
                            smallest.fixed.filename
                        ));
                        None
                    }
                }
            }
        };
        let changelog = changelog.unwrap_or_default();
        let packages: Vec<String> = list.iter().map(|o| o.installed.name.clone()).collect();
        report.findings.push(Finding {
            id: format!("debian:{source_name}"),
            severity: Severity::Medium,
            service: service.to_owned(),
            image: image.to_owned(),
            component: "dpkg".to_owned(),
            package: packages.join(", "),
            installed: oldest,
            title: format!(
                "{} has a security update in {} that the image lacks{}",
                source_name,
                suite.name,
                if changelog.cves.is_empty() {
                    String::new()
                } else {
                    format!(" (fixes {})", changelog.cves.join(", "))
                }
            ),
            fixed,
            aliases: changelog.cves,
            since: changelog.since,
            url: Some(format!(
                "https://security-tracker.debian.org/tracker/source-package/{source_name}"
            )),
            ignored: None,
        });
    }
    Ok(())
}
