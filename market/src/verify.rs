//! Every check a package passes before a host installs or loads it, all
//! offline:
//!
//! 1. every file `release.json` pins is there with its SHA-256 and size,
//!    and nothing else is (a tampered component, manifest, README or
//!    licence is refused);
//! 2. the manifest names the same plugin, version, publisher and contract
//!    as the statement;
//! 3. a key of that publisher in the marketplace's `keys.json` signed the
//!    statement, and the key may publish that name;
//! 4. a marketplace key countersigned it, and both keys were valid and not
//!    revoked when it did (a key revoked later leaves older releases valid);
//! 5. `revoked.json` does not withdraw it.

use crate::MarketError;
use crate::keys::{PublicKey, Signatures};
use crate::manifest::{self, Manifest};
use crate::package::Package;
use crate::release::{self, Countersignature, Release};
use crate::trust::Trust;

/// How far in the future a countersignature may be dated (clock skew).
const SKEW_MS: i64 = 5 * 60 * 1000;

/// A package that passed every check.
#[derive(Debug, Clone)]
pub struct Verified {
    /// Its manifest.
    pub manifest: Manifest,
    /// Its statement.
    pub release: Release,
    /// The component's SHA-256.
    pub component_sha256: String,
    /// The publisher's key that signed it.
    pub publisher_key: String,
    /// When the marketplace countersigned it.
    pub countersigned_ms: i64,
}

/// Checks `package` against a verified marketplace snapshot at `now_ms`.
pub fn verify(package: &Package, trust: &Trust, now_ms: i64) -> Result<Verified, MarketError> {
    let release = package.release()?;
    let label = format!("{} {}", release.name, release.version);
    for name in package.names() {
        let signature_file = [
            release::FILE,
            release::SIGNATURE_FILE,
            release::COUNTERSIGNATURE_FILE,
        ]
        .contains(&name);
        if !signature_file && !release.files.contains_key(name) {
            return Err(MarketError::Tampered(format!(
                "{label}: `{name}` is in the package but not in {}",
                release::FILE
            )));
        }
    }
    for (name, pinned) in &release.files {
        let Some(bytes) = package.file(name) else {
            return Err(MarketError::Tampered(format!(
                "{label}: `{name}` is pinned by {} but missing",
                release::FILE
            )));
        };
        let actual = crate::sha256_hex(bytes);
        if actual != pinned.sha256 || bytes.len() as u64 != pinned.size {
            return Err(MarketError::Tampered(format!(
                "{label}: `{name}` has SHA-256 {actual} ({} bytes), {} pins {} ({} bytes)",
                bytes.len(),
                release::FILE,
                pinned.sha256,
                pinned.size
            )));
        }
    }
    let manifest = package.manifest()?;
    if (
        &manifest.name,
        &manifest.version,
        &manifest.publisher,
        &manifest.wit,
    ) != (
        &release.name,
        &release.version,
        &release.publisher,
        &release.wit,
    ) {
        return Err(MarketError::Tampered(format!(
            "{label}: {} says {} {} by {} for {}, {} says {} {} by {} for {}",
            manifest::FILE,
            manifest.name,
            manifest.version,
            manifest.publisher,
            manifest.wit,
            release::FILE,
            release.name,
            release.version,
            release.publisher,
            release.wit
        )));
    }

    let release_bytes = package.release_bytes();
    let signatures = match package.file(release::SIGNATURE_FILE) {
        Some(bytes) => Signatures::parse(bytes, release::SIGNATURE_FILE)?,
        None => {
            return Err(MarketError::Signature(format!(
                "{label} is unsigned: no {}",
                release::SIGNATURE_FILE
            )));
        }
    };
    let candidates: Vec<&crate::trust::PublisherKey> = trust
        .keys
        .publishers
        .iter()
        .filter(|k| k.publisher == release.publisher)
        .collect();
    let keys: Vec<PublicKey> = candidates.iter().map(|k| k.key).collect();
    let Some(signer) = signatures.signers(release_bytes, &keys).first().copied() else {
        let ids: Vec<&str> = signatures
            .signatures
            .iter()
            .map(|s| s.key_id.as_str())
            .collect();
        return Err(MarketError::Key(format!(
            "{label} is not signed by a key of publisher `{}` in the marketplace's key list (signed by unknown key(s) {ids:?}, or the signature does not verify)",
            release.publisher
        )));
    };
    let publisher_key = candidates
        .iter()
        .find(|k| k.key == *signer)
        .expect("the signer is a candidate");
    if !publisher_key.covers(&release.name) {
        return Err(MarketError::Key(format!(
            "publisher `{}`'s key {} may not publish `{}` (it may publish {:?})",
            release.publisher,
            signer.id(),
            release.name,
            publisher_key.names
        )));
    }

    let countersignature = match package.file(release::COUNTERSIGNATURE_FILE) {
        Some(bytes) => Countersignature::parse(bytes)?,
        None => {
            return Err(MarketError::Signature(format!(
                "{label} is not countersigned by the marketplace: no {}",
                release::COUNTERSIGNATURE_FILE
            )));
        }
    };
    let at = countersignature.countersigned_ms;
    if at > now_ms + SKEW_MS {
        return Err(MarketError::Signature(format!(
            "{label} is countersigned in the future ({at}, now {now_ms})"
        )));
    }
    let message = release::countersigned_message(release_bytes, at);
    let marketplace_keys: Vec<PublicKey> = trust.keys.marketplace.iter().map(|k| k.key).collect();
    let Some(reviewer) = countersignature
        .signatures
        .signers(&message, &marketplace_keys)
        .first()
        .copied()
    else {
        return Err(MarketError::Signature(format!(
            "{label}'s countersignature is not by a marketplace key of the key list"
        )));
    };
    let reviewer = trust
        .keys
        .marketplace
        .iter()
        .find(|k| k.key == *reviewer)
        .expect("the reviewer is listed");
    // A countersignature's time is the marketplace key's own word: once
    // that key is revoked (stolen), none of its countersignatures stands,
    // however it dates them. The marketplace countersigns again with its
    // new key.
    if let Some(revoked) = reviewer.revoked_ms {
        return Err(MarketError::Key(format!(
            "{label} is countersigned by the marketplace's key {}, revoked at {revoked}",
            reviewer.key.id()
        )));
    }
    if let Some(problem) = reviewer.problem_at(at) {
        return Err(problem);
    }
    if let Some(problem) = publisher_key.problem_at(at) {
        return Err(problem);
    }
    if let Some(reason) = trust.revoked.reason(&release.name, &release.version) {
        return Err(MarketError::Revoked(format!(
            "{label} was withdrawn by the marketplace: {reason}"
        )));
    }
    Ok(Verified {
        component_sha256: release.files[crate::package::COMPONENT].sha256.clone(),
        publisher_key: signer.id(),
        countersigned_ms: at,
        manifest,
        release,
    })
}
