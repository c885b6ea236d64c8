//! The Debian mirror to bootstrap from, read from the host's own apt
//! configuration (one-line `.list` files and deb822 `.sources` files), so no
//! mirror is ever hard-coded and a host behind its own mirror keeps using it.

use std::path::Path;

/// One `deb` source of the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AptSource {
    pub uri: String,
    pub suites: Vec<String>,
    pub components: Vec<String>,
}

/// Debian's release code names; a source serving one of them is a Debian mirror.
const DEBIAN_SUITES: &[&str] = &[
    "buster", "bullseye", "bookworm", "trixie", "forky", "duke", "sid", "stable", "testing",
    "unstable",
];

/// Maps a Debian version number used as an image tag to its code name.
pub fn suite_for_tag(tag: &str) -> Option<&'static str> {
    let tag = tag.strip_suffix("-slim").unwrap_or(tag);
    Some(match tag {
        "10" | "buster" => "buster",
        "11" | "bullseye" => "bullseye",
        "12" | "bookworm" => "bookworm",
        "13" | "trixie" => "trixie",
        "14" | "forky" => "forky",
        "sid" | "unstable" => "sid",
        _ => return None,
    })
}

/// Reads every enabled `deb` source under `root` (normally `/`).
pub fn host_sources(root: &Path) -> Vec<AptSource> {
    let mut sources = Vec::new();
    let etc = root.join("etc/apt");
    if let Ok(text) = std::fs::read_to_string(etc.join("sources.list")) {
        sources.extend(parse_one_line(&text));
    }
    let mut parts: Vec<_> = std::fs::read_dir(etc.join("sources.list.d"))
        .map(|dir| dir.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    parts.sort();
    for path in parts {
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        match path.extension().and_then(|e| e.to_str()) {
            Some("list") => sources.extend(parse_one_line(&text)),
            Some("sources") => sources.extend(parse_deb822(&text)),
            _ => {}
        }
    }
    sources
}

/// Parses `deb [options] URI SUITE COMPONENT...` lines.
pub fn parse_one_line(text: &str) -> Vec<AptSource> {
    text.lines()
        .filter_map(|line| {
            let line = line.split('#').next()?.trim();
            let rest = line.strip_prefix("deb ")?.trim_start();
            // Skip `[arch=amd64 signed-by=...]`.
            let rest = match rest.strip_prefix('[') {
                Some(after) => after.split_once(']')?.1.trim_start(),
                None => rest,
            };
            let mut words = rest.split_whitespace();
            let uri = words.next()?.to_owned();
            let suite = words.next()?.to_owned();
            Some(AptSource {
                uri,
                suites: vec![suite],
                components: words.map(str::to_owned).collect(),
            })
        })
        .collect()
}

/// Parses deb822 stanzas (`Types:`, `URIs:`, `Suites:`, `Components:`).
pub fn parse_deb822(text: &str) -> Vec<AptSource> {
    let mut sources = Vec::new();
    for stanza in text.split("\n\n") {
        let field = |name: &str| -> Vec<String> {
            stanza
                .lines()
                .filter(|l| !l.trim_start().starts_with('#'))
                .find_map(|l| {
                    let (key, value) = l.split_once(':')?;
                    key.trim()
                        .eq_ignore_ascii_case(name)
                        .then(|| value.split_whitespace().map(str::to_owned).collect())
                })
                .unwrap_or_default()
        };
        let enabled = field("Enabled")
            .first()
            .is_none_or(|v| !v.eq_ignore_ascii_case("no"));
        if !enabled || !field("Types").iter().any(|t| t == "deb") {
            continue;
        }
        for uri in field("URIs") {
            sources.push(AptSource {
                uri,
                suites: field("Suites"),
                components: field("Components"),
            });
        }
    }
    sources
}

/// The host's Debian mirror: the first source that serves a Debian release
/// and is not the security archive.
pub fn debian_mirror(sources: &[AptSource]) -> Option<&AptSource> {
    sources.iter().find(|s| {
        !s.uri.contains("security")
            && s.suites
                .iter()
                .any(|suite| DEBIAN_SUITES.contains(&suite.as_str()))
    })
}

/// The host's Debian security archive, if it has one.
fn security_archive(sources: &[AptSource]) -> Option<&AptSource> {
    sources
        .iter()
        .find(|s| s.suites.iter().any(|suite| suite.ends_with("-security")))
}

/// `sources.list` for an image of `suite`: the release and its updates from
/// `mirror`, and security updates from the host's security archive if known.
pub fn image_sources_list(mirror: &str, suite: &str, host: &[AptSource]) -> String {
    let mut list = format!("deb {mirror} {suite} main\ndeb {mirror} {suite}-updates main\n");
    if let Some(security) = security_archive(host) {
        list.push_str(&format!("deb {} {suite}-security main\n", security.uri));
    }
    list
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deb822_sources_yield_the_debian_mirror_and_skip_security() {
        let text = "Types: deb\n# http://snapshot.debian.org/archive/debian/20250520T000000Z\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\nComponents: main\n\nTypes: deb\nURIs: http://deb.debian.org/debian-security\nSuites: bookworm-security\nComponents: main\n";
        let sources = parse_deb822(text);
        assert_eq!(sources.len(), 2);
        assert_eq!(
            debian_mirror(&sources).unwrap().uri,
            "http://deb.debian.org/debian"
        );
        let list = image_sources_list("http://m/debian", "bookworm", &sources);
        assert!(list.contains("deb http://deb.debian.org/debian-security bookworm-security main"));
    }

    #[test]
    fn one_line_sources_skip_options_comments_and_deb_src() {
        let text = "# comment\ndeb-src http://src/debian bookworm main\ndeb [arch=amd64 signed-by=/k.gpg] http://mirror.example/debian bookworm main contrib\n";
        let sources = parse_one_line(text);
        assert_eq!(sources.len(), 1);
        assert_eq!(sources[0].uri, "http://mirror.example/debian");
        assert_eq!(sources[0].components, ["main", "contrib"]);
    }

    #[test]
    fn a_non_debian_host_has_no_debian_mirror() {
        let sources = parse_one_line("deb http://archive.ubuntu.com/ubuntu jammy main\n");
        assert!(debian_mirror(&sources).is_none());
    }

    #[test]
    fn disabled_stanzas_are_skipped() {
        let sources =
            parse_deb822("Types: deb\nEnabled: no\nURIs: http://x/debian\nSuites: bookworm\n");
        assert!(sources.is_empty());
    }

    #[test]
    fn image_tags_map_to_suites() {
        assert_eq!(suite_for_tag("bookworm"), Some("bookworm"));
        assert_eq!(suite_for_tag("12-slim"), Some("bookworm"));
        assert_eq!(suite_for_tag("latest"), None);
    }
}
