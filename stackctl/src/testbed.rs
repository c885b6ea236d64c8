//! Throwaway copies of the stack's services for tests and benchmarks: the
//! real images, run as `compose.yaml` declares them (host network, hardening,
//! limits), under a project name, port and volume of their own, so that they
//! run in parallel with each other and beside a running `stackctl up`, and are
//! removed when dropped.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use bollard::Docker;
use bollard::models::{HealthStatusEnum, VolumeCreateRequest};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, LogsOptionsBuilder, RemoveContainerOptionsBuilder,
    RemoveVolumeOptions, StopContainerOptionsBuilder,
};
use futures_util::StreamExt as _;

use crate::compose::Project;
use crate::container::{PROJECT_LABEL, container_config, container_name, volume_name};
use crate::image::{self, BuildOptions};
use crate::progress::Progress;

/// The stack's own `compose.yaml` in this workspace.
pub fn stack_compose_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../compose.yaml")
}

/// A free TCP port on loopback (the kernel's choice, released at once).
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
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

/// The stack's `db` service with a port, volume and API password of its own.
pub struct Database {
    pub docker: Docker,
    /// The loopback port it listens on.
    pub port: u16,
    /// The API account's password (it contains a quote and a backslash, so
    /// that quoting is exercised).
    pub password: String,
    pub container: String,
    pub volume: String,
    project: Project,
    image_id: String,
    _secrets: tempfile::TempDir,
}

impl Database {
    /// Builds the image if needed, starts the container and waits until it
    /// is healthy. `label` names the copy (`stackctl-test-LABEL-PID`).
    pub async fn start(label: &str) -> anyhow::Result<Database> {
        let docker = crate::engine::connect().await?;
        let built = build(&docker, &["db"]).await?;
        let port = free_port()?;
        let password = format!("pw-{}'\\-{port}", std::process::id());
        let secrets = tempfile::tempdir()?;
        let secret_file = secrets.path().join("db_api_password");
        std::fs::write(&secret_file, &password)?;
        // Readable by the database's uid; the directory stays root-only.
        std::fs::set_permissions(
            &secret_file,
            std::os::unix::fs::PermissionsExt::from_mode(0o444),
        )?;

        let mut project = Project::load(&stack_compose_file())?;
        project.rename(&format!("stackctl-test-{label}-{}", std::process::id()));
        let db = project
            .model
            .services
            .get_mut("db")
            .context("compose.yaml has no db service")?;
        db.environment
            .0
            .insert("MARIADB_PORT".into(), Some(port.to_string()));
        project
            .model
            .secrets
            .get_mut("db_api_password")
            .context("compose.yaml has no db_api_password secret")?
            .file = Some(secret_file.display().to_string());

        let volume = volume_name(&project, "db-data");
        docker
            .create_volume(VolumeCreateRequest {
                name: Some(volume.clone()),
                labels: Some([(PROJECT_LABEL.to_owned(), project.name.clone())].into()),
                ..Default::default()
            })
            .await?;
        let database = Database {
            docker,
            port,
            password,
            container: container_name(&project.name, "db"),
            volume,
            project,
            image_id: built[0].id.clone(),
            _secrets: secrets,
        };
        database.create_and_start().await?;
        Ok(database)
    }

    /// `mysql://` URL for `user` with `password` (or none), database `shop`.
    pub fn url(&self, user: &str, password: Option<&str>) -> String {
        let auth = match password {
            Some(pw) => format!("{user}:{}", urlencode(pw)),
            None => user.to_owned(),
        };
        format!("mysql://{auth}@127.0.0.1:{}/shop", self.port)
    }

    /// `mysql://` URL of the API account, with its password.
    pub fn api_url(&self) -> String {
        self.url("shop_api", Some(&self.password))
    }

    async fn create_and_start(&self) -> anyhow::Result<()> {
        let config = container_config(&self.project, "db", &self.image_id, &|_| None)?;
        let options = CreateContainerOptionsBuilder::default()
            .name(&self.container)
            .build();
        self.docker.create_container(Some(options), config).await?;
        self.start_again().await
    }

    /// Stops the container (the database goes away; the volume stays).
    pub async fn stop(&self) -> anyhow::Result<()> {
        let options = StopContainerOptionsBuilder::default().t(10).build();
        self.docker
            .stop_container(&self.container, Some(options))
            .await?;
        Ok(())
    }

    /// Starts the stopped container again and waits for health.
    pub async fn start_again(&self) -> anyhow::Result<()> {
        self.docker.start_container(&self.container, None).await?;
        self.wait_healthy().await
    }

    /// Restarts the container (stop, start) and waits for health.
    pub async fn restart(&self) -> anyhow::Result<()> {
        self.docker.restart_container(&self.container, None).await?;
        self.wait_healthy().await
    }

    /// Removes the container and makes a new one on the same volume.
    pub async fn recreate(&self) -> anyhow::Result<()> {
        let options = RemoveContainerOptionsBuilder::default().force(true).build();
        self.docker
            .remove_container(&self.container, Some(options))
            .await?;
        self.create_and_start().await
    }

    async fn wait_healthy(&self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let state = self
                .docker
                .inspect_container(&self.container, None)
                .await?
                .state
                .unwrap_or_default();
            let health = state.health.and_then(|h| h.status);
            if health == Some(HealthStatusEnum::HEALTHY) {
                return Ok(());
            }
            if state.running != Some(true) || Instant::now() > deadline {
                bail!(
                    "{} did not become healthy (running: {:?}, health: {health:?}); its log:\n{}",
                    self.container,
                    state.running,
                    self.logs().await
                );
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// The last lines of the container's log.
    pub async fn logs(&self) -> String {
        let options = LogsOptionsBuilder::default()
            .stdout(true)
            .stderr(true)
            .tail("50")
            .build();
        let mut stream = self.docker.logs(&self.container, Some(options));
        let mut text = String::new();
        while let Some(Ok(chunk)) = stream.next().await {
            text.push_str(&chunk.to_string());
        }
        text
    }
}

impl Drop for Database {
    /// Removes the container and its volume, from a thread of its own since
    /// the caller's runtime may be shutting down.
    fn drop(&mut self) {
        let (container, volume) = (self.container.clone(), self.volume.clone());
        let _ = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async {
                let Ok(docker) = crate::engine::connect().await else {
                    return;
                };
                let options = RemoveContainerOptionsBuilder::default()
                    .force(true)
                    .v(true)
                    .build();
                let _ = docker.remove_container(&container, Some(options)).await;
                let _ = docker
                    .remove_volume(&volume, None::<RemoveVolumeOptions>)
                    .await;
            });
        })
        .join();
    }
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
