//! What the tests that run the `tongdao` binary share: the workspace root,
//! and running a command that must succeed or must fail.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Output};

/// The workspace root.
pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs `tongdao ARGS` from the workspace root, quietly.
pub fn tongdao(args: &[&str]) -> Output {
    assert!(
        workspace().join("target/plugins/wechat.wasm").exists(),
        "build the plugins first with `scripts/build-plugins` (scripts/test does this)"
    );
    Command::new(env!("CARGO_BIN_EXE_tongdao"))
        .args(args)
        .current_dir(workspace())
        .env("TONGDAO_LOG", "warn")
        .output()
        .expect("running tongdao")
}

/// Runs a command that must succeed; its standard output.
pub fn ok(args: &[&str]) -> String {
    let output = tongdao(args);
    assert!(
        output.status.success(),
        "tongdao {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Runs a command that must fail; its error output.
pub fn refused(args: &[&str]) -> String {
    let output = tongdao(args);
    assert!(
        !output.status.success(),
        "tongdao {args:?} should have failed"
    );
    String::from_utf8(output.stderr).unwrap()
}
