//! `stackctl export swarm` and `stackctl export kubernetes`: the stack file
//! or the manifests, and the fidelity report. Fails closed: nothing is
//! written while a loss is not accepted.

use std::io::Write;

use anyhow::bail;

use crate::cli::{ExportKubernetesArgs, ExportSwarmArgs, ReportFormat};
use crate::compose::Project;
use crate::engine;
use crate::export::{self, fidelity::Report};
use crate::image::{BootstrapOptions, BuildOptions};
use crate::progress::Progress;

pub(crate) async fn swarm(
    project: &Project,
    args: ExportSwarmArgs,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let docker = engine::connect().await?;
    let build = BuildOptions {
        bootstrap: BootstrapOptions {
            mirror: args.mirror,
        },
        force: false,
    };
    let export =
        export::prepare_swarm(&docker, project, &project.name, &build, &Progress::new()).await?;
    let report = &export.converted.report;
    let yaml = export
        .converted
        .file
        .to_yaml(&export.stack, &export.converted.groups);
    match &args.output {
        Some(path) => {
            write_report(report, args.format, out)?;
            if report.passed() {
                std::fs::write(path, yaml).map_err(|err| {
                    anyhow::anyhow!("cannot write the stack file {}: {err}", path.display())
                })?;
            }
        }
        None => {
            let mut stderr = std::io::stderr();
            write_report(report, args.format, &mut stderr)?;
            if report.passed() {
                out.write_all(yaml.as_bytes())?;
            }
        }
    }
    if !report.passed() {
        bail!(
            "{} loss(es) on Swarm not accepted (listed above); no stack file was written",
            report.open_losses
        );
    }
    Ok(())
}

/// `stackctl export kubernetes`: needs no engine (the images are named, and
/// the nodes load them) unless `--build` asks to build the stale ones.
pub(crate) async fn kubernetes(
    project: &Project,
    args: ExportKubernetesArgs,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    use crate::export::kubernetes::{self, AgentInputs, Inputs};
    let agent = crate::swarm::agent::policy(project)?.map(|policy| AgentInputs {
        image: crate::swarm::agent::image_tag(),
        policy,
    });
    if args.build {
        let build = BuildOptions {
            bootstrap: BootstrapOptions {
                mirror: args.mirror.clone(),
            },
            force: false,
        };
        export::build_images(project, agent.is_some(), &build, &Progress::new()).await?;
    }
    let secret_values = if args.include_secret_values {
        let all = project.model.services.keys().cloned().collect();
        crate::secrets::ensure_and_say(project, &all, &Progress::new())?;
        let mut values = std::collections::BTreeMap::new();
        for (name, secret) in &project.model.secrets {
            let value = match (&secret.file, &secret.environment) {
                (Some(file), _) => {
                    let path = project.resolve(file);
                    std::fs::read(&path).map_err(|err| {
                        anyhow::anyhow!("cannot read secret `{name}` from {}: {err}", path.display())
                    })?
                }
                (None, Some(variable)) => std::env::var(variable)
                    .map_err(|_| {
                        anyhow::anyhow!(
                            "secret `{name}` comes from ${variable}, which is not set\n  fix: export {variable}=... and run the export again"
                        )
                    })?
                    .into_bytes(),
                (None, None) => continue,
            };
            values.insert(name.clone(), value);
        }
        Some(values)
    } else {
        None
    };
    let inputs = Inputs {
        namespace: args.namespace,
        agent,
        volume_sizes: args.volume_sizes.into_iter().collect(),
        secret_values,
    };
    let mut converted = kubernetes::convert(project, &inputs)?;
    converted
        .report
        .finish(project, &kubernetes::subjects(project))?;
    let report = &converted.report;
    let yaml = converted.to_yaml();
    match &args.output {
        Some(path) => {
            write_report(report, args.format, out)?;
            if report.passed() {
                write_private(path, &yaml, args.include_secret_values).map_err(|err| {
                    anyhow::anyhow!("cannot write the manifests to {}: {err}", path.display())
                })?;
            }
        }
        None => {
            write_report(report, args.format, &mut std::io::stderr())?;
            if report.passed() {
                out.write_all(yaml.as_bytes())?;
            }
        }
    }
    if !report.passed() {
        bail!(
            "{} loss(es) on Kubernetes not accepted (listed above); no manifests were written",
            report.open_losses
        );
    }
    Ok(())
}

/// Writes `text` to `path`; with secret values, readable by its owner only
/// (also when the file already existed with wider permissions).
fn write_private(path: &std::path::Path, text: &str, private: bool) -> std::io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    if private {
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    if private {
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    file.write_all(text.as_bytes())
}

/// The fidelity report, for people or as JSON.
pub(crate) fn write_report(
    report: &Report,
    format: ReportFormat,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    match format {
        ReportFormat::Human => out.write_all(report.render_human().as_bytes())?,
        ReportFormat::Json => writeln!(out, "{}", serde_json::to_string_pretty(report)?)?,
    }
    Ok(())
}
