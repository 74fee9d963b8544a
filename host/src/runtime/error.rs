//! Why loading a plugin or calling it failed.

use crate::runtime::bindings::tongdao::channel::types::PluginError;
use std::path::PathBuf;
use std::time::Duration;

/// Why a plugin could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The engine could not be configured.
    #[error("cannot configure the WebAssembly engine: {0}")]
    Engine(String),
    /// The component file could not be read.
    #[error("cannot read plugin component {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file is not a valid component.
    #[error("cannot compile plugin component {}: {message}", path.display())]
    Compile { path: PathBuf, message: String },
    /// The component imports something tongdao does not offer, or lacks an export.
    #[error("plugin component {} does not fit tongdao:channel@0.1.0: {message}", path.display())]
    Link { path: PathBuf, message: String },
    /// The manifest could not be read or is invalid.
    #[error("plugin component {} has an unusable manifest: {message}", path.display())]
    Manifest { path: PathBuf, message: String },
}

impl LoadError {
    pub(crate) fn engine(err: wasmtime::Error) -> Self {
        LoadError::Engine(format!("{err:#}"))
    }
}

/// Why a plugin call did not produce a usable result.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CallError {
    /// The plugin answered with its own error (forged signature, malformed input, …).
    #[error("plugin refused ({}): {}", refusal_kind(.0), refusal_reason(.0))]
    Refused(PluginError),
    /// The call ran past its deadline and was stopped.
    #[error("plugin call ran past its {limit:?} deadline and was stopped")]
    Timeout { limit: Duration },
    /// The plugin tried to grow its memory past the cap.
    #[error("plugin call tried to use more than {limit} bytes of memory and was stopped")]
    MemoryExceeded { limit: usize },
    /// The plugin trapped (panicked, hit `unreachable`, …).
    #[error("plugin call trapped: {0}")]
    Trapped(String),
    /// The plugin returned more than the output cap.
    #[error("plugin call returned {size} bytes, more than the {limit}-byte output limit")]
    OutputTooLarge { size: usize, limit: usize },
    /// The plugin returned something that breaks the contract's rules.
    #[error("plugin call returned invalid output: {0}")]
    InvalidOutput(String),
    /// Too many failures in a row: the shop's plugin is paused.
    #[error("plugin is paused after repeated failures; retrying after {retry_after:?}")]
    CircuitOpen { retry_after: Duration },
    /// The host is shutting down.
    #[error("the host is shutting down")]
    ShuttingDown,
}

impl CallError {
    /// Whether the failure is the plugin misbehaving (counted by the circuit
    /// breaker), as opposed to the plugin refusing bad input.
    pub fn is_plugin_fault(&self) -> bool {
        matches!(
            self,
            CallError::Timeout { .. }
                | CallError::MemoryExceeded { .. }
                | CallError::Trapped(_)
                | CallError::OutputTooLarge { .. }
                | CallError::InvalidOutput(_)
        )
    }
}

/// A short name for the kind of refusal: `unauthenticated`, `stale`, …
pub fn refusal_kind(refusal: &PluginError) -> &'static str {
    match refusal {
        PluginError::Unauthenticated(_) => "unauthenticated",
        PluginError::Stale(_) => "stale",
        PluginError::Malformed(_) => "malformed",
        PluginError::Unsupported(_) => "unsupported",
        PluginError::Misconfigured(_) => "misconfigured",
    }
}

/// The plugin's explanation of a refusal.
pub fn refusal_reason(refusal: &PluginError) -> &str {
    match refusal {
        PluginError::Unauthenticated(reason)
        | PluginError::Stale(reason)
        | PluginError::Malformed(reason)
        | PluginError::Unsupported(reason)
        | PluginError::Misconfigured(reason) => reason,
    }
}
