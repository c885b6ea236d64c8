//! `stackctl build`: every image of the stack made locally. Base images come
//! from the engine, a registry or debootstrap ([`base`]); workspace binaries
//! are compiled on the host and staged ([`binary`]); the context is a
//! deterministic tar ([`context`]) whose fingerprint, stored as an image
//! label, makes an unchanged image cost nothing to "rebuild".

pub mod apt;
pub mod base;
pub mod binary;
pub mod context;
pub mod layers;

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, bail};
use bollard::Docker;
use bollard::query_parameters::BuildImageOptionsBuilder;
use futures_util::StreamExt as _;

use crate::compose::{Project, Service};
use crate::machine_lock::MachineLock;
use crate::progress::{Progress, Task};
pub use base::BootstrapOptions;
use context::Context;

/// The image label holding the fingerprint of what an image was built from.
pub const FINGERPRINT_LABEL: &str = "dev.shopdotcom.stackctl.fingerprint";

/// What `build` did for one service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Built {
    pub service: String,
    /// The tag, e.g. `shopdotcom/db:local`.
    pub image: String,
    /// The engine's image ID (`sha256:...`).
    pub id: String,
    /// False when the image was already up to date.
    pub rebuilt: bool,
}

/// Options of `stackctl build`.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    pub bootstrap: BootstrapOptions,
    /// Rebuild even when the fingerprint matches.
    pub force: bool,
}

/// The tag a service's image gets: its `image`, else `PROJECT-SERVICE`.
pub fn image_name(project: &Project, service_name: &str, service: &Service) -> String {
    service
        .image
        .clone()
        .unwrap_or_else(|| format!("{}-{service_name}", project.name))
}

/// Builds the images of `services` (all services with a `build` when empty),
/// one after another, holding a machine-wide lock so concurrent stackctl
/// processes (parallel tests) do not build the same image twice.
pub async fn build(
    docker: &Docker,
    project: &Project,
    services: &[String],
    options: &BuildOptions,
    progress: &Progress,
) -> anyhow::Result<Vec<Built>> {
    let selected: Vec<&String> = if services.is_empty() {
        project
            .model
            .services
            .iter()
            .filter(|(_, s)| s.build.is_some())
            .map(|(name, _)| name)
            .collect()
    } else {
        for name in services {
            project.service(name)?;
        }
        services.iter().collect()
    };
    check_buildable(project, &selected)?;

    let _lock = build_lock().await?;
    let mut built = Vec::new();
    for name in selected {
        let service = project.service(name)?;
        if service.build.is_none() {
            progress.println(&format!(
                "{name}: uses image {} and has nothing to build",
                service.image.as_deref().unwrap_or("?")
            ));
            continue;
        }
        built.push(build_one(docker, project, name, service, options, progress).await?);
    }
    Ok(built)
}

/// Fails early, naming every service that cannot be built yet, before any
/// slow work starts.
fn check_buildable(project: &Project, selected: &[&String]) -> anyhow::Result<()> {
    let wanted: Vec<(&String, &str)> = selected
        .iter()
        .filter_map(|name| Some((*name, project.extensions.get(*name)?.binary.as_deref()?)))
        .collect();
    if wanted.is_empty() {
        return Ok(());
    }
    let available = binary::workspace_binaries(&project.dir)?;
    let missing: Vec<String> = wanted
        .iter()
        .filter(|(_, bin)| !available.iter().any(|a| a == bin))
        .map(|(service, bin)| {
            format!(
                "service `{service}` cannot be built yet: the workspace has no binary `{bin}` (declared at {} as `x-stackctl.binary`)",
                project.locate(service, "x-stackctl")
            )
        })
        .collect();
    if !missing.is_empty() {
        bail!(
            "{}\n  fix: add the crate that provides it, or name the services to build (`stackctl build db`)",
            missing.join("\n")
        );
    }
    Ok(())
}

async fn build_one(
    docker: &Docker,
    project: &Project,
    name: &str,
    service: &Service,
    options: &BuildOptions,
    progress: &Progress,
) -> anyhow::Result<Built> {
    let build = service.build.as_ref().context("service has no build")?;
    let image = image_name(project, name, service);
    let context_dir = project.resolve(&build.context);
    let dockerfile = build
        .dockerfile
        .clone()
        .unwrap_or_else(|| "Dockerfile".to_owned());
    let dockerfile_text =
        std::fs::read_to_string(context_dir.join(&dockerfile)).with_context(|| {
            format!(
                "service `{name}`: cannot read {} (from `build` at {})",
                context_dir.join(&dockerfile).display(),
                project.locate(name, "build")
            )
        })?;

    let mut base_ids = Vec::new();
    for base_image in base_images(&dockerfile_text) {
        base_ids.push(base::ensure(docker, &base_image, &options.bootstrap, progress).await?);
    }

    let mut context = Context::from_dir(&context_dir)?;
    if let Some(bin) = project
        .extensions
        .get(name)
        .and_then(|e| e.binary.as_deref())
    {
        let account =
            binary::Account::from_compose_user(name, service.user.as_deref()).map_err(|why| {
                anyhow::anyhow!("service `{name}` ({}): {why}", project.locate(name, "user"))
            })?;
        progress.println(&format!(
            "{name}: compiling `{bin}` (cargo build --release)"
        ));
        let executable = binary::compile(&project.dir, bin)?;
        binary::stage(&mut context, &executable, bin, &account)?;
    }
    let tar = context.to_tar()?;
    let args: Vec<u8> = serde_json::to_vec(&build.args)?;
    let fingerprint = context::fingerprint(
        [
            tar.as_slice(),
            dockerfile.as_bytes(),
            &args,
            build.target.as_deref().unwrap_or("").as_bytes(),
        ]
        .into_iter()
        .chain(base_ids.iter().map(|id| id.as_bytes())),
    );

    if !options.force
        && let Some(built) = up_to_date(docker, name, &image, &fingerprint, progress).await
    {
        return Ok(built);
    }

    let task = progress.task(name);
    task.step(&format!("building {image}"));
    let labels = HashMap::from([
        (FINGERPRINT_LABEL.to_owned(), fingerprint),
        (
            "com.docker.compose.project".to_owned(),
            project.name.clone(),
        ),
        ("com.docker.compose.service".to_owned(), name.to_owned()),
    ]);
    let mut builder = BuildImageOptionsBuilder::default()
        .dockerfile(&dockerfile)
        .t(&image)
        .rm(true)
        .forcerm(true)
        .labels(&labels)
        .buildargs(&build.args.clone().into_iter().collect())
        // RUN steps fetch Debian packages; the host network needs no bridge NAT.
        .networkmode("host");
    if let Some(target) = &build.target {
        builder = builder.target(target);
    }
    match run_build(docker, builder.build(), tar, &task).await {
        Ok(()) => {}
        Err(err) => {
            task.fail(&format!("building {image} failed"));
            return Err(err.context(format!("service `{name}`: the image build failed")));
        }
    }
    let id = base::local_id(docker, &image)
        .await?
        .with_context(|| format!("{image} was built but is not listed"))?;
    task.finish(&format!("built {image} ({})", short_id(&id)));
    Ok(Built {
        service: name.to_owned(),
        image,
        id,
        rebuilt: true,
    })
}

async fn run_build(
    docker: &Docker,
    options: bollard::query_parameters::BuildImageOptions,
    tar: Vec<u8>,
    task: &Task,
) -> anyhow::Result<()> {
    let mut stream = docker.build_image(options, None, Some(bollard::body_full(tar.into())));
    let mut tail: Vec<String> = Vec::new();
    while let Some(item) = stream.next().await {
        let info = match item {
            Ok(info) => info,
            Err(err) => bail!("{err}\n{}", tail.join("\n")),
        };
        if let Some(message) = info.error_detail.and_then(|d| d.message) {
            bail!("{message}\nlast build output:\n{}", tail.join("\n"));
        }
        if let Some(text) = info.stream {
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                if line.starts_with("Step ") {
                    task.step(line);
                }
                tail.push(line.to_owned());
                if tail.len() > 20 {
                    tail.remove(0);
                }
            }
        }
    }
    Ok(())
}

/// A shell-less image of one workspace binary that is not a service of the
/// stack (the bench's `probe`): the same compile-and-stage path as the
/// services' images, with a Dockerfile written here (`FROM scratch`, the
/// staged root, `account`, the binary as entry point). Cached by fingerprint
/// like every other image.
pub async fn build_binary_image(
    docker: &Docker,
    workspace: &Path,
    bin: &str,
    account: &binary::Account,
    tag: &str,
    progress: &Progress,
) -> anyhow::Result<Built> {
    let _lock = build_lock().await?;
    progress.println(&format!("{bin}: compiling `{bin}` (cargo build --release)"));
    let executable = binary::compile(workspace, bin)?;
    let dockerfile = format!(
        "FROM scratch\nCOPY rootfs/ /\nUSER {uid}:{gid}\nENTRYPOINT [\"{path}\"]\n",
        uid = account.uid,
        gid = account.gid,
        path = binary::binary_path_in_image(bin)
    );
    let mut context = Context::default();
    context.add_file("Dockerfile", dockerfile.into_bytes(), 0o644);
    binary::stage(&mut context, &executable, bin, account)?;
    build_staged(docker, bin, tag, &context, progress).await
}

/// Builds a staged context (a `Dockerfile` and `rootfs/`, made by the
/// caller with [`binary::stage`] and whatever else it needs) as `tag`,
/// cached by the context's fingerprint like every other image. The caller
/// holds the build lock ([`build_binary_image`] does) or takes none: two
/// processes building the same context only build it twice.
pub async fn build_staged(
    docker: &Docker,
    name: &str,
    tag: &str,
    context: &Context,
    progress: &Progress,
) -> anyhow::Result<Built> {
    let tar = context.to_tar()?;
    let fingerprint = context::fingerprint([tar.as_slice()]);
    if let Some(built) = up_to_date(docker, name, tag, &fingerprint, progress).await {
        return Ok(built);
    }
    let task = progress.task(name);
    task.step(&format!("building {tag}"));
    let labels = HashMap::from([(FINGERPRINT_LABEL.to_owned(), fingerprint)]);
    let options = BuildImageOptionsBuilder::default()
        .dockerfile("Dockerfile")
        .t(tag)
        .rm(true)
        .forcerm(true)
        .labels(&labels)
        .build();
    if let Err(err) = run_build(docker, options, tar, &task).await {
        task.fail(&format!("building {tag} failed"));
        return Err(err.context(format!("the image `{tag}` could not be built")));
    }
    let id = base::local_id(docker, tag)
        .await?
        .with_context(|| format!("{tag} was built but is not listed"))?;
    task.finish(&format!("built {tag} ({})", short_id(&id)));
    Ok(Built {
        service: name.to_owned(),
        image: tag.to_owned(),
        id,
        rebuilt: true,
    })
}

/// The images a Dockerfile builds `FROM`, other than `scratch` and its own stages.
pub fn base_images(dockerfile: &str) -> Vec<String> {
    let mut stages = Vec::new();
    let mut bases = Vec::new();
    for line in dockerfile.lines().map(str::trim) {
        let mut words = line.split_whitespace();
        if !words.next().is_some_and(|w| w.eq_ignore_ascii_case("FROM")) {
            continue;
        }
        let words: Vec<&str> = words.filter(|w| !w.starts_with("--")).collect();
        let Some(image) = words.first() else { continue };
        if !image.eq_ignore_ascii_case("scratch")
            && !stages.contains(&image.to_string())
            && !bases.contains(&image.to_string())
        {
            bases.push((*image).to_owned());
        }
        if let [_, as_kw, stage] = words.as_slice()
            && as_kw.eq_ignore_ascii_case("AS")
        {
            stages.push((*stage).to_owned());
        }
    }
    bases
}

/// The image `tag` of `name`, when it exists and was built from `fingerprint`.
async fn up_to_date(
    docker: &Docker,
    name: &str,
    tag: &str,
    fingerprint: &str,
    progress: &Progress,
) -> Option<Built> {
    let existing = docker.inspect_image(tag).await.ok()?;
    let labels = existing.config.as_ref()?.labels.as_ref()?;
    if labels.get(FINGERPRINT_LABEL).map(String::as_str) != Some(fingerprint) {
        return None;
    }
    let id = existing.id.unwrap_or_default();
    progress.println(&format!(
        "✔ {name}: {tag} is up to date ({})",
        short_id(&id)
    ));
    Some(Built {
        service: name.to_owned(),
        image: tag.to_owned(),
        id,
        rebuilt: false,
    })
}

/// `sha256:0123456789ab...` as `0123456789ab`.
pub fn short_id(id: &str) -> &str {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    &hex[..hex.len().min(12)]
}

/// Image builds take a machine-wide lock, so concurrent stackctl processes
/// (parallel tests) do not build the same image twice. A cold build compiles
/// the workspace in release mode, so a waiter waits long before giving up.
pub(crate) async fn build_lock() -> anyhow::Result<MachineLock> {
    MachineLock::acquire("build", "image build", Duration::from_secs(30 * 60)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_images_skip_scratch_and_stages() {
        let dockerfile = "FROM debian:bookworm AS builder\nRUN x\nFROM --platform=linux/amd64 builder\nFROM scratch\nFROM alpine:3\n";
        assert_eq!(base_images(dockerfile), ["debian:bookworm", "alpine:3"]);
    }

    #[test]
    fn short_ids_drop_the_algorithm() {
        assert_eq!(short_id("sha256:0123456789abcdef"), "0123456789ab");
    }
}
