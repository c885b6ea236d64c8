//! Base images on a machine that may have no registry: use the local image,
//! else pull it (Compose semantics), else, for a Debian base, make it from
//! Debian's packages with debootstrap and import it into the engine.

use std::os::unix::fs::MetadataExt as _;
use std::path::Path;
use std::process::Stdio;

use anyhow::{Context as _, bail};
use bollard::Docker;
use bollard::query_parameters::CreateImageOptionsBuilder;
use futures_util::{StreamExt as _, TryStreamExt as _};
use tokio::io::AsyncBufReadExt as _;

use super::apt;
use crate::engine;
use crate::progress::{Progress, Task};

/// Where bootstrapped file systems are assembled; it must allow device nodes
/// and executables, which a `/tmp` mounted `nodev,noexec` would not.
const BOOTSTRAP_PARENT: &str = "/var/tmp";

/// How to get a Debian base when no registry answers.
#[derive(Debug, Clone, Default)]
pub struct BootstrapOptions {
    /// The Debian mirror; `None` reads it from the host's apt configuration.
    pub mirror: Option<String>,
}

/// Makes sure `reference` (e.g. `debian:bookworm`) exists in the engine and
/// returns its image ID.
pub async fn ensure(
    docker: &Docker,
    reference: &str,
    options: &BootstrapOptions,
    progress: &Progress,
) -> anyhow::Result<String> {
    if let Some(id) = local_id(docker, reference).await? {
        return Ok(id);
    }
    let task = progress.task(reference);
    task.step("not present; trying to pull it");
    let pull_error = match pull(docker, reference, &task).await {
        Ok(()) => {
            let id = local_id(docker, reference)
                .await?
                .with_context(|| format!("{reference} was pulled but is not listed"))?;
            task.finish("pulled");
            return Ok(id);
        }
        Err(err) => err,
    };
    let (repo, tag) = reference.split_once(':').unwrap_or((reference, "latest"));
    let suite = (repo == "debian" || repo == "docker.io/library/debian")
        .then(|| apt::suite_for_tag(tag))
        .flatten();
    let Some(suite) = suite else {
        task.fail("cannot be pulled");
        bail!(
            "base image {reference} is not present and cannot be pulled ({pull_error:#}); load it with \
             `docker load` or make the Dockerfile start from a `debian:<release>` image, which stackctl can bootstrap"
        );
    };
    task.step(&format!(
        "no registry ({pull_error}); bootstrapping Debian {suite} with debootstrap"
    ));
    match bootstrap(docker, repo, tag, suite, options, &task).await {
        Ok(id) => {
            task.finish("made with debootstrap from Debian's packages");
            Ok(id)
        }
        Err(err) => {
            task.fail("bootstrap failed");
            Err(err)
        }
    }
}

/// The ID of a local image, `None` when the engine does not have it.
pub async fn local_id(docker: &Docker, reference: &str) -> anyhow::Result<Option<String>> {
    match docker.inspect_image(reference).await {
        Ok(image) => Ok(image.id),
        Err(err) if engine::is_not_found(&err) => Ok(None),
        Err(err) => Err(err).with_context(|| format!("cannot inspect image {reference}")),
    }
}

async fn pull(docker: &Docker, reference: &str, task: &Task) -> anyhow::Result<()> {
    let options = CreateImageOptionsBuilder::default()
        .from_image(reference)
        .build();
    let mut stream = docker.create_image(Some(options), None, None);
    while let Some(info) = stream.next().await {
        let info = info?;
        if let Some(status) = info.status {
            task.step(&status);
        }
    }
    Ok(())
}

async fn bootstrap(
    docker: &Docker,
    repo: &str,
    tag: &str,
    suite: &str,
    options: &BootstrapOptions,
    task: &Task,
) -> anyhow::Result<String> {
    if std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(u32::MAX)
        != 0
    {
        bail!(
            "debootstrap must run as root to make the {repo}:{tag} base image; run `sudo stackctl build` once (later builds reuse the image)"
        );
    }
    if !on_path("debootstrap") {
        bail!(
            "debootstrap is not installed and {repo}:{tag} cannot be pulled; install it with `sudo apt-get install debootstrap`"
        );
    }
    let host_sources = apt::host_sources(Path::new("/"));
    let mirror = match &options.mirror {
        Some(mirror) => mirror.clone(),
        None => apt::debian_mirror(&host_sources)
            .map(|s| s.uri.clone())
            .context("no Debian mirror in this host's apt configuration (/etc/apt/sources.list and sources.list.d); pass `--mirror URL` or set STACKCTL_DEBIAN_MIRROR")?,
    };
    let root = tempfile::Builder::new()
        .prefix("stackctl-debootstrap-")
        .tempdir_in(BOOTSTRAP_PARENT)
        .with_context(|| format!("cannot make a directory under {BOOTSTRAP_PARENT}"))?;
    let target = root.path().join("rootfs");

    task.step(&format!(
        "debootstrap --variant=minbase {suite} from {mirror}"
    ));
    let mut child = tokio::process::Command::new("debootstrap")
        .args(["--variant=minbase", suite])
        .arg(&target)
        .arg(&mirror)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("cannot start debootstrap")?;
    let stdout = child.stdout.take().context("debootstrap has no stdout")?;
    let stderr = child.stderr.take().context("debootstrap has no stderr")?;
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let errors = tokio::spawn(async move {
        let mut text = String::new();
        let mut lines = tokio::io::BufReader::new(stderr).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            text.push_str(&line);
            text.push('\n');
        }
        text
    });
    let mut last = Vec::new();
    while let Some(line) = lines.next_line().await? {
        task.step(&line);
        last.push(line);
        if last.len() > 15 {
            last.remove(0);
        }
    }
    let status = child.wait().await?;
    let errors = errors.await.unwrap_or_default();
    if !status.success() {
        bail!(
            "debootstrap of Debian {suite} from {mirror} failed ({status}); its last lines:\n{}\n{}\nfix: check that the mirror serves {suite} (or pass `--mirror URL`)",
            last.join("\n"),
            errors.trim()
        );
    }

    slim(&target, &mirror, suite, &host_sources)?;
    task.step(&format!("importing the file system as {repo}:{tag}"));
    import(docker, &target, repo, tag).await?;
    local_id(docker, &format!("{repo}:{tag}"))
        .await?
        .with_context(|| format!("{repo}:{tag} was imported but is not listed"))
}

/// Points apt at the mirror and drops what debootstrap downloaded.
fn slim(
    target: &Path,
    mirror: &str,
    suite: &str,
    host_sources: &[apt::AptSource],
) -> anyhow::Result<()> {
    std::fs::write(
        target.join("etc/apt/sources.list"),
        apt::image_sources_list(mirror, suite, host_sources),
    )?;
    for dir in ["var/cache/apt/archives", "var/lib/apt/lists"] {
        for entry in std::fs::read_dir(target.join(dir))? {
            let path = entry?.path();
            if path.is_file() {
                std::fs::remove_file(path)?;
            }
        }
    }
    Ok(())
}

/// Streams the file system into the engine as an image (`docker import`).
async fn import(docker: &Docker, target: &Path, repo: &str, tag: &str) -> anyhow::Result<()> {
    let mut tar = tokio::process::Command::new("tar")
        .args(["--numeric-owner", "--xattrs", "-C"])
        .arg(target)
        .args(["-cf", "-", "."])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("cannot start tar")?;
    let stdout = tar.stdout.take().context("tar has no stdout")?;
    let body = tokio_util::io::ReaderStream::new(stdout);
    let options = CreateImageOptionsBuilder::default()
        .from_src("-")
        .repo(repo)
        .tag(tag)
        .changes(vec!["CMD [\"bash\"]".to_owned()])
        .build();
    docker
        .create_image(Some(options), Some(bollard::body_try_stream(body)), None)
        .try_collect::<Vec<_>>()
        .await
        .with_context(|| format!("the engine refused the imported file system for {repo}:{tag}"))?;
    let status = tar.wait().await?;
    if !status.success() {
        bail!("tar of the bootstrapped file system failed ({status})");
    }
    Ok(())
}

/// True when `program` is an executable file on `PATH`.
pub fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
        .unwrap_or(false)
}
