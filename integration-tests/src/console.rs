//! Runs a page's console blocks as a reader would type them: each command
//! in `bash`, from the repository's root, with `stackctl` on the `PATH` and
//! the environment of the private copy of the stack the tests started, and
//! compares what it prints (stdout and stderr, as a terminal shows them)
//! with what the page shows ([`crate::transcript`]).
//!
//! A command must exit 0: a page that shows a failing command says so in
//! the command itself (`stackctl audit || echo "exit status $?"`), which
//! is also what the reader then sees.

use std::io::Read as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::transcript::{self, Block, Names};

/// Where and how a page's commands run.
#[derive(Debug, Clone)]
pub struct Console {
    /// The repository's root: the reader's working directory.
    pub root: PathBuf,
    /// Put first on `PATH` (where `stackctl` is).
    pub bin: PathBuf,
    /// Variables for the commands (the copy's project name, ports, ...).
    pub env: Vec<(String, String)>,
    /// The page's names and the run's.
    pub names: Names,
    /// How long one command may take.
    pub timeout: Duration,
}

impl Console {
    /// Runs every step of `block` in order; the failures, each naming the
    /// page's file and line and the command, with what it printed.
    pub fn run(&self, block: &Block) -> Vec<String> {
        let mut failures = Vec::new();
        for step in &block.steps {
            let at = format!("{}:{}", block.file.display(), step.line);
            let command = self.names.to_run(&step.command);
            let (status, output) = match self.execute(&command) {
                Ok(done) => done,
                Err(err) => {
                    failures.push(format!("{at}: `{}`: {err}", step.command));
                    continue;
                }
            };
            let shown = self.names.to_page(&output);
            let lines: Vec<String> = shown.lines().map(str::to_owned).collect();
            let problem = match status {
                Some(0) => transcript::compare(&step.expected, &lines).err(),
                Some(code) => Some(format!(
                    "exited with status {code} (a page shows a failing command as \
                     `COMMAND || echo \"exit status $?\"`)"
                )),
                None => Some("was killed by a signal".to_owned()),
            };
            if let Some(problem) = problem {
                failures.push(format!(
                    "{at}: `{}`: {problem}\n--- what it printed (with the page's names) ---\n{shown}---",
                    step.command
                ));
            }
        }
        failures
    }

    /// Runs one command; its exit status and everything it printed.
    fn execute(&self, command: &str) -> Result<(Option<i32>, String), String> {
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut paths = vec![self.bin.clone()];
        paths.extend(std::env::split_paths(&path));
        let path = std::env::join_paths(paths).map_err(|e| e.to_string())?;
        let mut child = Command::new("bash")
            .arg("-c")
            // Both streams into one pipe, in the order they are written.
            .arg(format!("exec 2>&1\n{command}"))
            .current_dir(&self.root)
            .env("PATH", path)
            .env("NO_COLOR", "1")
            .env("COLUMNS", "100")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            // Its own process group, so a timeout kills all it started.
            .process_group(0)
            .spawn()
            .map_err(|e| format!("cannot start bash: {e}"))?;
        let mut stdout = child.stdout.take().ok_or("no stdout pipe")?;
        let reader = std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = stdout.read_to_end(&mut bytes);
            bytes
        });
        let deadline = Instant::now() + self.timeout;
        let status = loop {
            match child.try_wait().map_err(|e| e.to_string())? {
                Some(status) => break status,
                None if Instant::now() >= deadline => {
                    let group = nix::unistd::Pid::from_raw(-(child.id() as i32));
                    let _ = nix::sys::signal::kill(group, nix::sys::signal::Signal::SIGKILL);
                    let _ = child.wait();
                    return Err(format!(
                        "did not finish within {:?}; it was killed",
                        self.timeout
                    ));
                }
                None => std::thread::sleep(Duration::from_millis(50)),
            }
        };
        let bytes = reader.join().map_err(|_| "the output reader panicked")?;
        Ok((status.code(), String::from_utf8_lossy(&bytes).into_owned()))
    }
}

/// The Markdown pages whose console blocks are checked, relative to `root`:
/// the README, the reference pages under `docs/` and every lesson of the
/// lab under `docs/lab/`, in that order (a lesson may build on the one
/// before).
pub fn pages(root: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut pages = vec![PathBuf::from("README.md")];
    for dir in ["docs", "docs/lab"] {
        let mut found: Vec<PathBuf> = std::fs::read_dir(root.join(dir))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "md"))
            .filter_map(|p| p.strip_prefix(root).ok().map(Path::to_owned))
            .collect();
        found.sort();
        pages.extend(found);
    }
    Ok(pages)
}
