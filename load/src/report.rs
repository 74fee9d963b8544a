//! The harness's report: rates, latencies, cost, memory and the audit,
//! printed for people and as one JSON line for scripts.

use crate::Options;
use crate::audit::Audit;
use crate::driver::{Driven, new_histogram};
use crate::sends::Sends;
use serde::Serialize;
use std::fmt;

/// What [`Report::new`] is made from.
pub struct Inputs<'a> {
    pub options: &'a Options,
    pub driven: &'a Driven,
    pub sends: &'a Sends,
    /// When the driver started, microseconds after the stand-in's origin.
    pub offset_micros: u64,
    pub kills: u32,
    pub cpu_seconds: f64,
    pub peak_rss: u64,
    pub rss_samples: Vec<u64>,
    /// The store's size on disk once a second, bytes.
    pub store_samples: Vec<u64>,
    pub stopped: bool,
    pub audit: Audit,
    pub bare_hyper_per_sec: Option<f64>,
    pub console_streams: Option<crate::console::StreamReport>,
    pub plugin_swaps: Option<u64>,
}

/// Percentiles in milliseconds.
#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

/// The results of one run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub platform: String,
    /// TMC: proactive care thanked each paid order.
    pub care: bool,
    pub connections: usize,
    pub seconds: f64,
    pub rate: Option<f64>,
    pub kills: u32,
    /// Messages sent at least once.
    pub messages: usize,
    /// Messages acknowledged.
    pub acknowledged: usize,
    /// Requests, resends included.
    pub requests: u64,
    /// Acknowledged messages per second while sending.
    pub accepted_per_sec: f64,
    /// Messages whose reply reached the platform while sending, per second.
    pub answered_per_sec: f64,
    /// Push to acknowledgement.
    pub ack_latency: Latency,
    /// Push to the reply arriving at the stand-in.
    pub reply_latency: Latency,
    /// Host CPU time, all incarnations.
    pub cpu_seconds: f64,
    /// Host CPU time per acknowledged message.
    pub cpu_micros_per_message: f64,
    /// The largest resident set of any incarnation, MiB.
    pub peak_rss_mib: f64,
    /// Resident set at a tenth, half and the end of the run, MiB.
    pub rss_mib_at_10_50_100_percent: [f64; 3],
    /// The store's size on disk at a tenth, half and the end of the run, MiB.
    pub store_mib_at_10_50_100_percent: [f64; 3],
    /// The host stopped cleanly on SIGTERM at the end.
    pub stopped_cleanly: bool,
    /// Replies to customers outside the run.
    pub replies_to_strangers: u64,
    /// Repeats that reached the platform but not the customer (a dropped
    /// msgid, a look-up made again).
    pub repeats_without_effect: u64,
    pub audit: Audit,
    pub bare_hyper_per_sec: Option<f64>,
    /// `accepted_per_sec` over `bare_hyper_per_sec`.
    pub ratio_to_bare_hyper: Option<f64>,
    /// The console's live streams, when the run kept some open.
    pub console_streams: Option<crate::console::StreamReport>,
    /// Installs, upgrades and rollbacks of the shop's plugin while sending.
    pub plugin_swaps: Option<u64>,
}

fn latency(histogram: &hdrhistogram::Histogram<u64>) -> Latency {
    let ms = |micros: u64| micros as f64 / 1000.0;
    Latency {
        p50_ms: ms(histogram.value_at_quantile(0.50)),
        p99_ms: ms(histogram.value_at_quantile(0.99)),
        p999_ms: ms(histogram.value_at_quantile(0.999)),
        max_ms: ms(histogram.max()),
    }
}

impl Report {
    /// Put the run's figures together.
    pub fn new(inputs: Inputs<'_>) -> Report {
        let Inputs {
            options,
            driven,
            sends,
            offset_micros,
            kills,
            cpu_seconds,
            peak_rss,
            rss_samples,
            store_samples,
            stopped,
            audit,
            bare_hyper_per_sec,
            console_streams,
            plugin_swaps,
        } = inputs;
        let acknowledged = driven.acked.iter().filter(|a| **a).count();
        let sending = driven.sending.as_secs_f64().max(1e-3);
        let sending_micros = driven.sending.as_micros() as u64;
        let mut reply = new_histogram();
        let mut answered_in_time = 0;
        for index in 0..driven.issued {
            let Some(at) = sends.first_at_micros(index) else {
                continue;
            };
            let at = at.saturating_sub(offset_micros);
            let _ = reply.record(at.saturating_sub(driven.first_due_micros[index]).max(1));
            if at <= sending_micros {
                answered_in_time += 1;
            }
        }
        let accepted_per_sec = acknowledged as f64 / sending;
        let mib = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);
        let at_share_of = |samples: &[u64], share: f64| {
            samples
                .get(((samples.len() as f64 * share) as usize).min(samples.len().saturating_sub(1)))
                .copied()
                .map_or(0.0, mib)
        };
        let at_share = |share: f64| at_share_of(&rss_samples, share);
        let store_at = |share: f64| at_share_of(&store_samples, share);
        Report {
            platform: format!("{:?}", options.platform).to_lowercase(),
            care: options.platform == crate::platform::Platform::Tmc && !options.no_care,
            connections: options.connections,
            seconds: sending,
            rate: options.rate,
            kills,
            messages: driven.issued,
            acknowledged,
            requests: driven.requests,
            accepted_per_sec,
            answered_per_sec: answered_in_time as f64 / sending,
            ack_latency: latency(&driven.ack_latency),
            reply_latency: latency(&reply),
            cpu_seconds,
            cpu_micros_per_message: cpu_seconds * 1e6 / acknowledged.max(1) as f64,
            peak_rss_mib: mib(peak_rss),
            rss_mib_at_10_50_100_percent: [at_share(0.1), at_share(0.5), at_share(1.0)],
            store_mib_at_10_50_100_percent: [store_at(0.1), store_at(0.5), store_at(1.0)],
            stopped_cleanly: stopped,
            replies_to_strangers: sends.strangers(),
            repeats_without_effect: sends.repeats_without_effect(),
            audit,
            bare_hyper_per_sec,
            ratio_to_bare_hyper: bare_hyper_per_sec.map(|bare| accepted_per_sec / bare),
            console_streams,
            plugin_swaps,
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rate = self
            .rate
            .map_or("as fast as acknowledged".to_string(), |r| {
                format!("{r:.0}/s")
            });
        writeln!(
            f,
            "{} pushes, {} connections, {:.1} s, rate {rate}, {} kills",
            self.platform, self.connections, self.seconds, self.kills
        )?;
        writeln!(
            f,
            "messages {}  acknowledged {}  requests {}",
            self.messages, self.acknowledged, self.requests
        )?;
        writeln!(
            f,
            "accepted {:.0}/s  answered {:.0}/s (reply reached the platform while sending)",
            self.accepted_per_sec, self.answered_per_sec
        )?;
        let l = &self.ack_latency;
        writeln!(
            f,
            "push → ack    p50 {:.2} ms  p99 {:.2} ms  p99.9 {:.2} ms  max {:.2} ms",
            l.p50_ms, l.p99_ms, l.p999_ms, l.max_ms
        )?;
        let l = &self.reply_latency;
        writeln!(
            f,
            "push → reply  p50 {:.2} ms  p99 {:.2} ms  p99.9 {:.2} ms  max {:.2} ms",
            l.p50_ms, l.p99_ms, l.p999_ms, l.max_ms
        )?;
        writeln!(
            f,
            "host cpu {:.2} s = {:.0} µs/message  peak rss {:.1} MiB  rss at 10/50/100% {:.1}/{:.1}/{:.1} MiB",
            self.cpu_seconds,
            self.cpu_micros_per_message,
            self.peak_rss_mib,
            self.rss_mib_at_10_50_100_percent[0],
            self.rss_mib_at_10_50_100_percent[1],
            self.rss_mib_at_10_50_100_percent[2]
        )?;
        writeln!(
            f,
            "store on disk at 10/50/100% {:.1}/{:.1}/{:.1} MiB",
            self.store_mib_at_10_50_100_percent[0],
            self.store_mib_at_10_50_100_percent[1],
            self.store_mib_at_10_50_100_percent[2]
        )?;
        let a = &self.audit;
        writeln!(
            f,
            "lost {}  stored twice {}  unanswered {}  answered twice {} (unexplained {}, 3+ times {})  uncertain resends {}  stored but never acked {}",
            a.lost,
            a.stored_twice,
            a.unanswered,
            a.answered_twice,
            a.answered_twice_unexplained,
            a.answered_thrice,
            a.uncertain_resends,
            a.stored_unacknowledged
        )?;
        if a.threats_unalerted > 0 || a.alerts_twice > 0 || self.console_streams.is_some() {
            writeln!(
                f,
                "threats without an alert {}  conversations alerted twice {}",
                a.threats_unalerted, a.alerts_twice
            )?;
        }
        if self.care {
            writeln!(
                f,
                "care: confirmed orders never thanked {}  thanked twice {}  resent and dropped by WeChat {}",
                a.unthanked, a.thanked_twice, a.thanks_repeated
            )?;
        }
        if a.past_retention > 0 {
            writeln!(
                f,
                "{} messages were past the host's retention: audited for their replies only",
                a.past_retention
            )?;
        }
        writeln!(
            f,
            "replies to strangers {}  repeats without effect {}  clean stop {}",
            self.replies_to_strangers, self.repeats_without_effect, self.stopped_cleanly
        )?;
        if let (Some(bare), Some(ratio)) = (self.bare_hyper_per_sec, self.ratio_to_bare_hyper) {
            writeln!(
                f,
                "bare hyper {bare:.0}/s  tongdao/bare hyper {:.1}%",
                ratio * 100.0
            )?;
        }
        if let Some(swaps) = self.plugin_swaps {
            writeln!(
                f,
                "plugin swaps {swaps} (installed, then upgraded and rolled back in turn while sending)"
            )?;
        }
        if let Some(c) = &self.console_streams {
            writeln!(
                f,
                "console streams {} (reconnects {})  hand-off events {} of {} due, {} twice  lag p50 {:.0} ms  p99 {:.0} ms  max {:.0} ms",
                c.streams,
                c.reconnects,
                c.events_received,
                c.events_due,
                c.duplicates,
                c.lag_p50_ms,
                c.lag_p99_ms,
                c.lag_max_ms
            )?;
            for page in &c.pages {
                writeln!(
                    f,
                    "console page {}  {} bytes  p50 {:.1} ms  max {:.1} ms",
                    page.page, page.bytes, page.p50_ms, page.max_ms
                )?;
            }
        }
        Ok(())
    }
}
