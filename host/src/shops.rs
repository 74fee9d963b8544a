//! The shops the host serves: each shop's config, its loaded plugin and its
//! circuit breaker, and the plugin context built for every call.

use crate::breaker::Breaker;
use crate::config::{Limits, ShopConfig};
use crate::model::{IngestionShape, Pair, ShopContext};
use crate::runtime::{CallError, LoadedPlugin};
use crate::store::Store;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One shop, ready to serve.
pub struct Shop {
    /// The shop's config.
    pub config: ShopConfig,
    /// The plugin serving it.
    pub plugin: Arc<LoadedPlugin>,
    breaker: Breaker,
}

impl Shop {
    /// A shop served by `plugin`.
    pub fn new(config: ShopConfig, plugin: Arc<LoadedPlugin>, limits: &Limits) -> Self {
        Shop {
            config,
            plugin,
            breaker: Breaker::new(limits.breaker_failures, limits.breaker_cooldown),
        }
    }

    /// The shop's id.
    pub fn id(&self) -> &str {
        &self.config.id
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
            self.plugin
                .manifest
                .poll_interval_ms
                .filter(|&ms| ms > 0)
                .map(|ms| Duration::from_millis(u64::from(ms)))
                .unwrap_or(Duration::from_secs(60))
        })
    }

    fn declares(&self, shape: IngestionShape) -> bool {
        self.plugin.manifest.ingestion.contains(&shape)
    }

    /// The context for a plugin call: credentials, settings, live state, clock.
    pub fn context(&self, store: &dyn Store, now_ms: i64) -> anyhow::Result<ShopContext> {
        Ok(ShopContext {
            shop_id: self.config.id.clone(),
            credentials: pairs(&self.config.credentials),
            settings: pairs(&self.config.settings),
            state: store.plugin_state(&self.config.id, now_ms)?,
            now_ms,
        })
    }

    /// Run a plugin call behind the shop's circuit breaker.
    pub async fn guarded<R>(
        &self,
        call: impl Future<Output = Result<R, CallError>>,
    ) -> Result<R, CallError> {
        self.breaker
            .check(Instant::now())
            .map_err(|retry_after| CallError::CircuitOpen { retry_after })?;
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
