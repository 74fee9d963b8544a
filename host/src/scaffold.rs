//! `tongdao plugin new NAME`: a plugin crate from the starter template
//! (`examples/plugins/starter`, embedded in the binary), with the name put
//! in. The starter is built and tested with the workspace, so what the
//! command writes is known to build, pass its tests and load.

use anyhow::Context;
use std::path::{Path, PathBuf};

/// The starter's files, by path.
const FILES: [(&str, &str); 7] = [
    (
        "Cargo.toml",
        include_str!("../../examples/plugins/starter/Cargo.toml"),
    ),
    (
        "README.md",
        include_str!("../../examples/plugins/starter/README.md"),
    ),
    (
        "LICENSE",
        include_str!("../../examples/plugins/starter/LICENSE"),
    ),
    (
        "src/lib.rs",
        include_str!("../../examples/plugins/starter/src/lib.rs"),
    ),
    (
        "tongdao-plugin.toml",
        include_str!("../../examples/plugins/starter/tongdao-plugin.toml"),
    ),
    (
        "fixtures/push.http",
        include_str!("../../examples/plugins/starter/fixtures/push.http"),
    ),
    (
        ".gitignore",
        include_str!("../../examples/plugins/starter/.gitignore"),
    ),
];

fn camel(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut chars = part.chars();
            match chars.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

/// The workspace root above `dir` whose manifest declares `tongdao-sdk`.
fn workspace_with_sdk(dir: &Path) -> Option<PathBuf> {
    let mut at = std::fs::canonicalize(dir).ok()?;
    loop {
        let manifest = at.join("Cargo.toml");
        if let Ok(text) = std::fs::read_to_string(&manifest)
            && text.contains("[workspace.dependencies]")
            && text.contains("tongdao-sdk")
        {
            return Some(at);
        }
        if !at.pop() {
            return None;
        }
    }
}

/// Writes the plugin `name` into `dir/name`; returns that directory.
pub fn create(name: &str, dir: &Path, sdk: Option<&Path>) -> anyhow::Result<PathBuf> {
    anyhow::ensure!(
        !name.is_empty()
            && name.len() <= 40
            && name.starts_with(|c: char| c.is_ascii_lowercase())
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
        "`{name}` must start with a letter and be lowercase letters, digits and `-`"
    );
    let root = dir.join(name);
    anyhow::ensure!(!root.exists(), "{} already exists", root.display());
    let dependency = match (sdk, workspace_with_sdk(dir)) {
        (Some(sdk), _) => {
            let sdk = std::fs::canonicalize(sdk)
                .with_context(|| format!("the SDK at {}", sdk.display()))?;
            Some(format!("tongdao-sdk = {{ path = \"{}\" }}", sdk.display()))
        }
        (None, Some(_)) => None,
        (None, None) => {
            let bundled = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk");
            let sdk = std::fs::canonicalize(&bundled).with_context(|| {
                format!(
                    "{} is in no workspace with tongdao-sdk: pass --sdk PATH",
                    dir.display()
                )
            })?;
            Some(format!("tongdao-sdk = {{ path = \"{}\" }}", sdk.display()))
        }
    };
    for (path, template) in FILES {
        let mut text = template
            .replace("Starter", &camel(name))
            .replace("starter", name);
        if path == "Cargo.toml"
            && let Some(dependency) = &dependency
        {
            text = text.replace("tongdao-sdk.workspace = true", dependency);
            text.push_str("\n# A plugin of its own, outside any workspace.\n[workspace]\n");
        }
        let target = root.join(path);
        std::fs::create_dir_all(target.parent().expect("a parent"))
            .with_context(|| format!("creating {}", root.display()))?;
        std::fs::write(&target, text).with_context(|| format!("writing {}", target.display()))?;
    }
    Ok(root)
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_become_types() {
        assert_eq!(super::camel("shop-bot"), "ShopBot");
        assert_eq!(super::camel("starter"), "Starter");
    }
}
