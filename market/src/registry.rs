//! A marketplace kept in a directory, as its operator runs it: the three
//! signed documents, the sparse index and the packages, laid out so any
//! static file server (or `tongdao market serve`) can serve it. The
//! operator's secret keys live elsewhere, in a key directory that is never
//! served: `root.key` (signs `keys.json`; keep it offline) and `online.key`
//! (countersigns reviewed releases and signs the timestamp and revocations).
//!
//! ```text
//! DIR/keys.json(.sig)  timestamp.json(.sig)  revoked.json(.sig)
//! DIR/index/we/ch/wechat            one JSON line per version
//! DIR/packages/wechat/wechat-0.3.0.tdpkg
//! ```

use crate::MarketError;
use crate::index::{self, IndexLine};
use crate::keys::{PublicKey, SecretKey};
use crate::package::Package;
use crate::trust::{
    Freshness, KeyList, MarketplaceKey, PublisherKey, RevokedList, RevokedRelease, Roots, Snapshot,
    Trust, sign_snapshot, write_atomically,
};
use std::path::{Path, PathBuf};

/// How long a timestamp lasts unless refreshed.
pub const TIMESTAMP_LIFETIME_MS: i64 = 7 * 86_400_000;
/// How long keys are valid by default.
pub const KEY_LIFETIME_MS: i64 = 2 * 365 * 86_400_000;

/// The root key's file in the key directory.
pub const ROOT_KEY: &str = "root.key";
/// The online key's.
pub const ONLINE_KEY: &str = "online.key";

/// A marketplace directory and its operator's keys.
pub struct Registry {
    dir: PathBuf,
    root: SecretKey,
    online: SecretKey,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> MarketError + '_ {
    move |source| MarketError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl Registry {
    /// Creates a marketplace in `dir` with new keys in `key_dir`; returns
    /// the root public key hosts pin.
    pub fn init(dir: &Path, key_dir: &Path, now_ms: i64) -> Result<PublicKey, MarketError> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        std::fs::create_dir_all(key_dir).map_err(io(key_dir))?;
        if dir.join(crate::trust::KEYS).exists() {
            return Err(MarketError::Malformed(format!(
                "{} already holds a marketplace",
                dir.display()
            )));
        }
        let root = SecretKey::generate();
        let online = SecretKey::generate();
        root.write_new(&key_dir.join(ROOT_KEY))?;
        online.write_new(&key_dir.join(ONLINE_KEY))?;
        let keys = KeyList {
            version: 1,
            publishers: Vec::new(),
            marketplace: vec![MarketplaceKey {
                key: online.public(),
                valid_from_ms: now_ms,
                valid_until_ms: now_ms + KEY_LIFETIME_MS,
                revoked_ms: None,
            }],
        };
        let registry = Registry {
            dir: dir.to_path_buf(),
            root,
            online,
        };
        registry.sign(&keys, &RevokedList::default(), 1, now_ms)?;
        std::fs::create_dir_all(dir.join("index")).map_err(io(dir))?;
        std::fs::create_dir_all(dir.join("packages")).map_err(io(dir))?;
        Ok(registry.root.public())
    }

    /// Opens a marketplace with its operator's keys.
    pub fn open(dir: &Path, key_dir: &Path) -> Result<Registry, MarketError> {
        Ok(Registry {
            dir: dir.to_path_buf(),
            root: SecretKey::read(&key_dir.join(ROOT_KEY))?,
            online: SecretKey::read(&key_dir.join(ONLINE_KEY))?,
        })
    }

    /// The root key hosts pin.
    pub fn root(&self) -> PublicKey {
        self.root.public()
    }

    /// The current documents, verified against this operator's root.
    pub fn trust(&self, now_ms: i64) -> Result<Trust, MarketError> {
        Snapshot::read(&self.dir)?.verify(
            &Roots {
                keys: vec![self.root.public()],
                threshold: 1,
            },
            now_ms,
            Freshness::LoadInstalled { last_seen: None },
        )
    }

    fn sign(
        &self,
        keys: &KeyList,
        revoked: &RevokedList,
        version: u64,
        now_ms: i64,
    ) -> Result<(), MarketError> {
        sign_snapshot(
            keys,
            &[&self.root],
            revoked,
            &self.online,
            version,
            now_ms + TIMESTAMP_LIFETIME_MS,
        )
        .write(&self.dir)
    }

    /// Re-signs the documents with changes, the timestamp's version one up.
    fn update(
        &self,
        now_ms: i64,
        change: impl FnOnce(&mut KeyList, &mut RevokedList),
    ) -> Result<u64, MarketError> {
        let trust = self.trust(now_ms)?;
        let (mut keys, mut revoked) = (trust.keys.clone(), trust.revoked.clone());
        change(&mut keys, &mut revoked);
        let version = trust.timestamp.version + 1;
        self.sign(&keys, &revoked, version, now_ms)?;
        Ok(version)
    }

    /// A new timestamp (the version one up, a new expiry): run at least
    /// once per [`TIMESTAMP_LIFETIME_MS`].
    pub fn refresh(&self, now_ms: i64) -> Result<u64, MarketError> {
        self.update(now_ms, |_, _| {})
    }

    /// Registers a publisher's key for plugin names (exact, or `prefix-*`).
    pub fn add_publisher(
        &self,
        publisher: &str,
        key: PublicKey,
        names: Vec<String>,
        now_ms: i64,
    ) -> Result<u64, MarketError> {
        self.update(now_ms, |keys, _| {
            keys.version += 1;
            keys.publishers.retain(|k| k.key != key);
            keys.publishers.push(PublisherKey {
                publisher: publisher.to_owned(),
                key,
                names,
                valid_from_ms: now_ms,
                valid_until_ms: now_ms + KEY_LIFETIME_MS,
                revoked_ms: None,
            });
        })
    }

    /// Revokes a publisher's key from now on.
    pub fn revoke_key(&self, key: PublicKey, now_ms: i64) -> Result<u64, MarketError> {
        let trust = self.trust(now_ms)?;
        if !trust.keys.publishers.iter().any(|k| k.key == key) {
            return Err(MarketError::Key(format!("no publisher key {}", key.id())));
        }
        self.update(now_ms, |keys, _| {
            keys.version += 1;
            for listed in &mut keys.publishers {
                if listed.key == key {
                    listed.revoked_ms = Some(now_ms);
                }
            }
        })
    }

    /// Withdraws a release (every version when `version` is `None`).
    pub fn revoke_release(
        &self,
        name: &str,
        version: Option<semver::Version>,
        reason: &str,
        now_ms: i64,
    ) -> Result<u64, MarketError> {
        self.update(now_ms, |_, revoked| {
            revoked.version += 1;
            revoked.releases.push(RevokedRelease {
                name: name.to_owned(),
                version,
                reason: reason.to_owned(),
            });
        })
    }

    /// Reviews and publishes a package the publisher signed: checks its
    /// signature against the key list and its files against the statement,
    /// refuses a version already published, countersigns it, stores it and
    /// appends its index line. Returns the line.
    pub fn publish(&self, mut package: Package, now_ms: i64) -> Result<IndexLine, MarketError> {
        let trust = self.trust(now_ms)?;
        // The manifest checks the name before it names any path.
        package.manifest()?;
        let release = package.release()?;
        if package.manifest()?.name != release.name {
            return Err(MarketError::Tampered(
                "release.json and the manifest name different plugins".into(),
            ));
        }
        let lines = self.versions(&release.name)?;
        if lines.iter().any(|l| l.vers == release.version) {
            return Err(MarketError::Malformed(format!(
                "{} {} is already published; versions are never replaced",
                release.name, release.version
            )));
        }
        if let Some(owner) = lines.first()
            && owner.publisher != release.publisher
        {
            return Err(MarketError::Key(format!(
                "`{}` belongs to publisher `{}`",
                release.name, owner.publisher
            )));
        }
        package.countersign(&self.online, now_ms);
        let verified = crate::verify::verify(&package, &trust, now_ms)?;
        let bytes = package.to_bytes();
        let relative = index::package_path(&release.name, &release.version);
        let path = self.dir.join(&relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        write_atomically(&path, &bytes)?;
        let line = IndexLine {
            name: release.name.clone(),
            vers: release.version.clone(),
            publisher: release.publisher.clone(),
            wit: release.wit.clone(),
            min_host: release.min_host.clone(),
            description: verified.manifest.description.clone(),
            sha256: crate::sha256_hex(&bytes),
            size: bytes.len() as u64,
            yanked: false,
        };
        let index_path = self.dir.join("index").join(index::path_of(&release.name));
        if let Some(parent) = index_path.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        let mut text = std::fs::read_to_string(&index_path).unwrap_or_default();
        text.push_str(&index::line(&line));
        text.push('\n');
        write_atomically(&index_path, text.as_bytes())?;
        Ok(line)
    }

    /// A plugin's published versions.
    pub fn versions(&self, name: &str) -> Result<Vec<IndexLine>, MarketError> {
        let path = self.dir.join("index").join(index::path_of(name));
        match std::fs::read_to_string(&path) {
            Ok(text) => index::parse(&text),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(source) => Err(MarketError::Io { path, source }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_796_000_000_000;

    #[test]
    fn an_operator_registers_a_publisher_and_publishes_a_signed_release() {
        let dir = tempfile::tempdir().unwrap();
        let (market, keys) = (dir.path().join("market"), dir.path().join("keys"));
        let root = Registry::init(&market, &keys, NOW).unwrap();
        assert!(
            Registry::init(&market, &dir.path().join("k2"), NOW).is_err(),
            "once"
        );
        let registry = Registry::open(&market, &keys).unwrap();
        assert_eq!(registry.root(), root);
        let isv = SecretKey::generate();
        registry
            .add_publisher("tongdao", isv.public(), vec!["wechat".into()], NOW)
            .unwrap();

        let mut package = crate::package::tests::packed();
        let unsigned = registry
            .publish(package.clone(), NOW)
            .unwrap_err()
            .to_string();
        assert!(unsigned.contains("unsigned"), "{unsigned}");
        package.sign(&isv).unwrap();
        let line = registry.publish(package.clone(), NOW + 1).unwrap();
        assert_eq!(line.vers.to_string(), "0.3.0");
        let again = registry.publish(package, NOW + 2).unwrap_err().to_string();
        assert!(again.contains("never replaced"), "{again}");

        // What a host fetches verifies against the pinned root.
        let trust = Snapshot::read(&market)
            .unwrap()
            .verify(
                &Roots {
                    keys: vec![root],
                    threshold: 1,
                },
                NOW + 3,
                Freshness::Check { last_seen: Some(2) },
            )
            .unwrap();
        let stored =
            Package::read_file(&market.join(index::package_path("wechat", &line.vers))).unwrap();
        crate::verify::verify(&stored, &trust, NOW + 3).unwrap();
        assert_eq!(registry.versions("wechat").unwrap(), vec![line]);

        // Withdrawn, it no longer verifies; each change moved the timestamp up.
        let version = registry
            .revoke_release(
                "wechat",
                Some("0.3.0".parse().unwrap()),
                "leaks tokens",
                NOW + 4,
            )
            .unwrap();
        assert_eq!(version, 3, "init, the publisher, the withdrawal");
        let trust = registry.trust(NOW + 5).unwrap();
        let err = crate::verify::verify(&stored, &trust, NOW + 5)
            .unwrap_err()
            .to_string();
        assert!(err.contains("leaks tokens"), "{err}");
    }
}
