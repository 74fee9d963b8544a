//! The marketplace's signed documents, each a JSON file with a detached
//! signature file beside it (`X.sig`):
//!
//! - `keys.json`, signed by the marketplace's root keys (kept offline and
//!   pinned in every host's config): the publishers' keys, each with the
//!   plugin names it may publish, a validity period and a revocation time;
//!   and the marketplace's online keys, which countersign reviewed releases
//!   and sign the two documents below.
//! - `timestamp.json`: a version that only goes up and an expiry, with the
//!   SHA-256 of `keys.json` and `revoked.json`. A host refuses one that has
//!   expired (a frozen marketplace) or is older than one it has seen (a
//!   rolled-back one), and the digests bind the three into one snapshot.
//! - `revoked.json`: releases withdrawn, with the reason.

use crate::MarketError;
use crate::keys::{PublicKey, SecretKey, Signatures};
use serde::{Deserialize, Serialize};

/// `keys.json`.
pub const KEYS: &str = "keys.json";
/// `timestamp.json`.
pub const TIMESTAMP: &str = "timestamp.json";
/// `revoked.json`.
pub const REVOKED: &str = "revoked.json";

/// A publisher's key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublisherKey {
    /// The publisher's id.
    pub publisher: String,
    /// The key.
    pub key: PublicKey,
    /// The plugin names it may publish: exact, or a prefix ending in `*`.
    pub names: Vec<String>,
    /// Valid from, Unix milliseconds.
    pub valid_from_ms: i64,
    /// Valid until.
    pub valid_until_ms: i64,
    /// Revoked at (a stolen key): releases countersigned from then on are
    /// refused, earlier ones stay valid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_ms: Option<i64>,
}

impl PublisherKey {
    /// Whether it may publish `name`.
    pub fn covers(&self, name: &str) -> bool {
        self.names
            .iter()
            .any(|pattern| match pattern.strip_suffix('*') {
                Some(prefix) => name.starts_with(prefix),
                None => pattern == name,
            })
    }
}

/// One of the marketplace's online keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarketplaceKey {
    /// The key.
    pub key: PublicKey,
    /// Valid from, Unix milliseconds.
    pub valid_from_ms: i64,
    /// Valid until.
    pub valid_until_ms: i64,
    /// Revoked at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_ms: Option<i64>,
}

/// Why a key cannot vouch for something at a time, if it cannot.
fn key_problem(
    what: &str,
    key: &PublicKey,
    valid_from_ms: i64,
    valid_until_ms: i64,
    revoked_ms: Option<i64>,
    at_ms: i64,
) -> Option<MarketError> {
    if let Some(revoked) = revoked_ms
        && at_ms >= revoked
    {
        return Some(MarketError::Key(format!(
            "{what} {} was revoked at {revoked} (signed at {at_ms})",
            key.id()
        )));
    }
    if at_ms < valid_from_ms {
        return Some(MarketError::Key(format!(
            "{what} {} is not valid before {valid_from_ms} (signed at {at_ms})",
            key.id()
        )));
    }
    if at_ms > valid_until_ms {
        return Some(MarketError::Key(format!(
            "{what} {} expired at {valid_until_ms} (signed at {at_ms})",
            key.id()
        )));
    }
    None
}

impl PublisherKey {
    /// Why it cannot vouch for a release countersigned at `at_ms`.
    pub fn problem_at(&self, at_ms: i64) -> Option<MarketError> {
        key_problem(
            &format!("publisher `{}`'s key", self.publisher),
            &self.key,
            self.valid_from_ms,
            self.valid_until_ms,
            self.revoked_ms,
            at_ms,
        )
    }
}

impl MarketplaceKey {
    /// Why it cannot vouch for something signed at `at_ms`.
    pub fn problem_at(&self, at_ms: i64) -> Option<MarketError> {
        key_problem(
            "the marketplace's key",
            &self.key,
            self.valid_from_ms,
            self.valid_until_ms,
            self.revoked_ms,
            at_ms,
        )
    }
}

/// `keys.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyList {
    /// Goes up with every change.
    pub version: u64,
    /// Publishers' keys.
    pub publishers: Vec<PublisherKey>,
    /// The marketplace's online keys.
    pub marketplace: Vec<MarketplaceKey>,
}

/// `timestamp.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Timestamp {
    /// Only goes up.
    pub version: u64,
    /// Refused after this, Unix milliseconds.
    pub expires_ms: i64,
    /// SHA-256 of `keys.json`'s bytes.
    pub keys_sha256: String,
    /// SHA-256 of `revoked.json`'s bytes.
    pub revoked_sha256: String,
}

/// A withdrawn release.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevokedRelease {
    /// The plugin.
    pub name: String,
    /// The version; every version when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<semver::Version>,
    /// Why.
    pub reason: String,
}

/// `revoked.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevokedList {
    /// Goes up with every change.
    pub version: u64,
    /// The withdrawn releases.
    pub releases: Vec<RevokedRelease>,
}

impl RevokedList {
    /// Why `name` `version` was withdrawn, if it was.
    pub fn reason(&self, name: &str, version: &semver::Version) -> Option<&str> {
        self.releases
            .iter()
            .find(|r| r.name == name && r.version.as_ref().is_none_or(|v| v == version))
            .map(|r| r.reason.as_str())
    }
}

/// A document's bytes and its signature file's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SignedFile {
    /// The document.
    pub bytes: Vec<u8>,
    /// Its `.sig`.
    pub signatures: Vec<u8>,
}

impl SignedFile {
    /// Serializes `document` and signs it with `keys`.
    pub fn sign<T: Serialize>(document: &T, keys: &[&SecretKey]) -> SignedFile {
        let bytes = serde_json::to_vec_pretty(document).expect("a document serializes");
        let signatures = Signatures {
            signatures: keys.iter().map(|key| key.sign(&bytes)).collect(),
        };
        SignedFile {
            signatures: signatures.to_bytes(),
            bytes,
        }
    }

    /// Reads `dir/name` and `dir/name.sig`.
    pub fn read(dir: &std::path::Path, name: &str) -> Result<SignedFile, MarketError> {
        let read = |path: std::path::PathBuf| {
            std::fs::read(&path).map_err(|source| MarketError::Io { path, source })
        };
        Ok(SignedFile {
            bytes: read(dir.join(name))?,
            signatures: read(dir.join(format!("{name}.sig")))?,
        })
    }

    /// Writes `dir/name` and `dir/name.sig`, each atomically.
    pub fn write(&self, dir: &std::path::Path, name: &str) -> Result<(), MarketError> {
        write_atomically(&dir.join(name), &self.bytes)?;
        write_atomically(&dir.join(format!("{name}.sig")), &self.signatures)
    }

    fn document<T: serde::de::DeserializeOwned>(&self, name: &str) -> Result<T, MarketError> {
        serde_json::from_slice(&self.bytes)
            .map_err(|err| MarketError::Malformed(format!("{name} cannot be read: {err}")))
    }

    fn signers<'k>(
        &self,
        name: &str,
        keys: &'k [PublicKey],
    ) -> Result<Vec<&'k PublicKey>, MarketError> {
        Ok(Signatures::parse(&self.signatures, &format!("{name}.sig"))?.signers(&self.bytes, keys))
    }
}

/// Writes `bytes` to `path` through a temporary file and a rename, each
/// made durable (the file before the rename, the directory after), so a
/// crash leaves the old content or the new, never a torn file.
pub fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> Result<(), MarketError> {
    use std::io::Write;
    let io = |source| MarketError::Io {
        path: path.to_path_buf(),
        source,
    };
    let temporary = path.with_extension("partial");
    let mut file = std::fs::File::create(&temporary).map_err(io)?;
    file.write_all(bytes).map_err(io)?;
    file.sync_all().map_err(io)?;
    drop(file);
    std::fs::rename(&temporary, path).map_err(io)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io)?;
    }
    Ok(())
}

/// The roots a host trusts: pinned public keys, and how many of them must
/// sign `keys.json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roots {
    /// The keys.
    pub keys: Vec<PublicKey>,
    /// How many must sign (at least 1).
    pub threshold: usize,
}

/// A marketplace's snapshot, verified: its keys, timestamp and revocations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trust {
    /// `keys.json`.
    pub keys: KeyList,
    /// `timestamp.json`.
    pub timestamp: Timestamp,
    /// `revoked.json`.
    pub revoked: RevokedList,
}

/// A marketplace's three signed documents, as fetched.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// `keys.json`.
    pub keys: SignedFile,
    /// `timestamp.json`.
    pub timestamp: SignedFile,
    /// `revoked.json`.
    pub revoked: SignedFile,
}

/// Whether the timestamp's freshness is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// At install and upgrade: refuse an expired timestamp, or one older
    /// than `last_seen`.
    Check {
        /// The highest timestamp version seen before.
        last_seen: Option<u64>,
    },
    /// At load of what was installed: signatures and digests only (an
    /// expired timestamp must not take shops down), still refusing
    /// rollback below `last_seen`.
    LoadInstalled {
        /// The highest timestamp version seen before.
        last_seen: Option<u64>,
    },
}

impl Snapshot {
    /// Reads the three documents from a directory.
    pub fn read(dir: &std::path::Path) -> Result<Snapshot, MarketError> {
        Ok(Snapshot {
            keys: SignedFile::read(dir, KEYS)?,
            timestamp: SignedFile::read(dir, TIMESTAMP)?,
            revoked: SignedFile::read(dir, REVOKED)?,
        })
    }

    /// Writes them to a directory.
    pub fn write(&self, dir: &std::path::Path) -> Result<(), MarketError> {
        // The timestamp last: a reader between writes sees digests that do
        // not match and retries, never a mix it accepts.
        self.keys.write(dir, KEYS)?;
        self.revoked.write(dir, REVOKED)?;
        self.timestamp.write(dir, TIMESTAMP)
    }

    /// Verifies the snapshot against the pinned roots at `now_ms`.
    pub fn verify(
        &self,
        roots: &Roots,
        now_ms: i64,
        freshness: Freshness,
    ) -> Result<Trust, MarketError> {
        let signed_by_roots = self.keys.signers(KEYS, &roots.keys)?.len();
        if signed_by_roots < roots.threshold.max(1) {
            return Err(MarketError::Signature(format!(
                "{KEYS} is signed by {signed_by_roots} pinned root key(s), {} needed",
                roots.threshold.max(1)
            )));
        }
        let keys: KeyList = self.keys.document(KEYS)?;
        let online: Vec<PublicKey> = keys
            .marketplace
            .iter()
            .filter(|k| k.problem_at(now_ms).is_none())
            .map(|k| k.key)
            .collect();
        for (file, name) in [(&self.timestamp, TIMESTAMP), (&self.revoked, REVOKED)] {
            if file.signers(name, &online)?.is_empty() {
                return Err(MarketError::Signature(format!(
                    "{name} is not signed by a current marketplace key of {KEYS}"
                )));
            }
        }
        let timestamp: Timestamp = self.timestamp.document(TIMESTAMP)?;
        if timestamp.keys_sha256 != crate::sha256_hex(&self.keys.bytes) {
            return Err(MarketError::Tampered(format!(
                "{KEYS} is not the one {TIMESTAMP} version {} names: a mixed snapshot",
                timestamp.version
            )));
        }
        if timestamp.revoked_sha256 != crate::sha256_hex(&self.revoked.bytes) {
            return Err(MarketError::Tampered(format!(
                "{REVOKED} is not the one {TIMESTAMP} version {} names: a mixed snapshot",
                timestamp.version
            )));
        }
        let (Freshness::Check { last_seen } | Freshness::LoadInstalled { last_seen }) = freshness;
        if let Some(seen) = last_seen
            && timestamp.version < seen
        {
            return Err(MarketError::Freshness(format!(
                "{TIMESTAMP} version {} is older than version {seen}, seen before: a rolled-back marketplace",
                timestamp.version
            )));
        }
        if matches!(freshness, Freshness::Check { .. }) && timestamp.expires_ms <= now_ms {
            return Err(MarketError::Freshness(format!(
                "{TIMESTAMP} version {} expired at {} (now {now_ms}): a frozen marketplace",
                timestamp.version, timestamp.expires_ms
            )));
        }
        let revoked: RevokedList = self.revoked.document(REVOKED)?;
        Ok(Trust {
            keys,
            timestamp,
            revoked,
        })
    }
}

/// Signs a new snapshot: `keys` with the root keys, and the timestamp and
/// revocations with an online key, the timestamp at `version` expiring at
/// `expires_ms`.
pub fn sign_snapshot(
    keys: &KeyList,
    roots: &[&SecretKey],
    revoked: &RevokedList,
    online: &SecretKey,
    version: u64,
    expires_ms: i64,
) -> Snapshot {
    let keys = SignedFile::sign(keys, roots);
    let revoked = SignedFile::sign(revoked, &[online]);
    let timestamp = SignedFile::sign(
        &Timestamp {
            version,
            expires_ms,
            keys_sha256: crate::sha256_hex(&keys.bytes),
            revoked_sha256: crate::sha256_hex(&revoked.bytes),
        },
        &[online],
    );
    Snapshot {
        keys,
        timestamp,
        revoked,
    }
}
