//! The fidelity model every export shares: for each key of each service of
//! `compose.yaml`, what it became on the target, that the target has no use
//! for it, or that the target cannot express it (a *loss*), with the
//! Compose file and line. An export fails closed: it succeeds only when
//! every loss is accepted in `x-stackctl.accept`, with compensating
//! controls that are in place, judged by the audit's own acceptance code
//! ([`crate::audit::accept::judge`]), so a risk is accepted in one place and
//! reported the same way by `audit` and by every export.
//!
//! # How a target plugs in
//!
//! 1. Name its losses: a `&'static [LossKind]` whose ids are
//!    `TARGET:WHAT` (`swarm:no-new-privileges`), added to [`LOSS_KINDS`].
//!    Those ids are what `x-stackctl.accept[].check` names; the colon keeps
//!    them apart from the audit's check ids.
//! 2. Convert: start a [`Report`] with [`Report::new`], and while converting
//!    each service call [`Report::kept`], [`Report::not_needed`] or
//!    [`Report::lost`] for every key it reads. Keys are relative to the
//!    service (`KeyPath::root().key("tmpfs").index(0)`).
//! 3. Refuse what cannot run at all with a [`refusal`] at its line; the
//!    refusals every target makes alike ([`off_the_host_network`],
//!    [`network_sysctl`]) are here, worded by its [`Target`].
//! 4. Finish with [`Report::finish`]: it marks every key of every service
//!    that the target did not mention as lost (`export:unhandled`), so a key
//!    a converter forgets is never dropped in silence, then judges every
//!    loss against the acceptances. [`Report::passed`] is the exit status.
//!
//! Output: [`Report::render_human`] for people, `serde_json` of the
//! [`Report`] for `--format json`.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use serde::Serialize;
use serde_yaml_ng::Value;

use crate::audit::accept::{self, Judged};
use crate::audit::subject::Subject;
use crate::compose::extension::KEY;
use crate::compose::positions::{KeyPath, Segment};
use crate::compose::{Diagnostic, Project, Service};

/// A kind of loss one target can report: what `x-stackctl.accept` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LossKind {
    /// `TARGET:WHAT`, e.g. `swarm:no-new-privileges`.
    pub id: &'static str,
    /// One line: what the target cannot do.
    pub title: &'static str,
    /// Why it matters and what compensates, for the report.
    pub help: &'static str,
}

/// Losses of any target: a key no converter reported on.
pub const GENERIC_LOSSES: &[LossKind] = &[UNHANDLED];

/// A key the target's converter does not carry (and so drops).
pub const UNHANDLED: LossKind = LossKind {
    id: "export:unhandled",
    title: "a key this export does not carry",
    help: "The converter has no mapping for this key, so the target would run without it.",
};

/// Every target's losses. A new target adds its list here; `x-stackctl.accept`
/// can name any of them.
pub const LOSS_KINDS: &[&[LossKind]] = &[
    GENERIC_LOSSES,
    super::swarm::LOSSES,
    super::kubernetes::LOSSES,
];

/// The loss kind with this id, of any target.
pub fn find_loss(id: &str) -> Option<&'static LossKind> {
    LOSS_KINDS
        .iter()
        .flat_map(|l| l.iter())
        .find(|l| l.id == id)
}

/// Whether an `x-stackctl.accept` check id names an export loss (they have
/// a colon; the audit's checks never do).
pub fn is_loss_id(id: &str) -> bool {
    id.contains(':')
}

/// Whether a lost key is accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum LossStatus {
    /// Not (yet) judged, or no acceptance covers it: the export fails.
    Open,
    /// Accepted, with every named control in place.
    Accepted {
        /// The reason written in `x-stackctl.accept`.
        reason: String,
        /// Where the acceptance is written (`FILE:LINE: KEY`).
        at: String,
        /// The compensating controls found in place, each described.
        controls_in_place: Vec<String>,
    },
    /// An acceptance names it, but a control it relies on is not in place:
    /// the export fails, and says which.
    Void { why: String },
}

/// What one key became on the target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum Outcome {
    /// The target expresses it with the same effect; `became` says how.
    Kept { became: String },
    /// The target needs nothing for it, and leaving it out weakens nothing
    /// (`build`: the image is carried by ID); `why` says so.
    NotNeeded { why: String },
    /// The target cannot express it, or not all of it.
    Lost {
        /// The [`LossKind`] id.
        loss: &'static str,
        title: &'static str,
        /// What exactly is lost here, and what the target runs instead.
        detail: String,
        #[serde(flatten)]
        status: LossStatus,
    },
}

/// One key of one service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    pub service: String,
    /// The full key, e.g. `services.db.security_opt[0]`.
    pub key: String,
    /// The line in the Compose file, when the key is written there.
    pub line: Option<usize>,
    #[serde(flatten)]
    pub outcome: Outcome,
    /// The key relative to the service, for matching.
    #[serde(skip)]
    relative: KeyPath,
}

impl Entry {
    /// True for a loss that is not accepted.
    pub fn is_open_loss(&self) -> bool {
        matches!(
            &self.outcome,
            Outcome::Lost {
                status: LossStatus::Open | LossStatus::Void { .. },
                ..
            }
        )
    }
}

/// The fidelity report of one export.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The target's name: `swarm`, `kubernetes`.
    pub target: &'static str,
    /// The Compose file, as named.
    pub file: String,
    pub project: String,
    /// Every key, in the order reported.
    pub entries: Vec<Entry>,
    /// What the reader should know beyond the keys (how placement is
    /// guaranteed, what the target adds).
    pub notes: Vec<String>,
    /// Open or void losses, counted by [`Report::finish`].
    pub open_losses: usize,
    /// Accepted losses.
    pub accepted_losses: usize,
}

impl Report {
    /// An empty report for `target`.
    pub fn new(target: &'static str, project: &Project) -> Report {
        Report {
            target,
            file: project.file.display().to_string(),
            project: project.name.clone(),
            entries: Vec::new(),
            notes: Vec::new(),
            open_losses: 0,
            accepted_losses: 0,
        }
    }

    fn push(&mut self, project: &Project, service: &str, key: KeyPath, outcome: Outcome) {
        let mut full = KeyPath::root().key("services").key(service);
        full.0.extend(key.0.iter().cloned());
        // A key inside a list item or a merged mapping may have no line of
        // its own; its nearest written parent does.
        let mut line = project.line_of(&full);
        let mut parent = full.parent();
        while line.is_none() {
            let Some(p) = parent else { break };
            if p.0.len() < 2 {
                break;
            }
            line = project.line_of(&p);
            parent = p.parent();
        }
        self.entries.push(Entry {
            service: service.to_owned(),
            key: full.to_string(),
            line,
            outcome,
            relative: key,
        });
    }

    /// `key` of `service` is carried with the same effect, as `became`.
    pub fn kept(
        &mut self,
        project: &Project,
        service: &str,
        key: KeyPath,
        became: impl Into<String>,
    ) {
        let became = became.into();
        self.push(project, service, key, Outcome::Kept { became });
    }

    /// `key` of `service` needs nothing on the target, because `why`.
    pub fn not_needed(
        &mut self,
        project: &Project,
        service: &str,
        key: KeyPath,
        why: impl Into<String>,
    ) {
        let why = why.into();
        self.push(project, service, key, Outcome::NotNeeded { why });
    }

    /// `key` of `service` cannot be expressed: `detail` says what is lost
    /// and what runs instead.
    pub fn lost(
        &mut self,
        project: &Project,
        service: &str,
        key: KeyPath,
        kind: &'static LossKind,
        detail: impl Into<String>,
    ) {
        let outcome = Outcome::Lost {
            loss: kind.id,
            title: kind.title,
            detail: detail.into(),
            status: LossStatus::Open,
        };
        self.push(project, service, key, outcome);
    }

    /// Adds a note for the reader.
    pub fn note(&mut self, note: impl Into<String>) {
        self.notes.push(note.into());
    }

    /// Marks the keys no converter reported as lost (`export:unhandled`),
    /// then judges every loss against `x-stackctl.accept` with the
    /// compensating controls checked on `subjects` (one per service, e.g.
    /// [`crate::audit::subject::from_compose`] plus what the target read
    /// from the images). An acceptance that is malformed is an error.
    pub fn finish(&mut self, project: &Project, subjects: &[Subject]) -> anyhow::Result<()> {
        for (name, service) in &project.model.services {
            for key in written_keys(service) {
                let covered = self.entries.iter().any(|e| {
                    e.service == *name && e.relative.0.first() == Some(&Segment::Key(key.clone()))
                });
                if !covered {
                    self.lost(
                        project,
                        name,
                        KeyPath::root().key(key.clone()),
                        &UNHANDLED,
                        format!("the {} export does not carry `{key}`; the service would run without it", self.target),
                    );
                }
            }
        }
        for entry in &mut self.entries {
            let Outcome::Lost { loss, status, .. } = &mut entry.outcome else {
                continue;
            };
            let Some(subject) = subjects.iter().find(|s| s.service == entry.service) else {
                continue;
            };
            *status = match accept::judge(project, subject, loss)? {
                Judged::NotAccepted => LossStatus::Open,
                Judged::Accepted { accepted, at } => LossStatus::Accepted {
                    reason: accepted.reason,
                    at,
                    controls_in_place: accepted.controls_in_place,
                },
                Judged::Void { why } => LossStatus::Void { why },
            };
        }
        self.open_losses = self.entries.iter().filter(|e| e.is_open_loss()).count();
        self.accepted_losses = self
            .entries
            .iter()
            .filter(|e| {
                matches!(
                    e.outcome,
                    Outcome::Lost {
                        status: LossStatus::Accepted { .. },
                        ..
                    }
                )
            })
            .count();
        Ok(())
    }

    /// True when no loss is open: the export may be used.
    pub fn passed(&self) -> bool {
        self.open_losses == 0
    }

    /// The report for people: one line per key, grouped by service, losses
    /// with their reason or what is missing, and a summary line.
    pub fn render_human(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "fidelity of {} on {}:", self.file, self.target);
        let mut last = None;
        for entry in &self.entries {
            if last != Some(&entry.service) {
                let _ = writeln!(out, "{}", entry.service);
                last = Some(&entry.service);
            }
            let at = match entry.line {
                Some(line) => format!("{}:{line}", self.file),
                None => self.file.clone(),
            };
            let key = entry
                .key
                .strip_prefix(&format!("services.{}.", entry.service))
                .unwrap_or(&entry.key);
            match &entry.outcome {
                Outcome::Kept { became } => {
                    let _ = writeln!(out, "  kept      {key} ({at}): {became}");
                }
                Outcome::NotNeeded { why } => {
                    let _ = writeln!(out, "  not used  {key} ({at}): {why}");
                }
                Outcome::Lost {
                    loss,
                    detail,
                    status,
                    ..
                } => {
                    let word = match status {
                        LossStatus::Accepted { .. } => "ACCEPTED",
                        LossStatus::Open | LossStatus::Void { .. } => "LOST",
                    };
                    let _ = writeln!(out, "  {word:<9} {key} ({at}) [{loss}]: {detail}");
                    match status {
                        LossStatus::Open => {
                            let _ = writeln!(
                                out,
                                "            fix: accept it in `x-stackctl.accept` (check: \"{loss}\", a reason, and the controls that make up for it), or change the service"
                            );
                        }
                        LossStatus::Accepted {
                            reason,
                            at,
                            controls_in_place,
                        } => {
                            let _ = writeln!(
                                out,
                                "            accepted in {at}: {}",
                                first_sentence(reason)
                            );
                            let _ = writeln!(
                                out,
                                "            controls in place: {}",
                                controls_in_place.join("; ")
                            );
                        }
                        LossStatus::Void { why } => {
                            let _ = writeln!(out, "            acceptance void: {why}");
                        }
                    }
                }
            }
        }
        for note in &self.notes {
            let _ = writeln!(out, "note: {note}");
        }
        let kept = self
            .entries
            .iter()
            .filter(|e| matches!(e.outcome, Outcome::Kept { .. }))
            .count();
        let _ = writeln!(
            out,
            "summary: {} keys: {kept} kept, {} not needed, {} lost and accepted, {} lost and not accepted",
            self.entries.len(),
            self.entries.len() - kept - self.accepted_losses - self.open_losses,
            self.accepted_losses,
            self.open_losses
        );
        let _ = writeln!(
            out,
            "result: {}",
            if self.passed() {
                "passed (every loss is accepted with its controls in place)"
            } else {
                "FAILED (a loss is not accepted; nothing was written)"
            }
        );
        out
    }
}

/// A reason's first sentence, for the one-line report.
fn first_sentence(text: &str) -> String {
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match text.find(". ") {
        Some(end) => format!("{} ...", &text[..=end]),
        None => text,
    }
}

/// The keys written for a service (as the model holds them after merge
/// keys, with `x-stackctl`'s own keys as `x-stackctl` once).
pub fn written_keys(service: &crate::compose::Service) -> Vec<String> {
    let Ok(Value::Mapping(map)) = serde_yaml_ng::to_value(service) else {
        return Vec::new();
    };
    let mut keys: BTreeSet<String> = BTreeSet::new();
    for key in map.keys() {
        if let Some(key) = key.as_str() {
            keys.insert(key.to_owned());
        }
    }
    keys.retain(|k| k == KEY || !k.starts_with("x-"));
    keys.into_iter().collect()
}

/// How a target names what runs a service and what refuses it, for the
/// refusals both targets share.
pub struct Target {
    /// `Swarm`, `Kubernetes`.
    pub name: &'static str,
    /// What runs a service there: `task`, `pod`.
    pub unit: &'static str,
    /// Who would refuse a network sysctl: `the engine`, `the kubelet`.
    pub enforcer: &'static str,
}

/// A refusal of `key` of `service`, at its line in `compose.yaml` (or the
/// nearest enclosing key's, for a key that has no line of its own).
pub fn refusal(
    project: &Project,
    service: &str,
    key: KeyPath,
    problem: String,
    fix: String,
) -> Diagnostic {
    let mut path = KeyPath::root().key("services").key(service);
    path.0.extend(key.0);
    let mut line = project.line_of(&path);
    let mut parent = path.parent();
    while line.is_none() {
        let Some(p) = parent else { break };
        line = project.line_of(&p);
        parent = p.parent();
    }
    Diagnostic {
        file: project.file.clone(),
        line,
        path,
        problem,
        fix,
    }
}

/// Every export puts every service on the host network: a service that is
/// not there is refused, as `(key, problem, fix)`.
pub fn off_the_host_network(
    service: &Service,
    name: &str,
    target: &Target,
) -> Option<(KeyPath, String, String)> {
    if service.network_mode.as_deref() == Some("host") {
        return None;
    }
    let key = if service.networks.is_some() {
        "networks"
    } else {
        "network_mode"
    };
    Some((
        KeyPath::root().key(key),
        format!(
            "service `{name}` is not on the host network, and the {} export puts every service there",
            target.name
        ),
        "write `network_mode: host` for the service (and remove `networks`)".to_owned(),
    ))
}

/// A `net.*` sysctl cannot be set inside the node's own network namespace:
/// its refusal, as `(problem, fix)`, or `None` for any other sysctl.
pub fn network_sysctl(name: &str, value: &str, target: &Target) -> Option<(String, String)> {
    name.starts_with("net.").then(|| {
        (
            format!(
                "`{name}` is a network sysctl, and a host-network {} shares the node's network namespace, where {} refuses to set it",
                target.unit, target.enforcer
            ),
            format!(
                "remove `{name}`, or set it on each node (`sysctl -w {name}={value}`) if the node should have it"
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(text: &str) -> Project {
        Project::parse_for_audit(text, std::path::Path::new("c.yaml"), &|_| None).unwrap()
    }

    const BASE: &str = "services:\n  a:\n    image: x\n    user: \"10001:10001\"\n    cap_drop: [ALL]\n    security_opt: [\"no-new-privileges:true\"]\n    read_only: true\n";

    fn subjects(p: &Project) -> Vec<Subject> {
        p.model
            .services
            .iter()
            .map(|(n, s)| crate::audit::subject::from_compose(p, n, s))
            .collect()
    }

    #[test]
    fn a_key_no_converter_mentions_is_lost_not_dropped() {
        let p = project(BASE);
        let mut report = Report::new("test", &p);
        report.kept(&p, "a", KeyPath::root().key("image"), "x");
        report.finish(&p, &subjects(&p)).unwrap();
        let unhandled: Vec<&str> = report
            .entries
            .iter()
            .filter(|e| {
                matches!(
                    e.outcome,
                    Outcome::Lost {
                        loss: "export:unhandled",
                        ..
                    }
                )
            })
            .map(|e| e.key.as_str())
            .collect();
        assert_eq!(
            unhandled,
            [
                "services.a.cap_drop",
                "services.a.read_only",
                "services.a.security_opt",
                "services.a.user"
            ]
        );
        assert!(!report.passed());
        assert_eq!(report.open_losses, 4);
    }

    #[test]
    fn a_loss_is_open_until_accepted_with_its_controls_in_place() {
        let p = project(BASE);
        let mut report = Report::new("swarm", &p);
        for key in ["image", "user", "cap_drop", "read_only"] {
            report.kept(&p, "a", KeyPath::root().key(key), "same");
        }
        report.lost(
            &p,
            "a",
            KeyPath::root().key("security_opt").index(0),
            &super::super::swarm::NO_NEW_PRIVILEGES,
            "dropped",
        );
        report.finish(&p, &subjects(&p)).unwrap();
        assert!(!report.passed());
        let line = report.entries.last().unwrap().line;
        assert_eq!(line, Some(6), "the loss points at the line of security_opt");
        let human = report.render_human();
        assert!(
            human.contains("LOST      security_opt[0] (c.yaml:6) [swarm:no-new-privileges]"),
            "{human}"
        );
        assert!(
            human.contains("check: \"swarm:no-new-privileges\""),
            "{human}"
        );

        let accepted = format!(
            "{BASE}    x-stackctl:\n      accept:\n        - check: \"swarm:no-new-privileges\"\n          reason: Swarm cannot set it. The rest holds.\n          controls: [cap-drop-all, non-root-user]\n"
        );
        let p = project(&accepted);
        let mut report = Report::new("swarm", &p);
        for key in ["image", "user", "cap_drop", "read_only", "x-stackctl"] {
            report.kept(&p, "a", KeyPath::root().key(key), "same");
        }
        report.lost(
            &p,
            "a",
            KeyPath::root().key("security_opt").index(0),
            &super::super::swarm::NO_NEW_PRIVILEGES,
            "dropped",
        );
        report.finish(&p, &subjects(&p)).unwrap();
        assert!(report.passed(), "{}", report.render_human());
        assert_eq!(report.accepted_losses, 1);
        let human = report.render_human();
        assert!(human.contains("ACCEPTED  security_opt[0]"), "{human}");
        assert!(human.contains("no capabilities (cap_drop ALL)"), "{human}");
        let json = serde_json::to_value(&report).unwrap();
        let loss = &json["entries"][5];
        assert_eq!(loss["outcome"], "lost");
        assert_eq!(loss["status"], "accepted");
        assert_eq!(loss["loss"], "swarm:no-new-privileges");
    }

    #[test]
    fn an_acceptance_whose_control_is_missing_is_void() {
        let text = "services:\n  a:\n    image: x\n    user: \"10001:10001\"\n    x-stackctl:\n      accept:\n        - check: \"swarm:no-new-privileges\"\n          reason: r\n          controls: [cap-drop-all, no-setuid-files]\n";
        let p = project(text);
        let mut report = Report::new("swarm", &p);
        for key in ["image", "user", "x-stackctl"] {
            report.kept(&p, "a", KeyPath::root().key(key), "same");
        }
        report.lost(
            &p,
            "a",
            KeyPath::root().key("user"),
            &super::super::swarm::NO_NEW_PRIVILEGES,
            "x",
        );
        report.finish(&p, &subjects(&p)).unwrap();
        assert!(!report.passed());
        let Outcome::Lost {
            status: LossStatus::Void { why },
            ..
        } = &report.entries.last().unwrap().outcome
        else {
            panic!("not void: {:?}", report.entries)
        };
        assert!(why.contains("cap-drop-all"), "{why}");
        assert!(why.contains("no-setuid-files"), "{why}");
        assert!(
            why.contains("cannot read"),
            "an unread image is not taken as clean: {why}"
        );
    }

    #[test]
    fn an_unknown_loss_id_in_an_acceptance_is_an_error_with_its_line() {
        let text = "services:\n  a:\n    image: x\n    x-stackctl:\n      accept:\n        - check: \"swarm:no-such-thing\"\n          reason: r\n          controls: [cap-drop-all]\n";
        let p = project(text);
        let mut report = Report::new("swarm", &p);
        report.lost(
            &p,
            "a",
            KeyPath::root().key("image"),
            &super::super::swarm::NO_NEW_PRIVILEGES,
            "x",
        );
        let err = report.finish(&p, &subjects(&p)).unwrap_err().to_string();
        assert!(err.contains("c.yaml:6"), "{err}");
        assert!(err.contains("not a loss any export reports"), "{err}");
    }
}
