//! The per-service egress firewall. On the host network every container
//! shares the host's network stack, so a policy cannot key on interfaces; it
//! keys on the socket owner instead. Each service runs as its own uid, and a
//! chain in `OUTPUT` (IPv4 and IPv6) lets that uid reach only what its
//! `x-stackctl.egress` allows, plus its own listening ports (its health
//! check) and replies on connections others opened to it; everything else is
//! rejected at once with a reset. `up` installs the chain atomically
//! (`iptables-restore --noflush`); `down` removes exactly it.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io::Write as _;
use std::net::IpAddr;
use std::process::{Command, Stdio};

use anyhow::{Context as _, bail};
use sha2::{Digest, Sha256};

use crate::compose::Project;
use crate::compose::extension::{EgressHost, EgressRule};

/// IPv4 or IPv6, and the tool for each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    fn tool(self) -> &'static str {
        match self {
            Family::V4 => "iptables",
            Family::V6 => "ip6tables",
        }
    }

    fn loopback(self) -> &'static str {
        match self {
            Family::V4 => "127.0.0.1/32",
            Family::V6 => "::1/128",
        }
    }
}

/// The rules of one project, ready to install.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub chain: String,
    pub project: String,
    /// `(family, rule arguments after "-A CHAIN")`, in order.
    pub rules: Vec<(Family, Vec<String>)>,
    /// Services that declare no egress policy and so get no rules.
    pub unpoliced: Vec<String>,
}

/// The chain of a project: `STACKCTL-` and a hash of the name (chain names
/// are short; the rules' comments carry the name itself).
pub fn chain_name(project: &str) -> String {
    let digest = hex::encode(Sha256::digest(project.as_bytes()));
    format!("STACKCTL-{}", &digest[..10])
}

/// The comment that marks the jump from `OUTPUT` to a project's chain.
fn jump_comment(project: &str) -> String {
    format!("stackctl:{project}")
}

/// The rules for `services` of `project`.
pub fn plan(project: &Project, services: &BTreeSet<String>) -> anyhow::Result<Plan> {
    let chain = chain_name(&project.name);
    let mut rules = Vec::new();
    let mut unpoliced = Vec::new();
    for name in services {
        let service = project.service(name)?;
        let extension = project.extensions.get(name).cloned().unwrap_or_default();
        let Some(egress) = &extension.egress else {
            unpoliced.push(name.clone());
            continue;
        };
        let uid = service
            .user
            .as_deref()
            .and_then(|u| u.split(':').next())
            .and_then(|u| u.parse::<u32>().ok())
            .with_context(|| {
                format!(
                    "service `{name}` has an egress policy but no numeric `user` ({}); the firewall keys on the uid, so give it `user: \"UID:GID\"`",
                    project.locate(name, "user")
                )
            })?;
        let comment = format!("stackctl:{}:{name}", project.name);
        // `-m owner --uid-owner UID <match> -m comment --comment ... -j <target>`.
        let owner = |family: Family, args: Vec<String>| {
            let target = args.iter().position(|a| a == "-j").unwrap_or(args.len());
            let mut rule: Vec<String> = ["-m", "owner", "--uid-owner"].map(String::from).to_vec();
            rule.push(uid.to_string());
            rule.extend_from_slice(&args[..target]);
            rule.extend(["-m", "comment", "--comment"].map(String::from));
            rule.push(comment.clone());
            rule.extend_from_slice(&args[target..]);
            (family, rule)
        };
        let words = |text: &str| {
            text.split_whitespace()
                .map(String::from)
                .collect::<Vec<_>>()
        };
        for family in [Family::V4, Family::V6] {
            // Answers on connections others opened to the service.
            rules.push(owner(
                family,
                words("-m conntrack --ctstate ESTABLISHED,RELATED -j RETURN"),
            ));
            // Its own ports, for its health check.
            for endpoint in &extension.listen {
                let destination = match endpoint.addr.ip() {
                    ip if ip.is_unspecified() => family.loopback().to_owned(),
                    IpAddr::V4(ip) if family == Family::V4 => format!("{ip}/32"),
                    IpAddr::V6(ip) if family == Family::V6 => format!("{ip}/128"),
                    _ => continue,
                };
                rules.push(owner(family, allow(&destination, endpoint.addr.port())));
            }
            for rule in egress {
                if let Some(destination) = destination(rule, family) {
                    rules.push(owner(family, allow(&destination, rule.port)));
                }
            }
            rules.push(owner(
                family,
                words("-p tcp -j REJECT --reject-with tcp-reset"),
            ));
            rules.push(owner(family, words("-j REJECT")));
        }
    }
    Ok(Plan {
        chain,
        project: project.name.clone(),
        rules,
        unpoliced,
    })
}

fn allow(destination: &str, port: u16) -> Vec<String> {
    [
        "-p",
        "tcp",
        "-d",
        destination,
        "--dport",
        &port.to_string(),
        "-j",
        "RETURN",
    ]
    .map(String::from)
    .to_vec()
}

/// The `-d` of an egress rule in `family`, or `None` if it is of the other family.
fn destination(rule: &EgressRule, family: Family) -> Option<String> {
    match (rule.host, family) {
        (EgressHost::Localhost, family) => Some(family.loopback().to_owned()),
        (
            EgressHost::Net {
                addr: IpAddr::V4(a),
                prefix,
            },
            Family::V4,
        ) => Some(format!("{a}/{prefix}")),
        (
            EgressHost::Net {
                addr: IpAddr::V6(a),
                prefix,
            },
            Family::V6,
        ) => Some(format!("{a}/{prefix}")),
        _ => None,
    }
}

impl Plan {
    /// The `iptables-restore` input for one family: the chain declared (which
    /// creates or empties it) and its rules, applied as one transaction.
    pub fn restore_input(&self, family: Family) -> String {
        let mut text = format!("*filter\n:{} - [0:0]\n", self.chain);
        for (_, rule) in self.rules.iter().filter(|(f, _)| *f == family) {
            // Comments are the only free text; quote them.
            let quoted: Vec<String> = rule
                .iter()
                .enumerate()
                .map(
                    |(i, word)| match i.checked_sub(1).map(|p| rule[p].as_str()) {
                        Some("--comment") => format!("\"{word}\""),
                        _ => word.clone(),
                    },
                )
                .collect();
            let _ = writeln!(text, "-A {} {}", self.chain, quoted.join(" "));
        }
        text.push_str("COMMIT\n");
        text
    }
}

/// Whether the firewall can be installed here: root and iptables.
pub fn check_available() -> anyhow::Result<()> {
    let uid = std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m))
        .unwrap_or(u32::MAX);
    if uid != 0 {
        bail!(
            "the per-service firewall needs root (iptables rules keyed on each service's uid); run `sudo stackctl up`, \
             or `stackctl up --no-firewall` to run without it"
        );
    }
    let works = Command::new("iptables")
        .args(["-w", "-S", "OUTPUT"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !works {
        bail!(
            "iptables is not available, so the per-service firewall cannot be installed; install it \
             (`sudo apt-get install iptables`), or run `stackctl up --no-firewall` to run without it"
        );
    }
    Ok(())
}

/// Installs (or replaces) the project's chain and its jump from `OUTPUT`.
/// IPv6 is skipped with a warning where the host has no ip6tables.
pub fn install(plan: &Plan) -> anyhow::Result<Vec<String>> {
    let mut warnings = Vec::new();
    for family in [Family::V4, Family::V6] {
        if let Err(err) = install_family(plan, family) {
            if family == Family::V6 {
                warnings.push(format!(
                    "IPv6 rules not installed ({err:#}); services are not policed over IPv6"
                ));
                continue;
            }
            return Err(err);
        }
    }
    Ok(warnings)
}

fn install_family(plan: &Plan, family: Family) -> anyhow::Result<()> {
    let tool = family.tool();
    let mut restore = Command::new(format!("{tool}-restore"))
        .args(["-w", "--noflush"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run {tool}-restore"))?;
    restore
        .stdin
        .take()
        .context("no stdin")?
        .write_all(plan.restore_input(family).as_bytes())?;
    let output = restore.wait_with_output()?;
    if !output.status.success() {
        bail!(
            "{tool}-restore refused the rules: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let jump = jump_args(&plan.project, &plan.chain);
    if !run(tool, &args(&["-w", "-C", "OUTPUT"], &jump))? {
        let inserted = run(tool, &args(&["-w", "-I", "OUTPUT", "1"], &jump))?;
        if !inserted {
            bail!(
                "{tool} could not add the jump from OUTPUT to {}",
                plan.chain
            );
        }
    }
    Ok(())
}

/// `prefix` followed by `rest`, as one argument list.
fn args(prefix: &[&str], rest: &[String]) -> Vec<String> {
    prefix
        .iter()
        .map(|s| s.to_string())
        .chain(rest.iter().cloned())
        .collect()
}

fn jump_args(project: &str, chain: &str) -> Vec<String> {
    [
        "-m",
        "comment",
        "--comment",
        &jump_comment(project),
        "-j",
        chain,
    ]
    .map(String::from)
    .to_vec()
}

/// Removes the project's jump and chain in both families. Returns whether
/// there was anything to remove.
pub fn remove(project: &str) -> anyhow::Result<bool> {
    let chain = chain_name(project);
    let jump = jump_args(project, &chain);
    let mut removed = false;
    for family in [Family::V4, Family::V6] {
        let tool = family.tool();
        for _ in 0..16 {
            if !run(tool, &args(&["-w", "-D", "OUTPUT"], &jump)).unwrap_or(false) {
                break;
            }
            removed = true;
        }
        if run(tool, &["-w", "-F", &chain].map(String::from)).unwrap_or(false) {
            removed = true;
            run(tool, &["-w", "-X", &chain].map(String::from))?;
        }
    }
    Ok(removed)
}

/// The rules installed for a project, as `iptables -S` prints them.
pub fn installed(project: &str, family: Family) -> Vec<String> {
    let output = Command::new(family.tool())
        .args(["-w", "-S", &chain_name(project)])
        .output();
    match output {
        Ok(output) if output.status.success() => String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter(|l| l.starts_with("-A "))
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

/// Runs an iptables command; `Ok(false)` when it ran and failed.
fn run(tool: &str, args: &[String]) -> anyhow::Result<bool> {
    let status = Command::new(tool)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .with_context(|| format!("cannot run {tool}"))?;
    Ok(status.success())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project() -> Project {
        let text = "name: shop\nservices:\n  db:\n    image: d\n    user: \"10001:10001\"\n    x-stackctl: {listen: [\"mysql://127.0.0.1:3306\"], egress: []}\n  api:\n    image: a\n    user: \"10010:10010\"\n    x-stackctl: {listen: [\"http://0.0.0.0:3000\"], egress: [\"127.0.0.1:3306\"]}\n  loose:\n    image: l\n";
        Project::parse(text, std::path::Path::new("c.yaml")).unwrap()
    }

    fn all(p: &Project) -> BTreeSet<String> {
        p.model.services.keys().cloned().collect()
    }

    /// The rules with their comments cut out, for matching.
    fn uncommented(text: &str) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(at) = rest.find(" -m comment --comment \"") {
            out.push_str(&rest[..at]);
            let after = &rest[at + " -m comment --comment \"".len()..];
            rest = after.split_once('"').map_or("", |(_, tail)| tail);
        }
        out.push_str(rest);
        out
    }

    #[test]
    fn each_policed_uid_gets_allowances_then_a_reject() {
        let p = project();
        let plan = plan(&p, &all(&p)).unwrap();
        let commented = plan.restore_input(Family::V4);
        assert!(commented.contains("-m comment --comment \"stackctl:shop:api\" -j RETURN"));
        let v4 = uncommented(&commented);
        assert!(v4.starts_with(&format!("*filter\n:{} - [0:0]\n", plan.chain)));
        assert!(
            v4.contains("--uid-owner 10010 -p tcp -d 127.0.0.1/32 --dport 3306 -j RETURN"),
            "{v4}"
        );
        assert!(
            v4.contains("--uid-owner 10010 -p tcp -d 127.0.0.1/32 --dport 3000 -j RETURN"),
            "its own port: {v4}"
        );
        assert!(v4.contains("--uid-owner 10001 -p tcp -j REJECT --reject-with tcp-reset"));
        let db_allowances: Vec<&str> = v4
            .lines()
            .filter(|l| l.contains("--uid-owner 10001 -p tcp -d"))
            .collect();
        assert_eq!(
            db_allowances.len(),
            1,
            "the database may reach only its own port: {v4}"
        );
        assert!(db_allowances[0].contains("--dport 3306"));
        assert!(v4.trim_end().ends_with("COMMIT"));
        let v6 = uncommented(&plan.restore_input(Family::V6));
        assert!(
            v6.contains("--uid-owner 10010 -p tcp -d ::1/128 --dport 3000 -j RETURN"),
            "{v6}"
        );
        assert!(
            !v6.contains("--dport 3306"),
            "an IPv4 allowance has no IPv6 rule: {v6}"
        );
        assert_eq!(plan.unpoliced, ["loose"]);
    }

    #[test]
    fn established_replies_come_before_the_reject() {
        let p = project();
        let plan = plan(&p, &all(&p)).unwrap();
        let v4 = uncommented(&plan.restore_input(Family::V4));
        let established = v4.find("--uid-owner 10010 -m conntrack").unwrap();
        let reject = v4.find("--uid-owner 10010 -p tcp -j REJECT").unwrap();
        assert!(established < reject);
    }

    #[test]
    fn a_policy_needs_a_numeric_user() {
        let text = "services:\n  a:\n    image: x\n    user: app\n    x-stackctl: {egress: []}\n";
        let p = Project::parse(text, std::path::Path::new("c.yaml")).unwrap();
        let err = plan(&p, &all(&p)).unwrap_err().to_string();
        assert!(err.contains("no numeric `user`"), "{err}");
    }

    #[test]
    fn chain_names_fit_iptables() {
        assert!(chain_name("a-very-long-project-name-that-goes-on-and-on").len() <= 28);
        assert_ne!(chain_name("a"), chain_name("b"));
    }
}
