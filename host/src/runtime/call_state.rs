//! Per-call store data: the memory limiter and tongdao's host imports of
//! every contract version (logging attributed to plugin and shop,
//! randomness, and 0.2.0's signing with the shop's secrets).

use crate::runtime::bindings::tongdao::channel::types::{Host as TypesHost, Pair};
use crate::runtime::bindings::{v0_1, v0_2};
use wasmtime::ResourceLimiter;

/// The most bytes one `random-bytes` call returns.
const MAX_RANDOM_BYTES: u32 = 4096;
/// The most log lines one call may write; later ones are dropped.
const MAX_LOG_LINES: u32 = 64;
/// Longer log messages are cut to this many bytes.
const MAX_LOG_BYTES: usize = 2048;
/// The most bytes of its own a plugin may have one `digest` or `mac` call
/// sign.
const MAX_SIGNED_BYTES: usize = 1 << 20;
/// The most secret pieces one `digest` takes.
const MAX_SECRET_PIECES: usize = 4;
/// The most table elements an instance may grow to.
const MAX_TABLE_ELEMENTS: usize = 100_000;

/// Data of one call's store.
pub struct CallState {
    plugin: String,
    shop: String,
    log_lines: u32,
    /// The shop's secret credentials the plugin declared (0.2.0): the
    /// `secrets` imports sign with them; the plugin never reads them.
    secrets: Vec<Pair>,
    /// Enforces the memory cap and remembers whether it was hit.
    pub limiter: CallLimiter,
}

impl CallState {
    /// State for a call of `plugin` on behalf of `shop`.
    pub fn new(plugin: &str, shop: &str, memory_bytes: usize, secrets: Vec<Pair>) -> Self {
        CallState {
            plugin: plugin.to_string(),
            shop: shop.to_string(),
            log_lines: 0,
            secrets,
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

impl CallState {
    fn write_log(&mut self, level: tracing::Level, mut message: String) {
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
            tracing::Level::TRACE => tracing::trace!(target: "plugin", plugin, shop, "{message}"),
            tracing::Level::DEBUG => tracing::debug!(target: "plugin", plugin, shop, "{message}"),
            tracing::Level::INFO => tracing::info!(target: "plugin", plugin, shop, "{message}"),
            tracing::Level::WARN => tracing::warn!(target: "plugin", plugin, shop, "{message}"),
            tracing::Level::ERROR => tracing::error!(target: "plugin", plugin, shop, "{message}"),
        }
    }

    fn secret(&self, name: &str) -> Result<&[u8], v0_2::tongdao::channel::secrets::SecretError> {
        self.secrets
            .iter()
            .find(|pair| pair.name == name && !pair.value.is_empty())
            .map(|pair| pair.value.as_bytes())
            .ok_or_else(|| v0_2::tongdao::channel::secrets::SecretError::Unknown(name.to_owned()))
    }
}

fn random_bytes(len: u32) -> Vec<u8> {
    let mut bytes = vec![0u8; len.min(MAX_RANDOM_BYTES) as usize];
    getrandom::fill(&mut bytes).expect("the operating system's random source failed");
    bytes
}

/// Logging and randomness, the same in every contract version (each has
/// its own generated `host` interface).
macro_rules! host_imports {
    ($version:ident) => {
        impl $version::tongdao::channel::host::Host for CallState {
            fn log(&mut self, level: $version::tongdao::channel::host::LogLevel, message: String) {
                use $version::tongdao::channel::host::LogLevel;
                let level = match level {
                    LogLevel::Trace => tracing::Level::TRACE,
                    LogLevel::Debug => tracing::Level::DEBUG,
                    LogLevel::Info => tracing::Level::INFO,
                    LogLevel::Warn => tracing::Level::WARN,
                    LogLevel::Error => tracing::Level::ERROR,
                };
                self.write_log(level, message);
            }

            fn random_bytes(&mut self, len: u32) -> Vec<u8> {
                random_bytes(len)
            }
        }
    };
}

host_imports!(v0_1);
host_imports!(v0_2);

impl v0_2::tongdao::channel::secrets::Host for CallState {
    fn digest(
        &mut self,
        algorithm: v0_2::tongdao::channel::secrets::DigestAlgorithm,
        pieces: Vec<v0_2::tongdao::channel::secrets::Piece>,
    ) -> Result<Vec<u8>, v0_2::tongdao::channel::secrets::SecretError> {
        use v0_2::tongdao::channel::secrets::{Piece, SecretError};
        // The limits look at the plugin's own bytes and the number of
        // secrets, never at a secret's length, which would leak through
        // `too-large`. A digest of secrets alone is refused: it would be a
        // stand-in for the secret (an HMAC key longer than a block is
        // replaced by its hash).
        let given: usize = pieces
            .iter()
            .map(|piece| match piece {
                Piece::Bytes(bytes) => bytes.len(),
                Piece::Secret(_) => 0,
            })
            .sum();
        check_signable(given)?;
        let secrets = pieces
            .iter()
            .filter(|piece| matches!(piece, Piece::Secret(_)))
            .count();
        if given == 0 || secrets > MAX_SECRET_PIECES {
            return Err(SecretError::Refused(format!(
                "a digest needs bytes of the plugin's own besides at most {MAX_SECRET_PIECES} secrets"
            )));
        }
        let mut message = Vec::with_capacity(given);
        for piece in &pieces {
            match piece {
                Piece::Bytes(bytes) => message.extend_from_slice(bytes),
                Piece::Secret(name) => message.extend_from_slice(self.secret(name)?),
            }
        }
        Ok(crate::runtime::signing::digest(algorithm, &message))
    }

    fn mac(
        &mut self,
        algorithm: v0_2::tongdao::channel::secrets::MacAlgorithm,
        secret: String,
        message: Vec<u8>,
    ) -> Result<Vec<u8>, v0_2::tongdao::channel::secrets::SecretError> {
        check_signable(message.len())?;
        let key = self.secret(&secret)?;
        Ok(crate::runtime::signing::mac(algorithm, key, &message))
    }
}

/// Refuses to sign more than [`MAX_SIGNED_BYTES`].
fn check_signable(len: usize) -> Result<(), v0_2::tongdao::channel::secrets::SecretError> {
    if len > MAX_SIGNED_BYTES {
        return Err(v0_2::tongdao::channel::secrets::SecretError::TooLarge(
            MAX_SIGNED_BYTES as u32,
        ));
    }
    Ok(())
}
