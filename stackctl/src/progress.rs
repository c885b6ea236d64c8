//! Progress for work that takes more than a second (image builds, cargo,
//! debootstrap): spinners on a terminal, plain timestamped lines otherwise, so
//! CI logs stay readable. Progress goes to stderr; stdout is for results.

use std::io::IsTerminal as _;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Whether to color what goes to a stream that is (or is not) a terminal:
/// only on a terminal, and never when `NO_COLOR` is set to anything but the
/// empty string (<https://no-color.org>).
pub fn color(stream_is_terminal: bool) -> bool {
    color_with(stream_is_terminal, std::env::var_os("NO_COLOR"))
}

fn color_with(stream_is_terminal: bool, no_color: Option<std::ffi::OsString>) -> bool {
    stream_is_terminal && no_color.is_none_or(|v| v.is_empty())
}

/// Hands out one [`Task`] per unit of work.
#[derive(Clone)]
pub struct Progress {
    multi: Option<MultiProgress>,
}

impl Progress {
    /// Spinners when both stdout and stderr are terminals, plain lines otherwise.
    pub fn new() -> Self {
        let fancy = std::io::stdout().is_terminal() && std::io::stderr().is_terminal();
        Progress {
            multi: fancy.then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr())),
        }
    }

    /// Plain lines, whatever the terminal.
    pub fn plain() -> Self {
        Progress { multi: None }
    }

    /// Starts a task shown as `name`.
    pub fn task(&self, name: &str) -> Task {
        let bar = self.multi.as_ref().map(|multi| {
            let bar = multi.add(ProgressBar::new_spinner());
            let template = if color(true) {
                "{spinner:.cyan} {prefix:.bold} {wide_msg} {elapsed:.dim}"
            } else {
                "{spinner} {prefix} {wide_msg} {elapsed}"
            };
            bar.set_style(
                ProgressStyle::with_template(template)
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.set_prefix(name.to_owned());
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Task {
            name: name.to_owned(),
            bar,
            multi: self.multi.clone(),
            started: Instant::now(),
            last: std::sync::Mutex::new(String::new()),
        }
    }

    /// A line above the spinners (or a plain line).
    pub fn println(&self, line: &str) {
        match &self.multi {
            Some(multi) => {
                let _ = multi.println(line);
            }
            None => eprintln!("{line}"),
        }
    }
}

impl Default for Progress {
    fn default() -> Self {
        Progress::new()
    }
}

/// One unit of work in progress.
pub struct Task {
    name: String,
    bar: Option<ProgressBar>,
    multi: Option<MultiProgress>,
    started: Instant,
    /// The last step reported, so plain output does not repeat itself.
    last: std::sync::Mutex<String>,
}

impl Task {
    /// Reports what the task is doing now.
    pub fn step(&self, message: &str) {
        let message = message.trim_end();
        if message.is_empty() {
            return;
        }
        if let Ok(mut last) = self.last.lock() {
            if *last == message {
                return;
            }
            *last = message.to_owned();
        }
        match &self.bar {
            Some(bar) => bar.set_message(message.to_owned()),
            None => eprintln!("{}: {message}", self.name),
        }
    }

    /// Ends the task successfully with a summary and the time it took.
    pub fn finish(self, summary: &str) {
        let line = format!("✔ {}: {summary} ({:.1?})", self.name, self.elapsed());
        self.end(line);
    }

    /// Ends the task as failed.
    pub fn fail(self, summary: &str) {
        let line = format!("✘ {}: {summary}", self.name);
        self.end(line);
    }

    /// Time since the task started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    fn end(self, line: String) {
        match (&self.bar, &self.multi) {
            (Some(bar), Some(multi)) => {
                bar.finish_and_clear();
                multi.remove(bar);
                let _ = multi.println(line);
            }
            _ => eprintln!("{line}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn color_only_on_a_terminal_and_never_with_no_color_set() {
        assert!(color_with(true, None));
        assert!(!color_with(false, None));
        assert!(!color_with(true, Some("1".into())));
        assert!(
            color_with(true, Some("".into())),
            "an empty NO_COLOR is unset"
        );
    }
}
