//! A stack file's service as the Engine API's service spec: what `docker
//! stack deploy` would send, made from the very [`StackService`] that
//! `stackctl export swarm` writes, so the file and a deployment agree. Names
//! and labels follow `docker stack`'s (`STACK_SERVICE`,
//! `com.docker.stack.namespace`), so `docker stack ps STACK` shows it too.

use std::collections::HashMap;
use std::time::Duration;

use bollard::models::{
    HealthConfig, Limit, Mount, MountTmpfsOptions, MountType, MountVolumeOptions,
    NetworkAttachmentConfig, ResourceObject, ResourcesUlimits, ServiceSpec, ServiceSpecMode,
    TaskSpec, TaskSpecContainerSpec, TaskSpecContainerSpecFile, TaskSpecContainerSpecSecrets,
    TaskSpecLogDriver, TaskSpecPlacement, TaskSpecResources, TaskSpecRestartPolicy,
    TaskSpecRestartPolicyConditionEnum,
};

use crate::compose::units::parse_duration;
use crate::export::swarm::{StackLimits, StackService};

/// The label `docker stack` puts on everything of a stack.
pub const NAMESPACE_LABEL: &str = "com.docker.stack.namespace";

/// The label naming the image a stack service was deployed with.
pub const IMAGE_LABEL: &str = "com.docker.stack.image";

/// `STACK_NAME`, as `docker stack deploy` names services, volumes and secrets.
pub fn scoped(stack: &str, name: &str) -> String {
    format!("{stack}_{name}")
}

/// The service spec of `service` in `stack`. `secret_ids` maps each secret's
/// stack-file name to the Swarm secret (ID, name) to mount; `host_network`
/// is the ID of the `host` network.
pub fn service_spec(
    stack: &str,
    name: &str,
    service: &StackService,
    secret_ids: &HashMap<String, (String, String)>,
    host_network: &str,
) -> anyhow::Result<ServiceSpec> {
    let labels = HashMap::from([(NAMESPACE_LABEL.to_owned(), stack.to_owned())]);
    let mut service_labels = labels.clone();
    service_labels.extend(service.deploy.labels.clone());
    service_labels.insert(IMAGE_LABEL.to_owned(), service.image.clone());
    let mut container_labels = labels.clone();
    container_labels.extend(service.labels.clone());
    let nanos = |text: &Option<String>| -> anyhow::Result<Option<i64>> {
        text.as_deref()
            .map(|t| parse_duration(t).map(duration_nanos))
            .transpose()
            .map_err(|e| anyhow::anyhow!(e))
    };
    let health_check = match &service.healthcheck {
        Some(h) => Some(HealthConfig {
            test: Some(h.test.clone()),
            interval: nanos(&h.interval)?,
            timeout: nanos(&h.timeout)?,
            retries: h.retries.map(i64::from),
            start_period: nanos(&h.start_period)?,
            start_interval: None,
        }),
        None => None,
    };
    let mut mounts = Vec::new();
    for m in &service.volumes {
        mounts.push(match m.kind.as_str() {
            "volume" => Mount {
                typ: Some(MountType::VOLUME),
                source: m.source.as_deref().map(|s| scoped(stack, s)),
                target: Some(m.target.clone()),
                read_only: Some(m.read_only),
                volume_options: Some(MountVolumeOptions {
                    labels: Some(labels.clone()),
                    ..Default::default()
                }),
                ..Default::default()
            },
            "bind" => Mount {
                typ: Some(MountType::BIND),
                source: m.source.clone(),
                target: Some(m.target.clone()),
                read_only: Some(m.read_only),
                ..Default::default()
            },
            _ => Mount {
                typ: Some(MountType::TMPFS),
                target: Some(m.target.clone()),
                tmpfs_options: m.tmpfs.map(|t| MountTmpfsOptions {
                    size_bytes: t.size.map(|s| s as i64),
                    mode: Some(i64::from(t.mode)),
                    options: None,
                }),
                ..Default::default()
            },
        });
    }
    let mut secrets = Vec::new();
    for reference in &service.secrets {
        let (id, swarm_name) = secret_ids.get(&reference.source).ok_or_else(|| {
            anyhow::anyhow!(
                "secret `{}` of service `{name}` was not created",
                reference.source
            )
        })?;
        secrets.push(TaskSpecContainerSpecSecrets {
            file: Some(TaskSpecContainerSpecFile {
                name: Some(reference.target.clone()),
                uid: Some(reference.uid.clone()),
                gid: Some(reference.gid.clone()),
                mode: Some(reference.mode),
            }),
            secret_id: Some(id.clone()),
            secret_name: Some(swarm_name.clone()),
        });
    }
    let env: Vec<String> = service
        .environment
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let container = TaskSpecContainerSpec {
        image: Some(service.image.clone()),
        labels: Some(container_labels),
        command: service.entrypoint.clone(),
        args: service.command.clone(),
        env: (!env.is_empty()).then_some(env),
        dir: service.working_dir.clone(),
        user: service.user.clone(),
        read_only: Some(service.read_only),
        mounts: (!mounts.is_empty()).then_some(mounts),
        stop_signal: service.stop_signal.clone(),
        stop_grace_period: nanos(&service.stop_grace_period)?,
        health_check,
        secrets: (!secrets.is_empty()).then_some(secrets),
        init: service.init,
        sysctls: (!service.sysctls.is_empty())
            .then(|| service.sysctls.clone().into_iter().collect()),
        capability_add: (!service.cap_add.is_empty()).then(|| service.cap_add.clone()),
        capability_drop: (!service.cap_drop.is_empty()).then(|| service.cap_drop.clone()),
        ulimits: (!service.ulimits.is_empty()).then(|| {
            service
                .ulimits
                .iter()
                .map(|(n, u)| ResourcesUlimits {
                    name: Some(n.clone()),
                    soft: Some(u.soft),
                    hard: Some(u.hard),
                })
                .collect()
        }),
        ..Default::default()
    };
    let resources = service
        .deploy
        .resources
        .as_ref()
        .map(|r| TaskSpecResources {
            limits: r.limits.as_ref().map(|l| Limit {
                nano_cpus: cpus(l),
                memory_bytes: l.memory.map(|m| m as i64),
                pids: l.pids,
            }),
            reservations: r.reservations.as_ref().map(|l| ResourceObject {
                nano_cpus: cpus(l),
                memory_bytes: l.memory.map(|m| m as i64),
                generic_resources: None,
            }),
            ..Default::default()
        });
    let restart_policy = service
        .deploy
        .restart_policy
        .as_ref()
        .map(|p| TaskSpecRestartPolicy {
            condition: Some(match p.condition.as_str() {
                "none" => TaskSpecRestartPolicyConditionEnum::NONE,
                "on-failure" => TaskSpecRestartPolicyConditionEnum::ON_FAILURE,
                _ => TaskSpecRestartPolicyConditionEnum::ANY,
            }),
            max_attempts: p.max_attempts.map(i64::from),
            delay: Some(duration_nanos(Duration::from_secs(2))),
            window: None,
        });
    Ok(ServiceSpec {
        name: Some(scoped(stack, name)),
        labels: Some(service_labels),
        task_template: Some(TaskSpec {
            container_spec: Some(container),
            resources,
            restart_policy,
            placement: Some(TaskSpecPlacement {
                constraints: Some(service.deploy.placement.constraints.clone()),
                ..Default::default()
            }),
            networks: Some(vec![NetworkAttachmentConfig {
                target: Some(host_network.to_owned()),
                ..Default::default()
            }]),
            log_driver: service.logging.as_ref().map(|l| TaskSpecLogDriver {
                name: l.driver.clone(),
                options: Some(l.options.clone().into_iter().collect()),
            }),
            ..Default::default()
        }),
        mode: Some(ServiceSpecMode {
            global: Some(HashMap::new()),
            ..Default::default()
        }),
        ..Default::default()
    })
}

fn cpus(limits: &StackLimits) -> Option<i64> {
    limits
        .cpus
        .as_deref()
        .and_then(|c| c.parse::<f64>().ok())
        .map(|c| (c * 1e9) as i64)
}

fn duration_nanos(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_stack_becomes_global_host_network_services_with_their_hardening() {
        let file = crate::testbed::stack_compose_file();
        let p = crate::compose::Project::load_for_audit(&file).unwrap();
        let inputs = crate::export::swarm::Inputs {
            stack: "shop".to_owned(),
            images: p
                .model
                .services
                .keys()
                .map(|n| (n.clone(), format!("sha256:{n}")))
                .collect(),
            agent: None,
        };
        let c = crate::export::swarm::convert(&p, &inputs).unwrap();
        let secrets = HashMap::from([
            (
                "db_api_password".to_owned(),
                ("id1".to_owned(), "shop_db_api_password-1".to_owned()),
            ),
            (
                "api_admin_token".to_owned(),
                ("id2".to_owned(), "shop_api_admin_token-2".to_owned()),
            ),
        ]);
        let spec =
            service_spec("shop", "db", &c.file.services["db"], &secrets, "hostnet-id").unwrap();
        assert_eq!(spec.name.as_deref(), Some("shop_db"));
        assert!(spec.mode.unwrap().global.is_some());
        let task = spec.task_template.unwrap();
        assert_eq!(
            task.networks.unwrap()[0].target.as_deref(),
            Some("hostnet-id")
        );
        let container = task.container_spec.unwrap();
        assert_eq!(container.image.as_deref(), Some("sha256:db"));
        assert_eq!(container.capability_drop, Some(vec!["ALL".to_owned()]));
        assert_eq!(container.read_only, Some(true));
        let mounts = container.mounts.unwrap();
        let run = mounts
            .iter()
            .find(|m| m.target.as_deref() == Some("/run/mysqld"))
            .unwrap();
        assert_eq!(run.tmpfs_options.as_ref().unwrap().mode, Some(0o1777));
        let data = mounts
            .iter()
            .find(|m| m.target.as_deref() == Some("/var/lib/mysql"))
            .unwrap();
        assert_eq!(data.source.as_deref(), Some("shop_db-data"));
        let secret = &container.secrets.unwrap()[0];
        assert_eq!(secret.file.as_ref().unwrap().uid.as_deref(), Some("10001"));
        assert_eq!(secret.file.as_ref().unwrap().mode, Some(0o400));
        let limits = task.resources.unwrap().limits.unwrap();
        assert_eq!(limits.pids, Some(256));
        assert_eq!(limits.nano_cpus, Some(1_000_000_000));
        assert_eq!(
            container.health_check.unwrap().interval,
            Some(3_000_000_000)
        );
    }
}
