//! Poll ingestion: the host polls a shop's feeds on a schedule (the feeds
//! its config lists) and whenever a push hints that data is waiting (WeCom's
//! `kf_msg_or_event` → `kf/sync_msg`). For each poll the plugin renders the
//! request (a token fetch first, if needed) and parses the answer; a page's
//! events, state changes and next cursor are committed in one transaction,
//! then the page's acknowledgements (e.g. TMC confirm) are sent — so a crash
//! neither loses nor repeats a page. One feed is polled by one task at a
//! time; a hint that arrives meanwhile makes it poll again right after.

use crate::backoff;
use crate::clock;
use crate::model::{DeliveryOutcome, PollOutcome, PollPage, PollRequest};
use crate::outbound;
use crate::runtime::CallError;
use crate::shops::Shop;
use crate::store::IngestBatch;
use crate::telemetry::Metrics;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

/// What the poller works with.
#[derive(Clone)]
pub struct Poller {
    /// The plugin runtime.
    pub runtime: crate::runtime::Runtime,
    /// The store.
    pub store: std::sync::Arc<dyn crate::store::Store>,
    /// The durability barrier.
    pub group_commit: crate::store::GroupCommit,
    /// The shops served.
    pub shops: crate::shops::Shops,
    /// Limits.
    pub limits: crate::config::Limits,
    /// Counters.
    pub metrics: std::sync::Arc<Metrics>,
    /// The outbound HTTP client.
    pub http: crate::outbound::OutboundClient,
    /// Wakes the pipeline once a page is committed.
    pub pipeline_wake: std::sync::Arc<tokio::sync::Notify>,
    /// What the poller has yet to do.
    pub poll_activity: std::sync::Arc<Activity>,
}

/// Hints waiting for the poller at most; beyond this, hints are dropped
/// (the feed's schedule still polls it).
pub const HINT_QUEUE: usize = 4096;
/// Render/send/parse rounds without a page before a poll gives up.
const MAX_STEPS: u32 = 6;
/// Pages one poll takes before it yields to other feeds (and polls again
/// at once).
const MAX_PAGES: u32 = 50;
/// The longest a failing feed waits before it is polled again.
const FAILURE_CAP: Duration = Duration::from_secs(60);
/// How long polls in flight get to finish at shutdown.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// A request to poll a shop's feed now, from a push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollHint {
    /// The shop.
    pub shop: String,
    /// The feed.
    pub feed: String,
    /// The short-lived token that came with the hint.
    pub token: Option<String>,
}

/// Where pushes and the pipeline hand the poller their hints.
#[derive(Clone)]
pub struct Hints {
    sender: mpsc::Sender<PollHint>,
    activity: Arc<Activity>,
}

impl Hints {
    /// A hint channel counted in `activity`.
    pub fn new(sender: mpsc::Sender<PollHint>, activity: Arc<Activity>) -> Hints {
        Hints { sender, activity }
    }

    /// Hand the poller a hint; counted until the poller has taken it on.
    pub fn send(&self, hint: PollHint) -> Result<(), mpsc::error::TrySendError<PollHint>> {
        self.activity.hint_sent();
        self.sender.try_send(hint).inspect_err(|_| {
            self.activity.hint_taken();
        })
    }
}

/// What the poller has yet to do: hints sent but not yet taken on, and
/// feeds polling, due now or with hints waiting.
#[derive(Debug, Default)]
pub struct Activity {
    hints_in_transit: AtomicUsize,
    feeds_busy: AtomicUsize,
}

impl Activity {
    /// A hint is about to be sent.
    pub fn hint_sent(&self) {
        self.hints_in_transit.fetch_add(1, Ordering::SeqCst);
    }

    /// The poller took a hint on (or it was never sent).
    pub fn hint_taken(&self) {
        self.hints_in_transit.fetch_sub(1, Ordering::SeqCst);
    }

    /// No hint in transit and no feed busy.
    pub fn is_idle(&self) -> bool {
        // Hints first: the poller counts a feed busy before it lets go of
        // the hint that made it so.
        self.hints_in_transit.load(Ordering::SeqCst) == 0
            && self.feeds_busy.load(Ordering::SeqCst) == 0
    }

    fn set_busy(&self, feeds: &HashMap<FeedKey, FeedState>) {
        let now = Instant::now();
        let busy = feeds
            .values()
            .filter(|s| {
                s.running || !s.rerun.is_empty() || s.next_due.is_some_and(|due| due <= now)
            })
            .count();
        self.feeds_busy.store(busy, Ordering::SeqCst);
    }
}

/// How one poll ended.
#[derive(Debug, Clone, PartialEq)]
enum Polled {
    /// No more pages waiting.
    Drained,
    /// Pages remain after [`MAX_PAGES`]: poll again at once.
    MorePages,
    /// A transient failure: poll again after back-off (at least `after`).
    Backoff {
        reason: String,
        after: Option<Duration>,
    },
    /// A failure retrying soon will not fix: wait for the schedule.
    Failed(String),
}

/// Hints (distinct tokens) a running feed keeps for its next runs.
const MAX_PENDING_HINTS: usize = 1024;

#[derive(Debug, Default)]
struct FeedState {
    running: bool,
    /// Hints that arrived while polling, by token (distinct, oldest first):
    /// poll again with each. A feed like `profile` carries a different
    /// token (a customer) in every hint, so none may be dropped.
    rerun: std::collections::VecDeque<Option<String>>,
    /// When the schedule (or a back-off) polls the feed next; `None` for
    /// feeds polled only on hints.
    next_due: Option<Instant>,
    failures: u32,
}

type FeedKey = (String, String);

/// Poll feeds until `shutdown` turns true.
pub async fn run(
    host: Arc<Poller>,
    mut hints: mpsc::Receiver<PollHint>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut feeds: HashMap<FeedKey, FeedState> = HashMap::new();
    let now = Instant::now();
    for shop in host.shops.iter().filter(|shop| shop.polls()) {
        for feed in &shop.config.poll_feeds {
            feeds.insert(
                (shop.id().to_string(), feed.clone()),
                FeedState {
                    next_due: Some(now),
                    ..FeedState::default()
                },
            );
        }
    }
    let mut polls = tokio::task::JoinSet::new();
    loop {
        let now = Instant::now();
        for (key, state) in feeds.iter_mut() {
            if !state.running && state.next_due.is_some_and(|due| due <= now) {
                state.running = true;
                polls.spawn(poll_task(Arc::clone(&host), key.clone(), None));
            }
        }
        let next_due = feeds
            .values()
            .filter(|state| !state.running)
            .filter_map(|state| state.next_due)
            .min();
        let sleep = tokio::time::sleep_until(next_due.unwrap_or(now + Duration::from_secs(3600)));
        host.poll_activity.set_busy(&feeds);
        let mut took_hint = false;
        tokio::select! {
            hint = hints.recv() => {
                let Some(hint) = hint else { break };
                took_hint = true;
                let key = (hint.shop.clone(), hint.feed.clone());
                let state = feeds.entry(key.clone()).or_default();
                if state.running {
                    if !state.rerun.contains(&hint.token) {
                        if state.rerun.len() >= MAX_PENDING_HINTS {
                            tracing::warn!(shop = %key.0, feed = %key.1, "too many hints waiting; the oldest is dropped");
                            state.rerun.pop_front();
                        }
                        state.rerun.push_back(hint.token);
                    }
                } else {
                    state.running = true;
                    polls.spawn(poll_task(Arc::clone(&host), key, hint.token));
                }
            }
            Some(done) = polls.join_next(), if !polls.is_empty() => {
                let Ok((key, polled)) = done else { continue };
                let Some(shop) = host.shops.get(&key.0) else { continue };
                let scheduled = shop.config.poll_feeds.contains(&key.1);
                let state = feeds.entry(key.clone()).or_default();
                state.running = false;
                settle(state, &polled, scheduled, shop.poll_interval(), &key);
                if let Some(token) = state.rerun.pop_front() {
                    state.running = true;
                    polls.spawn(poll_task(Arc::clone(&host), key, token));
                }
            }
            _ = sleep => {}
            _ = shutdown.changed() => break,
        }
        host.poll_activity.set_busy(&feeds);
        if took_hint {
            host.poll_activity.hint_taken();
        }
    }
    let stopped = crate::tasks::drain(&mut polls, DRAIN_TIMEOUT).await;
    if stopped > 0 {
        tracing::warn!(
            stopped,
            "stopped polls that did not finish in time; their pages were not committed and will be polled again"
        );
    }
}

/// Decide when a feed is polled next after a poll ended.
fn settle(
    state: &mut FeedState,
    polled: &Polled,
    scheduled: bool,
    interval: Duration,
    key: &FeedKey,
) {
    let now = Instant::now();
    let (shop, feed) = (key.0.as_str(), key.1.as_str());
    match polled {
        Polled::Drained => {
            state.failures = 0;
            state.next_due = scheduled.then(|| now + interval);
        }
        Polled::MorePages => {
            state.failures = 0;
            state.next_due = Some(now);
        }
        Polled::Backoff { reason, after } => {
            state.failures = state.failures.saturating_add(1);
            let wait = backoff::delay_within(state.failures, *after, FAILURE_CAP);
            tracing::warn!(
                shop,
                feed,
                reason,
                ?wait,
                "poll failed; polling again after back-off"
            );
            state.next_due = Some(now + wait);
        }
        Polled::Failed(reason) => {
            state.failures = state.failures.saturating_add(1);
            tracing::error!(
                shop,
                feed,
                reason,
                "poll failed; waiting for the feed's schedule"
            );
            state.next_due = scheduled.then(|| now + interval);
        }
    }
}

async fn poll_task(host: Arc<Poller>, key: FeedKey, token: Option<String>) -> (FeedKey, Polled) {
    let polled = match host.shops.get(&key.0) {
        Some(shop) if shop.polls() => poll_feed(&host, shop, &key.1, token).await,
        Some(_) => Polled::Failed(format!(
            "plugin of shop `{}` does not declare poll ingestion",
            key.0
        )),
        None => Polled::Failed(format!("shop `{}` is not configured", key.0)),
    };
    if !matches!(polled, Polled::Drained | Polled::MorePages) {
        Metrics::bump(&host.metrics.polls_failed);
    }
    (key, polled)
}

/// Poll one feed until it has no more pages (or [`MAX_PAGES`] were taken).
async fn poll_feed(host: &Poller, shop: &Shop, feed: &str, hint_token: Option<String>) -> Polled {
    let mut pages = 0;
    let mut steps = 0;
    let mut refreshed_token = false;
    loop {
        if pages >= MAX_PAGES {
            return Polled::MorePages;
        }
        if steps >= MAX_STEPS {
            return Polled::Backoff {
                reason: format!("the plugin took {MAX_STEPS} steps without a page"),
                after: None,
            };
        }
        steps += 1;
        let cursor = match host.store.cursor(shop.id(), feed) {
            Ok(cursor) => cursor,
            Err(err) => return backoff(format!("reading the cursor failed: {err:#}")),
        };
        let poll = PollRequest {
            feed: feed.to_string(),
            cursor,
            hint_token: hint_token.clone(),
        };
        let ctx = match shop.context(host.store.as_ref(), clock::now_ms()) {
            Ok(ctx) => ctx,
            Err(err) => return backoff(format!("reading plugin state failed: {err:#}")),
        };
        let rendered = match shop
            .guarded(
                host.runtime
                    .render_poll(&shop.plugin(), ctx.clone(), poll.clone()),
            )
            .await
        {
            Ok(rendered) => rendered,
            Err(err) => return call_failed(host, err),
        };
        let response = match outbound::send(&host.http, shop, &rendered.request).await {
            Ok(response) => response,
            Err(outbound::SendError::Denied(reason)) => return Polled::Failed(reason),
            Err(outbound::SendError::Transport(reason)) => return backoff(reason),
        };
        let mut ctx = ctx;
        ctx.now_ms = clock::now_ms();
        let parsed = match shop
            .guarded(
                host.runtime
                    .parse_poll(&shop.plugin(), ctx, poll, rendered.step, response),
            )
            .await
        {
            Ok(parsed) => parsed,
            Err(err) => return call_failed(host, err),
        };
        let state = crate::contract::v0_1::state(parsed.state);
        let page = match parsed.outcome {
            PollOutcome::Page(page) => page,
            PollOutcome::Step(outcome) => {
                if let Err(err) = host.store.apply_state(shop.id(), &state) {
                    return backoff(format!("saving plugin state failed: {err:#}"));
                }
                match outcome {
                    DeliveryOutcome::NextStep => continue,
                    DeliveryOutcome::TokenExpired if !refreshed_token => {
                        refreshed_token = true;
                        continue;
                    }
                    DeliveryOutcome::TokenExpired => {
                        return backoff("the platform rejected a freshly fetched token".into());
                    }
                    DeliveryOutcome::Retry(hint) => {
                        return Polled::Backoff {
                            reason: hint.reason,
                            after: hint.after_ms.map(|ms| Duration::from_millis(u64::from(ms))),
                        };
                    }
                    DeliveryOutcome::QuotaExceeded(hint) => {
                        return Polled::Backoff {
                            reason: format!("quota exceeded: {}", hint.reason),
                            after: hint.after_ms.map(|ms| Duration::from_millis(u64::from(ms))),
                        };
                    }
                    DeliveryOutcome::WindowClosed(failure)
                    | DeliveryOutcome::Permanent(failure) => {
                        return Polled::Failed(format!("{}: {}", failure.code, failure.reason));
                    }
                    DeliveryOutcome::Delivered(_) => {
                        return Polled::Failed(
                            "the plugin answered a poll with `delivered` instead of a page".into(),
                        );
                    }
                }
            }
        };
        let has_more = page.has_more;
        if let Err(reason) = commit_page(host, shop, feed, page, &state).await {
            return backoff(reason);
        }
        pages += 1;
        steps = 0;
        if !has_more {
            return Polled::Drained;
        }
    }
}

/// Commit a page (events, state, cursor) durably, then send its acks.
async fn commit_page(
    host: &Poller,
    shop: &Shop,
    feed: &str,
    mut page: PollPage,
    state: &[crate::model::StateChange],
) -> Result<(), String> {
    let now_ms = clock::now_ms();
    let events = crate::contract::v0_1::events(std::mem::take(&mut page.events));
    let batch = IngestBatch {
        shop: shop.id(),
        plugin: &shop.plugin().name,
        received_ms: now_ms,
        events: &events,
        state,
        cursor: page.next_cursor.as_deref().map(|cursor| (feed, cursor)),
        dedupe_until_ms: now_ms.saturating_add(host.limits.dedupe_window.as_millis() as i64),
    };
    let receipt = host
        .store
        .commit_ingest(&batch)
        .map_err(|err| format!("committing a page failed: {err:#}"))?;
    host.group_commit
        .durable()
        .await
        .map_err(|err| format!("making a page durable failed: {err:#}"))?;
    Metrics::bump(&host.metrics.poll_pages);
    Metrics::add(&host.metrics.events_stored, receipt.stored.len() as u64);
    Metrics::add(&host.metrics.events_duplicate, receipt.duplicates as u64);
    if receipt.replayed {
        tracing::warn!(
            shop = shop.id(),
            "a page carried a replay claim taken before; none of its events were stored"
        );
    }
    tracing::debug!(
        shop = shop.id(),
        feed,
        stored = receipt.stored.len(),
        duplicates = receipt.duplicates,
        more = page.has_more,
        "poll page committed"
    );
    if !receipt.stored.is_empty() {
        host.pipeline_wake.notify_one();
    }
    for ack in &page.acks {
        match outbound::send(&host.http, shop, &ack.request).await {
            Ok(response) if (200..300).contains(&response.status) => {
                Metrics::bump(&host.metrics.poll_acks_sent);
            }
            Ok(response) => {
                Metrics::bump(&host.metrics.poll_acks_failed);
                tracing::warn!(shop = shop.id(), feed, step = %ack.step, status = response.status, "a poll acknowledgement was refused; the platform will redeliver");
            }
            Err(err) => {
                Metrics::bump(&host.metrics.poll_acks_failed);
                tracing::warn!(shop = shop.id(), feed, step = %ack.step, error = %err, "a poll acknowledgement failed; the platform will redeliver");
            }
        }
    }
    Ok(())
}

fn backoff(reason: String) -> Polled {
    Polled::Backoff {
        reason,
        after: None,
    }
}

fn call_failed(host: &Poller, err: CallError) -> Polled {
    match err {
        CallError::CircuitOpen { retry_after } => Polled::Backoff {
            reason: err.to_string(),
            after: Some(retry_after),
        },
        CallError::Refused(_) => Polled::Failed(err.to_string()),
        other => {
            if other.is_plugin_fault() {
                Metrics::bump(&host.metrics.plugin_faults);
            }
            backoff(other.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> FeedKey {
        ("shop".into(), "feed".into())
    }

    #[tokio::test]
    async fn a_drained_scheduled_feed_waits_one_interval_and_a_hinted_one_waits_for_hints() {
        let interval = Duration::from_secs(5);
        let mut state = FeedState::default();
        settle(&mut state, &Polled::Drained, true, interval, &key());
        let due = state.next_due.unwrap();
        assert!(due > Instant::now() + Duration::from_secs(4));
        assert!(due <= Instant::now() + interval);
        settle(&mut state, &Polled::Drained, false, interval, &key());
        assert_eq!(state.next_due, None);
    }

    #[tokio::test]
    async fn failures_back_off_and_more_pages_poll_again_at_once() {
        let interval = Duration::from_secs(5);
        let mut state = FeedState::default();
        let failed = Polled::Backoff {
            reason: "busy".into(),
            after: Some(Duration::from_secs(7)),
        };
        settle(&mut state, &failed, false, interval, &key());
        assert_eq!(state.failures, 1);
        assert!(state.next_due.unwrap() >= Instant::now() + Duration::from_secs(6));
        settle(&mut state, &Polled::MorePages, true, interval, &key());
        assert_eq!(state.failures, 0);
        assert!(state.next_due.unwrap() <= Instant::now());
        settle(
            &mut state,
            &Polled::Failed("bad".into()),
            false,
            interval,
            &key(),
        );
        assert_eq!(
            state.next_due, None,
            "a hinted feed waits for the next hint"
        );
    }
}
