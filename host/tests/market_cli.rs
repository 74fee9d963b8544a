//! The marketplace's commands on the real `tongdao` binary, as an ISV and a
//! marketplace operator use them: a key, a package packed from the built
//! WeChat plugin, signed, published to a local marketplace, served over
//! HTTP, found by search and verified against the pinned root key; and the
//! refusals: an unsigned package is not published, a tampered one does not
//! verify, a withdrawn release does not verify, a forged root is not
//! trusted.

use std::path::{Path, PathBuf};
use std::process::Command;
use tongdao_market::package::Package;

mod common;
use common::{ok, refused, tongdao};

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The bundled WeChat plugin's manifest, which its describe() matches.
fn manifest() -> String {
    std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../plugins/wechat/tongdao-plugin.toml"),
    )
    .unwrap()
}

fn plugin_dir(root: &Path) -> PathBuf {
    let dir = root.join("wechat-plugin");
    std::fs::create_dir_all(&dir).unwrap();
    let built = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/plugins/wechat.wasm");
    std::fs::copy(&built, dir.join("plugin.wasm")).unwrap_or_else(|err| {
        panic!(
            "{}: {err}: run scripts/build-plugins first",
            built.display()
        )
    });
    std::fs::write(dir.join("tongdao-plugin.toml"), manifest()).unwrap();
    std::fs::write(dir.join("README.md"), "# wechat\n").unwrap();
    std::fs::write(dir.join("LICENSE"), "Apache-2.0\n").unwrap();
    dir
}

#[test]
fn an_isv_publishes_to_a_local_marketplace_and_a_brand_verifies_what_it_serves() {
    let work = tempfile::tempdir().unwrap();
    let (market, operator_keys) = (
        work.path().join("market"),
        work.path().join("operator-keys"),
    );
    let isv_key = work.path().join("isv.key");

    let public = ok(&["plugin", "keygen", "--out", path(&isv_key)]);
    let public = public.trim();
    assert!(public.starts_with("ed25519:"), "{public}");
    let root = ok(&[
        "market",
        "init",
        path(&market),
        "--keys",
        path(&operator_keys),
    ]);
    let root = root.trim().to_owned();
    ok(&[
        "market",
        "add-publisher",
        path(&market),
        "--keys",
        path(&operator_keys),
        "--publisher",
        "tongdao",
        "--key",
        public,
        "--name",
        "wechat",
    ]);

    let dir = plugin_dir(work.path());
    let package = work.path().join("wechat-0.1.0.tdpkg");
    ok(&["plugin", "pack", path(&dir), "--out", path(&package)]);
    let unsigned = refused(&[
        "market",
        "publish",
        path(&package),
        "--market",
        path(&market),
        "--keys",
        path(&operator_keys),
    ]);
    assert!(unsigned.contains("unsigned"), "{unsigned}");
    ok(&["plugin", "sign", path(&package), "--key", path(&isv_key)]);
    let line = ok(&[
        "market",
        "publish",
        path(&package),
        "--market",
        path(&market),
        "--keys",
        path(&operator_keys),
    ]);
    assert!(line.contains("\"vers\":\"0.1.0\""), "{line}");

    // Served over HTTP: search finds it, and what is served verifies.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let _server = Server(
        Command::new(env!("CARGO_BIN_EXE_tongdao"))
            .args(["market", "serve", path(&market), "--listen", &listen])
            .spawn()
            .unwrap(),
    );
    let url = format!("http://{listen}/");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::net::TcpStream::connect(&listen).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "the marketplace did not listen"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let found = ok(&[
        "market", "search", "微信", "--market", &url, "--name", "wechat",
    ]);
    assert!(
        found.starts_with("wechat 0.1.0\ttongdao:channel@0.1.0\tby tongdao"),
        "{found}"
    );
    let published = market.join("packages/wechat/wechat-0.1.0.tdpkg");
    let verified = ok(&[
        "plugin",
        "verify",
        path(&published),
        "--market",
        &url,
        "--root",
        &root,
    ]);
    assert!(
        verified.contains("api.weixin.qq.com"),
        "the permission prompt: {verified}"
    );
    assert!(
        verified.contains("countersigned by the marketplace"),
        "{verified}"
    );

    // A brand installs it on a shop from the served marketplace: the
    // prompt first, then with --yes; list shows it; upgrade and rollback.
    let brand = work.path().join("brand.toml");
    std::fs::write(
        &brand,
        format!(
            "[server]\ndata_dir = \"data\"\n\n[market]\nsource = \"{url}\"\nroots = [\"{root}\"]\n\n[[shops]]\nid = \"demo-oa\"\nplugin = \"wechat\"\negress = [\"api.weixin.qq.com\"]\ncredentials = {{ app_id = \"wx1\", app_secret = \"s\", token = \"t\" }}\n"
        ),
    )
    .unwrap();
    let prompt = tongdao(&[
        "plugin",
        "install",
        "wechat",
        "--shop",
        "demo-oa",
        "--config",
        path(&brand),
    ]);
    assert_eq!(
        prompt.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&prompt.stderr)
    );
    let shown = String::from_utf8_lossy(&prompt.stdout);
    assert!(
        shown.contains("可向以下地址发送请求") && shown.contains("api.weixin.qq.com"),
        "{shown}"
    );
    assert!(String::from_utf8_lossy(&prompt.stderr).contains("--yes"));
    ok(&[
        "plugin",
        "install",
        "wechat",
        "--shop",
        "demo-oa",
        "--config",
        path(&brand),
        "--yes",
    ]);
    let listed = ok(&["plugin", "list", "--config", path(&brand)]);
    assert!(
        listed.starts_with("demo-oa\twechat 0.1.0\tinstalled"),
        "{listed}"
    );
    let latest = refused(&[
        "plugin",
        "upgrade",
        "--shop",
        "demo-oa",
        "--config",
        path(&brand),
    ]);
    assert!(latest.contains("is the latest"), "{latest}");
    std::fs::write(
        dir.join("tongdao-plugin.toml"),
        manifest().replace("version = \"0.1.0\"", "version = \"0.1.0+r2\""),
    )
    .unwrap();
    let second = work.path().join("wechat-r2.tdpkg");
    ok(&["plugin", "pack", path(&dir), "--out", path(&second)]);
    ok(&["plugin", "sign", path(&second), "--key", path(&isv_key)]);
    ok(&[
        "market",
        "publish",
        path(&second),
        "--market",
        path(&market),
        "--keys",
        path(&operator_keys),
    ]);
    ok(&[
        "plugin",
        "upgrade",
        "--shop",
        "demo-oa",
        "--config",
        path(&brand),
    ]);
    let older = refused(&[
        "plugin",
        "install",
        "wechat@0.1.0",
        "--shop",
        "demo-oa",
        "--config",
        path(&brand),
        "--yes",
    ]);
    assert!(older.contains("needs `rollback`"), "{older}");
    ok(&[
        "plugin",
        "rollback",
        "--shop",
        "demo-oa",
        "--to",
        "0.1.0",
        "--config",
        path(&brand),
    ]);
    let listed = ok(&["plugin", "list", "--config", path(&brand)]);
    assert!(
        listed.contains("wechat 0.1.0\t") && listed.contains("can roll back to: 0.1.0+r2"),
        "{listed}"
    );
    let ran = ok(&["check", "--config", path(&brand)]);
    let _ = ran;

    // A forged root is not trusted.
    let forged = ok(&[
        "plugin",
        "keygen",
        "--out",
        path(&work.path().join("forged.key")),
    ]);
    let err = refused(&[
        "plugin",
        "verify",
        path(&published),
        "--market",
        &url,
        "--root",
        forged.trim(),
    ]);
    assert!(
        err.contains("keys.json is signed by 0 pinned root key(s)"),
        "{err}"
    );

    // A tampered component does not verify.
    let mut tampered = Package::read_file(&published).unwrap();
    let mut wasm = tampered.component().to_vec();
    let last = wasm.len() - 1;
    wasm[last] ^= 1;
    tampered.replace_raw("plugin.wasm", wasm);
    let tampered_path = work.path().join("tampered.tdpkg");
    tampered.write_file(&tampered_path).unwrap();
    let err = refused(&[
        "plugin",
        "verify",
        path(&tampered_path),
        "--market",
        &url,
        "--root",
        &root,
    ]);
    assert!(
        err.contains("tampered") && err.contains("plugin.wasm"),
        "{err}"
    );

    // Withdrawn, it no longer verifies.
    ok(&[
        "market",
        "revoke",
        "wechat@0.1.0",
        "--market",
        path(&market),
        "--keys",
        path(&operator_keys),
        "--reason",
        "leaks the access token",
    ]);
    let err = refused(&[
        "plugin",
        "verify",
        path(&published),
        "--market",
        &url,
        "--root",
        &root,
    ]);
    assert!(
        err.contains("withdrawn") && err.contains("leaks the access token"),
        "{err}"
    );
}

/// The marketplace server, stopped when the test ends however it ends.
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
