//! A plugin's static manifest is the authority: the real host refuses to
//! start with a component whose describe() disagrees with its
//! `tongdao-plugin.toml` (here, a manifest that promises fewer egress hosts
//! and other credentials than the WeChat plugin asks for), names the file
//! of a manifest that belongs to another plugin, and starts with the
//! bundled manifests, which every other end-to-end test uses. A manifest
//! that names another contract version than the component exports is
//! refused the same way.

use tongdao::config::Config;
use tongdao_e2e::harness::{plugin_component, workspace};

fn config_text(plugin: &str, manifest: &std::path::Path) -> String {
    format!(
        "[server]\nlisten = \"127.0.0.1:0\"\ndata_dir = \"data\"\n\n[[plugins]]\nname = \"{plugin}\"\ncomponent = \"{}\"\nmanifest = \"{}\"\n",
        plugin_component(plugin).display(),
        manifest.display()
    )
}

async fn start(dir: &std::path::Path, manifest_text: &str) -> Result<(), String> {
    start_plugin(dir, "wechat", manifest_text).await
}

async fn start_plugin(
    dir: &std::path::Path,
    plugin: &str,
    manifest_text: &str,
) -> Result<(), String> {
    let manifest = dir.join("tongdao-plugin.toml");
    std::fs::write(&manifest, manifest_text).unwrap();
    let path = dir.join("brand.toml");
    let text = config_text(plugin, &manifest);
    std::fs::write(&path, &text).unwrap();
    let config = Config::parse(&path, &text).map_err(|err| err.to_string())?;
    let host = tongdao::server::start(config)
        .await
        .map_err(|err| format!("{err:#}"))?;
    host.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_component_that_disagrees_with_its_manifest_is_refused() {
    let bundled =
        std::fs::read_to_string(workspace().join("plugins/wechat/tongdao-plugin.toml")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    start(dir.path(), &bundled)
        .await
        .expect("the bundled manifest matches the built plugin");

    let narrower = bundled
        .replace(
            "egress_hosts = [\"api.weixin.qq.com\"]",
            "egress_hosts = []",
        )
        .replace("name = \"encoding_aes_key\"", "name = \"aes_key\"");
    let dir = tempfile::tempdir().unwrap();
    let err = start(dir.path(), &narrower).await.unwrap_err();
    assert!(
        err.contains("disagrees with its tongdao-plugin.toml"),
        "{err}"
    );
    assert!(
        err.contains(
            "egress_hosts: tongdao-plugin.toml says {}, describe() says {\"api.weixin.qq.com\"}"
        ),
        "{err}"
    );
    assert!(err.contains("credentials:"), "{err}");

    let newer = bundled.replace("version = \"0.1.0\"", "version = \"0.2.0\"");
    let dir = tempfile::tempdir().unwrap();
    let err = start(dir.path(), &newer).await.unwrap_err();
    assert!(
        err.contains("version: tongdao-plugin.toml says 0.2.0"),
        "{err}"
    );

    // A 0.1.0 component whose manifest says it targets 0.2.0.
    let other_contract = bundled.replace("tongdao:channel@0.1.0", "tongdao:channel@0.2.0");
    let dir = tempfile::tempdir().unwrap();
    let err = start(dir.path(), &other_contract).await.unwrap_err();
    assert!(
        err.contains(
            "wit: tongdao-plugin.toml says tongdao:channel@0.2.0, the component exports tongdao:channel@0.1.0"
        ),
        "{err}"
    );

    // A 0.2.0 component whose manifest does not mark a secret it keeps.
    let signer =
        std::fs::read_to_string(workspace().join("tests/plugins/signer/tongdao-plugin.toml"))
            .unwrap();
    let unmarked = signer.replacen("secret = true", "", 1);
    let dir = tempfile::tempdir().unwrap();
    let err = start_plugin(dir.path(), "signer", &unmarked)
        .await
        .unwrap_err();
    assert!(
        err.contains("credentials:") && err.contains("signing_key"),
        "{err}"
    );
    start_plugin(tempfile::tempdir().unwrap().path(), "signer", &signer)
        .await
        .expect("the signer's manifest matches it");

    let someone_else = bundled.replace("name = \"wechat\"", "name = \"wecom\"");
    let dir = tempfile::tempdir().unwrap();
    let err = start(dir.path(), &someone_else).await.unwrap_err();
    assert!(err.contains("brand.toml:8: plugins.manifest"), "{err}");
    assert!(
        err.contains("is the manifest of `wecom`, not `wechat`"),
        "{err}"
    );
}
