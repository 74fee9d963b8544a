//! Counters the host exposes at `/metrics` in the Prometheus text format.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// The host's counters.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Webhooks acknowledged after their events were committed.
    pub webhooks_accepted: AtomicU64,
    /// Webhooks refused as forged, stale or malformed.
    pub webhooks_refused: AtomicU64,
    /// Webhooks that failed inside the host or the plugin.
    pub webhooks_failed: AtomicU64,
    /// Events stored.
    pub events_stored: AtomicU64,
    /// Redelivered events skipped.
    pub events_duplicate: AtomicU64,
    /// Plugin calls that trapped, timed out or broke a limit.
    pub plugin_faults: AtomicU64,
    /// Actions delivered.
    pub deliveries_delivered: AtomicU64,
    /// Delivery attempts that will be retried.
    pub deliveries_retried: AtomicU64,
    /// Actions dead-lettered.
    pub deliveries_failed: AtomicU64,
}

impl Metrics {
    /// Add one to a counter.
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Add `n` to a counter.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let rows: [(&str, &str, &str, &AtomicU64); 9] = [
            (
                "tongdao_webhooks_total",
                "result=\"accepted\"",
                "Webhooks by result.",
                &self.webhooks_accepted,
            ),
            (
                "tongdao_webhooks_total",
                "result=\"refused\"",
                "",
                &self.webhooks_refused,
            ),
            (
                "tongdao_webhooks_total",
                "result=\"failed\"",
                "",
                &self.webhooks_failed,
            ),
            (
                "tongdao_events_total",
                "result=\"stored\"",
                "Events by result.",
                &self.events_stored,
            ),
            (
                "tongdao_events_total",
                "result=\"duplicate\"",
                "",
                &self.events_duplicate,
            ),
            (
                "tongdao_plugin_faults_total",
                "",
                "Plugin calls that trapped, timed out or broke a limit.",
                &self.plugin_faults,
            ),
            (
                "tongdao_deliveries_total",
                "outcome=\"delivered\"",
                "Delivery attempts by outcome.",
                &self.deliveries_delivered,
            ),
            (
                "tongdao_deliveries_total",
                "outcome=\"retried\"",
                "",
                &self.deliveries_retried,
            ),
            (
                "tongdao_deliveries_total",
                "outcome=\"failed\"",
                "",
                &self.deliveries_failed,
            ),
        ];
        let mut out = String::new();
        for (name, labels, help, counter) in rows {
            if !help.is_empty() {
                let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            }
            let value = counter.load(Ordering::Relaxed);
            if labels.is_empty() {
                let _ = writeln!(out, "{name} {value}");
            } else {
                let _ = writeln!(out, "{name}{{{labels}}} {value}");
            }
        }
        out
    }
}
