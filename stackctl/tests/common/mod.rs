//! Test fixtures on the real engine: the stack's own database service, run
//! from `compose.yaml` under a project name and port of the test's own, so
//! tests run in parallel and beside a running stack, and are removed again.

#![allow(
    dead_code,
    reason = "each test binary uses a part of the shared fixtures"
)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::models::{HealthStatusEnum, VolumeCreateRequest};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, LogsOptionsBuilder, RemoveContainerOptionsBuilder,
    RemoveVolumeOptions,
};
use futures_util::StreamExt as _;
use stackctl::compose::Project;
use stackctl::container::{container_config, container_name, volume_name};
use stackctl::image::{self, BuildOptions};
use stackctl::progress::Progress;

pub(crate) fn repo_compose_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../compose.yaml")
}

/// A free TCP port on loopback (the kernel's choice, released at once).
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Builds (or confirms) the images of `services` of the stack.
pub(crate) async fn build(docker: &Docker, services: &[&str]) -> Vec<image::Built> {
    let project = Project::load(&repo_compose_file()).unwrap();
    let services: Vec<String> = services.iter().map(|s| s.to_string()).collect();
    image::build(
        docker,
        &project,
        &services,
        &BuildOptions::default(),
        &Progress::plain(),
    )
    .await
    .expect("the stack's images build")
}

/// The stack's `db` service running on the host network on a port of its own.
pub(crate) struct TestDb {
    pub(crate) docker: Docker,
    pub(crate) port: u16,
    pub(crate) password: String,
    pub(crate) container: String,
    pub(crate) volume: String,
    project: Project,
    image_id: String,
    _secrets: tempfile::TempDir,
}

impl TestDb {
    pub(crate) async fn start(test: &str) -> TestDb {
        let docker = stackctl::engine::connect().await.expect("a Docker engine");
        let built = build(&docker, &["db"]).await;
        let port = free_port();
        let password = format!("pw-{}'\\-{port}", std::process::id());
        let secrets = tempfile::tempdir().unwrap();
        let secret_file = secrets.path().join("db_api_password");
        std::fs::write(&secret_file, &password).unwrap();
        // Readable by the database's uid; the directory stays root-only.
        std::fs::set_permissions(
            &secret_file,
            std::os::unix::fs::PermissionsExt::from_mode(0o444),
        )
        .unwrap();

        let mut project = Project::load(&repo_compose_file()).unwrap();
        project.rename(&format!("stackctl-test-{test}-{}", std::process::id()));
        let db = project.model.services.get_mut("db").unwrap();
        db.environment
            .0
            .insert("MARIADB_PORT".into(), Some(port.to_string()));
        project
            .model
            .secrets
            .get_mut("db_api_password")
            .unwrap()
            .file = Some(secret_file.display().to_string());

        let volume = volume_name(&project, "db-data");
        docker
            .create_volume(VolumeCreateRequest {
                name: Some(volume.clone()),
                labels: Some(
                    [(
                        "com.docker.compose.project".to_owned(),
                        project.name.clone(),
                    )]
                    .into(),
                ),
                ..Default::default()
            })
            .await
            .unwrap();
        let fixture = TestDb {
            docker,
            port,
            password,
            container: container_name(&project.name, "db"),
            volume,
            project,
            image_id: built[0].id.clone(),
            _secrets: secrets,
        };
        fixture.create_and_start().await;
        fixture
    }

    /// `mysql://` URL for the API account, with `password` (or none).
    pub(crate) fn url(&self, user: &str, password: Option<&str>) -> String {
        let auth = match password {
            Some(pw) => format!("{user}:{}", urlencode(pw)),
            None => user.to_owned(),
        };
        format!("mysql://{auth}@127.0.0.1:{}/shop", self.port)
    }

    async fn create_and_start(&self) {
        let config = container_config(&self.project, "db", &self.image_id, &|_| None).unwrap();
        let options = CreateContainerOptionsBuilder::default()
            .name(&self.container)
            .build();
        self.docker
            .create_container(Some(options), config)
            .await
            .unwrap();
        self.docker
            .start_container(&self.container, None)
            .await
            .unwrap();
        self.wait_healthy().await;
    }

    /// Restarts the container (stop, start) and waits for health.
    pub(crate) async fn restart(&self) {
        self.docker
            .restart_container(&self.container, None)
            .await
            .unwrap();
        self.wait_healthy().await;
    }

    /// Removes the container and makes a new one on the same volume.
    pub(crate) async fn recreate(&self) {
        self.remove_container().await;
        self.create_and_start().await;
    }

    async fn remove_container(&self) {
        let options = RemoveContainerOptionsBuilder::default().force(true).build();
        let _ = self
            .docker
            .remove_container(&self.container, Some(options))
            .await;
    }

    async fn wait_healthy(&self) {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let state = self
                .docker
                .inspect_container(&self.container, None)
                .await
                .unwrap()
                .state
                .unwrap();
            let health = state.health.and_then(|h| h.status);
            if health == Some(HealthStatusEnum::HEALTHY) {
                return;
            }
            if state.running != Some(true) || Instant::now() > deadline {
                panic!(
                    "{} did not become healthy (running: {:?}, health: {health:?}); its log:\n{}",
                    self.container,
                    state.running,
                    self.logs().await
                );
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    pub(crate) async fn logs(&self) -> String {
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

impl Drop for TestDb {
    /// Removes the container and its volume, from a thread of its own since
    /// the test's runtime may be shutting down.
    fn drop(&mut self) {
        let (container, volume) = (self.container.clone(), self.volume.clone());
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let docker = stackctl::engine::connect().await.unwrap();
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
