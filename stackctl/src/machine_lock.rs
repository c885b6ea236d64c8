//! Locks shared by every stackctl process on the machine (image builds, the
//! firewall's shared chain, a swarm made for a test or the bench), kept in a
//! runtime directory that only the user running stackctl can write.
//!
//! They once lived in the world-writable temporary directory, where any local
//! user could create and hold `stackctl-firewall.lock` and make root's `up`
//! and `down` wait forever. Now the directory is `/run/stackctl` for root
//! (`$XDG_RUNTIME_DIR/stackctl`, or `/tmp/stackctl-UID`, for other users),
//! made mode 0700 and refused when someone else owns it or can write to it;
//! and every wait has a timeout whose error names the holder.

use std::fs::{File, OpenOptions};
use std::io::{Read as _, Seek as _, Write as _};
use std::os::unix::fs::{DirBuilderExt as _, MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

/// The directory for this user's stackctl locks, created if missing and
/// checked: owned by this user and writable by no one else. Fails closed:
/// a directory that is someone else's is an error, never used.
pub fn runtime_dir() -> anyhow::Result<PathBuf> {
    let uid = nix::unistd::geteuid();
    let dir = if uid.is_root() {
        PathBuf::from("/run/stackctl")
    } else if let Some(xdg) = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        Path::new(&xdg).join("stackctl")
    } else {
        std::env::temp_dir().join(format!("stackctl-{uid}"))
    };
    private_dir(&dir, uid.as_raw())?;
    Ok(dir)
}

/// Makes `dir` (mode 0700) if it is missing, then checks that `uid` owns it
/// and that neither group nor others may write to it.
fn private_dir(dir: &Path, uid: u32) -> anyhow::Result<()> {
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(err) => {
            return Err(err).with_context(|| {
                format!(
                    "cannot create stackctl's runtime directory {}",
                    dir.display()
                )
            });
        }
    }
    // symlink_metadata: a symlink planted in place of the directory is refused too.
    let meta = std::fs::symlink_metadata(dir)
        .with_context(|| format!("cannot read stackctl's runtime directory {}", dir.display()))?;
    if !meta.is_dir() {
        bail!(
            "stackctl's runtime directory {} is not a directory; remove it and run the command again",
            dir.display()
        );
    }
    if meta.uid() != uid {
        bail!(
            "stackctl's runtime directory {} belongs to uid {}, not to uid {uid} running stackctl, so its locks could \
             be held by someone else; remove it (`rm -r {}`) and run the command again",
            dir.display(),
            meta.uid(),
            dir.display()
        );
    }
    if meta.permissions().mode() & 0o022 != 0 {
        bail!(
            "stackctl's runtime directory {} is writable by other users (mode {:o}); `chmod 700 {}` and run the \
             command again",
            dir.display(),
            meta.permissions().mode() & 0o7777,
            dir.display()
        );
    }
    Ok(())
}

/// An exclusive lock on `RUNTIME_DIR/NAME.lock`, released when dropped (or
/// when the process ends, however it ends).
#[derive(Debug)]
pub struct MachineLock {
    _file: File,
}

impl MachineLock {
    /// Waits up to `timeout` for the lock `name` ("build", "firewall", ...).
    /// `purpose` says what it guards, for the error when the wait times out,
    /// which also names the process that holds it.
    pub fn acquire_blocking(
        name: &str,
        purpose: &str,
        timeout: Duration,
    ) -> anyhow::Result<MachineLock> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(lock) =
                MachineLock::try_acquire(name, purpose, Instant::now() >= deadline, timeout)?
            {
                return Ok(lock);
            }
            std::thread::sleep(POLL);
        }
    }

    /// [`MachineLock::acquire_blocking`] for async callers. `try_lock` never
    /// blocks, so it is polled from the task itself: a caller that is
    /// cancelled (Ctrl-C) stops waiting at once, instead of leaving a
    /// blocking thread behind that holds up the runtime's shutdown.
    pub async fn acquire(
        name: &'static str,
        purpose: &'static str,
        timeout: Duration,
    ) -> anyhow::Result<MachineLock> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(lock) =
                MachineLock::try_acquire(name, purpose, Instant::now() >= deadline, timeout)?
            {
                return Ok(lock);
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// One attempt: the lock, or `None` while another process holds it
    /// (an error naming the holder once `expired`).
    fn try_acquire(
        name: &str,
        purpose: &str,
        expired: bool,
        timeout: Duration,
    ) -> anyhow::Result<Option<MachineLock>> {
        let path = runtime_dir()?.join(format!("{name}.lock"));
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .with_context(|| format!("cannot open the {purpose} lock {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) if !expired => return Ok(None),
            Err(std::fs::TryLockError::WouldBlock) => {
                bail!(
                    "another stackctl process ({}) has held the {purpose} lock {} for more than {} s; wait for it \
                     to finish, or stop it, and run the command again",
                    holder(&mut file),
                    path.display(),
                    timeout.as_secs()
                );
            }
            Err(std::fs::TryLockError::Error(err)) => {
                return Err(err).with_context(|| format!("cannot lock {}", path.display()));
            }
        }
        // Who holds it, for the message another process may print.
        file.set_len(0)?;
        file.rewind()?;
        write!(file, "{}", std::process::id())?;
        Ok(Some(MachineLock { _file: file }))
    }
}

/// How often a waiter tries the lock again.
const POLL: Duration = Duration::from_millis(100);

/// "pid N" from the lock file, as its holder wrote it.
fn holder(file: &mut File) -> String {
    let mut text = String::new();
    let _ = file.rewind().and_then(|()| file.read_to_string(&mut text));
    match text.trim().parse::<u32>() {
        Ok(pid) => format!("pid {pid}"),
        Err(_) => "pid unknown".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_times_out_with_a_message_naming_the_first() {
        let name = &format!("test-lock-{}", std::process::id());
        let first = MachineLock::acquire_blocking(name, "test", Duration::from_secs(1)).unwrap();
        // flock locks belong to the open file description: a second open in
        // the same process contends like another process would.
        let err = MachineLock::acquire_blocking(name, "test", Duration::from_millis(300))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
        assert!(err.contains("test lock"), "{err}");
        drop(first);
        let again = MachineLock::acquire_blocking(name, "test", Duration::from_millis(300))
            .expect("free once the first holder is gone");
        drop(again);
        let _ = std::fs::remove_file(runtime_dir().unwrap().join(format!("{name}.lock")));
    }

    #[test]
    fn a_directory_that_others_may_write_is_refused() {
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("runtime");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        let me = nix::unistd::geteuid().as_raw();
        let err = private_dir(&dir, me).unwrap_err().to_string();
        assert!(err.contains("writable by other users"), "{err}");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        private_dir(&dir, me).expect("a private directory of ours is fine");
    }

    #[test]
    fn a_directory_owned_by_someone_else_is_refused() {
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("runtime");
        std::fs::create_dir(&dir).unwrap();
        let me = nix::unistd::geteuid().as_raw();
        let err = private_dir(&dir, me + 1).unwrap_err().to_string();
        assert!(err.contains("belongs to uid"), "{err}");
    }

    #[test]
    fn a_symlink_in_place_of_the_directory_is_refused() {
        let parent = tempfile::tempdir().unwrap();
        let target = parent.path().join("elsewhere");
        std::fs::create_dir(&target).unwrap();
        let dir = parent.path().join("runtime");
        std::os::unix::fs::symlink(&target, &dir).unwrap();
        let me = nix::unistd::geteuid().as_raw();
        let err = private_dir(&dir, me).unwrap_err().to_string();
        assert!(err.contains("not a directory"), "{err}");
    }
}
