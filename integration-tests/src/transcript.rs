//! Checked transcripts: every ```` ```console ```` block of a page (a lab
//! lesson, the README) is a list of commands a reader types, each after
//! `$ `, and what they see. The tests run each command against a private
//! copy of the stack and compare what it prints with what the page shows,
//! so a page whose output drifts fails CI instead of going stale.
//!
//! A page shows what a reader of the *default* stack sees (project
//! `shopdotcom`, port 3000, ...). A test's copy has a project name and ports
//! of its own, so [`Names`] maps the page's names to the run's in the
//! command, and the run's back to the page's in the output.
//!
//! What differs from run to run (times, ids, addresses, measured figures) is
//! written on the page as a placeholder that matches it:
//!
//! | placeholder | matches |
//! | --- | --- |
//! | `[..]` | any text within the line (also none) |
//! | `[N]` | a number: `42`, `-3`, `1.5`, `18,248` |
//! | `[TIME]` | a duration: `3.3s`, `120ms`, `80 µs`, `1m30s` |
//! | `[ID]` | a hexadecimal id or digest of 12 characters or more |
//! | `[IP]` | an IPv4 or IPv6 address |
//! | `[FINGERPRINT]` | a SHA-256 fingerprint, `AB:CD:...` (32 bytes) |
//!
//! and a line that is only `...` matches any number of lines (also none).
//! Lines are compared with trailing spaces removed. Blocks of any other
//! language (`sh`, `text`, `yaml`) are not run: a page uses them for what
//! is not a transcript (a file, a command to copy).

use std::path::{Path, PathBuf};

/// One ```` ```console ```` block of a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    pub file: PathBuf,
    /// The 1-based line of the opening fence.
    pub line: usize,
    pub steps: Vec<Step>,
}

/// One command of a block and the output the page shows for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The 1-based line of the `$ ` line.
    pub line: usize,
    /// The command, as the reader types it (without `$ `).
    pub command: String,
    pub expected: Vec<String>,
}

/// The console blocks of a Markdown page.
pub fn blocks(markdown: &str, file: &Path) -> Result<Vec<Block>, String> {
    let mut found = Vec::new();
    let mut current: Option<Block> = None;
    for (index, line) in markdown.lines().enumerate() {
        let number = index + 1;
        let fence = line.trim_start();
        match &mut current {
            None if fence.starts_with("```") => {
                if fence.trim_start_matches('`').trim() == "console" {
                    current = Some(Block {
                        file: file.to_owned(),
                        line: number,
                        steps: Vec::new(),
                    });
                } else {
                    // Skip a block of another language whole.
                    current = Some(Block {
                        file: PathBuf::new(),
                        line: 0,
                        steps: Vec::new(),
                    });
                }
            }
            None => {}
            Some(block) if fence.starts_with("```") => {
                if block.line > 0 {
                    if block.steps.is_empty() {
                        return Err(format!(
                            "{}:{}: a console block with no `$ ` command",
                            file.display(),
                            block.line
                        ));
                    }
                    found.push(block.clone());
                }
                current = None;
            }
            Some(block) if block.line == 0 => {}
            Some(block) => {
                if let Some(command) = line.strip_prefix("$ ") {
                    block.steps.push(Step {
                        line: number,
                        command: command.to_owned(),
                        expected: Vec::new(),
                    });
                } else if let Some(step) = block.steps.last_mut() {
                    step.expected.push(line.trim_end().to_owned());
                } else {
                    return Err(format!(
                        "{}:{number}: output before the first `$ ` command of the block",
                        file.display()
                    ));
                }
            }
        }
    }
    if let Some(block) = current.filter(|b| b.line > 0) {
        return Err(format!(
            "{}:{}: the console block is not closed",
            file.display(),
            block.line
        ));
    }
    Ok(found)
}

/// The names a page uses and the ones a run uses instead: project names,
/// ports, paths. Longer names are replaced first, so `3306` is not taken
/// for part of `13306`.
#[derive(Debug, Clone, Default)]
pub struct Names {
    /// `(as the page writes it, as this run has it, is a project name)`.
    pairs: Vec<(String, String, bool)>,
}

impl Names {
    /// Adds a name: `page` is what the page shows, `run` what this run uses.
    pub fn add(self, page: impl Into<String>, run: impl Into<String>) -> Names {
        self.push(page.into(), run.into(), false)
    }

    /// Adds a project name, which prefixes containers (`shopdotcom-db-1`)
    /// but not images (`shopdotcom/db`).
    pub fn add_project(self, page: impl Into<String>, run: impl Into<String>) -> Names {
        self.push(page.into(), run.into(), true)
    }

    fn push(mut self, page: String, run: String, project: bool) -> Names {
        if page != run {
            self.pairs.push((page, run, project));
        }
        self
    }

    /// A command of the page, with this run's names.
    pub fn to_run(&self, command: &str) -> String {
        replace_words(
            command,
            self.pairs
                .iter()
                .map(|(p, r, project)| (p.as_str(), r.as_str(), *project)),
        )
    }

    /// What this run printed, with the page's names.
    pub fn to_page(&self, output: &str) -> String {
        replace_words(
            output,
            self.pairs
                .iter()
                .map(|(p, r, project)| (r.as_str(), p.as_str(), *project)),
        )
    }
}

/// Replaces each `from` with its `to` where it stands as a whole word (not
/// inside a longer run of letters, digits or `_`; a `-` separates, so the
/// project in `shopdotcom-api-1` is one), longest first. A project name
/// followed by `/` is an image's repository (`shopdotcom/api`, the same in
/// every run) and stays as written.
fn replace_words<'a>(text: &str, pairs: impl Iterator<Item = (&'a str, &'a str, bool)>) -> String {
    let mut pairs: Vec<(&str, &str, bool)> =
        pairs.filter(|(from, _, _)| !from.is_empty()).collect();
    pairs.sort_by_key(|(from, _, _)| std::cmp::Reverse(from.len()));
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    'outer: while !rest.is_empty() {
        let before = out.chars().last();
        if before.is_none_or(|c| !word(c)) {
            for (from, to, project) in &pairs {
                if let Some(after) = rest.strip_prefix(from)
                    && after
                        .chars()
                        .next()
                        .is_none_or(|c| !(word(c) || (*project && c == '/')))
                {
                    out.push_str(to);
                    rest = after;
                    continue 'outer;
                }
            }
        }
        let mut chars = rest.chars();
        if let Some(c) = chars.next() {
            out.push(c);
        }
        rest = chars.as_str();
    }
    out
}

/// Whether `actual` (lines of output) is what `expected` shows, with its
/// placeholders; `Err` names the first line that differs.
pub fn compare(expected: &[String], actual: &[String]) -> Result<(), String> {
    let expected: Vec<String> = expected.iter().map(|l| squeeze(l)).collect();
    let actual: Vec<String> = actual.iter().map(|l| squeeze(l)).collect();
    if lines_match(&expected, &actual) {
        return Ok(());
    }
    // Say where: the first expected line (before any `...`) that differs.
    for (i, want) in expected.iter().enumerate() {
        if want == "..." {
            break;
        }
        match actual.get(i) {
            Some(got) if line_matches(want, got) => {}
            Some(got) => {
                return Err(format!(
                    "line {} differs:\n  page: {want}\n  run:  {got}",
                    i + 1
                ));
            }
            None => return Err(format!("the run printed no line {}; page: {want}", i + 1)),
        }
    }
    Err("the lines differ after a `...`, or the run printed more".to_owned())
}

/// A line with trailing spaces removed and every run of spaces made one:
/// a table's columns are as wide as this run's values (a longer project
/// name, a wider number), so its alignment is not part of what is checked.
fn squeeze(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    for c in line.trim_end().chars() {
        if !(c == ' ' && out.ends_with(' ')) {
            out.push(c);
        }
    }
    out
}

/// Whether the page's lines match the run's, `...` matching any number of
/// lines: a table of `(page line, run line)` positions, so a page with
/// many `...` over a long output stays linear in their product.
fn lines_match(expected: &[String], actual: &[String]) -> bool {
    let (rows, cols) = (expected.len(), actual.len());
    // matches[i][j]: expected[i..] matches actual[j..].
    let mut matches = vec![vec![false; cols + 1]; rows + 1];
    matches[rows][cols] = true;
    for i in (0..rows).rev() {
        for j in (0..=cols).rev() {
            matches[i][j] = if expected[i] == "..." {
                matches[i + 1][j] || (j < cols && matches[i][j + 1])
            } else {
                j < cols && matches[i + 1][j + 1] && line_matches(&expected[i], &actual[j])
            };
        }
    }
    matches[0][0]
}

/// What a placeholder matches at the start of a text: every length it can take.
type Matcher = fn(&str) -> Vec<usize>;

/// The placeholders a page may write, with their matchers.
const PLACEHOLDERS: &[(&str, Matcher)] = &[
    ("[..]", any_text),
    ("[N]", number),
    ("[TIME]", duration),
    ("[ID]", hex_id),
    ("[IP]", ip_address),
    ("[FINGERPRINT]", fingerprint),
];

/// Whether one line of output matches one line of the page.
pub fn line_matches(expected: &str, actual: &str) -> bool {
    let expected = expected.trim_end();
    for (name, matcher) in PLACEHOLDERS {
        if let Some(rest) = expected.strip_prefix(name) {
            return matcher(actual)
                .into_iter()
                .any(|len| line_matches(rest, &actual[len..]));
        }
    }
    match expected.chars().next() {
        None => actual.is_empty(),
        Some(c) => actual
            .strip_prefix(c)
            .is_some_and(|rest| line_matches(&expected[c.len_utf8()..], rest)),
    }
}

/// Every length at a char boundary, longest last.
fn any_text(text: &str) -> Vec<usize> {
    (0..=text.len())
        .filter(|&i| text.is_char_boundary(i))
        .collect()
}

/// The lengths of the prefixes of `text` made only of bytes in `allowed`.
fn run_of(text: &str, allowed: impl Fn(u8) -> bool) -> usize {
    text.bytes().take_while(|b| allowed(*b)).count()
}

fn number(text: &str) -> Vec<usize> {
    let sign = usize::from(text.starts_with('-'));
    let digits = run_of(&text[sign..], |b| {
        b.is_ascii_digit() || b == b',' || b == b'.'
    });
    let body = &text[sign..sign + digits];
    // Not a trailing separator: `5.` or `1,` end before it.
    let body = body.trim_end_matches(['.', ',']);
    if body.is_empty() || !body.as_bytes()[0].is_ascii_digit() {
        return Vec::new();
    }
    vec![sign + body.len()]
}

fn duration(text: &str) -> Vec<usize> {
    let mut at = 0;
    let mut ends = Vec::new();
    while let Some(&len) = number(&text[at..]).first() {
        let mut end = at + len;
        let rest = &text[end..];
        let spaced = usize::from(rest.starts_with(' '));
        let unit = ["ms", "µs", "us", "ns", "h", "m", "s"]
            .iter()
            .find(|u| rest[spaced..].starts_with(*u));
        let Some(unit) = unit else { break };
        end += spaced + unit.len();
        ends.push(end);
        at = end;
    }
    ends
}

fn hex_id(text: &str) -> Vec<usize> {
    let prefix = if text.starts_with("sha256:") { 7 } else { 0 };
    let len = run_of(&text[prefix..], |b| b.is_ascii_hexdigit());
    if len >= 12 {
        vec![prefix + len]
    } else {
        Vec::new()
    }
}

fn ip_address(text: &str) -> Vec<usize> {
    let len = run_of(text, |b| b.is_ascii_hexdigit() || b == b'.' || b == b':');
    (1..=len)
        .rev()
        .filter(|&l| text[..l].parse::<std::net::IpAddr>().is_ok())
        .take(1)
        .collect()
}

fn fingerprint(text: &str) -> Vec<usize> {
    let len = run_of(text, |b| b.is_ascii_hexdigit() || b == b':');
    let candidate = &text[..len.min(95)];
    let ok = candidate.len() == 95
        && candidate
            .split(':')
            .all(|pair| pair.len() == 2 && pair.bytes().all(|b| b.is_ascii_hexdigit()));
    if ok { vec![95] } else { Vec::new() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_owned).collect()
    }

    #[test]
    fn console_blocks_are_found_with_their_commands_and_output() {
        let page = "# Lesson\n\n```sh\n$ not run\n```\n\n```console\n$ stackctl ps\nSERVICE STATE\napi running\n$ echo hi\nhi\n```\n";
        let found = blocks(page, Path::new("l.md")).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].line, 7);
        assert_eq!(found[0].steps.len(), 2);
        assert_eq!(found[0].steps[0].command, "stackctl ps");
        assert_eq!(found[0].steps[0].line, 8);
        assert_eq!(found[0].steps[0].expected, ["SERVICE STATE", "api running"]);
        assert_eq!(found[0].steps[1].expected, ["hi"]);
    }

    #[test]
    fn a_block_without_a_command_or_not_closed_is_an_error_with_its_line() {
        let err = blocks("text\n```console\nonly output\n```\n", Path::new("p.md")).unwrap_err();
        assert!(err.starts_with("p.md:3: output before"), "{err}");
        let err = blocks("```console\n$ ls\n", Path::new("p.md")).unwrap_err();
        assert!(
            err.starts_with("p.md:1: the console block is not closed"),
            "{err}"
        );
    }

    #[test]
    fn names_map_whole_words_both_ways() {
        let names = Names::default()
            .add("3000", "41234")
            .add("3306", "13306")
            .add_project("shopdotcom", "stackctl-test-lab-7");
        assert_eq!(
            names.to_run("curl http://localhost:3000/healthz; docker logs shopdotcom-api-1"),
            "curl http://localhost:41234/healthz; docker logs stackctl-test-lab-7-api-1"
        );
        assert_eq!(
            names.to_page("mysql://127.0.0.1:13306 and 130000 and stackctl-test-lab-7-db-1"),
            "mysql://127.0.0.1:3306 and 130000 and shopdotcom-db-1"
        );
    }

    #[test]
    fn placeholders_match_what_varies_and_nothing_else() {
        assert!(line_matches(
            "api  created, healthy ([TIME])",
            "api  created, healthy (3.3s)"
        ));
        assert!(line_matches("took [TIME]", "took 1m30s"));
        assert!(line_matches("p50 [N] µs", "p50 22.4 µs"));
        assert!(line_matches("[N] req/s", "18,248 req/s"));
        assert!(line_matches(
            "image [ID] pinned",
            "image 0976f5454c22 pinned"
        ));
        assert!(line_matches(
            "from [IP]: connected",
            "from 10.213.143.146: connected"
        ));
        assert!(line_matches(
            "sha256 [FINGERPRINT]",
            &format!("sha256 {}", ["AB"; 32].join(":"))
        ));
        assert!(line_matches(
            "error: [..] fix",
            "error: anything at all fix"
        ));
        assert!(!line_matches("p50 [N] µs", "p50 fast µs"));
        assert!(
            !line_matches("image [ID] pinned", "image 0976f5 pinned"),
            "too short for an id"
        );
        assert!(!line_matches("exact", "exactly"));
    }

    #[test]
    fn an_image_name_is_not_a_project_name() {
        let names = Names::default().add_project("shopdotcom", "copy-7");
        assert_eq!(
            names.to_run("docker run shopdotcom/db:local; docker exec shopdotcom-db-1 true"),
            "docker run shopdotcom/db:local; docker exec copy-7-db-1 true"
        );
    }

    #[test]
    fn columns_may_be_aligned_differently_but_not_worded_differently() {
        let page = lines("NAME   STATE\nshopdotcom-db-1   running");
        assert!(compare(&page, &lines("NAME STATE\nshopdotcom-db-1 running   ")).is_ok());
        assert!(compare(&page, &lines("NAME STATE\nshopdotcom-db-1 exited")).is_err());
        assert!(compare(&lines("a b"), &lines("ab")).is_err());
    }

    #[test]
    fn many_ellipses_over_a_long_output_are_decided_quickly() {
        let page = lines("...\nx\n...\nx\n...\nx\n...\nx\n...\nend");
        let run: Vec<String> = std::iter::repeat_n("y".to_owned(), 2000).collect();
        let started = std::time::Instant::now();
        assert!(compare(&page, &run).is_err());
        // Backtracking would take 2000^5 steps; the table takes milliseconds.
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn an_ellipsis_line_matches_any_number_of_lines() {
        let page = lines("first\n...\nlast");
        assert!(compare(&page, &lines("first\nlast")).is_ok());
        assert!(compare(&page, &lines("first\na\nb\nlast")).is_ok());
        assert!(compare(&page, &lines("first\na\nlast\nmore")).is_err());
        let err = compare(&lines("a\nb"), &lines("a\nc")).unwrap_err();
        assert!(
            err.contains("line 2 differs") && err.contains("page: b"),
            "{err}"
        );
    }
}
