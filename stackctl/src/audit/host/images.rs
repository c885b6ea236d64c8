//! CIS section 4 on the services' images as the engine has them: content
//! trust for pulled images (4.5), `update` alone in a layer (4.7),
//! setuid and setgid files of the final filesystem read from the image's
//! layers (4.8), `ADD` in the history (4.9) and secrets in the history or
//! the environment (4.10). 4.1 and 4.6 are per-service checks of the
//! ordinary audit.

use super::catalog as c;
use super::facts::{HostFacts, ImageFacts};
use super::{Out, Place};
use crate::audit::controls;
use crate::audit::finding::Severity;
use crate::audit::subject::Subject;

/// Name endings of variables and build arguments that hold a secret.
const SECRET_NAMES: &[&str] = &[
    "PASSWORD",
    "PASSWD",
    "TOKEN",
    "SECRET",
    "API_KEY",
    "PRIVATE_KEY",
    "ACCESS_KEY",
];

/// How many setuid/setgid paths a message names before "and N more".
const NAMED: usize = 8;

/// Section 4.
pub(super) fn check(facts: &HostFacts, subjects: &[Subject], out: &mut Out) {
    for image in &facts.images {
        let history = match &image.history {
            Ok(history) => history,
            Err(why) => {
                out.note(format!(
                    "`{}`: its image {} could not be read ({why}); CIS 4.5 and 4.7 to 4.10 were not judged for it",
                    image.service, image.image
                ));
                continue;
            }
        };
        let place = || {
            Place::Service(
                image.service.clone(),
                Subject::key(if image.built_locally {
                    "build"
                } else {
                    "image"
                }),
            )
        };
        if !image.built_locally && facts.content_trust.as_deref() != Some("1") {
            out.push(&c::CONTENT_TRUST, Severity::Low, place(),
                format!("image {} is pulled from a registry, and nothing verifies its publisher's signature (DOCKER_CONTENT_TRUST is not 1; the Engine API never verifies signatures, only the docker CLI does)", image.image),
                "build the image here (stackctl's pins then hold its ID), or pull it with `DOCKER_CONTENT_TRUST=1 docker pull` and pin its digest");
        }
        for line in history {
            let lower = line.to_ascii_lowercase();
            let updates = [
                "apt-get update",
                "apt update",
                "apk update",
                "yum update",
                "dnf update",
            ]
            .iter()
            .any(|u| lower.contains(u));
            let installs = ["install", "upgrade", " add "]
                .iter()
                .any(|i| lower.contains(i));
            if updates && !installs {
                out.push(&c::UPDATE_ALONE, Severity::Low, place(),
                    format!("a layer of {} updates the package lists without installing in the same step: `{}`", image.image, short(line)),
                    "run `apt-get update && apt-get install ...` in one RUN");
            }
        }
        // The oldest entry of an image built FROM an official base is the
        // base's root filesystem (`ADD file:... in /`): not an ADD of ours.
        let own = history.len().saturating_sub(1);
        for line in &history[..own] {
            if let Some(at) = line.find("ADD ") {
                let what = &line[at..];
                let remote = what.contains("http://") || what.contains("https://");
                out.push(
                    &c::ADD,
                    if remote {
                        Severity::Medium
                    } else {
                        Severity::Low
                    },
                    place(),
                    format!(
                        "{} was built with ADD{}: `{}`",
                        image.image,
                        if remote { " of a URL" } else { "" },
                        short(what)
                    ),
                    "use COPY (and fetch files with a verified checksum in a RUN step)",
                );
            }
        }
        secrets(image, history, &place, out);
        setid(image, subjects, &place, out);
    }
}

fn short(line: &str) -> String {
    let line = line
        .trim()
        .trim_start_matches("/bin/sh -c ")
        .trim_start_matches("#(nop) ")
        .trim();
    if line.chars().count() > 120 {
        format!("{}...", line.chars().take(120).collect::<String>())
    } else {
        line.to_owned()
    }
}

/// `NAME=VALUE` words whose name says secret and whose value is not empty
/// nor a reference to a file or variable.
fn secret_words(text: &str) -> Vec<String> {
    text.split_whitespace()
        .filter_map(|word| {
            let (name, value) = word.split_once('=')?;
            let name = name.trim_start_matches("--").to_ascii_uppercase();
            let value = value.trim_matches(['"', '\'']);
            let secret = SECRET_NAMES.iter().any(|s| name.ends_with(s));
            let reference = value.is_empty() || value.starts_with('$') || value.starts_with('/');
            (secret && !reference).then(|| name.clone())
        })
        .collect()
}

fn secrets(image: &ImageFacts, history: &[String], place: &dyn Fn() -> Place, out: &mut Out) {
    let mut found: Vec<String> = Vec::new();
    for entry in &image.env {
        for name in secret_words(entry) {
            found.push(format!("`{name}` in its environment"));
        }
    }
    for line in history {
        for name in secret_words(line) {
            let what = format!("`{name}` in its build history");
            if !found.contains(&what) {
                found.push(what);
            }
        }
    }
    if !found.is_empty() {
        out.push(&c::IMAGE_SECRETS, Severity::High, place(),
            format!("{} carries what looks like a secret (value not shown): {}", image.image, found.join(", ")),
            "pass secrets at run time (a secret file, as compose.yaml's `secrets:` do), never as ENV or build ARG; rebuild the image");
    }
}

fn setid(image: &ImageFacts, subjects: &[Subject], place: &dyn Fn() -> Place, out: &mut Out) {
    let files = match &image.setid_files {
        Ok(files) if files.is_empty() => return,
        Ok(files) => files,
        Err(why) => {
            out.note(format!(
                "CIS-4.8: the layers of {} could not be read ({why}); not judged",
                image.image
            ));
            return;
        }
    };
    let nnp = subjects
        .iter()
        .find(|s| s.service == image.service)
        .is_some_and(|s| controls::no_new_privileges(&s.security_opt));
    let mut named: Vec<String> = files
        .iter()
        .take(NAMED)
        .map(|(path, mode)| format!("{path} ({:04o})", mode))
        .collect();
    if files.len() > NAMED {
        named.push(format!("and {} more", files.len() - NAMED));
    }
    let (severity, why) = if nnp {
        (
            Severity::Low,
            "; the service runs with no-new-privileges, so the bits raise no one's privileges in its containers, but a container started from the image without it would honour them",
        )
    } else {
        (
            Severity::Medium,
            "; without no-new-privileges any process in the container can run them to gain their owner's privileges",
        )
    };
    out.push(&c::SETUID, severity, place(),
        format!("{} has {} setuid/setgid file(s): {}{why}", image.image, files.len(), named.join(", ")),
        "remove the bits in the Dockerfile (`RUN find / -xdev -perm /6000 -type f -exec chmod a-s {} +`) and keep `no-new-privileges`");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_looking_words_are_found_and_references_are_not() {
        assert_eq!(
            secret_words("|1 DB_PASSWORD=hunter2 /bin/sh -c x"),
            ["DB_PASSWORD"]
        );
        assert!(secret_words("API_ADMIN_TOKEN_FILE=/run/secrets/token").is_empty());
        assert!(secret_words("MARIADB_PASSWORD=$PASS").is_empty());
        assert!(secret_words("MARIADB_API_USER=shop_api").is_empty());
    }
}
