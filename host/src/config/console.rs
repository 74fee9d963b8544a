//! The console's settings: how long an agent's console may stay
//! disconnected before their customers go to colleagues, and the reply
//! timers' thresholds per platform (the time since a customer's last
//! message turns amber at `warn_secs` and red at `alert_secs`).

use super::Builder;
use crate::config::raw::{RawConsole, RawReplyTimer, Spanned};
use std::collections::BTreeMap;
use std::time::Duration;

/// When a conversation's wait turns amber and then red.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyTimer {
    /// Seconds after which the wait shows as a warning.
    pub warn_secs: u32,
    /// Seconds after which it shows as an alert.
    pub alert_secs: u32,
}

/// The console's settings.
#[derive(Debug, Clone)]
pub struct ConsoleConfig {
    /// An agent whose every console connection has been gone this long gets
    /// their conversations handed to colleagues (back to the queue).
    pub reassign_after: Duration,
    /// Reply timers by plugin name; [`ConsoleConfig::timer`] falls back to
    /// [`DEFAULT_TIMER`].
    pub reply_timers: BTreeMap<String, ReplyTimer>,
}

/// Platforms without a published rule: amber at a minute, red at three
/// (the 3-minute response rate Taobao's service rules assess).
pub const DEFAULT_TIMER: ReplyTimer = ReplyTimer {
    warn_secs: 60,
    alert_secs: 180,
};

/// The platforms' own thresholds, from the research notes: Taobao's
/// slow-response alert at 100 s; JD's 30-second first reply; 抖店 飞鸽's
/// timer turning yellow at 2 minutes and red above 10.
fn platform_defaults() -> BTreeMap<String, ReplyTimer> {
    BTreeMap::from([
        (
            "tmall".to_owned(),
            ReplyTimer {
                warn_secs: 60,
                alert_secs: 100,
            },
        ),
        (
            "jd".to_owned(),
            ReplyTimer {
                warn_secs: 20,
                alert_secs: 30,
            },
        ),
        (
            "douyin".to_owned(),
            ReplyTimer {
                warn_secs: 120,
                alert_secs: 600,
            },
        ),
    ])
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        ConsoleConfig {
            reassign_after: Duration::from_secs(120),
            reply_timers: platform_defaults(),
        }
    }
}

impl ConsoleConfig {
    /// The reply timer for a shop on `plugin`.
    pub fn timer(&self, plugin: &str) -> ReplyTimer {
        self.reply_timers
            .get(plugin)
            .copied()
            .unwrap_or(DEFAULT_TIMER)
    }
}

impl Builder {
    pub(super) fn console(
        &self,
        raw: RawConsole,
        plugins: &BTreeMap<String, super::PluginConfig>,
    ) -> Result<ConsoleConfig, super::ConfigError> {
        let mut config = ConsoleConfig::default();
        if let Some(secs) = self.bounded(
            &raw.reassign_after_secs,
            "console.reassign_after_secs",
            1,
            86_400,
        )? {
            config.reassign_after = Duration::from_secs(secs);
        }
        for (plugin, timer) in raw.reply_timers.unwrap_or_default() {
            let field = format!("console.reply_timers.{plugin}");
            let spanned: &Spanned<RawReplyTimer> = &timer;
            if !plugins.contains_key(&plugin) {
                return Err(self.error(
                    spanned,
                    &field,
                    format!("no plugin `{plugin}` (timers are per plugin name)"),
                ));
            }
            let raw = spanned.get_ref();
            let warn = self
                .bounded(&raw.warn_secs, &format!("{field}.warn_secs"), 1, 86_400)?
                .unwrap_or(u64::from(DEFAULT_TIMER.warn_secs));
            let alert = self
                .bounded(&raw.alert_secs, &format!("{field}.alert_secs"), 1, 86_400)?
                .unwrap_or(u64::from(DEFAULT_TIMER.alert_secs));
            if alert < warn {
                return Err(self.error(
                    spanned,
                    &field,
                    format!("alert_secs ({alert}) is below warn_secs ({warn})"),
                ));
            }
            config.reply_timers.insert(
                plugin,
                ReplyTimer {
                    warn_secs: warn as u32,
                    alert_secs: alert as u32,
                },
            );
        }
        Ok(config)
    }
}
