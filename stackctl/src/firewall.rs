//! The per-service egress firewall. On the host network every container
//! shares the host's network stack, so a policy cannot key on interfaces; it
//! keys on the socket owner instead: each service runs as its own uid.
//!
//! Two kinds of chains, in IPv4 and IPv6 alike:
//! - one per project, `STACKCTL-<hash>`, jumped to from the top of `OUTPUT`,
//!   that ACCEPTs what each service's uid may send: replies on connections
//!   others opened to it, its own listening ports (its health check), and
//!   its `x-stackctl.egress` allowlist;
//! - one shared `STACKCTL-DENY`, jumped to right after the project chains,
//!   that rejects everything else those uids send, at once, with a reset.
//!
//! Splitting allow from deny lets two projects with the same uids (the stack
//! and a test copy of it) coexist: a uid may reach what any of them allows.
//! `up` installs a project's rules in one `iptables-restore` transaction;
//! `down` removes exactly them, and the shared chain with its last rule.

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::IpAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context as _, bail};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::compose::Project;
use crate::compose::extension::{EgressHost, EgressRule};
use crate::machine_lock::MachineLock;

/// The shared chain that rejects what no project chain accepted.
pub const DENY_CHAIN: &str = "STACKCTL-DENY";

/// IPv4 or IPv6, and the tool for each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
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

/// What a rule matches besides its uid: typed, so a rule renders the same
/// to `iptables-restore` lines and to an argument vector, with nothing
/// re-split from text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Match {
    /// Packets of a connection already established (replies on connections
    /// others opened to the service), or related to one.
    Established,
    /// New TCP connections to `destination` (`ADDRESS/PREFIX`) on `port`.
    TcpTo { destination: String, port: u16 },
    /// Any TCP packet.
    Tcp,
    /// Any packet.
    Any,
}

impl Match {
    fn args(&self) -> Vec<String> {
        let words: Vec<&str> = match self {
            Match::Established => vec!["-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED"],
            Match::TcpTo { destination, port } => {
                return ["-p", "tcp", "-d", destination.as_str(), "--dport"]
                    .into_iter()
                    .map(String::from)
                    .chain(std::iter::once(port.to_string()))
                    .collect();
            }
            Match::Tcp => vec!["-p", "tcp"],
            Match::Any => vec![],
        };
        words.into_iter().map(String::from).collect()
    }
}

/// What happens to a matching packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Accept,
    /// `REJECT --reject-with tcp-reset`: the connecting side sees a reset at once.
    RejectWithReset,
    /// `REJECT` (an ICMP port unreachable).
    Reject,
}

impl Verdict {
    fn args(self) -> Vec<String> {
        let words: &[&str] = match self {
            Verdict::Accept => &["-j", "ACCEPT"],
            Verdict::RejectWithReset => &["-j", "REJECT", "--reject-with", "tcp-reset"],
            Verdict::Reject => &["-j", "REJECT"],
        };
        words.iter().map(|w| (*w).to_owned()).collect()
    }
}

/// One rule of a project: the socket owner's uid, what else it matches,
/// the comment naming its project and service, and the verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    pub family: Family,
    pub uid: u32,
    #[serde(rename = "match")]
    pub matches: Match,
    /// `stackctl:PROJECT:SERVICE`: how `down` finds the rule again.
    pub comment: String,
    pub verdict: Verdict,
}

impl Rule {
    /// The arguments after `-A CHAIN`, one word each (for `iptables`'s argv).
    pub fn argv(&self) -> Vec<String> {
        let mut args: Vec<String> = ["-m", "owner", "--uid-owner"].map(String::from).to_vec();
        args.push(self.uid.to_string());
        args.extend(self.matches.args());
        args.extend(["-m", "comment", "--comment"].map(String::from));
        args.push(self.comment.clone());
        args.extend(self.verdict.args());
        args
    }

    /// The rule as an `iptables-restore` line (`-A CHAIN ...`), the comment
    /// quoted: it is the only free text, and it holds no quote or space.
    pub fn restore_line(&self, verb: &str, chain: &str) -> String {
        restore_line(verb, chain, &self.argv())
    }
}

/// The rules of one project, ready to install. Serializable: it is the
/// policy the firewall agent takes on each node of a swarm.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// The project's own chain.
    pub chain: String,
    pub project: String,
    /// What the services' uids may send (the project chain).
    pub allow: Vec<Rule>,
    /// The rejects for those uids (the project's rules in the shared chain).
    pub deny: Vec<Rule>,
    /// Services that declare no egress policy and so get no rules.
    pub unpoliced: Vec<String>,
}

/// The chain of a project: `STACKCTL-` and a hash of the name (chain names
/// are short; the rules' comments carry the name itself).
pub fn chain_name(project: &str) -> String {
    let digest = hex::encode(Sha256::digest(project.as_bytes()));
    format!("STACKCTL-{}", &digest[..10])
}

/// The comment on every rule of a project (`stackctl:PROJECT`, and
/// `:SERVICE` on the per-service rules).
fn project_comment(project: &str) -> String {
    format!("stackctl:{project}")
}

/// The rules for every service of `project` (not only those an `up` names:
/// installing replaces the whole project's rules).
pub fn plan(project: &Project) -> anyhow::Result<Plan> {
    let mut allow = Vec::new();
    let mut deny = Vec::new();
    let mut unpoliced = Vec::new();
    let mut policed: Vec<(u32, String)> = Vec::new();
    for (name, service) in &project.model.services {
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
        check_uid(project, name, uid, &policed)?;
        policed.push((uid, name.clone()));
        let comment = format!("{}:{name}", project_comment(&project.name));
        let rule = |family: Family, matches: Match, verdict: Verdict| Rule {
            family,
            uid,
            matches,
            comment: comment.clone(),
            verdict,
        };
        for family in [Family::V4, Family::V6] {
            allow.push(rule(family, Match::Established, Verdict::Accept));
            for endpoint in &extension.listen {
                let destination = match endpoint.addr.ip() {
                    ip if ip.is_unspecified() => family.loopback().to_owned(),
                    IpAddr::V4(ip) if family == Family::V4 => format!("{ip}/32"),
                    IpAddr::V6(ip) if family == Family::V6 => format!("{ip}/128"),
                    _ => continue,
                };
                let port = endpoint.addr.port();
                allow.push(rule(
                    family,
                    Match::TcpTo { destination, port },
                    Verdict::Accept,
                ));
            }
            for egress_rule in egress {
                if let Some(destination) = destination(egress_rule, family) {
                    let port = egress_rule.port;
                    allow.push(rule(
                        family,
                        Match::TcpTo { destination, port },
                        Verdict::Accept,
                    ));
                }
            }
            deny.push(rule(family, Match::Tcp, Verdict::RejectWithReset));
            deny.push(rule(family, Match::Any, Verdict::Reject));
        }
    }
    Ok(Plan {
        chain: chain_name(&project.name),
        project: project.name.clone(),
        allow,
        deny,
        unpoliced,
    })
}

/// A uid the firewall may police: not root, not a user of this host (whose
/// own processes would be policed too), and not shared with another policed
/// service (whose allowances it would get).
fn check_uid(
    project: &Project,
    service: &str,
    uid: u32,
    policed: &[(u32, String)],
) -> anyhow::Result<()> {
    let at = project.locate(service, "user");
    if uid == 0 {
        bail!(
            "service `{service}` runs as root ({at}); the firewall will not police uid 0, so give it a uid of its own"
        );
    }
    if let Some((_, other)) = policed.iter().find(|(u, _)| *u == uid) {
        bail!(
            "services `{other}` and `{service}` share uid {uid} ({at}); the firewall keys on the uid, so give each service its own"
        );
    }
    if let Some(user) = host_user(uid)? {
        bail!(
            "service `{service}` runs as uid {uid} ({at}), which is the host's user `{user}`; policing it would police that user's \
             processes too, so give the service a uid no host account has"
        );
    }
    Ok(())
}

/// The name of the host's account with `uid`, if any, asked of the system
/// (NSS: `/etc/passwd`, LDAP, systemd's dynamic users...). A lookup that
/// fails is an error: the check fails closed rather than passing unread.
fn host_user(uid: u32) -> anyhow::Result<Option<String>> {
    let user = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid)).with_context(|| {
        format!("cannot look up uid {uid} in this host's user database, so cannot tell whether a host account has it")
    })?;
    Ok(user.map(|u| u.name))
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

/// A rule as `iptables-restore` reads it; the comment is the only free text.
fn restore_line(verb: &str, chain: &str, rule: &[String]) -> String {
    let words: Vec<String> = rule
        .iter()
        .enumerate()
        .map(
            |(i, word)| match i.checked_sub(1).map(|p| rule[p].as_str()) {
                Some("--comment") => format!("\"{}\"", word.trim_matches('"')),
                _ => word.clone(),
            },
        )
        .collect();
    format!("{verb} {chain} {}", words.join(" "))
}

impl Plan {
    /// The `iptables-restore --noflush` input for one family: the project
    /// chain declared (which creates or empties it) with its rules, the
    /// project's old rules in the shared chain deleted and the new ones
    /// added, as one transaction.
    pub fn restore_input(&self, family: Family, old_deny: &[Vec<String>]) -> String {
        let mut text = format!("*filter\n:{} - [0:0]\n", self.chain);
        for rule in self.allow.iter().filter(|r| r.family == family) {
            let _ = writeln!(text, "{}", rule.restore_line("-A", &self.chain));
        }
        for rule in old_deny {
            let _ = writeln!(text, "{}", restore_line("-D", DENY_CHAIN, rule));
        }
        for rule in self.deny.iter().filter(|r| r.family == family) {
            let _ = writeln!(text, "{}", rule.restore_line("-A", DENY_CHAIN));
        }
        text.push_str("COMMIT\n");
        text
    }
}

impl Plan {
    /// `Ok` when this plan is installed in `family`: the jump from `OUTPUT`
    /// to the project chain, the chain with as many rules as the plan
    /// allows, the project's rejects in the shared chain, and the jump to
    /// the shared chain after the project's. Otherwise says what is missing
    /// (or that the firewall cannot be read).
    pub fn check_installed(&self, family: Family) -> Result<(), String> {
        let tool = family.tool();
        readable(tool)?;
        let output = output_rules(tool);
        let jump = output
            .iter()
            .position(|r| r.split_whitespace().last() == Some(self.chain.as_str()))
            .ok_or_else(|| format!("{tool}: no jump from OUTPUT to {}", self.chain))?;
        let deny_jump = output
            .iter()
            .position(|r| r.split_whitespace().last() == Some(DENY_CHAIN))
            .ok_or_else(|| format!("{tool}: no jump from OUTPUT to {DENY_CHAIN}"))?;
        if deny_jump < jump {
            return Err(format!(
                "{tool}: {DENY_CHAIN} comes before {} in OUTPUT",
                self.chain
            ));
        }
        let want_allow = self.allow.iter().filter(|r| r.family == family).count();
        let allow = rules_of(tool, &self.chain).map(|r| r.len());
        if allow != Some(want_allow) {
            return Err(format!(
                "{tool}: chain {} has {} rule(s), the policy {want_allow}",
                self.chain,
                allow.map_or("no".to_owned(), |n| n.to_string())
            ));
        }
        let want_deny = self.deny.iter().filter(|r| r.family == family).count();
        let deny = project_rules(tool, DENY_CHAIN, &self.project).len();
        if deny != want_deny {
            return Err(format!(
                "{tool}: {DENY_CHAIN} has {deny} reject(s) of project `{}`, the policy {want_deny}",
                self.project
            ));
        }
        Ok(())
    }
}

/// Whether the firewall can be installed here: root and iptables.
pub fn check_available() -> anyhow::Result<()> {
    if !nix::unistd::geteuid().is_root() {
        bail!(
            "the per-service firewall needs root (iptables rules keyed on each service's uid); run `sudo stackctl up`, \
             or `stackctl up --no-firewall` to run without it"
        );
    }
    if !matches!(run("iptables", &["-w", "-S", "OUTPUT"]), Ok(true)) {
        bail!(
            "iptables is not available, so the per-service firewall cannot be installed; install it \
             (`sudo apt-get install iptables`), or run `stackctl up --no-firewall` to run without it"
        );
    }
    Ok(())
}

/// Holds a machine-wide lock while a project's rules change: the shared
/// chain and the order of the jumps in `OUTPUT` are read and then changed,
/// which must not interleave with another stackctl doing the same.
fn lock() -> anyhow::Result<MachineLock> {
    MachineLock::acquire_blocking("firewall", "firewall", Duration::from_secs(60))
}

/// True when this host has IPv6 turned off, so there is nothing to police there.
pub fn ipv6_disabled() -> bool {
    std::fs::read_to_string("/proc/sys/net/ipv6/conf/all/disable_ipv6")
        .is_ok_and(|v| v.trim() == "1")
        || !std::path::Path::new("/proc/net/if_inet6").exists()
}

/// Installs (or replaces) a project's rules, IPv4 and IPv6; IPv6 is skipped,
/// with a warning, only where the host has it turned off.
pub fn install(plan: &Plan) -> anyhow::Result<Vec<String>> {
    let _held = lock()?;
    install_family(plan, Family::V4)?;
    if ipv6_disabled() {
        return Ok(vec![
            "IPv6 is turned off on this host; only IPv4 rules were installed".to_owned(),
        ]);
    }
    install_family(plan, Family::V6).context(
        "the IPv6 rules could not be installed, so the services would be unpoliced over IPv6",
    )?;
    Ok(Vec::new())
}

fn install_family(plan: &Plan, family: Family) -> anyhow::Result<()> {
    let tool = family.tool();
    // The shared chain may not exist yet; creating an existing one fails harmlessly.
    run(tool, &["-w", "-N", DENY_CHAIN])?;
    let old_deny = project_rules(tool, DENY_CHAIN, &plan.project);
    let mut restore = Command::new(format!("{tool}-restore"))
        .args(["-w", "--noflush"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run {tool}-restore"))?;
    let written = restore
        .stdin
        .take()
        .context("no stdin")?
        .write_all(plan.restore_input(family, &old_deny).as_bytes());
    let output = restore.wait_with_output()?;
    if written.is_err() || !output.status.success() {
        bail!(
            "{tool}-restore refused the rules: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let jump = [
        "-m",
        "comment",
        "--comment",
        &project_comment(&plan.project),
        "-j",
        &plan.chain,
    ];
    if !run(tool, &[&["-w", "-C", "OUTPUT"][..], &jump].concat())?
        && !run(tool, &[&["-w", "-I", "OUTPUT", "1"][..], &jump].concat())?
    {
        bail!(
            "{tool} could not add the jump from OUTPUT to {}",
            plan.chain
        );
    }
    place_deny_jump(tool)
}

/// Puts the jump to the shared deny chain right after the last project
/// jump in `OUTPUT` (inserting the new one before deleting a misplaced old
/// one, so there is no moment without it).
fn place_deny_jump(tool: &str) -> anyhow::Result<()> {
    let rules = output_rules(tool);
    let is_deny = |r: &String| r.ends_with(&format!("-j {DENY_CHAIN}"));
    let is_project = |r: &String| r.contains("-j STACKCTL-") && !is_deny(r);
    let last_project = rules.iter().rposition(is_project).map_or(0, |i| i + 1);
    let denies: Vec<usize> = rules
        .iter()
        .enumerate()
        .filter(|(_, r)| is_deny(r))
        .map(|(i, _)| i + 1)
        .collect();
    if denies.len() == 1 && denies[0] == last_project + 1 {
        return Ok(());
    }
    let position = (last_project + 1).to_string();
    let jump = ["-m", "comment", "--comment", "stackctl", "-j", DENY_CHAIN];
    if !run(
        tool,
        &[&["-w", "-I", "OUTPUT", &position][..], &jump].concat(),
    )? {
        bail!("{tool} could not add the jump from OUTPUT to {DENY_CHAIN}");
    }
    for old in denies.into_iter().rev() {
        let shifted = if old > last_project { old + 1 } else { old };
        // Delete by number only what is still the rule we mean there.
        if output_rules(tool).get(shifted - 1).is_some_and(is_deny) {
            run(tool, &["-w", "-D", "OUTPUT", &shifted.to_string()])?;
        }
    }
    Ok(())
}

/// Removes a project's rules in both families, and the shared chain with
/// its last rule. Returns whether there was anything to remove.
pub fn remove(project: &str) -> anyhow::Result<bool> {
    let _held = lock()?;
    let chain = chain_name(project);
    let mut removed = false;
    for family in [Family::V4, Family::V6] {
        let tool = family.tool();
        let jump = [
            "-m",
            "comment",
            "--comment",
            &project_comment(project),
            "-j",
            &chain,
        ];
        for _ in 0..16 {
            if !run(tool, &[&["-w", "-D", "OUTPUT"][..], &jump].concat()).unwrap_or(false) {
                break;
            }
            removed = true;
        }
        if run(tool, &["-w", "-F", &chain]).unwrap_or(false) {
            removed = true;
            run(tool, &["-w", "-X", &chain])?;
        }
        for rule in project_rules(tool, DENY_CHAIN, project) {
            let args: Vec<String> = rule
                .iter()
                .map(|w| w.trim_matches('"').to_owned())
                .collect();
            let mut command = vec!["-w".to_owned(), "-D".to_owned(), DENY_CHAIN.to_owned()];
            command.extend(args);
            let command: Vec<&str> = command.iter().map(String::as_str).collect();
            removed |= run(tool, &command)?;
        }
        let shared_empty = rules_of(tool, DENY_CHAIN).is_some_and(|rules| rules.is_empty());
        if shared_empty {
            while run(
                tool,
                &[
                    "-w",
                    "-D",
                    "OUTPUT",
                    "-m",
                    "comment",
                    "--comment",
                    "stackctl",
                    "-j",
                    DENY_CHAIN,
                ],
            )
            .unwrap_or(false)
            {}
            run(tool, &["-w", "-X", DENY_CHAIN])?;
        }
    }
    Ok(removed)
}

/// The other projects whose firewall rules are installed (their rejects
/// apply to every process with their services' uids).
pub fn other_projects(project: &str) -> Vec<String> {
    let mut projects: Vec<String> = rules_of("iptables", DENY_CHAIN)
        .unwrap_or_default()
        .iter()
        .flat_map(|rule| {
            rule.split_whitespace()
                .map(|w| w.trim_matches('"').to_owned())
                .collect::<Vec<_>>()
        })
        .filter_map(|word| {
            word.strip_prefix("stackctl:")
                .and_then(|rest| rest.split(':').next())
                .map(str::to_owned)
        })
        .filter(|p| p != project)
        .collect();
    projects.sort();
    projects.dedup();
    projects
}

/// The rules installed for a project in `family`: its chain's rules and its
/// rules in the shared chain, as `iptables -S` prints them (none when the
/// firewall cannot be read; [`try_installed`] tells the two apart).
pub fn installed(project: &str, family: Family) -> Vec<String> {
    try_installed(project, family).unwrap_or_default()
}

/// Like [`installed`], but `Err(why)` when the firewall cannot be read at
/// all (iptables missing, or not root), which is not the same as no rules.
pub fn try_installed(project: &str, family: Family) -> Result<Vec<String>, String> {
    let tool = family.tool();
    readable(tool)?;
    let mut rules = rules_of(tool, &chain_name(project)).unwrap_or_default();
    rules.extend(
        project_rules(tool, DENY_CHAIN, project)
            .into_iter()
            .map(|words| format!("-A {DENY_CHAIN} {}", words.join(" "))),
    );
    Ok(rules)
}

/// `Ok` when `tool` can list the rules (`OUTPUT` always exists); otherwise
/// what it said (e.g. `Permission denied (you must be root)`).
fn readable(tool: &str) -> Result<(), String> {
    let output = Command::new(tool)
        .args(["-w", "-S", "OUTPUT"])
        .stdout(Stdio::null())
        .output()
        .map_err(|err| format!("cannot run {tool}: {err}"))?;
    if output.status.success() {
        return Ok(());
    }
    let said = String::from_utf8_lossy(&output.stderr);
    let said = said.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    Err(format!("`{tool} -S` failed: {}", said.trim()))
}

/// The `-A` rules of a chain as printed by `-S`; `None` if it does not exist.
fn rules_of(tool: &str, chain: &str) -> Option<Vec<String>> {
    let output = Command::new(tool)
        .args(["-w", "-S", chain])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    output.status.success().then(|| {
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter(|l| l.starts_with("-A "))
            .map(str::to_owned)
            .collect()
    })
}

/// The rules of `chain` carrying `project`'s comment, as argument lists
/// (without `-A CHAIN`).
fn project_rules(tool: &str, chain: &str, project: &str) -> Vec<Vec<String>> {
    let marker = format!("{}:", project_comment(project));
    rules_of(tool, chain)
        .unwrap_or_default()
        .into_iter()
        .filter(|rule| {
            rule.split_whitespace()
                .any(|word| word.trim_matches('"').starts_with(&marker))
        })
        .map(|rule| rule.split_whitespace().skip(2).map(str::to_owned).collect())
        .collect()
}

/// The rules of `OUTPUT`, in order.
fn output_rules(tool: &str) -> Vec<String> {
    rules_of(tool, "OUTPUT").unwrap_or_default()
}

/// Runs an iptables command; `Ok(false)` when it ran and failed.
fn run(tool: &str, args: &[&str]) -> anyhow::Result<bool> {
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
    fn each_policed_uid_gets_its_allowances_and_a_reject() {
        let p = project();
        let plan = plan(&p).unwrap();
        let commented = plan.restore_input(Family::V4, &[]);
        assert!(
            commented.contains("-m comment --comment \"stackctl:shop:api\" -j ACCEPT"),
            "{commented}"
        );
        let v4 = uncommented(&commented);
        let chain = &plan.chain;
        assert!(v4.starts_with(&format!("*filter\n:{chain} - [0:0]\n")));
        assert!(v4.contains(&format!("-A {chain} -m owner --uid-owner 10010 -p tcp -d 127.0.0.1/32 --dport 3306 -j ACCEPT")), "{v4}");
        assert!(v4.contains(&format!("-A {chain} -m owner --uid-owner 10010 -p tcp -d 127.0.0.1/32 --dport 3000 -j ACCEPT")), "its own port");
        assert!(v4.contains(
            "-A STACKCTL-DENY -m owner --uid-owner 10001 -p tcp -j REJECT --reject-with tcp-reset"
        ));
        let db_allowances: Vec<&str> = v4
            .lines()
            .filter(|l| l.contains("--uid-owner 10001 -p tcp -d"))
            .collect();
        assert_eq!(
            db_allowances.len(),
            1,
            "the database may reach only its own port: {v4}"
        );
        assert!(v4.trim_end().ends_with("COMMIT"));
        let v6 = uncommented(&plan.restore_input(Family::V6, &[]));
        assert!(
            v6.contains("--uid-owner 10010 -p tcp -d ::1/128 --dport 3000 -j ACCEPT"),
            "{v6}"
        );
        assert!(
            !v6.contains("--dport 3306"),
            "IPv4-only allowances have no IPv6 rule: {v6}"
        );
        assert_eq!(plan.unpoliced, ["loose"]);
    }

    #[test]
    fn reinstalling_replaces_the_projects_old_rejects_in_the_same_transaction() {
        let p = project();
        let plan = plan(&p).unwrap();
        let old = vec![
            "-p tcp -m owner --uid-owner 10010 -m comment --comment \"stackctl:shop:api\" -j REJECT --reject-with tcp-reset"
                .split_whitespace()
                .map(String::from)
                .collect(),
        ];
        let input = plan.restore_input(Family::V4, &old);
        let delete = input
            .find("-D STACKCTL-DENY -p tcp -m owner --uid-owner 10010")
            .unwrap();
        let add = input.find("-A STACKCTL-DENY").unwrap();
        assert!(delete < add && input.find("COMMIT").unwrap() > add);
    }

    #[test]
    fn a_policy_needs_a_numeric_user() {
        let text = "services:\n  a:\n    image: x\n    user: app\n    x-stackctl: {egress: []}\n";
        let p = Project::parse(text, std::path::Path::new("c.yaml")).unwrap();
        let err = plan(&p).unwrap_err().to_string();
        assert!(err.contains("no numeric `user`"), "{err}");
    }

    #[test]
    fn root_shared_and_host_uids_are_refused() {
        let root =
            "services:\n  a:\n    image: x\n    user: \"0:0\"\n    x-stackctl: {egress: []}\n";
        let p = Project::parse(root, std::path::Path::new("c.yaml")).unwrap();
        assert!(plan(&p).unwrap_err().to_string().contains("runs as root"));
        let shared = "services:\n  a:\n    image: x\n    user: \"20001:1\"\n    x-stackctl: {egress: []}\n  b:\n    image: x\n    user: \"20001:1\"\n    x-stackctl: {egress: []}\n";
        let p = Project::parse(shared, std::path::Path::new("c.yaml")).unwrap();
        assert!(
            plan(&p)
                .unwrap_err()
                .to_string()
                .contains("share uid 20001")
        );
    }

    #[test]
    fn host_accounts_are_found_through_the_system_user_database() {
        // uid 0 is root on every host; 4294967294 is no account's (nobody is 65534).
        assert_eq!(host_user(0).unwrap().as_deref(), Some("root"));
        assert_eq!(host_user(4_294_967_294).unwrap(), None);
        // uid 1 is a system account (daemon or bin) on every common distribution.
        let root =
            "services:\n  a:\n    image: x\n    user: \"1:1\"\n    x-stackctl: {egress: []}\n";
        let p = Project::parse(root, std::path::Path::new("c.yaml")).unwrap();
        let err = plan(&p).unwrap_err().to_string();
        assert!(err.contains("which is the host's user"), "{err}");
    }

    #[test]
    fn a_typed_rule_renders_the_same_words_as_argv_and_as_a_restore_line() {
        let rule = Rule {
            family: Family::V4,
            uid: 10010,
            matches: Match::TcpTo {
                destination: "127.0.0.1/32".to_owned(),
                port: 3306,
            },
            comment: "stackctl:shop:api".to_owned(),
            verdict: Verdict::Accept,
        };
        let argv = rule.argv();
        assert_eq!(
            argv.join(" "),
            "-m owner --uid-owner 10010 -p tcp -d 127.0.0.1/32 --dport 3306 -m comment --comment stackctl:shop:api -j ACCEPT"
        );
        assert_eq!(
            rule.restore_line("-A", "C"),
            "-A C -m owner --uid-owner 10010 -p tcp -d 127.0.0.1/32 --dport 3306 -m comment --comment \"stackctl:shop:api\" -j ACCEPT"
        );
        let reject = Rule {
            matches: Match::Tcp,
            verdict: Verdict::RejectWithReset,
            ..rule
        };
        assert!(
            reject
                .argv()
                .ends_with(&["-j", "REJECT", "--reject-with", "tcp-reset"].map(String::from))
        );
        let json = serde_json::to_string(&reject).unwrap();
        assert_eq!(serde_json::from_str::<Rule>(&json).unwrap(), reject);
    }

    #[test]
    fn chain_names_fit_iptables() {
        assert!(chain_name("a-very-long-project-name-that-goes-on-and-on").len() <= 28);
        assert_ne!(chain_name("a"), chain_name("b"));
    }
}
