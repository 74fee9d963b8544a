//! Find a Rust toolchain that can build `wasm32-unknown-unknown`.

use anyhow::{Context, Result, bail};
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The Debian packages that provide a wasm-capable toolchain.
const DEBIAN_RUSTC: &str = "/usr/bin/rustc";
const DEBIAN_CARGO: &str = "/usr/bin/cargo";
const DEBIAN_STD_SOURCE: &str = "/usr/lib/rustlib/src/rust/library";

/// How plugins are compiled.
#[derive(Debug, Clone)]
pub enum WasmToolchain {
    /// A rustup toolchain with the `wasm32-unknown-unknown` target installed.
    Rustup,
    /// Debian's `rustc-web`: builds the standard library from source.
    DebianBuildStd { cargo: PathBuf, rustc: PathBuf },
}

impl WasmToolchain {
    /// Pick the toolchain: the rustup target where installed, else Debian's.
    /// `TONGDAO_WASM_TOOLCHAIN=rustup|debian` forces one.
    pub fn detect() -> Result<Self> {
        let wanted = std::env::var("TONGDAO_WASM_TOOLCHAIN").unwrap_or_default();
        if wanted != "debian" && rustup_has_wasm_target() {
            return Ok(WasmToolchain::Rustup);
        }
        let (cargo, rustc) = (PathBuf::from(DEBIAN_CARGO), PathBuf::from(DEBIAN_RUSTC));
        if wanted != "rustup"
            && cargo.exists()
            && rustc.exists()
            && Path::new(DEBIAN_STD_SOURCE).exists()
        {
            return Ok(WasmToolchain::DebianBuildStd { cargo, rustc });
        }
        bail!(
            "no Rust toolchain can build wasm32-unknown-unknown: install the rustup target \
             (`rustup target add wasm32-unknown-unknown`) or Debian's packages \
             (`scripts/setup-wasm-toolchain` installs rustc-web cargo-web rust-web-src lld-22)"
        )
    }

    /// A `cargo build` command for the wasm target, with the environment cleared
    /// of anything the calling cargo set for its own toolchain.
    pub fn cargo_build(&self) -> Command {
        match self {
            WasmToolchain::Rustup => {
                let mut command = Command::new("cargo");
                clear_cargo_env(&mut command);
                command.args(["build", "--target", "wasm32-unknown-unknown"]);
                command
            }
            WasmToolchain::DebianBuildStd { cargo, rustc } => {
                let mut command = Command::new(cargo);
                clear_cargo_env(&mut command);
                command
                    .env("RUSTC", rustc)
                    .env("RUSTC_BOOTSTRAP", "1")
                    .args(["build", "--target", "wasm32-unknown-unknown"])
                    .arg("-Zbuild-std=std,panic_abort");
                command
            }
        }
    }
}

impl fmt::Display for WasmToolchain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WasmToolchain::Rustup => write!(f, "rustup toolchain with wasm32-unknown-unknown"),
            WasmToolchain::DebianBuildStd { cargo, rustc } => write!(
                f,
                "Debian rustc-web ({} / {}) with -Zbuild-std",
                cargo.display(),
                rustc.display()
            ),
        }
    }
}

fn rustup_has_wasm_target() -> bool {
    Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map(|out| {
            out.status.success()
                && String::from_utf8_lossy(&out.stdout)
                    .lines()
                    .any(|line| line.trim() == "wasm32-unknown-unknown")
        })
        .unwrap_or(false)
}

/// Cargo sets these for build scripts and `cargo run`; a nested cargo for
/// another toolchain must not inherit them.
fn clear_cargo_env(command: &mut Command) {
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if key.starts_with("CARGO_") && key != "CARGO_HOME" || key.starts_with("RUSTUP_") {
            command.env_remove(key.as_ref());
        }
    }
    for key in [
        "RUSTC",
        "RUSTDOC",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO",
    ] {
        command.env_remove(key);
    }
}

/// Run a command, failing with its full command line on a non-zero exit.
pub fn run(command: &mut Command) -> Result<()> {
    let status = command
        .status()
        .with_context(|| format!("could not start {command:?}"))?;
    if !status.success() {
        bail!("{command:?} failed with {status}");
    }
    Ok(())
}
