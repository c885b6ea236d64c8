//! Throwaway copies of the stack's services for tests and benchmarks: the
//! real images, run as `compose.yaml` declares them (host network, hardening,
//! limits, health checks), under a project name, ports, secrets and volumes
//! of their own, so that they run in parallel with each other and beside a
//! running `stackctl up`, and are removed when dropped.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bollard::Docker;
use bollard::models::VolumeCreateRequest;
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, RemoveVolumeOptions, StopContainerOptionsBuilder,
};

use crate::compose::Project;
use crate::container::{PROJECT_LABEL, container_config, container_name, volume_name};
use crate::image::{self, BuildOptions};
use crate::progress::Progress;

/// The stack's own `compose.yaml` in this workspace.
pub fn stack_compose_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../compose.yaml")
}

/// The variable that names the tag of the stack's images
/// (`shopdotcom/api:${SHOP_IMAGE_TAG:-local}`), so that two checkouts on one
/// engine (a CI run beside a working tree) do not retag each other's images.
pub const IMAGE_TAG_VARIABLE: &str = "SHOP_IMAGE_TAG";

/// A free TCP port on loopback (the kernel's choice, released at once).
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Builds the `stackctl` executable that connections as another uid
/// re-execute ([`crate::verify::uid`]) into this test binary's target
/// directory. cargo builds a package's executables only for that package's
/// own tests, so test binaries of other packages (integration-tests) call
/// this once before they connect as a service's uid.
pub fn build_stackctl() -> anyhow::Result<()> {
    let me = std::env::current_exe()?;
    let release = me.parent().and_then(Path::parent).and_then(Path::file_name)
        == Some(std::ffi::OsStr::new("release"));
    let mut cargo = crate::image::binary::cargo();
    cargo.args([
        "build", "--quiet", "--locked", "-p", "stackctl", "--bin", "stackctl",
    ]);
    if release {
        cargo.arg("--release");
    }
    let status = cargo
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
        .status()
        .context("cannot run `cargo build -p stackctl`")?;
    anyhow::ensure!(
        status.success(),
        "`cargo build -p stackctl` failed (its errors are above)"
    );
    crate::verify::uid::stackctl_program().map_err(anyhow::Error::msg)?;
    Ok(())
}

/// Builds (or confirms) the images of `services` of the stack.
pub async fn build(docker: &Docker, services: &[&str]) -> anyhow::Result<Vec<image::Built>> {
    let project = Project::load(&stack_compose_file())?;
    let services: Vec<String> = services.iter().map(|s| s.to_string()).collect();
    image::build(
        docker,
        &project,
        &services,
        &BuildOptions::default(),
        &Progress::plain(),
    )
    .await
}

/// A private copy of the stack: its own project name, its own ports (every
/// `${SHOP_..._PORT}` variable of `compose.yaml` gets a free port) and its
/// own secrets directory. Services can be started one by one, or the whole
/// copy brought up with [`crate::stack::up::up`] on [`Testbed::project`].
/// Everything labelled with its project (containers, volumes, the firewall
/// chain) is removed when it is dropped.
pub struct Testbed {
    pub docker: Docker,
    project: Project,
    vars: BTreeMap<String, String>,
    secrets: tempfile::TempDir,
}

/// The default stack's names beside a [`Testbed`]'s, each pair as
/// `(default, this copy's)`.
#[derive(Debug, Clone)]
pub struct Renamed {
    /// The project name.
    pub project: (String, String),
    /// Each variable's value: the ports, the secrets directory, the tag.
    pub values: Vec<(String, String)>,
}

impl Testbed {
    /// A copy named `stackctl-test-LABEL-PID`.
    pub async fn new(label: &str) -> anyhow::Result<Testbed> {
        let docker = crate::engine::connect().await?;
        let secrets = tempfile::tempdir()?;
        let mut vars = BTreeMap::new();
        for name in port_variables(&stack_compose_file())? {
            vars.insert(name, free_port()?.to_string());
        }
        vars.insert(
            "SHOP_SECRETS_DIR".to_owned(),
            secrets.path().display().to_string(),
        );
        // The images are the checkout's, as `stackctl build` tags them here.
        if let Ok(tag) = std::env::var(IMAGE_TAG_VARIABLE) {
            vars.insert(IMAGE_TAG_VARIABLE.to_owned(), tag);
        }
        let mut bed = Testbed {
            docker,
            project: load(&vars)?,
            vars,
            secrets,
        };
        bed.project
            .rename(&format!("stackctl-test-{label}-{}", std::process::id()));
        Ok(bed)
    }

    /// The copy's project, ready for `stack::up` (or to be adjusted first).
    pub fn project(&self) -> &Project {
        &self.project
    }

    pub fn project_mut(&mut self) -> &mut Project {
        &mut self.project
    }

    /// The port given to variable `name`, e.g. `SHOP_DB_PORT`.
    pub fn port(&self, name: &str) -> anyhow::Result<u16> {
        self.vars
            .get(name)
            .and_then(|p| p.parse().ok())
            .with_context(|| format!("compose.yaml has no {name}"))
    }

    /// Where secret `name`'s file is (generated by `up`, or set here).
    pub fn secret_path(&self, name: &str) -> anyhow::Result<PathBuf> {
        let file = self
            .project
            .model
            .secrets
            .get(name)
            .and_then(|s| s.file.as_ref())
            .with_context(|| format!("compose.yaml declares no file for secret {name}"))?;
        Ok(self.project.resolve(file))
    }

    /// Gives secret `name` the value `value` (instead of a generated one), in
    /// a file readable by the services' uids inside a directory only root
    /// can enter.
    pub fn set_secret(&mut self, name: &str, value: &str) -> anyhow::Result<()> {
        let file = self.secrets.path().join(name);
        std::fs::write(&file, value)?;
        std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o444))?;
        Ok(())
    }

    /// Sets an environment variable of `service`.
    pub fn set_env(
        &mut self,
        service: &str,
        key: &str,
        value: impl ToString,
    ) -> anyhow::Result<()> {
        let service = self
            .project
            .model
            .services
            .get_mut(service)
            .with_context(|| format!("no service {service}"))?;
        service
            .environment
            .0
            .insert(key.to_owned(), Some(value.to_string()));
        Ok(())
    }

    /// The variables a shell command needs to address this copy as the
    /// CLI does (`COMPOSE_PROJECT_NAME`, the ports, the secrets directory,
    /// the image tag).
    pub fn shell_env(&self) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = self
            .vars
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        env.push(("COMPOSE_PROJECT_NAME".to_owned(), self.project.name.clone()));
        env
    }

    /// What the default stack calls what this copy renamed, so a page
    /// written for the default stack can be run against the copy.
    pub fn renamed(&self) -> anyhow::Result<Renamed> {
        let defaults = Project::load_with(&stack_compose_file(), &|_| None)?;
        let values = defaults
            .variables
            .iter()
            .filter_map(|resolved| {
                let value = self.vars.get(&resolved.name)?;
                Some((resolved.value.clone(), value.clone()))
            })
            .collect();
        Ok(Renamed {
            project: (defaults.name.clone(), self.project.name.clone()),
            values,
        })
    }

    /// The container name of `service` in this copy.
    pub fn container(&self, service: &str) -> String {
        container_name(&self.project.name, service)
    }

    /// Starts one service alone: builds the image if needed, creates its
    /// secrets, its named volumes and (as root) the copy's firewall rules,
    /// creates and starts the container and waits until it is healthy.
    pub async fn start(&mut self, service: &str) -> anyhow::Result<()> {
        let built = build(&self.docker, &[service]).await?;
        let image = built
            .first()
            .map(|b| b.id.clone())
            .context("nothing was built")?;
        crate::secrets::ensure(&self.project, &[service.to_owned()].into())?;
        // Where a stack's firewall is installed, its shared deny chain would
        // reject this copy's traffic (same uids, other ports) unless the copy
        // has its own allowances too.
        if crate::firewall::check_available().is_ok() {
            crate::firewall::install(&crate::firewall::plan(&self.project)?)?;
        }
        let mounts = self.project.service(service)?.volumes.clone();
        for mount in mounts.iter().filter(|m| m.kind == "volume") {
            let Some(source) = &mount.source else {
                continue;
            };
            let volume = volume_name(&self.project, source);
            if self.docker.inspect_volume(&volume).await.is_ok() {
                continue;
            }
            self.docker
                .create_volume(VolumeCreateRequest {
                    name: Some(volume.clone()),
                    labels: Some([(PROJECT_LABEL.to_owned(), self.project.name.clone())].into()),
                    ..Default::default()
                })
                .await?;
        }
        let config = container_config(&self.project, service, &image, &|_| None)?;
        let options = CreateContainerOptionsBuilder::default()
            .name(&self.container(service))
            .build();
        self.docker.create_container(Some(options), config).await?;
        self.start_again(service).await
    }

    /// Stops the service's container (its volumes stay).
    pub async fn stop(&self, service: &str) -> anyhow::Result<()> {
        let options = StopContainerOptionsBuilder::default().t(10).build();
        self.docker
            .stop_container(&self.container(service), Some(options))
            .await?;
        Ok(())
    }

    /// Starts the stopped container again and waits for health.
    pub async fn start_again(&self, service: &str) -> anyhow::Result<()> {
        self.docker
            .start_container(&self.container(service), None)
            .await?;
        self.wait_healthy(service).await
    }

    /// Restarts the container (stop, start) and waits for health.
    pub async fn restart(&self, service: &str) -> anyhow::Result<()> {
        self.docker
            .restart_container(&self.container(service), None)
            .await?;
        self.wait_healthy(service).await
    }

    /// Removes the container and starts a new one on the same volumes.
    pub async fn recreate(&mut self, service: &str) -> anyhow::Result<()> {
        let options = crate::container::remove_options();
        self.docker
            .remove_container(&self.container(service), Some(options))
            .await?;
        self.start(service).await
    }

    async fn wait_healthy(&self, service: &str) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(120);
        crate::stack::wait::until_healthy(&self.docker, &self.container(service), deadline).await
    }

    /// The last lines of the service's log.
    pub async fn logs(&self, service: &str) -> String {
        crate::stack::wait::log_tail(&self.docker, &self.container(service), 50).await
    }
}

impl Drop for Testbed {
    /// Removes every container and volume labelled with the copy's project,
    /// its firewall rules and its pins, from a thread of its own since the
    /// caller's runtime may be shutting down.
    fn drop(&mut self) {
        if let Some(state) = crate::pins::path(&self.project).parent() {
            let _ = std::fs::remove_dir_all(state);
        }
        let project = self.project.name.clone();
        let _ = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async {
                if let Ok(docker) = crate::engine::connect().await {
                    remove_project(&docker, &project).await;
                }
            });
        })
        .join();
    }
}

/// Removes, as far as it can, everything a test copy or a lesson's project
/// named `project` left: its containers (with their anonymous volumes), its
/// volumes and its firewall chain.
pub async fn remove_project(docker: &bollard::Docker, project: &str) {
    for container in crate::stack::containers(docker, project)
        .await
        .unwrap_or_default()
    {
        let options = crate::container::remove_options();
        let _ = docker.remove_container(&container.id, Some(options)).await;
    }
    for volume in crate::stack::volumes(docker, project)
        .await
        .unwrap_or_default()
    {
        let _ = docker
            .remove_volume(&volume, None::<RemoveVolumeOptions>)
            .await;
    }
    if crate::firewall::check_available().is_ok() {
        let _ = crate::firewall::remove(project);
    }
}

/// The stack's compose file with `vars` for its variables.
fn load(vars: &BTreeMap<String, String>) -> anyhow::Result<Project> {
    Ok(Project::load_with(&stack_compose_file(), &|name| {
        vars.get(name).cloned()
    })?)
}

/// The `SHOP_..._PORT` variables a compose file uses, from the project's
/// record of interpolation (loaded with their defaults).
pub fn port_variables(file: &Path) -> anyhow::Result<std::collections::BTreeSet<String>> {
    let project = Project::load_with(file, &|_| None)?;
    Ok(project
        .variables
        .into_iter()
        .map(|v| v.name)
        .filter(|name| name.starts_with("SHOP_") && name.ends_with("_PORT"))
        .collect())
}

/// The stack's `db` service alone, with a port, volume and API password of
/// its own.
pub struct Database {
    pub bed: Testbed,
    /// The loopback port it listens on.
    pub port: u16,
    /// The API account's password (it contains a quote and a backslash, so
    /// that quoting is exercised).
    pub password: String,
}

impl Database {
    /// Builds the image if needed, starts the container and waits until it
    /// is healthy.
    pub async fn start(label: &str) -> anyhow::Result<Database> {
        let mut bed = Testbed::new(label).await?;
        let port = bed.port("SHOP_DB_PORT")?;
        let password = format!("pw-{}'\\-{port}", std::process::id());
        bed.set_secret("db_api_password", &password)?;
        bed.start("db").await?;
        Ok(Database {
            bed,
            port,
            password,
        })
    }

    /// `mysql://` URL for `user` with `password` (or none), database `shop`.
    pub fn url(&self, user: &str, password: Option<&str>) -> String {
        let auth = match password {
            Some(pw) => format!("{user}:{}", crate::percent::encode(pw, b"")),
            None => user.to_owned(),
        };
        format!("mysql://{auth}@127.0.0.1:{}/shop", self.port)
    }

    /// `mysql://` URL of the API account, with its password.
    pub fn api_url(&self) -> String {
        self.url("shop_api", Some(&self.password))
    }

    pub async fn stop(&self) -> anyhow::Result<()> {
        self.bed.stop("db").await
    }

    pub async fn start_again(&self) -> anyhow::Result<()> {
        self.bed.start_again("db").await
    }

    pub async fn restart(&self) -> anyhow::Result<()> {
        self.bed.restart("db").await
    }

    pub async fn recreate(&mut self) -> anyhow::Result<()> {
        self.bed.recreate("db").await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stack_port_variables_are_found() {
        let vars = port_variables(&stack_compose_file()).unwrap();
        assert!(
            vars.contains("SHOP_DB_PORT") && vars.contains("SHOP_API_PORT"),
            "{vars:?}"
        );
    }
}
