//! The time windows of JD's pull feeds. JOS keeps no cursor for the chat
//! log or the order search: a feed asks for what happened between two
//! times. Each poll round takes the window from where the last finished
//! round ended (minus an overlap, so late-written records are read again and
//! deduplicated by their platform ids) to the host's clock, never longer
//! than JOS allows; the first round looks back a configurable while.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tongdao_sdk::*;

/// Setting: how far the first poll of a feed looks back, in minutes.
pub const SETTING_LOOKBACK_MINUTES: &str = "lookback_minutes";
/// The first poll's look-back unless the shop says otherwise.
const DEFAULT_LOOKBACK_MINUTES: i64 = 10;
/// Each round reads this much of the previous one again.
pub const OVERLAP_MS: i64 = 120_000;
/// The longest window JOS accepts (its chat-log APIs: 7 days).
pub const MAX_SPAN_MS: i64 = 7 * 24 * 3600 * 1000;

/// A span of time, Unix milliseconds in whole seconds (JOS takes
/// `yyyy-MM-dd HH:mm:ss`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Start, inclusive.
    pub from_ms: i64,
    /// End, inclusive.
    pub to_ms: i64,
}

fn whole_seconds(ms: i64) -> i64 {
    ms - ms.rem_euclid(1000)
}

/// Where a feed starts when it has no cursor: the configured look-back.
pub fn first_since(ctx: &ShopContext) -> Result<i64, PluginError> {
    let minutes = match ctx.setting(SETTING_LOOKBACK_MINUTES) {
        None => DEFAULT_LOOKBACK_MINUTES,
        Some(text) => text
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|m| (1..=MAX_SPAN_MS / 60_000).contains(m))
            .ok_or_else(|| {
                PluginError::Misconfigured(format!(
                    "setting `{SETTING_LOOKBACK_MINUTES}` is `{text}`; it must be a number of minutes, 1..={}",
                    MAX_SPAN_MS / 60_000
                ))
            })?,
    };
    Ok(ctx.now_ms - minutes * 60_000)
}

/// The window of a new round after the one that ended at `since_ms`.
pub fn next(since_ms: i64, now_ms: i64) -> Window {
    let to_ms = whole_seconds(now_ms);
    let from_ms = whole_seconds(since_ms - OVERLAP_MS)
        .max(to_ms - MAX_SPAN_MS)
        .min(to_ms);
    Window { from_ms, to_ms }
}

impl Window {
    /// The window and page as a step label, `{kind}:{from}:{to}:{page}`: the
    /// label comes back with the answer, so the parse sees the window the
    /// render chose even though the clock moved on.
    pub fn step(&self, kind: &str, page: u32) -> String {
        format!("{kind}:{}:{}:{page}", self.from_ms, self.to_ms)
    }

    /// The window and page of a step label of `kind`.
    pub fn from_step(kind: &str, step: &str) -> Option<(Window, u32)> {
        let mut parts = step.strip_prefix(kind)?.strip_prefix(':')?.split(':');
        let from_ms = parts.next()?.parse().ok()?;
        let to_ms = parts.next()?.parse().ok()?;
        let page = parts.next()?.parse().ok()?;
        if parts.next().is_some() || from_ms > to_ms || page == 0 {
            return None;
        }
        Some((Window { from_ms, to_ms }, page))
    }

    /// The start as JOS writes times (GMT+8, seconds).
    pub fn start_text(self) -> String {
        beijing_time::datetime(self.from_ms)
    }

    /// The end as JOS writes times.
    pub fn end_text(self) -> String {
        beijing_time::datetime(self.to_ms)
    }
}

/// A windowed feed's cursor: where the last finished round ended, and the
/// round under way (`R`: the feed's own progress within its window).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cursor<R> {
    /// Where the last finished round ended, Unix milliseconds.
    pub since: i64,
    /// The round under way, if any.
    #[serde(default = "no_round", skip_serializing_if = "Option::is_none")]
    pub round: Option<R>,
}

fn no_round<R>() -> Option<R> {
    None
}

impl<R: Serialize + DeserializeOwned> Cursor<R> {
    /// The cursor a poll carries; without one, a cursor at the first
    /// look-back.
    pub fn read(ctx: &ShopContext, poll: &PollRequest) -> Result<Cursor<R>, PluginError> {
        match &poll.cursor {
            None => Ok(Cursor {
                since: first_since(ctx)?,
                round: None,
            }),
            Some(text) => serde_json::from_str(text).map_err(|err| {
                PluginError::Malformed(format!(
                    "the `{}` cursor is not this plugin's: {err}",
                    poll.feed
                ))
            }),
        }
    }

    /// The cursor's text.
    pub fn write(&self) -> String {
        serde_json::to_string(self).expect("a cursor always serializes")
    }
}

/// Whether page `page` of a list read `size` items at a time has a next
/// page: by JOS's `total` when it gives one, else by whether the page was
/// full (`count` items).
pub fn more_pages(page: u32, size: u32, count: usize, total: Option<u64>) -> bool {
    match total {
        Some(total) => u64::from(page) * u64::from(size) < total,
        None => count >= size as usize,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_round_overlaps_the_last_one_and_never_spans_more_than_seven_days() {
        let window = next(1_714_037_059_500, 1_714_037_359_999);
        assert_eq!(
            window,
            Window {
                from_ms: 1_714_036_939_000,
                to_ms: 1_714_037_359_000
            }
        );
        let long_ago = next(0, 1_714_037_359_000);
        assert_eq!(long_ago.to_ms - long_ago.from_ms, MAX_SPAN_MS);
        let future = next(1_714_037_359_000 + 10 * OVERLAP_MS, 1_714_037_359_000);
        assert_eq!(future.from_ms, future.to_ms);
    }

    #[test]
    fn step_labels_carry_the_window_and_page() {
        let window = Window {
            from_ms: 1_000,
            to_ms: 9_000,
        };
        let step = window.step("orders", 3);
        assert_eq!(step, "orders:1000:9000:3");
        assert_eq!(Window::from_step("orders", &step), Some((window, 3)));
        for bad in [
            "sessions:1000:9000:3",
            "orders:1000:9000",
            "orders:9000:1000:1",
            "orders:1000:9000:0",
            "orders:1000:9000:1:2",
            "orders:a:b:c",
        ] {
            assert_eq!(Window::from_step("orders", bad), None, "{bad}");
        }
    }

    #[test]
    fn the_first_look_back_is_configurable_and_checked() {
        let ctx = ShopContext::for_test("s", 1_000_000_000);
        assert_eq!(first_since(&ctx).unwrap(), 1_000_000_000 - 600_000);
        let hour = ctx.clone().with_setting(SETTING_LOOKBACK_MINUTES, "60");
        assert_eq!(first_since(&hour).unwrap(), 1_000_000_000 - 3_600_000);
        for bad in ["0", "-5", "ten", "20000"] {
            let ctx = ctx.clone().with_setting(SETTING_LOOKBACK_MINUTES, bad);
            assert!(
                matches!(first_since(&ctx), Err(PluginError::Misconfigured(m)) if m.contains(SETTING_LOOKBACK_MINUTES)),
                "{bad}"
            );
        }
        assert_eq!(
            Window {
                from_ms: 1_714_037_059_000,
                to_ms: 1_714_037_059_000
            }
            .start_text(),
            "2024-04-25 17:24:19"
        );
    }
}
