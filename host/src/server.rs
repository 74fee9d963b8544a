//! The composition root: assembling and running the host — store, runtime
//! and plugins, shops, and each worker (gateway, streams, poller, pipeline,
//! delivery, sweeps) with a struct of only the handles it uses. Nothing but
//! this module sees them all; no worker imports it.

use crate::clock;
use crate::config::{Config, Limits, ManifestFacts};
use crate::delivery;
use crate::gateway;
use crate::kb::Bot;
use crate::outbound::{AddressPolicy, OutboundClient};
use crate::pipeline;
use crate::poll::{self, PollHint};
use crate::runtime::{LoadedPlugin, Runtime, RuntimeLimits};
use crate::shops::{Shop, Shops};
use crate::store::{GroupCommit, SledStore, Store};
use crate::stream;
use crate::telemetry::Metrics;
use anyhow::Context;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinHandle;

/// Everything the host's tasks share.
pub struct HostState {
    /// The plugin runtime.
    pub runtime: Runtime,
    /// The store.
    pub store: Arc<dyn Store>,
    /// The durability barrier for acknowledgements.
    pub group_commit: GroupCommit,
    /// The shops served.
    pub shops: Shops,
    /// Limits from the config.
    pub limits: Limits,
    /// Counters for `/metrics`.
    pub metrics: Arc<Metrics>,
    /// The bot: knowledge base and sentiment detector.
    pub bot: Arc<Bot>,
    /// What follows a delivered action (answers to look-ups), for delivery.
    pub follow_ups: Arc<dyn crate::delivery::FollowUps>,
    /// Human agents and their queue.
    pub desk: Arc<crate::desk::Desk>,
    /// Who is asking the admin API (it is off without an `[admin]` table).
    pub auth: Option<Arc<crate::auth::Authenticator>>,
    /// Where admin actions are recorded.
    pub audit: Arc<crate::auth::audit::AuditLog>,
    /// The console's signed-in agents.
    pub sessions: Arc<crate::console::session::Sessions>,
    /// The console's settings.
    pub console: crate::config::ConsoleConfig,
    /// Risk alerts' settings.
    pub alerts: crate::config::AlertsConfig,
    /// Who has the console open.
    pub presence: Arc<crate::console::presence::Presence>,
    /// The marketplace shops install plugins from, if configured.
    pub market: Option<crate::installs::Market>,
    /// The config file, read again on reload.
    pub config_path: std::path::PathBuf,
    /// The data directory (store, credentials, audit log, backups).
    pub data_dir: std::path::PathBuf,
    /// The outbound HTTP client.
    pub http: OutboundClient,
    /// Wakes the pipeline when events are committed.
    pub pipeline_wake: Arc<Notify>,
    /// Wakes delivery when actions are queued or finished.
    pub delivery_wake: Arc<Notify>,
    /// Hints from pushes that a feed has data waiting.
    pub poll_hints: poll::Hints,
    /// What the poller has yet to do, for [`HostState::is_settled`].
    pub poll_activity: Arc<poll::Activity>,
}

impl HostState {
    /// The desk's handles.
    pub fn people(&self) -> crate::desk::People {
        crate::desk::People {
            store: Arc::clone(&self.store),
            shops: self.shops.clone(),
            desk: Arc::clone(&self.desk),
            delivery_wake: Arc::clone(&self.delivery_wake),
        }
    }

    /// Delivery's handles.
    pub fn delivery(&self) -> crate::delivery::Delivery {
        crate::delivery::Delivery {
            runtime: self.runtime.clone(),
            store: Arc::clone(&self.store),
            group_commit: self.group_commit.clone(),
            shops: self.shops.clone(),
            limits: self.limits.clone(),
            metrics: Arc::clone(&self.metrics),
            http: self.http.clone(),
            follow_ups: Arc::clone(&self.follow_ups),
            delivery_wake: Arc::clone(&self.delivery_wake),
        }
    }

    /// The poller's handles.
    pub fn poller(&self) -> poll::Poller {
        poll::Poller {
            runtime: self.runtime.clone(),
            store: Arc::clone(&self.store),
            group_commit: self.group_commit.clone(),
            shops: self.shops.clone(),
            limits: self.limits.clone(),
            metrics: Arc::clone(&self.metrics),
            http: self.http.clone(),
            pipeline_wake: Arc::clone(&self.pipeline_wake),
            poll_activity: Arc::clone(&self.poll_activity),
        }
    }

    /// The stream holder's handles.
    pub fn streams(&self) -> stream::Streams {
        stream::Streams {
            runtime: self.runtime.clone(),
            store: Arc::clone(&self.store),
            group_commit: self.group_commit.clone(),
            shops: self.shops.clone(),
            limits: self.limits.clone(),
            metrics: Arc::clone(&self.metrics),
            pipeline_wake: Arc::clone(&self.pipeline_wake),
        }
    }

    /// The pipeline's handles.
    pub fn pipeline(&self) -> crate::pipeline::Pipeline {
        crate::pipeline::Pipeline {
            store: Arc::clone(&self.store),
            group_commit: self.group_commit.clone(),
            shops: self.shops.clone(),
            bot: Arc::clone(&self.bot),
            desk: Arc::clone(&self.desk),
            people: self.people(),
            pipeline_wake: Arc::clone(&self.pipeline_wake),
            delivery_wake: Arc::clone(&self.delivery_wake),
            poll_hints: self.poll_hints.clone(),
            metrics: Arc::clone(&self.metrics),
            alerts: self.alerts.clone(),
        }
    }

    /// Webhook ingestion's handles.
    pub fn ingest(&self) -> crate::ingest::Ingest {
        crate::ingest::Ingest {
            runtime: self.runtime.clone(),
            store: Arc::clone(&self.store),
            group_commit: self.group_commit.clone(),
            limits: self.limits.clone(),
            metrics: Arc::clone(&self.metrics),
            pipeline_wake: Arc::clone(&self.pipeline_wake),
            poll_hints: self.poll_hints.clone(),
        }
    }

    /// The gateway's handles: ingestion and the admin API.
    pub fn gateway(&self) -> gateway::Gateway {
        gateway::Gateway {
            shops: self.shops.clone(),
            limits: self.limits.clone(),
            metrics: Arc::clone(&self.metrics),
            ingest: self.ingest(),
            admin: gateway::admin::Admin {
                auth: self.auth.clone(),
                audit: Arc::clone(&self.audit),
                data_dir: self.data_dir.clone(),
                limits: self.limits.clone(),
                shops: self.shops.clone(),
                store: Arc::clone(&self.store),
                people: self.people(),
                bot: Arc::clone(&self.bot),
                sessions: Arc::clone(&self.sessions),
                console: self.console.clone(),
                presence: Arc::clone(&self.presence),
                runtime: self.runtime.clone(),
                market: self.market.clone(),
            },
        }
    }

    /// Hand the poller a hint; counted until the poller has taken it on.
    pub fn hint_poll(&self, hint: PollHint) -> Result<(), mpsc::error::TrySendError<PollHint>> {
        self.poll_hints.send(hint)
    }

    /// Whether the host has nothing left to do for what it has received so
    /// far: no hint or poll pending, no event waiting for the pipeline, no
    /// action waiting for or in delivery (a retry due later counts as
    /// waiting). Tests wait for this before checking that nothing more
    /// happened; it reads whole trees, so it is not for hot paths.
    pub fn is_settled(&self) -> anyhow::Result<bool> {
        Ok(self.poll_activity.is_idle()
            && self.store.pending_inbox(1)?.is_empty()
            && self.store.outbox_unfinished()? == 0)
    }
}

/// A running host.
pub struct RunningHost {
    /// The address the gateway listens on.
    pub addr: SocketAddr,
    /// The admin plane's own address, when `server.admin_listen` is set.
    pub admin_addr: Option<SocketAddr>,
    /// Shared state, for inspection (tests, admin).
    pub state: Arc<HostState>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl RunningHost {
    /// Reloads what serves each shop, as SIGHUP does, while the host
    /// serves: the config file's `[[plugins]]` components and the releases
    /// installed from the marketplace (`installed.json`, which the CLI may
    /// have changed), each loaded and checked as at start. A shop whose
    /// plugin changed is swapped; calls under way finish on the old one.
    /// Returns one line per shop swapped. Other config changes (shops,
    /// credentials, limits) wait for a restart, and are not applied.
    pub async fn reload(&self) -> anyhow::Result<Vec<String>> {
        let state = Arc::clone(&self.state);
        tokio::task::spawn_blocking(move || reload_plugins(&state))
            .await
            .context("the reload task")?
    }

    /// Stop accepting work, let in-flight requests and deliveries finish,
    /// flush the store and close it: when this returns, the data directory
    /// can be opened again.
    pub async fn shutdown(self) {
        self.state.sessions.close_streams();
        let _ = self.shutdown.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
        self.state.group_commit.close().await;
        // The tasks are done; wait for the last borrowers of the shared state
        // (connection and delivery tasks finishing their drop) so the store
        // is closed, not just idle.
        let mut state = self.state;
        for _ in 0..500 {
            match Arc::try_unwrap(state) {
                Ok(owned) => {
                    drop(owned);
                    return;
                }
                Err(shared) => {
                    state = shared;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
        tracing::warn!(
            "the host's state is still referenced after shutdown; the store closes when it is released"
        );
    }
}

/// Load the plugins a config names and check the config against their manifests.
pub fn load_plugins(
    config: &Config,
    runtime: &Runtime,
) -> anyhow::Result<BTreeMap<String, Arc<LoadedPlugin>>> {
    let mut plugins = BTreeMap::new();
    let mut facts = BTreeMap::new();
    for plugin in config.plugins.values() {
        let loaded = runtime.load(&plugin.component).with_context(|| {
            format!(
                "{}: loading plugin `{}`",
                config.path.display(),
                plugin.name
            )
        })?;
        if let Some(declared) = &plugin.manifest {
            let differences = crate::declared::disagreements(declared, &loaded);
            anyhow::ensure!(
                differences.is_empty(),
                "{}: plugin `{}` ({}) disagrees with its tongdao-plugin.toml, so it is refused: {}",
                config.path.display(),
                plugin.name,
                plugin.component.display(),
                differences.join("; ")
            );
        }
        tracing::info!(
            plugin = %plugin.name,
            version = %loaded.manifest.version,
            size = loaded.size,
            digest = %&loaded.digest[..16],
            "plugin loaded"
        );
        facts.insert(
            plugin.name.clone(),
            ManifestFacts {
                name: loaded.manifest.name.clone(),
                required_credentials: loaded
                    .manifest
                    .credentials
                    .iter()
                    .filter(|c| c.required)
                    .map(|c| c.name.clone())
                    .collect(),
                egress_hosts: loaded.manifest.egress_hosts.clone(),
                streams: loaded
                    .manifest
                    .ingestion
                    .contains(&crate::model::IngestionShape::Stream),
                polls: loaded
                    .manifest
                    .ingestion
                    .contains(&crate::model::IngestionShape::Poll),
            },
        );
        plugins.insert(plugin.name.clone(), loaded);
    }
    config.check_against_manifests(&facts)?;
    Ok(plugins)
}

/// Start the host described by `config`.
pub async fn start(config: Config) -> anyhow::Result<RunningHost> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating the data directory {}", config.data_dir.display()))?;
    let store: Arc<dyn Store> = Arc::new(SledStore::open(&config.data_dir.join("store"))?);
    let runtime = Runtime::new(
        RuntimeLimits::from(&config.limits),
        Some(config.data_dir.join("compiled")),
    )?;
    let plugins = load_plugins(&config, &runtime)?;
    let market = config.market.as_ref().map(|market| {
        anyhow::Ok(crate::installs::Market::new(
            crate::marketplace::Source::parse(&market.source)?,
            market.trust_roots(),
            config.data_dir.join("market"),
        ))
    });
    let market = market.transpose()?;
    let installed = match &market {
        Some(market) => market
            .load_all(&runtime)
            .with_context(|| format!("{}: the installed plugins", config.path.display()))?,
        None => Default::default(),
    };
    let mut shops = Shops::default();
    for shop in config.shops.values() {
        let serving = match (installed.get(&shop.id), plugins.get(&shop.plugin)) {
            (Some((release, plugin)), _) => {
                anyhow::ensure!(
                    release.name == shop.plugin,
                    "{}: shop `{}` is configured for plugin `{}` but has `{}` installed",
                    config.path.display(),
                    shop.id,
                    shop.plugin,
                    release.name
                );
                tracing::info!(shop = %shop.id, plugin = %release.name, version = %release.version, "installed plugin loaded");
                let serving = Shop::new(shop.clone(), Arc::clone(plugin), &config.limits);
                serving.swap_plugin(
                    Arc::clone(plugin),
                    crate::installs::effective_egress(shop, release),
                    crate::installs::source_label(release),
                );
                serving
            }
            (None, Some(plugin)) => Shop::new(shop.clone(), Arc::clone(plugin), &config.limits),
            (None, None) => anyhow::bail!(
                "{}: shop `{}` uses plugin `{}`, which is neither a [[plugins]] entry nor installed: `tongdao plugin install {} --shop {} --config {}`",
                config.path.display(),
                shop.id,
                shop.plugin,
                shop.plugin,
                shop.id,
                config.path.display()
            ),
        };
        shops.insert(serving);
    }
    crate::care::check_channels(&shops, &config.path)?;
    let bot = Arc::new(Bot::load(
        config.bot.knowledge_base.as_deref(),
        config.bot.min_score,
    )?);
    let follow_ups = Arc::new(crate::answers::LookUpAnswers {
        store: Arc::clone(&store),
        bot: Arc::clone(&bot),
    });
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("{}: listening on {}", config.path.display(), config.listen))?;
    let addr = listener.local_addr()?;
    let admin_listener = match config.admin_listen {
        Some(admin_listen) => Some(
            tokio::net::TcpListener::bind(admin_listen)
                .await
                .with_context(|| {
                    format!(
                        "{}: listening on {admin_listen} (server.admin_listen)",
                        config.path.display()
                    )
                })?,
        ),
        None => None,
    };
    let (poll_hints, hints) = mpsc::channel(poll::HINT_QUEUE);
    let poll_activity = Arc::new(poll::Activity::default());
    let sessions = Arc::new(crate::console::session::Sessions::stored(
        Arc::clone(&store),
        config.agents.clone(),
        clock::now_ms(),
    ));
    let state = Arc::new(HostState {
        runtime,
        group_commit: GroupCommit::start(Arc::clone(&store)),
        store,
        shops,
        limits: config.limits.clone(),
        metrics: Arc::new(Metrics::default()),
        bot,
        follow_ups,
        desk: Arc::new(crate::desk::Desk::new(
            config.agents.clone(),
            config
                .admin
                .as_ref()
                .map_or(crate::config::Assignment::LeastLoaded, |a| a.assignment),
        )),
        auth: config.admin.as_ref().map(|admin| {
            Arc::new(crate::auth::Authenticator::new(
                admin.token.clone(),
                config.agents.clone(),
                &config.data_dir,
            ))
        }),
        audit: Arc::new(crate::auth::audit::AuditLog::open(&config.data_dir)?),
        sessions,
        console: config.console.clone(),
        alerts: config.alerts.clone(),
        presence: Arc::default(),
        market,
        config_path: config.path.clone(),
        data_dir: config.data_dir.clone(),
        http: OutboundClient::new(
            config.limits.outbound_timeout,
            AddressPolicy::of(config.shops.values()),
        )?,
        pipeline_wake: Arc::new(Notify::new()),
        delivery_wake: Arc::new(Notify::new()),
        poll_hints: poll::Hints::new(poll_hints, Arc::clone(&poll_activity)),
        poll_activity,
    });
    let (shutdown, watch) = watch::channel(false);
    let front = Arc::new(state.gateway());
    let mut tasks = vec![
        tokio::spawn(gateway::serve(
            listener,
            Arc::clone(&front),
            if admin_listener.is_some() {
                gateway::Plane::Public
            } else {
                gateway::Plane::All
            },
            watch.clone(),
        )),
        tokio::spawn(stream::run(Arc::new(state.streams()), watch.clone())),
        tokio::spawn(poll::run(Arc::new(state.poller()), hints, watch.clone())),
        tokio::spawn(pipeline::run(Arc::new(state.pipeline()), watch.clone())),
        tokio::spawn(delivery::run(Arc::new(state.delivery()), watch.clone())),
        tokio::spawn(sweep(Arc::clone(&state), config.retention, watch.clone())),
        tokio::spawn(requeue_lost_agents(Arc::clone(&state), watch.clone())),
        tokio::spawn(invite_quiet_customers(Arc::clone(&state), watch.clone())),
        tokio::spawn(fire_stuck_parcels(Arc::clone(&state), watch.clone())),
    ];
    let admin_addr = match admin_listener {
        Some(listener) => {
            let admin_addr = listener.local_addr()?;
            tasks.push(tokio::spawn(gateway::serve(
                listener,
                Arc::clone(&front),
                gateway::Plane::Admin,
                watch.clone(),
            )));
            tracing::info!(%admin_addr, "the admin plane (/admin, /metrics) listens apart");
            Some(admin_addr)
        }
        None => None,
    };
    drop(watch);
    tracing::info!(%addr, shops = config.shops.len(), "tongdao is serving");
    Ok(RunningHost {
        addr,
        admin_addr,
        state,
        shutdown,
        tasks,
    })
}

/// Every second: customers the bot answered who have been quiet since are
/// invited to rate it, where their shop asks for ratings.
async fn invite_quiet_customers(state: Arc<HostState>, mut shutdown: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = shutdown.changed() => return,
        }
        let people = state.people();
        match tokio::task::spawn_blocking(move || {
            crate::csat::invite_quiet_customers(&people, clock::now_ms())
        })
        .await
        {
            Ok(Ok(_)) => {}
            Ok(Err(err)) => tracing::warn!(error = %format!("{err:#}"), "inviting ratings failed"),
            Err(err) => tracing::warn!(error = %err, "the invitation task failed"),
        }
    }
}

/// Every second: shipped orders with no logistics update for their shop's
/// `stuck` rule get its apology.
async fn fire_stuck_parcels(state: Arc<HostState>, mut shutdown: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = shutdown.changed() => return,
        }
        let (store, shops) = (Arc::clone(&state.store), state.shops.clone());
        match tokio::task::spawn_blocking(move || {
            crate::care::fire_stuck_parcels(store.as_ref(), &shops, clock::now_ms())
        })
        .await
        {
            Ok(Ok(0)) => {}
            Ok(Ok(_)) => state.delivery_wake.notify_one(),
            Ok(Err(err)) => {
                tracing::warn!(error = %format!("{err:#}"), "firing stuck-parcel care failed")
            }
            Err(err) => tracing::warn!(error = %err, "the stuck-parcel task failed"),
        }
    }
}

/// Every second: agents whose console connections have all been gone for
/// `console.reassign_after` lose their conversations to the queue (and go
/// offline), so customers are not left with someone who cannot answer.
async fn requeue_lost_agents(state: Arc<HostState>, mut shutdown: watch::Receiver<bool>) {
    let after_ms = state.console.reassign_after.as_millis() as i64;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = shutdown.changed() => return,
        }
        for agent in state.presence.take_lost(after_ms, clock::now_ms()) {
            let people = state.people();
            let moved = tokio::task::spawn_blocking(move || {
                crate::desk::requeue_lost_agent(&people, &agent).map(|moved| (agent, moved))
            })
            .await;
            match moved {
                Ok(Ok((agent, moved))) => {
                    if !moved.is_empty() {
                        tracing::warn!(%agent, conversations = moved.len(), "the agent's console connection was lost; their conversations went back to the queue");
                    }
                    let detail = format!("{} conversation(s) requeued", moved.len());
                    let entry = crate::auth::audit::AuditEntry {
                        at_ms: clock::now_ms(),
                        who: "host".into(),
                        role: "system".into(),
                        action: "connection-lost".into(),
                        shop: None,
                        conversation: None,
                        detail: Some(format!("{agent}: {detail}")),
                    };
                    if let Err(err) = state.audit.record(&entry) {
                        tracing::warn!(error = %format!("{err:#}"), "the audit log could not be written");
                    }
                }
                Ok(Err(err)) => {
                    tracing::warn!(error = %err, "requeueing a lost agent's conversations failed")
                }
                Err(err) => tracing::warn!(error = %err, "the requeue task failed"),
            }
        }
    }
}

fn reload_plugins(state: &HostState) -> anyhow::Result<Vec<String>> {
    let config = Config::load(&state.config_path)?;
    let plugins = load_plugins(&config, &state.runtime)?;
    let installed = match &state.market {
        Some(market) => market.load_all_settled(&state.runtime)?,
        None => Default::default(),
    };
    let mut swapped = Vec::new();
    for shop in state.shops.iter() {
        let current = shop.plugin();
        let (plugin, egress, label) = match (
            installed.get(shop.id()),
            plugins.get(&shop.config.plugin),
        ) {
            (Some((release, plugin)), _) => (
                Arc::clone(plugin),
                crate::installs::effective_egress(&shop.config, release),
                crate::installs::source_label(release),
            ),
            (None, Some(plugin)) => (
                Arc::clone(plugin),
                shop.config.egress.clone(),
                format!("[[plugins]] {} {}", plugin.name, plugin.manifest.version),
            ),
            (None, None) => anyhow::bail!(
                "shop `{}` uses plugin `{}`, which is neither a [[plugins]] entry nor installed",
                shop.id(),
                shop.config.plugin
            ),
        };
        if plugin.digest != current.digest || egress != *shop.egress() || label != *shop.source() {
            shop.swap_plugin(plugin, egress, label.clone());
            tracing::info!(shop = shop.id(), serving = %label, "reloaded: the shop's plugin changed");
            swapped.push(format!("{}: {label}", shop.id()));
        }
    }
    Ok(swapped)
}

/// Records removed per retention pass; passes repeat while more is due.
const SWEEP_BUDGET: usize = 2_000;

/// Every minute (or sooner while a backlog is left): forget expired dedupe
/// keys and replay claims, and remove what is past its retention.
async fn sweep(
    state: Arc<HostState>,
    retention: crate::store::Retention,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let store = Arc::clone(&state.store);
        let swept = tokio::task::spawn_blocking(move || {
            let now_ms = clock::now_ms();
            let dedupe = store.sweep_dedupe(now_ms)?;
            let expired = store.sweep_expired(&retention, now_ms, SWEEP_BUDGET)?;
            anyhow::Ok((dedupe, expired))
        })
        .await;
        let more = match swept {
            Ok(Ok((dedupe, expired))) => {
                if dedupe > 0 || expired != crate::store::SweepReport::default() {
                    tracing::debug!(dedupe, ?expired, "expired records swept");
                }
                expired.more
            }
            Ok(Err(err)) => {
                tracing::warn!(error = %format!("{err:#}"), "sweeping expired records failed");
                false
            }
            Err(err) => {
                tracing::warn!(error = %err, "the sweep task failed");
                false
            }
        };
        let pause = if more {
            Duration::from_millis(200)
        } else {
            Duration::from_secs(60)
        };
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = shutdown.changed() => return,
        }
    }
}
