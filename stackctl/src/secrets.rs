//! Secret files: `up` writes the ones marked `x-stackctl.generate` when they
//! are missing, in a directory only root can enter, readable by the
//! services' uids through their read-only bind mounts: `generate: true` is
//! 32 random bytes as hex, `generate: tls` a self-signed certificate and its
//! private key in one PEM file ([`tls_pair`]). A secret's value is never
//! printed; of a TLS pair only the certificate's SHA-256 fingerprint is
//! ([`certificates`]), which clients pin.

use std::io::Read as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use sha2::{Digest as _, Sha256};

use crate::compose::Project;
use crate::compose::extension::Generate;

/// [`ensure`], saying on `progress` where it generated a secret (never its
/// value): what `up` and the exports print.
pub fn ensure_and_say(
    project: &Project,
    services: &std::collections::BTreeSet<String>,
    progress: &crate::progress::Progress,
) -> anyhow::Result<()> {
    for path in ensure(project, services)? {
        progress.println(&format!(
            "generated a secret in {} (value not shown)",
            path.display()
        ));
    }
    Ok(())
}

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
            .map_or(Generate::No, |e| e.generate);
        if !generate.any() {
            bail!(
                "secret `{name}` has no file at {}; create it (readable by the services that use it), \
                 or mark the secret `x-stackctl: {{generate: true}}` to have stackctl make one",
                path.display()
            );
        }
        let dir = path.parent().context("secret path has no directory")?;
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
        let value = match generate {
            Generate::Tls => tls_pair(&host_names())?,
            _ => {
                let mut bytes = [0u8; 32];
                std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
                hex::encode(bytes)
            }
        };
        std::fs::write(&path, value)?;
        // Readable by any uid that gets it mounted; nobody else can enter the directory.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o444))?;
        written.push(path);
    }
    Ok(written)
}

/// A self-signed certificate for `names` (DNS names and IP addresses) and
/// its private key, as one PEM file: the certificate first, then the key.
/// ECDSA P-256 (quick handshakes), valid for ten years from yesterday:
/// clients trust it by its pinned fingerprint, not by a CA or its dates.
pub fn tls_pair(names: &[String]) -> anyhow::Result<String> {
    let key = rcgen::KeyPair::generate().context("cannot generate a key pair")?;
    let mut params =
        rcgen::CertificateParams::new(names.to_vec()).context("a host name is not valid")?;
    params.distinguished_name.push(
        rcgen::DnType::CommonName,
        "ShopDotCom API (self-signed by stackctl)",
    );
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(3650);
    let cert = params
        .self_signed(&key)
        .context("cannot sign the certificate")?;
    Ok(format!("{}{}", cert.pem(), key.serialize_pem()))
}

/// The names a certificate of this host answers to: `localhost`, the
/// loopback addresses and the host name. (Clients on the LAN reach the
/// host at addresses that change; they pin the fingerprint instead.)
fn host_names() -> Vec<String> {
    let mut names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    if let Ok(host) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
        let host = host.trim();
        if !host.is_empty() && !names.iter().any(|n| n == host) {
            names.push(host.to_owned());
        }
    }
    names
}

/// The SHA-256 fingerprint of the first certificate in a PEM file.
pub fn certificate_fingerprint(pem: &[u8]) -> Option<String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject as _;
    let cert = CertificateDer::from_pem_slice(pem).ok()?;
    Some(servicekit::tls::fingerprint(&cert))
}

/// A TLS certificate a service presents: the secret it comes from and its
/// SHA-256 fingerprint (never the key), or why it cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Certificate {
    pub secret: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The certificates `service` presents: one per `generate: tls` secret it
/// mounts.
pub fn certificates(project: &Project, service: &str) -> Vec<Certificate> {
    let Ok(declared) = project.service(service) else {
        return Vec::new();
    };
    declared
        .secrets
        .iter()
        .filter(|s| {
            project
                .secret_extensions
                .get(&s.source)
                .is_some_and(|e| e.generate == Generate::Tls)
        })
        .filter_map(|s| {
            let file = project.model.secrets.get(&s.source)?.file.as_ref()?;
            let path = project.resolve(file);
            let print = match std::fs::read(&path) {
                Ok(pem) => certificate_fingerprint(&pem)
                    .ok_or_else(|| format!("{} holds no certificate", path.display())),
                Err(err) => Err(format!("cannot read {}: {err}", path.display())),
            };
            Some(Certificate {
                secret: s.source.clone(),
                sha256: print.as_ref().ok().cloned(),
                error: print.err(),
            })
        })
        .collect()
}

/// `tls: api presents certificate SHA-256 ... (secret api_tls)`: how `up`
/// and `ps` show a certificate, after their tables.
pub fn describe_certificate(service: &str, c: &Certificate) -> String {
    match (&c.sha256, &c.error) {
        (Some(print), _) => format!(
            "tls: {service} presents certificate SHA-256 {print} (secret {}); clients on the LAN pin it",
            c.secret
        ),
        (None, error) => format!(
            "tls: {service}'s certificate (secret {}): {}",
            c.secret,
            error.as_deref().unwrap_or("unknown")
        ),
    }
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
    fn a_tls_secret_is_a_certificate_and_its_key_with_a_fingerprint() {
        let dir = tempfile::tempdir().unwrap();
        let text = "services:\n  a:\n    image: x\n    secrets: [tls]\nsecrets:\n  tls:\n    file: ./secrets/tls.pem\n    x-stackctl: {generate: tls}\n";
        let p = Project::parse(text, &dir.path().join("compose.yaml")).unwrap();
        let written = ensure(&p, &["a".to_owned()].into()).unwrap();
        let pem = std::fs::read_to_string(&written[0]).unwrap();
        assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
        assert!(pem.contains("-----BEGIN PRIVATE KEY-----"));
        let certificates = certificates(&p, "a");
        assert_eq!(certificates.len(), 1);
        let print = certificates[0].sha256.clone().unwrap();
        assert_eq!(print.len(), 95, "{print}");
        assert!(!pem.contains(&print), "a fingerprint, not a copy");
        assert_eq!(
            ensure(&p, &["a".to_owned()].into()).unwrap(),
            Vec::<PathBuf>::new(),
            "an existing pair is kept"
        );
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
