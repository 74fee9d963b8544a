//! Plugin swaps under load (`--plugin-swaps`): before the host starts, a
//! marketplace in the work directory publishes the WeChat plugin twice
//! (`0.1.0` and `0.1.0+r2`, the same built component under two signed
//! releases), and the host's config pins its root. While the driver sends,
//! the shop's plugin is installed from it over the admin API, then upgraded
//! and rolled back, again and again; the audit then shows whether any
//! message was lost or answered twice through the swaps.

use anyhow::Context;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;
use tongdao_market::keys::SecretKey;
use tongdao_market::package::Package;
use tongdao_market::registry::Registry;

/// The admin token the host is configured with.
pub const ADMIN_TOKEN: &str = "load-harness-admin-token-0001";

/// How often the shop's plugin changes.
const EVERY: Duration = Duration::from_millis(150);

/// The admin token's line for the config's `[admin]` section.
pub fn admin_token_line() -> String {
    format!("token = \"{ADMIN_TOKEN}\"\n")
}

/// Creates the marketplace in `dir`; returns the config's `[market]`
/// section.
pub fn prepare(workspace: &Path, dir: &Path) -> anyhow::Result<String> {
    let now = tongdao::clock::now_ms();
    let (market, keys) = (dir.join("market"), dir.join("market-keys"));
    let _ = std::fs::remove_dir_all(&market);
    let _ = std::fs::remove_dir_all(&keys);
    let root = Registry::init(&market, &keys, now)?;
    let registry = Registry::open(&market, &keys)?;
    let isv = SecretKey::generate();
    registry.add_publisher("tongdao", isv.public(), vec!["wechat".into()], now)?;
    let manifest = std::fs::read_to_string(workspace.join("plugins/wechat/tongdao-plugin.toml"))
        .context("the WeChat plugin's manifest")?;
    let component = std::fs::read(workspace.join("target/plugins/wechat.wasm"))
        .context("the built WeChat plugin")?;
    for version in ["0.1.0", "0.1.0+r2"] {
        let mut package = Package::pack(
            component.clone(),
            &manifest.replace("version = \"0.1.0\"", &format!("version = \"{version}\"")),
            b"# wechat\n".to_vec(),
            b"Apache-2.0\n".to_vec(),
            None,
            now,
        )?;
        package.sign(&isv)?;
        registry.publish(package, now)?;
    }
    Ok(format!(
        "[market]\nsource = \"{}\"\nroots = [\"{root}\"]\n\n",
        market.display()
    ))
}

async fn post(target: SocketAddr, path: &str, body: &str) -> anyhow::Result<u16> {
    let stream = tokio::net::TcpStream::connect(target).await?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let request = hyper::Request::post(path)
        .header(hyper::header::HOST, target.to_string())
        .header(
            hyper::header::AUTHORIZATION,
            format!("Bearer {ADMIN_TOKEN}"),
        )
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body.to_owned())))?;
    let response = sender.send_request(request).await?;
    let status = response.status().as_u16();
    let text = response.into_body().collect().await?.to_bytes();
    anyhow::ensure!(
        status == 200,
        "{path}: {status} {}",
        String::from_utf8_lossy(&text)
    );
    Ok(status)
}

/// Installs, upgrades and rolls back `shop`'s plugin until `done`; returns
/// how many swaps succeeded.
pub async fn run(
    target: SocketAddr,
    shop: &str,
    mut done: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<u64> {
    let base = format!("/admin/plugins/{shop}");
    post(
        target,
        &format!("{base}/install"),
        r#"{"name":"wechat","version":"0.1.0","grant":true}"#,
    )
    .await?;
    let mut swaps = 1;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(EVERY) => {}
            _ = done.changed() => return Ok(swaps),
        }
        let (path, body) = if swaps % 2 == 1 {
            (format!("{base}/upgrade"), "{}")
        } else {
            (format!("{base}/rollback"), r#"{"version":"0.1.0"}"#)
        };
        post(target, &path, body).await?;
        swaps += 1;
    }
}
