//! `tongdao plugin new` on the real binary: inside the workspace it writes
//! exactly the starter plugin that the workspace builds and tests
//! (`examples/plugins/starter`); outside, a crate of its own on the SDK by
//! path, with the name put in. The built starter loads with its manifest
//! and its recorded push replays into a customer's message.

use std::path::{Path, PathBuf};

mod common;
use common::{ok, tongdao, workspace};

fn files(root: &Path) -> Vec<(String, Vec<u8>)> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n != "target") {
                    stack.push(path);
                }
            } else {
                let relative = path.strip_prefix(root).unwrap().display().to_string();
                found.push((relative, std::fs::read(&path).unwrap()));
            }
        }
    }
    found.sort();
    found
}

#[test]
fn the_scaffold_is_the_starter_plugin_and_the_starter_builds_loads_and_replays() {
    // Inside the workspace: byte for byte the starter.
    let inside = workspace().join(format!("target/scaffold-{}", std::process::id()));
    std::fs::create_dir_all(&inside).unwrap();
    ok(&[
        "plugin",
        "new",
        "starter",
        "--dir",
        inside.to_str().unwrap(),
    ]);
    let made = files(&inside.join("starter"));
    let starter = files(&workspace().join("examples/plugins/starter"));
    std::fs::remove_dir_all(&inside).unwrap();
    assert_eq!(
        made.iter().map(|f| &f.0).collect::<Vec<_>>(),
        starter.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    for ((name, bytes), (_, expected)) in made.iter().zip(&starter) {
        assert!(
            bytes == expected,
            "{name} differs from examples/plugins/starter"
        );
    }

    // Outside: its own crate, on the SDK by path, named as asked.
    let outside = tempfile::tempdir().unwrap();
    let root = ok(&[
        "plugin",
        "new",
        "shop-bot",
        "--dir",
        outside.path().to_str().unwrap(),
    ]);
    let root = PathBuf::from(root.trim());
    let cargo = std::fs::read_to_string(root.join("Cargo.toml")).unwrap();
    assert!(
        cargo.contains("name = \"tongdao-plugin-shop-bot\""),
        "{cargo}"
    );
    assert!(
        cargo.contains("tongdao-sdk = { path = \"") && cargo.contains("[workspace]"),
        "{cargo}"
    );
    let lib = std::fs::read_to_string(root.join("src/lib.rs")).unwrap();
    assert!(lib.contains("pub struct ShopBot;") && lib.contains("export_channel!(ShopBot);"));
    let manifest = std::fs::read_to_string(root.join("tongdao-plugin.toml")).unwrap();
    assert_eq!(
        tongdao_market::manifest::Manifest::parse(&manifest)
            .unwrap()
            .name,
        "shop-bot"
    );
    let again = tongdao(&[
        "plugin",
        "new",
        "shop-bot",
        "--dir",
        outside.path().to_str().unwrap(),
    ]);
    assert!(!again.status.success(), "never over an existing plugin");
    let bad = tongdao(&[
        "plugin",
        "new",
        "Shop_Bot",
        "--dir",
        outside.path().to_str().unwrap(),
    ]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("lowercase"));

    // The built starter loads with its manifest and replays its push.
    let config = outside.path().join("brand.toml");
    std::fs::write(
        &config,
        format!(
            "[[plugins]]\nname = \"starter\"\ncomponent = \"{}\"\nmanifest = \"{}\"\n\n[[shops]]\nid = \"demo-starter\"\nplugin = \"starter\"\negress = [\"api.example.com\"]\ncredentials = {{ token = \"demo-starter-token\" }}\n",
            workspace().join("target/plugins/starter.wasm").display(),
            workspace().join("examples/plugins/starter/tongdao-plugin.toml").display(),
        ),
    )
    .unwrap();
    ok(&["check", "--config", config.to_str().unwrap()]);
    let replayed = ok(&[
        "replay",
        "--config",
        config.to_str().unwrap(),
        "--shop",
        "demo-starter",
        workspace()
            .join("examples/plugins/starter/fixtures/push.http")
            .to_str()
            .unwrap(),
    ]);
    assert!(
        replayed.contains("今天能发货吗") && replayed.contains("\"u1\""),
        "{replayed}"
    );
}
