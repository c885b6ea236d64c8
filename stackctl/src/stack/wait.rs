//! Waiting for a container to be started, healthy or done, with a bound,
//! and the diagnostics to print when it is not: its last log lines and its
//! last health-check output.

use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::models::HealthStatusEnum;
use bollard::query_parameters::LogsOptionsBuilder;
use futures_util::StreamExt as _;

use crate::compose::Condition;
use crate::progress::Task;

/// Where a container stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Status {
    Pending,
    /// Running; healthy too if it has no health check.
    Running {
        has_healthcheck: bool,
    },
    Healthy,
    /// Exited with this code.
    Exited(i64),
    Failed(String),
}

impl Status {
    /// Whether `condition` holds; `Some(false)` when it never will.
    pub(super) fn satisfies(&self, condition: Condition) -> Option<bool> {
        match (self, condition) {
            (Status::Pending, _) => None,
            (Status::Failed(_), _) => Some(false),
            (Status::Running { .. } | Status::Healthy, Condition::Started) => Some(true),
            (Status::Healthy, Condition::Healthy) => Some(true),
            (
                Status::Running {
                    has_healthcheck: false,
                },
                Condition::Healthy,
            ) => Some(false),
            (Status::Running { .. }, _) => None,
            (Status::Healthy, Condition::CompletedSuccessfully) => None,
            (Status::Exited(code), Condition::CompletedSuccessfully) => Some(*code == 0),
            // It did start; Compose asks no more of `service_started`.
            (Status::Exited(_), Condition::Started) => Some(true),
            (Status::Exited(_), Condition::Healthy) => Some(false),
        }
    }
}

/// Follows a started container until it is healthy (or running, without a
/// health check), has exited, or `timeout` passes; reports each change.
/// With `await_exit`, a running container is followed until it exits.
pub(super) async fn follow(
    docker: &Docker,
    container: &str,
    timeout: Duration,
    await_exit: bool,
    task: &Task,
    mut report: impl FnMut(Status),
) -> Status {
    let deadline = Instant::now() + timeout;
    let mut last = Status::Pending;
    loop {
        let status = match docker.inspect_container(container, None).await {
            Err(err) => Status::Failed(format!("cannot inspect {container}: {err}")),
            Ok(inspected) => {
                let has_healthcheck = inspected
                    .config
                    .and_then(|c| c.healthcheck)
                    .and_then(|h| h.test)
                    .is_some_and(|t| t.first().is_some_and(|first| first != "NONE"));
                let state = inspected.state.unwrap_or_default();
                let health = state.health.and_then(|h| h.status);
                if state.restarting == Some(true) {
                    Status::Failed(format!(
                        "it keeps restarting (last exit code {})",
                        state.exit_code.unwrap_or_default()
                    ))
                } else if state.running != Some(true) {
                    Status::Exited(state.exit_code.unwrap_or_default())
                } else if health == Some(HealthStatusEnum::HEALTHY) {
                    Status::Healthy
                } else if health == Some(HealthStatusEnum::UNHEALTHY) {
                    Status::Failed("its health check reports it unhealthy".to_owned())
                } else {
                    Status::Running { has_healthcheck }
                }
            }
        };
        if status != last {
            report(status.clone());
            last = status.clone();
        }
        match &status {
            Status::Running { .. } | Status::Healthy if await_exit => {
                task.step("running; waiting for it to complete")
            }
            Status::Running {
                has_healthcheck: true,
            } => task.step("running; waiting for its health check"),
            Status::Running {
                has_healthcheck: false,
            }
            | Status::Healthy
            | Status::Exited(_)
            | Status::Failed(_) => {
                return status;
            }
            Status::Pending => {}
        }
        if Instant::now() > deadline {
            let waited_for = if await_exit {
                "not complete"
            } else {
                "not healthy"
            };
            let failed = Status::Failed(format!("{waited_for} after {}s", timeout.as_secs()));
            report(failed.clone());
            return failed;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The last `lines` lines of a container's log (stdout and stderr).
pub(crate) async fn log_tail(docker: &Docker, container: &str, lines: usize) -> String {
    let options = LogsOptionsBuilder::default()
        .stdout(true)
        .stderr(true)
        .tail(&lines.to_string())
        .build();
    let mut stream = docker.logs(container, Some(options));
    let mut text = String::new();
    while let Some(Ok(chunk)) = stream.next().await {
        text.push_str(&chunk.to_string());
    }
    text
}

/// Waits until `container` runs and is healthy (or runs without a health
/// check); past `deadline`, or once it stopped, an error with its
/// diagnostics.
pub(crate) async fn until_healthy(
    docker: &Docker,
    container: &str,
    deadline: Instant,
) -> anyhow::Result<()> {
    loop {
        let state = docker
            .inspect_container(container, None)
            .await?
            .state
            .unwrap_or_default();
        let running = state.running == Some(true);
        let health = state.health.and_then(|h| h.status);
        if running && matches!(health, Some(HealthStatusEnum::HEALTHY) | None) {
            return Ok(());
        }
        if !running || Instant::now() > deadline {
            anyhow::bail!(
                "{container} did not become healthy (running: {running}, health: {health:?})\n{}",
                diagnostics(docker, container).await
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The last log lines and the last health-check output of a container, for
/// an error message.
pub(super) async fn diagnostics(docker: &Docker, container: &str) -> String {
    let mut text = String::new();
    if let Ok(inspected) = docker.inspect_container(container, None).await
        && let Some(last) = inspected
            .state
            .and_then(|s| s.health)
            .and_then(|h| h.log)
            .and_then(|log| log.last().cloned())
    {
        text.push_str(&format!(
            "last health check (exit code {}): {}\n",
            last.exit_code.unwrap_or_default(),
            last.output.unwrap_or_default().trim()
        ));
    }
    let lines = log_tail(docker, container, 20).await;
    if lines.trim().is_empty() {
        text.push_str("its log is empty\n");
    } else {
        text.push_str(&format!("last log lines of {container}:\n"));
        for line in lines.lines() {
            text.push_str(&format!("  {line}\n"));
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_hold_only_for_the_right_status() {
        let healthy = Status::Healthy;
        assert_eq!(healthy.satisfies(Condition::Started), Some(true));
        assert_eq!(healthy.satisfies(Condition::Healthy), Some(true));
        let starting = Status::Running {
            has_healthcheck: true,
        };
        assert_eq!(starting.satisfies(Condition::Started), Some(true));
        assert_eq!(
            starting.satisfies(Condition::Healthy),
            None,
            "still waiting"
        );
        let unchecked = Status::Running {
            has_healthcheck: false,
        };
        assert_eq!(
            unchecked.satisfies(Condition::Healthy),
            Some(false),
            "never healthy without a check"
        );
        assert_eq!(
            Status::Exited(0).satisfies(Condition::CompletedSuccessfully),
            Some(true)
        );
        assert_eq!(
            Status::Exited(1).satisfies(Condition::CompletedSuccessfully),
            Some(false)
        );
        assert_eq!(
            Status::Failed("x".into()).satisfies(Condition::Started),
            Some(false)
        );
    }
}
