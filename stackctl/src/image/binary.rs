//! Images for the workspace's own services without a Rust toolchain in any
//! image and without a registry: the release binary is compiled on the host,
//! and the binary plus the shared libraries it loads (its closure, found with
//! `ldd`) are staged under `rootfs/` in the build context. The image then runs
//! whatever glibc the build host has, because it carries that glibc.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context as _, bail};

use super::context::Context;

/// Where a service's binary lives inside its image.
pub fn binary_path_in_image(bin: &str) -> String {
    format!("/usr/local/bin/{bin}")
}

/// The cargo to run: the one that runs us under `cargo run`, else `cargo`.
///
/// Without the variables cargo sets for the package that runs us
/// ([`is_package_variable`]): ring's build script, which the API's TLS and
/// stackctl use, reruns when `CARGO_MANIFEST_DIR` or `CARGO_PKG_NAME`
/// changes, so a build started by `cargo run -p stackctl` or by a test
/// recompiled ring and everything above it in release mode, then again
/// for the next build started from a plain shell.
pub(crate) fn cargo() -> Command {
    let mut command = Command::new(cargo_program());
    for (name, _) in std::env::vars_os() {
        if name.to_str().is_some_and(is_package_variable) {
            command.env_remove(name);
        }
    }
    command
}

/// The cargo that runs us under `cargo run` or `cargo test`, else `cargo`.
fn cargo_program() -> std::ffi::OsString {
    std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

/// Whether cargo sets `name` for the package it builds or runs (its
/// manifest, its metadata, its crate and test directories), as opposed to
/// the user's own settings (`CARGO_HOME`, `CARGO_TARGET_DIR`, `CARGO_TERM_*`).
fn is_package_variable(name: &str) -> bool {
    ["CARGO_PKG_", "CARGO_MANIFEST_", "CARGO_BIN_EXE_"]
        .iter()
        .any(|prefix| name.starts_with(prefix))
        || matches!(
            name,
            "CARGO_CRATE_NAME"
                | "CARGO_BIN_NAME"
                | "CARGO_PRIMARY_PACKAGE"
                | "CARGO_TARGET_TMPDIR"
                | "CARGO_RUSTC_CURRENT_DIR"
                | "OUT_DIR"
        )
}

/// The workspace's binary targets, by name.
pub fn workspace_binaries(workspace: &Path) -> anyhow::Result<Vec<String>> {
    let metadata = cargo_metadata::MetadataCommand::new()
        .cargo_path(cargo_program())
        .current_dir(workspace)
        .no_deps()
        .exec()
        .with_context(|| {
            format!(
                "`cargo metadata` failed in {}; is Rust installed (https://rustup.rs), and is it a Cargo workspace?",
                workspace.display()
            )
        })?;
    Ok(metadata
        .packages
        .iter()
        .flat_map(|package| &package.targets)
        .filter(|target| target.is_bin())
        .map(|target| target.name.clone())
        .collect())
}

/// The cargo-auditable release installed when the host has none. It embeds
/// the binary's dependency list (crate names, versions, sources) in a
/// section of the executable, which `stackctl scan` (and `cargo audit bin`,
/// and other scanners) read back from the image.
pub const AUDITABLE_VERSION: &str = "0.7.7";

/// Whether `cargo auditable` runs here.
fn auditable_available() -> bool {
    cargo()
        .args(["auditable", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Makes sure `cargo auditable` is installed, installing it from crates.io
/// (`cargo install --locked`) when it is not. `Err` says why it is not
/// available; the caller then builds without the embedded list, loudly.
pub fn ensure_auditable() -> Result<(), String> {
    if auditable_available() {
        return Ok(());
    }
    eprintln!(
        "cargo-auditable is not installed: installing {AUDITABLE_VERSION} from crates.io (once), so the images carry their dependency list for `stackctl scan`"
    );
    let status = cargo()
        .args([
            "install",
            "--locked",
            "cargo-auditable",
            "--version",
            AUDITABLE_VERSION,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .status()
        .map_err(|e| format!("cannot run `cargo install`: {e}"))?;
    if status.success() && auditable_available() {
        Ok(())
    } else {
        Err(format!(
            "`cargo install --locked cargo-auditable --version {AUDITABLE_VERSION}` failed (its output is above)"
        ))
    }
}

/// Compiles `bin` in release mode and returns the path of the executable:
/// with `cargo auditable build`, so the binary carries its dependency list,
/// or with a plain `cargo build` and a warning when cargo-auditable cannot
/// be installed. cargo's own progress goes to stderr.
pub fn compile(workspace: &Path, bin: &str) -> anyhow::Result<PathBuf> {
    let mut command = cargo();
    match ensure_auditable() {
        Ok(()) => {
            command.arg("auditable");
        }
        Err(why) => eprintln!(
            "warning: {why}; `{bin}` is built without its embedded dependency list, and `stackctl scan` will say it cannot read its dependencies"
        ),
    }
    let output = command
        .args([
            "build",
            "--release",
            "--locked",
            "--bin",
            bin,
            "--message-format=json-render-diagnostics",
        ])
        .current_dir(workspace)
        .stderr(Stdio::inherit())
        .output()
        .context("cannot run `cargo build`")?;
    if !output.status.success() {
        bail!("`cargo build --release --bin {bin}` failed (its errors are above)");
    }
    cargo_metadata::Message::parse_stream(output.stdout.as_slice())
        .filter_map(Result::ok)
        .find_map(|message| match message {
            cargo_metadata::Message::CompilerArtifact(artifact) if artifact.target.name == bin => {
                artifact.executable.map(PathBuf::from)
            }
            _ => None,
        })
        .with_context(|| format!("`cargo build` reported no executable for `{bin}`"))
}

/// The shared libraries `binary` loads, including the dynamic loader.
pub fn library_closure(binary: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let output = Command::new("ldd")
        .arg(binary)
        .output()
        .context("cannot run `ldd` (Debian package libc-bin) to find the binary's libraries")?;
    let text = String::from_utf8_lossy(&output.stdout);
    if text.contains("not a dynamic executable") || text.contains("statically linked") {
        return Ok(Vec::new());
    }
    if !output.status.success() {
        bail!(
            "`ldd {}` failed: {}",
            binary.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    parse_ldd(&text)
}

/// Parses `ldd` output: `name => /path (0x...)` and `/path (0x...)` lines.
fn parse_ldd(text: &str) -> anyhow::Result<Vec<PathBuf>> {
    let mut libs = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if line.contains("=> not found") {
            bail!("a library the binary needs is missing on this host: {line}");
        }
        let path = match line.split_once("=>") {
            Some((_, after)) => after.trim(),
            None => line,
        };
        let path = path.split(" (").next().unwrap_or_default().trim();
        if path.starts_with('/') {
            libs.push(PathBuf::from(path));
        }
    }
    Ok(libs)
}

/// The non-root account a shell-less image runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
}

impl Account {
    /// Reads a Compose `user: "UID:GID"`; a shell-less image cannot look up
    /// names, so both must be numbers, and root is refused.
    pub fn from_compose_user(service: &str, user: Option<&str>) -> Result<Account, String> {
        let Some(user) = user else {
            return Err("it has no `user`; a service built from a workspace binary runs as its own non-root \
                        account, so add `user: \"UID:GID\"` with numbers of its own"
                .to_owned());
        };
        let (uid, gid) = user.split_once(':').unwrap_or((user, user));
        match (uid.parse::<u32>(), gid.parse::<u32>()) {
            (Ok(0), _) | (_, Ok(0)) => Err(format!(
                "`user: {user}` is root; give the service a non-root `UID:GID`"
            )),
            (Ok(uid), Ok(gid)) => Ok(Account {
                name: service.to_owned(),
                uid,
                gid,
            }),
            _ => Err(format!(
                "`user: {user}` must be numeric `UID:GID`; the image has no user database to look names up in"
            )),
        }
    }
}

/// Stages the binary, its library closure and the few files a program
/// expects in `/etc` under `rootfs/` in `context`.
pub fn stage(
    context: &mut Context,
    binary: &Path,
    bin: &str,
    account: &Account,
) -> anyhow::Result<()> {
    let read = |path: &Path| {
        std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
    };
    context.add_file(
        format!("rootfs{}", binary_path_in_image(bin)),
        read(binary)?,
        0o755,
    );
    for lib in library_closure(binary)? {
        // Copy the file the path resolves to, under the path the loader asks for.
        context.add_file(format!("rootfs{}", lib.display()), read(&lib)?, 0o755);
    }
    let Account { name, uid, gid } = account;
    context.add_file(
        "rootfs/etc/passwd",
        format!("root:x:0:0:root:/nonexistent:/nonexistent\n{name}:x:{uid}:{gid}:{name}:/nonexistent:/nonexistent\n")
            .into_bytes(),
        0o644,
    );
    context.add_file(
        "rootfs/etc/group",
        format!("root:x:0:\n{name}:x:{gid}:\n").into_bytes(),
        0o644,
    );
    // Without this file glibc asks DNS before /etc/hosts; `localhost` must resolve locally.
    context.add_file(
        "rootfs/etc/nsswitch.conf",
        b"hosts: files dns\n".to_vec(),
        0o644,
    );
    context.add_dir("rootfs/tmp", 0o1777);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_cargo_loses_the_running_package_s_variables_and_keeps_the_user_s() {
        for name in [
            "CARGO_MANIFEST_DIR",
            "CARGO_MANIFEST_PATH",
            "CARGO_PKG_NAME",
            "CARGO_PKG_VERSION_MAJOR",
            "CARGO_PRIMARY_PACKAGE",
            "CARGO_BIN_EXE_stackctl",
            "OUT_DIR",
        ] {
            assert!(is_package_variable(name), "{name}");
        }
        for name in [
            "CARGO",
            "CARGO_HOME",
            "CARGO_TARGET_DIR",
            "CARGO_TERM_COLOR",
            "PATH",
        ] {
            assert!(!is_package_variable(name), "{name}");
        }
        let removed: Vec<std::ffi::OsString> = cargo()
            .get_envs()
            .filter(|(_, value)| value.is_none())
            .map(|(name, _)| name.to_owned())
            .collect();
        assert!(
            removed.iter().any(|name| name == "CARGO_PKG_NAME"),
            "cargo test sets CARGO_PKG_NAME, and the nested cargo must not see it"
        );
        for (name, _) in std::env::vars_os() {
            let package = name.to_str().is_some_and(is_package_variable);
            assert_eq!(removed.contains(&name), package, "{name:?}");
        }
    }

    #[test]
    fn ldd_output_yields_the_libraries_and_the_loader() {
        let text = "\tlinux-vdso.so.1 (0x00007ffd)\n\tlibgcc_s.so.1 => /lib/x86_64-linux-gnu/libgcc_s.so.1 (0x1)\n\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x2)\n\t/lib64/ld-linux-x86-64.so.2 (0x3)\n";
        let libs = parse_ldd(text).unwrap();
        assert_eq!(
            libs,
            [
                PathBuf::from("/lib/x86_64-linux-gnu/libgcc_s.so.1"),
                PathBuf::from("/lib/x86_64-linux-gnu/libc.so.6"),
                PathBuf::from("/lib64/ld-linux-x86-64.so.2"),
            ]
        );
    }

    #[test]
    fn a_missing_library_is_an_error() {
        assert!(parse_ldd("\tlibfoo.so.1 => not found\n").is_err());
    }

    #[test]
    fn accounts_must_be_numeric_and_not_root() {
        assert_eq!(
            Account::from_compose_user("api", Some("10010:10010")),
            Ok(Account {
                name: "api".into(),
                uid: 10010,
                gid: 10010
            })
        );
        assert!(
            Account::from_compose_user("api", Some("0:0"))
                .unwrap_err()
                .contains("root")
        );
        assert!(
            Account::from_compose_user("api", Some("app"))
                .unwrap_err()
                .contains("numeric")
        );
        assert!(
            Account::from_compose_user("api", None)
                .unwrap_err()
                .contains("non-root")
        );
    }

    #[test]
    fn this_test_binary_has_a_library_closure_with_the_loader() {
        let me = std::env::current_exe().unwrap();
        let libs = library_closure(&me).unwrap();
        assert!(
            libs.iter().any(|l| l.to_string_lossy().contains("libc.so")),
            "{libs:?}"
        );
        assert!(
            libs.iter()
                .any(|l| l.to_string_lossy().contains("ld-linux")),
            "{libs:?}"
        );
    }
}
