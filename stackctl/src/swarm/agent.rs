//! The firewall agent: the per-uid egress rules of a stack, on every node
//! the stack runs on. Neither Swarm nor Kubernetes (whose NetworkPolicy does
//! not apply to host-network pods) can police a host-network service's
//! egress, so a small agent does it on each node with the very code `up`
//! uses ([`crate::firewall`]): it installs the stack's rules, checks every
//! few seconds that they are still in place (and puts them back if not),
//! removes them on SIGTERM, and is healthy only while they are installed.
//!
//! It is `stackctl agent firewall` (a hidden subcommand) in a shell-less
//! image made by [`build_image`]: the stackctl binary and the host's own
//! iptables (the same backend `up` uses), each with its shared libraries.
//! Its only input is the policy, a [`firewall::Plan`] as JSON in the
//! environment variable [`POLICY_VARIABLE`], so the same image serves as a
//! Swarm global service or a Kubernetes DaemonSet: the orchestrator only
//! has to set one variable. It runs as root with no capability but
//! `NET_ADMIN` (iptables needs it; `NET_RAW` is not needed).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, bail};
use bollard::Docker;

use crate::firewall::{self, Family, Plan};
use crate::image::binary::{self, binary_path_in_image};
use crate::image::context::Context;
use crate::progress::Progress;

/// The environment variable that carries the policy (a [`Plan`] as JSON).
pub const POLICY_VARIABLE: &str = "STACKCTL_AGENT_POLICY";

/// How often the agent checks that its rules are still in place.
const CHECK_EVERY: Duration = Duration::from_secs(5);

/// The policy for `project`: its firewall plan, checked as `up` checks it
/// (numeric uids, no root, no host account, no uid shared by two
/// services), rendered as JSON for [`POLICY_VARIABLE`]. `None` when no
/// service has an egress policy.
pub fn policy(project: &crate::compose::Project) -> anyhow::Result<Option<String>> {
    let plan = firewall::plan(project)?;
    if plan.allow.is_empty() && plan.deny.is_empty() {
        return Ok(None);
    }
    Ok(Some(serde_json::to_string(&plan)?))
}

/// Reads and checks the policy from the environment. Fails closed: a
/// missing or unreadable policy, a rule for root, or a chain that is not
/// the project's is an error, never an empty firewall.
pub fn load_policy() -> anyhow::Result<Plan> {
    let text = std::env::var(POLICY_VARIABLE).with_context(|| {
        format!("{POLICY_VARIABLE} is not set; the agent needs the stack's policy (rendered by `stackctl export swarm`)")
    })?;
    parse_policy(&text)
}

/// Parses and checks a policy (see [`load_policy`]).
pub fn parse_policy(text: &str) -> anyhow::Result<Plan> {
    let plan: Plan = serde_json::from_str(text)
        .with_context(|| format!("{POLICY_VARIABLE} is not a stackctl firewall policy"))?;
    if plan.chain != firewall::chain_name(&plan.project) {
        bail!(
            "the policy's chain {} is not project `{}`'s ({}); refusing to install it",
            plan.chain,
            plan.project,
            firewall::chain_name(&plan.project)
        );
    }
    if let Some(rule) = plan.allow.iter().chain(&plan.deny).find(|r| r.uid == 0) {
        bail!(
            "the policy polices uid 0 ({}); the firewall never polices root",
            rule.comment
        );
    }
    if plan.deny.is_empty() {
        bail!("the policy has no rejects, so it would police nothing");
    }
    Ok(plan)
}

/// `stackctl agent firewall`: installs the policy, keeps it in place, and
/// removes it when `shutdown` resolves (SIGTERM or Ctrl-C in the binary).
pub async fn run(
    plan: Plan,
    shutdown: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    install(&plan).await?;
    eprintln!(
        "firewall agent: installed project `{}`'s rules (chain {}): {} allowances, {} rejects",
        plan.project,
        plan.chain,
        plan.allow.len(),
        plan.deny.len()
    );
    tokio::pin!(shutdown);
    let mut tick = tokio::time::interval(CHECK_EVERY);
    tick.tick().await;
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            _ = tick.tick() => {
                let plan_copy = plan.clone();
                let missing = tokio::task::spawn_blocking(move || in_place(&plan_copy)).await?;
                if let Err(why) = missing {
                    eprintln!("firewall agent: rules not in place ({why}); installing them again");
                    if let Err(err) = install(&plan).await {
                        eprintln!("firewall agent: cannot install the rules: {err:#}");
                    }
                }
            }
        }
    }
    let project = plan.project.clone();
    let removed = tokio::task::spawn_blocking(move || firewall::remove(&project)).await??;
    eprintln!(
        "firewall agent: {} project `{}`'s rules; exiting",
        if removed { "removed" } else { "found none of" },
        plan.project
    );
    Ok(())
}

async fn install(plan: &Plan) -> anyhow::Result<()> {
    let plan = plan.clone();
    for warning in tokio::task::spawn_blocking(move || firewall::install(&plan)).await?? {
        eprintln!("firewall agent: {warning}");
    }
    Ok(())
}

/// `Ok` when every rule of the plan is installed (see
/// [`Plan::check_installed`]) in each family the host has.
pub fn in_place(plan: &Plan) -> Result<(), String> {
    plan.check_installed(Family::V4)?;
    if !firewall::ipv6_disabled() {
        plan.check_installed(Family::V6)?;
    }
    Ok(())
}

/// `stackctl agent healthcheck`: exit 0 only while the policy's rules are
/// installed.
pub fn healthcheck() -> anyhow::Result<()> {
    let plan = load_policy()?;
    in_place(&plan).map_err(|why| anyhow::anyhow!("the rules are not in place: {why}"))
}

/// The image's tag.
pub fn image_tag() -> String {
    format!(
        "shopdotcom/firewall-agent:{}",
        std::env::var(crate::testbed::IMAGE_TAG_VARIABLE).unwrap_or_else(|_| "local".to_owned())
    )
}

/// Builds the agent's image: stackctl (compiled in release mode from
/// `workspace`) and this host's iptables with their shared libraries and
/// iptables' extension modules, `FROM scratch`, root with a health check
/// that runs `stackctl agent healthcheck`. Cached by fingerprint.
pub async fn build_image(
    docker: &Docker,
    workspace: &Path,
    progress: &Progress,
) -> anyhow::Result<crate::image::Built> {
    let _lock = crate::image::build_lock().await?;
    progress.println("firewall-agent: compiling `stackctl` (cargo build --release)");
    let executable = binary::compile(workspace, "stackctl")?;
    let bin = binary_path_in_image("stackctl");
    let dockerfile = format!(
        "FROM scratch\nCOPY rootfs/ /\nENV PATH=/usr/sbin:/usr/bin\nUSER 0:0\nENTRYPOINT [\"{bin}\"]\nCMD [\"agent\", \"firewall\"]\n\
         HEALTHCHECK --interval=3s --timeout=5s --start-period=5s --retries=3 CMD [\"{bin}\", \"agent\", \"healthcheck\"]\n"
    );
    let mut context = Context::default();
    context.add_file("Dockerfile", dockerfile.into_bytes(), 0o644);
    let account = binary::Account {
        name: "firewall-agent".to_owned(),
        uid: 0,
        gid: 0,
    };
    binary::stage(&mut context, &executable, "stackctl", &account)?;
    stage_iptables(&mut context)?;
    let tag = image_tag();
    crate::image::build_staged(docker, "firewall-agent", &tag, &context, progress).await
}

/// Where the extension modules of this host's iptables are.
const XTABLES_DIRS: &[&str] = &[
    "/usr/lib/x86_64-linux-gnu/xtables",
    "/usr/lib/aarch64-linux-gnu/xtables",
    "/usr/lib64/xtables",
    "/usr/lib/xtables",
];

/// Stages the host's iptables multi-binary under the four names the
/// firewall runs, its libraries, and its extension modules with theirs.
fn stage_iptables(context: &mut Context) -> anyhow::Result<()> {
    let which = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .map(|dir| dir.join("iptables"))
        .find(|p| p.exists())
        .context("iptables is not installed on this host, so the firewall agent's image cannot carry it; `sudo apt-get install iptables`")?;
    let multi = std::fs::canonicalize(&which)
        .with_context(|| format!("cannot resolve {}", which.display()))?;
    let content =
        std::fs::read(&multi).with_context(|| format!("cannot read {}", multi.display()))?;
    for name in [
        "iptables",
        "ip6tables",
        "iptables-restore",
        "ip6tables-restore",
    ] {
        context.add_file(format!("rootfs/usr/sbin/{name}"), content.clone(), 0o755);
    }
    let mut libraries = binary::library_closure(&multi)?;
    let modules = XTABLES_DIRS
        .iter()
        .map(Path::new)
        .find(|d| d.is_dir())
        .context("cannot find iptables' extension modules (an `xtables` directory) on this host")?;
    for entry in std::fs::read_dir(modules)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "so") {
            libraries.extend(binary::library_closure(&path)?);
            libraries.push(path);
        }
    }
    libraries.sort();
    libraries.dedup();
    for library in libraries {
        let content = std::fs::read(&library)
            .with_context(|| format!("cannot read {}", library.display()))?;
        context.add_file(format!("rootfs{}", library.display()), content, 0o755);
    }
    context.add_dir("rootfs/run", 0o755);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project() -> crate::compose::Project {
        let text = "name: shop\nservices:\n  db:\n    image: d\n    user: \"10001:10001\"\n    x-stackctl: {listen: [\"mysql://127.0.0.1:3306\"], egress: []}\n";
        crate::compose::Project::parse(text, Path::new("c.yaml")).unwrap()
    }

    #[test]
    fn the_policy_round_trips_and_is_checked() {
        let json = policy(&project()).unwrap().unwrap();
        let plan = parse_policy(&json).unwrap();
        assert_eq!(plan, firewall::plan(&project()).unwrap());

        let mut root = plan.clone();
        root.deny[0].uid = 0;
        let err = parse_policy(&serde_json::to_string(&root).unwrap()).unwrap_err();
        assert!(err.to_string().contains("never polices root"), "{err}");

        let mut other = plan.clone();
        other.chain = "STACKCTL-0000000000".to_owned();
        let err = parse_policy(&serde_json::to_string(&other).unwrap()).unwrap_err();
        assert!(err.to_string().contains("refusing"), "{err}");

        assert!(parse_policy("{}").is_err(), "an empty policy is refused");
    }

    #[test]
    fn no_egress_policy_means_no_agent() {
        let text = "services:\n  a:\n    image: x\n";
        let p = crate::compose::Project::parse(text, Path::new("c.yaml")).unwrap();
        assert_eq!(policy(&p).unwrap(), None);
    }
}
