//! Build contexts as deterministic tar archives: the same files always give
//! the same bytes, so a hash of the archive tells whether an image is stale
//! without asking the engine to build anything.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use sha2::{Digest, Sha256};

/// One entry of a build context.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    File { mode: u32, content: Vec<u8> },
    Dir { mode: u32 },
}

/// A build context assembled in memory.
#[derive(Debug, Default, Clone)]
pub struct Context {
    entries: BTreeMap<PathBuf, Entry>,
}

impl Context {
    /// Reads a context directory, leaving out what its `.dockerignore` excludes.
    pub fn from_dir(dir: &Path) -> anyhow::Result<Context> {
        let ignore = DockerIgnore::read(dir);
        let mut context = Context::default();
        let mut pending = vec![dir.to_owned()];
        while let Some(current) = pending.pop() {
            let listing = std::fs::read_dir(&current).with_context(|| {
                format!("cannot read build context directory {}", current.display())
            })?;
            for entry in listing {
                let path = entry?.path();
                let relative = path.strip_prefix(dir)?.to_owned();
                if ignore.excludes(&relative) {
                    continue;
                }
                let meta = std::fs::metadata(&path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                let mode = std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o7777;
                if meta.is_dir() {
                    context.entries.insert(relative, Entry::Dir { mode });
                    pending.push(path);
                } else {
                    let content = std::fs::read(&path)
                        .with_context(|| format!("cannot read {}", path.display()))?;
                    context
                        .entries
                        .insert(relative, Entry::File { mode, content });
                }
            }
        }
        Ok(context)
    }

    /// Adds a file (and its parent directories) at `path` inside the context.
    pub fn add_file(&mut self, path: impl Into<PathBuf>, content: Vec<u8>, mode: u32) {
        let path = path.into();
        let mut parent = path.parent();
        while let Some(dir) = parent.filter(|d| !d.as_os_str().is_empty()) {
            self.entries
                .entry(dir.to_owned())
                .or_insert(Entry::Dir { mode: 0o755 });
            parent = dir.parent();
        }
        self.entries.insert(path, Entry::File { mode, content });
    }

    /// Adds a directory with the given mode.
    pub fn add_dir(&mut self, path: impl Into<PathBuf>, mode: u32) {
        self.entries.insert(path.into(), Entry::Dir { mode });
    }

    /// True when the context holds `path`.
    pub fn contains(&self, path: &Path) -> bool {
        self.entries.contains_key(path)
    }

    /// The context as a tar archive: sorted, owned by root, time zero.
    pub fn to_tar(&self) -> anyhow::Result<Vec<u8>> {
        let mut builder = tar::Builder::new(Vec::new());
        for (path, entry) in &self.entries {
            let mut header = tar::Header::new_gnu();
            header.set_uid(0);
            header.set_gid(0);
            header.set_mtime(0);
            match entry {
                Entry::Dir { mode } => {
                    header.set_entry_type(tar::EntryType::Directory);
                    header.set_mode(*mode);
                    header.set_size(0);
                    builder.append_data(&mut header, path, std::io::empty())?;
                }
                Entry::File { mode, content } => {
                    header.set_entry_type(tar::EntryType::Regular);
                    header.set_mode(*mode);
                    header.set_size(content.len() as u64);
                    builder.append_data(&mut header, path, content.as_slice())?;
                }
            }
        }
        Ok(builder.into_inner()?)
    }
}

/// A hex SHA-256 over several parts, each length-prefixed so parts cannot
/// run into each other.
pub fn fingerprint<'a>(parts: impl IntoIterator<Item = &'a [u8]>) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    hex::encode(hasher.finalize())
}

/// The patterns of a `.dockerignore`: `*`, `?` and `**` globs, `!` to
/// re-include, the last matching pattern winning, as Docker does.
#[derive(Debug, Default)]
struct DockerIgnore {
    patterns: Vec<(bool, Vec<String>)>,
}

impl DockerIgnore {
    fn read(dir: &Path) -> Self {
        let text = std::fs::read_to_string(dir.join(".dockerignore")).unwrap_or_default();
        Self::parse(&text)
    }

    fn parse(text: &str) -> Self {
        let patterns = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|line| {
                let (include, pattern) = match line.strip_prefix('!') {
                    Some(p) => (true, p),
                    None => (false, line),
                };
                let parts = pattern
                    .trim_start_matches("./")
                    .trim_matches('/')
                    .split('/')
                    .filter(|p| !p.is_empty())
                    .map(str::to_owned)
                    .collect();
                (include, parts)
            })
            .collect();
        DockerIgnore { patterns }
    }

    /// True when `path` (relative to the context) is excluded. A pattern
    /// matching a directory excludes everything below it.
    fn excludes(&self, path: &Path) -> bool {
        let parts: Vec<String> = path
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        let mut excluded = false;
        for (include, pattern) in &self.patterns {
            let matches = (1..=parts.len()).any(|n| glob_parts(pattern, &parts[..n]));
            if matches {
                excluded = !include;
            }
        }
        excluded
    }
}

/// Matches path components against pattern components (`**` spans any number).
fn glob_parts(pattern: &[String], parts: &[String]) -> bool {
    match (pattern.first(), parts.first()) {
        (None, None) => true,
        (Some(p), _) if p == "**" => {
            glob_parts(&pattern[1..], parts)
                || (!parts.is_empty() && glob_parts(pattern, &parts[1..]))
        }
        (Some(p), Some(part)) => {
            glob_one(p.as_bytes(), part.as_bytes()) && glob_parts(&pattern[1..], &parts[1..])
        }
        _ => false,
    }
}

/// Matches one path component against `*` and `?` wildcards.
fn glob_one(pattern: &[u8], text: &[u8]) -> bool {
    match (pattern.first(), text.first()) {
        (None, None) => true,
        (Some(b'*'), _) => {
            glob_one(&pattern[1..], text) || (!text.is_empty() && glob_one(pattern, &text[1..]))
        }
        (Some(b'?'), Some(_)) => glob_one(&pattern[1..], &text[1..]),
        (Some(p), Some(t)) if p == t => glob_one(&pattern[1..], &text[1..]),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_files_give_the_same_archive() {
        let mut a = Context::default();
        a.add_file("rootfs/usr/local/bin/api", b"binary".to_vec(), 0o755);
        a.add_file("Dockerfile", b"FROM scratch".to_vec(), 0o644);
        let mut b = Context::default();
        b.add_file("Dockerfile", b"FROM scratch".to_vec(), 0o644);
        b.add_file("rootfs/usr/local/bin/api", b"binary".to_vec(), 0o755);
        assert_eq!(a.to_tar().unwrap(), b.to_tar().unwrap());
        assert!(
            a.contains(Path::new("rootfs/usr/local")),
            "parent directories are added"
        );
    }

    #[test]
    fn a_changed_file_changes_the_fingerprint() {
        let one = fingerprint([b"Dockerfile".as_slice(), b"a"]);
        let two = fingerprint([b"Dockerfile".as_slice(), b"b"]);
        let joined = fingerprint([b"Dockerfilea".as_slice()]);
        assert_ne!(one, two);
        assert_ne!(one, joined);
    }

    #[test]
    fn dockerignore_excludes_and_reincludes() {
        let ignore = DockerIgnore::parse("# build output\ntarget\n*.log\n**/secret*\n!keep.log\n");
        assert!(ignore.excludes(Path::new("target/release/api")));
        assert!(ignore.excludes(Path::new("debug.log")));
        assert!(ignore.excludes(Path::new("a/b/secret.txt")));
        assert!(!ignore.excludes(Path::new("keep.log")));
        assert!(!ignore.excludes(Path::new("src/main.rs")));
    }
}
