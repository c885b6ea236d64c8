//! Problems found in a Compose file, each naming the file, the line, the
//! service and the key, what is wrong and what to do about it.

use std::fmt;
use std::path::PathBuf;

use super::positions::KeyPath;

/// What is wrong with one value and what to write instead: a diagnostic
/// before it has a file and a line. Shown alone (a command-line argument, a
/// serde error) it reads `problem; fix`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{problem}; {fix}")]
pub struct Problem {
    pub problem: String,
    pub fix: String,
}

impl Problem {
    pub fn new(problem: impl Into<String>, fix: impl Into<String>) -> Problem {
        Problem {
            problem: problem.into(),
            fix: fix.into(),
        }
    }
}

/// One problem in a Compose file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: PathBuf,
    /// 1-based; `None` when the problem has no place in the text (an empty file).
    pub line: Option<usize>,
    /// The key the problem is about, e.g. `services.api.ports`.
    pub path: KeyPath,
    /// What is wrong.
    pub problem: String,
    /// What to do about it.
    pub fix: String,
}

impl Diagnostic {
    /// The service the problem is in, if any.
    pub fn service(&self) -> Option<&str> {
        self.path.service()
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        f.write_str(": ")?;
        match self.service() {
            Some(service) => {
                write!(f, "service `{service}`")?;
                let key = KeyPath(self.path.0[2..].to_vec());
                if !key.0.is_empty() {
                    write!(f, ", key `{key}`")?;
                }
                f.write_str(": ")?;
            }
            None if !self.path.0.is_empty() => write!(f, "key `{}`: ", self.path)?,
            None => {}
        }
        write!(f, "{}\n  fix: {}", self.problem, self.fix)
    }
}

/// Every problem found in one file; loading fails with this.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.0.len();
        let file = self.0.first().map(|d| d.file.display().to_string());
        writeln!(
            f,
            "{} is not valid: {count} problem{}",
            file.unwrap_or_else(|| "the Compose file".to_owned()),
            if count == 1 { "" } else { "s" }
        )?;
        for (i, diagnostic) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{diagnostic}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Diagnostics {}
