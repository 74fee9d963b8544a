//! Compiled components cached on disk, keyed by the component's SHA-256 and
//! the engine's compatibility hash, so restarts skip Cranelift.

use sha2::{Digest, Sha256};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::Path;
use wasmtime::Engine;
use wasmtime::component::Component;

/// SHA-256 of `bytes`, hex.
pub fn digest(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Load the compiled form of `bytes` from `cache_dir`, or compile it and
/// store the result there.
pub fn load_or_compile(
    engine: &Engine,
    bytes: &[u8],
    digest: &str,
    cache_dir: Option<&Path>,
) -> wasmtime::Result<Component> {
    let Some(dir) = cache_dir else {
        return Component::new(engine, bytes);
    };
    let mut hasher = DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    let path = dir.join(format!("{digest}-{:016x}.cwasm", hasher.finish()));
    if path.exists() {
        // SAFETY: the file was written by `Component::serialize` below into
        // the host's own data directory; the name pins the input's digest and
        // the engine's configuration, and wasmtime checks the header.
        match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(component) => return Ok(component),
            Err(err) => tracing::warn!(
                path = %path.display(),
                error = %err,
                "discarding an unusable compiled-component cache entry"
            ),
        }
    }
    let component = Component::new(engine, bytes)?;
    let compiled = component.serialize()?;
    std::fs::create_dir_all(dir)?;
    let temporary = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&temporary, compiled)?;
    std::fs::rename(&temporary, &path)?;
    Ok(component)
}
