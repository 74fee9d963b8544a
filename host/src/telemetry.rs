//! Counters the host exposes at `/metrics` in the Prometheus text format.
//! Every worker bumps them; only the gateway renders them, so they live
//! apart from both.

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
    /// Webhooks not let in: over the shop's rate, or its calls all busy.
    pub webhooks_throttled: AtomicU64,
    /// Events stored.
    pub events_stored: AtomicU64,
    /// Redelivered events skipped.
    pub events_duplicate: AtomicU64,
    /// Inbox events set aside because they could not be read.
    pub events_quarantined: AtomicU64,
    /// Plugin calls that trapped, timed out or broke a limit.
    pub plugin_faults: AtomicU64,
    /// Actions delivered.
    pub deliveries_delivered: AtomicU64,
    /// Delivery attempts that will be retried.
    pub deliveries_retried: AtomicU64,
    /// Actions dead-lettered.
    pub deliveries_failed: AtomicU64,
    /// Actions found in flight after a crash on a channel that cannot drop a
    /// repeated request, and sent again (the customer may get them twice).
    pub deliveries_uncertain: AtomicU64,
    /// Stream connections opened (handshake sent).
    pub streams_opened: AtomicU64,
    /// Stream connections that could not be opened or broke.
    pub streams_failed: AtomicU64,
    /// Stream frames handled and committed.
    pub frames_handled: AtomicU64,
    /// Stream frames the plugin refused (nothing stored, nothing acknowledged).
    pub frames_refused: AtomicU64,
    /// Acknowledgement frames written after their events were durable.
    pub frame_acks_sent: AtomicU64,
    /// Poll pages committed.
    pub poll_pages: AtomicU64,
    /// Polls that ended without a page (platform error, refusal, transport).
    pub polls_failed: AtomicU64,
    /// Poll acknowledgement requests the platform accepted.
    pub poll_acks_sent: AtomicU64,
    /// Poll acknowledgement requests that failed (the platform redelivers).
    pub poll_acks_failed: AtomicU64,
}

/// One exposed series: metric name, labels, help text (on the first series
/// of a metric), and how to read it from [`Metrics`].
type Series = (
    &'static str,
    &'static str,
    &'static str,
    fn(&Metrics) -> &AtomicU64,
);

const SERIES: &[Series] = &[
    (
        "tongdao_webhooks_total",
        "result=\"accepted\"",
        "Webhooks by result.",
        |m| &m.webhooks_accepted,
    ),
    ("tongdao_webhooks_total", "result=\"refused\"", "", |m| {
        &m.webhooks_refused
    }),
    ("tongdao_webhooks_total", "result=\"failed\"", "", |m| {
        &m.webhooks_failed
    }),
    ("tongdao_webhooks_total", "result=\"throttled\"", "", |m| {
        &m.webhooks_throttled
    }),
    (
        "tongdao_events_total",
        "result=\"stored\"",
        "Events by result.",
        |m| &m.events_stored,
    ),
    ("tongdao_events_total", "result=\"duplicate\"", "", |m| {
        &m.events_duplicate
    }),
    ("tongdao_events_total", "result=\"quarantined\"", "", |m| {
        &m.events_quarantined
    }),
    (
        "tongdao_plugin_faults_total",
        "",
        "Plugin calls that trapped, timed out or broke a limit.",
        |m| &m.plugin_faults,
    ),
    (
        "tongdao_deliveries_total",
        "outcome=\"delivered\"",
        "Delivery attempts by outcome.",
        |m| &m.deliveries_delivered,
    ),
    ("tongdao_deliveries_total", "outcome=\"retried\"", "", |m| {
        &m.deliveries_retried
    }),
    ("tongdao_deliveries_total", "outcome=\"failed\"", "", |m| {
        &m.deliveries_failed
    }),
    (
        "tongdao_deliveries_total",
        "outcome=\"uncertain\"",
        "",
        |m| &m.deliveries_uncertain,
    ),
    (
        "tongdao_stream_connections_total",
        "result=\"opened\"",
        "Stream connections by result.",
        |m| &m.streams_opened,
    ),
    (
        "tongdao_stream_connections_total",
        "result=\"failed\"",
        "",
        |m| &m.streams_failed,
    ),
    (
        "tongdao_stream_frames_total",
        "result=\"handled\"",
        "Stream frames by result.",
        |m| &m.frames_handled,
    ),
    (
        "tongdao_stream_frames_total",
        "result=\"refused\"",
        "",
        |m| &m.frames_refused,
    ),
    (
        "tongdao_stream_acks_total",
        "",
        "Acknowledgement frames written after their events were durable.",
        |m| &m.frame_acks_sent,
    ),
    (
        "tongdao_polls_total",
        "result=\"page\"",
        "Poll rounds by result.",
        |m| &m.poll_pages,
    ),
    ("tongdao_polls_total", "result=\"failed\"", "", |m| {
        &m.polls_failed
    }),
    (
        "tongdao_poll_acks_total",
        "result=\"sent\"",
        "Poll acknowledgement requests by result.",
        |m| &m.poll_acks_sent,
    ),
    ("tongdao_poll_acks_total", "result=\"failed\"", "", |m| {
        &m.poll_acks_failed
    }),
];

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
        let mut out = String::new();
        for (name, labels, help, counter) in SERIES {
            if !help.is_empty() {
                let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            }
            let value = counter(self).load(Ordering::Relaxed);
            if labels.is_empty() {
                let _ = writeln!(out, "{name} {value}");
            } else {
                let _ = writeln!(out, "{name}{{{labels}}} {value}");
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_counter_is_exposed_once_with_its_help() {
        let metrics = Metrics::default();
        Metrics::add(&metrics.frames_handled, 3);
        Metrics::bump(&metrics.poll_acks_failed);
        let text = metrics.render();
        assert!(text.contains("tongdao_stream_frames_total{result=\"handled\"} 3"));
        assert!(text.contains("tongdao_poll_acks_total{result=\"failed\"} 1"));
        assert_eq!(
            text.matches("# TYPE tongdao_polls_total counter").count(),
            1
        );
        assert_eq!(
            text.lines().filter(|l| !l.starts_with('#')).count(),
            SERIES.len()
        );
    }
}
