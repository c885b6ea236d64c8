//! The connection to the Docker engine: one place that connects, negotiates
//! the API version (the engine here speaks 1.41, newer engines more) and turns
//! "the engine is not there" into one line that says what to do.

use anyhow::Context as _;
use bollard::Docker;

/// Where the engine is expected when `DOCKER_HOST` is not set.
const DEFAULT_HOST: &str = "unix:///var/run/docker.sock";

/// Connects to the engine named by `DOCKER_HOST` (or the local socket) and
/// negotiates the API version.
pub async fn connect() -> anyhow::Result<Docker> {
    let host = std::env::var("DOCKER_HOST").unwrap_or_else(|_| DEFAULT_HOST.to_owned());
    let unreachable = || {
        format!(
            "the Docker engine does not answer at {host}; start it (`sudo systemctl start docker` or \
             `sudo service docker start`), or point DOCKER_HOST at a running engine"
        )
    };
    let docker = Docker::connect_with_defaults().with_context(unreachable)?;
    let docker = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        docker.negotiate_version(),
    )
    .await
    .map_err(|_| anyhow::anyhow!("no answer within 10 s"))
    .with_context(unreachable)?
    .with_context(unreachable)?;
    Ok(docker)
}

/// True when an engine error means "no such object" (404).
pub fn is_not_found(err: &bollard::errors::Error) -> bool {
    matches!(
        err,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}
