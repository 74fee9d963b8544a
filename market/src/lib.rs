//! tongdao's plugin packages and the trust behind them.
//!
//! - [`manifest`]: `tongdao-plugin.toml`, the static manifest, which is the
//!   authority on what a plugin is and asks for.
//! - [`package`]: the `.tdpkg` archive (gzip'd tar) with the component, the
//!   manifest, README and licence, `release.json` (the sha256 of every
//!   file) and its signatures.
//! - [`keys`]: Ed25519 keys, signatures and their file forms.
//! - [`trust`]: the marketplace's signed documents: `keys.json` (publisher
//!   and marketplace keys, signed by pinned root keys), `timestamp.json`
//!   (expires; its version only goes up) and `revoked.json`.
//! - [`verify`]: every check a package passes before it is installed or
//!   loaded, offline.
//! - [`index`]: the sparse index, one JSON line per version.
//! - [`registry`]: a marketplace kept in a directory, as its operator runs
//!   it (publish, countersign, revoke, refresh).

pub mod index;
pub mod keys;
pub mod manifest;
pub mod package;
pub mod registry;
pub mod release;
pub mod trust;
pub mod verify;

/// Why a package, a key or a marketplace document was refused.
#[derive(Debug, thiserror::Error)]
pub enum MarketError {
    /// The manifest is malformed or says something impossible.
    #[error("tongdao-plugin.toml: {0}")]
    Manifest(String),
    /// The archive is not a well-formed package.
    #[error("package: {0}")]
    Package(String),
    /// A file's content does not match what `release.json` pins.
    #[error("tampered: {0}")]
    Tampered(String),
    /// A signature is missing, malformed or does not verify.
    #[error("signature: {0}")]
    Signature(String),
    /// A key is unknown, revoked or outside its validity.
    #[error("key: {0}")]
    Key(String),
    /// A marketplace document is stale, expired or older than one seen.
    #[error("freshness: {0}")]
    Freshness(String),
    /// The release was withdrawn.
    #[error("revoked: {0}")]
    Revoked(String),
    /// A document cannot be read.
    #[error("{0}")]
    Malformed(String),
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
}

/// The contract version a `wit` string names: `tongdao:channel@0.1.0` →
/// 0.1.0.
pub fn wit_version(wit: &str) -> Option<semver::Version> {
    semver::Version::parse(wit.strip_prefix("tongdao:channel@")?).ok()
}

/// The SHA-256 of `bytes`, in lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    #[test]
    fn wit_versions_are_read_from_the_package_name() {
        assert_eq!(
            super::wit_version("tongdao:channel@0.2.0"),
            Some(semver::Version::new(0, 2, 0))
        );
        assert_eq!(super::wit_version("wasi:http@0.2.0"), None);
    }
}
