//! `stackctl lock`: pin the services' current image IDs.

use std::io::Write;

use anyhow::{Context as _, bail};

use crate::compose::Project;
use crate::engine;
use crate::image::{base, image_name, short_id};
use crate::pins::{self, Pins};

pub(crate) async fn run(
    project: &Project,
    services: &[String],
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let docker = engine::connect().await?;
    let names: Vec<String> = if services.is_empty() {
        project.model.services.keys().cloned().collect()
    } else {
        services.to_vec()
    };
    // Pins belong to a project `up` has run: without its containers or an
    // earlier pin file, a typo in `-p` would pin images it never started.
    let lock_file = pins::path(project);
    if !lock_file.exists()
        && crate::stack::containers(&docker, &project.name)
            .await?
            .is_empty()
    {
        bail!(
            "project `{}` has no containers and no pins ({}), so there is nothing to pin\n  \
             fix: check the project name (`-p`, COMPOSE_PROJECT_NAME), or run `stackctl -p {} up` first: it pins what it starts",
            project.name,
            lock_file.display(),
            project.name
        );
    }
    let mut pins = Pins::load(project)?;
    for name in &names {
        let service = project.service(name)?;
        let image = image_name(project, name, service);
        let id = base::local_id(&docker, &image)
            .await?
            .with_context(|| format!("service `{name}`: image {image} is not present; build it with `stackctl build {name}`"))?;
        pins.pin(name, &image, &id);
        writeln!(out, "{name:<18} {image:<32} {}", short_id(&id))?;
    }
    pins.save(project)?;
    writeln!(out, "pinned in {}", pins::path(project).display())?;
    Ok(())
}
