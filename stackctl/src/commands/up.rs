//! `stackctl up`: the stack running, and a table of where to reach it.

use std::io::{IsTerminal as _, Write};
use std::time::Duration;

use serde::Serialize;

use crate::cli::TableFormat;
use crate::compose::Project;
use crate::engine;
use crate::image::{BootstrapOptions, BuildOptions};
use crate::progress::Progress;
use crate::stack::up::{UpOptions, UpReport, up};

/// `up --format json`: the report, with the project and its firewall chain.
#[derive(Serialize)]
struct UpJson<'a> {
    project: &'a str,
    #[serde(flatten)]
    report: &'a UpReport,
    /// The iptables chain of the project's rules, when the firewall is on.
    firewall_chain: Option<String>,
    /// The TLS certificates the services present, by service.
    certificates: std::collections::BTreeMap<String, Vec<crate::secrets::Certificate>>,
}

pub(crate) async fn run(
    project: &Project,
    services: Vec<String>,
    firewall: bool,
    timeout: u64,
    mirror: Option<String>,
    format: TableFormat,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let docker = engine::connect().await?;
    let options = UpOptions {
        services,
        firewall,
        timeout: Duration::from_secs(timeout),
        build: BuildOptions {
            bootstrap: BootstrapOptions { mirror },
            force: false,
        },
    };
    let report = up(&docker, project, &options, &Progress::new()).await?;
    let loud = crate::progress::color(std::io::stderr().is_terminal());
    for warning in &report.warnings {
        if loud {
            eprintln!("\x1b[1;31mwarning:\x1b[0m {warning}");
        } else {
            eprintln!("warning: {warning}");
        }
    }
    let chain = report
        .firewall
        .then(|| crate::firewall::chain_name(&project.name));
    if format == TableFormat::Json {
        let json = UpJson {
            project: &project.name,
            report: &report,
            firewall_chain: chain,
            certificates: report
                .services
                .iter()
                .map(|s| {
                    (
                        s.service.clone(),
                        crate::secrets::certificates(project, &s.service),
                    )
                })
                .filter(|(_, c)| !c.is_empty())
                .collect(),
        };
        serde_json::to_writer_pretty(&mut *out, &json)?;
        writeln!(out)?;
        return Ok(());
    }
    writeln!(
        out,
        "{:<18} {:<9} {:<10} {:<10} REACH",
        "SERVICE", "STATE", "HEALTH", "ACTION"
    )?;
    for s in &report.services {
        let reach = if s.endpoints.is_empty() {
            "-".to_owned()
        } else {
            s.endpoints.join(", ")
        };
        writeln!(
            out,
            "{:<18} {:<9} {:<10} {:<10} {reach}",
            s.service,
            s.state,
            s.health.as_deref().unwrap_or("-"),
            s.action.to_string()
        )?;
    }
    for s in &report.services {
        for certificate in crate::secrets::certificates(project, &s.service) {
            writeln!(
                out,
                "{}",
                crate::secrets::describe_certificate(&s.service, &certificate)
            )?;
        }
    }
    if let Some(chain) = chain {
        writeln!(
            out,
            "firewall: on (iptables chain {chain}); each service that declares `x-stackctl.egress` may reach only that"
        )?;
    }
    Ok(())
}
