//! `release.json`: the statement a publisher signs. It names the release
//! (plugin, version, publisher, contract) and pins the SHA-256 and size of
//! every other file in the package, so one signature covers the component,
//! the manifest, the README and the licence. Signatures are over the file's
//! exact bytes, so no canonical form is needed.
//!
//! The marketplace's countersignature, `release.json.msig`, adds when it
//! reviewed the release and signs that time together with the statement's
//! digest: key validity and revocation are judged at that time, which the
//! publisher cannot backdate.

use crate::MarketError;
use crate::keys::{SecretKey, Signatures};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The statement's file name.
pub const FILE: &str = "release.json";
/// The publisher's signatures of it.
pub const SIGNATURE_FILE: &str = "release.json.sig";
/// The marketplace's countersignature.
pub const COUNTERSIGNATURE_FILE: &str = "release.json.msig";

/// One pinned file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PinnedFile {
    /// Its SHA-256, hex.
    pub sha256: String,
    /// Its size, bytes.
    pub size: u64,
}

/// `release.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Release {
    /// The plugin.
    pub name: String,
    /// Its version.
    pub version: semver::Version,
    /// Its publisher.
    pub publisher: String,
    /// The contract it targets.
    pub wit: String,
    /// The lowest host version that runs it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_host: Option<semver::Version>,
    /// Every other file of the package, by name.
    pub files: BTreeMap<String, PinnedFile>,
    /// When the publisher packed it, Unix milliseconds.
    pub published_ms: i64,
}

impl Release {
    /// Reads the statement's bytes.
    pub fn parse(bytes: &[u8]) -> Result<Release, MarketError> {
        serde_json::from_slice(bytes)
            .map_err(|err| MarketError::Package(format!("{FILE} cannot be read: {err}")))
    }

    /// The statement's bytes (what is signed).
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).expect("a release serializes")
    }
}

/// `release.json.msig`: the marketplace's review, at a time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Countersignature {
    /// When the marketplace reviewed and signed it, Unix milliseconds.
    pub countersigned_ms: i64,
    /// The marketplace's signatures of [`countersigned_message`].
    #[serde(flatten)]
    pub signatures: Signatures,
}

/// What a countersignature signs: the statement's digest and the time.
pub fn countersigned_message(release_bytes: &[u8], countersigned_ms: i64) -> Vec<u8> {
    format!(
        "tongdao countersignature\n{}\n{countersigned_ms}\n",
        crate::sha256_hex(release_bytes)
    )
    .into_bytes()
}

impl Countersignature {
    /// The marketplace's key signs `release_bytes` at `now_ms`.
    pub fn sign(key: &SecretKey, release_bytes: &[u8], now_ms: i64) -> Countersignature {
        Countersignature {
            countersigned_ms: now_ms,
            signatures: Signatures {
                signatures: vec![key.sign(&countersigned_message(release_bytes, now_ms))],
            },
        }
    }

    /// Reads the file's bytes.
    pub fn parse(bytes: &[u8]) -> Result<Countersignature, MarketError> {
        serde_json::from_slice(bytes).map_err(|err| {
            MarketError::Signature(format!("{COUNTERSIGNATURE_FILE} cannot be read: {err}"))
        })
    }

    /// The file's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).expect("a countersignature serializes")
    }
}
