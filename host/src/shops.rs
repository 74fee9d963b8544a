//! The shops the host serves: each shop's config, its loaded plugin, its
//! circuit breaker, its webhook admission (a rate limit and a cap on the
//! plugin calls its webhooks run at once, so a flood at one shop's URL
//! cannot take the others' share), and the plugin context built for every
//! call.

use crate::breaker::Breaker;
use crate::config::{Limits, ShopConfig};
use crate::contract::v0_1::{self, wit::Pair};
use crate::model::{IngestionShape, ShopContext};
use crate::runtime::{CallError, LoadedPlugin};
use crate::store::Store;
use arc_swap::ArcSwap;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Why a webhook was not let in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Over the shop's webhooks per second; retry after this long.
    RateLimited(Duration),
    /// The shop's webhooks ran as many plugin calls as allowed for longer
    /// than [`ADMISSION_WAIT`].
    Busy,
}

type RateLimiter = governor::DefaultDirectRateLimiter;

/// How long a webhook waits for one of its shop's call permits before it
/// is answered 503 (WeChat, for one, gives up on an answer after 5 s).
pub const ADMISSION_WAIT: Duration = Duration::from_secs(1);

/// One shop, ready to serve.
pub struct Shop {
    /// The shop's config.
    pub config: ShopConfig,
    /// The plugin serving it, swapped whole by an install, upgrade or
    /// rollback: a call holds the version it started with to its end.
    plugin: ArcSwap<LoadedPlugin>,
    /// The hosts the shop lets its plugin call: the config's `egress`, or
    /// what the brand granted when installing the plugin's package.
    egress: ArcSwap<Vec<String>>,
    /// Where the plugin came from, in words (`[[plugins]] wechat 0.1.0`,
    /// `wechat 0.1.0+r2 (installed)`).
    source: ArcSwap<String>,
    breaker: Breaker,
    webhook_rate: RateLimiter,
    push_calls: Arc<Semaphore>,
}

impl Shop {
    /// A shop served by `plugin`.
    pub fn new(config: ShopConfig, plugin: Arc<LoadedPlugin>, limits: &Limits) -> Self {
        let per_second = std::num::NonZeroU32::new(limits.webhooks_per_second_per_shop)
            .unwrap_or(std::num::NonZeroU32::MIN);
        Shop {
            source: ArcSwap::from_pointee(format!(
                "[[plugins]] {} {}",
                plugin.name, plugin.manifest.version
            )),
            egress: ArcSwap::from_pointee(config.egress.clone()),
            config,
            plugin: ArcSwap::new(plugin),
            breaker: Breaker::new(limits.breaker_failures, limits.breaker_cooldown),
            webhook_rate: RateLimiter::direct(governor::Quota::per_second(per_second)),
            push_calls: Arc::new(Semaphore::new(limits.push_calls_per_shop.max(1) as usize)),
        }
    }

    /// The shop's id.
    pub fn id(&self) -> &str {
        &self.config.id
    }

    /// The plugin serving the shop now.
    pub fn plugin(&self) -> Arc<LoadedPlugin> {
        self.plugin.load_full()
    }

    /// The hosts the shop's plugin may call now.
    pub fn egress(&self) -> Arc<Vec<String>> {
        self.egress.load_full()
    }

    /// Where the plugin serving the shop came from.
    pub fn source(&self) -> Arc<String> {
        self.source.load_full()
    }

    /// Serves the shop with `plugin` (from `source`) from now on, its calls
    /// limited to `egress`; calls under way finish on the plugin they
    /// started with. Returns the plugin replaced.
    pub fn swap_plugin(
        &self,
        plugin: Arc<LoadedPlugin>,
        egress: Vec<String>,
        source: String,
    ) -> Arc<LoadedPlugin> {
        self.egress.store(Arc::new(egress));
        self.source.store(Arc::new(source));
        self.plugin.swap(plugin)
    }

    /// Whether the host holds a stream for this shop.
    pub fn streams(&self) -> bool {
        self.config
            .wants_stream(self.declares(IngestionShape::Stream))
    }

    /// Whether the shop's plugin can be polled.
    pub fn polls(&self) -> bool {
        self.declares(IngestionShape::Poll)
    }

    /// How often the shop's scheduled feeds are polled: the shop's setting,
    /// else the plugin's, else once a minute.
    pub fn poll_interval(&self) -> Duration {
        self.config.poll_interval.unwrap_or_else(|| {
            self.plugin()
                .manifest
                .poll_interval_ms
                .filter(|&ms| ms > 0)
                .map(|ms| Duration::from_millis(u64::from(ms)))
                .unwrap_or(Duration::from_secs(60))
        })
    }

    fn declares(&self, shape: IngestionShape) -> bool {
        self.plugin().manifest.ingestion.contains(&shape)
    }

    /// The context for a plugin call: credentials, settings, live state, clock.
    pub fn context(&self, store: &dyn Store, now_ms: i64) -> anyhow::Result<ShopContext> {
        Ok(ShopContext {
            shop_id: self.config.id.clone(),
            credentials: pairs(&self.config.credentials),
            settings: pairs(&self.config.settings),
            state: v0_1::entries(store.plugin_state(&self.config.id, now_ms)?),
            now_ms,
        })
    }

    /// Lets a webhook in, or says why not: the permit bounds the shop's
    /// webhook calls running at once; a webhook waits up to
    /// [`ADMISSION_WAIT`] for one.
    pub async fn admit_webhook(&self) -> Result<OwnedSemaphorePermit, Refusal> {
        if let Err(not_until) = self.webhook_rate.check() {
            let wait = not_until.wait_time_from(governor::clock::Clock::now(
                &governor::clock::DefaultClock::default(),
            ));
            return Err(Refusal::RateLimited(wait));
        }
        match tokio::time::timeout(ADMISSION_WAIT, Arc::clone(&self.push_calls).acquire_owned())
            .await
        {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(Refusal::Busy),
        }
    }

    /// Run a webhook's plugin call: paused with the shop's breaker, but its
    /// faults are not counted, since anyone can send a webhook and a body
    /// that makes the plugin fail must not pause the shop for everyone.
    pub async fn guarded_webhook<R>(
        &self,
        call: impl Future<Output = Result<R, CallError>>,
    ) -> Result<R, CallError> {
        self.breaker_closed()?;
        call.await
    }

    /// Refuses a call while the shop's breaker is open.
    fn breaker_closed(&self) -> Result<(), CallError> {
        self.breaker
            .check(Instant::now())
            .map_err(|retry_after| CallError::CircuitOpen { retry_after })
    }

    /// Run a plugin call behind the shop's circuit breaker.
    pub async fn guarded<R>(
        &self,
        call: impl Future<Output = Result<R, CallError>>,
    ) -> Result<R, CallError> {
        self.breaker_closed()?;
        let result = call.await;
        let faulted = matches!(&result, Err(err) if err.is_plugin_fault());
        self.breaker.record(faulted, Instant::now());
        result
    }
}

fn pairs(map: &BTreeMap<String, String>) -> Vec<Pair> {
    map.iter()
        .map(|(name, value)| Pair {
            name: name.clone(),
            value: value.clone(),
        })
        .collect()
}

/// All shops by id.
#[derive(Default, Clone)]
pub struct Shops {
    by_id: BTreeMap<String, Arc<Shop>>,
}

impl Shops {
    /// Add a shop.
    pub fn insert(&mut self, shop: Shop) {
        self.by_id.insert(shop.config.id.clone(), Arc::new(shop));
    }

    /// A shop by id.
    pub fn get(&self, id: &str) -> Option<&Arc<Shop>> {
        self.by_id.get(id)
    }

    /// Every shop.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Shop>> {
        self.by_id.values()
    }
}
