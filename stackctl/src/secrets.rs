//! Secret files: `up` writes the ones marked `x-stackctl.generate` when they
//! are missing (32 random bytes, hex), in a directory only root can enter,
//! readable by the services' uids through their read-only bind mounts. A
//! secret's value is never printed.

use std::io::Read as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use sha2::{Digest as _, Sha256};

use crate::compose::Project;

/// Makes sure every secret the selected services use has its file: writes
/// the generated ones that are missing, and fails naming any other that is.
/// Returns the files it wrote.
pub fn ensure(
    project: &Project,
    services: &std::collections::BTreeSet<String>,
) -> anyhow::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    let used: std::collections::BTreeSet<&String> = services
        .iter()
        .filter_map(|s| project.model.services.get(s))
        .flat_map(|s| s.secrets.iter().map(|secret| &secret.source))
        .collect();
    for name in used {
        let Some(secret) = project.model.secrets.get(name) else {
            continue;
        };
        let Some(file) = &secret.file else { continue };
        let path = project.resolve(file);
        if path.exists() {
            continue;
        }
        let generate = project
            .secret_extensions
            .get(name)
            .is_some_and(|e| e.generate);
        if !generate {
            bail!(
                "secret `{name}` has no file at {}; create it (readable by the services that use it), \
                 or mark the secret `x-stackctl: {{generate: true}}` to have stackctl make one",
                path.display()
            );
        }
        let dir = path.parent().context("secret path has no directory")?;
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        let mut bytes = [0u8; 32];
        std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
        std::fs::write(&path, hex::encode(bytes))?;
        // Readable by any uid that gets it mounted; nobody else can enter the directory.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o444))?;
        written.push(path);
    }
    Ok(written)
}

/// A hash of the values of the secrets `service` mounts (empty when none),
/// so that a changed secret counts as a changed configuration.
pub fn digest(project: &Project, service: &str) -> anyhow::Result<String> {
    let mut hasher = Sha256::new();
    let mut any = false;
    for secret in &project.service(service)?.secrets {
        let Some(file) = project
            .model
            .secrets
            .get(&secret.source)
            .and_then(|s| s.file.as_ref())
        else {
            continue;
        };
        let path = project.resolve(file);
        let value = std::fs::read(&path).with_context(|| {
            format!(
                "cannot read secret `{}` at {}",
                secret.source,
                path.display()
            )
        })?;
        hasher.update(secret.source.as_bytes());
        hasher.update(Sha256::digest(&value));
        any = true;
    }
    Ok(if any {
        hex::encode(&hasher.finalize()[..8])
    } else {
        String::new()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(dir: &std::path::Path) -> Project {
        let text = "services:\n  a:\n    image: x\n    secrets: [token]\nsecrets:\n  token:\n    file: ./secrets/token\n    x-stackctl: {generate: true}\n  manual:\n    file: ./secrets/manual\n";
        Project::parse(text, &dir.join("compose.yaml")).unwrap()
    }

    #[test]
    fn missing_generated_secrets_are_written_once_and_private() {
        let dir = tempfile::tempdir().unwrap();
        let p = project(dir.path());
        let services = ["a".to_owned()].into();
        let written = ensure(&p, &services).unwrap();
        assert_eq!(written, [dir.path().join("secrets/token")]);
        let value = std::fs::read_to_string(&written[0]).unwrap();
        assert_eq!(value.len(), 64);
        let dir_mode = std::fs::metadata(dir.path().join("secrets"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(dir_mode, 0o700);
        assert!(
            ensure(&p, &services).unwrap().is_empty(),
            "an existing secret is kept"
        );
        assert_eq!(std::fs::read_to_string(&written[0]).unwrap(), value);
    }

    #[test]
    fn a_missing_secret_that_is_not_generated_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let text = "services:\n  a:\n    image: x\n    secrets: [manual]\nsecrets:\n  manual:\n    file: ./secrets/manual\n";
        let p = Project::parse(text, &dir.path().join("compose.yaml")).unwrap();
        let err = ensure(&p, &["a".to_owned()].into())
            .unwrap_err()
            .to_string();
        assert!(err.contains("secret `manual` has no file"), "{err}");
    }
}
