//! An image's root filesystem as its layers leave it, read from the engine's
//! export of the image (`GET /images/NAME/get`, what `docker save` writes)
//! without running anything in it: our service images have no shell, and a
//! scan must not execute what it inspects. The audit reads the modes
//! (setuid and setgid files, CIS 4.8); the scan reads the dpkg database and
//! the binaries.
//!
//! The export is spooled to an anonymous temporary file; the layers are then
//! applied in the manifest's order, whiteouts included, and only an index of
//! the final tree is kept in memory (file contents are read on demand).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};

use anyhow::{Context as _, bail};
use bollard::Docker;
use futures_util::StreamExt as _;

/// What kind of file an entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Symlink(String),
    /// A device, FIFO or socket.
    Other,
}

/// One path of the image's final filesystem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub kind: Kind,
    /// The permission bits with setuid, setgid and sticky (`0o4755`).
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub size: u64,
    /// Where the content lies: (spool, offset).
    content: Option<(usize, u64)>,
}

impl Entry {
    pub fn is_setuid(&self) -> bool {
        self.kind == Kind::File && self.mode & 0o4000 != 0
    }

    pub fn is_setgid(&self) -> bool {
        self.kind == Kind::File && self.mode & 0o2000 != 0
    }

    pub fn is_executable(&self) -> bool {
        self.kind == Kind::File && self.mode & 0o111 != 0
    }
}

/// The final filesystem of one image.
pub struct ImageFs {
    /// The export, and any layer that had to be decompressed.
    spools: Vec<File>,
    /// By absolute path without the leading `/` (`usr/bin/su`).
    entries: BTreeMap<String, Entry>,
}

/// The largest file `read_file` returns.
pub const READ_CAP: u64 = 256 * 1024 * 1024;

impl ImageFs {
    /// Exports `image` (a tag or an ID) from the engine and indexes it.
    pub async fn export(docker: &Docker, image: &str) -> anyhow::Result<ImageFs> {
        let mut spool = tempfile::tempfile().context("cannot create a temporary file")?;
        let mut stream = docker.export_image(image);
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.with_context(|| format!("cannot export image {image}"))?;
            spool
                .write_all(&chunk)
                .context("cannot spool the image export")?;
        }
        ImageFs::from_save(spool).with_context(|| format!("cannot read the layers of {image}"))
    }

    /// Indexes an image in `docker save` form (a tar of a `manifest.json`
    /// and the layers).
    pub fn from_save(mut spool: File) -> anyhow::Result<ImageFs> {
        spool.seek(SeekFrom::Start(0))?;
        let mut members: BTreeMap<String, (u64, u64)> = BTreeMap::new();
        let mut manifest = None;
        {
            let mut archive = tar::Archive::new(&mut spool);
            for entry in archive.entries()? {
                let mut entry = entry?;
                let name = entry.path()?.to_string_lossy().into_owned();
                if name == "manifest.json" {
                    let mut text = String::new();
                    entry.read_to_string(&mut text)?;
                    manifest = Some(text);
                } else {
                    members.insert(name, (entry.raw_file_position(), entry.size()));
                }
            }
        }
        let manifest = manifest.context("the export has no manifest.json")?;
        let manifest: Vec<serde_json::Value> =
            serde_json::from_str(&manifest).context("manifest.json is not valid JSON")?;
        let layers: Vec<String> = manifest
            .first()
            .and_then(|m| m["Layers"].as_array())
            .context("manifest.json lists no layers")?
            .iter()
            .filter_map(|l| l.as_str().map(str::to_owned))
            .collect();
        let mut fs = ImageFs {
            spools: vec![spool],
            entries: BTreeMap::new(),
        };
        for layer in &layers {
            let (offset, size) = *members
                .get(layer)
                .with_context(|| format!("layer {layer} is not in the export"))?;
            fs.apply_layer(offset, size)
                .with_context(|| format!("layer {layer}"))?;
        }
        Ok(fs)
    }

    /// Applies one layer (a tar, possibly gzip-compressed) on top of the tree.
    fn apply_layer(&mut self, offset: u64, size: u64) -> anyhow::Result<()> {
        let mut spool = self.spools[0].try_clone()?;
        spool.seek(SeekFrom::Start(offset))?;
        let mut magic = [0u8; 2];
        let gzip = size >= 2 && {
            spool.read_exact(&mut magic)?;
            magic == [0x1f, 0x8b]
        };
        spool.seek(SeekFrom::Start(offset))?;
        let (index, base, len) = if gzip {
            let mut plain = tempfile::tempfile()?;
            let copied = io::copy(
                &mut flate2::read::GzDecoder::new(spool.take(size)),
                &mut plain,
            )?;
            self.spools.push(plain);
            (self.spools.len() - 1, 0, copied)
        } else {
            (0, offset, size)
        };
        let mut reader = self.spools[index].try_clone()?;
        reader.seek(SeekFrom::Start(base))?;
        let mut archive = tar::Archive::new(reader.take(len));
        for entry in archive.entries()? {
            let entry = entry?;
            let path = normalize(&entry.path()?.to_string_lossy());
            if path.is_empty() {
                continue;
            }
            let (dir, name) = match path.rsplit_once('/') {
                Some((dir, name)) => (dir.to_owned(), name),
                None => (String::new(), path.as_str()),
            };
            if name == ".wh..wh..opq" {
                // An opaque directory: nothing below it from lower layers.
                let prefix = format!("{dir}/");
                self.entries.retain(|p, _| !p.starts_with(&prefix));
                continue;
            }
            if let Some(hidden) = name.strip_prefix(".wh.") {
                let gone = if dir.is_empty() {
                    hidden.to_owned()
                } else {
                    format!("{dir}/{hidden}")
                };
                let prefix = format!("{gone}/");
                self.entries
                    .retain(|p, _| p != &gone && !p.starts_with(&prefix));
                continue;
            }
            let header = entry.header();
            let mode = header.mode()? & 0o7777;
            let uid = header.uid()?;
            let gid = header.gid()?;
            let kind = header.entry_type();
            let new = if kind.is_hard_link() {
                let target = entry
                    .link_name()?
                    .map(|t| normalize(&t.to_string_lossy()))
                    .unwrap_or_default();
                match self.entries.get(&target) {
                    Some(linked) => Entry {
                        mode,
                        uid,
                        gid,
                        ..linked.clone()
                    },
                    None => bail!("{path} is a hard link to {target}, which is not in the image"),
                }
            } else if kind.is_file() || kind == tar::EntryType::Continuous {
                Entry {
                    kind: Kind::File,
                    mode,
                    uid,
                    gid,
                    size: entry.size(),
                    content: Some((index, base + entry.raw_file_position())),
                }
            } else if kind.is_dir() {
                Entry {
                    kind: Kind::Dir,
                    mode,
                    uid,
                    gid,
                    size: 0,
                    content: None,
                }
            } else if kind.is_symlink() {
                Entry {
                    kind: Kind::Symlink(
                        entry
                            .link_name()?
                            .map(|t| t.to_string_lossy().into_owned())
                            .unwrap_or_default(),
                    ),
                    mode,
                    uid,
                    gid,
                    size: 0,
                    content: None,
                }
            } else {
                Entry {
                    kind: Kind::Other,
                    mode,
                    uid,
                    gid,
                    size: 0,
                    content: None,
                }
            };
            if new.kind != Kind::Dir {
                // A file replacing a directory hides what was below it.
                let prefix = format!("{path}/");
                self.entries.retain(|p, _| !p.starts_with(&prefix));
            }
            self.entries.insert(path, new);
        }
        Ok(())
    }

    /// Every path of the final tree, with `/` in front, in order.
    pub fn entries(&self) -> impl Iterator<Item = (String, &Entry)> {
        self.entries.iter().map(|(p, e)| (format!("/{p}"), e))
    }

    /// The entry at `path` (absolute), not following symbolic links.
    pub fn entry(&self, path: &str) -> Option<&Entry> {
        self.entries.get(&normalize(path))
    }

    /// The content of the regular file at `path` (following symbolic links),
    /// `None` when there is no such file.
    pub fn read_file(&self, path: &str) -> anyhow::Result<Option<Vec<u8>>> {
        let mut path = normalize(path);
        for _ in 0..16 {
            let Some(entry) = self.entries.get(&path) else {
                return Ok(None);
            };
            match &entry.kind {
                Kind::File => return self.content(entry).map(Some),
                Kind::Symlink(target) => {
                    path = if target.starts_with('/') {
                        normalize(target)
                    } else {
                        let dir = path.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
                        normalize(&format!("{dir}/{target}"))
                    };
                }
                _ => return Ok(None),
            }
        }
        bail!("too many symbolic links resolving {path}")
    }

    /// The content of a regular file's entry.
    pub fn content(&self, entry: &Entry) -> anyhow::Result<Vec<u8>> {
        let Some((spool, offset)) = entry.content else {
            bail!("not a regular file");
        };
        if entry.size > READ_CAP {
            bail!("larger than {READ_CAP} bytes");
        }
        let mut file = self.spools[spool].try_clone()?;
        file.seek(SeekFrom::Start(offset))?;
        let mut bytes = Vec::with_capacity(entry.size as usize);
        file.take(entry.size).read_to_end(&mut bytes)?;
        Ok(bytes)
    }
}

/// A path inside an image as a key: no leading `/` or `./`, `.` and `..`
/// resolved, no trailing `/`.
fn normalize(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            part => parts.push(part),
        }
    }
    parts.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(files: &[(&str, u32, &[u8])]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (path, mode, content) in files {
            let mut header = tar::Header::new_gnu();
            header.set_mode(*mode);
            header.set_uid(0);
            header.set_gid(0);
            header.set_mtime(0);
            header.set_size(content.len() as u64);
            header.set_entry_type(tar::EntryType::Regular);
            header.set_cksum();
            builder.append_data(&mut header, path, *content).unwrap();
        }
        builder.into_inner().unwrap()
    }

    fn save(layers: &[Vec<u8>]) -> File {
        let mut builder = tar::Builder::new(Vec::new());
        let names: Vec<String> = (0..layers.len())
            .map(|i| format!("l{i}/layer.tar"))
            .collect();
        for (name, layer) in names.iter().zip(layers) {
            let mut header = tar::Header::new_gnu();
            header.set_size(layer.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            builder
                .append_data(&mut header, name, layer.as_slice())
                .unwrap();
        }
        let manifest = serde_json::json!([{ "Config": "c.json", "Layers": names }]).to_string();
        let mut header = tar::Header::new_gnu();
        header.set_size(manifest.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder
            .append_data(&mut header, "manifest.json", manifest.as_bytes())
            .unwrap();
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&builder.into_inner().unwrap()).unwrap();
        file
    }

    #[test]
    fn later_layers_replace_and_whiteouts_remove_earlier_files() {
        let fs = ImageFs::from_save(save(&[
            layer(&[
                ("usr/bin/su", 0o4755, b"su"),
                ("usr/bin/gone", 0o2755, b"x"),
                ("etc/a/b", 0o644, b"b"),
                ("var/lib/dpkg/status", 0o644, b"old"),
            ]),
            layer(&[
                ("usr/bin/.wh.gone", 0o644, b""),
                ("etc/a/.wh..wh..opq", 0o644, b""),
                ("var/lib/dpkg/status", 0o644, b"new"),
            ]),
        ]))
        .unwrap();
        assert!(fs.entry("/usr/bin/su").unwrap().is_setuid());
        assert!(fs.entry("/usr/bin/gone").is_none());
        assert!(fs.entry("/etc/a/b").is_none());
        assert_eq!(
            fs.read_file("/var/lib/dpkg/status").unwrap().unwrap(),
            b"new"
        );
        assert_eq!(fs.read_file("/nothing").unwrap(), None);
    }
}
