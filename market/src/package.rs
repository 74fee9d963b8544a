//! The `.tdpkg` archive: a gzip'd tar of a fixed set of files, read into
//! memory (never unpacked onto disk, so no path in it can escape), each
//! entry a regular file with an expected name, within size limits. Written
//! deterministically (sorted, zero times), so packing the same files gives
//! the same bytes.

use crate::MarketError;
use crate::keys::{SecretKey, Signatures};
use crate::manifest::{self, Manifest};
use crate::release::{self, Countersignature, PinnedFile, Release};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

/// The component's file name.
pub const COMPONENT: &str = "plugin.wasm";
/// The README's.
pub const README: &str = "README.md";
/// The licence's.
pub const LICENSE: &str = "LICENSE";
/// An optional changelog.
pub const CHANGELOG: &str = "CHANGELOG.md";

/// Every name a package may hold.
const NAMES: [&str; 8] = [
    COMPONENT,
    manifest::FILE,
    README,
    LICENSE,
    CHANGELOG,
    release::FILE,
    release::SIGNATURE_FILE,
    release::COUNTERSIGNATURE_FILE,
];
/// The files `release.json` must pin.
const REQUIRED: [&str; 4] = [COMPONENT, manifest::FILE, README, LICENSE];

/// The largest package, unpacked.
pub const MAX_UNPACKED: u64 = 64 << 20;

/// A package's files, in memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    files: BTreeMap<String, Vec<u8>>,
}

impl Package {
    /// Packs a release from its parts: the component, the manifest's text,
    /// the README and the licence (and a changelog), stamped `now_ms`.
    /// Unsigned; see [`Package::sign`].
    pub fn pack(
        component: Vec<u8>,
        manifest_text: &str,
        readme: Vec<u8>,
        license: Vec<u8>,
        changelog: Option<Vec<u8>>,
        now_ms: i64,
    ) -> Result<Package, MarketError> {
        let manifest = Manifest::parse(manifest_text)?;
        if !component.starts_with(b"\0asm") {
            return Err(MarketError::Package(format!(
                "{COMPONENT} is not WebAssembly"
            )));
        }
        let mut files = BTreeMap::from([
            (COMPONENT.to_owned(), component),
            (manifest::FILE.to_owned(), manifest_text.as_bytes().to_vec()),
            (README.to_owned(), readme),
            (LICENSE.to_owned(), license),
        ]);
        if let Some(changelog) = changelog {
            files.insert(CHANGELOG.to_owned(), changelog);
        }
        let release = Release {
            name: manifest.name.clone(),
            version: manifest.version.clone(),
            publisher: manifest.publisher.clone(),
            wit: manifest.wit.clone(),
            min_host: manifest.min_host.clone(),
            files: files
                .iter()
                .map(|(name, bytes)| {
                    (
                        name.clone(),
                        PinnedFile {
                            sha256: crate::sha256_hex(bytes),
                            size: bytes.len() as u64,
                        },
                    )
                })
                .collect(),
            published_ms: now_ms,
        };
        files.insert(release::FILE.to_owned(), release.to_bytes());
        Ok(Package { files })
    }

    /// Reads a `.tdpkg`'s bytes.
    pub fn read(bytes: &[u8]) -> Result<Package, MarketError> {
        let bad = |what: String| MarketError::Package(what);
        let decoder = flate2::read::GzDecoder::new(bytes);
        let mut archive = tar::Archive::new(decoder.take(MAX_UNPACKED * 2));
        let mut files = BTreeMap::new();
        let mut total = 0u64;
        let entries = archive
            .entries()
            .map_err(|err| bad(format!("not a .tdpkg archive: {err}")))?;
        for entry in entries {
            let mut entry = entry.map_err(|err| bad(format!("a damaged entry: {err}")))?;
            if entry.header().entry_type() != tar::EntryType::Regular {
                return Err(bad(format!(
                    "entry {:?} is not a regular file",
                    entry.path().ok()
                )));
            }
            let name = entry
                .path()
                .ok()
                .and_then(|p| p.to_str().map(str::to_owned))
                .ok_or_else(|| bad("an entry's name is not UTF-8".into()))?;
            if !NAMES.contains(&name.as_str()) {
                return Err(bad(format!(
                    "unexpected file `{name}` (a package holds only {NAMES:?})"
                )));
            }
            total += entry.size();
            if total > MAX_UNPACKED {
                return Err(bad(format!("larger than {MAX_UNPACKED} bytes unpacked")));
            }
            let mut content = Vec::with_capacity(entry.size() as usize);
            entry
                .read_to_end(&mut content)
                .map_err(|err| bad(format!("reading `{name}`: {err}")))?;
            if files.insert(name.clone(), content).is_some() {
                return Err(bad(format!("`{name}` appears twice")));
            }
        }
        for name in REQUIRED.iter().chain([&release::FILE]) {
            if !files.contains_key(*name) {
                return Err(bad(format!("`{name}` is missing")));
            }
        }
        Ok(Package { files })
    }

    /// Reads a `.tdpkg` file.
    pub fn read_file(path: &Path) -> Result<Package, MarketError> {
        let bytes = std::fs::read(path).map_err(|source| MarketError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Package::read(&bytes).map_err(|err| match err {
            MarketError::Package(what) => {
                MarketError::Package(format!("{}: {what}", path.display()))
            }
            other => other,
        })
    }

    /// The archive's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        let mut builder = tar::Builder::new(encoder);
        builder.mode(tar::HeaderMode::Deterministic);
        for (name, content) in &self.files {
            let mut header = tar::Header::new_gnu();
            header.set_size(content.len() as u64);
            header.set_mode(0o644);
            header.set_mtime(0);
            header.set_entry_type(tar::EntryType::Regular);
            builder
                .append_data(&mut header, name, content.as_slice())
                .expect("writing to memory");
        }
        builder
            .into_inner()
            .and_then(|encoder| encoder.finish())
            .expect("writing to memory")
    }

    /// Writes the archive to `path`.
    pub fn write_file(&self, path: &Path) -> Result<(), MarketError> {
        std::fs::write(path, self.to_bytes()).map_err(|source| MarketError::Io {
            path: path.to_path_buf(),
            source,
        })
    }

    /// A file's bytes.
    pub fn file(&self, name: &str) -> Option<&[u8]> {
        self.files.get(name).map(Vec::as_slice)
    }

    /// The files' names.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.files.keys().map(String::as_str)
    }

    /// The component.
    pub fn component(&self) -> &[u8] {
        self.file(COMPONENT).unwrap_or_default()
    }

    /// `release.json`'s bytes.
    pub fn release_bytes(&self) -> &[u8] {
        self.file(release::FILE).unwrap_or_default()
    }

    /// `release.json`, read (not yet verified).
    pub fn release(&self) -> Result<Release, MarketError> {
        Release::parse(self.release_bytes())
    }

    /// The manifest, read (not yet verified).
    pub fn manifest(&self) -> Result<Manifest, MarketError> {
        let text = std::str::from_utf8(self.file(manifest::FILE).unwrap_or_default())
            .map_err(|_| MarketError::Manifest("not UTF-8".into()))?;
        Manifest::parse(text)
    }

    /// Adds the publisher's signature of `release.json`.
    pub fn sign(&mut self, key: &SecretKey) -> Result<(), MarketError> {
        let mut signatures = match self.file(release::SIGNATURE_FILE) {
            Some(bytes) => Signatures::parse(bytes, release::SIGNATURE_FILE)?,
            None => Signatures::default(),
        };
        let entry = key.sign(self.release_bytes());
        signatures.signatures.retain(|s| s.key_id != entry.key_id);
        signatures.signatures.push(entry);
        self.files
            .insert(release::SIGNATURE_FILE.to_owned(), signatures.to_bytes());
        Ok(())
    }

    /// Adds the marketplace's countersignature, at `now_ms`.
    pub fn countersign(&mut self, key: &SecretKey, now_ms: i64) {
        let countersignature = Countersignature::sign(key, self.release_bytes(), now_ms);
        self.files.insert(
            release::COUNTERSIGNATURE_FILE.to_owned(),
            countersignature.to_bytes(),
        );
    }

    /// Replaces a file's bytes as they are (for tests of tampering).
    #[doc(hidden)]
    pub fn replace_raw(&mut self, name: &str, bytes: Vec<u8>) {
        self.files.insert(name.to_owned(), bytes);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A small valid component header and body stand-in for packing tests:
    /// the package layer checks only that it is WebAssembly.
    pub(crate) const WASM: &[u8] = b"\0asm\x0d\x00\x01\x00component";

    pub(crate) fn packed() -> Package {
        Package::pack(
            WASM.to_vec(),
            crate::manifest::tests::WECHAT,
            b"# wechat\n".to_vec(),
            b"Apache-2.0\n".to_vec(),
            None,
            1_790_000_000_000,
        )
        .unwrap()
    }

    #[test]
    fn a_package_round_trips_byte_for_byte() {
        let package = packed();
        let bytes = package.to_bytes();
        assert_eq!(bytes, packed().to_bytes(), "deterministic");
        let read = Package::read(&bytes).unwrap();
        assert_eq!(read, package);
        let release = read.release().unwrap();
        assert_eq!(release.files[COMPONENT].sha256, crate::sha256_hex(WASM));
        assert_eq!(release.name, "wechat");
    }

    #[test]
    fn archives_with_strange_entries_are_refused() {
        let encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut builder = tar::Builder::new(encoder);
        let mut header = tar::Header::new_gnu();
        header.set_size(1);
        header.set_entry_type(tar::EntryType::Regular);
        // The tar crate refuses to write such a name; write it raw, as an
        // attacker would.
        let name = b"../../etc/passwd";
        header.as_old_mut().name[..name.len()].copy_from_slice(name);
        header.set_cksum();
        builder.append(&header, &b"x"[..]).unwrap();
        let bytes = builder.into_inner().unwrap().finish().unwrap();
        let err = Package::read(&bytes).unwrap_err().to_string();
        assert!(err.contains("unexpected file"), "{err}");
        assert!(Package::read(b"not gzip").is_err());
        let mut missing = packed();
        missing.files.remove(LICENSE);
        let err = Package::read(&missing.to_bytes()).unwrap_err().to_string();
        assert!(err.contains("`LICENSE` is missing"), "{err}");
        assert!(
            Package::pack(
                b"MZ".to_vec(),
                crate::manifest::tests::WECHAT,
                vec![],
                vec![],
                None,
                0
            )
            .is_err()
        );
    }
}
