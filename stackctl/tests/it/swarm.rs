//! The stack on a real single-node swarm (made by `LocalSwarm` only when the
//! engine is in none, and left only then): a private copy (its own stack
//! name, ports and secrets) exported, checked by the docker CLI where it is
//! installed, deployed through the Engine API, verified (reachability over
//! localhost, the firewall agent refusing the gateway's uid the database,
//! the hardening of every task, the accepted no-new-privileges loss shown
//! as accepted), and removed with everything it made.

use std::collections::HashMap;
use std::time::Duration;

use stackctl::compose::Project;
use stackctl::export::fidelity::{LossStatus, Outcome as Fidelity};
use stackctl::firewall::{self, Family};
use stackctl::progress::Progress;
use stackctl::swarm::deploy::{self, DeployOptions};
use stackctl::swarm::local::LocalSwarm;
use stackctl::testbed::{Testbed, stack_compose_file};
use stackctl::verify::{Group, Outcome};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_copy_of_the_stack_runs_on_a_swarm_hardened_policed_and_pinned() {
    let bed = Testbed::new("swarm").await.unwrap();
    let project = bed.project();
    let docker = stackctl::engine::connect().await.unwrap();
    let session = LocalSwarm::ensure(&docker).await.unwrap();
    let outcome = deploy_and_check(&docker, project).await;
    let removed = deploy::remove(&docker, project, true).await;
    let left = stackctl::verify::swarm::task_containers(&docker, &project.name).await;
    let rules = firewall::try_installed(&project.name, Family::V4);
    session.release().await.unwrap();
    let _ = std::fs::remove_dir_all(stackctl::pins::path(project).parent().unwrap());
    outcome.unwrap();
    let removed = removed.unwrap();
    assert!(
        removed.iter().any(|r| r.starts_with("secret ")),
        "the stack's secrets are removed: {removed:?}"
    );
    assert!(left.unwrap().is_empty(), "no task container is left");
    assert_eq!(
        rules.unwrap(),
        Vec::<String>::new(),
        "the agent removed the stack's rules when it stopped"
    );
}

async fn deploy_and_check(docker: &bollard::Docker, project: &Project) -> anyhow::Result<()> {
    let stack = &project.name;
    let progress = Progress::plain();
    let export =
        stackctl::export::prepare_swarm(docker, project, stack, &Default::default(), &progress)
            .await?;
    assert!(
        export.converted.report.passed(),
        "{}",
        export.converted.report.render_human()
    );
    cli_accepts(&export).await?;

    let options = DeployOptions {
        nodes: Vec::new(),
        timeout: Duration::from_secs(240),
        build: Default::default(),
    };
    let deployed = deploy::deploy(docker, project, &options, &progress).await?;
    let mut names: Vec<&str> = deployed
        .services
        .iter()
        .map(|s| s.service.as_str())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "api",
            "db",
            "firewall-agent",
            "legacy-telnet",
            "notebook-gateway"
        ]
    );
    assert_eq!(
        deployed.services[0].service, "firewall-agent",
        "the firewall is in place before any service starts"
    );

    // Every task runs exactly its pinned image, as this node's engine reports it.
    let containers = stackctl::verify::swarm::task_containers(docker, stack).await?;
    for service in &deployed.services {
        let running: Vec<_> = containers
            .iter()
            .filter(|c| c.service == service.service && c.running)
            .collect();
        assert_eq!(
            running.len(),
            1,
            "one task of {} on this node",
            service.service
        );
        assert_eq!(
            running[0].image_id,
            deployed.export.images[&service.service]
        );
    }

    let report =
        stackctl::verify::swarm::verify_swarm(docker, project, &deployed.export.converted.report)
            .await?;
    let show = || serde_json::to_string_pretty(&report).unwrap();
    assert!(report.passed(), "{}", show());
    for check in report
        .checks
        .iter()
        .filter(|c| c.group == Group::Reachability)
    {
        assert_eq!(check.outcome, Outcome::Pass, "{}", show());
    }
    let refused = report
        .find("notebook-gateway", "may not connect to db")
        .unwrap_or_else(|| {
            panic!(
                "no check of the gateway's uid against the database: {}",
                show()
            )
        });
    assert_eq!(refused.outcome, Outcome::Pass, "{}", show());
    assert!(refused.detail.contains("refused"), "{}", refused.detail);
    let agent = report
        .find("firewall-agent", "rules are installed")
        .unwrap();
    assert_eq!(agent.outcome, Outcome::Pass, "{}", show());
    for service in ["db", "api", "notebook-gateway", "legacy-telnet"] {
        let hardening: Vec<_> = report
            .checks
            .iter()
            .filter(|c| c.group == Group::Hardening && c.service == service)
            .collect();
        assert!(
            hardening.iter().all(|c| c.outcome != Outcome::Fail),
            "{}",
            show()
        );
        let accepted: Vec<&str> = hardening
            .iter()
            .filter(|c| c.outcome == Outcome::Accepted)
            .map(|c| c.claim.as_str())
            .collect();
        assert_eq!(
            accepted,
            ["no-new-privileges", "kernel: no_new_privs set"],
            "{service}: the loss shows as accepted, not as a pass: {}",
            show()
        );
        let held = hardening
            .iter()
            .find(|c| c.outcome == Outcome::Pass)
            .unwrap();
        for property in [
            "capabilities dropped",
            "read-only root",
            "non-root user",
            "PIDs limit",
            "kernel: no effective capabilities",
        ] {
            assert!(held.detail.contains(property), "{service}: {}", held.detail);
        }
    }
    let accepted = deployed
        .export
        .converted
        .report
        .entries
        .iter()
        .filter(|e| {
            matches!(
                &e.outcome,
                Fidelity::Lost {
                    loss: "swarm:no-new-privileges",
                    status: LossStatus::Accepted { .. },
                    ..
                }
            )
        })
        .count();
    assert_eq!(
        accepted, 4,
        "every service's no-new-privileges loss is accepted"
    );
    Ok(())
}

/// The exported file is accepted by `docker stack deploy --resolve-image
/// never` without "Ignoring unsupported options" (where the docker CLI is
/// installed). The node is not labelled yet, so no task starts; the CLI's
/// stack is removed at once.
async fn cli_accepts(export: &stackctl::export::SwarmExport) -> anyhow::Result<()> {
    let cli = std::process::Command::new("docker")
        .arg("--version")
        .output();
    if !cli.is_ok_and(|o| o.status.success()) {
        eprintln!(
            "the docker CLI is not installed: the stack file's check by `docker stack deploy` is skipped"
        );
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("stack.yaml");
    std::fs::write(
        &file,
        export
            .converted
            .file
            .to_yaml(&export.stack, &export.converted.groups),
    )?;
    let name = format!("{}-cli", export.stack);
    let output = std::process::Command::new("docker")
        .args(["stack", "deploy", "--resolve-image", "never", "-c"])
        .arg(&file)
        .arg(&name)
        .output()?;
    let removed = std::process::Command::new("docker")
        .args(["stack", "rm", &name])
        .output()?;
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "docker stack deploy refused the export: {said}"
    );
    assert!(!said.contains("Ignoring unsupported options"), "{said}");
    assert!(removed.status.success());
    // `docker stack rm` returns before its services are gone.
    let docker = stackctl::engine::connect().await?;
    for _ in 0..60 {
        if deploy::tasks(&docker, &name, None).await?.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Ok(())
}

#[tokio::test]
async fn an_export_with_a_loss_that_is_not_accepted_fails_closed_and_names_it() {
    let text = std::fs::read_to_string(stack_compose_file()).unwrap();
    // Our file without its acceptance of the Swarm's no-new-privileges loss.
    let start = text
        .find("    - check: \"swarm:no-new-privileges\"")
        .unwrap();
    let end = text.find("    - check: \"swarm:tmpfs-owner\"").unwrap();
    let without = format!("{}{}", &text[..start], &text[end..]);
    let secrets = tempfile::tempdir().unwrap();
    let vars: HashMap<&str, String> = HashMap::from([
        ("SHOP_SECRETS_DIR", secrets.path().display().to_string()),
        (
            "SHOP_IMAGE_TAG",
            std::env::var("SHOP_IMAGE_TAG").unwrap_or_else(|_| "local".into()),
        ),
    ]);
    let mut project = Project::parse_for_audit(&without, &stack_compose_file(), &|name| {
        vars.get(name).cloned()
    })
    .unwrap();
    project.rename(&format!("stackctl-test-swarm-loss-{}", std::process::id()));
    let docker = stackctl::engine::connect().await.unwrap();
    let export = stackctl::export::prepare_swarm(
        &docker,
        &project,
        &project.name,
        &Default::default(),
        &Progress::plain(),
    )
    .await
    .unwrap();
    let _ = std::fs::remove_dir_all(stackctl::pins::path(&project).parent().unwrap());
    let report = &export.converted.report;
    assert!(!report.passed());
    assert_eq!(report.open_losses, 4, "one per service");
    let human = report.render_human();
    assert!(
        human.contains("LOST      security_opt[0] (")
            && human.contains("[swarm:no-new-privileges]"),
        "{human}"
    );
    assert!(human.contains("FAILED"), "{human}");
}
