//! Reading `compose.yaml`: YAML to the typed model, then validation, with
//! every problem tied to its file and line. A loaded [`Project`] is the input
//! of every other stackctl command.

pub mod diagnostic;
pub mod extension;
pub mod interpolate;
pub mod model;
pub mod positions;
pub mod units;
mod validate;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde_yaml_ng::Value;

pub use diagnostic::{Diagnostic, Diagnostics, Problem};
pub use extension::{ProjectExtension, SecretExtension, ServiceExtension};
pub use interpolate::{Resolved, Source};
pub use model::{ComposeFile, Condition, Service};
use positions::{KeyPath, Positions};

/// The file stackctl reads when none is named.
pub const DEFAULT_FILE: &str = "compose.yaml";

/// A validated Compose file and what is derived from it.
#[derive(Debug)]
pub struct Project {
    /// The file as the user named it, for messages.
    pub file: PathBuf,
    /// The directory relative paths in the file are resolved against.
    pub dir: PathBuf,
    /// The project name: `name:` in the file, else `x-stackctl.project-name`,
    /// else the directory's name; `--project-name` overrides all three.
    pub name: String,
    pub model: ComposeFile,
    /// Each service's `x-stackctl` (default when it has none).
    pub extensions: BTreeMap<String, ServiceExtension>,
    /// Each top-level secret's `x-stackctl`.
    pub secret_extensions: BTreeMap<String, SecretExtension>,
    /// The file's top-level `x-stackctl`.
    pub extension: ProjectExtension,
    /// What `up` would refuse but the audit reads (keys stackctl does not
    /// apply, `ports` on the host network); empty unless the file was loaded
    /// with [`Project::load_for_audit`], since other loads fail on them.
    pub tolerated: Vec<Diagnostic>,
    /// What is not wrong enough to refuse the file (unset variables).
    pub warnings: Vec<String>,
    /// Every variable the file used, with the value it stood for and where
    /// that came from: the one record of interpolation. Values may be
    /// secrets: never print them.
    pub variables: std::collections::BTreeSet<Resolved>,
    positions: Positions,
}

/// Why a file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    // `reason`, not `source`: the cause is in the message already, once.
    #[error("cannot read {}: {reason}\n  fix: check the path given with `-f`, or run stackctl where compose.yaml is", file.display())]
    Read {
        file: PathBuf,
        reason: std::io::Error,
    },
    #[error("{0}")]
    Invalid(Diagnostics),
}

impl Project {
    /// Reads and validates a Compose file, with variables from the environment.
    pub fn load(file: &Path) -> Result<Project, LoadError> {
        Project::load_with(file, &|name| std::env::var(name).ok())
    }

    /// Reads and validates a Compose file, with variables from `lookup`.
    pub fn load_with(
        file: &Path,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Project, LoadError> {
        let text = std::fs::read_to_string(file).map_err(|reason| LoadError::Read {
            file: file.to_owned(),
            reason,
        })?;
        Project::parse_with(&text, file, lookup).map_err(LoadError::Invalid)
    }

    /// Parses and validates Compose text, with variables from the environment;
    /// `file` names it in messages and anchors its relative paths.
    pub fn parse(text: &str, file: &Path) -> Result<Project, Diagnostics> {
        Project::parse_with(text, file, &|name| std::env::var(name).ok())
    }

    /// Parses and validates Compose text, with variables from `lookup`.
    pub fn parse_with(
        text: &str,
        file: &Path,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Project, Diagnostics> {
        Project::parse_checked(text, file, lookup, Purpose::Run)
    }

    /// Reads a Compose file for `stackctl audit`: as [`Project::load`], but
    /// what only `up` cannot do (keys it does not apply, `ports` on the host
    /// network) is kept in [`Project::tolerated`] instead of refusing the
    /// file, so that any Compose file can be audited.
    pub fn load_for_audit(file: &Path) -> Result<Project, LoadError> {
        let text = std::fs::read_to_string(file).map_err(|reason| LoadError::Read {
            file: file.to_owned(),
            reason,
        })?;
        Project::parse_for_audit(&text, file, &|name| std::env::var(name).ok())
            .map_err(LoadError::Invalid)
    }

    /// Parses Compose text for `stackctl audit` (see [`Project::load_for_audit`]).
    pub fn parse_for_audit(
        text: &str,
        file: &Path,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Project, Diagnostics> {
        Project::parse_checked(text, file, lookup, Purpose::Audit)
    }

    fn parse_checked(
        text: &str,
        file: &Path,
        lookup: &dyn Fn(&str) -> Option<String>,
        purpose: Purpose,
    ) -> Result<Project, Diagnostics> {
        let positions = Positions::index(text);
        let diagnostic =
            |path: KeyPath, line: Option<usize>, problem: String, fix: String| Diagnostic {
                file: file.to_owned(),
                line: line.or_else(|| positions.line_of(&path)),
                path,
                problem,
                fix,
            };
        let fail = |d: Diagnostic| Diagnostics(vec![d]);

        let mut value: Value = serde_yaml_ng::from_str(text).map_err(|err| {
            fail(diagnostic(
                KeyPath::root(),
                err.location().map(|l| l.line()),
                format!("this is not valid YAML: {err}"),
                "fix the syntax at that line (indentation, quotes, a missing `:`)".to_owned(),
            ))
        })?;
        if !matches!(value, Value::Mapping(_)) {
            return Err(fail(diagnostic(
                KeyPath::root(),
                Some(1),
                "the file is not a mapping of Compose keys".to_owned(),
                "start from a `services:` mapping".to_owned(),
            )));
        }
        let mut variables = std::collections::BTreeSet::new();
        interpolate::interpolate(&mut value, lookup, &mut variables).map_err(
            |(path, Problem { problem, fix })| fail(diagnostic(path, None, problem, fix)),
        )?;
        value.apply_merge().map_err(|err| {
            fail(diagnostic(
                KeyPath::root(),
                None,
                format!("a merge key (`<<`) cannot be applied: {err}"),
                "merge only mappings, e.g. `<<: *defaults`".to_owned(),
            ))
        })?;
        let model: ComposeFile = serde_path_to_error::deserialize(value).map_err(|err| {
            let path = path_from_serde(&KeyPath::root(), err.path());
            let (problem, fix) = split_message(&err.inner().to_string());
            fail(diagnostic(path, None, problem, fix))
        })?;

        let mut validated = validate::validate(&model);
        let mut tolerated: Vec<Diagnostic> = validated
            .tolerated
            .drain(..)
            .map(|f| diagnostic(f.path, None, f.problem, f.fix))
            .collect();
        tolerated.sort_by_key(|d| d.line);
        if purpose == Purpose::Run {
            let mut all: Vec<Diagnostic> = validated
                .findings
                .drain(..)
                .map(|f| diagnostic(f.path, None, f.problem, f.fix))
                .collect();
            all.append(&mut tolerated);
            if !all.is_empty() {
                all.sort_by_key(|d| d.line);
                return Err(Diagnostics(all));
            }
        } else if !validated.findings.is_empty() {
            let mut all: Vec<Diagnostic> = validated
                .findings
                .drain(..)
                .map(|f| diagnostic(f.path, None, f.problem, f.fix))
                .collect();
            all.sort_by_key(|d| d.line);
            return Err(Diagnostics(all));
        }

        // A name the file gives must be valid as written; only the
        // directory's name is made valid (as Compose does).
        for (given, path) in [
            (&model.name, KeyPath::root().key("name")),
            (
                &validated.project.project_name,
                KeyPath::root().key("x-stackctl").key("project-name"),
            ),
        ] {
            if let Some(given) = given
                && let Err(Problem { problem, fix }) = check_project_name(given)
            {
                return Err(fail(diagnostic(path, None, problem, fix)));
            }
        }
        let dir = absolute_dir(file);
        let name = model
            .name
            .clone()
            .or(validated.project.project_name.clone())
            .unwrap_or_else(|| {
                dir.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            });
        Ok(Project {
            file: file.to_owned(),
            dir,
            name: normalize_project_name(&name),
            model,
            extensions: validated.services,
            secret_extensions: validated.secrets,
            extension: validated.project,
            tolerated,
            warnings: variables
                .iter()
                .filter(|v| v.source == interpolate::Source::Unset)
                .map(|v| {
                    format!(
                        "variable {} is not set; {} uses an empty string for it",
                        v.name,
                        file.display()
                    )
                })
                .collect(),
            variables,
            positions,
        })
    }

    /// The `..._PORT` variable that stood for `port` in this file (from the
    /// environment or its default), e.g. `SHOP_API_PORT` for 3000: what a
    /// user sets to move a service to another port.
    pub fn port_variable(&self, port: u16) -> Option<&str> {
        let port = port.to_string();
        self.variables
            .iter()
            .find(|v| v.name.ends_with("_PORT") && v.value == port)
            .map(|v| v.name.as_str())
    }

    /// Runs the project under another name, so a second copy (a test stack)
    /// can live beside the first.
    pub fn rename(&mut self, name: &str) {
        self.name = normalize_project_name(name);
    }

    /// The line where `path` (e.g. `services.api.build`) is written.
    pub fn line_of(&self, path: &KeyPath) -> Option<usize> {
        self.positions.line_of(path)
    }

    /// `file:line` of a service key, for messages that point into the file.
    pub fn locate(&self, service: &str, key: &str) -> String {
        let path = KeyPath::root().key("services").key(service).key(key);
        match self.line_of(&path) {
            Some(line) => format!("{}:{line}", self.file.display()),
            None => self.file.display().to_string(),
        }
    }

    /// The service named `name`, or an error listing the ones there are.
    pub fn service(&self, name: &str) -> anyhow::Result<&Service> {
        self.model.services.get(name).with_context(|| {
            format!(
                "{} has no service `{name}`; its services are: {}",
                self.file.display(),
                self.model
                    .services
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })
    }

    /// Resolves a path written in the file against the file's directory.
    pub fn resolve(&self, path: &str) -> PathBuf {
        self.dir.join(path.strip_prefix("./").unwrap_or(path))
    }

    /// The normalized model as YAML.
    pub fn to_yaml(&self) -> String {
        serde_yaml_ng::to_string(&self.model).unwrap_or_default()
    }
}

/// What a file is loaded for: running it refuses what `up` cannot apply;
/// auditing it only refuses what is not a valid Compose file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    Run,
    Audit,
}

/// The file's directory as an absolute path (the current directory for a bare name).
fn absolute_dir(file: &Path) -> PathBuf {
    let dir = file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::path::absolute(dir).unwrap_or_else(|_| dir.to_owned())
}

/// Checks a project name given by the user or the file against Compose's
/// rule: lower case letters, digits, `_` and `-`, starting with a letter or
/// digit. The error says what is allowed (it is not lowercased silently: a
/// different name would be a different project).
pub fn check_project_name(name: &str) -> Result<(), Problem> {
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-');
    let starts_well = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if starts_well && name.chars().all(allowed) {
        return Ok(());
    }
    let suggestion = normalize_project_name(name.trim_start_matches(['-', '_']));
    Err(Problem::new(
        format!(
            "project name `{name}` is not valid: it must consist of lower case letters, digits, `_` and `-`, \
             and start with a letter or digit"
        ),
        format!("use e.g. `{suggestion}`"),
    ))
}

/// Compose's rule for a directory's name: lower case letters, digits, `-` and `_`.
fn normalize_project_name(name: &str) -> String {
    let normalized: String = name
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
        .collect();
    if normalized.is_empty() {
        "default".to_owned()
    } else {
        normalized
    }
}

/// Converts serde's error path into a key path below `base`.
pub(crate) fn path_from_serde(base: &KeyPath, path: &serde_path_to_error::Path) -> KeyPath {
    let mut out = base.clone();
    for segment in path.iter() {
        out = match segment {
            serde_path_to_error::Segment::Map { key } => out.key(key.clone()),
            serde_path_to_error::Segment::Seq { index } => out.index(*index),
            _ => out,
        };
    }
    out
}

/// Splits a value error written as "problem; what to do" into its two parts.
/// serde's own messages have no advice; they get a generic one.
pub(crate) fn split_message(message: &str) -> (String, String) {
    // serde_yaml adds " at line N column M" to some messages; the line is shown anyway.
    let message = match message.find(" at line ") {
        Some(at) => &message[..at],
        None => message,
    };
    if let Some((found, expected)) = message
        .strip_prefix("invalid type: ")
        .and_then(|rest| rest.split_once(", expected "))
    {
        let expected = plain_type(expected);
        return (
            format!("expected {expected}, found {found}"),
            format!("write {expected} here"),
        );
    }
    if let Some(rest) = message.strip_prefix("unknown field ") {
        let (field, expected) = rest
            .split_once(", expected ")
            .unwrap_or((rest, "no other key"));
        return (format!("unknown key {field}"), format!("use {expected}"));
    }
    if let Some(field) = message.strip_prefix("missing field ") {
        return (format!("{field} is missing"), format!("add {field}"));
    }
    match message.split_once("; ") {
        Some((problem, fix)) => (problem.to_owned(), fix.to_owned()),
        None => (message.to_owned(), "correct the value".to_owned()),
    }
}

/// serde names Rust types in its messages; say what to write instead.
fn plain_type(expected: &str) -> &str {
    match expected {
        "i64" | "i32" | "u64" | "u32" | "u16" | "u8" => "a whole number",
        "f64" | "f32" => "a number",
        "a boolean" | "bool" => "`true` or `false`",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_names_follow_compose_rules() {
        assert_eq!(normalize_project_name("ShopDotCom"), "shopdotcom");
        assert_eq!(normalize_project_name("my stack!"), "mystack");
        assert_eq!(normalize_project_name("..."), "default");
    }

    #[test]
    fn a_project_name_must_be_lower_case_letters_digits_dash_and_underscore() {
        for good in ["shopdotcom", "newuser2", "my_stack-1", "1st"] {
            assert_eq!(check_project_name(good), Ok(()), "{good}");
        }
        for bad in [
            "Bad_Name",
            "",
            "-leading",
            "_leading",
            "has space",
            "dot.ted",
        ] {
            let err = check_project_name(bad).unwrap_err();
            assert!(
                err.problem
                    .contains("lower case letters, digits, `_` and `-`"),
                "{bad}: {err}"
            );
        }
        assert!(
            check_project_name("Bad_Name")
                .unwrap_err()
                .fix
                .contains("e.g. `bad_name`")
        );
    }

    #[test]
    fn a_file_naming_an_invalid_project_is_refused() {
        let err = Project::parse(
            "name: Bad_Name\nservices:\n  app:\n    image: busybox:1\n",
            Path::new("compose.yaml"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("project name `Bad_Name` is not valid"),
            "{err}"
        );
    }

    #[test]
    fn messages_split_into_problem_and_fix() {
        let (problem, fix) = split_message("`x` is not a size; write `512m`");
        assert_eq!(
            (problem.as_str(), fix.as_str()),
            ("`x` is not a size", "write `512m`")
        );
        let (problem, fix) =
            split_message("invalid type: string \"a\", expected i64 at line 3 column 4");
        assert_eq!(problem, "expected a whole number, found string \"a\"");
        assert_eq!(fix, "write a whole number here");
    }
}
