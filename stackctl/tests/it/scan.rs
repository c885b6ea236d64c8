//! `stackctl scan` on fixtures only: an advisory database made here that
//! flags a crate version our Cargo.lock has, matched against what the API's
//! image really carries (cargo-auditable's list, read from its layers), and
//! the database image's dpkg status against a security suite made here with
//! a newer version of one of its packages. No test reads today's real
//! advisories or the network.

use std::path::Path;

use stackctl::audit::Severity;
use stackctl::image::BuildOptions;
use stackctl::progress::Progress;
use stackctl::scan::{self, DebianSource, ScanOptions, debian, rust};
use stackctl::testbed::Testbed;

/// The version of `name` in the workspace's Cargo.lock.
fn locked(name: &str) -> String {
    let lock = rustsec::Lockfile::load(Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.lock"))
        .expect("Cargo.lock");
    lock.packages
        .iter()
        .find(|p| p.name.as_str() == name)
        .unwrap_or_else(|| panic!("{name} is in Cargo.lock"))
        .version
        .to_string()
}

/// An advisory that every version of `name` below `next_major.0.0` has.
fn advisory(dir: &Path, id: &str, name: &str, version: &str) {
    let major: u64 = version.split('.').next().unwrap().parse().unwrap();
    let crate_dir = dir.join("crates").join(name);
    std::fs::create_dir_all(&crate_dir).unwrap();
    std::fs::write(
        crate_dir.join(format!("{id}.md")),
        format!(
            "```toml\n[advisory]\nid = \"{id}\"\npackage = \"{name}\"\ndate = \"2099-01-02\"\naliases = [\"CVE-2099-0001\"]\ncvss = \"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H\"\n\n[versions]\npatched = [\">= {}.0.0\"]\n```\n\n# Fixture advisory for {name}\n\nMade by the test.\n",
            major + 1
        ),
    )
    .unwrap();
}

fn empty_suite() -> debian::Suite {
    debian::Suite {
        uri: "fixture".to_owned(),
        name: "bookworm-security".to_owned(),
        date: "Mon, 01 Jan 2099 00:00:00 UTC".to_owned(),
        entries: Vec::new(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_images_are_judged_on_what_they_contain_against_fixture_databases() -> anyhow::Result<()>
{
    let bed = Testbed::new("scan").await?;
    let services = vec!["api".to_owned(), "db".to_owned()];
    stackctl::image::build(
        &bed.docker,
        bed.project(),
        &services,
        &BuildOptions::default(),
        &Progress::plain(),
    )
    .await?;

    // serde_json is in the API's binary; hdrhistogram is in the lock (the
    // bench's) but not in the API: only the first may be reported.
    let db = tempfile::tempdir()?;
    advisory(
        db.path(),
        "RUSTSEC-2099-0001",
        "serde_json",
        &locked("serde_json"),
    );
    advisory(
        db.path(),
        "RUSTSEC-2099-0002",
        "hdrhistogram",
        &locked("hdrhistogram"),
    );

    // The database image's base-files, one revision behind the fixture suite.
    let db_image = stackctl::image::image_name(bed.project(), "db", bed.project().service("db")?);
    let fs = stackctl::image::layers::ImageFs::export(&bed.docker, &db_image).await?;
    let status = String::from_utf8(
        fs.read_file("/var/lib/dpkg/status")?
            .expect("a dpkg status"),
    )?;
    let installed = debian::installed(&status);
    let base_files = installed
        .iter()
        .find(|p| p.name == "base-files")
        .expect("base-files is installed");
    let newer = format!("{}+fixture1", base_files.version);
    let index = format!(
        "Package: base-files\nVersion: {newer}\nArchitecture: {}\nFilename: pool/b/base-files.deb\nSize: 1\n",
        base_files.architecture
    );
    let suite = debian::Suite {
        entries: debian::index(&index),
        ..empty_suite()
    };

    let report = scan::scan(
        &bed.docker,
        bed.project(),
        ScanOptions {
            services,
            advisory_db: Some(db.path().to_owned()),
            debian: DebianSource::Given(suite),
        },
    )
    .await?;

    let api: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.service == "api")
        .collect();
    assert_eq!(api.len(), 1, "{api:#?}\nnotes: {:#?}", report.notes);
    assert_eq!(api[0].id, "RUSTSEC-2099-0001");
    assert_eq!(api[0].package, "serde_json");
    assert_eq!(api[0].installed, locked("serde_json"));
    assert_eq!(api[0].severity, Severity::Critical, "CVSS 9.8");
    assert_eq!(api[0].component, "/usr/local/bin/api");
    let scanned = report.scanned.iter().find(|s| s.service == "api").unwrap();
    assert!(
        scanned
            .contents
            .iter()
            .any(|c| c.contains("cargo-auditable")),
        "{scanned:?}"
    );

    let deb: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.service == "db")
        .collect();
    assert_eq!(deb.len(), 1, "{deb:#?}");
    assert_eq!(deb[0].id, "debian:base-files");
    assert_eq!(deb[0].installed, base_files.version);
    assert_eq!(deb[0].fixed, newer);
    assert_eq!(deb[0].severity, Severity::Medium);
    assert!(
        report.sources.iter().any(|s| s.date.contains("2099-01-02")),
        "{:?}",
        report.sources
    );
    assert!(report.failing(Severity::Medium).count() == 2);

    // The three renderings carry the findings.
    let mut text = Vec::new();
    scan::render::human(&report, Some(Severity::Medium), &mut text)?;
    let text = String::from_utf8(text)?;
    assert!(
        text.contains("RUSTSEC-2099-0001") && text.contains("result: FAILED"),
        "{text}"
    );
    let mut sarif = Vec::new();
    scan::render::sarif(&report, &mut sarif)?;
    let sarif: serde_json::Value = serde_json::from_slice(&sarif)?;
    assert_eq!(
        sarif["runs"][0]["results"].as_array().map(Vec::len),
        Some(2)
    );
    let mut json = Vec::new();
    scan::render::json(&report, Some(Severity::Critical), &mut json)?;
    let json: serde_json::Value = serde_json::from_slice(&json)?;
    assert_eq!(json["summary"]["passed"], false);
    Ok(())
}

#[test]
fn an_advisory_database_that_cannot_be_fetched_names_advisory_db() {
    let dir = tempfile::tempdir().unwrap();
    let Err(err) = rust::fetch_into("file:///nonexistent/advisory-db", &dir.path().join("db"))
    else {
        panic!("fetched from nowhere")
    };
    let text = format!("{err:#}");
    assert!(
        text.contains("cannot fetch the RustSec advisory database"),
        "{text}"
    );
    assert!(text.contains("--advisory-db"), "{text}");
}

#[test]
fn a_directory_that_is_no_advisory_database_is_refused() {
    let empty = tempfile::tempdir().unwrap();
    std::fs::create_dir(empty.path().join("crates")).unwrap();
    let Err(err) = rust::open(empty.path()) else {
        panic!("an empty database would pass everything")
    };
    assert!(
        format!("{err:#}").contains("holds no advisories"),
        "{err:#}"
    );
    let dir = tempfile::tempdir().unwrap();
    let Err(err) = rust::open(dir.path()) else {
        panic!("an empty directory is no database")
    };
    assert!(format!("{err:#}").contains("not a RustSec advisory database"));
}

#[test]
fn an_ignore_without_a_reason_or_an_expiry_date_is_an_error_with_its_line() {
    for (entry, complaint) in [
        (
            "{id: RUSTSEC-2099-0001, expires: 2099-01-01}",
            "gives no reason",
        ),
        ("{id: RUSTSEC-2099-0001, reason: accepted}", "expiry date"),
        (
            "{id: RUSTSEC-2099-0001, reason: accepted, expires: 31/12/2099}",
            "`31/12/2099`",
        ),
    ] {
        let text = format!(
            "services:\n  app:\n    image: x@sha256:0000000000000000000000000000000000000000000000000000000000000000\nx-stackctl:\n  scan:\n    ignore:\n      - {entry}\n"
        );
        let project =
            stackctl::compose::Project::parse_for_audit(&text, Path::new("compose.yaml"), &|_| {
                None
            })
            .unwrap_or_else(|e| panic!("{e}"));
        let err = scan::ignore::load(&project).unwrap_err().to_string();
        assert!(err.contains("compose.yaml:7"), "{err}");
        assert!(err.contains(complaint), "{complaint}: {err}");
    }
}
