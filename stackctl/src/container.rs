//! A Compose service mapped faithfully onto the engine's container
//! configuration: network mode, hardening, limits, health check, restart
//! policy, logging, mounts and secrets, with compose-style names and labels so
//! `docker ps` reads naturally and stackctl finds exactly what it made.

use std::collections::HashMap;

use anyhow::{Context as _, bail};
use bollard::models::{
    ContainerCreateBody, HealthConfig, HostConfig, HostConfigLogConfig, Mount, MountType,
    PortBinding, PortMap, ResourcesUlimits, RestartPolicy, RestartPolicyNameEnum,
};

use crate::compose::model::{Restart, VolumeMount};
use crate::compose::{Project, Service};

/// Label with the project name (the one Compose uses).
pub const PROJECT_LABEL: &str = "com.docker.compose.project";
/// Label with the service name.
pub const SERVICE_LABEL: &str = "com.docker.compose.service";

/// How stackctl removes a container it made: forced (running or not), with
/// its anonymous volumes, which nothing else would ever remove. Named
/// volumes (the database's data) are never removed this way.
pub fn remove_options() -> bollard::query_parameters::RemoveContainerOptions {
    bollard::query_parameters::RemoveContainerOptionsBuilder::default()
        .force(true)
        .v(true)
        .build()
}

/// The compose-style container name: `PROJECT-SERVICE-1`.
pub fn container_name(project: &str, service: &str) -> String {
    format!("{project}-{service}-1")
}

/// The engine name of a named volume: `PROJECT_VOLUME`, or its `name:`.
pub fn volume_name(project: &Project, volume: &str) -> String {
    match project
        .model
        .volumes
        .get(volume)
        .and_then(|v| v.name.clone())
    {
        Some(name) => name,
        None => format!("{}_{volume}", project.name),
    }
}

/// Builds the container configuration of `service_name`, running `image`
/// (a tag or, once pinned, an image ID). `lookup` supplies the values of
/// environment entries written without one (`- DEBUG`), normally stackctl's
/// own environment.
pub fn container_config(
    project: &Project,
    service_name: &str,
    image: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<ContainerCreateBody> {
    let service = project.service(service_name)?;
    let mut labels: HashMap<String, String> = service.labels.0.clone().into_iter().collect();
    labels.insert(PROJECT_LABEL.to_owned(), project.name.clone());
    labels.insert(SERVICE_LABEL.to_owned(), service_name.to_owned());
    labels.insert(
        "com.docker.compose.container-number".to_owned(),
        "1".to_owned(),
    );

    let (exposed_ports, port_bindings) = ports(service);
    let host_config = HostConfig {
        network_mode: service.network_mode.clone(),
        port_bindings,
        mounts: Some(mounts(project, service_name, service)?),
        tmpfs: (!service.tmpfs.is_empty()).then(|| {
            service
                .tmpfs
                .iter()
                .map(|entry| {
                    let (path, options) = entry.split_once(':').unwrap_or((entry, ""));
                    (path.to_owned(), options.to_owned())
                })
                .collect()
        }),
        cap_add: non_empty(&service.cap_add),
        cap_drop: non_empty(&service.cap_drop),
        readonly_rootfs: Some(service.read_only),
        security_opt: non_empty(&service.security_opt),
        pids_limit: service.pids_limit,
        memory: service.mem_limit.map(|m| m.0 as i64),
        nano_cpus: service.cpus.map(|c| (c.0 * 1e9) as i64),
        ulimits: (!service.ulimits.is_empty()).then(|| {
            service
                .ulimits
                .iter()
                .map(|(name, limit)| ResourcesUlimits {
                    name: Some(name.clone()),
                    soft: Some(limit.soft),
                    hard: Some(limit.hard),
                })
                .collect()
        }),
        restart_policy: service.restart.map(restart_policy),
        log_config: service.logging.as_ref().map(|logging| HostConfigLogConfig {
            typ: logging.driver.clone(),
            config: Some(logging.options.clone().into_iter().collect()),
        }),
        ..HostConfig::default()
    };

    Ok(ContainerCreateBody {
        image: Some(image.to_owned()),
        user: service.user.clone(),
        env: Some(environment(project, service, lookup)?),
        cmd: service.command.as_ref().map(|c| c.0.clone()),
        entrypoint: service.entrypoint.as_ref().map(|c| c.0.clone()),
        working_dir: service.working_dir.clone(),
        labels: Some(labels),
        healthcheck: service.healthcheck.as_ref().map(|h| HealthConfig {
            test: if h.disable {
                Some(vec!["NONE".to_owned()])
            } else {
                h.test.clone()
            },
            interval: h.interval.map(|d| d.0.as_nanos() as i64),
            timeout: h.timeout.map(|d| d.0.as_nanos() as i64),
            retries: h.retries.map(i64::from),
            start_period: h.start_period.map(|d| d.0.as_nanos() as i64),
            start_interval: h.start_interval.map(|d| d.0.as_nanos() as i64),
        }),
        stop_signal: service.stop_signal.clone(),
        stop_timeout: service.stop_grace_period.map(|d| d.0.as_secs() as i64),
        exposed_ports,
        host_config: Some(host_config),
        ..ContainerCreateBody::default()
    })
}

fn non_empty(items: &[String]) -> Option<Vec<String>> {
    (!items.is_empty()).then(|| items.to_vec())
}

fn restart_policy(restart: Restart) -> RestartPolicy {
    let (name, maximum_retry_count) = match restart {
        Restart::No => (RestartPolicyNameEnum::NO, None),
        Restart::Always => (RestartPolicyNameEnum::ALWAYS, None),
        Restart::UnlessStopped => (RestartPolicyNameEnum::UNLESS_STOPPED, None),
        Restart::OnFailure { max_retries } => (
            RestartPolicyNameEnum::ON_FAILURE,
            max_retries.map(i64::from),
        ),
    };
    RestartPolicy {
        name: Some(name),
        maximum_retry_count,
    }
}

/// `env_file` entries first, then `environment`, which wins, as in Compose.
fn environment(
    project: &Project,
    service: &Service,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<Vec<String>> {
    let mut values: Vec<(String, String)> = Vec::new();
    for env_file in &service.env_file {
        let path = project.resolve(&env_file.path);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(_) if !env_file.required => continue,
            Err(err) => bail!("cannot read env_file {}: {err}", path.display()),
        };
        for line in text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            match line.split_once('=') {
                Some((k, v)) => {
                    values.push((k.trim().to_owned(), v.trim().trim_matches('"').to_owned()))
                }
                None => {
                    if let Some(v) = lookup(line) {
                        values.push((line.to_owned(), v));
                    }
                }
            }
        }
    }
    for (key, value) in &service.environment.0 {
        let value = match value {
            Some(v) => Some(v.clone()),
            None => lookup(key),
        };
        if let Some(value) = value {
            values.retain(|(k, _)| k != key);
            values.push((key.clone(), value));
        }
    }
    Ok(values
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect())
}

/// Volumes, bind mounts and secrets as engine mounts.
fn mounts(project: &Project, service_name: &str, service: &Service) -> anyhow::Result<Vec<Mount>> {
    let mut mounts = Vec::new();
    for VolumeMount {
        kind,
        source,
        target,
        read_only,
        ..
    } in &service.volumes
    {
        let (typ, source) = match kind.as_str() {
            "volume" => (
                MountType::VOLUME,
                source.as_deref().map(|s| volume_name(project, s)),
            ),
            "bind" => {
                let source = source.as_deref().context("a bind mount needs a source")?;
                let expanded = match source.strip_prefix("~/") {
                    Some(rest) => {
                        std::path::PathBuf::from(std::env::var("HOME").unwrap_or_default())
                            .join(rest)
                    }
                    None => project.resolve(source),
                };
                (
                    MountType::BIND,
                    Some(expanded.to_string_lossy().into_owned()),
                )
            }
            _ => (MountType::TMPFS, None),
        };
        mounts.push(Mount {
            typ: Some(typ),
            source,
            target: Some(target.clone()),
            read_only: Some(*read_only),
            ..Mount::default()
        });
    }
    for secret in &service.secrets {
        let declared = project.model.secrets.get(&secret.source).with_context(|| {
            format!(
                "service `{service_name}`: secret `{}` is not declared",
                secret.source
            )
        })?;
        let Some(file) = &declared.file else {
            bail!(
                "service `{service_name}`: secret `{}` comes from the environment, which stackctl cannot mount; give it a `file:`",
                secret.source
            );
        };
        mounts.push(Mount {
            typ: Some(MountType::BIND),
            source: Some(project.resolve(file).to_string_lossy().into_owned()),
            target: Some(secret.mount_path()),
            read_only: Some(true),
            ..Mount::default()
        });
    }
    Ok(mounts)
}

/// Published ports for services not on the host network (the bench's bridge path).
fn ports(service: &Service) -> (Option<Vec<String>>, Option<PortMap>) {
    if service.ports.is_empty() || service.network_mode.as_deref() == Some("host") {
        return (None, None);
    }
    let mut exposed = Vec::new();
    let mut bindings = HashMap::new();
    for port in &service.ports {
        let key = format!(
            "{}/{}",
            port.target,
            port.protocol.as_deref().unwrap_or("tcp")
        );
        exposed.push(key.clone());
        bindings.insert(
            key,
            Some(vec![PortBinding {
                host_ip: port.host_ip.clone(),
                host_port: port.published.clone(),
            }]),
        );
    }
    (Some(exposed), Some(bindings))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn project(text: &str) -> Project {
        Project::parse(text, Path::new("/srv/shop/compose.yaml")).unwrap()
    }

    #[test]
    fn hardening_and_limits_reach_the_engine_configuration() {
        let p = project(
            "name: shop\nservices:\n  db:\n    image: db:local\n    network_mode: host\n    user: \"10001:10001\"\n    cap_drop: [ALL]\n    read_only: true\n    security_opt: [\"no-new-privileges:true\"]\n    pids_limit: 128\n    mem_limit: 256m\n    cpus: 0.5\n    restart: on-failure:5\n    tmpfs: [\"/tmp:size=16m\"]\n    volumes: [\"data:/var/lib/mysql\"]\n    healthcheck:\n      test: [\"CMD\", \"check\"]\n      interval: 5s\nvolumes:\n  data:\n",
        );
        let config = container_config(&p, "db", "db:local", &|_| None).unwrap();
        let host = config.host_config.unwrap();
        assert_eq!(host.network_mode.as_deref(), Some("host"));
        assert_eq!(host.cap_drop, Some(vec!["ALL".to_owned()]));
        assert_eq!(host.readonly_rootfs, Some(true));
        assert_eq!(host.pids_limit, Some(128));
        assert_eq!(host.memory, Some(256 << 20));
        assert_eq!(host.nano_cpus, Some(500_000_000));
        assert_eq!(host.restart_policy.unwrap().maximum_retry_count, Some(5));
        assert_eq!(host.tmpfs.unwrap()["/tmp"], "size=16m");
        assert_eq!(host.mounts.unwrap()[0].source.as_deref(), Some("shop_data"));
        assert_eq!(config.user.as_deref(), Some("10001:10001"));
        assert_eq!(config.healthcheck.unwrap().interval, Some(5_000_000_000));
        assert_eq!(config.labels.unwrap()[PROJECT_LABEL], "shop");
    }

    #[test]
    fn environment_without_a_value_comes_from_the_lookup() {
        let p = project(
            "services:\n  a:\n    image: x\n    environment: [\"FROM_HOST\", \"SET=1\", \"UNSET\"]\n",
        );
        let lookup = |k: &str| (k == "FROM_HOST").then(|| "yes".to_owned());
        let env = container_config(&p, "a", "x", &lookup)
            .unwrap()
            .env
            .unwrap();
        assert_eq!(env, ["FROM_HOST=yes", "SET=1"]);
    }

    #[test]
    fn secrets_are_mounted_read_only_from_their_file() {
        let p = project(
            "services:\n  a:\n    image: x\n    secrets: [pw]\nsecrets:\n  pw:\n    file: ./secrets/pw\n",
        );
        let mounts = container_config(&p, "a", "x", &|_| None)
            .unwrap()
            .host_config
            .unwrap()
            .mounts
            .unwrap();
        assert_eq!(mounts[0].target.as_deref(), Some("/run/secrets/pw"));
        assert_eq!(mounts[0].source.as_deref(), Some("/srv/shop/secrets/pw"));
        assert_eq!(mounts[0].read_only, Some(true));
    }
}
