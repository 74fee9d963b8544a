//! `cargo xtask load [ARGS…]`: build the plugins, the release host and the
//! load harness, then run the harness (`tongdao-load --help` for ARGS).
//!
//! `cargo xtask plugins [NAME…]`: build every plugin in the workspace (or the
//! named ones) for
//! `wasm32-unknown-unknown` in one cargo invocation (one shared target dir, the
//! standard library built once) and wrap each core module as a component in
//! `target/plugins/<name>.wasm`.
//!
//! A plugin is a workspace crate whose Cargo.toml carries
//! `[package.metadata.tongdao] plugin = "<name>"`.
//!
//! The toolchain is chosen by `toolchain::WasmToolchain::detect`: a rustup
//! toolchain with the wasm32 target if there is one, otherwise Debian's
//! `rustc-web` with `-Zbuild-std` (see scripts/setup-wasm-toolchain).

mod plugins;
mod toolchain;

use anyhow::{Result, bail};
use std::path::PathBuf;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = workspace_root();
    match args.first().map(String::as_str) {
        Some("plugins") => {
            let toolchain = toolchain::WasmToolchain::detect()?;
            let built = plugins::build(&root, &toolchain, &args[1..])?;
            for plugin in built {
                println!(
                    "built plugin {} -> {} ({} bytes)",
                    plugin.name,
                    plugin.component.display(),
                    plugin.size
                );
            }
            Ok(())
        }
        Some("load") => {
            let toolchain = toolchain::WasmToolchain::detect()?;
            plugins::build(&root, &toolchain, &[])?;
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let status = std::process::Command::new(&cargo)
                .current_dir(&root)
                .args([
                    "build",
                    "--release",
                    "--locked",
                    "--bin",
                    "tongdao",
                    "--bin",
                    "tongdao-load",
                ])
                .status()?;
            if !status.success() {
                bail!("building the release host and harness failed");
            }
            let status = std::process::Command::new(root.join("target/release/tongdao-load"))
                .current_dir(&root)
                .args(&args[1..])
                .status()?;
            if !status.success() {
                bail!("the load harness failed");
            }
            Ok(())
        }
        Some("toolchain") => {
            let toolchain = toolchain::WasmToolchain::detect()?;
            println!("{toolchain}");
            Ok(())
        }
        _ => bail!(
            "usage: cargo xtask plugins [NAME…] | cargo xtask load [ARGS…] | cargo xtask toolchain"
        ),
    }
}

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}
