//! The Debian side of `stackctl scan`: the packages installed in an image
//! (its dpkg database, read from the layers) against the security suite of
//! its release, found through the host's apt configuration: which installed
//! packages have a newer version in `bookworm-security`, since when (the
//! date of that version's changelog entry) and which CVEs the changelog
//! names between the installed version and it.
//!
//! Parsing and comparing are pure functions over text, so tests use fixture
//! files; [`fetch`] is the one place that talks to the mirror (plain HTTP,
//! as apt does, with the index's signature checked by `gpgv` against
//! Debian's keyring and every file checked against its SHA-256).

use std::collections::BTreeMap;
use std::io::Read as _;

use anyhow::{Context as _, bail};
use sha2::Digest as _;

use super::debversion;

/// One deb822 paragraph (`Package: ...`), keys as written.
pub type Paragraph = BTreeMap<String, String>;

/// Splits a deb822 file (dpkg status, Packages, Release) into paragraphs;
/// continuation lines join their field with a newline.
pub fn paragraphs(text: &str) -> Vec<Paragraph> {
    let mut out = Vec::new();
    let mut current = Paragraph::new();
    let mut last: Option<String> = None;
    for line in text.lines() {
        if line.trim().is_empty() {
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
            last = None;
        } else if line.starts_with([' ', '\t']) {
            if let Some(key) = &last
                && let Some(value) = current.get_mut(key)
            {
                value.push('\n');
                value.push_str(line.trim());
            }
        } else if let Some((key, value)) = line.split_once(':') {
            current.insert(key.to_owned(), value.trim().to_owned());
            last = Some(key.to_owned());
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// A binary package as dpkg or an index has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    pub name: String,
    pub version: String,
    pub architecture: String,
    /// The source package (the package itself when not given).
    pub source: String,
}

impl Package {
    fn from(p: &Paragraph) -> Option<Package> {
        let name = p.get("Package")?.clone();
        let (source, _) = match p.get("Source") {
            Some(s) => s
                .split_once(' ')
                .map(|(n, v)| (n.to_owned(), Some(v.to_owned())))
                .unwrap_or((s.clone(), None)),
            None => (name.clone(), None),
        };
        Some(Package {
            version: p.get("Version")?.clone(),
            architecture: p.get("Architecture").cloned().unwrap_or_default(),
            source,
            name,
        })
    }
}

/// The packages dpkg's status file says are installed.
pub fn installed(status: &str) -> Vec<Package> {
    paragraphs(status)
        .iter()
        .filter(|p| {
            p.get("Status")
                .is_some_and(|s| s.split_whitespace().last() == Some("installed"))
        })
        .filter_map(Package::from)
        .collect()
}

/// An entry of the security suite's index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    pub package: Package,
    /// Path of the `.deb` below the mirror's URI.
    pub filename: String,
    pub size: u64,
    pub sha256: String,
}

/// A `Packages` index.
pub fn index(text: &str) -> Vec<IndexEntry> {
    paragraphs(text)
        .iter()
        .filter_map(|p| {
            Some(IndexEntry {
                package: Package::from(p)?,
                filename: p.get("Filename")?.clone(),
                size: p.get("Size").and_then(|s| s.parse().ok()).unwrap_or(0),
                sha256: p.get("SHA256").cloned().unwrap_or_default(),
            })
        })
        .collect()
}

/// An installed package with a newer version in the security suite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outdated {
    pub installed: Package,
    /// The newest version the suite has for it.
    pub fixed: IndexEntry,
}

/// Every installed package the index has a newer version of (same name,
/// same architecture or `all`).
pub fn outdated(installed: &[Package], index: &[IndexEntry]) -> Vec<Outdated> {
    let mut newest: BTreeMap<(&str, &str), &IndexEntry> = BTreeMap::new();
    for entry in index {
        let key = (
            entry.package.name.as_str(),
            entry.package.architecture.as_str(),
        );
        match newest.get(&key) {
            Some(have)
                if debversion::compare(&have.package.version, &entry.package.version).is_ge() => {}
            _ => {
                newest.insert(key, entry);
            }
        }
    }
    installed
        .iter()
        .filter_map(|p| {
            let entry = newest
                .get(&(p.name.as_str(), p.architecture.as_str()))
                .or_else(|| newest.get(&(p.name.as_str(), "all")))?;
            debversion::compare(&entry.package.version, &p.version)
                .is_gt()
                .then(|| Outdated {
                    installed: p.clone(),
                    fixed: (*entry).clone(),
                })
        })
        .collect()
}

/// What a package's changelog says between two versions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangelogFacts {
    /// The date of the newest entry (`Thu, 20 Jun 2024 12:00:00 +0000`).
    pub since: Option<String>,
    /// CVE ids named in the entries newer than the installed version.
    pub cves: Vec<String>,
}

/// Reads a Debian changelog's entries newer than `installed`.
pub fn changelog_since(text: &str, installed: &str) -> ChangelogFacts {
    let mut facts = ChangelogFacts::default();
    let mut newer = false;
    for line in text.lines() {
        if !line.starts_with([' ', '\t']) && line.contains(" (") && line.contains(')') {
            let version = line
                .split_once(" (")
                .and_then(|(_, rest)| rest.split_once(')'))
                .map(|(v, _)| v)
                .unwrap_or_default();
            newer = debversion::compare(version, installed).is_gt();
            if !newer {
                break;
            }
        } else if newer {
            if let Some(date) = line.strip_prefix(" -- ") {
                if facts.since.is_none() {
                    facts.since = date.split_once("  ").map(|(_, d)| d.trim().to_owned());
                }
            } else {
                for word in line.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-')) {
                    if word.starts_with("CVE-")
                        && word.len() > 9
                        && !facts.cves.iter().any(|c| c == word)
                    {
                        facts.cves.push(word.to_owned());
                    }
                }
            }
        }
    }
    facts
}

/// The changelog of `package` inside a `.deb` (an `ar` archive whose
/// `data.tar.*` holds `usr/share/doc/PACKAGE/changelog.Debian.gz`).
pub fn changelog_from_deb(deb: &[u8], package: &str) -> anyhow::Result<Option<String>> {
    let Some(rest) = deb.strip_prefix(b"!<arch>\n") else {
        bail!("not a .deb (no ar header)");
    };
    let mut at = 0;
    while at + 60 <= rest.len() {
        let header = &rest[at..at + 60];
        let name = String::from_utf8_lossy(&header[..16])
            .trim()
            .trim_end_matches('/')
            .to_owned();
        let size: usize = String::from_utf8_lossy(&header[48..58])
            .trim()
            .parse()
            .context("a bad ar member size")?;
        let body = rest
            .get(at + 60..at + 60 + size)
            .context("a truncated .deb")?;
        at += 60 + size + (size % 2);
        if !name.starts_with("data.tar") {
            continue;
        }
        let mut tar_bytes = Vec::new();
        match name.as_str() {
            "data.tar.xz" => {
                lzma_rs::xz_decompress(&mut std::io::Cursor::new(body), &mut tar_bytes)
                    .map_err(|e| anyhow::anyhow!("data.tar.xz: {e:?}"))?
            }
            "data.tar.gz" => {
                flate2::read::GzDecoder::new(body).read_to_end(&mut tar_bytes)?;
            }
            "data.tar" => tar_bytes.extend_from_slice(body),
            other => bail!("{other}: a compression stackctl does not read"),
        }
        // A native package (apt) has only `changelog.gz`.
        let wanted = [
            format!("usr/share/doc/{package}/changelog.Debian.gz"),
            format!("usr/share/doc/{package}/changelog.gz"),
        ];
        let mut archive = tar::Archive::new(tar_bytes.as_slice());
        for entry in archive.entries()? {
            let mut entry = entry?;
            let path = entry
                .path()?
                .to_string_lossy()
                .trim_start_matches("./")
                .to_owned();
            if wanted.contains(&path) && entry.header().entry_type().is_file() {
                let mut text = String::new();
                flate2::read::GzDecoder::new(&mut entry).read_to_string(&mut text)?;
                return Ok(Some(text));
            }
        }
        return Ok(None);
    }
    bail!("the .deb has no data.tar member")
}

/// The security suite of a release, fetched and verified.
#[derive(Debug, Clone)]
pub struct Suite {
    /// The mirror's URI (`http://deb.debian.org/debian-security`).
    pub uri: String,
    /// `bookworm-security`.
    pub name: String,
    /// The index's `Date:`.
    pub date: String,
    pub entries: Vec<IndexEntry>,
}

/// The suite `codename-security` of the host's apt configuration, if any.
pub fn security_source(codename: &str) -> Option<(String, String)> {
    let suite = format!("{codename}-security");
    crate::image::apt::host_sources(std::path::Path::new("/"))
        .into_iter()
        .find(|s| s.suites.iter().any(|x| x == &suite))
        .map(|s| (s.uri.trim_end_matches('/').to_owned(), suite))
}

/// The keyrings apt trusts for Debian's archive.
const KEYRINGS: &[&str] = &[
    "/usr/share/keyrings/debian-archive-keyring.gpg",
    "/etc/apt/trusted.gpg",
];

async fn get(client: &reqwest::Client, url: &str) -> anyhow::Result<Vec<u8>> {
    let response = client
        .get(url)
        .send()
        .await
        .with_context(|| format!("GET {url}"))?;
    if !response.status().is_success() {
        bail!("GET {url}: {}", response.status());
    }
    Ok(response
        .bytes()
        .await
        .with_context(|| format!("GET {url}"))?
        .to_vec())
}

/// A client for the mirror (plain HTTP, as apt's `http://` sources).
pub fn client() -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(120))
        .build()
        .context("cannot make an HTTP client")
}

/// Fetches `uri/dists/suite/InRelease`, checks its signature with `gpgv`
/// against Debian's keyrings, then the `main` index for `arch`, checked
/// against the SHA-256 the signed file gives.
pub async fn fetch(
    client: &reqwest::Client,
    uri: &str,
    suite: &str,
    arch: &str,
) -> anyhow::Result<Suite> {
    if uri.starts_with("https://") {
        bail!(
            "{uri} is an https:// source, and stackctl speaks plain HTTP only (apt checks the index's signature, as stackctl does)\n  fix: use an http:// mirror in the host's apt configuration"
        );
    }
    let release = get(client, &format!("{uri}/dists/{suite}/InRelease")).await?;
    verify_signature(&release).with_context(|| format!("{uri}/dists/{suite}/InRelease"))?;
    let text = String::from_utf8_lossy(&release).into_owned();
    let fields = paragraphs(signed_body(&text));
    let head = fields.first().context("InRelease has no fields")?;
    let date = head.get("Date").cloned().unwrap_or_default();
    let components: Vec<&str> = head
        .get("Components")
        .map(|c| c.split_whitespace().collect())
        .unwrap_or_default();
    // debian-security names its components `updates/main`.
    let main = components
        .iter()
        .find(|c| c.ends_with("main"))
        .copied()
        .unwrap_or("main");
    let short = main.rsplit('/').next().unwrap_or(main);
    let wanted = format!("{short}/binary-{arch}/Packages.xz");
    let hashes = head
        .get("SHA256")
        .context("InRelease lists no SHA256 sums")?;
    let sha = hashes
        .lines()
        .find_map(|l| {
            let mut words = l.split_whitespace();
            let (sum, _, path) = (words.next()?, words.next()?, words.next()?);
            (path == wanted).then(|| sum.to_owned())
        })
        .with_context(|| format!("InRelease does not list {wanted}"))?;
    let packed = get(client, &format!("{uri}/dists/{suite}/{wanted}")).await?;
    if hex::encode(sha2::Sha256::digest(&packed)) != sha {
        bail!("{wanted}: its SHA-256 does not match the signed InRelease");
    }
    let mut plain = Vec::new();
    lzma_rs::xz_decompress(&mut std::io::Cursor::new(packed), &mut plain)
        .map_err(|e| anyhow::anyhow!("{wanted}: {e:?}"))?;
    Ok(Suite {
        uri: uri.to_owned(),
        name: suite.to_owned(),
        date,
        entries: index(&String::from_utf8_lossy(&plain)),
    })
}

/// The signed text of a clearsigned message.
fn signed_body(text: &str) -> &str {
    let start = text.find("\n\n").map(|i| i + 2).unwrap_or(0);
    let end = text
        .find("-----BEGIN PGP SIGNATURE-----")
        .unwrap_or(text.len());
    &text[start..end]
}

fn verify_signature(signed: &[u8]) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut file = tempfile::NamedTempFile::new()?;
    file.write_all(signed)?;
    let mut command = std::process::Command::new("gpgv");
    for keyring in KEYRINGS.iter().filter(|k| std::path::Path::new(k).exists()) {
        command.args(["--keyring", keyring]);
    }
    let output = command
        .arg(file.path())
        .output()
        .context("cannot run `gpgv` to check the index's signature (Debian package gpgv)")?;
    if !output.status.success() {
        bail!(
            "its signature does not verify against Debian's keyring: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

/// Downloads a `.deb` of the suite and checks its SHA-256.
pub async fn fetch_deb(
    client: &reqwest::Client,
    uri: &str,
    entry: &IndexEntry,
) -> anyhow::Result<Vec<u8>> {
    let deb = get(client, &format!("{uri}/{}", entry.filename)).await?;
    if !entry.sha256.is_empty() && hex::encode(sha2::Sha256::digest(&deb)) != entry.sha256 {
        bail!("{}: its SHA-256 does not match the index", entry.filename);
    }
    Ok(deb)
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &str = "Package: libssl3\nStatus: install ok installed\nArchitecture: amd64\nSource: openssl\nVersion: 3.0.15-1~deb12u1\nDescription: x\n more\n\nPackage: gone\nStatus: deinstall ok config-files\nArchitecture: amd64\nVersion: 1.0\n\nPackage: tzdata\nStatus: install ok installed\nArchitecture: all\nVersion: 2024a-0+deb12u1\n";
    const INDEX: &str = "Package: libssl3\nSource: openssl\nVersion: 3.0.17-1~deb12u2\nArchitecture: amd64\nFilename: pool/updates/main/o/openssl/libssl3_3.0.17-1~deb12u2_amd64.deb\nSize: 10\nSHA256: ab\n\nPackage: libssl3\nSource: openssl\nVersion: 3.0.16-1~deb12u1\nArchitecture: amd64\nFilename: old.deb\nSize: 10\n\nPackage: tzdata\nVersion: 2024a-0+deb12u1\nArchitecture: all\nFilename: t.deb\nSize: 1\n\nPackage: gone\nVersion: 2.0\nArchitecture: amd64\nFilename: g.deb\nSize: 1\n";

    #[test]
    fn an_installed_package_older_than_the_suites_is_outdated() {
        let found = outdated(&installed(STATUS), &index(INDEX));
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].installed.name, "libssl3");
        assert_eq!(found[0].installed.source, "openssl");
        assert_eq!(found[0].fixed.package.version, "3.0.17-1~deb12u2");
    }

    #[test]
    fn the_changelog_gives_the_date_and_the_cves_since_the_installed_version() {
        let text = "openssl (3.0.17-1~deb12u2) bookworm-security; urgency=medium\n\n  * Fix CVE-2025-9230, CVE-2025-9232.\n\n -- Sebastian <s@example.org>  Tue, 30 Sep 2025 19:54:35 +0200\n\nopenssl (3.0.16-1~deb12u1) bookworm; urgency=medium\n\n  * CVE-2024-13176\n\n -- Sebastian <s@example.org>  Sat, 15 Feb 2025 10:00:00 +0100\n\nopenssl (3.0.15-1~deb12u1) bookworm; urgency=medium\n\n  * CVE-2024-0001\n\n -- S <s@example.org>  Mon, 01 Jan 2024 00:00:00 +0000\n";
        let facts = changelog_since(text, "3.0.15-1~deb12u1");
        assert_eq!(
            facts.since.as_deref(),
            Some("Tue, 30 Sep 2025 19:54:35 +0200")
        );
        assert_eq!(
            facts.cves,
            ["CVE-2025-9230", "CVE-2025-9232", "CVE-2024-13176"]
        );
    }
}
