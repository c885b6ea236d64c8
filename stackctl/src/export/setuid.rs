//! The setuid and setgid files of an image, read from its flattened file
//! system (a container created from it and exported, never started). They
//! are what no-new-privileges guards against: where a target cannot set
//! it, an image without them is the control that makes up for it.

use anyhow::Context as _;
use bollard::Docker;
use bollard::models::ContainerCreateBody;
use bollard::query_parameters::CreateContainerOptionsBuilder;
use futures_util::TryStreamExt as _;

/// The paths (absolute) of `image`'s files with the setuid or setgid bit.
pub async fn files(docker: &Docker, image: &str) -> anyhow::Result<Vec<String>> {
    let name = format!(
        "stackctl-setuid-scan-{}-{}",
        std::process::id(),
        crate::image::short_id(image)
    );
    let config = ContainerCreateBody {
        image: Some(image.to_owned()),
        // Never started; an entry point is only needed to create it.
        entrypoint: Some(vec!["/nonexistent".to_owned()]),
        network_disabled: Some(true),
        ..Default::default()
    };
    docker
        .create_container(
            Some(CreateContainerOptionsBuilder::new().name(&name).build()),
            config,
        )
        .await
        .with_context(|| format!("cannot create a container from {image} to read its files"))?;
    let bytes = docker
        .export_container(&name)
        .map_ok(|chunk| chunk.to_vec())
        .try_concat()
        .await
        .with_context(|| format!("cannot read the files of image {image}"));
    let _ = docker
        .remove_container(&name, Some(crate::container::remove_options()))
        .await;
    scan(&bytes?)
}

/// The setuid/setgid regular files in a tar archive.
pub fn scan(tar: &[u8]) -> anyhow::Result<Vec<String>> {
    let mut archive = tar::Archive::new(tar);
    let mut found = Vec::new();
    for entry in archive
        .entries()
        .context("the image's files are not a tar archive")?
    {
        let entry = entry.context("cannot read the image's file list")?;
        let header = entry.header();
        let mode = header.mode().unwrap_or(0);
        if header.entry_type().is_file() && mode & 0o6000 != 0 {
            let path = entry.path()?.display().to_string();
            found.push(format!(
                "/{}",
                path.trim_start_matches("./").trim_start_matches('/')
            ));
        }
    }
    found.sort();
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setuid_and_setgid_files_are_found_and_others_not() {
        let mut context = crate::image::context::Context::default();
        context.add_file("usr/bin/passwd", b"x".to_vec(), 0o4755);
        context.add_file("usr/bin/wall", b"x".to_vec(), 0o2755);
        context.add_file("usr/bin/ls", b"x".to_vec(), 0o755);
        context.add_dir("tmp", 0o1777);
        let found = scan(&context.to_tar().unwrap()).unwrap();
        assert_eq!(found, ["/usr/bin/passwd", "/usr/bin/wall"]);
    }
}
