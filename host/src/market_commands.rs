//! `tongdao plugin …` and `tongdao market …`: the ISV's commands (keygen,
//! pack, sign, verify) and the marketplace operator's (init, add-publisher,
//! publish, revoke, refresh, serve), plus search for brands.

use anyhow::Context;
use clap::Subcommand;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use tongdao::marketplace::Source;
use tongdao_market::keys::{PublicKey, SecretKey};
use tongdao_market::package::{self, Package};
use tongdao_market::registry::Registry;
use tongdao_market::trust::{Freshness, Roots};

/// An ISV's commands.
#[derive(Subcommand)]
pub enum PluginCommand {
    /// Create a signing key (a file readable by its owner only) and print
    /// its public key, to register with the marketplace.
    Keygen {
        /// The key file to create.
        #[arg(long)]
        out: PathBuf,
    },
    /// Pack a plugin directory into a `.tdpkg`: `tongdao-plugin.toml`,
    /// `README.md`, `LICENSE` (and `CHANGELOG.md`) from DIR, the component
    /// from `--component` (default DIR/plugin.wasm); `release.json` pins
    /// the SHA-256 of each.
    Pack {
        /// The plugin's directory.
        dir: PathBuf,
        /// The built component.
        #[arg(long)]
        component: Option<PathBuf>,
        /// The package to write (default NAME-VERSION.tdpkg).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Scaffold a plugin crate from the SDK in DIR/NAME: a push channel
    /// with signature checking, a send action, unit tests, its static
    /// manifest, README, licence and a recorded push for `tongdao replay`
    /// (the same files as `examples/plugins/starter`).
    New {
        /// The plugin's name (lowercase letters, digits and `-`).
        name: String,
        /// Where to create it (default: the current directory).
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// The SDK crate's directory, for a plugin outside this workspace
        /// (default: inside a workspace that has `tongdao-sdk`, from it).
        #[arg(long)]
        sdk: Option<PathBuf>,
    },
    /// Draft a static manifest (`tongdao-plugin.toml`) from what a built
    /// component describes; add its settings, the data it reads and a
    /// description, then keep it beside the plugin's source.
    Describe {
        /// The built component.
        component: PathBuf,
        /// The publisher's id.
        #[arg(long)]
        publisher: String,
    },
    /// Install a plugin from the config's marketplace on a shop: shows the
    /// permission prompt (built from the manifest alone) and installs only
    /// with `--yes`, recording the grant pinned by digest. On a running
    /// host it goes through the admin API (TONGDAO_CREDENTIAL=agent:secret
    /// of an admin, or the config's admin token) and the shop switches at
    /// once.
    Install {
        /// NAME, or NAME@VERSION (exact, e.g. 0.1.0+r2) or NAME@REQ (^0.1).
        plugin: String,
        /// The shop.
        #[arg(long)]
        shop: String,
        /// The brand config.
        #[arg(long)]
        config: PathBuf,
        /// Accept the permissions shown.
        #[arg(long)]
        yes: bool,
    },
    /// Move a shop to the newest release: by itself when it asks for no
    /// more than was granted, with `--grant` when it asks for more.
    Upgrade {
        /// The shop.
        #[arg(long)]
        shop: String,
        /// The brand config.
        #[arg(long)]
        config: PathBuf,
        /// Accept wider permissions.
        #[arg(long)]
        grant: bool,
    },
    /// Go back to a release installed before on a shop (the last five are
    /// kept).
    Rollback {
        /// The shop.
        #[arg(long)]
        shop: String,
        /// The version to go back to.
        #[arg(long)]
        to: String,
        /// The brand config.
        #[arg(long)]
        config: PathBuf,
    },
    /// What serves each shop and what each has installed.
    List {
        /// The brand config.
        #[arg(long)]
        config: PathBuf,
    },
    /// Sign a package's `release.json` with the publisher's key.
    Sign {
        /// The package.
        package: PathBuf,
        /// The publisher's key file.
        #[arg(long)]
        key: PathBuf,
    },
    /// Check a package: its files against `release.json`, and with
    /// `--market` and `--root` its signatures against the marketplace's
    /// signed key list; prints the permission prompt.
    Verify {
        /// The package.
        package: PathBuf,
        /// The marketplace (a directory or an http(s) URL).
        #[arg(long)]
        market: Option<String>,
        /// A pinned marketplace root key, `ed25519:…` (repeatable).
        #[arg(long = "root")]
        roots: Vec<String>,
    },
}

/// A marketplace operator's commands, and search.
#[derive(Subcommand)]
pub enum MarketCommand {
    /// Create a marketplace in DIR with new keys in `--keys` (keep that
    /// directory off the server; the root key offline): prints the root
    /// key hosts pin.
    Init {
        /// The marketplace directory.
        dir: PathBuf,
        /// Where the operator's secret keys go.
        #[arg(long)]
        keys: PathBuf,
    },
    /// Register a publisher's public key for plugin names (`acme-*` for a
    /// prefix).
    AddPublisher {
        /// The marketplace directory.
        dir: PathBuf,
        /// The operator's key directory.
        #[arg(long)]
        keys: PathBuf,
        /// The publisher's id.
        #[arg(long)]
        publisher: String,
        /// Their public key, `ed25519:…`.
        #[arg(long)]
        key: String,
        /// Plugin names they may publish (repeatable).
        #[arg(long = "name", required = true)]
        names: Vec<String>,
    },
    /// Review and publish a signed package: check it against the key list,
    /// countersign it, store it and append its index line.
    Publish {
        /// The package.
        package: PathBuf,
        /// The marketplace directory.
        #[arg(long)]
        market: PathBuf,
        /// The operator's key directory.
        #[arg(long)]
        keys: PathBuf,
    },
    /// Withdraw a release (NAME@VERSION) or every version (NAME).
    Revoke {
        /// What to withdraw.
        release: String,
        /// The marketplace directory.
        #[arg(long)]
        market: PathBuf,
        /// The operator's key directory.
        #[arg(long)]
        keys: PathBuf,
        /// Why (shown to brands).
        #[arg(long)]
        reason: String,
    },
    /// Sign a new timestamp (run daily: hosts refuse an expired one).
    Refresh {
        /// The marketplace directory.
        dir: PathBuf,
        /// The operator's key directory.
        #[arg(long)]
        keys: PathBuf,
    },
    /// Serve a marketplace directory over HTTP (GET of its files only).
    Serve {
        /// The marketplace directory.
        dir: PathBuf,
        /// Where to listen.
        #[arg(long, default_value = "127.0.0.1:8700")]
        listen: std::net::SocketAddr,
    },
    /// Plugins whose name or description contains TEXT, with their latest
    /// version, contract and publisher.
    Search {
        /// What to look for (empty: everything the index names).
        text: String,
        /// The marketplace (a directory or an http(s) URL).
        #[arg(long)]
        market: String,
        /// Plugin names to look up (a static index cannot be listed over
        /// HTTP; a directory is listed).
        #[arg(long = "name")]
        names: Vec<String>,
    },
}

fn now_ms() -> i64 {
    tongdao::clock::now_ms()
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

/// Runs an ISV's command.
pub fn run_plugin(command: PluginCommand) -> anyhow::Result<ExitCode> {
    match command {
        PluginCommand::Keygen { out } => {
            let key = SecretKey::generate();
            key.write_new(&out)?;
            println!("{}", key.public());
            eprintln!(
                "wrote {} (key id {}); register the public key above with the marketplace",
                out.display(),
                key.public().id()
            );
        }
        PluginCommand::Pack {
            dir,
            component,
            out,
        } => {
            let component = component.unwrap_or_else(|| dir.join(package::COMPONENT));
            let manifest_path = dir.join(tongdao_market::manifest::FILE);
            let manifest = std::fs::read_to_string(&manifest_path)
                .with_context(|| format!("reading {}", manifest_path.display()))?;
            let changelog = dir.join(package::CHANGELOG);
            let packed = Package::pack(
                read(&component)?,
                &manifest,
                read(&dir.join(package::README))?,
                read(&dir.join(package::LICENSE))?,
                changelog.exists().then(|| read(&changelog)).transpose()?,
                now_ms(),
            )
            .with_context(|| format!("packing {}", dir.display()))?;
            let release = packed.release()?;
            let out = out.unwrap_or_else(|| {
                PathBuf::from(format!("{}-{}.tdpkg", release.name, release.version))
            });
            packed.write_file(&out)?;
            println!("{}", out.display());
            eprintln!(
                "packed {} {} ({} files pinned in release.json); sign it with `tongdao plugin sign`",
                release.name,
                release.version,
                release.files.len()
            );
        }
        PluginCommand::New { name, dir, sdk } => {
            let created = crate::scaffold::create(&name, &dir, sdk.as_deref())?;
            println!("{}", created.display());
            eprintln!(
                "created {}: `cargo test` runs its unit tests; `cargo xtask plugins` builds it inside the tongdao workspace",
                created.display()
            );
        }
        PluginCommand::Describe {
            component,
            publisher,
        } => {
            let runtime = tongdao::runtime::Runtime::new(
                tongdao::runtime::RuntimeLimits::from(&tongdao::config::Limits::default()),
                None,
            )?;
            let loaded = runtime
                .load(&component)
                .with_context(|| format!("loading {}", component.display()))?;
            let draft = tongdao::declared::draft(&loaded, &publisher)
                .map_err(|err| anyhow::anyhow!(err))?;
            print!("{}", draft.to_toml());
        }
        PluginCommand::Install {
            plugin,
            shop,
            config,
            yes,
        } => {
            let (name, version) = plugin.split_once('@').unwrap_or((plugin.as_str(), "*"));
            let body = serde_json::json!({ "name": name, "version": version, "grant": yes });
            return change_plugin(&config, &shop, "install", body);
        }
        PluginCommand::Upgrade {
            shop,
            config,
            grant,
        } => {
            return change_plugin(
                &config,
                &shop,
                "upgrade",
                serde_json::json!({ "grant": grant }),
            );
        }
        PluginCommand::Rollback { shop, to, config } => {
            return change_plugin(
                &config,
                &shop,
                "rollback",
                serde_json::json!({ "version": to }),
            );
        }
        PluginCommand::List { config } => {
            let config = tongdao::config::Config::load(&config)?;
            let market = market_of(&config)?;
            let state = market.state()?;
            for shop in config.shops.values() {
                match state.shops.get(&shop.id).and_then(|s| s.current.as_ref()) {
                    Some(current) => {
                        let earlier: Vec<String> = state.shops[&shop.id]
                            .previous
                            .iter()
                            .map(|r| r.version.to_string())
                            .collect();
                        println!(
                            "{}	{} {}	installed (sha256 {}…)	can roll back to: {}",
                            shop.id,
                            current.name,
                            current.version,
                            &current.package_sha256[..16],
                            if earlier.is_empty() {
                                "—".into()
                            } else {
                                earlier.join(", ")
                            }
                        );
                    }
                    None => println!(
                        "{}	{}	from [[plugins]] (not installed)",
                        shop.id, shop.plugin
                    ),
                }
            }
        }
        PluginCommand::Sign { package, key } => {
            let key = SecretKey::read(&key)?;
            let mut packed = Package::read_file(&package)?;
            packed.sign(&key)?;
            packed.write_file(&package)?;
            eprintln!(
                "signed {} with key {}",
                package.display(),
                key.public().id()
            );
        }
        PluginCommand::Verify {
            package,
            market,
            roots,
        } => {
            let packed = Package::read_file(&package)?;
            let manifest = packed.manifest()?;
            let verified = match market {
                Some(market) => {
                    let roots = Roots {
                        keys: roots
                            .iter()
                            .map(|r| PublicKey::parse(r))
                            .collect::<Result<_, _>>()?,
                        threshold: 1,
                    };
                    anyhow::ensure!(
                        !roots.keys.is_empty(),
                        "--market needs --root (the pinned root key)"
                    );
                    let snapshot = runtime()?.block_on(Source::parse(&market)?.snapshot())?;
                    let trust =
                        snapshot.verify(&roots, now_ms(), Freshness::Check { last_seen: None })?;
                    let verified = tongdao_market::verify::verify(&packed, &trust, now_ms())?;
                    format!(
                        "signed by publisher `{}` (key {}), countersigned by the marketplace at {}",
                        verified.release.publisher,
                        verified.publisher_key,
                        verified.countersigned_ms
                    )
                }
                None => {
                    // Without the marketplace: the files against the statement.
                    let release = packed.release()?;
                    for (name, pinned) in &release.files {
                        let bytes = packed.file(name).unwrap_or_default();
                        anyhow::ensure!(
                            tongdao_market::sha256_hex(bytes) == pinned.sha256,
                            "tampered: `{name}` does not match release.json"
                        );
                    }
                    "files match release.json (signatures not checked: pass --market and --root)"
                        .into()
                }
            };
            println!("{}", manifest.permission_prompt());
            println!("{verified}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs an operator's command, or search.
pub fn run_market(command: MarketCommand) -> anyhow::Result<ExitCode> {
    match command {
        MarketCommand::Init { dir, keys } => {
            let root = Registry::init(&dir, &keys, now_ms())?;
            println!("{root}");
            eprintln!(
                "created the marketplace in {}; hosts pin the root key above ([market] roots)",
                dir.display()
            );
        }
        MarketCommand::AddPublisher {
            dir,
            keys,
            publisher,
            key,
            names,
        } => {
            let registry = Registry::open(&dir, &keys)?;
            let key = PublicKey::parse(&key)?;
            let version = registry.add_publisher(&publisher, key, names, now_ms())?;
            eprintln!(
                "registered key {} for `{publisher}` (timestamp version {version})",
                key.id()
            );
        }
        MarketCommand::Publish {
            package,
            market,
            keys,
        } => {
            let registry = Registry::open(&market, &keys)?;
            let line = registry.publish(Package::read_file(&package)?, now_ms())?;
            println!("{}", tongdao_market::index::line(&line));
        }
        MarketCommand::Revoke {
            release,
            market,
            keys,
            reason,
        } => {
            let registry = Registry::open(&market, &keys)?;
            let (name, version) = match release.split_once('@') {
                Some((name, version)) => (
                    name.to_owned(),
                    Some(
                        semver::Version::parse(version)
                            .with_context(|| format!("`{version}` is not a version"))?,
                    ),
                ),
                None => (release.clone(), None),
            };
            let version_now = registry.revoke_release(&name, version, &reason, now_ms())?;
            eprintln!("withdrew {release} (timestamp version {version_now})");
        }
        MarketCommand::Refresh { dir, keys } => {
            let version = Registry::open(&dir, &keys)?.refresh(now_ms())?;
            eprintln!("timestamp version {version}");
        }
        MarketCommand::Serve { dir, listen } => {
            anyhow::ensure!(
                dir.join(tongdao_market::trust::KEYS).exists(),
                "{} holds no marketplace (no keys.json)",
                dir.display()
            );
            runtime()?.block_on(async {
                let listener = tokio::net::TcpListener::bind(listen)
                    .await
                    .with_context(|| format!("listening on {listen}"))?;
                eprintln!(
                    "serving {} on http://{}",
                    dir.display(),
                    listener.local_addr()?
                );
                let (stop, stopped) = tokio::sync::watch::channel(false);
                tokio::spawn(async move {
                    let _ = tokio::signal::ctrl_c().await;
                    let _ = stop.send(true);
                });
                tongdao::marketplace::serve(dir, listener, stopped).await
            })?;
        }
        MarketCommand::Search {
            text,
            market,
            names,
        } => {
            let source = Source::parse(&market)?;
            let mut names = names;
            if let (true, Source::Dir(dir)) = (names.is_empty(), &source) {
                names = index_names(&dir.join("index"));
            }
            let found = runtime()?.block_on(async {
                let mut found = Vec::new();
                for name in &names {
                    let lines = source.versions(name).await?;
                    if let Some(latest) = lines
                        .iter()
                        .filter(|l| !l.yanked)
                        .max_by(|a, b| a.vers.cmp(&b.vers))
                        && (latest.name.contains(&text) || latest.description.contains(&text))
                    {
                        found.push(latest.clone());
                    }
                }
                anyhow::Ok(found)
            })?;
            for line in &found {
                println!(
                    "{} {}\t{}\tby {}\t{}",
                    line.name, line.vers, line.wit, line.publisher, line.description
                );
            }
            if found.is_empty() {
                eprintln!("nothing matches `{text}`");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The plugin names an index directory holds.
fn index_names(dir: &Path) -> Vec<String> {
    let mut names = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Some(name) = path.file_name().and_then(|n| n.to_str()) {
                names.push(name.to_owned());
            }
        }
    }
    names.sort();
    names
}

/// The config's marketplace, as installs use it.
fn market_of(config: &tongdao::config::Config) -> anyhow::Result<tongdao::installs::Market> {
    let market = config.market.as_ref().with_context(|| {
        format!(
            "{} has no [market] section: add source = … and roots = [\"ed25519:…\"]",
            config.path.display()
        )
    })?;
    Ok(tongdao::installs::Market::new(
        Source::parse(&market.source)?,
        market.trust_roots(),
        config.data_dir.join("market"),
    ))
}

/// Install, upgrade or rollback on a shop: through the running host's
/// admin API when it holds the data directory, else directly.
fn change_plugin(
    config_path: &Path,
    shop: &str,
    verb: &str,
    body: serde_json::Value,
) -> anyhow::Result<ExitCode> {
    let config = tongdao::config::Config::load(config_path)?;
    let market = market_of(&config)?;
    let shop_config = config
        .shops
        .get(shop)
        .with_context(|| format!("{} has no shop `{shop}`", config.path.display()))?;
    let store_dir = config.data_dir.join("store");
    let running = std::fs::create_dir_all(&config.data_dir).is_ok()
        && tongdao::store::SledStore::open_with(&store_dir, None).is_err();
    if running {
        let direct = anyhow::anyhow!("the host is running");
        let answer = super::ask_running_host_with(
            &config,
            reqwest::Method::POST,
            &format!("plugins/{shop}/{verb}"),
            Some(body),
            &direct,
        )?;
        println!("{}", serde_json::to_string_pretty(&answer)?);
        return Ok(ExitCode::SUCCESS);
    }
    let operation = match verb {
        "install" => tongdao::installs::Operation::Install {
            name: body["name"].as_str().unwrap_or_default().to_owned(),
            version: tongdao::installs::Wanted::parse(body["version"].as_str().unwrap_or("*"))
                .map_err(|err| anyhow::anyhow!(err))?,
            grant: body["grant"].as_bool().unwrap_or(false),
        },
        "upgrade" => tongdao::installs::Operation::Upgrade {
            grant: body["grant"].as_bool().unwrap_or(false),
        },
        _ => tongdao::installs::Operation::Rollback {
            version: semver::Version::parse(body["version"].as_str().unwrap_or_default())
                .context("--to is not a version")?,
        },
    };
    let runtime = tongdao::runtime::Runtime::new(
        tongdao::runtime::RuntimeLimits::from(&config.limits),
        Some(config.data_dir.join("compiled")),
    )?;
    let applied = runtime_block_on(market.apply(&runtime, shop_config, operation))?;
    match applied {
        Ok((installed, _)) => {
            println!(
                "{} {} installed on shop `{shop}`; the host serves it from its next start",
                installed.name, installed.version
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(tongdao::installs::InstallError::NeedsGrant { prompt }) => {
            println!("{prompt}");
            eprintln!("not installed: run again with --yes to grant these permissions");
            Ok(ExitCode::from(2))
        }
        Err(err) => Err(err.into()),
    }
}

fn runtime_block_on<F: std::future::Future>(future: F) -> anyhow::Result<F::Output> {
    Ok(runtime()?.block_on(future))
}
