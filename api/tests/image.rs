//! The API's image as `stackctl build` makes it and `compose.yaml` runs it:
//! shell-less, its own non-root uid, read-only, no capabilities, on the host
//! network, healthy by its own `healthcheck` subcommand, and serving the real
//! database over localhost.

use bollard::exec::{CreateExecOptions, StartExecResults};
use stackctl::testbed::Testbed;

#[tokio::test(flavor = "multi_thread")]
async fn the_api_image_runs_hardened_on_the_host_network_and_serves_the_database()
-> anyhow::Result<()> {
    let mut bed = Testbed::new("api-image").await?;
    bed.start("db").await?;
    // Waits for the image's HEALTHCHECK: the binary probing its own /readyz.
    bed.start("api").await?;
    let api_port = bed.port("SHOP_API_PORT")?;

    let page: serde_json::Value =
        reqwest::get(format!("http://localhost:{api_port}/api/products?limit=3"))
            .await?
            .json()
            .await?;
    assert_eq!(page["items"].as_array().map(Vec::len), Some(3), "{page}");

    let container = bed
        .docker
        .inspect_container(&bed.container("api"), None)
        .await?;
    let config = container.config.unwrap_or_default();
    let host = container.host_config.unwrap_or_default();
    assert_eq!(config.user.as_deref(), Some("10010:10010"));
    assert_eq!(host.network_mode.as_deref(), Some("host"));
    assert_eq!(host.readonly_rootfs, Some(true));
    assert_eq!(host.cap_drop, Some(vec!["ALL".to_owned()]));
    assert!(
        host.security_opt
            .unwrap_or_default()
            .contains(&"no-new-privileges:true".to_owned())
    );

    let exec = bed
        .docker
        .create_exec(
            &bed.container("api"),
            CreateExecOptions::<String> {
                cmd: Some(vec!["/bin/sh".into(), "-c".into(), "true".into()]),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                ..Default::default()
            },
        )
        .await?;
    let started = bed.docker.start_exec(&exec.id, None).await;
    if let Ok(StartExecResults::Attached { mut output, .. }) = started {
        while futures_util::StreamExt::next(&mut output).await.is_some() {}
    }
    let exit = bed.docker.inspect_exec(&exec.id).await?.exit_code;
    assert_ne!(exit, Some(0), "the image has a shell");
    Ok(())
}
