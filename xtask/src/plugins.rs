//! Build the workspace's plugins and wrap them as components.

use crate::toolchain::{WasmToolchain, run};
use anyhow::{Context, Result, bail};
use std::fs;
use std::path::{Path, PathBuf};

/// Directories whose sub-directories may hold plugin crates.
const PLUGIN_PARENTS: &[&str] = &["plugins", "tests/plugins", "examples/plugins"];

/// A plugin crate found in the workspace.
#[derive(Debug)]
struct PluginCrate {
    /// The plugin's name (the component file is `<name>.wasm`).
    name: String,
    /// The cargo package name.
    package: String,
}

/// A built plugin component.
#[derive(Debug)]
pub struct BuiltPlugin {
    pub name: String,
    pub component: PathBuf,
    pub size: u64,
}

/// Build the plugins called `only` (every plugin when empty) in one cargo
/// invocation and write the components to `target/plugins/`.
pub fn build(root: &Path, toolchain: &WasmToolchain, only: &[String]) -> Result<Vec<BuiltPlugin>> {
    let mut crates = find_plugin_crates(root)?;
    if crates.is_empty() {
        bail!("no plugin crates found under {PLUGIN_PARENTS:?}");
    }
    if let Some(unknown) = only
        .iter()
        .find(|name| !crates.iter().any(|c| &c.name == *name))
    {
        bail!(
            "no plugin called `{unknown}` (plugins: {:?})",
            crates.iter().map(|c| c.name.as_str()).collect::<Vec<_>>()
        );
    }
    if !only.is_empty() {
        crates.retain(|plugin| only.contains(&plugin.name));
    }
    let target_dir = root.join("target").join("wasm");
    let mut build = toolchain.cargo_build();
    build
        .current_dir(root)
        .args(["--profile", "plugin", "--target-dir"])
        .arg(&target_dir);
    for plugin in &crates {
        build.args(["--package", &plugin.package]);
    }
    eprintln!("building {} plugin(s) with {toolchain}", crates.len());
    run(&mut build)?;

    let out_dir = root.join("target").join("plugins");
    fs::create_dir_all(&out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let core_dir = target_dir.join("wasm32-unknown-unknown").join("plugin");
    crates
        .iter()
        .map(|plugin| {
            let core = core_dir.join(format!("{}.wasm", plugin.package.replace('-', "_")));
            let component = out_dir.join(format!("{}.wasm", plugin.name));
            componentize(&core, &component)?;
            let size = fs::metadata(&component)?.len();
            Ok(BuiltPlugin {
                name: plugin.name.clone(),
                component,
                size,
            })
        })
        .collect()
}

/// Turn a core module carrying wit-bindgen's component-type section into a
/// component.
fn componentize(core: &Path, component: &Path) -> Result<()> {
    let module = fs::read(core).with_context(|| format!("reading {}", core.display()))?;
    let bytes = wit_component::ComponentEncoder::default()
        .module(&module)
        .with_context(|| format!("{} is not a plugin module", core.display()))?
        .validate(true)
        .encode()
        .with_context(|| format!("encoding {} as a component", core.display()))?;
    fs::write(component, bytes).with_context(|| format!("writing {}", component.display()))
}

fn find_plugin_crates(root: &Path) -> Result<Vec<PluginCrate>> {
    let mut found = Vec::new();
    for parent in PLUGIN_PARENTS {
        let dir = root.join(parent);
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        let mut manifests: Vec<PathBuf> = entries
            .filter_map(|entry| entry.ok())
            .map(|entry| entry.path().join("Cargo.toml"))
            .filter(|path| path.exists())
            .collect();
        manifests.sort();
        for manifest in manifests {
            if let Some(plugin) = read_plugin_crate(&manifest)? {
                found.push(plugin);
            }
        }
    }
    Ok(found)
}

fn read_plugin_crate(manifest: &Path) -> Result<Option<PluginCrate>> {
    let text =
        fs::read_to_string(manifest).with_context(|| format!("reading {}", manifest.display()))?;
    let value: toml::Table =
        toml::from_str(&text).with_context(|| format!("parsing {}", manifest.display()))?;
    let package = value.get("package").and_then(|p| p.as_table());
    let plugin_name = package
        .and_then(|p| p.get("metadata"))
        .and_then(|m| m.get("tongdao"))
        .and_then(|t| t.get("plugin"))
        .and_then(|n| n.as_str());
    let (Some(package), Some(name)) = (package, plugin_name) else {
        return Ok(None);
    };
    let package_name = package
        .get("name")
        .and_then(|n| n.as_str())
        .with_context(|| format!("{}: package.name is missing", manifest.display()))?;
    Ok(Some(PluginCrate {
        name: name.to_string(),
        package: package_name.to_string(),
    }))
}
