//! Image pins: the ID of every image `up` built or verified, recorded per
//! project in `.stackctl/PROJECT/images.lock` beside `compose.yaml`. `up`
//! starts containers from the pinned ID, never from the tag, and refuses an
//! image whose ID no longer matches its pin; `stackctl lock` re-pins.
//!
//! The file is not committed: images are built on each machine from Debian's
//! packages and the host's compiler, so their IDs are machine-specific. What
//! it protects against is a tag moved under the stack between build and
//! start (a `docker tag`, a `docker load`, a pull of a same-named image).

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

use crate::compose::Project;

/// One pinned image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pin {
    /// The tag, e.g. `shopdotcom/api:local`.
    pub image: String,
    /// The engine's image ID, `sha256:...`.
    pub id: String,
}

/// All pins of a project, by service.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pins {
    #[serde(default)]
    pub note: String,
    #[serde(default)]
    pub images: BTreeMap<String, Pin>,
}

const NOTE: &str = "Image IDs pinned by stackctl on this machine; `stackctl lock` refreshes them. Not for version control.";

/// Where a project's pins live.
pub fn path(project: &Project) -> PathBuf {
    project
        .dir
        .join(".stackctl")
        .join(&project.name)
        .join("images.lock")
}

impl Pins {
    /// Reads the pins; none when the file does not exist yet.
    pub fn load(project: &Project) -> anyhow::Result<Pins> {
        let path = path(project);
        match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text).with_context(|| {
                format!(
                    "{} is not a pin file; fix it or delete it and run `stackctl lock`",
                    path.display()
                )
            }),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(Pins::default()),
            Err(err) => Err(err).with_context(|| format!("cannot read {}", path.display())),
        }
    }

    /// Writes the pins (atomically: a temporary file renamed over the old one).
    pub fn save(&self, project: &Project) -> anyhow::Result<()> {
        let path = path(project);
        let dir = path.parent().context("pin path has no directory")?;
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let mut pins = self.clone();
        pins.note = NOTE.to_owned();
        let temporary = path.with_extension("lock.tmp");
        std::fs::write(&temporary, serde_json::to_string_pretty(&pins)? + "\n")?;
        std::fs::rename(&temporary, &path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(())
    }

    /// Checks `service`'s image against its pin; a missing pin is recorded.
    pub fn verify_or_pin(
        &mut self,
        service: &str,
        image: &str,
        id: &str,
        lock_file: &std::path::Path,
    ) -> anyhow::Result<()> {
        match self.images.get(service) {
            Some(pin) if pin.image == image && pin.id != id => anyhow::bail!(
                "service `{service}`: image {image} is {} but is pinned to {} in {}; it changed since it was built or verified. \
                 If you changed it on purpose, run `stackctl lock` to pin the new image; otherwise rebuild it with `stackctl build --force {service}`",
                short(id),
                short(&pin.id),
                lock_file.display()
            ),
            Some(pin) if pin.image == image => Ok(()),
            _ => {
                self.pin(service, image, id);
                Ok(())
            }
        }
    }

    /// Pins `service` to `id`.
    pub fn pin(&mut self, service: &str, image: &str, id: &str) {
        self.images.insert(
            service.to_owned(),
            Pin {
                image: image.to_owned(),
                id: id.to_owned(),
            },
        );
    }
}

fn short(id: &str) -> &str {
    crate::image::short_id(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_matching_image_passes_and_a_moved_tag_is_refused() {
        let mut pins = Pins::default();
        let file = std::path::Path::new("images.lock");
        pins.verify_or_pin("api", "shop/api:local", "sha256:aaaa", file)
            .unwrap();
        assert_eq!(
            pins.images["api"].id, "sha256:aaaa",
            "a first sight is pinned"
        );
        pins.verify_or_pin("api", "shop/api:local", "sha256:aaaa", file)
            .unwrap();
        let err = pins
            .verify_or_pin("api", "shop/api:local", "sha256:bbbb", file)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("pinned to aaaa") && err.contains("stackctl lock"),
            "{err}"
        );
    }

    #[test]
    fn a_renamed_image_is_pinned_afresh() {
        let mut pins = Pins::default();
        let file = std::path::Path::new("images.lock");
        pins.pin("api", "shop/api:old", "sha256:aaaa");
        pins.verify_or_pin("api", "shop/api:new", "sha256:bbbb", file)
            .unwrap();
        assert_eq!(pins.images["api"].image, "shop/api:new");
    }
}
