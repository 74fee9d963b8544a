//! Per-call store data: the memory limiter and tongdao's host imports
//! (logging attributed to plugin and shop, randomness).

use crate::runtime::bindings::tongdao::channel::host::{Host, LogLevel};
use crate::runtime::bindings::tongdao::channel::types::Host as TypesHost;
use wasmtime::ResourceLimiter;

/// The most bytes one `random-bytes` call returns.
const MAX_RANDOM_BYTES: u32 = 4096;
/// The most log lines one call may write; later ones are dropped.
const MAX_LOG_LINES: u32 = 64;
/// Longer log messages are cut to this many bytes.
const MAX_LOG_BYTES: usize = 2048;
/// The most table elements an instance may grow to.
const MAX_TABLE_ELEMENTS: usize = 100_000;

/// Data of one call's store.
pub struct CallState {
    plugin: String,
    shop: String,
    log_lines: u32,
    /// Enforces the memory cap and remembers whether it was hit.
    pub limiter: CallLimiter,
}

impl CallState {
    /// State for a call of `plugin` on behalf of `shop`.
    pub fn new(plugin: &str, shop: &str, memory_bytes: usize) -> Self {
        CallState {
            plugin: plugin.to_string(),
            shop: shop.to_string(),
            log_lines: 0,
            limiter: CallLimiter {
                memory_bytes,
                memory_cap_hit: false,
            },
        }
    }
}

/// Refuses memory growth past the cap, and records that it did.
pub struct CallLimiter {
    memory_bytes: usize,
    memory_cap_hit: bool,
}

impl CallLimiter {
    /// Whether the guest asked for more memory than the cap.
    pub fn memory_cap_hit(&self) -> bool {
        self.memory_cap_hit
    }
}

impl ResourceLimiter for CallLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_bytes {
            self.memory_cap_hit = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}

impl TypesHost for CallState {}

impl Host for CallState {
    fn log(&mut self, level: LogLevel, mut message: String) {
        self.log_lines += 1;
        if self.log_lines > MAX_LOG_LINES {
            return;
        }
        if message.len() > MAX_LOG_BYTES {
            let mut cut = MAX_LOG_BYTES;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push('…');
        }
        let (plugin, shop) = (self.plugin.as_str(), self.shop.as_str());
        match level {
            LogLevel::Trace => tracing::trace!(target: "plugin", plugin, shop, "{message}"),
            LogLevel::Debug => tracing::debug!(target: "plugin", plugin, shop, "{message}"),
            LogLevel::Info => tracing::info!(target: "plugin", plugin, shop, "{message}"),
            LogLevel::Warn => tracing::warn!(target: "plugin", plugin, shop, "{message}"),
            LogLevel::Error => tracing::error!(target: "plugin", plugin, shop, "{message}"),
        }
    }

    fn random_bytes(&mut self, len: u32) -> Vec<u8> {
        let mut bytes = vec![0u8; len.min(MAX_RANDOM_BYTES) as usize];
        getrandom::fill(&mut bytes).expect("the operating system's random source failed");
        bytes
    }
}
