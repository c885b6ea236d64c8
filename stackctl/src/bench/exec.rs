//! Commands run inside the bench's containers with `docker exec`: the probe's
//! clients in a client container (a service reaching a service), and the
//! SSH helpers of the tunnel path. The exec's own cost (the engine starting
//! the process) is outside what the clients time.

use anyhow::{Context as _, bail};
use bollard::Docker;
use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
use futures_util::StreamExt as _;

/// What a command printed and how it ended.
#[derive(Debug, Clone)]
pub struct Output {
    pub exit_code: Option<i64>,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `argv` in `container` and waits for it to end.
pub async fn run(docker: &Docker, container: &str, argv: &[String]) -> anyhow::Result<Output> {
    let exec = docker
        .create_exec(
            container,
            CreateExecOptions {
                cmd: Some(argv.to_vec()),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                ..Default::default()
            },
        )
        .await
        .with_context(|| format!("cannot run `{}` in {container}", argv.join(" ")))?;
    let mut stdout = String::new();
    let mut stderr = String::new();
    let options = StartExecOptions {
        output_capacity: Some(1 << 20),
        ..Default::default()
    };
    if let StartExecResults::Attached { mut output, .. } =
        docker.start_exec(&exec.id, Some(options)).await?
    {
        while let Some(chunk) = output.next().await {
            match chunk? {
                bollard::container::LogOutput::StdOut { message } => {
                    stdout.push_str(&String::from_utf8_lossy(&message));
                }
                bollard::container::LogOutput::StdErr { message } => {
                    stderr.push_str(&String::from_utf8_lossy(&message));
                }
                _ => {}
            }
        }
    }
    let exit_code = docker.inspect_exec(&exec.id).await?.exit_code;
    Ok(Output {
        exit_code,
        stdout,
        stderr,
    })
}

/// Starts `argv` in `container` and returns at once; it ends with the container.
pub async fn detach(docker: &Docker, container: &str, argv: &[String]) -> anyhow::Result<()> {
    let exec = docker
        .create_exec(
            container,
            CreateExecOptions {
                cmd: Some(argv.to_vec()),
                ..Default::default()
            },
        )
        .await
        .with_context(|| format!("cannot run `{}` in {container}", argv.join(" ")))?;
    docker
        .start_exec(
            &exec.id,
            Some(StartExecOptions {
                detach: true,
                ..Default::default()
            }),
        )
        .await?;
    Ok(())
}

/// Runs `argv` and returns its stdout, failing with its stderr unless it
/// exits 0.
pub async fn run_ok(docker: &Docker, container: &str, argv: &[String]) -> anyhow::Result<String> {
    let output = run(docker, container, argv).await?;
    if output.exit_code != Some(0) {
        bail!(
            "`{}` in {container} failed (exit {:?}): {}{}",
            argv.join(" "),
            output.exit_code,
            output.stderr.trim(),
            output.stdout.trim()
        );
    }
    Ok(output.stdout)
}

/// Runs the probe's client `args` (`latency --target …`) in `container`
/// and parses the JSON it prints.
pub async fn probe_client<T: serde::de::DeserializeOwned>(
    docker: &Docker,
    container: &str,
    args: &[String],
) -> anyhow::Result<T> {
    let mut argv = vec![
        crate::image::binary::binary_path_in_image("probe"),
        "client".to_owned(),
    ];
    argv.extend_from_slice(args);
    let stdout = run_ok(docker, container, &argv).await?;
    serde_json::from_str(stdout.trim())
        .with_context(|| format!("the probe's client in {container} printed {stdout:?}"))
}
