//! The Compose model from the outside: every validation error is reported
//! for a real bad file with its file, line, service, key and a fix, and a
//! good file survives a round trip through `stackctl config`.

use std::path::{Path, PathBuf};
use std::process::Command;

use stackctl::compose::{Diagnostic, LoadError, Project};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn repo_compose_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../compose.yaml")
}

/// Loads a bad fixture and returns its single diagnostic.
fn only_problem(name: &str) -> Diagnostic {
    let problems = all_problems(name);
    assert_eq!(
        problems.len(),
        1,
        "expected one problem in {name}, got: {problems:#?}"
    );
    problems.into_iter().next().unwrap()
}

fn all_problems(name: &str) -> Vec<Diagnostic> {
    match Project::load(&fixture(name)) {
        Ok(_) => panic!("{name} was accepted"),
        Err(LoadError::Invalid(diagnostics)) => diagnostics.0,
        Err(other) => panic!("{name}: {other}"),
    }
}

/// Asserts where a problem is and that its text says `problem` and `fix`.
fn assert_problem(
    d: &Diagnostic,
    line: usize,
    service: Option<&str>,
    key: &str,
    problem: &str,
    fix: &str,
) {
    assert_eq!(
        d.file.extension().and_then(|e| e.to_str()),
        Some("yaml"),
        "{d}"
    );
    assert_eq!(d.line, Some(line), "line of: {d}");
    assert_eq!(d.service(), service, "service of: {d}");
    assert_eq!(d.path.to_string(), key, "key of: {d}");
    assert!(
        d.problem.contains(problem),
        "problem of {d}\nshould contain: {problem}"
    );
    assert!(d.fix.contains(fix), "fix of {d}\nshould contain: {fix}");
}

#[test]
fn an_unknown_key_is_reported_with_a_suggestion() {
    let d = only_problem("invalid/unknown-key.yaml");
    assert_problem(
        &d,
        5,
        Some("api"),
        "services.api.prots",
        "unknown key `prots`",
        "did you mean `ports`?",
    );
}

#[test]
fn an_unknown_key_inside_a_nested_mapping_is_reported() {
    let d = only_problem("invalid/unknown-nested-key.yaml");
    assert_problem(
        &d,
        6,
        Some("api"),
        "services.api.healthcheck.intervall",
        "unknown key `intervall`",
        "did you mean `interval`?",
    );
}

#[test]
fn a_compose_key_stackctl_does_not_implement_is_named_as_such() {
    let d = only_problem("invalid/unsupported-key.yaml");
    assert_problem(
        &d,
        4,
        Some("api"),
        "services.api.hostname",
        "a Compose key that stackctl does not support",
        "rename it to `x-",
    );
}

#[test]
fn a_wrong_type_is_reported_with_the_expected_type() {
    let d = only_problem("invalid/wrong-type.yaml");
    assert_problem(
        &d,
        5,
        Some("api"),
        "services.api.pids_limit",
        "expected a whole number, found string \"many\"",
        "write a whole number",
    );
}

#[test]
fn ports_under_host_networking_are_refused_with_the_explanation() {
    let d = only_problem("invalid/ports-with-host-network.yaml");
    assert_problem(
        &d,
        5,
        Some("api"),
        "services.api.ports",
        "the engine discards published ports",
        "binds its port on the host itself",
    );
}

#[test]
fn network_mode_together_with_networks_is_refused() {
    let d = only_problem("invalid/network-mode-with-networks.yaml");
    assert_problem(
        &d,
        5,
        Some("api"),
        "services.api.networks",
        "mutually exclusive",
        "remove `networks`",
    );
}

#[test]
fn a_dependency_on_an_unknown_service_is_reported() {
    let d = only_problem("invalid/unknown-dependency.yaml");
    assert_problem(
        &d,
        5,
        Some("api"),
        "services.api.depends_on.dbb",
        "depends on `dbb`, which is not a service",
        "did you mean `db`?",
    );
}

#[test]
fn a_dependency_cycle_is_reported_once_with_the_whole_circle() {
    let d = only_problem("invalid/cyclic-dependency.yaml");
    assert_problem(
        &d,
        11,
        Some("cache"),
        "services.cache.depends_on.api",
        "dependency cycle: api -> db -> cache -> api",
        "remove one of these",
    );
}

#[test]
fn a_bad_duration_is_reported_with_an_example() {
    let d = only_problem("invalid/bad-duration.yaml");
    assert_problem(
        &d,
        6,
        Some("db"),
        "services.db.healthcheck.interval",
        "`5 parsecs` is not a duration",
        "e.g. `10s`",
    );
}

#[test]
fn a_bad_size_is_reported_with_an_example() {
    let d = only_problem("invalid/bad-size.yaml");
    assert_problem(
        &d,
        4,
        Some("db"),
        "services.db.mem_limit",
        "`lots` is not a size",
        "e.g. `512m`",
    );
}

#[test]
fn a_bad_log_size_is_reported() {
    let d = only_problem("invalid/bad-log-size.yaml");
    assert_problem(
        &d,
        7,
        Some("db"),
        "services.db.logging.options.max-size",
        "`ten megs` is not a size",
        "such as `10m`",
    );
}

#[test]
fn an_unknown_dependency_condition_is_reported() {
    let d = only_problem("invalid/bad-condition.yaml");
    assert_problem(
        &d,
        6,
        Some("api"),
        "services.api.depends_on.db.condition",
        "`service_ready` is not a dependency condition",
        "service_healthy",
    );
}

#[test]
fn a_bad_egress_rule_is_reported_inside_the_extension() {
    let d = only_problem("invalid/bad-stackctl-extension.yaml");
    assert_problem(
        &d,
        6,
        Some("api"),
        "services.api.x-stackctl.egress[0]",
        "`db:3306` is not an egress rule",
        "write HOST:PORT",
    );
}

#[test]
fn broken_yaml_is_reported_at_its_line() {
    let d = only_problem("invalid/not-yaml.yaml");
    assert_eq!(d.service(), None);
    assert!(d.problem.contains("not valid YAML"), "{d}");
    assert!(d.line.is_some_and(|l| (3..=5).contains(&l)), "{d}");
}

#[test]
fn the_cli_prints_every_problem_and_fails() {
    let output = Command::new(env!("CARGO_BIN_EXE_stackctl"))
        .arg("-f")
        .arg(fixture("invalid/ports-with-host-network.yaml"))
        .arg("config")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("ports-with-host-network.yaml:5: service `api`, key `ports`: `ports` has no effect with `network_mode: host`"),
        "{stderr}"
    );
    assert!(stderr.contains("fix: remove `ports`"), "{stderr}");
    assert!(output.stdout.is_empty(), "nothing is printed as a result");
}

/// Runs `stackctl config` on a file and loads its output again.
fn round_trip(file: &Path, format: &str) -> (Project, Project) {
    let original = Project::load(file).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_stackctl"))
        .arg("-f")
        .arg(file)
        .args(["config", "--format", format])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).unwrap();
    let reloaded = Project::parse(&text, file).unwrap_or_else(|e| panic!("{e}\n{text}"));
    (original, reloaded)
}

#[test]
fn every_short_form_round_trips_through_config() {
    let (original, reloaded) = round_trip(&fixture("valid/every-form.yaml"), "yaml");
    assert_eq!(original.model, reloaded.model);
    let web = &original.model.services["web"];
    assert_eq!(
        web.command.as_ref().unwrap().0,
        ["serve", "--port", "8080", "with spaces"]
    );
    assert_eq!(web.ports.len(), 3);
    assert_eq!(web.ports[0].host_ip.as_deref(), Some("127.0.0.1"));
    assert_eq!(
        web.healthcheck.as_ref().unwrap().test.as_ref().unwrap()[0],
        "CMD-SHELL"
    );
    assert_eq!(
        web.depends_on.0["db"].condition,
        stackctl::compose::Condition::Started
    );
    assert_eq!(
        web.restart.unwrap().to_string(),
        "on-failure:3",
        "merged from the anchor"
    );
    assert_eq!(web.ulimits["nofile"].hard, 1024);
}

#[test]
fn the_stack_compose_file_round_trips_through_config_as_yaml_and_json() {
    for format in ["yaml", "json"] {
        let (original, reloaded) = round_trip(&repo_compose_file(), format);
        assert_eq!(original.model, reloaded.model, "{format}");
        assert_eq!(reloaded.name, "shopdotcom");
    }
}

#[test]
fn every_stack_service_runs_on_the_host_network_with_the_hardening_defaults() {
    let project = Project::load(&repo_compose_file()).unwrap();
    let mut uids = Vec::new();
    for (name, s) in &project.model.services {
        assert_eq!(s.network_mode.as_deref(), Some("host"), "{name}");
        assert_eq!(s.cap_drop, ["ALL"], "{name}");
        assert!(s.cap_add.is_empty(), "{name}");
        assert!(
            s.security_opt.iter().any(|o| o == "no-new-privileges:true"),
            "{name}"
        );
        assert!(s.read_only, "{name}");
        assert!(
            s.pids_limit.is_some() && s.mem_limit.is_some() && s.cpus.is_some(),
            "{name}"
        );
        assert!(s.healthcheck.is_some(), "{name}");
        assert!(
            matches!(
                s.restart,
                Some(stackctl::compose::model::Restart::OnFailure {
                    max_retries: Some(_)
                })
            ),
            "{name}"
        );
        let logging = s.logging.as_ref().unwrap();
        assert!(
            logging.options.contains_key("max-size") && logging.options.contains_key("max-file"),
            "{name}"
        );
        let uid = s
            .user
            .as_deref()
            .unwrap()
            .split(':')
            .next()
            .unwrap()
            .parse::<u32>()
            .unwrap();
        assert_ne!(uid, 0, "{name} runs as root");
        uids.push(uid);
        assert!(
            project.extensions[name].egress.is_some(),
            "{name} has no egress allowlist"
        );
    }
    let distinct: std::collections::BTreeSet<_> = uids.iter().collect();
    assert_eq!(
        distinct.len(),
        uids.len(),
        "each service needs its own uid: the firewall keys on it"
    );
}

#[test]
fn shell_less_images_declare_the_same_user_as_compose() {
    let project = Project::load(&repo_compose_file()).unwrap();
    for (name, service) in &project.model.services {
        if project.extensions[name].binary.is_none() {
            continue;
        }
        let build = service.build.as_ref().unwrap();
        let dockerfile =
            std::fs::read_to_string(project.resolve(&build.context).join("Dockerfile")).unwrap();
        let user = dockerfile
            .lines()
            .find_map(|l| l.strip_prefix("USER "))
            .map(str::trim);
        assert_eq!(
            user,
            service.user.as_deref(),
            "{name}: the image's USER and compose's `user` differ"
        );
    }
}
