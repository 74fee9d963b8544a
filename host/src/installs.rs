//! Plugins installed per shop from a marketplace: install, upgrade and
//! rollback, each verified offline against the marketplace's signed
//! documents and the roots pinned in the config, and again at every load.
//!
//! What is installed is kept in the data directory, beside the store:
//!
//! ```text
//! market/installed.json        per shop: the current release, the ones
//!                              before it (for rollback), the grant, and
//!                              the highest timestamp version seen
//! market/packages/<sha256>.tdpkg   every package installed, by digest
//! market/trust/                the marketplace documents last verified
//! ```
//!
//! Rules: an install shows the permission prompt and needs the brand's
//! grant; an upgrade applies by itself when the new version asks for no
//! more than was granted, and waits for a new grant when it asks for more;
//! a version below the installed one is refused unless it is a rollback to
//! one of the last [`KEEP_VERSIONS`]; every change of a shop is one atomic
//! write of `installed.json`, then one swap of the shop's plugin.

use crate::config::ShopConfig;
use crate::marketplace::Source;
use crate::runtime::{LoadedPlugin, Runtime};
use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tongdao_market::manifest::Permissions;
use tongdao_market::package::Package;
use tongdao_market::trust::{Freshness, Roots, Snapshot, Trust};

/// Releases kept per shop for rollback, the current one included.
pub const KEEP_VERSIONS: usize = 5;

/// One release installed on a shop.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Installed {
    /// The plugin.
    pub name: String,
    /// Its version.
    pub version: semver::Version,
    /// Its publisher: an upgrade from another publisher is refused.
    #[serde(default)]
    pub publisher: String,
    /// SHA-256 of the package, which names its file.
    pub package_sha256: String,
    /// What the brand granted.
    pub granted: Permissions,
    /// When, Unix milliseconds.
    pub installed_ms: i64,
}

/// A shop's releases.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ShopReleases {
    /// What serves the shop.
    pub current: Option<Installed>,
    /// What served it before, latest first.
    #[serde(default)]
    pub previous: Vec<Installed>,
}

/// `installed.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InstallState {
    /// By shop.
    #[serde(default)]
    pub shops: BTreeMap<String, ShopReleases>,
    /// The highest `timestamp.json` version verified: an older one is a
    /// rolled-back marketplace.
    #[serde(default)]
    pub last_timestamp: Option<u64>,
}

/// What a brand asks for.
#[derive(Debug, Clone)]
pub enum Operation {
    /// Install `name` (the highest version matching `version`), granting
    /// what its manifest asks for when `grant`.
    Install {
        /// The plugin.
        name: String,
        /// Which versions.
        version: Wanted,
        /// The brand accepted the permission prompt.
        grant: bool,
    },
    /// Move to the highest newer version; `grant` accepts wider
    /// permissions.
    Upgrade {
        /// The brand accepted wider permissions.
        grant: bool,
    },
    /// Go back to a version installed before.
    Rollback {
        /// The version.
        version: semver::Version,
    },
}

/// Which version to install.
#[derive(Debug, Clone)]
pub enum Wanted {
    /// Exactly this one (build metadata included: `0.1.0+r2`).
    Exact(semver::Version),
    /// The highest matching.
    Matching(semver::VersionReq),
}

impl Wanted {
    /// `0.1.0+r2` exactly, or a requirement such as `^0.1` (`*` for any).
    pub fn parse(text: &str) -> Result<Wanted, String> {
        if let Ok(version) = semver::Version::parse(text) {
            return Ok(Wanted::Exact(version));
        }
        semver::VersionReq::parse(text)
            .map(Wanted::Matching)
            .map_err(|err| format!("`{text}` is neither a version nor a requirement: {err}"))
    }

    fn accepts(&self, version: &semver::Version) -> bool {
        match self {
            Wanted::Exact(wanted) => wanted == version,
            Wanted::Matching(requirement) => requirement.matches(version),
        }
    }
}

impl std::fmt::Display for Wanted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Wanted::Exact(version) => write!(f, "={version}"),
            Wanted::Matching(requirement) => write!(f, "{requirement}"),
        }
    }
}

/// Why an operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    /// The brand must accept the permission prompt first.
    #[error(
        "{prompt}\nnot installed: accept these permissions to install (--yes, or \"grant\": true)"
    )]
    NeedsGrant {
        /// The prompt.
        prompt: String,
    },
    /// The new version asks for more than was granted.
    #[error("{name} {version} asks for more than was granted ({}); it waits for a new grant (--grant, or \"grant\": true)", wider.join(", "))]
    WiderPermissions {
        /// The plugin.
        name: String,
        /// The version waiting.
        version: semver::Version,
        /// What it asks for beyond the grant.
        wider: Vec<String>,
    },
    /// Refused, with the reason.
    #[error("{0}")]
    Refused(String),
    /// Anything else (the marketplace, the files, the plugin).
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl From<tongdao_market::MarketError> for InstallError {
    fn from(err: tongdao_market::MarketError) -> Self {
        InstallError::Refused(err.to_string())
    }
}

/// A marketplace as a host uses it: where it is, the pinned roots, and the
/// data directory's `market/`.
#[derive(Debug, Clone)]
pub struct Market {
    /// Where packages and documents come from.
    pub source: Source,
    /// The pinned root keys.
    pub roots: Roots,
    /// `DATA_DIR/market`.
    pub dir: PathBuf,
    /// One change at a time: each reads `installed.json` and writes it
    /// back, so two at once would lose one.
    changing: Arc<tokio::sync::Mutex<()>>,
}

fn now_ms() -> i64 {
    crate::clock::now_ms()
}

impl Market {
    /// The marketplace at `source`, trusted through `roots`, with what is
    /// installed kept in `dir` (`DATA_DIR/market`).
    pub fn new(source: Source, roots: Roots, dir: PathBuf) -> Market {
        Market {
            source,
            roots,
            dir,
            changing: Arc::default(),
        }
    }

    /// The install state (empty when nothing was installed).
    pub fn state(&self) -> anyhow::Result<InstallState> {
        let path = self.dir.join("installed.json");
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .with_context(|| format!("{} is damaged", path.display())),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(InstallState::default()),
            Err(err) => Err(err).with_context(|| format!("reading {}", path.display())),
        }
    }

    fn save(&self, state: &InstallState) -> anyhow::Result<()> {
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("creating {}", self.dir.display()))?;
        let bytes = serde_json::to_vec_pretty(state)?;
        tongdao_market::trust::write_atomically(&self.dir.join("installed.json"), &bytes)?;
        Ok(())
    }

    fn package_path(&self, sha256: &str) -> PathBuf {
        self.dir.join("packages").join(format!("{sha256}.tdpkg"))
    }

    /// The marketplace's documents, verified fresh (expired or older than
    /// seen is refused).
    async fn fresh_trust(
        &self,
        state: &mut InstallState,
    ) -> Result<(Snapshot, Trust), InstallError> {
        let snapshot = self.source.snapshot().await?;
        let trust = snapshot.verify(
            &self.roots,
            now_ms(),
            Freshness::Check {
                last_seen: state.last_timestamp,
            },
        )?;
        // Remembered at once, whatever happens next: a marketplace cannot
        // show a newer snapshot and then an older one.
        if state.last_timestamp < Some(trust.timestamp.version) {
            state.last_timestamp = Some(trust.timestamp.version);
            self.save(state)?;
        }
        Ok((snapshot, trust))
    }

    /// The documents last verified, for loading what is installed (their
    /// signatures and digests checked again, an expired timestamp allowed).
    fn stored_trust(&self, state: &InstallState) -> anyhow::Result<Trust> {
        let snapshot = Snapshot::read(&self.dir.join("trust"))
            .context("the marketplace documents verified at install are missing")?;
        Ok(snapshot.verify(
            &self.roots,
            now_ms(),
            Freshness::LoadInstalled {
                last_seen: state.last_timestamp,
            },
        )?)
    }

    /// Loads an installed release: the package verified again, the
    /// component loaded, its describe() checked against the manifest.
    pub fn load(
        &self,
        runtime: &Runtime,
        installed: &Installed,
        trust: &Trust,
    ) -> anyhow::Result<Arc<LoadedPlugin>> {
        let path = self.package_path(&installed.package_sha256);
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        anyhow::ensure!(
            tongdao_market::sha256_hex(&bytes) == installed.package_sha256,
            "tampered: {} does not match its digest",
            path.display()
        );
        let package = Package::read(&bytes)?;
        let verified = tongdao_market::verify::verify(&package, trust, now_ms())?;
        load_component(runtime, &self.dir, &package, &verified.manifest)
    }

    /// Loads every shop's installed release at start.
    pub fn load_all(
        &self,
        runtime: &Runtime,
    ) -> anyhow::Result<BTreeMap<String, (Installed, Arc<LoadedPlugin>)>> {
        let state = self.state()?;
        let mut loaded = BTreeMap::new();
        if state.shops.values().all(|s| s.current.is_none()) {
            return Ok(loaded);
        }
        let trust = self.stored_trust(&state)?;
        for (shop, releases) in &state.shops {
            if let Some(current) = &releases.current {
                let plugin = self.load(runtime, current, &trust).with_context(|| {
                    format!(
                        "loading {} {} installed on shop `{shop}`",
                        current.name, current.version
                    )
                })?;
                loaded.insert(shop.clone(), (current.clone(), plugin));
            }
        }
        Ok(loaded)
    }

    /// Carries out `operation` on `shop`: verifies, loads and checks the
    /// release, records it, and returns it with its loaded plugin.
    pub async fn apply(
        &self,
        runtime: &Runtime,
        shop: &ShopConfig,
        operation: Operation,
    ) -> Result<(Installed, Arc<LoadedPlugin>), InstallError> {
        self.apply_then(runtime, shop, operation, |_, _| {}).await
    }

    /// [`Market::apply`], calling `then` with the result (to swap the shop's
    /// plugin) before the next change may start, so what serves a shop and
    /// what `installed.json` says never disagree.
    pub async fn apply_then(
        &self,
        runtime: &Runtime,
        shop: &ShopConfig,
        operation: Operation,
        then: impl FnOnce(&Installed, &Arc<LoadedPlugin>),
    ) -> Result<(Installed, Arc<LoadedPlugin>), InstallError> {
        let _one_at_a_time = self.changing.lock().await;
        let (installed, plugin) = self.change(runtime, shop, operation).await?;
        then(&installed, &plugin);
        Ok((installed, plugin))
    }

    /// Loads every shop's installed release, waiting for any change under
    /// way (for a reload).
    pub fn load_all_settled(
        &self,
        runtime: &Runtime,
    ) -> anyhow::Result<BTreeMap<String, (Installed, Arc<LoadedPlugin>)>> {
        let _one_at_a_time = self.changing.blocking_lock();
        self.load_all(runtime)
    }

    async fn change(
        &self,
        runtime: &Runtime,
        shop: &ShopConfig,
        operation: Operation,
    ) -> Result<(Installed, Arc<LoadedPlugin>), InstallError> {
        let mut state = self.state()?;
        let releases = state.shops.get(&shop.id).cloned().unwrap_or_default();
        let current = releases.current.clone();
        // What the release must be: the plugin asked for, and for a fetched
        // one the version its index line names (the index is not signed).
        let expected_version: Option<semver::Version>;
        let expected_name = match &operation {
            Operation::Install { name, .. } => name.clone(),
            _ => current
                .as_ref()
                .map(|c| c.name.clone())
                .unwrap_or_else(|| shop.plugin.clone()),
        };
        let (package, granted, trust) = match operation {
            Operation::Rollback { version } => {
                let Some(target) = releases.previous.iter().find(|r| r.version == version) else {
                    return Err(InstallError::Refused(format!(
                        "shop `{}` has no earlier release {version} to roll back to (kept: {})",
                        shop.id,
                        releases
                            .previous
                            .iter()
                            .map(|r| r.version.to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )));
                };
                let trust = self.stored_trust(&state)?;
                let bytes = std::fs::read(self.package_path(&target.package_sha256))
                    .context("reading the earlier package")?;
                if tongdao_market::sha256_hex(&bytes) != target.package_sha256 {
                    return Err(InstallError::Refused(format!(
                        "tampered: the kept package of {} {} does not match its digest",
                        target.name, target.version
                    )));
                }
                expected_version = Some(target.version.clone());
                (Package::read(&bytes)?, target.granted.clone(), trust)
            }
            Operation::Install {
                name,
                version,
                grant,
            } => {
                if name != shop.plugin {
                    return Err(InstallError::Refused(format!(
                        "shop `{}` is served by plugin `{}`, not `{name}` (its config says so)",
                        shop.id, shop.plugin
                    )));
                }
                let (snapshot, trust) = self.fresh_trust(&mut state).await?;
                let (package, line) = self
                    .fetch(&name, &version.to_string(), |v| version.accepts(v), &trust)
                    .await?;
                expected_version = Some(line.vers);
                let manifest = package.manifest()?;
                if let Some(current) = &current {
                    if manifest.version == current.version {
                        return Err(InstallError::Refused(format!(
                            "{name} {} is already installed on shop `{}`",
                            current.version, shop.id
                        )));
                    }
                    if manifest.version < current.version {
                        return Err(InstallError::Refused(format!(
                            "{name} {} is older than the installed {}: a downgrade needs `rollback`",
                            manifest.version, current.version
                        )));
                    }
                }
                if !grant {
                    return Err(InstallError::NeedsGrant {
                        prompt: manifest.permission_prompt(),
                    });
                }
                self.keep_snapshot(&snapshot, &trust, &mut state)?;
                (package, manifest.permissions(), trust)
            }
            Operation::Upgrade { grant } => {
                let Some(current) = &current else {
                    return Err(InstallError::Refused(format!(
                        "nothing is installed on shop `{}`: install first",
                        shop.id
                    )));
                };
                let (snapshot, trust) = self.fresh_trust(&mut state).await?;
                let above = current.version.clone();
                let newer = format!(">{above}");
                let package = match self
                    .fetch(&current.name, &newer, |v| *v > above, &trust)
                    .await
                {
                    Ok((package, line)) => {
                        expected_version = Some(line.vers);
                        package
                    }
                    Err(InstallError::Refused(reason)) if reason.starts_with("no version") => {
                        return Err(InstallError::Refused(format!(
                            "{} {} is the latest on shop `{}`",
                            current.name, current.version, shop.id
                        )));
                    }
                    Err(err) => return Err(err),
                };
                let manifest = package.manifest()?;
                let wider = manifest.permissions().beyond(&current.granted);
                if !wider.is_empty() && !grant {
                    return Err(InstallError::WiderPermissions {
                        name: manifest.name.clone(),
                        version: manifest.version.clone(),
                        wider,
                    });
                }
                self.keep_snapshot(&snapshot, &trust, &mut state)?;
                // Within the grant, the new release gets what it asks for:
                // hosts its manifest dropped are no longer callable.
                let granted = manifest.permissions();
                (package, granted, trust)
            }
        };
        let verified = tongdao_market::verify::verify(&package, &trust, now_ms())?;
        let manifest = &verified.manifest;
        if manifest.name != expected_name {
            return Err(InstallError::Refused(format!(
                "the marketplace served `{}` for `{expected_name}`: refused",
                manifest.name
            )));
        }
        if let Some(expected) = &expected_version
            && manifest.version != *expected
        {
            return Err(InstallError::Refused(format!(
                "the marketplace served {} {} for version {expected}: refused",
                manifest.name, manifest.version
            )));
        }
        if let Some(current) = &current
            && !current.publisher.is_empty()
            && current.publisher != manifest.publisher
        {
            return Err(InstallError::Refused(format!(
                "{} is published by `{}` here, and this release by `{}`: install it anew if that is meant",
                manifest.name, current.publisher, manifest.publisher
            )));
        }
        let host_version =
            semver::Version::parse(env!("CARGO_PKG_VERSION")).expect("a semver version");
        if let Some(min_host) = &verified.release.min_host
            && host_version < *min_host
        {
            return Err(InstallError::Refused(format!(
                "{} {} needs tongdao {min_host} or later (this is {host_version})",
                manifest.name, manifest.version
            )));
        }
        if let Some(missing) = manifest
            .credentials
            .iter()
            .find(|c| c.required && !shop.credentials.contains_key(&c.name))
        {
            return Err(InstallError::Refused(format!(
                "{} needs credential `{}` ({}): add it to shop `{}`'s credentials first",
                manifest.name, missing.name, missing.description, shop.id
            )));
        }
        let plugin = load_component(runtime, &self.dir, &package, manifest)?;
        let bytes = package.to_bytes();
        let sha256 = tongdao_market::sha256_hex(&bytes);
        let path = self.package_path(&sha256);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).context("creating the packages directory")?;
        }
        tongdao_market::trust::write_atomically(&path, &bytes)?;
        let installed = Installed {
            name: manifest.name.clone(),
            version: manifest.version.clone(),
            publisher: manifest.publisher.clone(),
            package_sha256: sha256,
            granted,
            installed_ms: now_ms(),
        };
        let entry = state.shops.entry(shop.id.clone()).or_default();
        if let Some(replaced) = entry.current.take() {
            entry.previous.retain(|r| r.version != replaced.version);
            entry.previous.insert(0, replaced);
        }
        entry.previous.retain(|r| r.version != installed.version);
        entry.previous.truncate(KEEP_VERSIONS - 1);
        entry.current = Some(installed.clone());
        self.save(&state)?;
        Ok((installed, plugin))
    }

    /// Downloads the best release of `name` within `version` that this
    /// host can link, checking its digest against the index.
    async fn fetch(
        &self,
        name: &str,
        version: &str,
        accept: impl Fn(&semver::Version) -> bool,
        trust: &Trust,
    ) -> Result<(Package, tongdao_market::index::IndexLine), InstallError> {
        let lines = self.source.versions(name).await?;
        let wits: Vec<semver::Version> = crate::contract::LINKED_WITS
            .iter()
            .filter_map(|w| tongdao_market::wit_version(w))
            .collect();
        let host = semver::Version::parse(env!("CARGO_PKG_VERSION")).expect("a semver version");
        let Some(line) = tongdao_market::index::choose_by(&lines, accept, &wits, &host) else {
            return Err(InstallError::Refused(format!(
                "no version of `{name}` matches {version} for this host (contracts {:?}, host {host}; published: {})",
                crate::contract::LINKED_WITS,
                lines
                    .iter()
                    .map(|l| format!(
                        "{} for {}{}",
                        l.vers,
                        l.wit,
                        if l.yanked { " yanked" } else { "" }
                    ))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        };
        if let Some(reason) = trust.revoked.reason(name, &line.vers) {
            return Err(InstallError::Refused(format!(
                "{name} {} was withdrawn by the marketplace: {reason}",
                line.vers
            )));
        }
        let bytes = self
            .source
            .require(&tongdao_market::index::package_path(name, &line.vers))
            .await?;
        if tongdao_market::sha256_hex(&bytes) != line.sha256 {
            return Err(InstallError::Refused(format!(
                "tampered: the package of {name} {} does not match its index line",
                line.vers
            )));
        }
        Ok((Package::read(&bytes)?, line.clone()))
    }

    fn keep_snapshot(
        &self,
        snapshot: &Snapshot,
        trust: &Trust,
        state: &mut InstallState,
    ) -> anyhow::Result<()> {
        let dir = self.dir.join("trust");
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        snapshot.write(&dir)?;
        state.last_timestamp = Some(
            state
                .last_timestamp
                .unwrap_or(0)
                .max(trust.timestamp.version),
        );
        Ok(())
    }
}

/// Writes a package's component beside the installs and loads it, refusing
/// it if it describes itself otherwise than its manifest.
fn load_component(
    runtime: &Runtime,
    dir: &Path,
    package: &Package,
    manifest: &tongdao_market::manifest::Manifest,
) -> anyhow::Result<Arc<LoadedPlugin>> {
    let wit = &manifest.wit;
    anyhow::ensure!(
        crate::contract::LINKED_WITS.contains(&wit.as_str()),
        "{} {} targets {wit}, which this host does not link ({:?})",
        manifest.name,
        manifest.version,
        crate::contract::LINKED_WITS
    );
    let component = package.component();
    let sha256 = tongdao_market::sha256_hex(component);
    let path = dir.join("components").join(format!("{sha256}.wasm"));
    // Written from the verified bytes every time, and the loaded file's
    // digest checked: what runs is what was verified.
    std::fs::create_dir_all(path.parent().expect("a parent"))?;
    tongdao_market::trust::write_atomically(&path, component)?;
    let plugin = runtime
        .load(&path)
        .with_context(|| format!("loading {} {}", manifest.name, manifest.version))?;
    anyhow::ensure!(
        plugin.digest == sha256,
        "tampered: {} changed between writing and loading",
        path.display()
    );
    let differences = crate::declared::disagreements(manifest, &plugin);
    anyhow::ensure!(
        differences.is_empty(),
        "{} {} disagrees with its tongdao-plugin.toml, so it is refused: {}",
        manifest.name,
        manifest.version,
        differences.join("; ")
    );
    Ok(plugin)
}

/// The hosts a shop served by an installed release may call: what the
/// brand granted, narrowed by the shop's config `egress` when it lists any.
pub fn effective_egress(shop: &ShopConfig, installed: &Installed) -> Vec<String> {
    installed
        .granted
        .egress_hosts
        .iter()
        .filter(|host| shop.egress.is_empty() || shop.egress.contains(host))
        .cloned()
        .collect()
}

/// How an installed release is named where it serves a shop.
pub fn source_label(installed: &Installed) -> String {
    format!("{} {} (installed)", installed.name, installed.version)
}
