//! `stackctl build`: the images, built or confirmed up to date.

use std::io::Write;

use crate::compose::Project;
use crate::image::{self, BootstrapOptions, BuildOptions};
use crate::pins::Pins;
use crate::progress::Progress;
use crate::{engine, image::short_id};

pub(crate) async fn run(
    project: &Project,
    services: &[String],
    mirror: Option<String>,
    force: bool,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let docker = engine::connect().await?;
    let options = BuildOptions {
        bootstrap: BootstrapOptions { mirror },
        force,
    };
    let built = image::build(&docker, project, services, &options, &Progress::new()).await?;
    // What was built just now is what `up` will trust.
    let mut pins = Pins::load(project)?;
    for b in built.iter().filter(|b| b.rebuilt) {
        pins.pin(&b.service, &b.image, &b.id);
    }
    pins.save(project)?;
    for b in &built {
        let state = if b.rebuilt { "built" } else { "up to date" };
        writeln!(
            out,
            "{:<20} {:<32} {} {state}",
            b.service,
            b.image,
            short_id(&b.id)
        )?;
    }
    Ok(())
}
